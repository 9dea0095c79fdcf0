"""Edge cases pinned by hand computation, where a small change to a loss would otherwise go unnoticed (the
mutation run of issue 10, ``make mutation``, found these gaps)."""

import math

import pytest
import torch

from workbench import losses

# --- iSogCLR with exactly one negative --------------------------------------------------------------------------

def _one_negative_batch():
    """Rows a, a+ (label 0) and n (label 1): the anchors a and a+ each have exactly one negative, n."""
    s_pos, s_an, s_pn, s_nn = 0.6, 0.2, -0.1, 1.0
    s = torch.tensor([[1.0, s_pos, s_an], [s_pos, 1.0, s_pn], [s_an, s_pn, s_nn]], dtype=torch.float64)
    return s, torch.tensor([0, 0, 1]), (s_pos, s_an, s_pn)


def test_isogclr_with_one_negative_is_the_margin_plus_tau_rho():
    # Hand computation from the objective (Qiu et al. 2023, eq. of the class docstring): with a single negative z,
    # tau log (1/1) e^{(s(a,z) - s(a,a+))/tau} + tau rho = s(a,z) - s(a,a+) + tau rho, whatever tau; its gradient is
    # +1 on the negative's similarity and -1 on the positive's.
    s, labels, (s_pos, s_an, s_pn) = _one_negative_batch()
    s.requires_grad_(True)
    loss = losses.get("isogclr", temperature=0.2, rho=0.3, reduction="none")
    per_row = loss.from_similarity(s, labels)
    assert per_row[:2].tolist() == pytest.approx([s_an - s_pos + 0.2 * 0.3, s_pn - s_pos + 0.2 * 0.3], abs=1e-12)
    (grad,) = torch.autograd.grad(per_row[0], s)
    expected = torch.zeros(3, 3, dtype=torch.float64)
    expected[0, 2], expected[0, 1] = 1.0, -1.0
    assert torch.allclose(grad, expected, atol=1e-12)


def test_isogclr_temperature_step_with_one_negative_is_rho():
    # Hand computation of the official step (LibAUC GCLoss_v1, class docstring step 4): on the first visit u = g =
    # e^{s/tau} and p = e^{s/tau}/u = 1, so grad_tau = log u + rho - p s/tau = rho; momentum = beta rho and
    # tau <- tau - eta beta rho (rho = 0.3 is inside the +-3 clip).
    s, labels, _ = _one_negative_batch()
    loss = losses.get("isogclr", temperature=0.2, rho=0.3, beta=0.9, eta=0.01).double()
    # rows a, a+ belong to sample 4, row n to sample 1 (its two negatives have similarities 0.2, -0.1)
    loss.from_similarity(s, labels, index=torch.tensor([4, 4, 1]))
    assert loss.momentum[4].item() == pytest.approx(0.9 * 0.3, abs=1e-12)
    assert loss.tau[4].item() == pytest.approx(0.2 - 0.01 * 0.9 * 0.3, abs=1e-12)
    # u of sample 4: mean over its two rows of e^{s(row, n)/tau}
    assert loss.log_u[4].exp().item() == pytest.approx((math.exp(0.2 / 0.2) + math.exp(-0.1 / 0.2)) / 2, rel=1e-12)


def test_isogclr_forward_uses_the_labels():
    # Hand computation: instances 0 and 1 share label 0 and lie along e1 (both views), instance 2 (label 1) along e2.
    # With the labels every row's positives have similarity 1 and its negatives 0: F = tau (log mean e^0 + rho) - 1
    # = tau rho - 1. Without them, instance 1's rows would be negatives of instance 0 at similarity 1.
    e1, e2 = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
    views = torch.stack([torch.stack([e1, e1]), torch.stack([e1, e1]), torch.stack([e2, e2])])
    loss = losses.get("isogclr", temperature=0.1, rho=0.3, reduction="none")
    assert loss(views, torch.tensor([0, 0, 1])).tolist() == pytest.approx([0.1 * 0.3 - 1] * 6, abs=1e-12)


# --- cwcl_loss with its defaults -------------------------------------------------------------------------------

def test_cwcl_loss_defaults_to_the_frozen_modalitys_weights_both_ways_at_tau_007():
    # The formula of the CWCL class docstring written out (Srinivasa et al. 2023): w_ij = y_i.y_j / 2 + 1/2 on the
    # normalised y, targets w_ij / sum_j w_ij in both directions, the two directions averaged; CLIP's tau = 0.07.
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    xn, yn = x / x.norm(dim=1, keepdim=True), y / y.norm(dim=1, keepdim=True)
    w = yn @ yn.T / 2 + 0.5
    targets = w / w.sum(1, keepdim=True)
    logits = xn @ yn.T / 0.07
    forward = -(targets * logits.log_softmax(1)).sum(1)
    backward = -(targets * logits.T.log_softmax(1)).sum(1)
    assert losses.cwcl_loss(x, y).item() == pytest.approx(((forward + backward) / 2).mean().item(), rel=1e-12)


def test_isogclr_refuses_a_negative_num_samples():
    with pytest.raises(ValueError, match="num_samples"):
        losses.get("isogclr", num_samples=-1)


def test_alignment_names_a_bad_second_input():
    from workbench import analysis
    with pytest.raises(ValueError, match=r"^y\b"):
        analysis.alignment(torch.randn(4, 3), torch.randn(4))


def test_pseudo_negatives_draw_from_the_generator_given():
    # the generator decides the draw, whatever the global RNG's state
    from workbench.losses import PseudoNegatives
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    a = PseudoNegatives()(x, torch.Generator().manual_seed(5))
    torch.manual_seed(1)
    b = PseudoNegatives()(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
