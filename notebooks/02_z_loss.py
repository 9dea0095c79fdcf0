# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,rise,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   rise:
#     scroll: true
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 02 · The Z-loss: a classification loss that ignores the scale of the logits
#
# For a correctly classified sample, cross-entropy can always be lowered further by multiplying the logits by a
# larger number, so a model trained with it keeps inflating them. The Z-loss looks only at the **z-score of the true
# logit**, $z_y = (o_y - \mu)/\sigma$ with the mean and standard deviation of the row's logits. That number does not
# change when the logits are shifted or scaled by a positive factor, so neither does the loss.
#
# ### What you will learn
# 1. To derive why the z-score, and so the Z-loss, is invariant to shifting and to positive scaling of the logits,
#    and what that implies for its gradient.
# 2. When scaling the logits lowers cross-entropy (correctly classified samples) and when it raises it (misclassified ones).
# 3. Why the true-class z-score is bounded by $\sqrt{C-1}$, and how the knobs $a$ (sharpness) and $b$ (target z-score) act.
# 4. How a Z-loss model compares with cross-entropy on digits (top-1, top-3, logit scale), over three seeds.
#
# **Prerequisites.** [01 · The cross-entropy family](01_cross_entropy_family.ipynb) (softmax cross-entropy and its
# gradient); mean and standard deviation. **Time.** About 30 minutes.
#
# ### Paper
# - de Brébisson & Vincent. *The Z-loss: a shift and scale invariant classification loss belonging to the Spherical
#   Family*. 2016. [arXiv:1604.08859](https://arxiv.org/abs/1604.08859). The loss is
#   $\ell = \frac1a\operatorname{softplus}\big(a(b - z_y)\big)$. It belongs to the spherical family (it depends on the
#   output only through $\sum_k o_k$, $\sum_k o_k^2$ and $o_y$), which allows the authors' exact $O(d^2)$ output-layer
#   gradient for huge vocabularies; here we only use the loss. The authors tuned $a, b$ per data set and gave no
#   default; we use $a = 1, b = 2$.
# - Background: de Brébisson & Vincent. *An Exploration of Softmax Alternatives Belonging to the Spherical Loss
#   Family*. ICLR 2016. [arXiv:1511.05042](https://arxiv.org/abs/1511.05042).

# %% slideshow={"slide_type": "fragment"}
import numpy as np
import pandas as pd
import torch
import matplotlib.pyplot as plt
from IPython.display import display

from workbench import analysis, data, experiments, losses, models, viz, widgets
from workbench.losses.zloss import true_class_zscore

torch.set_num_threads(1)  # tiny models: one thread is fastest and bit-reproducible
SEEDS = (0, 1, 2)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · The z-score of the true logit, and its bound
#
# With $\mu = \frac1C\sum_k o_k$ and $\sigma^2 = \frac1C\sum_k (o_k - \mu)^2$ (the population variance), the z-scores
# $z_k = (o_k - \mu)/\sigma$ of a row satisfy $\sum_k z_k = 0$ and $\sum_k z_k^2 = C$. So
# $\sum_{k\ne y} z_k = -z_y$, and by Cauchy-Schwarz $\sum_{k \ne y} z_k^2 \ge z_y^2/(C-1)$. Then
# $C = z_y^2 + \sum_{k\ne y} z_k^2 \ge z_y^2\,\frac{C}{C-1}$, i.e.
#
# $$|z_y| \le \sqrt{C-1},$$
#
# with equality when all the other logits are equal. For logits $o = [1, 2, 3]$ and target class 2: $\mu = 2$,
# $\sigma = \sqrt{2/3}$, $z_y = 1.2247$; for $[0, 0, 1]$, $z_y = \sqrt 2$, the bound for $C = 3$. So $b$ must be chosen
# relative to $\sqrt{C-1}$ (3 for ten classes): with $b \ge \sqrt{C-1}$ no sample ever stops counting.

# %% slideshow={"slide_type": "fragment"}
o, target = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64), torch.tensor([2])
print("z_y of [1, 2, 3], class 2:", round(float(true_class_zscore(o, target)), 7))
print("z_y of [0, 0, 1], class 2:", round(float(true_class_zscore(torch.tensor([[0.0, 0.0, 1.0]]), target)), 7),
      "= sqrt(2)")
assert abs(float(true_class_zscore(o, target)) - 1.2247449) < 1e-7          # hand computation above

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-a"></a>**Check A** — the bound $|z_y| \le \sqrt{C-1}$ on random logits (three seeds, 10 classes), reached by a one-hot row.

# %% slideshow={"slide_type": "fragment"}
for seed in SEEDS:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(10_000, 10, generator=g, dtype=torch.float64) * torch.rand(10_000, 1, generator=g, dtype=torch.float64) * 10
    labels = torch.randint(0, 10, (10_000,), generator=g)
    assert true_class_zscore(logits, labels).abs().max() <= 3.0 + 1e-9, seed
one_hot = torch.eye(10, dtype=torch.float64)[:1]
assert abs(float(true_class_zscore(one_hot, torch.tensor([0]))) - 3.0) < 1e-12

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · Shift and scale invariance
#
# **Derivation.** Transform the logits to $o' = \alpha o + \beta\mathbf 1$ with $\alpha \ne 0$. Then $\mu' = \alpha\mu + \beta$,
# $\sigma' = |\alpha|\sigma$ and
#
# $$z'_y = \frac{\alpha o_y + \beta - \alpha\mu - \beta}{|\alpha|\sigma} = \operatorname{sign}(\alpha)\, z_y .$$
#
# So the Z-loss is unchanged by every shift $\beta$ and every positive scale $\alpha > 0$, and a negative scale flips the
# z-score. Cross-entropy, $\log\sum_k e^{o_k} - o_y$, is unchanged by the shift (the $\beta$ cancels) but not by the scale.
#
# **What it means for the gradient.** A function constant along a direction has zero derivative along it. The Z-loss is
# constant along $\mathbf 1$ (shift) and along $o$ itself (scale: $\frac{d}{d\alpha}\ell(\alpha o)|_{\alpha=1} = 0$), so
#
# $$\nabla_o \ell \cdot \mathbf 1 = 0, \qquad \nabla_o \ell \cdot o = 0 :$$
#
# a Z-loss gradient step never changes the mean of the logits and (to first order) never changes their norm. Cross-entropy's
# gradient $p - e_y$ also sums to 0, but $\nabla_o \ell_{CE}\cdot o = \sum_k p_k o_k - o_y$, which is negative when the
# true logit is above the softmax-weighted mean: descent then *increases* the scale of the logits.
#
# **When does scaling lower cross-entropy?** $\ell_{CE}(c\,o) = \log\big(1 + \sum_{k\ne y} e^{-c(o_y - o_k)}\big)$. If the
# sample is correctly classified (every gap $o_y - o_k > 0$) each term falls with $c$: a larger scale always helps. If it
# is misclassified (some gap $< 0$) that term grows like $e^{c|o_y - o_k|}$ and a large enough scale *raises* the loss
# without bound (a small scale-up can still lower it while the gap is small).

# %% slideshow={"slide_type": "fragment"}
TRANSFORMS = {"o": (1, 0), "o + 10": (1, 10), "5 o - 7": (5, -7), "0.2 o": (0.2, 0), "-o": (-1, 0)}
PAIR = {"cross-entropy": losses.get("cross_entropy"), "Z-loss (a=1, b=2)": losses.get("z_loss")}
table = analysis.invariance_table(PAIR, o, target, TRANSFORMS)
wrong = analysis.invariance_table(PAIR, o, torch.tensor([0]), TRANSFORMS)  # the same logits, target class 0
both = pd.concat({"target 2 (correct)": table, "target 0 (misclassified)": wrong}, axis=1)
display(both.round(6))
fig = viz.grouped_bars(table, ylabel="loss", title="o = [1, 2, 3], target 2: transformed logits")
fig.set_dpi(80)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-b"></a>**Check B** — invariances on the example, and on random logits for three seeds (including the gradient's orthogonality to $\mathbf 1$ and $o$).

# %% slideshow={"slide_type": "fragment"}
z_col, ce_col = table["Z-loss (a=1, b=2)"], table["cross-entropy"]
assert np.allclose(z_col[["o + 10", "5 o - 7", "0.2 o"]], z_col["o"], atol=1e-12)   # shift and positive scale
assert not np.isclose(z_col["-o"], z_col["o"])                                      # but not a negative scale
assert np.isclose(ce_col["o + 10"], ce_col["o"]) and not np.isclose(ce_col["5 o - 7"], ce_col["o"])
# the example's table: scaling up lowers CE for the correct target and raises it for the misclassified one
assert ce_col["5 o - 7"] < ce_col["o"] < ce_col["0.2 o"]
assert wrong["cross-entropy"]["5 o - 7"] > wrong["cross-entropy"]["o"] > wrong["cross-entropy"]["0.2 o"]

zl, ce = losses.get("z_loss", reduction="none"), losses.get("cross_entropy", reduction="none")
for seed in SEEDS:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(500, 10, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 10, (500,), generator=g)
    # value: unchanged under 3.7 o - 5, flipped z-score under -o
    assert torch.allclose(zl(3.7 * logits - 5, labels), zl(logits, labels), atol=1e-12), seed
    assert torch.allclose(true_class_zscore(-logits, labels), -true_class_zscore(logits, labels)), seed
    # gradient: orthogonal to the all-ones direction and to the logits themselves, row by row
    x = logits.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(zl(x, labels).sum(), x)
    assert grad.sum(dim=1).abs().max() < 1e-10 and (grad * logits).sum(dim=1).abs().max() < 1e-10, seed
    # cross-entropy under scaling: 3x lowers it for every correctly classified row; for a misclassified row it
    # eventually rises without bound (like c * max_k(o_k - o_y)), checked at c = 1e6, though 3x may still lower it.
    correct = logits.argmax(dim=1) == labels
    base = ce(logits, labels)
    assert (ce(3 * logits, labels) < base)[correct].all(), seed
    assert (ce(1e6 * logits, labels) > base)[~correct].all(), seed
    rises_at_3 = (ce(3 * logits, labels) > base)[~correct].float().mean().item()
    print(f"seed {seed}: {int(correct.sum())} correct rows all lower at 3x; of {int((~correct).sum())} misclassified "
          f"rows {rises_at_3:.0%} already higher at 3x, all higher at 1e6x")


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Live: move the scale and the shift
#
# The bars show both losses for $\text{scale}\cdot o + \text{shift}$ next to the original logits $o = [1, 2, 3]$, target 2.
#
# > **Predict, then move the slider.** Before touching the widget: as the scale goes from 0.05 to 20, which of the two
# > bars moves, in which direction, and towards what value? What does the shift slider do to each?

# %% slideshow={"slide_type": "subslide"}
def draw(scale, shift):
    return viz.grouped_bars(analysis.invariance_table(PAIR, o, target, {"o": (1, 0), "scale·o + shift": (scale, shift)}),
                            ylabel="loss", title=f"scale {scale:.2f}, shift {shift:.1f}")

invariance = widgets.FigureExplorer(draw, scale=losses.Param(3.0, 0.05, 20.0, log=True),
                                    shift=losses.Param(0.0, -10.0, 10.0))
display(invariance)

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** Only the cross-entropy bar moves with the scale: the sample is correctly classified, so it falls from
# about $\log 3 \approx 1.10$ (scale $\to 0$, uniform softmax) towards 0 as the scale grows. The Z-loss bar stays at
# 1.154 for every positive scale. Neither bar moves with the shift.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · What $a$ and $b$ do
#
# As a function of the z-score the Z-loss is a softplus with its knee at $z_y = b$ and sharpness $a$:
# $\ell = \frac1a\log\big(1 + e^{a(b - z_y)}\big)$. As $a \to \infty$ it tends to the hinge $\max(0, b - z_y)$; small $a$ is a
# gentle ramp. Its slope is $\frac{d\ell}{dz_y} = -\sigma\big(a(b - z_y)\big) \in (-1, 0)$: bounded, so no single sample can
# dominate. The dashed line marks the largest z-score ten classes allow, $\sqrt 9 = 3$.

# %% slideshow={"slide_type": "fragment"}
ZS = np.linspace(-3, 3, 121)
AB = {"a=1, b=2": (1.0, 2.0), "a=5, b=2": (5.0, 2.0), "a=0.3, b=2": (0.3, 2.0), "a=1, b=0": (1.0, 0.0)}
frame = analysis.zscore_curve(ZS, AB)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=80)
viz.line_panel(frame[["z", *AB]], "z", ax=axes[0], xlabel="true-class z-score", ylabel="loss", title="loss")
viz.line_panel(frame[["z", *(f"{k} grad" for k in AB)]], "z", ax=axes[1], xlabel="true-class z-score",
               ylabel="dL/dz", title="gradient")
for ax in axes:
    ax.axvline(3.0, color="0.5", ls="--", lw=0.8)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-c"></a>**Check C** — the knee and the bounded slope (deterministic curves).

# %% slideshow={"slide_type": "fragment"}
hinge = np.maximum(0, 2.0 - ZS)
assert np.abs(analysis.zscore_curve(ZS, {"sharp": (50.0, 2.0)})["sharp"] - hinge).max() < 0.02  # a -> inf: hinge
grads = frame[[f"{k} grad" for k in AB]].to_numpy()
assert ((grads < 0) & (grads >= -1)).all()  # (torch.softplus is exactly linear past 20)


# %% [markdown] slideshow={"slide_type": "fragment"}
# > **Predict, then move the slider.** Set $b = 2$. Predict how the slope at $z_y = 3$ changes when $a$ goes from 0.3 to 10.
# > Then set $b = 4$ (above the bound $\sqrt 9$): can any ten-class sample reach a zero slope?

# %% slideshow={"slide_type": "subslide"}
def draw_ab(a, b):
    f = analysis.zscore_curve(ZS, {f"a={a:.2f}, b={b:.2f}": (a, b)})
    fig = viz.line_panel(f, "z", xlabel="true-class z-score", title="Z-loss and its slope")
    fig.axes[0].axvline(3.0, color="0.5", ls="--", lw=0.8)
    return fig

ab_explorer = widgets.FigureExplorer(draw_ab, a=losses.info("z_loss").params["a"], b=losses.info("z_loss").params["b"])
display(ab_explorer)

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** The slope at $z_y = 3$ is $-\sigma(a(2 - 3)) = -\sigma(-a)$: about $-0.43$ at $a = 0.3$ and $-4.5\cdot10^{-5}$
# at $a = 10$; a sharp knee stops pulling on samples past $b$. With $b = 4$ every sample has $z_y \le 3 < b$, so the
# slope's magnitude is at least $\sigma(a) > 1/2$: never zero, every sample keeps pulling (at $a = 10$, about $-1$).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4 · Cross-entropy vs Z-loss on digits
#
# The same MLP (64 → 64 → 32 → 10), 10 epochs of Adam (lr 0.02, batch 128), three seeds; top-1 and top-3 test accuracy.
# The Z-loss model predicts with the same argmax rule: the logits are still logits, only their scale is free.

# %% slideshow={"slide_type": "fragment"}
LOSSES = {"cross-entropy": lambda: losses.get("cross_entropy"), "Z-loss": lambda: losses.get("z_loss", a=1.0, b=2.0)}

def topk(model, ds):
    out = analysis.outputs_on_test(model, ds)
    return {"top1": analysis.topk_accuracy(out, ds.y_test, 1), "top3": analysis.topk_accuracy(out, ds.y_test, 3)}

trained = {}
runs = experiments.compare_losses(LOSSES, lambda seed: data.digits(seed=seed),
                                  lambda ds, seed: models.for_kind("logits", 64, 10, embedding_dim=32, hidden=(64,), seed=seed),
                                  topk, seeds=SEEDS, keep=trained, verbose=False, epochs=10, lr=2e-2, batch_size=128)
display(runs.groupby("loss", sort=False)[["top1", "top3"]].agg(["mean", "std"]).round(4))
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=80)
viz.metric_by_setting(runs, "top1", ax=axes[0], title="top-1 (mean ± sd, 3 seeds)")
viz.metric_by_setting(runs, "top3", ax=axes[1], title="top-3 (mean ± sd, 3 seeds)");

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Where the trained models put the true logit
#
# The z-score of the true logit on the test set and the spread of the logits (their standard deviation per row): the
# table averages the three seeds, the histogram shows the seed-0 models.

# %% slideshow={"slide_type": "fragment"}
stats, zs = {}, {}
for (name, seed), (model, ds) in trained.items():
    out = analysis.outputs_on_test(model, ds)
    z = true_class_zscore(out, ds.y_test)
    stats[(name, seed)] = {"median z_y": float(z.median()), "logit std": float(out.std(dim=1).mean())}
    if seed == 0:
        zs[name] = z
stats = pd.DataFrame(stats).T
display(stats.groupby(level=0).mean().round(3))
fig = viz.histograms(zs, xlabel="true-class z-score on the test set", title="seed 0 (dashed: the bound 3)")
fig.axes[0].axvline(3.0, color="0.5", ls="--", lw=0.8)
fig.set_dpi(80)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-d"></a>**Check D** — the trained models, three seeds.

# %% slideshow={"slide_type": "fragment"}
acc = runs.pivot_table(index="seed", columns="loss", values=["top1", "top3"])
# Claim 1 (measured): the Z-loss model has the better top-1 accuracy on every seed ...
assert (acc["top1"]["Z-loss"] > acc["top1"]["cross-entropy"]).all()
# ... while top-3 is a tie within one point (both above 98.5 %).
assert abs(acc["top3"]["Z-loss"].mean() - acc["top3"]["cross-entropy"].mean()) < 0.01 and (acc["top3"] > 0.985).all().all()
# Claim 2: cross-entropy inflates its logits; the Z-loss has no reason to (spread at least 5x smaller on every seed) ...
per_seed = stats.unstack(level=0)
assert (per_seed["logit std"]["cross-entropy"] > 5 * per_seed["logit std"]["Z-loss"]).all()
# ... and pushes the median true z-score past b = 2 towards its bound 3, above cross-entropy's, on every seed.
assert (per_seed["median z_y"]["Z-loss"] > 2.5).all() and (per_seed["median z_y"]["cross-entropy"] < 2.5).all()
per_seed.round(3)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise (pen and paper).** Cross-entropy's gradient with respect to the logits is $p - e_y$ (derived in 01). Show
# that $\nabla_o\ell_{CE}\cdot o < 0$ for the example $o = [1, 2, 3]$, target 2, and say what a small gradient step does to
# the norm of $o$. Then explain, with Check B, why the Z-loss model's `logit std` stays small.

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** $p = \operatorname{softmax}([1,2,3]) = [0.090, 0.245, 0.665]$, so $\nabla\cdot o = \sum_k p_k o_k - o_3 = 2.575 - 3 = -0.425 < 0$.
# A step $o \leftarrow o - \eta\nabla$ changes $\lVert o\rVert^2$ by $-2\eta\,\nabla\cdot o = +0.85\,\eta > 0$: the logits grow.
# The Z-loss gradient is orthogonal to $o$ (Check B), so its steps do not change the norm to first order: nothing
# pushes the scale up, and the logit spread stays whatever the network's initial scale and the (second-order) drift make it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# - **The bound** ([Check A](#check-a)): the true-class z-score never exceeds $\sqrt{C-1}$ (3 for ten classes; random
#   logits, three seeds), and a one-hot row reaches it.
# - **Invariances** ([Check B](#check-b)): the Z-loss is exactly invariant to shifting the logits and to scaling them by a
#   positive factor (to $10^{-12}$), and its gradient is orthogonal to $\mathbf 1$ and to $o$; a negative scale flips the
#   z-score. Cross-entropy is invariant to the shift only: scaling the logits up **lowers it for correctly classified
#   samples** (every such row of three random batches), while for a misclassified sample it **eventually raises it
#   without bound** (every such row at $10^6\times$; a small scale-up can still lower it, printed in Check B).
# - **The knobs** ([Check C](#check-c)): $a$ sets how sharp the knee at $z_y = b$ is ($a \to \infty$: the hinge
#   $\max(0, b - z_y)$, checked at $a = 50$); the slope stays in $[-1, 0)$ (exactly $-1$ only where torch.softplus switches
#   to its linear branch).
# - **On digits** ([Check D](#check-d); 10 epochs, three seeds) the Z-loss ($a=1, b=2$) gave a higher top-1 accuracy than
#   cross-entropy on every seed, and top-3 accuracy was a tie within a point. We did not reproduce a top-k *advantage* at
#   this scale; the paper's headline results are on language modelling with huge output layers.
# - Cross-entropy's trained logits are spread more than five times wider than the Z-loss model's on every seed:
#   cross-entropy keeps paying for confidence on the samples it gets right by inflating the scale, the Z-loss cannot.
#   The Z-loss model's median true z-score is above 2.5 on every seed, past $b = 2$ and close to the ceiling 3.
#
# ## References
# - de Brébisson & Vincent 2016, The Z-loss, [arXiv:1604.08859](https://arxiv.org/abs/1604.08859).
# - de Brébisson & Vincent 2016, An exploration of softmax alternatives belonging to the spherical loss family,
#   [arXiv:1511.05042](https://arxiv.org/abs/1511.05042).
# - Guo, Pleiss, Sun, Weinberger 2017, *On Calibration of Modern Neural Networks* (why growing logits matter),
#   [arXiv:1706.04599](https://arxiv.org/abs/1706.04599).
#
# ---
# **Previous:** [01 · The cross-entropy family](01_cross_entropy_family.ipynb) · [series index](README.md) · **Next:** [03 · Imbalanced binary problems](03_imbalanced_binary.ipynb)
