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
# # 05 · Beyond InfoNCE (1): labels, decoupled energies and many views
#
# [← 04 · The temperature of a contrastive loss](04_contrastive_temperature.ipynb) · [series index](README.md) · [06 · Beyond InfoNCE (2): learned temperatures, two modalities →](06_learned_temperatures_and_modalities.ipynb)
#
# NT-Xent is one point in a family. This lesson changes one thing about it at a time (the positives come from the
# labels; the positive leaves the denominator; more than two views), writes each new loss down, trains it on the
# digits with three seeds and checks what changed. Every comparison uses the **same temperature**, $\tau = 0.2$, for
# the losses it compares, so a difference is the loss's, not the temperature's. Notebook 06 continues the family with
# learned temperatures, two modalities and the projection head.
#
# **What you will learn**
# 1. To read four contrastive losses as formulas and say what each changes relative to NT-Xent: SupCon, DHEL,
#    MV-InfoNCE, MV-DHEL.
# 2. To read SupCon's labels in its pair weights: which same-class pairs it pulls that NT-Xent pushes.
# 3. To see *dimensional collapse* in a singular-value spectrum and measure it with the effective rank, and why
#    decoupling the positive from the denominator spreads the embedding.
# 4. To compare losses fairly: matched temperatures, every seed checked, asserts that could fail.
# 5. To read a t-SNE and a UMAP picture of the same embedding side by side, and what neither can show.
#
# **Prerequisites**: notebook 04 (NT-Xent, relative penalty, uniformity, tolerance, effective rank).
# **Time**: a 45-minute lesson; the notebook trains 12 small models and draws two t-SNE and two UMAP maps (see the
# run-time note at the end).
#
# **Papers**
# - P. Khosla et al. *Supervised Contrastive Learning.* NeurIPS 2020. [arXiv:2004.11362](https://arxiv.org/abs/2004.11362)
# - P. Koromilas, G. Bouritsas, T. Giannakopoulos, M. Nicolaou, Y. Panagakis. *Bridging Mini-Batch and Asymptotic Analysis in Contrastive Learning: From InfoNCE to Kernel-Based Losses* (DHEL). ICML 2024. [arXiv:2405.18045](https://arxiv.org/abs/2405.18045)
# - P. Koromilas et al. *A Principled Framework for Multi-View Contrastive Learning* (MV-InfoNCE, MV-DHEL). 2025. [arXiv:2507.06979](https://arxiv.org/abs/2507.06979)
# - O. Roy, M. Vetterli. *The effective rank: a measure of effective dimensionality.* EUSIPCO 2007 (effective rank).
# - L. van der Maaten, G. Hinton. *Visualizing Data using t-SNE.* JMLR 9, 2008. [jmlr.org](https://jmlr.org/papers/v9/vandermaaten08a.html)
# - L. McInnes, J. Healy, J. Melville. *UMAP: Uniform Manifold Approximation and Projection for Dimension Reduction.* 2018. [arXiv:1802.03426](https://arxiv.org/abs/1802.03426)

# %% slideshow={"slide_type": "fragment"}
import time

import pandas as pd
import torch
import matplotlib.pyplot as plt
from IPython.display import display

from workbench import analysis, data, experiments, losses, models, train, viz, widgets

# Tiny models train fastest on one thread, and one thread makes runs bit-identical across machines.
torch.set_num_threads(1)
views = data.digit_views(seed=0, image=False)
SEEDS = (0, 1, 2)
TAU = 0.2   # one temperature for every loss compared below


def run(name, params, ds=views, **settings):
    # One training run with this lesson's settings (MLP 64-128-32, Adam 3e-3, batch 128, 10 epochs):
    # (model, loss, test embeddings, metrics), from experiments.contrastive_run.
    return experiments.contrastive_run(name, params, ds, **settings)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · SupCon versus NT-Xent: what labels add
#
# Write $s_{ia} = \hat z_i^\top \hat z_a$ for the cosine similarity of rows $i$ and $a$ of the batch (all views of all
# samples), $j(i)$ for the other view of row $i$'s sample and $P(i)$ for the rows with the same label as $i$.
#
# $$\text{NT-Xent:}\quad \ell_i = -\log \frac{e^{s_{i,j(i)}/\tau}}{\sum_{a\ne i} e^{s_{ia}/\tau}}
# \qquad\qquad
# \text{SupCon:}\quad \ell_i = -\frac{\tau}{\tau_b}\,\frac{1}{|P(i)|}\sum_{p\in P(i)} \log \frac{e^{s_{ip}/\tau}}{\sum_{a\ne i} e^{s_{ia}/\tau}}$$
#
# SupCon keeps the softmax and averages its log over *every* same-label row; $\tau/\tau_b$ only rescales (we set
# $\tau_b = \tau$). Its gradient on a pair is $\partial\ell_i/\partial s_{ia} = \frac{1}{\tau_b}\big(P_{ia} - \tfrac{1}{|P(i)|}[a\in P(i)]\big)$:
# negative (a pull) on every same-class pair whose softmax share is below $1/|P(i)|$. First the pair weights
# $\partial L/\partial s$ on one batch of 24 digits × 2 views, untrained encoder:

# %% slideshow={"slide_type": "fragment"}
g = torch.Generator().manual_seed(0)
idx = torch.randperm(views.n_test, generator=g)[:24]
batch = torch.stack([views.augment(views.X_test[idx], g) for _ in range(2)], 1)
with torch.no_grad():
    z = models.MLP(64, 32, hidden=(128,), seed=0)(batch.flatten(0, 1)).view(24, 2, -1)
labels = views.y_test[idx]
w_sup = analysis.pair_weights(losses.get("supcon", temperature=TAU, base_temperature=TAU), z, labels)
w_nt = analysis.pair_weights(losses.get("ntxent", temperature=TAU), z)
row_labels = labels.repeat_interleave(2)
fig, axes = plt.subplots(1, 2, figsize=(9.5, 4))
viz.pair_weight_heatmap(w_nt, row_labels, ax=axes[0], title="NT-Xent (no labels)")
viz.pair_weight_heatmap(w_sup, row_labels, ax=axes[1], title="SupCon (labels)")
fig.tight_layout()
same_class = (row_labels[:, None] == row_labels[None, :]) & ~torch.eye(48, dtype=torch.bool)
same_digit = torch.arange(48)[:, None] // 2 == torch.arange(48)[None, :] // 2
other_same_class = same_class & ~same_digit
print("pulled same-class pairs of different digits: SupCon", int((w_sup[other_same_class] < 0).sum()),
      "NT-Xent", int((w_nt[other_same_class] < 0).sum()), "of", int(other_same_class.sum()))
# Check 1a: the gradient, not a trained model: SupCon pulls every same-class pair, NT-Xent pushes them all.
assert (w_sup[other_same_class] < 0).all() and (w_nt[other_same_class] >= 0).all()

# %% slideshow={"slide_type": "fragment"}
rows, emb = [], {}
specs = {"NT-Xent": ("ntxent", {"temperature": TAU}, 2, False),
         "SupCon": ("supcon", {"temperature": TAU, "base_temperature": TAU}, 2, True),
         "DHEL": ("dhel", {"temperature": TAU}, 2, False),
         "MV-DHEL, 4 views": ("mv_dhel", {"temperature": TAU}, 4, False)}
for seed in SEEDS:
    for label, (name, params, n_views, supervised) in specs.items():
        _, _, emb[label, seed], m = run(name, params, n_views=n_views, supervised=supervised, seed=seed)
        rows.append({"loss": label, "seed": seed, **m})
runs = pd.DataFrame(rows)
table = runs.groupby("loss", sort=False).agg(["mean", "std"]).drop(columns="seed")
display(table.round(3))
per_seed = runs.set_index(["loss", "seed"])

# %% slideshow={"slide_type": "fragment"}
# Check 1b: at the same temperature, labels help on every seed: better kNN, same-class digits much closer.
for seed in SEEDS:
    sup, nt = per_seed.loc[("SupCon", seed)], per_seed.loc[("NT-Xent", seed)]
    assert sup["knn_acc"] > nt["knn_acc"]
    assert sup["tolerance"] > nt["tolerance"] + 0.1

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · Decoupled energies and many views: dimensional collapse
#
# Call the two views of sample $i$ $u_i$ and $v_i$ (unit vectors), and with $V$ views $U_{il}$, $l = 1..V$.
#
# $$\text{DHEL:}\quad \ell_i = -\log\frac{e^{u_i^\top v_i/\tau}}{\sum_{j\ne i} e^{u_i^\top u_j/\tau}\;\sum_{j\ne i} e^{v_i^\top v_j/\tau}}$$
#
# $$\text{MV-InfoNCE:}\quad \ell_i = -\log\frac{\sum_{l\ne l'} e^{U_{il}^\top U_{il'}/\tau}}{\sum_l \sum_{(j,m)\ne(i,l)} e^{U_{il}^\top U_{jm}/\tau}}
# \qquad
# \text{MV-DHEL:}\quad \ell_i = -\log\frac{\sum_{l<l'} e^{U_{il}^\top U_{il'}/\tau}}{\prod_l \sum_{j\ne i} e^{U_{il}^\top U_{jl}/\tau}}$$
#
# Take the log apart: DHEL is $-u_i^\top v_i/\tau$ (alignment) plus two log-sum-exps that contain **no positive**:
# each is the energy of one view's points among themselves (uniformity). In NT-Xent the positive sits in the
# denominator, so pulling it closer also shrinks the push; DHEL *decouples* the two. MV-DHEL does the same with $V$
# views (with $V = 2$ it is DHEL); MV-InfoNCE is the $V$-view InfoNCE, positive still in the denominator. The paper's
# claim: decoupled losses use more dimensions (less *dimensional collapse*), and more views help.
#
# The measurement is the one of notebook 04: the effective rank $\exp H(p)$ of the normalised singular values
# $p_k = \sigma_k/\sum_j\sigma_j$ of the centred test embedding (32 at most), and its spectrum.

# %% slideshow={"slide_type": "fragment"}
unit = lambda z: torch.nn.functional.normalize(z, dim=1)
spectra = {label: analysis.singular_value_spectrum(unit(emb[label, 0])) for label in specs}
viz.singular_value_spectra(spectra, title=f"test embeddings, τ = {TAU}, seed 0");

# %% slideshow={"slide_type": "fragment"}
# Check 2: on every seed, at the same tau ...
for seed in SEEDS:
    r = per_seed.xs(seed, level="seed")
    # ... decoupling spreads the embedding over many more directions than NT-Xent, and helps the kNN probe;
    assert r.loc["DHEL", "effective_rank"] > r.loc["NT-Xent", "effective_rank"] + 3
    assert r.loc["DHEL", "knn_acc"] > r.loc["NT-Xent", "knn_acc"]
    # ... 4 views add rank over 2 (MV-DHEL with 2 views is DHEL) and give the best kNN of the four losses.
    assert r.loc["MV-DHEL, 4 views", "effective_rank"] > r.loc["DHEL", "effective_rank"]
    assert r["knn_acc"].idxmax() == "MV-DHEL, 4 views"

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Why SupCon and DHEL look different.** SupCon's spectrum sits with NT-Xent's, DHEL's is flatter. Below, the test
# embeddings of the two (seed 0), coloured by digit, each drawn twice: by t-SNE (left) and by UMAP (right).
# *Predict first*: which one has tighter digit clusters, given SupCon's tolerance in section 1? And which one spreads
# the points of a class more evenly?
#
# **Two maps of one embedding.** t-SNE and UMAP both place the points in 2-D so that near neighbours in 32-D stay
# near; both give up the distances *between* clusters and the clusters' sizes. Read only what the two maps agree on
# (which digits form a cluster, which clusters touch), never a gap or an area. The first UMAP call in a kernel is the
# slow one: numba compiles UMAP's kernels to machine code first. The cell prints this run's cost: the first call
# takes several seconds of CPU time (7 to 20 s in our runs, the more the busier the machine), the second about a
# second, so the compilation is most of it. `viz.project` already saves a third of it: it hands UMAP exact
# neighbours from scikit-learn instead of letting UMAP compile its own neighbour search (measured once on a loaded
# machine: 19 CPU s for the first call before, 12 after). `NUMBA_CACHE_DIR` does not save the rest for the next
# kernel (the same machine: 19 CPU s with a warm cache as without): the kernels that take the time
# (`smooth_knn_dist`, `compute_membership_strengths`, the layout's epoch loop in umap-learn 0.5) are compiled
# without `cache=True`.

# %% slideshow={"slide_type": "fragment"}
fig, axes = plt.subplots(2, 2, figsize=(8.6, 7.2))
cost = {}
for row, label in enumerate(("SupCon", "DHEL")):
    for col, (method, name) in enumerate((("tsne", "t-SNE"), ("umap", "UMAP"))):
        start = time.process_time()
        viz.embedding_scatter(unit(emb[label, 0]), views.y_test, ax=axes[row, col], method=method, s=5,
                              title=f"{label}, τ = {TAU} · {name}", legend=col == 1)
        cost[label, method] = time.process_time() - start
fig.tight_layout()
print(f"CPU seconds: t-SNE {cost['SupCon', 'tsne']:.1f} and {cost['DHEL', 'tsne']:.1f}; "
      f"UMAP {cost['SupCon', 'umap']:.1f} (first call: numba compiles) and {cost['DHEL', 'umap']:.1f}")
# the compilation is most of the first call: it costs several times the second (the same work on another embedding)
assert cost["SupCon", "umap"] > 3 * cost["DHEL", "umap"]

# %% [markdown] slideshow={"slide_type": "slide"}
# ### Explore DHEL's pull on the positive
#
# The explorer draws a loss and its gradient $dL/ds$ as the positive pairs' similarity $s$ moves (negatives held at 0),
# and the same for the negative pairs; the static figure below it is DHEL at its default $\tau$.
#
# **Predict, then move the slider.** Expand DHEL's log as in Exercise 1(b) below: the positive appears only in the
# alignment term $-u_i^\top v_i/\tau$. So what shape is the gradient curve of the positive pair, and what happens to it
# when you move `temperature` from 0.3 to 0.1? Then pick `ntxent` in the drop-down: why does its pull fade as $s \to 1$?

# %% slideshow={"slide_type": "subslide"}
explorer = widgets.LossExplorer("dhel")
explorer

# %% slideshow={"slide_type": "subslide"}
widgets.loss_figure("dhel");

# %% slideshow={"slide_type": "fragment"}
# Check 3: DHEL's pull on the positive is the same at every s and scales as 1/tau (the alignment term alone);
# NT-Xent's pull -(1 - P+)/tau weakens as the positive gets closer.
s_grid = torch.linspace(-1, 1, 33).tolist()
pulls = {}
for tau in (0.1, 0.3):
    dhel_pull = analysis.similarity_curve(losses.get("dhel", temperature=tau), s_grid, "positive")["grad"]
    nt_pull = analysis.similarity_curve(losses.get("ntxent", temperature=tau), s_grid, "positive")["grad"]
    assert (dhel_pull < 0).all() and dhel_pull.max() - dhel_pull.min() < 1e-9 * abs(dhel_pull.mean())
    assert (nt_pull < 0).all() and (nt_pull.diff().dropna() > 0).all()
    pulls[tau] = dhel_pull.mean()
    print(f"tau = {tau}: DHEL's pull {pulls[tau]:.3f} at every s; NT-Xent's from {nt_pull.iloc[0]:.3f} to {nt_pull.iloc[-1]:.3f}")
assert abs(pulls[0.1] / pulls[0.3] - 3) < 1e-6

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# **Exercise 1.** (a) Show that with $V = 2$ the MV-DHEL formula is DHEL's. (b) Expand DHEL's
# $\log$ into an alignment term and two energy terms, and say which of them the positive's gradient touches.
# (c) Predict: is MV-InfoNCE with 2 views the same loss as NT-Xent?

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# *Solution 1.* (a) With $V = 2$ the numerator has the single pair $l<l'$, i.e. $e^{u_i^\top v_i/\tau}$, and the
# product over $l$ has two factors, $\sum_{j\ne i}e^{u_i^\top u_j/\tau}$ and $\sum_{j\ne i}e^{v_i^\top v_j/\tau}$: DHEL.
# (b) $\ell_i = -u_i^\top v_i/\tau + \log\sum_{j\ne i}e^{u_i^\top u_j/\tau} + \log\sum_{j\ne i}e^{v_i^\top v_j/\tau}$.
# $\partial\ell_i/\partial(u_i^\top v_i) = -1/\tau$ exactly, whatever the other similarities: the pull on the positive no
# longer weakens as the negatives are pushed (in NT-Xent it is $-(1-P_+)/\tau$).
# (c) No: its denominator sums over both views of the anchor's own sample and counts every other row in both views,
# and its numerator counts ordered pairs (a constant $\log 2$). The two losses have the same minimisers but differ
# as functions; run `run("mv_infonce", {"temperature": TAU}, n_views=2)` to compare its metrics with NT-Xent's.

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 2 (SupCon with one sample per class).** What does SupCon reduce to when every label in the batch is
# distinct? Check it with `analysis.pair_weights` on `z` from section 1 and labels `torch.arange(24)`.
#
# **Exercise 3 (a third map).** t-SNE and UMAP are non-linear. Draw the same two embeddings with
# `method="pca"` and predict first: will PCA separate SupCon's digits as clearly as the two maps do? Which measurement
# of section 2 tells you how many directions a linear map would need?

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution 2: with distinct labels P(i) = {the other view}: SupCon is NT-Xent (times tau/tau_b = 1 here).
w_distinct = analysis.pair_weights(losses.get("supcon", temperature=TAU, base_temperature=TAU), z, torch.arange(24))
print("max |SupCon(distinct labels) - NT-Xent| pair weight:", float((w_distinct - w_nt).abs().max()))

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution 3: a PCA map shows what the two directions of largest variance hold. Read the share of the variance in
# those two directions next to the effective rank of section 2: the more directions an embedding uses, the less of
# it a 2-D linear map can show.
fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.6))
for k, (ax, label) in enumerate(zip(axes, ("SupCon", "DHEL"))):
    z_unit = unit(emb[label, 0])
    s = torch.linalg.svdvals(z_unit - z_unit.mean(0))
    print(f"{label}: variance in the first two directions {float((s[:2] ** 2).sum() / (s ** 2).sum()):.2f}, "
          f"effective rank {analysis.effective_rank(z_unit):.1f}")
    viz.embedding_scatter(z_unit, views.y_test, ax=ax, method="pca", s=5, title=f"{label} · PCA", legend=k == 1)
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# Measured on the digits (MLP 64→128→32, 10 epochs, batch 128, Adam 3e-3, seeds 0, 1, 2, τ = 0.2 for every loss;
# numbers are means over seeds).
#
# * **Labels help, at the same temperature.** SupCon reaches kNN 0.942 against NT-Xent's 0.919 and tolerance 0.83
#   against 0.64, on every seed; its gradient pulls every same-class pair of the batch (168 of 168), NT-Xent's none.
#   → *Checks 1a, 1b*.
# * **Decoupling fights dimensional collapse.** Effective rank 24.8 for DHEL against 15.3 for NT-Xent (the spectrum
#   stays flat for longer), and better kNN (0.953 against 0.919); four views raise MV-DHEL to 27.1 and the best kNN of
#   the four (0.961). → *Check 2* and the spectrum figure.
# * **Why decoupling works, in one derivative.** DHEL pulls its positive with the same $-1/\tau$ at every similarity;
#   NT-Xent's pull $-(1-P_+)/\tau$ fades as the positive gets close. → *Check 3* and the explorer.
# * **Two maps, one embedding.** t-SNE and UMAP are pictures, not measurements: nothing is asserted on them. Read
#   them beside the numbers above (tolerance for how tight a class is, effective rank for how many directions are
#   used), and expect the first UMAP call to cost a numba compilation (the cell prints it).
#
# **Run time.** The lesson trains 12 small models (three seeds for every claim) and draws four maps: about 45 s in a
# fresh kernel on 2 quiet cores (the README's table), of which the first UMAP call (numba compiling) is several
# seconds and the two t-SNE maps a few (the map cell prints both).
# Notebook 06 continues with learned temperatures, two modalities and the projection head.
#
# ## References
#
# Khosla et al. 2020 ([arXiv:2004.11362](https://arxiv.org/abs/2004.11362)); Koromilas et al. 2024
# ([arXiv:2405.18045](https://arxiv.org/abs/2405.18045)) and 2025 ([arXiv:2507.06979](https://arxiv.org/abs/2507.06979));
# Roy & Vetterli 2007 (effective rank); van der Maaten & Hinton 2008
# ([JMLR](https://jmlr.org/papers/v9/vandermaaten08a.html)); McInnes, Healy & Melville 2018
# ([arXiv:1802.03426](https://arxiv.org/abs/1802.03426)).
#
# [← 04 · The temperature of a contrastive loss](04_contrastive_temperature.ipynb) · [series index](README.md) · [06 · Beyond InfoNCE (2): learned temperatures, two modalities →](06_learned_temperatures_and_modalities.ipynb)
