"""MIL losses: AEM, ACMIL's diversity and branch losses, bag/instance losses for aggregate responses.

Reference values from ../shared/reference/losses-classification-kd-mil.md, section 11.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import losses
from workbench.losses import mil

SETTINGS = settings(max_examples=25, deadline=None)


# --- AEM -------------------------------------------------------------------------------------------


def test_aem_uniform_attention_over_eight_is_minus_log_8():
    # spec 11b: uniform logits over N=8 instances -> div_loss = -log 8 = -2.079442 (its minimum)
    logits = torch.zeros(8, dtype=torch.float64, requires_grad=True)
    value = losses.aem(logits, weight=1.0)
    assert value.item() == pytest.approx(-2.079442, abs=1e-6)
    (grad,) = torch.autograd.grad(value, logits)  # spec 11b: zero gradient at uniform attention
    assert torch.allclose(grad, torch.zeros_like(grad), atol=1e-12)


def test_aem_one_hot_attention_is_near_zero_and_uniform_is_the_minimum():
    one_hot = torch.tensor([30.0, 0, 0, 0, 0, 0, 0, 0], dtype=torch.float64)
    assert abs(losses.aem(one_hot, weight=1.0).item()) < 1e-10
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        assert losses.aem(torch.randn(8, generator=g), weight=1.0) >= -math.log(8) - 1e-6


def test_aem_scales_with_weight_and_averages_branches():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 6, generator=g, dtype=torch.float64)
    per_branch = [losses.aem(row, weight=1.0) for row in a]
    assert torch.allclose(losses.aem(a, weight=0.5), 0.5 * torch.stack(per_branch).mean())
    assert losses.aem(a, weight=0.0) == 0


def test_aem_masked_instances_count_as_absent():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 1, 6, generator=g, dtype=torch.float64)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    batched = losses.aem(logits, mask, weight=1.0, reduction="none")
    assert torch.allclose(batched[1], losses.aem(logits[1, 0, :4], weight=1.0))
    assert torch.allclose(batched[0], losses.aem(logits[0, 0], weight=1.0))
    # -inf logits are treated as masked too (what a model puts on padding)
    assert torch.allclose(losses.aem(logits[1, 0].masked_fill(~mask[1], float("-inf")), weight=1.0), batched[1])


def test_aem_padding_changes_neither_value_nor_gradient():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(1, 2, 5, generator=g, dtype=torch.float64)
    padded = torch.cat([logits, 7 * torch.randn(1, 2, 3, generator=g, dtype=torch.float64)], -1).requires_grad_()
    mask = torch.tensor([[True] * 5 + [False] * 3])
    v = losses.aem(padded, mask)
    (grad,) = torch.autograd.grad(v, padded)
    assert torch.allclose(v, losses.aem(logits[0]))
    assert (grad[..., 5:] == 0).all() and torch.isfinite(grad).all()


def test_one_instance_bag_has_zero_entropy_and_zero_gradient():
    x = torch.tensor([[3.0]], dtype=torch.float64, requires_grad=True)
    v = losses.aem(x, weight=1.0)
    (grad,) = torch.autograd.grad(v, x)
    assert v == 0 and grad.abs().max() == 0


@pytest.mark.parametrize("bad, match", [
    (dict(attention_logits=torch.zeros(2, 2, 2, 2)), r"shape \[N\], \[K, N\] or \[B, K, N\]"),
    (dict(attention_logits=torch.zeros(2, 0)), "N >= 1"),
    (dict(attention_logits=torch.tensor([0.0, float("inf")])), r"\+inf"),
    (dict(attention_logits=torch.zeros(2, 1, 3), mask=torch.ones(2, 3)), "bool"),
    (dict(attention_logits=torch.zeros(2, 1, 3), mask=torch.ones(2, 4, dtype=torch.bool)), "mask"),
    (dict(attention_logits=torch.zeros(2, 1, 3), mask=torch.tensor([[True] * 3, [False] * 3])), "without any"),
    (dict(attention_logits=torch.full((3,), float("-inf"))), "no finite logit"),
])
def test_attention_input_errors_name_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        losses.aem(**bad)


def test_aem_rejects_a_negative_weight():
    with pytest.raises(ValueError, match="weight"):
        losses.get("aem", weight=-0.1)


# --- ACMIL -----------------------------------------------------------------------------------------


def test_acmil_identical_branches_give_one_and_disjoint_give_zero():
    # spec 11c: identical branches -> L_div = 1; disjoint one-hot attention -> 0
    row = torch.randn(7, dtype=torch.float64)
    assert losses.branch_diversity(row.expand(4, 7)).item() == pytest.approx(1.0, abs=1e-12)
    ninf = float("-inf")
    disjoint = torch.tensor([[0.0, ninf, ninf], [ninf, 0.0, ninf], [ninf, ninf, 0.0]])
    assert losses.branch_diversity(disjoint).item() == 0.0


def test_acmil_diversity_is_the_mean_pairwise_cosine():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(4, 6, generator=g, dtype=torch.float64)
    p = torch.softmax(a, -1)
    expected = np.mean([float(p[i] @ p[j] / (p[i].norm() * p[j].norm())) for i in range(4) for j in range(i + 1, 4)])
    assert losses.branch_diversity(a).item() == pytest.approx(expected, abs=1e-12)
    assert losses.get("acmil", weight=2.0)(a).item() == pytest.approx(2 * expected, abs=1e-12)


def test_acmil_one_branch_has_no_diversity_term_and_no_branch_loss():
    a = torch.randn(1, 1, 5, dtype=torch.float64, requires_grad=True)
    loss = losses.get("acmil")
    value = loss(a, branch_logits=torch.randn(1, 1, dtype=torch.float64), target=torch.tensor([1]))
    assert value == 0
    (grad,) = torch.autograd.grad(value, a)
    assert (grad == 0).all()


def test_acmil_adds_the_branch_losses():
    g = torch.Generator().manual_seed(5)
    a = torch.randn(3, 4, 6, generator=g, dtype=torch.float64)
    branch = torch.randn(3, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([1, 0, 1])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(branch, y[:, None].double().expand(3, 4))
    loss = losses.get("acmil")
    assert torch.allclose(loss(a, branch_logits=branch, target=y), losses.branch_diversity(a) + bce)
    multi = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
    ce = torch.nn.functional.cross_entropy(multi.flatten(0, 1), y.repeat_interleave(4))
    assert torch.allclose(loss(a, branch_logits=multi, target=y), losses.branch_diversity(a) + ce)
    with pytest.raises(ValueError, match="both or neither"):
        loss(a, branch_logits=branch)
    with pytest.raises(ValueError, match="target"):
        loss(a, branch_logits=branch, target=torch.tensor([1, 0]))
    for bad in (torch.tensor([1, 0]), torch.tensor([1.0, 0.0, 1.0]), torch.tensor([1, 0, 5])):  # shape, dtype, range
        with pytest.raises(ValueError, match="target"):
            loss(a, branch_logits=multi, target=bad)


# --- aggregate responses ---------------------------------------------------------------------------


def test_aggregate_reference_value():
    # spec 11e: f ~ default_rng(0).normal(size=5), y = 0.3: mean_i (y - f_i)^2 = 0.2138759
    f = torch.as_tensor(np.random.default_rng(0).normal(size=5))[None]
    y = torch.tensor([0.3], dtype=torch.float64)
    assert mil.instance_level_loss(f, y).item() == pytest.approx(0.2138759, abs=1e-7)
    assert mil.bag_level_loss(f, y).item() == pytest.approx((0.3 - f.mean().item()) ** 2, abs=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**16), rho=st.floats(0, 1))
def test_instance_loss_is_bag_loss_plus_within_bag_variance(seed, rho):
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(4, 6, generator=g, dtype=torch.float64)
    y = torch.randn(4, generator=g, dtype=torch.float64)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1, 2:], mask[3, 4:] = False, False
    inst = mil.instance_level_loss(f, y, mask, reduction="none")
    bag = mil.bag_level_loss(f, y, mask, reduction="none")
    var = torch.stack([f[b][mask[b]].var(unbiased=False) for b in range(4)])
    direct = torch.stack([((y[b] - f[b][mask[b]]) ** 2).mean() for b in range(4)])
    assert torch.allclose(inst, direct) and torch.allclose(inst, bag + var)
    interp = losses.get("aggregate_response", rho=rho, reduction="none")(f, y, mask)
    assert torch.allclose(interp, bag + rho * var)


def test_aggregate_padding_changes_nothing():
    g = torch.Generator().manual_seed(6)
    f = torch.randn(2, 3, generator=g, dtype=torch.float64)
    y = torch.randn(2, generator=g, dtype=torch.float64)
    padded = torch.cat([f, torch.randn(2, 4, generator=g, dtype=torch.float64)], 1)
    mask = torch.tensor([[True] * 3 + [False] * 4] * 2)
    for rho in (0.0, 0.3, 1.0):
        assert torch.allclose(losses.aggregate_response_loss(padded, y, mask, rho=rho),
                              losses.aggregate_response_loss(f, y, rho=rho))


@pytest.mark.parametrize("args, match", [
    ((torch.zeros(2, 3), torch.zeros(3)), "target"),
    ((torch.zeros(2, 3), torch.zeros(2, 1)), "target"),
    ((torch.zeros(2, 3), torch.zeros(2), torch.ones(2, 2, dtype=torch.bool)), "mask"),
])
def test_aggregate_errors_name_the_argument(args, match):
    with pytest.raises(ValueError, match=match):
        losses.aggregate_response_loss(*args)
    with pytest.raises(ValueError, match="rho"):
        losses.get("aggregate_response", rho=1.5)


# --- properties -----------------------------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 2**16), shift=st.floats(-50, 50))
def test_attention_losses_are_shift_and_permutation_invariant(seed, shift):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(2, 3, 7, generator=g, dtype=torch.float64)
    perm = torch.randperm(7, generator=g)
    for loss in (losses.get("aem"), losses.get("acmil")):
        assert torch.allclose(loss(a + shift, None), loss(a, None), atol=1e-9)
        assert torch.allclose(loss(a[..., perm], None), loss(a, None), atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**16))
def test_aggregate_losses_are_permutation_invariant_within_bags(seed):
    g = torch.Generator().manual_seed(seed)
    f, y = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    perm = torch.randperm(5, generator=g)
    loss = losses.get("aggregate_response", rho=0.5, reduction="none")
    assert torch.allclose(loss(f[:, perm], y), loss(f, y))
