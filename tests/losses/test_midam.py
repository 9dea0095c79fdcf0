"""MIDAM (``midam``) against LibAUC 2.0.1's ``MIDAM_softmax_pooling_loss`` and ``MIDAM`` optimiser on the same
tensors, over several steps (skipped where libauc is not installed)."""

from __future__ import annotations

import math

import pytest
import torch

from workbench import losses, train

TAU, GAMMA, MARGIN = 0.1, 0.9, 1.0


def _libauc():
    mil = pytest.importorskip("libauc.losses.mil")  # installed with --no-deps: import only what MIDAM needs
    return mil.MIDAM_softmax_pooling_loss


def _reference(n_bags: int):
    """LibAUC's loss on the CPU, with its state and a, b in float64 (its code makes them float32)."""
    ref = _libauc()(data_len=n_bags, margin=MARGIN, tau=TAU, gamma=GAMMA, device="cpu")
    ref.s = ref.s.double()
    ref.a = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    ref.b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    ref.alpha = torch.zeros(1, dtype=torch.float64)
    return ref


def _steps():
    """Three steps on 5 bags: instance scores of the sampled instances [B, 3], labels, bag ids."""
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([1, 0, 1, 0, 0])
    for index in (torch.tensor([0, 1, 2, 3]), torch.tensor([2, 4, 0, 1]), torch.tensor([3, 0, 4, 2])):
        yield torch.randn(len(index), 3, generator=g, dtype=torch.float64), labels[index], index


def test_value_and_gradient_equal_libauc_over_steps():
    ref, ours = _reference(5), losses.get("midam").double()
    for step, (phi, target, index) in enumerate(_steps()):
        alpha = 0.3 * step  # a nonzero dual variable reaches the margin term from step 2 on
        ref.alpha.fill_(alpha)
        with torch.no_grad():
            ours.alpha.fill_(alpha)
            ref.a.fill_(0.1 * step), ours.a.fill_(0.1 * step), ref.b.fill_(-0.2 * step), ours.b.fill_(-0.2 * step)
        phi_ref, phi_ours = phi.clone().requires_grad_(), phi.clone().requires_grad_()
        # LibAUC's input: the stochastic pooled value mean exp(phi / tau) (MIL_sampling mode "exp")
        v_ref = ref(torch.exp(phi_ref / TAU).mean(1, keepdim=True), target, index)
        v_ours = ours(losses.smoothed_max(phi_ours, tau=TAU), target, index=index)
        torch.testing.assert_close(v_ours, v_ref[()] if v_ref.dim() == 0 else v_ref.squeeze())
        v_ref.backward(), v_ours.backward()
        torch.testing.assert_close(phi_ours.grad, phi_ref.grad)
        torch.testing.assert_close(ours.a.grad, ref.a.grad[0])
        torch.testing.assert_close(ours.b.grad, ref.b.grad[0])
        ref.a.grad = ref.b.grad = None
        ours.zero_grad()
        torch.testing.assert_close(ours.log_s.exp(), ref.s[:len(ours.log_s), 0])  # the moving averages too


def test_first_step_by_hand():
    # One positive bag (instance scores 0.2, 0.5) and one negative (0.1), gamma = 0.9, tau = 0.1, a = b = 0:
    # s = 0.9 mean exp(phi / tau); h = tau log s; L = 2 tau h (y / s) twice + h^2 twice, y / s = 1 / 0.9.
    loss = losses.get("midam").double()
    u = torch.tensor([losses.smoothed_max(torch.tensor([[0.2, 0.5]], dtype=torch.float64), tau=0.1).item(), 0.1],
                     dtype=torch.float64)
    h = [0.1 * math.log(0.9 * (math.exp(2) + math.exp(5)) / 2), 0.1 * math.log(0.9 * math.exp(1))]
    expected = sum(2 * 0.1 * hi / 0.9 + hi ** 2 for hi in h)
    assert loss(u, torch.tensor([1, 0]), index=torch.tensor([0, 1])).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("make, inputs", [
    (lambda: losses.get("midam", margin=0.5), lambda: (torch.tensor([0.3, -0.2]),)),
    (lambda: losses.MIDAMAttention(margin=0.5), lambda: (torch.tensor([0.3, -0.2]), torch.tensor([1.5, 0.8]))),
], ids=["softmax pooling", "attention pooling"])
def test_alpha_gets_libauc_dual_step_as_reversed_gradient(make, inputs):
    loss = make().double()
    with torch.no_grad():
        loss.a.fill_(0.7), loss.b.fill_(0.1), loss.alpha.fill_(0.2)
    loss(*(x.double() for x in inputs()), torch.tensor([1, 0])).backward()
    # LibAUC: alpha <- alpha + lr (m + b - a - alpha): the descent gradient is -(0.5 + 0.1 - 0.7 - 0.2) = 0.3
    assert loss.alpha.grad.item() == pytest.approx(0.3)


def test_no_index_keeps_no_state_and_one_class_is_finite():
    loss = losses.get("midam")
    x = torch.tensor([1e4, -1e4, 3.0], requires_grad=True)
    value = loss(x, torch.tensor([1, 1, 1]))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all() and len(loss.log_s) == 0


def test_optimizer_equals_libauc_midam_over_steps():
    pytest.importorskip("libauc.optimizers.midam")
    from libauc.optimizers import MIDAM as LibMIDAM

    torch.manual_seed(0)
    X = torch.randn(5, 3, 4, dtype=torch.float64)  # 5 bags of 3 instances, 4 features
    model_ref = torch.nn.Linear(4, 1).double()
    model_ours = torch.nn.Linear(4, 1).double()
    model_ours.load_state_dict(model_ref.state_dict())
    ref, ours = _reference(5), losses.get("midam").double()
    opt_ref = LibMIDAM(model_ref.parameters(), loss_fn=ref, lr=0.1, momentum=0.1, weight_decay=1e-3)
    opt_ours = train.MIDAMOptimizer(model_ours.parameters(), ours, lr=0.1, momentum=0.1, weight_decay=1e-3)
    for _, target, index in _steps():
        for model, loss, opt, ours_ in ((model_ref, ref, opt_ref, False), (model_ours, ours, opt_ours, True)):
            phi = model(X[index]).squeeze(-1)
            opt.zero_grad()
            if ours_:
                value = loss(losses.smoothed_max(phi, tau=TAU), target, index=index)
            else:
                value = loss(torch.exp(phi / TAU).mean(1, keepdim=True), target, index)
            value.backward()
            opt.step()
        torch.testing.assert_close(model_ours.weight, model_ref.weight)
        torch.testing.assert_close(ours.a, ref.a[0])
        torch.testing.assert_close(ours.alpha, ref.alpha[0])


def test_smoothed_max_padding_and_limits():
    scores = torch.tensor([[0.2, 0.9, -1.0], [0.5, 0.0, 0.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    h = losses.smoothed_max(scores, mask, tau=0.1)
    assert h[1].item() == pytest.approx(0.5)  # one real instance: its score, padding ignored
    assert losses.smoothed_max(scores[:1], tau=1e-3).item() == pytest.approx(0.9, abs=1e-2)  # tau -> 0: max
    assert losses.smoothed_max(scores[:1], tau=1e3).item() == pytest.approx(scores[0].mean().item(), abs=1e-3)
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(losses.smoothed_max(scores[:1, perm], tau=0.1), h[:1])  # bag permutation


def test_attention_variant_equals_libauc_over_steps():
    mil = pytest.importorskip("libauc.losses.mil")
    ref = mil.MIDAM_attention_pooling_loss(data_len=5, margin=MARGIN, gamma=GAMMA, device="cpu")
    ref.sn, ref.sd = ref.sn.double(), ref.sd.double()
    ref.a = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    ref.b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    ref.alpha = torch.zeros(1, dtype=torch.float64)
    ours = losses.MIDAMAttention().double()
    for step, (phi, target, index) in enumerate(_steps()):
        g, delta = phi[:, :2], phi[:, 2:].repeat(1, 2)  # attention logits and instance scores of 2 instances
        ref.alpha.fill_(0.4 * step)
        with torch.no_grad():
            ours.alpha.fill_(0.4 * step)
            ref.a.fill_(0.1 * step), ours.a.fill_(0.1 * step), ref.b.fill_(-0.1 * step), ours.b.fill_(-0.1 * step)
        leaves = [t.clone().requires_grad_() for t in (g, delta, g, delta)]

        def pooled(g_, d_):  # LibAUC MIL_sampling(mode="att"): means of exp(g) delta and of exp(g)
            return (g_.exp() * d_).mean(1), g_.exp().mean(1)

        sn_r, sd_r = pooled(leaves[0], leaves[1])
        v_ref = ref((sn_r[:, None], sd_r[:, None]), target, index)
        v_ours = ours(*pooled(leaves[2], leaves[3]), target, index=index)
        torch.testing.assert_close(v_ours, v_ref.squeeze())
        v_ref.backward(), v_ours.backward()
        torch.testing.assert_close(leaves[2].grad, leaves[0].grad)
        torch.testing.assert_close(leaves[3].grad, leaves[1].grad)
        torch.testing.assert_close(ours.a.grad, ref.a.grad[0])
        ref.a.grad = ref.b.grad = None
        ours.zero_grad()
        torch.testing.assert_close(ours.sd_state, ref.sd[:len(ours.sd_state), 0])


def test_attention_variant_refuses_bad_denominators():
    loss = losses.MIDAMAttention()
    with pytest.raises(ValueError, match="sd"):
        loss(torch.tensor([0.5, 0.1]), torch.tensor([1.0, 0.0]), torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="gamma"):
        losses.MIDAMAttention(gamma=0.0)
