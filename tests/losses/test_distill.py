"""Distillation losses (kind distill): kd, dhkd, nd against the spec's reference values
(../shared/reference/losses-classification-kd-mil.md §10) and against the official code, re-typed here verbatim
in float64; plus the standards the registry-wide tests cannot reach (the teacher's input, the target's absence)."""

import math

import pytest
import torch
import torch.nn.functional as F

from workbench import losses, models
from workbench.losses.distill import BINARY_KL_CLAMP

DISTILL = ["kd", "dhkd", "nd"]


def t64(*rows):
    return torch.tensor(rows, dtype=torch.float64)


# --- the official code, re-typed (only to compare against) -------------------------------------------------

def official_kd(y_s, y_t, T):
    # WangYZ1608/Knowledge-Distillation-via-ND @fc6f3f9 CIFAR/utils.py KDLoss (kl_loss_factor = 1)
    return F.kl_div(F.log_softmax(y_s / T, dim=1), F.softmax(y_t / T, dim=1), reduction="batchmean") * T * T


def official_binary_kl_norm(student, teacher, temperature=2, eps=1e-8):
    # penghui-yang/DHKD @7976c69 distiller_zoo/BinaryKLNorm.py
    n, _ = student.shape
    diff_st = torch.sigmoid((student - teacher) / temperature)
    diff_st = torch.clamp(diff_st, min=eps, max=1 - eps)
    target = torch.full_like(diff_st, 0.5)
    criterion = torch.nn.KLDivLoss(reduction="none")
    loss = criterion(torch.log(diff_st), target) + criterion(torch.log(1 - diff_st), 1 - target)
    return temperature ** 2 * loss.sum() / n


def official_nd(s_emb, t_emb, t_centres, labels, nd_loss_factor=1.0):
    # KD++ CIFAR/utils.py DirectNormLoss.project_center + forward (T_EMB as a [C, D] tensor instead of a dict)
    loss = 0.0
    for s, t, i in zip(s_emb, t_emb, labels):
        center = t_centres[int(i)]
        e_c = center / center.norm(p=2)
        max_norm = max(s.norm(p=2), t.norm(p=2))
        loss += 1 - torch.dot(s, e_c) / max_norm
    return loss * nd_loss_factor / len(labels)


# --- reference values -----------------------------------------------------------------------------------

def test_kd_reference_value_without_target():
    # spec §10a: z_s = [1, 2, 3], z_t = [3, 2, 1], T = 4 -> 1.319630
    value = losses.get("kd")(t64([1, 2, 3]), t64([3, 2, 1]))
    assert value.item() == pytest.approx(1.319630, abs=1e-6)
    assert losses.kd_loss(t64([1, 2, 3]), t64([1, 2, 3])).item() == pytest.approx(0.0, abs=1e-12)


def test_kd_with_target_blends_kl_and_cross_entropy():
    # Hand computation: CE([1, 2, 3], y = 0) = log(e + e^2 + e^3) - 1 = 2.4076059644; the spec's 1.319630 for KL.
    ce = math.log(math.e + math.e ** 2 + math.e ** 3) - 1
    value = losses.get("kd", alpha=0.9)(t64([1, 2, 3]), t64([3, 2, 1]), torch.tensor([0]))
    assert value.item() == pytest.approx(0.9 * 1.319630 + 0.1 * ce, abs=1e-6)
    assert losses.get("kd", alpha=0.0)(t64([1, 2, 3]), t64([3, 2, 1]), torch.tensor([0])).item() == \
        pytest.approx(ce, abs=1e-9)


@pytest.mark.parametrize("T", [0.5, 1.0, 4.0, 20.0])
def test_kd_equals_the_official_code(T):
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(7, 5, generator=g, dtype=torch.float64) * 3, torch.randn(7, 5, generator=g, dtype=torch.float64)
    assert torch.allclose(losses.kd_loss(s, t, temperature=T), official_kd(s, t, T), atol=1e-12)


def test_dhkd_reference_values():
    # spec §10c: z2 = z_t except one class with difference 2, T = 2 -> 0.480458; z2 = [1, 2, 3], z_t = 0 -> 1.637242
    assert losses.get("dhkd")(t64([2, 0, 0]), t64([0, 0, 0])).item() == pytest.approx(0.480458, abs=1e-6)
    assert losses.get("dhkd")(t64([1, 2, 3]), t64([0, 0, 0])).item() == pytest.approx(1.637242, abs=1e-6)
    assert losses.get("dhkd")(t64([1, 2, 3]), t64([1, 2, 3])).item() == 0


@pytest.mark.parametrize("T", [0.5, 2.0, 10.0])
def test_dhkd_equals_the_official_code_including_the_clamp(T):
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    s[0, 0], s[1, 1] = 60.0, -60.0  # |u| > 18.42 even at T = 2: the official clamp is active there
    s_ours = s.clone().requires_grad_(True)
    s_theirs = s.clone().requires_grad_(True)
    ours = losses.binary_kl_norm(s_ours, t, temperature=T)
    theirs = official_binary_kl_norm(s_theirs, t, temperature=T)
    assert torch.allclose(ours, theirs, atol=1e-9)
    ours.backward(), theirs.backward()
    assert torch.allclose(s_ours.grad, s_theirs.grad, atol=1e-9)
    if T < 10:  # the clamped entries get no gradient, as in the official code
        assert s_ours.grad[0, 0] == 0 and s_ours.grad[1, 1] == 0


def test_dhkd_without_clamp_is_the_exact_log_cosh():
    # d/ds T^2 log cosh((s - t)/(2T)) = (T/2) tanh((s - t)/(2T)) (spec §10c), never 0
    s = t64([40.0, -1.0, 0.5]).requires_grad_(True)
    t = torch.zeros(1, 3, dtype=torch.float64)
    value = losses.get("dhkd", clamp=False, reduction="sum")(s, t)
    value.backward()
    assert value.item() == pytest.approx(4 * sum(math.log(math.cosh(d / 4)) for d in (40.0, -1.0, 0.5)), rel=1e-12)
    assert torch.allclose(s.grad, torch.tanh(s.detach() / 4), atol=1e-12)
    assert BINARY_KL_CLAMP == pytest.approx(math.log((1 - 1e-8) / 1e-8))


def test_nd_reference_values():
    # spec §10b: s = [3, 4], t = [1, 0], class mean [2, 0] -> 0.4; with t = [6, 8] -> 0.7
    y, centre = torch.tensor([0]), t64([2, 0])
    nd = losses.get("nd", class_means=centre)
    assert nd(t64([3, 4]), t64([1, 0]), y).item() == pytest.approx(0.4, abs=1e-12)
    assert nd(t64([3, 4]), t64([6, 8]), y).item() == pytest.approx(0.7, abs=1e-12)
    # s = k e_c with k >= ||t|| -> 0
    assert nd(t64([12, 0]), t64([6, 8]), y).item() == pytest.approx(0.0, abs=1e-12)


def test_nd_equals_the_official_code_and_scales_with_weight():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(8, 5, generator=g, dtype=torch.float64), torch.randn(8, 5, generator=g, dtype=torch.float64)
    centres, y = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.arange(8) % 3
    for w in (1.0, 2.0):
        assert torch.allclose(losses.nd_loss(s, t, y, centres, weight=w), official_nd(s, t, centres, y, w), atol=1e-12)


def test_nd_without_class_means_uses_the_batch_teacher_means():
    g = torch.Generator().manual_seed(3)
    s, t = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1, 2, 2])
    means = torch.stack([t[y == c].mean(0) for c in range(3)])  # by hand
    assert torch.allclose(losses.get("nd")(s, t, y), losses.get("nd", class_means=means)(s, t, y), atol=1e-12)
    assert torch.allclose(losses.class_means(t, y), means, atol=1e-12)


def test_nd_class_means_are_a_buffer_that_follows_the_module():
    nd = losses.get("nd", class_means=torch.ones(3, 4))
    assert "class_means" in dict(nd.named_buffers())
    assert nd.double().class_means.dtype == torch.float64
    assert "class_means" in nd.state_dict()


# --- hard inputs and clear errors beyond the registry-wide standards --------------------------------------------

@pytest.mark.parametrize("name, kw", [("kd", {"temperature": 0.5}), ("dhkd", {"temperature": 0.5}),
                                      ("dhkd", {"temperature": 0.5, "clamp": False}), ("nd", {})])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_teacher_of_1e4_at_the_smallest_temperature_is_finite(name, kw, dtype):
    g = torch.Generator().manual_seed(0)
    s = (1e4 * torch.randn(5, 4, generator=g, dtype=dtype)).requires_grad_(True)
    t = 1e4 * torch.randn(5, 4, generator=g, dtype=dtype)
    value = losses.get(name, **kw)(s, t, torch.arange(5) % 4)
    (grad,) = torch.autograd.grad(value, s)
    assert torch.isfinite(value) and torch.isfinite(grad).all()


@pytest.mark.parametrize("name", DISTILL)
def test_gradcheck_through_the_teacher_too(name):
    # The losses do not detach the teacher (fit's step computes it under no_grad): its gradient is exact as well.
    g = torch.Generator().manual_seed(4)
    s = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    loss = losses.get(name, **({"class_means": torch.randn(3, 3, generator=g, dtype=torch.float64)}
                               if name == "nd" else {}))
    assert torch.autograd.gradcheck(lambda a, b: loss(a, b, torch.arange(5) % 3), (s, t), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", DISTILL)
@pytest.mark.parametrize("bad, match", [(float("nan"), "NaN"), (float("inf"), r"\+inf")])
def test_non_finite_teacher_is_rejected_by_name(name, bad, match):
    s, t = torch.randn(4, 3), torch.randn(4, 3)
    t[1, 2] = bad
    with pytest.raises(ValueError, match=rf"teacher_\w+ contains {match}"):
        losses.get(name)(s, t, torch.arange(4) % 3)


@pytest.mark.parametrize("name", DISTILL)
def test_inf_student_is_rejected_by_name(name):
    s = torch.randn(4, 3)
    s[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"student_\w+ contains \+inf"):
        losses.get(name)(s, torch.randn(4, 3), torch.arange(4) % 3)


@pytest.mark.parametrize("name", DISTILL)
def test_shapes_and_empty_batches_are_rejected_by_name(name):
    loss = losses.get(name)
    with pytest.raises(ValueError, match=r"teacher_\w+ must have the shape"):
        loss(torch.randn(4, 3), torch.randn(4, 5), torch.arange(4) % 3)
    with pytest.raises(ValueError, match=r"teacher_\w+ must have the shape"):  # a teacher of another batch
        loss(torch.randn(4, 3), torch.randn(5, 3), torch.arange(4) % 3)
    with pytest.raises(ValueError, match=r"teacher_\w+ must have shape \["):
        loss(torch.randn(4, 3), torch.randn(4), torch.arange(4) % 3)
    with pytest.raises(ValueError, match=r"teacher_\w+ must be a floating-point"):
        loss(torch.randn(4, 3), torch.ones(4, 3, dtype=torch.long), torch.arange(4) % 3)
    with pytest.raises(ValueError, match="at least one row"):
        loss(torch.randn(0, 3), torch.randn(0, 3), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="target"):
        loss(torch.randn(4, 3), torch.randn(4, 3), torch.arange(3))


@pytest.mark.parametrize("name", ["kd", "dhkd"])
def test_labels_must_name_a_class_of_the_logits(name):
    with pytest.raises(ValueError, match="num_classes"):
        losses.get(name)(torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 3]))


def test_without_a_target_kd_is_pure_distillation_and_nd_refuses():
    s, t = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    assert torch.equal(losses.get("kd")(s, t), losses.get("kd", alpha=0.3)(s, t))  # alpha only blends with CE
    assert losses.get("dhkd")(s, t) == losses.get("dhkd")(s, t, torch.arange(4) % 3)  # dhkd's loss ignores it
    with pytest.raises(ValueError, match="target is required"):
        losses.get("nd")(s, t)


def test_nd_class_means_are_checked():
    with pytest.raises(ValueError, match="class_means"):
        losses.get("nd", class_means=torch.ones(3, 5))(torch.randn(4, 4), torch.randn(4, 4), torch.arange(4) % 3)
    with pytest.raises(ValueError, match="num_classes=3"):
        losses.get("nd", class_means=torch.ones(3, 4))(torch.randn(4, 4), torch.randn(4, 4), torch.arange(4))
    with pytest.raises(ValueError, match=r"class_means contains \+inf"):
        losses.get("nd", class_means=torch.tensor([[1.0, float("inf")]]))


BAD_VALUES = [True, "1", float("nan"), float("inf"), -1.0]


@pytest.mark.parametrize("name, param", [("kd", "temperature"), ("kd", "alpha"), ("dhkd", "temperature"),
                                         ("dhkd", "alpha"), ("dhkd", "gamma"), ("nd", "weight"),
                                         ("nd", "temperature")])
@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_hyper_parameters_name_the_argument(name, param, bad):
    with pytest.raises(ValueError, match=param):
        losses.get(name, **{param: bad})
    functional = {"kd": losses.kd_loss, "dhkd": losses.binary_kl_norm, "nd": losses.nd_loss}[name]
    if param in ("temperature", "alpha") and name != "nd" and not (name == "dhkd" and param == "alpha"):
        with pytest.raises(ValueError, match=param):  # the functional twin validates as the module does
            functional(torch.randn(2, 3), torch.randn(2, 3), **{param: bad})


def test_out_of_range_alpha_and_zero_temperature_are_refused():
    for kw in ({"alpha": 1.5}, {"temperature": 0.0}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            losses.get("kd", **kw)
    with pytest.raises(ValueError, match="clamp"):
        losses.get("dhkd", clamp=1)
    with pytest.raises(ValueError, match="reduction"):
        losses.get("nd", reduction="avg")


@pytest.mark.parametrize("name", DISTILL)
def test_every_slider_endpoint_is_a_valid_value(name):
    s, t = torch.randn(4, 3), torch.randn(4, 3)
    for key, param in losses.info(name).params.items():
        for value in (param.low, param.default, param.high):
            assert torch.isfinite(losses.get(name, **{key: value})(s, t, torch.arange(4) % 3)), (key, value)


# --- the training objectives -----------------------------------------------------------------------------------

def _outputs(aux=True, seed=5):
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    return models.DistillOutputs(r(6, 3), r(6, 3) if aux else None, r(6, 4), r(6, 3), r(6, 4)), torch.arange(6) % 3


def test_dhkd_objective_is_ce_on_the_main_head_plus_the_aux_loss():
    out, y = _outputs()
    loss = losses.get("dhkd", alpha=0.5, gamma=2.0)
    expected = 2.0 * F.cross_entropy(out.logits, y) + 0.5 * official_binary_kl_norm(out.aux_logits, out.teacher_logits)
    assert torch.allclose(loss.objective(out, y), expected, atol=1e-12)
    one_head, _ = _outputs(aux=False)  # one head: both terms on the main logits (the set-up the paper says hurts)
    expected = 2.0 * F.cross_entropy(one_head.logits, y) + 0.5 * official_binary_kl_norm(one_head.logits,
                                                                                        one_head.teacher_logits)
    assert torch.allclose(loss.objective(one_head, y), expected, atol=1e-12)


def test_kd_and_nd_objectives():
    out, y = _outputs()
    assert torch.allclose(losses.get("kd").objective(out, y), losses.get("kd")(out.logits, out.teacher_logits, y))
    nd = losses.get("nd", class_means=torch.randn(3, 4, dtype=torch.float64))
    expected = (F.cross_entropy(out.logits, y) + official_kd(out.logits, out.teacher_logits, 4.0)
                + official_nd(out.features, out.teacher_features, nd.class_means, y))
    assert torch.allclose(nd.objective(out, y), expected, atol=1e-12)
    sums = losses.get("nd", reduction="sum", class_means=nd.class_means).objective(out, y)
    assert torch.allclose(sums, 6 * expected, atol=1e-10)  # "sum" is the per-sample total, not B times a mean


def test_class_means_name_bad_labels():
    features = torch.randn(4, 3, dtype=torch.float64)
    for bad in (torch.tensor([0, 1, 2]), torch.tensor([0.0, 1, 0, 1]), torch.tensor([0, 1, 5, 1])):
        with pytest.raises(ValueError, match=r"\blabels\b"):
            losses.class_means(features, bad, num_classes=3)
