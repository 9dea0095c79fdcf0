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
# # 01 · The cross-entropy family: what a bounded loss buys under label noise
#
# Cross-entropy, mean absolute error and generalised cross-entropy are one family: each is a function of the per-sample
# cross-entropy $\ell_{CE} = -\log p_y$, and the member decides *how much a sample the model already gets wrong may pull
# on it*. Cross-entropy listens hardest to the worst samples; bounded members (GCE, MAE) turn the volume down on them.
# That is what helps when some labels are wrong. Label-distributionally robust losses (LDR-KL) get a similar effect from
# a different angle: they hedge over which label is the true one, with a knob $\lambda$.
#
# ### What you will learn
# 1. To derive the softmax cross-entropy gradient $p - e_y$, and the comp-sum gradient $p_y^{\tau-1}(p - e_y)$.
# 2. To read a loss and its slope as a function of the true-class margin, and what "bounded" buys and costs.
# 3. What LDR-KL's $\lambda$ does, and why $c = 0$ makes it a tempered cross-entropy.
# 4. How GCE, MAE, LDR-KL and ALDR-KL compare with cross-entropy on digits with 0-40 % flipped labels (three seeds),
#    and which samples each loss listens to.
#
# **Prerequisites.** [00 · Loss Lab in ten minutes](00_tour.ipynb); softmax; the chain rule. **Time.** About 45 minutes.
#
# ### Papers
# - Mao, Mohri, Zhong. *Cross-Entropy Loss Functions: Theoretical Analysis and Applications*. ICML 2023.
#   [arXiv:2304.07288](https://arxiv.org/abs/2304.07288): the comp-sum family $\Phi^\tau$, with $\tau = 0$
#   sum-exponential, 1 cross-entropy, $1<\tau<2$ GCE, 2 MAE.
# - Zhang & Sabuncu. *Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy Labels*. NeurIPS 2018.
#   [arXiv:1805.07836](https://arxiv.org/abs/1805.07836): $L_q = (1 - p_y^q)/q$.
# - Ghosh, Kumar, Sastry. *Robust Loss Functions under Label Noise for Deep Neural Networks*. AAAI 2017.
#   [arXiv:1712.09482](https://arxiv.org/abs/1712.09482): MAE is noise-tolerant.
# - Zhu, Ying, Yang. *Label Distributionally Robust Losses for Multi-class Classification: Consistency, Robustness and
#   Adaptivity*. ICML 2023. [arXiv:2112.14869](https://arxiv.org/abs/2112.14869): LDR-KL and the adaptive ALDR-KL.

# %% slideshow={"slide_type": "fragment"}
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import matplotlib.pyplot as plt
from IPython.display import display

from workbench import analysis, data, experiments, losses, models, viz, widgets

# Tiny models train fastest on one thread, and one thread makes runs bit-identical across machines.
torch.set_num_threads(1)
SEEDS = (0, 1, 2)
MARGINS = np.linspace(-6, 6, 121)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · One family, one knob
#
# **Cross-entropy's gradient.** With $p = \operatorname{softmax}(z)$, $\ell_{CE} = -z_y + \log\sum_k e^{z_k}$, so
#
# $$\frac{\partial \ell_{CE}}{\partial z_j} = -[j = y] + \frac{e^{z_j}}{\sum_k e^{z_k}} = p_j - [j=y], \qquad
# \nabla_z \ell_{CE} = p - e_y .$$
#
# Its norm never vanishes while $p_y < 1$, and for a sample the model is sure belongs to another class
# ($p_y \to 0$, e.g. a flipped label) it tends to its largest value: cross-entropy pulls hardest on the samples it gets
# most wrong.
#
# **Comp-sum.** With $u = \sum_{k \ne y} e^{z_k - z_y} = 1/p_y - 1$, the comp-sum loss is
# $\Phi^\tau(u) = \frac{(1+u)^{1-\tau} - 1}{1-\tau}$. Since $1 + u = 1/p_y = e^{\ell_{CE}}$, it is a function of $\ell_{CE}$ alone:
#
# $$\ell_\tau = \frac{e^{(1-\tau)\ell_{CE}} - 1}{1-\tau}, \qquad
# \frac{d\ell_\tau}{d\ell_{CE}} = e^{(1-\tau)\ell_{CE}} = p_y^{\tau-1}, \qquad
# \nabla_z \ell_\tau = p_y^{\tau-1}\,(p - e_y).$$
#
# So every member has cross-entropy's gradient *direction*, rescaled per sample by $p_y^{\tau-1}$. For $\tau > 1$ a sample
# with a small $p_y$ (a hard or *mislabelled* sample) pulls less; $\tau = 2$ (MAE, $\ell = 1 - p_y$) scales it by $p_y$,
# $\tau = 1 + q$ is GCE with $(1 - p_y^q)/q$; for $\tau < 1$ the hard samples pull *more* than in cross-entropy. The
# package computes $\ell_\tau$ as $-\operatorname{expm1}(-(\tau-1)\ell_{CE})/(\tau-1)$: no powers of tiny probabilities,
# so logits of $10^4$ are fine.

# %% slideshow={"slide_type": "fragment"}
losses.info("comp_sum")

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-a"></a>**Check A** — the two gradients, by autograd against the formulas (random logits, three seeds, five values of $\tau$), and the special cases.

# %% slideshow={"slide_type": "fragment"}
for seed in SEEDS:
    g = torch.Generator().manual_seed(seed)
    z = (3 * torch.randn(64, 10, generator=g, dtype=torch.float64)).requires_grad_(True)
    y = torch.randint(0, 10, (64,), generator=g)
    p, e_y = z.softmax(dim=1).detach(), F.one_hot(y, 10).double()
    (grad_ce,) = torch.autograd.grad(losses.get("cross_entropy", reduction="sum")(z, y), z)
    assert torch.allclose(grad_ce, p - e_y), seed                       # p - e_y
    p_y = p.gather(1, y[:, None])
    for tau in (0.0, 0.5, 1.0, 1.5, 2.0):
        (grad_tau,) = torch.autograd.grad(losses.get("comp_sum", tau=tau, reduction="sum")(z, y), z)
        assert torch.allclose(grad_tau, p_y ** (tau - 1) * (p - e_y)), (seed, tau)  # p_y^(tau-1) (p - e_y)
    # the special cases are the same numbers: comp-sum tau=2 is MAE, tau=1.7 is GCE with q=0.7
    assert torch.allclose(losses.get("comp_sum", tau=2.0)(z, y), losses.get("mae")(z, y))
    assert torch.allclose(losses.get("comp_sum", tau=1.7)(z, y), losses.get("gce", q=0.7)(z, y))
print("gradients match the formulas for seeds", SEEDS)

# %% [markdown] slideshow={"slide_type": "fragment"}
# Now the loss and its slope along the true-class margin $m$ (logits $[m, 0, \dots, 0]$, 10 classes, target 0).
# $\tau = 0$ (sum-exponential) has a slope of thousands at $m = -6$, so the gradient panel uses a **symmetric-log** axis
# (linear between $-0.01$ and $0.01$, logarithmic beyond), and the loss panel is clipped at 8 (marked in its title).

# %% slideshow={"slide_type": "fragment"}
curves = {f"comp-sum τ={t:g}" + (" (CE)" if t == 1 else " (MAE)" if t == 2 else ""):
          analysis.margin_curve(losses.get("comp_sum", tau=t), MARGINS) for t in (0.0, 0.5, 1.0, 1.5, 2.0)}
curves["GCE q=0.7"] = analysis.margin_curve(losses.get("gce", q=0.7), MARGINS)
fig = viz.loss_curves(curves, "margin", xlabel="true-class margin m (logits [m, 0, ..., 0], 10 classes)")
fig.axes[0].set_ylim(0, 8)
fig.axes[0].set_title("loss (axis clipped at 8)")
fig.axes[1].set_yscale("symlog", linthresh=0.01)
fig.axes[1].set_title("slope dL/dm (symlog axis)")
fig.set_dpi(80)


# %% [markdown] slideshow={"slide_type": "fragment"}
# Read the right panel at a large negative margin (a sample the model is sure belongs to another class, e.g. a flipped
# label): cross-entropy's slope tends to $-1$, it keeps pulling as hard as it can; MAE's and GCE's slopes go to 0, they give
# up on it, exactly the factor $p_y^{\tau-1}$. The same panel at $m = 0$ shows the price: MAE's slope there is small for 10
# classes ($p_y = 0.1$ scales it by 0.1), so it learns slowly even on clean data. Below, the measured numbers.

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-b"></a>**Check B** — slopes at $m = -6$ and $m = 0$ (deterministic curves).

# %% slideshow={"slide_type": "fragment"}
def slope(frame, m):
    return float(np.interp(m, frame["margin"], frame["grad"]))

table = pd.DataFrame({name: {"slope at m=-6": slope(f, -6), "slope at m=0": slope(f, 0), "loss at m=-6": float(f["loss"].iloc[0])}
                      for name, f in curves.items()}).T.round(4)
display(table)
ce, mae_, gce_ = curves["comp-sum τ=1 (CE)"], curves["comp-sum τ=2 (MAE)"], curves["GCE q=0.7"]
assert slope(ce, -6) < -0.99                                   # CE never stops pulling a wrong sample
assert abs(slope(mae_, -6)) < 0.01 and abs(slope(gce_, -6)) < 0.05   # bounded losses let it go
assert (mae_["loss"] <= 1).all() and (gce_["loss"] <= 1 / 0.7).all()  # bounded by 1/(tau-1)
assert abs(slope(mae_, 0)) < abs(slope(ce, 0)) / 5                    # ... and MAE learns slowly at m = 0

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 1 (pen and paper).** At $m = 0$ with 10 classes, $p_y = 0.1$. Use $\nabla\ell_\tau = p_y^{\tau-1}\nabla\ell_{CE}$
# to predict the ratio of MAE's slope to cross-entropy's at $m = 0$, and of GCE's ($q = 0.7$). Compare with the table.

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** MAE: $p_y^{1} = 0.1$, so $-0.9 \times 0.1 = -0.09$. GCE: $p_y^{0.7} = 0.1^{0.7} \approx 0.1995$, so $-0.9\times0.1995 \approx -0.18$.
# Both match the table's `slope at m=0` column (the slope along $m$ is $\partial\ell/\partial z_y = p_y^{\tau-1}(p_y - 1)$).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · LDR-KL: hedging over the label
#
# LDR-KL takes the worst case over a distribution $q$ on the labels, penalised by $\lambda\,\mathrm{KL}(q\,\|\,\text{uniform})$:
# $$\ell = \max_{q \in \Delta}\ \sum_k q_k\big(c\,[k\ne y] + z_k - z_y\big) - \lambda\,\mathrm{KL}\big(q\,\|\,\tfrac1K\mathbf 1\big)
# = \lambda \log \frac1K \sum_k \exp\frac{c\,[k\ne y] + z_k - z_y}{\lambda}$$
# (the maximiser is the softmax of the bracket over $\lambda$). Small $\lambda$ is the Crammer-Singer hinge (only the worst
# class counts); large $\lambda$ the *average* margin, whose slope is nearly the same for every sample: a confidently wrong
# (perhaps mislabelled) sample pulls hardly more than a correct one, where cross-entropy's pull is dozens of times
# stronger. With $c = 0$ it is $\lambda\,\mathrm{CE}(z/\lambda) - \lambda\log K$, cross-entropy at temperature $\lambda$,
# scaled back.

# %% slideshow={"slide_type": "fragment"}
ldr_curves = {f"LDR-KL λ={lam:g}": analysis.margin_curve(losses.get("ldr_kl", lam=lam, margin=0.0), MARGINS)
              for lam in (0.1, 1.0, 10.0)}
ldr_curves["CE"] = ce
fig = viz.loss_curves(ldr_curves, "margin", xlabel="true-class margin m")
fig.set_dpi(80)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-c"></a>**Check C** — LDR-KL with $c = 0$ is a tempered cross-entropy (three seeds), and a large $\lambda$ evens out the pull.

# %% slideshow={"slide_type": "fragment"}
lam = 3.0
for seed in SEEDS:
    g = torch.Generator().manual_seed(seed)
    # float64: the two sides are small differences of numbers near lam * log 10, float32 rounding would dominate
    z, y = torch.randn(64, 10, generator=g, dtype=torch.float64), torch.randint(0, 10, (64,), generator=g)
    assert torch.allclose(losses.get("ldr_kl", lam=lam, margin=0.0)(z, y), lam * F.cross_entropy(z / lam, y) - lam * np.log(10))
# how much harder a confidently wrong sample (m = -6) pulls than a confidently right one (m = +6);
# (lam = 0.1 is left out: its slope at m = +6 is 0 to double precision, a hinge that is satisfied)
pull_ratio = {name: slope(ldr_curves[name], -6) / slope(ldr_curves[name], 6) for name in ("LDR-KL λ=1", "LDR-KL λ=10", "CE")}
print("slope at m=-6 / slope at m=+6:", {k: round(v, 1) for k, v in pull_ratio.items()})
assert pull_ratio["LDR-KL λ=10"] < 1.5 and pull_ratio["CE"] > 10

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Move the knobs
#
# The explorers redraw the curves for any $\tau$ (comp-sum) or $\lambda$ and margin $c$ (LDR-KL). The static figures above
# show the same curves for a few values, for readers without a kernel.
#
# > **Predict, then move the slider.** In the comp-sum explorer, predict the sign of the change in the slope at $m = -6$
# > when $\tau$ goes from 1.5 to 0.5: does the loss listen more or less to a confidently wrong sample? In the LDR-KL
# > explorer, predict what happens to the loss curve's kink at $m = 0$ as $\lambda$ goes from 1 down to 0.05.

# %% slideshow={"slide_type": "subslide"}
comp_sum_explorer = widgets.LossExplorer("comp_sum")
comp_sum_explorer.sliders["tau"].value = 1.5
display(comp_sum_explorer)
ldr_explorer = widgets.LossExplorer("ldr_kl")
ldr_explorer.sliders["lam"].value = 1.0
display(ldr_explorer)

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** The factor $p_y^{\tau-1}$ at $p_y \approx e^{-6}/9$ is tiny for $\tau = 1.5$ and huge for $\tau = 0.5$
# ($p_y^{-0.5} \approx 60$): the slope goes from about $-0.02$ to about $-60$, the loss listens *much more* to the wrong
# sample. For LDR-KL, $\lambda \to 0$ turns the log-sum-exp into a max: the smooth curve becomes the hinge
# $\max_k(c[k\ne y] + z_k - z_y)$, with a kink where the true logit overtakes the others.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · Training with noisy labels
#
# Digits (8×8, 10 classes, 1347 training images). A fraction of the **training** labels is replaced by a uniformly drawn
# *other* class (`data.label_noise`, symmetric noise); the test labels stay clean. The same MLP (64 → 64 → 32 → 10) is
# trained with each loss for 10 epochs (Adam, lr 0.02, batch 128), three seeds per cell. GCE uses the paper's $q = 0.7$;
# LDR-KL and ALDR-KL the official experiments' $\lambda = \lambda_0 = 10$, $c = 0.1$, $\alpha = 2$ (on raw logits). ALDR-KL
# keeps one $\lambda_i$ per training image: `train.fit` passes the batch's sample ids as `index=`. Besides the clean test
# accuracy we record the **training accuracy against the clean training labels**: how well each loss fits the signal it
# was given.

# %% slideshow={"slide_type": "fragment"}
LOSSES = {
    "CE": lambda: losses.get("cross_entropy"),
    "GCE": lambda: losses.get("gce", q=0.7),
    "MAE": lambda: losses.get("mae"),
    "LDR-KL": lambda: losses.get("ldr_kl", lam=10.0, margin=0.1),
    "ALDR-KL": lambda: losses.get("aldr_kl", lam0=10.0, alpha=2.0, margin=0.1),
}

def noisy_digits(seed, noise):
    return data.label_noise(data.digits(seed=seed), rate=noise, seed=seed)

def mlp(ds, seed):
    return models.for_kind("logits", 64, 10, embedding_dim=32, hidden=(64,), seed=seed)

@torch.no_grad()
def accuracies(model, ds):
    model.eval()
    return {"test_acc": analysis.topk_accuracy(analysis.outputs_on_test(model, ds), ds.y_test),
            "train_acc_clean": analysis.topk_accuracy(model(ds.X_train), ds.meta["y_train_clean"])}

trained = {}
runs = experiments.compare_losses(LOSSES, noisy_digits, mlp, accuracies, seeds=SEEDS, keep=trained, verbose=False,
                                  settings={"noise": [0.0, 0.2, 0.4]}, epochs=10, lr=2e-2, batch_size=128)
summary = runs.groupby(["noise", "loss"], sort=False)[["test_acc", "train_acc_clean"]].mean().unstack("noise")
summary.loc[list(LOSSES)].round(3)

# %% slideshow={"slide_type": "fragment"}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), dpi=80)
viz.metric_by_setting(runs, "test_acc", "noise", ax=axes[0], title="clean test accuracy (mean ± sd, 3 seeds)")
viz.metric_by_setting(runs, "train_acc_clean", "noise", ax=axes[1], title="training accuracy on the clean labels")
axes[0].get_legend().remove()  # one key, outside the data
axes[1].legend(*axes[1].get_legend_handles_labels(), title="loss", loc="upper left", bbox_to_anchor=(1.02, 1),
               frameon=False, fontsize="small")
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-d"></a>**Check D** — who wins at which noise level, and MAE's underfitting, three seeds.

# %% slideshow={"slide_type": "fragment"}
acc = runs.pivot_table(index=["noise", "seed"], columns="loss", values="test_acc")
fit_ = runs.pivot_table(index=["noise", "seed"], columns="loss", values="train_acc_clean")
mean = acc.groupby("noise").mean()
# Claim 1: at 40 % noise the bounded / robust losses GCE, LDR-KL and ALDR-KL beat cross-entropy on average ...
for name in ("GCE", "LDR-KL", "ALDR-KL"):
    assert mean.loc[0.4, name] > mean.loc[0.4, "CE"] + 0.015, name
# ... and GCE and ALDR-KL do so for every seed.
assert (acc.loc[0.4, "GCE"] > acc.loc[0.4, "CE"]).all() and (acc.loc[0.4, "ALDR-KL"] > acc.loc[0.4, "CE"]).all()
# Claim 2: without noise nothing beats cross-entropy by more than a point: robustness is not free accuracy.
assert mean.loc[0.0].max() - mean.loc[0.0, "CE"] < 0.01
# Claim 3: MAE underfits in 10 epochs: even on clean data its training accuracy is below cross-entropy's on every
# seed, and it is the worst on the clean test set at 40 % noise.
assert (fit_.loc[0.0, "MAE"] < fit_.loc[0.0, "CE"] - 0.005).all(), fit_.loc[0.0]
assert mean.loc[0.4].idxmin() == "MAE"
pd.concat({"test accuracy": mean, "training accuracy (clean labels)": fit_.groupby("noise").mean()}, axis=1).round(3)

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Which samples does each loss listen to?
#
# The models trained at 40 % noise above (three seeds, no retraining). For each training sample we take the gradient of
# **its own loss** $\ell_i$ with respect to its logits, $\lVert\partial\ell_i/\partial z_i\rVert$: we evaluate the loss with
# `reduction="sum"`, whose gradient on row $i$ is exactly that (the mean loss would divide every row by $N$), and split the
# samples by whether their label was flipped. By Check A, GCE's per-sample gradient is cross-entropy's times $p_y^{0.7}$.

# %% slideshow={"slide_type": "fragment"}
PER_SAMPLE = {"CE": losses.get("cross_entropy", reduction="sum"), "GCE": losses.get("gce", q=0.7, reduction="sum")}
share, norms = [], {}
for seed in SEEDS:
    for name, loss in PER_SAMPLE.items():
        model, ds = trained[(name, 0.4, seed)]
        flipped = ds.y_train != ds.meta["y_train_clean"]
        model.eval()
        with torch.no_grad():
            logits = model(ds.X_train)
        n = analysis.sample_gradient_norms(loss, logits, ds.y_train)
        share.append({"seed": seed, "loss": name, "share on flipped": float(n[flipped].sum() / n.sum()),
                      "flipped fraction": float(flipped.float().mean()),
                      "fits the wrong label": float((logits.argmax(1) == ds.y_train)[flipped].float().mean())})
        if seed == 0:
            norms[name] = (n, flipped)
share = pd.DataFrame(share).pivot(index="seed", columns="loss")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), dpi=80)
for ax, (name, (n, flipped)) in zip(axes, norms.items()):
    viz.histograms({"flipped labels": n[flipped], "clean labels": n[~flipped]}, ax=ax,
                   xlabel=r"per-sample gradient norm $\Vert\partial\ell_i/\partial z_i\Vert$",
                   title=f"{name}, seed 0: {share.loc[0, ('share on flipped', name)]:.0%} of the pull on flipped labels")
fig.tight_layout()
share.round(3)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-e"></a>**Check E** — the share of the pull on flipped labels, and how many wrong labels each loss fits, three seeds.

# %% slideshow={"slide_type": "fragment"}
# 40 % of the labels are flipped; cross-entropy puts more than that share of its pull on them, GCE less, on every seed.
assert (share[("share on flipped", "CE")] > share[("flipped fraction", "CE")]).all()
assert (share[("share on flipped", "GCE")] < share[("flipped fraction", "GCE")]).all()
assert (share[("share on flipped", "GCE")] < share[("share on flipped", "CE")]).all()
# After 10 epochs neither has memorised much, but cross-entropy fits more of the wrong labels on every seed.
assert (share[("fits the wrong label", "CE")] > share[("fits the wrong label", "GCE")]).all()
assert (share["fits the wrong label"] < 0.1).all().all()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Where the flipped samples sit: t-SNE of the embeddings
#
# The 32-d embeddings (before the last linear layer) of 600 training images, seed 0, at 40 % noise, projected with t-SNE.
# Colour: the **clean** class; black crosses: the samples whose label was flipped. If a model had memorised the wrong
# labels, the crosses would form their own islands or sit inside the wrong class; they sit among their true class.

# %% slideshow={"slide_type": "fragment"}
subset = torch.randperm(1347, generator=torch.Generator().manual_seed(0))[:600]
fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.4), dpi=80)
for ax, name in zip(axes, ("CE", "GCE")):
    model, ds = trained[(name, 0.4, 0)]
    with torch.no_grad():
        emb = models.embed(model, ds.X_train[subset])
    xy = viz.project(emb, "tsne", seed=0)
    clean, flipped = ds.meta["y_train_clean"][subset], (ds.y_train != ds.meta["y_train_clean"])[subset]
    points = ax.scatter(xy[:, 0], xy[:, 1], c=clean, cmap="tab10", vmin=0, vmax=9, s=8)
    ax.scatter(xy[flipped, 0], xy[flipped, 1], marker="x", c="k", s=10, lw=0.6, label="flipped label")
    ax.set(xlabel="t-SNE 1", ylabel="t-SNE 2", title=f"{name}, 40 % noise, seed 0")
handles = points.legend_elements(num=list(range(10)))[0] + [axes[1].get_legend_handles_labels()[0][0]]
axes[1].legend(handles, [str(c) for c in range(10)] + ["flipped"], title="clean class", loc="upper left",
               bbox_to_anchor=(1.02, 1), fontsize="small", frameon=False)
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "fragment"}
# The picture is seed 0 only; the numbers behind "they sit among their true class" are the ones Check E asserts on three
# seeds: fewer than 10 % of the flipped samples are predicted as their wrong label by either model.

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 2 (code).** Train cross-entropy at 40 % noise for 60 epochs instead of 10 (one seed; it takes a few seconds)
# and recompute "fits the wrong label". What do you expect, and what does it say about early stopping as a defence
# against noisy labels?

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "skip"}
# Solution (expect memorisation to grow with the epochs: cross-entropy's pull on the flipped samples never stops)
# from workbench import train
# ds = noisy_digits(0, 0.4); model = mlp(ds, 0)
# train.fit(model, LOSSES["CE"](), ds, epochs=60, lr=2e-2, batch_size=128, seed=0, verbose=False, record=())
# model.eval(); flipped = ds.y_train != ds.meta["y_train_clean"]
# with torch.no_grad(): print((model(ds.X_train).argmax(1) == ds.y_train)[flipped].float().mean())
# Early stopping (10 epochs here) is itself a defence: the network learns the clean signal before it memorises.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# - **One formula with a knob** ([Check A](#check-a)): the softmax cross-entropy gradient is $p - e_y$ and every comp-sum
#   member's is $p_y^{\tau-1}(p - e_y)$ (autograd against the formulas, three seeds, five $\tau$); $\tau = 2$ is MAE and
#   $\tau = 1.7$ is GCE with $q = 0.7$.
# - **Bounded members let go** ([Check B](#check-b)): slope $\approx 0$ at $m = -6$ for MAE and GCE, $-1$ for
#   cross-entropy; MAE also barely pulls at $m = 0$.
# - **LDR-KL** ([Check C](#check-c)): with margin 0 it is $\lambda\,\mathrm{CE}(z/\lambda) - \lambda\log K$ (three seeds);
#   at $\lambda = 10$ a confidently wrong sample pulls less than 1.5 times as hard as a confidently right one
#   (cross-entropy: more than 10 times).
# - **Label noise** ([Check D](#check-d); 10 epochs, three seeds): at 40 % symmetric noise GCE, LDR-KL ($\lambda = 10$)
#   and ALDR-KL beat cross-entropy on clean test accuracy by more than 1.5 points on average (GCE and ALDR-KL on every
#   seed). Without noise no loss beats cross-entropy by a point. **MAE underfits**: even on clean labels its training
#   accuracy is below cross-entropy's on every seed (table in Check D), and it is the worst at 40 % noise: robustness in
#   theory, slow learning in practice, as its slope at $m=0$ predicted.
# - **Which samples they listen to** ([Check E](#check-e)): with 40 % of the labels flipped, cross-entropy puts more than
#   40 % of its per-sample pull on the flipped samples and GCE less, on every seed. After 10 epochs neither model has
#   memorised much (fewer than 10 % of the flipped samples predicted as their wrong label), but cross-entropy fits more
#   of them on every seed; the t-SNE panels (seed 0) show the flipped samples among their true classes.
#
# ## References
# - Mao, Mohri, Zhong 2023, [arXiv:2304.07288](https://arxiv.org/abs/2304.07288).
# - Zhang & Sabuncu 2018, GCE, [arXiv:1805.07836](https://arxiv.org/abs/1805.07836).
# - Ghosh, Kumar, Sastry 2017, MAE under label noise, [arXiv:1712.09482](https://arxiv.org/abs/1712.09482).
# - Zhu, Ying, Yang 2023, LDR losses, [arXiv:2112.14869](https://arxiv.org/abs/2112.14869).
# - van der Maaten & Hinton 2008, *Visualizing Data using t-SNE*, JMLR 9, [jmlr.org/papers/v9/vandermaaten08a](https://jmlr.org/papers/v9/vandermaaten08a.html).
#
# ---
# **Previous:** [00 · Loss Lab in ten minutes](00_tour.ipynb) · [series index](README.md) · **Next:** [02 · The Z-loss](02_z_loss.ipynb)
