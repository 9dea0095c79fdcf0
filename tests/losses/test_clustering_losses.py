"""DEC and DEPICT (kind clustering) against the reference values of losses-wave2.md §6.3 (derived there from the
papers' formulas and DEPICT's official code, float64)."""

import math

import pytest
import torch

from workbench import losses

Z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [4.0, 4.0], [5.0, 5.0]], dtype=torch.float64)
MU = torch.tensor([[0.5, 0.0], [4.5, 4.5]], dtype=torch.float64)
P = torch.tensor([[0.7, 0.3], [0.6, 0.4], [0.55, 0.45], [0.2, 0.8]], dtype=torch.float64)


def dec(**kw):
    loss = losses.get("dec", num_clusters=2, embedding_dim=2, **kw).double()
    loss.init_centres(MU)
    return loss


def depict_on_p(**kw):
    """A DEPICT head whose softmax output on the embeddings log P is exactly P (identity weight, zero bias)."""
    loss = losses.get("depict", num_clusters=2, embedding_dim=2, **kw).double()
    with torch.no_grad():
        loss.weight.copy_(torch.eye(2, dtype=torch.float64))
    return loss, P.log()


def test_dec_soft_assignment_target_and_kl_match_the_reference():
    loss = dec()
    q = loss.soft_assignment(Z)
    assert torch.allclose(q[:, 0], torch.tensor([0.970760, 0.964029, 0.048780, 0.031414], dtype=torch.float64),
                          atol=1e-6)
    p = loss.target_distribution(Z)
    assert torch.allclose(p[:, 0], torch.tensor([0.999080, 0.998589, 2.58404e-3, 1.03515e-3], dtype=torch.float64),
                          atol=1e-6)
    assert float(dec(reduction="sum")(Z).detach()) == pytest.approx(0.123174, abs=1e-6)
    assert float(loss(Z).detach()) == pytest.approx(0.0307936, abs=1e-7)  # the batch mean


def test_dec_student_t_kernel_by_hand_with_alpha_2():
    # one point at distance^2 1 from centre 0 and 4 from centre 1, alpha = 2: kernels (1 + d2/2)^(-3/2)
    loss = losses.get("dec", num_clusters=2, embedding_dim=1, alpha=2.0).double()
    loss.init_centres(torch.tensor([[1.0], [2.0]], dtype=torch.float64))
    k = torch.tensor([1.5 ** -1.5, 3.0 ** -1.5], dtype=torch.float64)
    assert torch.allclose(loss.soft_assignment(torch.zeros(1, 1, dtype=torch.float64))[0], k / k.sum())


def test_dec_with_a_fixed_target_passes_gradcheck_in_embeddings_and_centres():
    loss = dec()
    target = loss.target_distribution(Z)
    z = Z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: loss(e, target), (z,))

    def of_centres(c):
        loss.weight.data = c.detach()  # value through the parameter; compare with autograd on the parameter
        return loss(Z, target)
    value = loss(Z, target)
    (grad,) = torch.autograd.grad(value, loss.weight)
    eps = 1e-6
    for j in range(2):
        for d in range(2):
            plus, minus = MU.clone(), MU.clone()
            plus[j, d] += eps
            minus[j, d] -= eps
            numeric = (of_centres(plus) - of_centres(minus)).detach() / (2 * eps)
            assert float(grad[j, d]) == pytest.approx(float(numeric), abs=1e-6)


def test_dec_target_is_detached_and_sharper_than_q():
    loss = dec()
    q, p = loss.soft_assignment(Z), loss.target_distribution(Z)
    assert not p.requires_grad
    assert (p.max(1).values > q.max(1).values).all()


def test_depict_targets_match_the_code_and_the_paper():
    loss, logits = depict_on_p()
    code = loss.target_distribution(logits)
    assert torch.allclose(code[:, 0], torch.tensor([0.838158, 0.681553, 0.586940, 0.056115], dtype=torch.float64),
                          atol=1e-6)
    assert float(loss(logits).detach()) == pytest.approx(0.528852, abs=1e-6)  # mean CE(code target, P)
    paper, logits = depict_on_p(target_form="depict_paper")
    assert torch.allclose(paper.target_distribution(logits)[:, 0],
                          torch.tensor([0.694723, 0.593984, 0.543804, 0.196029], dtype=torch.float64), atol=1e-6)


def test_depict_with_a_fixed_target_passes_gradcheck():
    loss, logits = depict_on_p()
    target = loss.target_distribution(logits)
    assert torch.autograd.gradcheck(lambda e: loss(e, target), (logits.clone().requires_grad_(True),))


def test_an_empty_cluster_gives_a_finite_target():
    loss = dec()
    far = torch.tensor([[0.0, 0.0], [0.1, 0.0]], dtype=torch.float64)  # nobody near centre 2
    loss.init_centres(torch.tensor([[0.0, 0.0], [1e3, 1e3]], dtype=torch.float64))
    p = loss.target_distribution(far)
    assert torch.isfinite(p).all() and torch.allclose(p.sum(1), torch.ones(2, dtype=torch.float64))


@pytest.mark.parametrize("name", ["dec", "depict"])
def test_bad_targets_and_centres_are_refused(name):
    loss = losses.get(name, num_clusters=2, embedding_dim=2).double()
    x = torch.randn(4, 2, dtype=torch.float64)
    for bad in (torch.full((4, 2), 0.7, dtype=torch.float64), -P, P[:3], P.long(), torch.full((4, 2), math.nan)):
        with pytest.raises(ValueError, match="target"):
            loss(x, bad)
    with pytest.raises(ValueError, match="embedding_dim"):
        loss(torch.randn(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="centres"):
        loss.init_centres(torch.randn(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="num_clusters"):
        losses.get(name, num_clusters=0, embedding_dim=2)
