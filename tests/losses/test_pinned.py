"""Values pinned by independent expectations: the formula written out in the test (loops over pairs, no call
into the loss's own helpers), the spec (../shared/reference/*.md, cited) or the registry. Each test here was
written against a change that the rest of the suite let through, and fails when that change is applied."""

import inspect
import math
import re

import pytest
import torch
import torch.nn.functional as F
from conftest import cosines, unit

from workbench import kinds, losses

D64 = torch.float64


def softplus(v: float) -> float:
    return math.log1p(math.exp(v)) if v < 30 else v + math.log1p(math.exp(-v))


# --- defaults: the registry is the one place that states them ---------------------------------------------


@pytest.mark.parametrize("name", losses.available())
def test_constructor_defaults_are_the_registry_defaults(name):
    info = losses.info(name)
    signature = inspect.signature(info.cls.__init__).parameters
    for param, spec in info.params.items():
        assert signature[param].default == spec.default, f"{name}.{param}"


@pytest.mark.parametrize("name", losses.available())
def test_functional_twins_share_the_registry_defaults(name):
    info = losses.info(name)
    module = inspect.getmodule(info.cls)
    twins = [getattr(module, f, None) for f in (name, f"{name}_loss", f"{name}_from_similarity")]
    for twin in [t for t in twins if inspect.isfunction(t)]:
        signature = inspect.signature(twin).parameters
        for param, spec in info.params.items():
            if param in signature:
                assert signature[param].default == spec.default, f"{twin.__name__}.{param}"


def test_defaults_of_the_spec():
    # the spec's defaults for the losses whose mutants went uncaught: Z-loss b = 2 (ours, the docstring says so),
    # UNPG wisk = 1.5 (head.zoo.yaml, reference §10.6), iSogCLR's tau-gradient clip 3 (official code, §6)
    assert losses.info("z_loss").defaults["b"] == 2.0 and losses.get("z_loss").b == 2.0
    assert losses.info("unpg").defaults["wisk"] == 1.5
    assert losses.get("unpg", num_classes=2, embedding_dim=2).wisk == 1.5
    assert losses.get("isogclr").grad_clip == 3.0


# --- pairs ---------------------------------------------------------------------------------------------------


def test_lifted_structure_is_a_hinge_per_anchor():
    # The anchor-wise form of the MS paper (generalized_lifted_structure, distance="cosine"):
    # l_i = [log sum_P e^{m - S_ik} + log sum_N e^{S_ik}]_+, mean over anchors; margin 0.5
    x, y = unit(0, 10, 150, 170), torch.tensor([0, 0, 1, 1])
    s, m = cosines(x), 0.5
    expected = []
    for i in range(4):
        pos = [math.exp(m - s[i, k]) for k in range(4) if k != i and y[k] == y[i]]
        neg = [math.exp(s[i, k]) for k in range(4) if y[k] != y[i]]
        expected.append(max(0.0, math.log(sum(pos)) + math.log(sum(neg))))
    assert all(e == 0 for e in expected)  # well separated: every anchor is inside the hinge's flat part
    lifted = losses.get("generalized_lifted_structure", distance="cosine", pos_margin=m, neg_margin=0.0)
    assert lifted(x, y).item() == 0.0
    x2 = unit(0, 100, 40, 170)  # positives far apart, negatives close: the hinge is active
    s = cosines(x2)
    active = []
    for i in range(4):
        pos = [math.exp(m - s[i, k]) for k in range(4) if k != i and y[k] == y[i]]
        neg = [math.exp(s[i, k]) for k in range(4) if y[k] != y[i]]
        active.append(max(0.0, math.log(sum(pos)) + math.log(sum(neg))))
    assert lifted(x2, y).item() == pytest.approx(sum(active) / 4, rel=1e-12)


def test_lifted_structure_mixed_anchors_clip_only_the_negative_ones():
    sim = torch.tensor([[1.0, 0.9, -0.8], [0.9, 1.0, 0.2], [-0.8, 0.2, 1.0]], dtype=D64)
    y, m = torch.tensor([0, 0, 1]), 0.5
    # anchor 0: log e^{0.5-0.9} + log e^{-0.8} = -1.2 -> 0; anchor 1: -0.4 + 0.2 = -0.2 -> 0; anchor 2: no positive
    assert losses.get("generalized_lifted_structure", distance="cosine", pos_margin=m, neg_margin=0.0,
                      reduction="none").from_similarity(sim, y).tolist() == [0, 0, 0]
    sim2 = sim.clone()
    sim2[0, 2] = sim2[2, 0] = 0.7  # anchor 0: -0.4 + 0.7 = 0.3 (kept); anchor 1 unchanged (-0.2, clipped)
    values = losses.get("generalized_lifted_structure", distance="cosine", pos_margin=m, neg_margin=0.0,
                      reduction="none").from_similarity(sim2, y)
    assert values.tolist() == pytest.approx([0.3, 0.0, 0.0], abs=1e-12)


def test_contrastive_positive_part_averages_only_the_pairs_with_loss():
    # PML's AvgNonZeroReducer for each part: positives closer than pos_margin contribute 0 and do not count
    x, y = unit(0, 20, 90, 180, 200), torch.tensor([0, 0, 1, 1, 1])
    pos_margin, neg_margin = 0.5, 1.0
    d = torch.cdist(x, x)
    pos, neg = [], []
    for i in range(5):
        for j in range(5):
            if i == j:
                continue
            if y[i] == y[j]:
                pos.append(max(0.0, float(d[i, j]) - pos_margin))
            else:
                neg.append(max(0.0, neg_margin - float(d[i, j])))
    assert 0 < sum(p > 0 for p in pos) < len(pos)  # some positive pairs inside the margin, some not
    expected = sum(pos) / sum(p > 0 for p in pos) + sum(neg) / max(sum(n > 0 for n in neg), 1)
    value = losses.get("contrastive", pos_margin=pos_margin, neg_margin=neg_margin)(x, y)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_binomial_deviance_averages_each_part_over_all_its_pairs():
    sim = torch.tensor([[1.0, 0.8, 0.6, 0.1], [0.8, 1.0, 0.45, 0.3], [0.6, 0.45, 1.0, 0.2],
                        [0.1, 0.3, 0.2, 1.0]], dtype=D64)
    y, alpha, beta, base = torch.tensor([0, 0, 1, 1]), 2.0, 50.0, 0.5
    pos, neg = [], []
    for i in range(4):
        for j in range(4):
            if i != j and y[i] == y[j]:
                pos.append(softplus(-alpha * (float(sim[i, j]) - base)))
            elif y[i] != y[j]:
                neg.append(softplus(beta * (float(sim[i, j]) - base)))
    expected = sum(pos) / len(pos) + sum(neg) / len(neg)
    value = losses.get("binomial_deviance").from_similarity(sim, y)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def _mixed_by_hand(z, y, lam):
    """Metrix's mixed points for labels where every anchor has exactly one positive (so its partner is fixed):
    for every anchor a and negative n, s(a, u_an) with u_an = normalize(lam z_p(a) + (1 - lam) z_n)."""
    out = {}
    for a in range(len(y)):
        p = next(k for k in range(len(y)) if k != a and y[k] == y[a])
        out[a] = []
        for n in range(len(y)):
            if y[n] != y[a]:
                u = lam * z[p] + (1 - lam) * z[n]
                out[a].append(float(z[a] @ (u / u.norm())))
    return out


@pytest.mark.parametrize("lam", [0.3, 0.8])
def test_metrix_contrastive_mixed_term_weights_the_positive_part_by_lambda(lam):
    # §3: a mixed pair counts lam times as a positive and (1 - lam) times as a negative; each part averaged over
    # its non-zero terms (official code); the clean loss is PML's contrastive (checked against PML elsewhere)
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(4), dtype=D64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    mixed = _mixed_by_hand(F.normalize(x, dim=1), y, lam)
    pos, neg = [], []
    for values in mixed.values():
        for s in values:
            dist = math.sqrt(max(2 - 2 * s, 1e-12))
            pos.append(lam * max(0.0, dist - 0.0))
            neg.append((1 - lam) * max(0.0, 1.0 - dist))
    mixed_term = sum(pos) / max(sum(p > 0 for p in pos), 1) + sum(neg) / max(sum(n > 0 for n in neg), 1)
    metrix = losses.get("metrix", loss="contrastive", weight=1.0, lam=lam, generator=torch.Generator())
    expected = losses.get("contrastive")(x, y).item() + mixed_term
    assert metrix(x, y).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("lam", [0.3, 0.8])
def test_metrix_multi_similarity_mixed_term_weights_by_lambda(lam):
    # §3: (1/a) log(1 + sum_u lam e^{-a(s-b)}) + (1/b) log(1 + sum_u (1-lam) e^{b(s-b)}), mean over anchors
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(5), dtype=D64)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    alpha, beta, base = 2.0, 50.0, 0.5
    mixed = _mixed_by_hand(F.normalize(x, dim=1), y, lam)
    per_anchor = [math.log1p(sum(lam * math.exp(-alpha * (s - base)) for s in v)) / alpha
                  + math.log1p(sum((1 - lam) * math.exp(beta * (s - base)) for s in v)) / beta
                  for v in mixed.values()]
    metrix = losses.get("metrix", loss="multi_similarity", weight=1.0, lam=lam, generator=torch.Generator())
    expected = losses.get("multi_similarity")(x, y).item() + sum(per_anchor) / len(per_anchor)
    assert metrix(x, y).item() == pytest.approx(expected, rel=1e-10)


# --- margin heads --------------------------------------------------------------------------------------------


def _head(name, weights, **kw):
    head = losses.get(name, num_classes=len(weights), embedding_dim=2, **kw).double()
    with torch.no_grad():
        head.weight.copy_(weights)
    return head


def _ce(rows, y):
    return sum(math.log(sum(math.exp(v) for v in row)) - row[t] for row, t in zip(rows, y)) / len(rows)


@pytest.mark.parametrize("name, margin", [("elasticface_arc", 0.5), ("elasticface_cos", 0.35)])
def test_elasticface_in_eval_mode_applies_the_mean_margin(name, margin):
    # §10.5: eval mode uses m itself: Arc s cos(theta_y + m), Cos s (cos theta_y - m); the others s cos theta_j
    w, x, y, s = unit(0, 120, 240), unit(10, 100, 250), [0, 1, 2], 8.0
    head = _head(name, w, scale=s).eval()
    cos = (x @ w.T).tolist()
    rows = []
    for row, t in zip(cos, y):
        target = math.cos(math.acos(row[t]) + margin) if name.endswith("arc") else row[t] - margin
        rows.append([s * (target if k == t else c) for k, c in enumerate(row)])
    assert head(x, torch.tensor(y)).item() == pytest.approx(_ce(rows, y), rel=1e-12)


def _box_whisker_by_hand(values, wisk):
    ordered = sorted(values)
    q1, q3 = ordered[int(0.25 * len(ordered))], ordered[int(0.75 * len(ordered))]
    return [v for v in values if q1 - wisk * (q3 - q1) <= v <= q3 + wisk * (q3 - q1)]


def test_unpg_appends_the_filtered_batch_negatives_to_every_row():
    # §10.6: CosFace logits s [cos' || sn'], sn' = the different-label pairs i < j of the batch after the
    # box-and-whisker filter (wisk 1.5 by default); CE over the C + K columns, mean over rows
    w = unit(0, 120, 240)
    x = unit(0, 2, 4, 90, 92, 94, 8)  # class 2 sits next to class 0: its 3 negatives with it are outliers
    y = [0, 0, 0, 1, 1, 1, 2]
    s, m = 4.0, 0.35
    z = F.normalize(x, dim=1)
    negatives = [float(z[i] @ z[j]) for i in range(7) for j in range(i + 1, 7) if y[i] != y[j]]
    kept = _box_whisker_by_hand(negatives, 1.5)
    assert len(kept) == len(negatives) - 3  # the filter matters here
    cos = (z @ w.T).tolist()
    rows = [[s * (c - m if k == t else c) for k, c in enumerate(row)] + [s * v for v in kept]
            for row, t in zip(cos, y)]
    head = _head("unpg", w, scale=s, margin=m, head="cosface")
    assert head(x, torch.tensor(y)).item() == pytest.approx(_ce(rows, y), rel=1e-12)
    unfiltered = [row[:3] + [s * v for v in negatives] for row in rows]
    assert abs(_ce(unfiltered, y) - _ce(rows, y)) > 1e-3


# --- binary --------------------------------------------------------------------------------------------------


def test_anyloss_gmean_keeps_its_epsilon():
    # 1 - sqrt(TP TN / (P N + eps) + 1e-12), A(p) = 1 / (1 + e^{-L (p - 1/2)}), p = sigmoid(z); eps = 1e-5
    z, t, L, eps = [2.0, -1.0, 0.5, -3.0, 0.1], [1, 0, 1, 0, 0], 5.0, 1e-5
    a = [1 / (1 + math.exp(-L * (1 / (1 + math.exp(-v)) - 0.5))) for v in z]
    tp = sum(ai for ai, ti in zip(a, t) if ti == 1)
    tn = sum(1 - ai for ai, ti in zip(a, t) if ti == 0)
    p, n = sum(t), len(t) - sum(t)
    expected = 1 - math.sqrt(tp * tn / (p * n + eps) + 1e-12)
    without_eps = 1 - math.sqrt(tp * tn / (p * n) + 1e-12)
    value = losses.get("anyloss", metric="gmean", L=L)(torch.tensor(z, dtype=D64), torch.tensor(t)).item()
    assert value == pytest.approx(expected, rel=1e-13, abs=0) and value != pytest.approx(without_eps, rel=1e-9, abs=0)


def test_anyloss_gmean_without_positives_is_finite():
    z = torch.tensor([0.3, -0.2, 1.0], dtype=D64, requires_grad=True)
    value = losses.get("anyloss", metric="gmean")(z, torch.zeros(3))
    value.backward()
    assert value.item() == pytest.approx(1.0, abs=1e-5) and torch.isfinite(z.grad).all()


# --- reweighting ---------------------------------------------------------------------------------------------


def test_quadratic_reweighting_scores_by_the_square():
    # g(l) = 1 - l^2 / delta^2 on losses normalised to [-delta, delta]; w = softmax(g / r)
    values = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0], dtype=D64)  # normalised: -1, -0.5, 0, 0.5, 1
    g = [1 - v ** 2 for v in (-1.0, -0.5, 0.0, 0.5, 1.0)]   # 0, 0.75, 1, 0.75, 0
    total = sum(math.exp(v / 0.5) for v in g)
    expected = [math.exp(v / 0.5) / total for v in g]
    assert losses.loss_weights(values, "quadratic", temperature=0.5).tolist() == pytest.approx(expected, rel=1e-12)


# --- iSogCLR -------------------------------------------------------------------------------------------------


def test_isogclr_clips_the_temperature_gradient_at_three():
    # official code: grad_tau = log u + rho - <p, h>/tau in [rho - log|S-|, rho], clipped to [-3, 3]; with
    # rho = 8 and 10 negatives per row it is >= 8 - log 10 > 3, so the step is eta * beta * 3 exactly
    loss = losses.get("isogclr", rho=8.0)
    views = torch.randn(6, 2, 4, generator=torch.Generator().manual_seed(0), dtype=D64)
    loss(views, None, index=torch.arange(6))
    assert loss.tau.tolist() == pytest.approx([0.1 - 0.01 * 0.9 * 3.0] * 6, rel=1e-6)


# --- validation messages name the argument (DESIGN: "ValueError naming the argument") ----------------------


@pytest.mark.parametrize("name", losses.available())
def test_a_string_for_a_number_is_refused_naming_the_parameter(name):
    from conftest import WithTeacher, make_inputs

    info = losses.info(name)
    loss, args = make_inputs(name)
    if isinstance(loss, WithTeacher):  # a distill twin takes the teacher's outputs the wrapper holds fixed
        args = (args[0], loss.teacher, args[1])
    extra = kinds.get(info.kind).loss_args(classes=3, dim=4)  # margin heads, clustering centres
    module = inspect.getmodule(info.cls)
    twins = [getattr(module, f) for f in (name, f"{name}_loss") if inspect.isfunction(getattr(module, f, None))]

    def names_it(error, param):  # the message starts with the name (or names it among others, for long names)
        message = str(error.value)
        return re.match(rf"{param}\b", message) or (len(param) > 2 and re.search(rf"\b{param}\b", message))

    for param, spec in info.params.items():
        if isinstance(spec.default, bool) or not isinstance(spec.default, (int, float)):
            continue
        with pytest.raises(ValueError) as error:
            losses.get(name, **{param: "x"}, **extra)
        assert names_it(error, param), (param, str(error.value))
        for twin in twins:
            if param in inspect.signature(twin).parameters:
                with pytest.raises(ValueError) as error:
                    twin(*args, **{param: "x"})
                assert names_it(error, param), (twin.__name__, param, str(error.value))


def test_anyloss_function_defaults_are_the_papers():
    # f1 with L = 73 (original notebooks) and eps = 1e-5 (the authors' extension code), spec §4
    z, t = torch.tensor([2.0, -1.0, 0.5, -3.0], dtype=D64), torch.tensor([1, 0, 1, 0])
    assert losses.anyloss(z, t).item() == losses.anyloss(z, t, metric="f1", L=73.0, beta=1.0, eps=1e-5).item()
    assert losses.anyloss(z, t).item() != losses.anyloss(z, t, metric="accuracy").item()


# --- AMCL and iSogCLR: state and regulariser written out ---------------------------------------------------


@pytest.mark.parametrize("name", ["align_uniform", "dhel", "mv_infonce", "mv_dhel"])
def test_self_supervised_losses_refuse_labels_naming_themselves(name):
    views = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(0), dtype=D64)
    with pytest.raises(ValueError, match=rf"labels must be None: {name} is self-supervised"):
        losses.get(name)(views, torch.arange(4))


def test_register_refuses_an_unknown_kind_naming_it():
    with pytest.raises(ValueError, match=r"kind.*'spam'"):  # names the argument and the bad value
        losses.register("test_kind", family="classification", kind="spam", paper=losses.Paper("t", 2000),
                        formula="", params={}, reduces_over="batch")
