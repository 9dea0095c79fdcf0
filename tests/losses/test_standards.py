"""Every registered loss meets the project's standards, checked once and parametrised over the registry
(``losses.available()``), so a newly registered loss is covered by registering it:

- float64 gradcheck;
- finite value and gradient on hard inputs (inputs of 1e4, zero vectors, duplicated rows or perfectly
  aligned views, one class, no positives) in float32 and float64, at the default and at every slider
  endpoint (``Param.low``/``Param.high``) of every hyper-parameter;
- half precision (float16, bfloat16): a finite value and gradient, or a ValueError naming the input;
- a ValueError naming the argument for bad hyper-parameters, derived from the registry's ``Param`` (bool,
  string, NaN, ±inf, a value just outside ``Param.valid``), for non-bool flags, and for the same bad values
  given to the functional twins (``name``, ``name_loss``, ``name_from_similarity``);
- a ValueError naming the argument for bad inputs: wrong rank, integer dtype, NaN, ±inf, empty batch, labels
  out of range or of a float dtype, mismatched paired inputs, bad masks and sample ids; integer labels of
  any integer dtype give the int64 result.

The argument names come from each loss's ``forward`` signature, the hyper-parameters from ``losses.info``.
"""

from __future__ import annotations

import inspect
import math
import sys

import pytest
import torch
import torch.nn.functional as F
from conftest import BAD_FLAGS, WithTeacher, flag_keywords, make_inputs

from workbench import kinds, losses

NAMES = losses.available()

# Losses whose gradient is by design not the derivative of their value, so finite differences cannot match it:
# ALDR-KL's lam adapts to the logits but is detached (as in the official code); EnsLoss draws a new loss
# derivative at every call; Circle loss holds its self-paced weights alpha_p, alpha_n constant in the backward
# pass (detach_weights=True, as in the paper and PML); Hyp-CE and Hyp-PC rescale the gradient reaching the ball
# points by the inverse Poincare metric (riemannian=True, the official hyptorch RiemannianGradient); DEC and
# DEPICT hold their target distribution fixed (detached, as both papers do) when they compute it from the batch.
# SimSiam and BYOL detach their targets (the stop-gradient), GroCo its positives and negatives (stop_grad, as the
# official code) and DCLW its von Mises-Fisher weights (as lightly). SimLAP draws new partner classes at every call
# (pairing "arbitrary", its default, and "distinct") and adds a classifier's cross-entropy on detached embeddings
# (as the official code).
# Their own gradient tests are in tests/losses/test_logits.py, test_binary.py, test_proxies.py (Circle with
# detach_weights=False passes gradcheck), test_hyperbolic.py (riemannian=False passes gradcheck),
# test_clustering_losses.py (DEC and DEPICT with a given target pass gradcheck) and test_self_supervised.py
# (stop_gradient=False, stop_grad=False and DCL pass gradcheck), test_simlap.py (given partners and
# classifier=False, it passes). SupReMix holds its mixtures fixed (detached, as the code found does); with
# detach_mixtures=False it passes gradcheck in tests/losses/test_regression_losses.py.
# MIDAM's value is LibAUC's surrogate, built on each bag's detached moving average: its gradient is MIDAM's
# stochastic gradient, not the derivative of its value (tests/losses/test_midam.py pins both against LibAUC).
NO_GRADCHECK = {"midam", "aldr_kl", "ensloss", "circle", "hyp_ce", "hyp_pc", "dec", "depict", "simsiam", "byol", "dclw",
                "groco", "supremix", "simlap"}
LABEL_KINDS = ("logits", "margin", "pairs")  # kinds whose second input is integer class labels
# hard inputs that a loss may refuse with a ValueError naming its labels (a loss undefined without two classes)
LABEL_CASES = ("one class", "one class, large", "only negatives", "only positives", "no positives")


def _info(name):
    return losses.info(name)


def _forward_args(name) -> list[str]:
    """The names of ``forward``'s inputs (``logits, target``, ``views, labels``, ``x, y``, ...)."""
    return [p for p in inspect.signature(_info(name).cls.forward).parameters if p != "self"]


def _structural(name, dim: int = 4) -> dict:
    return kinds.get(_info(name).kind).loss_args(classes=3, dim=dim)


def _numeric(param) -> bool:
    return isinstance(param.default, (int, float)) and not isinstance(param.default, bool)


def _param_settings():
    """(name, params) pairs: the defaults, then every slider endpoint of every numeric param, one at a time."""
    for name in NAMES:
        yield pytest.param(name, {}, id=f"{name}-defaults")
        for key, param in _info(name).params.items():
            if not _numeric(param):
                continue
            for end in sorted({v for v in (param.low, param.high) if v is not None} - {param.default}):
                yield pytest.param(name, {key: end}, id=f"{name}-{key}={end}")


def _inputs(name, params, *, dtype, dim):
    """Valid inputs from ``make_inputs(name, ...)`` and the loss built with ``params`` on top of its defaults
    (randomness plays no part in finiteness, so random losses need no reseeding here)."""
    wrapped, args = make_inputs(name, dtype=dtype, dim=dim)
    loss = losses.get(name, **_structural(name, dim), **params).to(dtype)
    if isinstance(wrapped, WithTeacher):  # distillation: the teacher's outputs held fixed
        loss = WithTeacher(loss, wrapped.teacher)
    return loss, args


def _finite_value_and_grad(loss, x, second):
    """The loss's value and its gradient in the first input (and in the second where it is a second modality)."""
    x = x.detach().clone().requires_grad_(True)
    inputs = [x]
    if getattr(loss, "kind", None) == "crossmodal":
        second = second.detach().clone().requires_grad_(True)
        inputs.append(second)
    value = loss(x, second)
    assert torch.isfinite(value).all(), f"value {value}"
    if value.requires_grad:
        for grad in torch.autograd.grad(value.sum(), inputs, allow_unused=True):
            assert grad is None or torch.isfinite(grad).all(), f"gradient {grad}"
    return value


def _grads_finite(value, tensor):
    (grad,) = torch.autograd.grad(value, tensor, allow_unused=True)
    return grad is None or bool(torch.isfinite(grad).all())


def _hard_cases(name, x, target):
    """The hard inputs of the project's standards for this loss's kind (inputs of 1e4, zero vectors, one class, no
    positives, plus the kind's own: coincident rows, aligned views or pairs): (label, x, target)."""
    kind = _info(name).kind
    yield "large", x * 1e4, target
    yield "zeros", torch.zeros_like(x), target
    if kind in ("margin", "pairs", "views", "crossmodal"):  # embeddings: their squares overflow float32 at 1e20
        yield "huge embeddings", x * 1e20, target
    if kind in ("pairs", "margin", "crossmodal"):
        yield "duplicated rows", x[:1].expand_as(x).clone(), target  # zero distances with non-zero norms
    if kind == "views":
        yield "aligned views", x[:, :1].expand_as(x).clone(), target  # every positive pair at distance 0
        yield "one class", x, torch.zeros(len(x), dtype=torch.long)  # supervised: every row a positive
    if kind == "crossmodal":
        yield "aligned pairs", x, x.clone()
    if kind in LABEL_KINDS:
        yield "one class", x, torch.zeros_like(target)
        yield "one class, large", x * 1e4, torch.zeros_like(target)
        if kind == "pairs":
            yield "no positives", x, torch.arange(len(target))
    if kind == "binary":
        yield "only negatives", x, torch.zeros_like(target)
        yield "only positives", x, torch.ones_like(target)


# --- gradients and numerics -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in NAMES if n not in NO_GRADCHECK])
def test_gradcheck_float64(name):
    loss, (x, target) = make_inputs(name)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: loss(t, target), (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("name", "params"), list(_param_settings()))
def test_hard_inputs_give_finite_value_and_gradient(name, params, dtype):
    loss, (x, target) = _inputs(name, params, dtype=dtype, dim=8)  # D = 8: AMCL's num_heads=8 divides it
    for case, hard_x, hard_target in _hard_cases(name, x, target):
        try:
            _finite_value_and_grad(loss, hard_x, hard_target)
        except AssertionError as error:
            raise AssertionError(f"{name} {params} {dtype} on {case}: {error}") from None
        except ValueError as error:
            if "overflow" in str(error):  # a loss whose value itself exceeds the dtype (comp_sum at tau < 1,
                # VICReg's squared error of 1e20 embeddings)
                assert ("large" in case or "huge" in case) and _forward_args(name)[0] in str(error), \
                    f"{name} {params} on {case}: {error}"
                continue
            # a label-degenerate batch may be refused, clearly
            assert case in LABEL_CASES, f"{name} {params} on {case}: {error}"
            assert _forward_args(name)[1] in str(error), f"{name} on {case}: {error}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_finite_or_refused(name, dtype):
    loss, (x, target) = make_inputs(name, dtype=torch.float32)
    loss = loss.to(dtype)
    if target is not None and target.is_floating_point():
        target = target.to(dtype)
    for case, hard_x, hard_target in [("random", x, target), *_hard_cases(name, x, target)]:
        if case == "huge embeddings" and dtype == torch.float16:
            continue  # 1e20 is not a float16 number
        if "large" in case and dtype == torch.float16:
            # float16 ends at 65504: 1e4 (or 1e3) squared overflows in any norm or squared error, whatever the
            # loss does; logits of 100 still overflow exp() by far, the case that tests stability
            hard_x = hard_x / 100
        try:
            value = _finite_value_and_grad(loss, hard_x.to(dtype), hard_target)
        except ValueError as error:
            if case in LABEL_CASES and _forward_args(name)[1] in str(error):
                continue  # a label-degenerate batch refused, as in float32
            assert _forward_args(name)[0] in str(error) and "dtype" in str(error), str(error)
            return
        except AssertionError as error:
            raise AssertionError(f"{name} {dtype} on {case}: {error}") from None
        assert value.dtype == dtype


# --- hyper-parameters -----------------------------------------------------------------------------------------

def _bad_values(param):
    if isinstance(param.default, bool):
        return [1, "yes", None]
    if isinstance(param.default, str):
        return ["abc", True, 1]
    bad = [True, False, "abc", math.nan, math.inf, -math.inf]
    if param.valid is not None:
        bad += param.valid.outside()
    return bad


def _bad_param_cases():
    for name in NAMES:
        for key, param in _info(name).params.items():
            for value in _bad_values(param):
                yield pytest.param(name, key, value, id=f"{name}-{key}={value!r}")


@pytest.mark.parametrize(("name", "key", "value"), list(_bad_param_cases()))
def test_bad_hyper_parameters_are_rejected(name, key, value):
    with pytest.raises(ValueError, match=rf"\b{key}\b"):
        losses.get(name, **_structural(name), **{key: value})


def _valid_cases():
    for name in NAMES:
        for key, param in _info(name).params.items():
            if param.valid is not None:
                for value in param.valid.inside():
                    yield pytest.param(name, key, value, id=f"{name}-{key}={value!r}")


@pytest.mark.parametrize(("name", "key", "value"), list(_valid_cases()))
def test_the_ends_of_the_validity_range_are_accepted(name, key, value):
    # the other half of the contract: Param.valid is not narrower than what the constructor accepts (up to a
    # joint constraint with another param, which must then be named: iSogCLR's tau_min <= temperature <= tau_max)
    others = [k for k in _info(name).params if k != key]
    try:
        losses.get(name, **_structural(name), **{key: value})
    except ValueError as error:
        assert any(k in str(error) for k in others), str(error)


@pytest.mark.parametrize("name", NAMES)
def test_every_numeric_param_records_its_validity_range(name):
    for key, param in _info(name).params.items():
        if _numeric(param):
            assert param.valid is not None, f"{name}: Param {key!r} has no validity range"
            assert all(v in param.valid for v in (param.default, param.low, param.high) if v is not None)


def _other_number_cases():
    """Constructor numbers outside the registry's params (eps, grad_clip, shot, ...): found from the signature."""
    for name in NAMES:
        for key, p in inspect.signature(_info(name).cls.__init__).parameters.items():
            if key not in _info(name).params and isinstance(p.default, (int, float)) and not isinstance(p.default,
                                                                                                      bool):
                for value in (True, "abc", math.nan, math.inf):
                    yield pytest.param(name, key, value, id=f"{name}-{key}={value!r}")


@pytest.mark.parametrize(("name", "key", "value"), list(_other_number_cases()))
def test_other_numeric_constructor_arguments_are_checked(name, key, value):
    with pytest.raises(ValueError, match=rf"\b{key}\b"):
        losses.get(name, **_structural(name), **{key: value})


def _flag_cases():
    for name in NAMES:
        for key in flag_keywords(_info(name).cls.__init__):
            for value in BAD_FLAGS.values():
                yield pytest.param(name, key, value, id=f"{name}-{key}={value!r}")


@pytest.mark.parametrize(("name", "key", "value"), list(_flag_cases()))
def test_flags_accept_only_bools(name, key, value):
    with pytest.raises(ValueError, match=rf"\b{key}\b"):
        losses.get(name, **_structural(name), **{key: value})


@pytest.mark.parametrize("name", [n for n in NAMES if "reduction" in inspect.signature(losses.info(n).cls).parameters])
@pytest.mark.parametrize("value", ["average", None, 1])
def test_bad_reduction_is_rejected(name, value):
    with pytest.raises(ValueError, match="reduction"):
        losses.get(name, **_structural(name), reduction=value)


def _twins(name):
    """The functional twins of a registered loss: the functions ``name``, ``name_loss`` and
    ``name_from_similarity`` of ``workbench.losses`` or of the loss's own module."""
    module = sys.modules[_info(name).cls.__module__]
    found = {getattr(space, name + suffix, None) for space in (losses, module)
             for suffix in ("", "_loss", "_from_similarity")}
    return sorted((f for f in found if inspect.isfunction(f)), key=lambda f: f.__name__)


def _twin_inputs(name, twin):
    loss, (x, target) = make_inputs(name)
    if isinstance(loss, WithTeacher):  # a distill twin takes the teacher's outputs the wrapper holds fixed
        return (x, loss.teacher, target)
    if not twin.__name__.endswith("_from_similarity"):
        return (x, target)
    rows = F.normalize(x.reshape(-1, x.shape[-1]), dim=-1)
    labels = target if x.dim() == 2 else torch.arange(len(x)).repeat_interleave(x.shape[1])
    return rows @ rows.T, labels


def _twin_cases():
    for name in NAMES:
        for twin in _twins(name):
            accepted = inspect.signature(twin).parameters
            for key, param in _info(name).params.items():
                if key in accepted:
                    for value in _bad_values(param):
                        yield pytest.param(name, twin, key, value, id=f"{twin.__name__}-{key}={value!r}")


@pytest.mark.parametrize(("name", "twin", "key", "value"), list(_twin_cases()))
def test_functional_twins_reject_bad_hyper_parameters(name, twin, key, value):
    args = _twin_inputs(name, twin)
    twin(*args)  # the inputs are valid
    with pytest.raises(ValueError, match=rf"\b{key}\b"):
        twin(*args, **{key: value})


# --- inputs ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_wrong_rank_is_rejected_with_the_expected_shape(name):
    loss, (x, target) = make_inputs(name)
    for bad in (x[None], x[0]) if _info(name).kind != "attention" else (x[None],):  # [K, N] is an attention input
        with pytest.raises(ValueError, match=rf"{_forward_args(name)[0]}.*shape \["):
            loss(bad, target)


@pytest.mark.parametrize("name", NAMES)
def test_integer_input_is_rejected(name):
    loss, (x, target) = make_inputs(name)
    with pytest.raises(ValueError, match=rf"{_forward_args(name)[0]}.*floating-point"):
        loss(x.long(), target)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_inputs_are_rejected(name, bad):
    loss, (x, target) = make_inputs(name)
    if bad == -math.inf and _info(name).kind == "attention":
        pytest.skip("a -inf attention logit marks a masked instance (documented in workbench.losses.mil)")
    x = x.clone()
    x.view(-1)[1] = bad
    word = "NaN" if math.isnan(bad) else ("-inf" if bad < 0 else r"\+inf")
    with pytest.raises(ValueError, match=rf"{_forward_args(name)[0]} contains {word}"):
        loss(x, target)


@pytest.mark.parametrize("name", NAMES)
def test_nan_in_the_second_input_is_rejected(name):
    loss, (x, target) = make_inputs(name)
    if target is None or not target.is_floating_point():
        pytest.skip("the second input is not a float tensor")
    target = target.clone()
    target[0] = math.nan
    with pytest.raises(ValueError, match=_forward_args(name)[1]):
        loss(x, target)


@pytest.mark.parametrize("name", NAMES)
def test_empty_batch_is_refused_or_zero(name):
    loss, (x, target) = make_inputs(name)
    empty_target = target[:0] if target is not None and _info(name).kind != "attention" else target
    try:
        value = loss(x[:0].requires_grad_(True), empty_target)
    except ValueError as error:
        assert any(arg in str(error) for arg in _forward_args(name)[:2]), str(error)
        return
    assert torch.isfinite(value).all() and (value == 0).all(), f"an empty batch gave {value}"


@pytest.mark.parametrize("name", [n for n in NAMES if losses.info(n).kind == "pairs"])
def test_negative_labels_are_rejected(name):
    loss, (x, target) = make_inputs(name)
    with pytest.raises(ValueError, match=rf"{_forward_args(name)[1]}.*>= 0"):
        loss(x, target - 3)


@pytest.mark.parametrize("name", [n for n in NAMES if losses.info(n).kind in ("logits", "margin")])
def test_labels_out_of_range_are_rejected(name):
    loss, (x, target) = make_inputs(name)
    arg = _forward_args(name)[1]
    with pytest.raises(ValueError, match=rf"{arg}.*num_classes"):
        loss(x, target + 3)
    with pytest.raises(ValueError, match=rf"{arg}.*>= 0"):
        loss(x, target - 3)


@pytest.mark.parametrize("name", [n for n in NAMES if losses.info(n).kind == "binary"])
def test_binary_targets_outside_0_1_are_rejected(name):
    loss, (x, target) = make_inputs(name)
    with pytest.raises(ValueError, match="target"):
        loss(x, target + 1)
    with pytest.raises(ValueError, match="target"):
        loss(x, torch.full_like(x, 0.5))


@pytest.mark.parametrize("name", [n for n in NAMES if losses.info(n).kind in LABEL_KINDS])
def test_float_labels_are_rejected(name):
    loss, (x, target) = make_inputs(name)
    with pytest.raises(ValueError, match=rf"{_forward_args(name)[1]}.*integer"):
        loss(x, target.double())


@pytest.mark.parametrize("name", [n for n in NAMES if losses.info(n).kind in (*LABEL_KINDS, "binary")])
@pytest.mark.parametrize("dtype", [torch.int8, torch.int16, torch.int32, torch.uint8])
def test_integer_labels_of_any_dtype_give_the_int64_result(name, dtype):
    loss, (x, target) = make_inputs(name)
    torch.manual_seed(0)  # losses that draw from torch's global generator (EnsLoss) draw the same
    expected = loss(x, target)
    torch.manual_seed(0)
    assert torch.equal(loss(x, target.to(dtype)), expected)


@pytest.mark.parametrize("name", [n for n in NAMES if losses.info(n).kind == "views"])
def test_views_with_labels_accept_any_integer_dtype(name):
    loss, (x, _) = make_inputs(name)
    labels = torch.arange(len(x)) % 2
    try:
        expected = loss(x, labels)
    except ValueError as error:  # self-supervised: refuses labels, by name
        assert "labels" in str(error)
        return
    assert torch.equal(loss(x, labels.to(torch.int32)), expected)


# energy losses take M noise samples next to B data samples: any M >= 1 is valid (M/B is NCE's noise ratio)
@pytest.mark.parametrize("name", [n for n in NAMES if losses.info(n).kind not in ("attention", "energy")])
def test_second_input_must_match_the_batch(name):
    loss, (x, target) = make_inputs(name)
    if target is None:
        target = torch.arange(len(x))
    # the second input of the two-argument form; a distill loss's is target (WithTeacher fixes the teacher's
    # outputs in the middle; a teacher of another batch is refused by name in test_distill.py)
    arg = "target" if _info(name).kind == "distill" else _forward_args(name)[1]
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        loss(x, torch.cat([target, target[:1]]))


@pytest.mark.parametrize("name", [n for n in NAMES if losses.info(n).kind == "crossmodal"])
def test_paired_inputs_must_agree(name):
    loss, (x, y) = make_inputs(name)
    with pytest.raises(ValueError, match=r"x and y.*feature"):
        loss(x, torch.randn(len(x), x.shape[1] + 1, dtype=x.dtype))
    with pytest.raises(ValueError, match=r"x and y.*rows"):
        loss(x, y[:-1])
    with pytest.raises(ValueError, match=r"x and y.*dtype"):
        loss(x, y.float())


@pytest.mark.parametrize("name", [n for n in NAMES if losses.info(n).kind == "margin"])
def test_margin_heads_reject_the_wrong_embedding_dim(name):
    loss, (x, target) = make_inputs(name)
    with pytest.raises(ValueError, match="embedding_dim"):
        loss(torch.randn(len(x), x.shape[1] + 1, dtype=x.dtype), target)


@pytest.mark.parametrize("name", [n for n in NAMES if "mask" in _forward_args(n)])
def test_masks_are_checked(name):
    loss, args = make_inputs(name)
    x, second = args
    kind = _info(name).kind
    mask = second if kind == "attention" else torch.ones(x.shape[0], x.shape[-1], dtype=torch.bool)
    rest = () if kind == "attention" else (second,)
    for bad in (mask.float(), mask[:, :-1], mask[:-1]):
        with pytest.raises(ValueError, match="mask"):
            loss(x, *rest, bad)
    empty_bag = mask.clone()
    empty_bag[0] = False
    with pytest.raises(ValueError, match="mask"):
        loss(x, *rest, empty_bag)


@pytest.mark.parametrize("name", [n for n in NAMES if "index" in _forward_args(n)])
def test_sample_ids_are_checked_and_any_integer_dtype_works(name):
    loss, (x, target) = make_inputs(name)
    index = torch.arange(len(x))
    loss.train()
    for bad in (index.double(), index[:-1], index - 1, index > 2):
        with pytest.raises(ValueError, match="index"):
            loss(x, target, index=bad)
    fresh, _ = make_inputs(name)
    assert torch.equal(fresh(x, target, index=index.to(torch.int32)), make_inputs(name)[0](x, target, index=index))


def test_acmil_checks_its_branch_inputs():
    loss, (x, mask) = make_inputs("acmil")
    B, K = x.shape[:2]
    branch = torch.randn(B, K, 3, dtype=x.dtype)
    target = torch.tensor([0, 2, 1])
    expected = loss(x, mask, branch_logits=branch, target=target)
    assert torch.equal(loss(x, mask, branch_logits=branch, target=target.to(torch.int32)), expected)
    nan = branch.clone()
    nan[0, 0, 0] = math.nan
    cases = [(dict(branch_logits=nan, target=target), "branch_logits"),
             (dict(branch_logits=branch.long(), target=target), "branch_logits"),
             (dict(branch_logits=branch[:-1], target=target), "branch_logits|target"),
             (dict(branch_logits=branch, target=target + 3), "target"),
             (dict(branch_logits=branch, target=target.double()), "target"),
             (dict(branch_logits=branch[..., 0], target=target + 1), "target"),
             (dict(branch_logits=branch[..., 0], target=target.double()[:, None]), "target"),
             (dict(branch_logits=branch), "target")]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            loss(x, mask, **kwargs)


def test_bias_loss_checks_its_features():
    loss = losses.get("bias_loss")
    logits, target = torch.randn(4, 3, dtype=torch.float64), torch.arange(4) % 3
    for bad in (torch.full((4, 5), math.nan), torch.full((4, 5), math.inf), torch.randn(3, 5),
                torch.ones(4, 5, dtype=torch.long)):
        with pytest.raises(ValueError, match="features"):
            loss(logits, target, features=bad)


@pytest.mark.parametrize("name", [n for n in NAMES if hasattr(losses.info(n).cls, "from_similarity")])
@pytest.mark.parametrize("bad", ["nan", "inf", "not square", "labels"])
def test_from_similarity_checks_its_inputs(name, bad):
    loss = losses.get(name)
    s = torch.eye(4, dtype=torch.float64)
    # the second input: labels, or for a cross-modal loss the other modality y (its rows are checked as labels are)
    crossmodal = _info(name).kind == "crossmodal"
    labels = torch.randn(4, 3, dtype=torch.float64) if crossmodal else torch.tensor([0, 0, 1, 1])
    if bad == "nan":
        s[0, 1] = math.nan
    elif bad == "inf":
        s[0, 1] = math.inf
    elif bad == "not square":
        s = s[:, :3]
    else:
        labels = labels[:3]
    second = "y" if crossmodal else "labels"
    with pytest.raises(ValueError, match=rf"\b{second}\b" if bad == "labels" else "similarity"):
        loss.from_similarity(s, labels)


# --- kept from the earlier standards file -------------------------------------------------------------------

def test_contrastive_without_positives_keeps_only_the_negative_part():
    loss, (x, _) = make_inputs("contrastive")
    distinct = torch.arange(len(x))
    x.requires_grad_(True)
    value = loss(x, distinct)
    assert torch.isfinite(value) and _grads_finite(value, x)
    assert value == losses.get("contrastive", pos_margin=5.0)(x, distinct)  # the positive part plays no role


def test_ntxent_without_negatives_is_zero():
    x = torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True)  # one instance: nothing to contrast
    value = losses.get("ntxent")(x)
    assert value == 0 and _grads_finite(value, x)


def test_ntxent_supervised_without_positives_is_zero():
    loss = losses.get("ntxent")
    sim = torch.eye(4, dtype=torch.float64)
    assert loss.from_similarity(sim, torch.arange(4)) == 0


def test_ntxent_needs_two_views():
    with pytest.raises(ValueError, match="V >= 2"):
        losses.get("ntxent")(torch.randn(4, 1, 3))


def test_similarity_must_be_square():
    with pytest.raises(ValueError, match="square"):
        losses.get("contrastive").from_similarity(torch.randn(4, 3), torch.arange(4))


@pytest.mark.parametrize("name", NAMES)
def test_same_inputs_same_value_and_no_state_change(name):
    loss, (x, target) = make_inputs(name)
    torch.manual_seed(0)  # EnsLoss draws from torch's global generator: the same draw both times
    first = loss(x, target)
    torch.manual_seed(0)
    assert torch.equal(loss(x, target), first)


@pytest.mark.parametrize("name", NAMES)
def test_output_follows_the_input_device_and_dtype(name):
    loss, (x, target) = make_inputs(name, dtype=torch.float32)
    loss = loss.float()
    value = loss(x, target)
    assert value.device == x.device and value.dtype == torch.float32


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_contrastive_hand_written_backward_passes_gradcheck(squared, reduction):
    # The contrastive loss has its own backward (for speed): hold it to finite differences in every branch.
    torch.manual_seed(0)
    x = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    loss = losses.get("contrastive", pos_margin=0.3, neg_margin=1.2, squared=squared, reduction=reduction)
    assert torch.autograd.gradcheck(lambda t: loss(t, y), (x,), eps=1e-6, atol=1e-6)
    sim = torch.nn.functional.normalize(x.detach(), dim=1) @ torch.nn.functional.normalize(x.detach(), dim=1).T
    sim = (0.98 * sim).requires_grad_(True)  # keep D away from 0, where the slope is infinite
    assert torch.autograd.gradcheck(lambda s: loss.from_similarity(s, y), (sim,), eps=1e-6, atol=1e-6)


# --- the vocabulary itself ------------------------------------------------------------------------------------

def test_range_checks_name_the_argument_and_the_open_or_closed_ends():
    from workbench._checks import NONNEGATIVE, POSITIVE, Range, check_flag, check_int, check_number

    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0, got 0"):
        POSITIVE.check(0, "temperature")
    with pytest.raises(ValueError, match=r"margin must be a finite number >= 0, got -1"):
        NONNEGATIVE.check(-1, "margin")
    with pytest.raises(ValueError, match=r"q must be a finite number in \(0, 1\], got 0"):
        Range(0, 1, low_open=True).check(0, "q")
    with pytest.raises(ValueError, match=r"k must be an int >= 1, got 2.0"):
        check_int(2.0, "k", 1)
    with pytest.raises(ValueError, match=r"clip must be a finite number < 0, got 0"):
        check_number(0, "clip", high=0, high_open=True)
    for bad in (True, "1", None, math.nan, math.inf, -math.inf, torch.tensor([1.0, 2.0])):
        with pytest.raises(ValueError, match="x must be"):
            check_number(bad, "x")
    assert check_number(torch.tensor(0.5), "x") == 0.5 and check_int(torch.tensor(3), "k") == 3
    assert Range(0, 1, high_open=True).outside() == [-1e-06, 1] and Range(0, 1, high_open=True).inside()[0] == 0
    with pytest.raises(ValueError, match="flag must be True or False"):
        check_flag(1, "flag")
