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
# # 04 · The temperature of a contrastive loss: hardness, uniformity and tolerance
#
# [← 03 · Imbalanced binary classification](03_imbalanced_binary.ipynb) · [series index](README.md) · [05 · Beyond InfoNCE →](05_beyond_infonce.ipynb)
#
# InfoNCE / NT-Xent has one knob, the temperature $\tau$. This lesson derives what $\tau$ does to the gradient, then
# trains self-supervised embeddings of the digits at four temperatures (three seeds each) and checks, claim by claim,
# which of the published temperature effects reproduce on a laptop-sized problem and which do not.
#
# **What you will learn**
# 1. To derive the *relative penalty* $r_k$ of a negative from the NT-Xent gradient, and why its entropy grows with $\tau$.
# 2. To measure an embedding with **uniformity**, **tolerance**, **kNN accuracy** and **effective rank**, and to read a
#    singular-value spectrum.
# 3. Which of Wang & Liu's temperature findings reproduced on the digits (uniformity is lost as $\tau$ grows from 0.2,
#    the hard contrastive loss rescues large $\tau$) and which did not (tolerance does not grow with $\tau$; the best
#    kNN accuracy is at the *smallest* $\tau$).
# 4. How positive and negative similarity distributions evolve during training, and how a hard loss with too few
#    negatives collapses.
#
# **Prerequisites**: softmax and cross-entropy (notebooks 00-01), cosine similarity, what a gradient is.
# **Time**: about 45 minutes (runs top to bottom in about a minute).
#
# **Papers**
# - F. Wang, H. Liu. *Understanding the Behaviour of Contrastive Loss.* CVPR 2021. [arXiv:2012.09740](https://arxiv.org/abs/2012.09740)
# - T. Chen, S. Kornblith, M. Norouzi, G. Hinton. *A Simple Framework for Contrastive Learning of Visual Representations* (SimCLR, NT-Xent). ICML 2020. [arXiv:2002.05709](https://arxiv.org/abs/2002.05709)
# - T. Wang, P. Isola. *Understanding Contrastive Representation Learning through Alignment and Uniformity on the Hypersphere.* ICML 2020. [arXiv:2005.10242](https://arxiv.org/abs/2005.10242)
# - R. Zhu, B. Zhao, J. Liu, Z. Sun, C. W. Chen. *Improving Contrastive Learning by Visualizing Feature Transformation.* ICCV 2021. [arXiv:2108.02982](https://arxiv.org/abs/2108.02982)
# - O. Roy, M. Vetterli. *The effective rank: a measure of effective dimensionality.* EUSIPCO 2007 (effective rank).
# - L. van der Maaten, G. Hinton. *Visualizing Data using t-SNE.* JMLR 9, 2008. [jmlr.org](https://jmlr.org/papers/v9/vandermaaten08a.html)

# %% slideshow={"slide_type": "fragment"}
import math

import numpy as np
import pandas as pd
import torch
import matplotlib.pyplot as plt
from IPython.display import display

from workbench import analysis, data, losses, models, train, viz, widgets

# Tiny models train fastest on one thread, and one thread makes runs bit-identical across machines.
torch.set_num_threads(1)
views = data.digit_views(seed=0, image=False)   # digits + a random shift / noise / mask augmentation
views

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · The relative penalty of a negative (derivation)
#
# Take an anchor $i$ with its positive (the other view of the same digit) at cosine similarity $s_+$ and negatives
# at $s_1, \dots, s_N$. NT-Xent is a softmax cross-entropy over these similarities divided by $\tau$:
#
# $$\ell_i = -\log \frac{e^{s_+/\tau}}{e^{s_+/\tau} + \sum_{j=1}^N e^{s_j/\tau}}, \qquad
# P_k = \frac{e^{s_k/\tau}}{e^{s_+/\tau} + \sum_j e^{s_j/\tau}} .$$
#
# The gradient of a softmax cross-entropy is "probability minus target", divided by $\tau$:
#
# $$\frac{\partial \ell_i}{\partial s_+} = -\frac{1}{\tau}\,(1 - P_+) = -\frac{1}{\tau}\sum_j P_j, \qquad
# \frac{\partial \ell_i}{\partial s_k} = \frac{1}{\tau}\,P_k .$$
#
# So the positive is pulled with exactly the total force that pushes the negatives, and negative $k$ receives the share
#
# $$r_k = \frac{|\partial \ell_i/\partial s_k|}{|\partial \ell_i/\partial s_+|} = \frac{P_k}{\sum_j P_j}
# = \frac{e^{s_k/\tau}}{\sum_{j} e^{s_j/\tau}} ,$$
#
# Wang & Liu's **relative penalty**: a softmax over the negatives alone, at temperature $\tau$.
#
# **What $\tau$ does to it.** Two negatives compare as $r_k / r_l = e^{(s_k - s_l)/\tau}$.
# - $\tau \to 0$: the ratio explodes, $r$ becomes one-hot on the hardest negative (largest $s_k$): the loss behaves
#   like a triplet loss on the hardest negative (*hardness-aware*).
# - $\tau \to \infty$: $r_k \to 1/N$, every negative is pushed alike, whatever its similarity.
# - In between, the entropy $H(r) = -\sum_k r_k \log r_k$ grows monotonically with $\tau$. Writing
#   $H = \log\sum_j e^{s_j/\tau} - \mathbb{E}_r[s]/\tau$ and using $\partial_\tau \log\sum_j e^{s_j/\tau} = -\mathbb{E}_r[s]/\tau^2$,
#   $\partial_\tau \mathbb{E}_r[s] = -\mathrm{Var}_r[s]/\tau^2$, gives
#   $$\frac{dH}{d\tau} = \frac{\mathrm{Var}_r[s]}{\tau^3} \;\ge 0 .$$
#
# Below: one anchor with five negatives at cosine 0.9 (hard) down to −0.3, the share of the push each gets at three
# temperatures. $H = \log 5 = 1.61$ nats when all get the same, 0 when one takes it all.

# %% slideshow={"slide_type": "fragment"}
negatives = torch.tensor([0.9, 0.6, 0.5, 0.1, -0.3])
viz.relative_penalty_figure(negatives, [0.07, 0.2, 1.0]);

# %% slideshow={"slide_type": "fragment"}
# Check 1: the entropy of the penalty grows with tau (dH/dtau = Var/tau^3 >= 0), and the two limits.
penalty_temperatures = (0.07, 0.2, 0.3, 0.7, 1.0)
entropy = {t: analysis.penalty_entropy(negatives, t).item() for t in penalty_temperatures}
print({t: round(h, 3) for t, h in entropy.items()})
assert all(entropy[a] < entropy[b] for a, b in zip(penalty_temperatures, penalty_temperatures[1:]))
assert analysis.relative_penalty(negatives, 0.07)[0] > 0.98        # tau=0.07: the hardest negative takes >98 %
assert entropy[1.0] > 0.9 * math.log(len(negatives))               # tau=1: close to uniform

# %% [markdown] slideshow={"slide_type": "fragment"}
# The penalty is not a model of the gradient, it *is* the gradient: autograd's $|\partial L/\partial s_{k}| /
# |\partial L/\partial s_{+}|$ for NT-Xent equals $r_k$ (a test in `tests/analysis/test_gradients.py` checks it).
#
# **Predict, then move the slider.** Before you touch $\tau$: at what $\tau$ does the second-hardest negative
# (cosine 0.6) get more than a quarter of the push? Write your guess, then move the slider (the figure is redrawn
# when you let go) and read the entropy line.

# %% slideshow={"slide_type": "subslide"}
explorer = widgets.PenaltyExplorer(negatives.tolist(), temperature=0.2)
explorer

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 1.** (a) Using $r_k/r_l = e^{(s_k-s_l)/\tau}$, compute by hand the ratio of the push on the 0.9 negative to
# the push on the 0.6 negative at $\tau = 0.07$ and at $\tau = 1$. (b) Which $\tau$ makes that ratio exactly 2?

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution 1
for tau in (0.07, 1.0):
    print(f"tau={tau}: r(0.9)/r(0.6) = exp(0.3/tau) = {math.exp(0.3 / tau):.1f}")
tau_two = 0.3 / math.log(2)
r = analysis.relative_penalty(negatives, tau_two)
print(f"ratio 2 at tau = 0.3/ln 2 = {tau_two:.3f}; check: {float(r[0] / r[1]):.3f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · Self-supervised training at four temperatures, three seeds
#
# An MLP (64 → 128 → 32) trained with NT-Xent on two augmented views of each digit, no labels, 10 epochs, batch 128,
# Adam 3e-3, seeds 0, 1, 2, at $\tau \in \{0.07, 0.2, 0.5, 1.0\}$. On the *test* digits we measure:
#
# * **uniformity** $\log \mathbb{E}_{i\ne j}\, e^{-2\lVert \hat z_i - \hat z_j\rVert^2}$ (Wang & Isola): more negative = spread more evenly on the sphere;
# * **tolerance**: the mean cosine similarity of same-class pairs (the labels are used only to measure): how close
#   digits of one class stay although the loss pushes them apart as negatives;
# * **kNN accuracy** (k = 5, cosine) of the embedding: a probe of how useful it is;
# * **effective rank** (section 3): how many directions of the 32-d space the embedding uses.
#
# The hard contrastive loss (Wang & Liu: NT-Xent whose denominator keeps only each anchor's $k = 128$ most similar of
# its 254 negatives) runs at $\tau = 1$ on the same seeds. We record the embeddings of two fixed views of 256 test digits
# after each epoch for section 5.

# %% slideshow={"slide_type": "fragment"}
SEEDS = (0, 1, 2)
temperatures = (0.07, 0.2, 0.5, 1.0)
rows, embeddings, view_runs = [], {}, {}
for name, taus in (("ntxent", temperatures), ("hard_contrastive", (1.0,))):
    for tau in taus:
        for seed in SEEDS:
            model = models.MLP(64, 32, hidden=(128,), seed=seed)
            record = ("views",) if name == "ntxent" else ()
            # evaluate_every=10: fit's kNN probe runs after the last epoch only, the one this table reads
            hist = train.fit(model, losses.get(name, temperature=tau), views, epochs=10, lr=3e-3, batch_size=128,
                             seed=seed, record=record, evaluate_every=10, verbose=False)
            with torch.no_grad():
                z = model(views.X_test)
            rows.append({"loss": name, "temperature": tau, "seed": seed, "knn_acc": hist.last["test_acc"],
                         **analysis.contrastive_metrics(z, views.y_test)})
            embeddings[name, tau, seed] = z
            if record:
                view_runs[tau, seed] = hist
sweep = pd.DataFrame(rows)
display(sweep.groupby(["loss", "temperature"]).agg(["mean", "std"]).drop(columns="seed").round(3))

# %% slideshow={"slide_type": "fragment"}
viz.metrics_vs(sweep, "temperature", ["uniformity", "tolerance", "knn_acc"], hue="loss", logx=True);

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Predict before you read the checks.** Wang & Liu report, on CIFAR and ImageNet-100, that a small $\tau$ gives the
# most uniform embedding, that tolerance grows with $\tau$, and that accuracy peaks at a moderate $\tau$ (their
# uniformity–tolerance dilemma). Which of the three do you expect on 1347 digits after 10 epochs? The cell below
# checks what we actually measured, seed by seed.

# %% slideshow={"slide_type": "fragment"}
nt = sweep[sweep["loss"] == "ntxent"].set_index(["seed", "temperature"])
hard = sweep[sweep["loss"] == "hard_contrastive"].set_index("seed")
for seed in SEEDS:
    run = nt.loc[seed]
    # Check 2a (reproduced): from tau = 0.2 upwards uniformity is lost step by step; tau = 0.2 is the most uniform.
    assert run.loc[0.2, "uniformity"] < run.loc[0.5, "uniformity"] < run.loc[1.0, "uniformity"]
    assert run["uniformity"].idxmin() == 0.2
    # Check 2b (did NOT reproduce: "tolerance grows with tau"): tolerance is highest at the smallest tau,
    # and level (within 0.03) from 0.2 to 1.0.
    assert run["tolerance"].idxmax() == 0.07
    level = run.loc[[0.2, 0.5, 1.0], "tolerance"]
    assert level.max() - level.min() < 0.03
    # Check 2c (did NOT reproduce: "a moderate tau is best"): kNN accuracy falls at every step from tau = 0.07.
    assert run["knn_acc"].is_monotonic_decreasing and run["knn_acc"].is_unique
    # Check 2d (reproduced): the hard loss keeps tau = 1 usable: better kNN and more uniform than NT-Xent.
    assert hard.loc[seed, "knn_acc"] > run.loc[1.0, "knn_acc"]
    assert hard.loc[seed, "uniformity"] < run.loc[1.0, "uniformity"]
print("checks 2a-2d hold on seeds", SEEDS)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What reproduced, what did not, and why it might differ.**
# - *Reproduced*: as $\tau$ grows from 0.2 the penalty spreads over all negatives, including the same-class ones, and
#   the embedding gets less uniform; kNN accuracy falls with it. The hard contrastive loss, which takes its hardness from
#   dropping easy negatives instead of from a small $\tau$, keeps $\tau = 1$ usable (check 2d).
# - *Not reproduced*: tolerance does not grow with $\tau$ here: it is flat from 0.2 to 1.0 and highest at 0.07, where
#   the embedding is also *less* uniform than at 0.2. And accuracy does not peak at a moderate $\tau$: the smallest
#   $\tau$ wins. A plausible reason, not tested here: with 10 epochs a tiny $\tau$ spends almost all of the push on
#   the few hardest negatives (section 1), so the bulk of the negatives is barely moved (section 5 measures this) and
#   same-class digits, rarely the hardest negatives, stay close. The paper trains for hundreds of epochs on large
#   image sets, where the push eventually reaches every negative.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · Effective rank and the singular-value spectrum
#
# Stack the $N$ test embeddings into $Z \in \mathbb{R}^{N\times 32}$, subtract the mean, and take its singular values
# $\sigma_1 \ge \dots \ge \sigma_{32}$. Normalise them into a distribution $p_k = \sigma_k / \sum_j \sigma_j$; the
# **effective rank** is $\exp H(p) = \exp(-\sum_k p_k \log p_k)$: 32 when every direction carries the same spread,
# 1 when the points lie on one line (*dimensional collapse*). Plot $p_k$ on a log axis and collapse is a spectrum that
# falls early. Higher $\tau$ uses fewer directions (check 3a).
#
# Two traps, both visible below. The effective rank is **scale-free** and measured after **centring**. A model that
# has *collapsed* (section 6: every embedding at cosine ≈ 1 to every other) still has tiny deviations around its one
# point; centring removes the point and keeps the deviations, and tiny random deviations spread over all directions
# alike, so the spectrum is *flat* and the effective rank is the highest of all. Read it beside uniformity or tolerance,
# which see the collapse.

# %% slideshow={"slide_type": "fragment"}
collapsed_model = models.MLP(64, 32, hidden=(128,), seed=0)
collapse_hist = train.fit(collapsed_model, losses.get("hard_contrastive", temperature=0.2, k=16), views, epochs=4,
                          lr=3e-3, batch_size=128, seed=0, record=(), verbose=False)
with torch.no_grad():
    z_collapsed = collapsed_model(views.X_test)
unit = lambda z: torch.nn.functional.normalize(z, dim=1)
spectra = {f"NT-Xent τ = {tau}": analysis.singular_value_spectrum(unit(embeddings["ntxent", tau, 0]))
           for tau in temperatures}
spectra["collapsed (hard, k = 16)"] = analysis.singular_value_spectrum(unit(z_collapsed))
viz.singular_value_spectra(spectra, title="test embeddings, seed 0");
collapsed = analysis.contrastive_metrics(z_collapsed, views.y_test)
print("collapsed model:", {k: round(v, 3) for k, v in collapsed.items()})

# %% slideshow={"slide_type": "fragment"}
# Check 3a: from tau = 0.2 up, NT-Xent uses fewer directions, on every seed.
for seed in SEEDS:
    run = nt.loc[seed]
    assert run.loc[0.2, "effective_rank"] > run.loc[0.5, "effective_rank"] > run.loc[1.0, "effective_rank"]
# Check 3b: the collapsed model (tolerance ~ 1: no uniformity left) has the HIGHEST effective rank: centring
# leaves only its isotropic jitter (a flat spectrum).
assert collapsed["tolerance"] > 0.99 and collapsed["effective_rank"] > sweep["effective_rank"].max()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4 · What the embeddings look like: t-SNE per temperature
#
# t-SNE (van der Maaten & Hinton) of the normalised test embeddings, seed 0, coloured by the digit class the model
# never saw. t-SNE keeps neighbourhoods, not distances: clusters that look equally far apart need not be, and the
# sizes of clusters mean little. Read it for *which digits share a neighbourhood*.
#
# **Predict first:** which panel will show the tightest, best separated digit clusters, given check 2c?

# %% slideshow={"slide_type": "fragment"}
fig, axes = plt.subplots(1, len(temperatures), figsize=(3.1 * len(temperatures) + 1, 3.3))
for k, (ax, tau) in enumerate(zip(axes, temperatures)):
    viz.embedding_scatter(unit(embeddings["ntxent", tau, 0]), views.y_test, ax=ax, method="tsne", s=5,
                          title=f"NT-Xent, τ = {tau}", legend=k == len(temperatures) - 1)
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5 · Positive and negative similarities during training
#
# `train.fit(..., record=("views",))` keeps the embeddings of the same two augmented views of 256 test digits after every
# epoch. Red: the similarity of the two views of one digit (positives); blue: of views of different digits (negatives,
# same-class ones included: the model does not know the classes). Seed 0, $\tau = 0.2$:

# %% slideshow={"slide_type": "fragment"}
dist = analysis.similarity_distributions(view_runs[0.2, 0].snapshots["views"], epochs=[0, 2, 10])
viz.similarity_histograms(dist);

# %% slideshow={"slide_type": "fragment"}
# Check 5a: training pushes the negatives apart and opens the positive-negative gap (every seed, tau = 0.2).
gaps = {}
for seed in SEEDS:
    d = analysis.similarity_distributions(view_runs[0.2, seed].snapshots["views"], epochs=[0, 10])
    means = d.groupby(["epoch", "pair"])["similarity"].mean().unstack()
    gaps[seed] = means
    assert means.loc[10, "negative"] < means.loc[0, "negative"] - 0.6
    assert (means.loc[10, "positive"] - means.loc[10, "negative"]) > (means.loc[0, "positive"] - means.loc[0, "negative"]) + 0.5
display(pd.concat(gaps, names=["seed"]).round(3))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Temperature in the distributions.** At the end of training compare $\tau = 0.07$ with $\tau = 1$. Section 1 predicts
# that a tiny $\tau$ pushes only the hardest negatives: the bulk should stay similar to the anchor.

# %% slideshow={"slide_type": "fragment"}
final = []
for seed in SEEDS:
    for tau in (0.07, 1.0):
        s = analysis.view_similarities(view_runs[tau, seed].snapshots["views"][-1])
        final.append({"seed": seed, "temperature": tau, "positive mean": s["positive"].mean().item(),
                      "negative mean": s["negative"].mean().item(), "negative std": s["negative"].std().item()})
final = pd.DataFrame(final).set_index(["seed", "temperature"])
display(final.groupby("temperature").mean().round(3))
# Check 5b: tau = 0.07 leaves the negatives closer together (higher mean, narrower spread) than tau = 1, every seed.
for seed in SEEDS:
    assert final.loc[(seed, 0.07), "negative mean"] > final.loc[(seed, 1.0), "negative mean"] + 0.2
    assert final.loc[(seed, 0.07), "negative std"] < final.loc[(seed, 1.0), "negative std"]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Feature transformation (Zhu et al.).** *Positive extrapolation* moves the two views of a digit apart
# ($\hat z_1 = \lambda z_1 + (1-\lambda) z_2$ with $\lambda \sim 1 + \mathrm{Beta}(\alpha, \alpha)$), making positives harder;
# *negative interpolation* adds mixtures of two negatives. What the loss would see (seed 0, $\tau = 0.2$):

# %% slideshow={"slide_type": "fragment"}
snap = view_runs[0.2, 0].snapshots["views"][-1]
plain = analysis.view_similarities(snap)
ft = analysis.view_similarities(snap, extrapolation=1.0, interpolation=1.0, generator=torch.Generator().manual_seed(0))
viz.histograms({"positives": plain["positive"], "extrapolated positives": ft["positive"],
                "interpolated negatives": ft["negative"][len(plain["negative"]):]}, xlabel="cosine similarity");
# Check 5c: extrapolation lowers the positives' similarity (every seed).
for seed in SEEDS:
    s = view_runs[0.2, seed].snapshots["views"][-1]
    before = analysis.view_similarities(s)["positive"].mean()
    after = analysis.view_similarities(s, extrapolation=1.0, generator=torch.Generator().manual_seed(0))["positive"].mean()
    print(f"seed {seed}: positive mean {before:.3f} -> {after:.3f} after extrapolation")
    assert after < before

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6 · When hard negatives are too few: a collapse
#
# The hard loss needs enough negatives. From a small MLP's initialisation, where all embeddings point roughly the same
# way, keeping only $k = 16$ negatives stalls at the collapsed saddle point: every embedding nearly equal, every
# similarity $\approx 1$, so each anchor's loss is $-\log\frac{e^{1/\tau}}{e^{1/\tau} + 16\,e^{1/\tau}} = \log 17$
# with no gradient out (the section-3 "collapsed" model is seed 0 of this run).

# %% slideshow={"slide_type": "fragment"}
# Check 6: with k = 16 the loss sits at log 17 and the embedding is collapsed, on every seed.
for seed in SEEDS:
    model = models.MLP(64, 32, hidden=(128,), seed=seed)
    hist = train.fit(model, losses.get("hard_contrastive", temperature=0.2, k=16), views, epochs=4, lr=3e-3,
                     batch_size=128, seed=seed, record=(), evaluate_every=None, verbose=False)
    with torch.no_grad():
        m = analysis.contrastive_metrics(model(views.X_test), views.y_test)
    print(f"seed {seed}: final loss {hist.last['loss']:.4f} (log 17 = {math.log(17):.4f}),",
          {k: round(v, 3) for k, v in m.items()})
    assert abs(hist.last["loss"] - math.log(17)) < 0.02 and m["uniformity"] > -0.05

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# **Exercise 2 (uniformity of a collapse).** What is the uniformity $\log\mathbb{E}\,e^{-2\lVert\hat z_i-\hat z_j\rVert^2}$
# of an embedding where every point is the same unit vector? And of two antipodal clusters of equal size? Compare with
# the collapsed model of section 6.
#
# **Exercise 3 (the hard loss at small $\tau$).** Predict: does the hard contrastive loss still beat NT-Xent at
# $\tau = 0.2$? Then run it (one seed takes a few seconds) and say whether one seed is enough to answer.
#
# **Exercise 4 (effective rank vs scale).** Multiply the centred NT-Xent embedding by 10, then add a vector of norm 100
# to every point. What happens to the effective rank? To the uniformity of the normalised embedding?

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution 2: identical points: every distance is 0, uniformity = log 1 = 0 (the collapsed model reaches ~0).
# Two antipodal halves: half the pairs at distance^2 = 0 (same cluster), half at 4: log(0.5 + 0.5 e^-8) ≈ -0.69.
print("two antipodal clusters:", round(math.log(0.5 + 0.5 * math.exp(-8)), 3))

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution 3: run both at tau = 0.2 on one seed, then on the three seeds before concluding.
for name in ("ntxent", "hard_contrastive"):
    model = models.MLP(64, 32, hidden=(128,), seed=0)
    hist = train.fit(model, losses.get(name, temperature=0.2), views, epochs=10, lr=3e-3, batch_size=128, seed=0,
                     record=(), evaluate_every=10, verbose=False)
    print(name, round(hist.last["test_acc"], 3))
# One seed is not enough: the seed-to-seed spread of kNN in the table of section 2 is about 0.01, the size of
# the gap you are trying to read.

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution 4: the effective rank is unchanged: centring removes the shift, and p_k = sigma_k / sum sigma
# is scale-free. The uniformity of the *normalised* embedding changes, because normalising after the shift
# maps every point close to the shift's direction (a near-collapse).
z = unit(embeddings["ntxent", 0.2, 0])
moved = 10 * (z - z.mean(0)) + 100 * torch.nn.functional.normalize(torch.ones(32), dim=0)
print("effective rank", round(analysis.effective_rank(z), 3), "->", round(analysis.effective_rank(moved), 3))
print("uniformity", round(float(analysis.uniformity(z)), 3), "->", round(float(analysis.uniformity(unit(moved))), 3))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# Measured on the digits (MLP 64→128→32, 10 epochs, batch 128, Adam 3e-3, seeds 0, 1, 2; numbers are means over seeds).
#
# * **Temperature sets where the push goes.** The relative penalty $r_k$ is a softmax over the negatives at temperature
#   $\tau$; its entropy rises from 0.09 nats at τ = 0.07 (the hardest negative takes more than 98 % of the push) to
#   1.53 nats at τ = 1 (log 5 = 1.61). → *Check 1*.
# * **Reproduced: from τ = 0.2 upwards uniformity is lost.** Uniformity −2.37 (τ = 0.2), −2.20 (0.5), −2.00 (1.0);
#   kNN falls with it. → *Check 2a*.
# * **Not reproduced: tolerance growing with τ.** Tolerance is 0.77 at τ = 0.07 and level at 0.64–0.65 from 0.2 to 1.0
#   (every seed within 0.03). → *Check 2b*.
# * **Not reproduced: "a moderate temperature is best".** kNN accuracy falls at every step: 0.930 (τ = 0.07), 0.919,
#   0.873, 0.821 (τ = 1). → *Check 2c*.
# * **The hard contrastive loss keeps τ = 1 usable.** kNN 0.870 and uniformity −2.21 against NT-Xent's 0.821 and −2.00,
#   on every seed. → *Check 2d*.
# * **Effective rank falls with τ (15.3 → 12.1 → 10.2 from 0.2 to 1.0) and is highest for a collapsed model** (24.7 of
#   32), because it is scale-free and measured after centring: a collapsed model's tiny jitter has a flat spectrum.
#   → *Checks 3a, 3b*, and the spectrum figure.
# * **A small τ leaves the bulk of the negatives close.** After training, the mean negative similarity is about 0.4 at
#   τ = 0.07 against about 0.0 at τ = 1, with a narrower spread; training at τ = 0.2 moves the negatives from about 0.72 to 0.03 and opens
#   the positive/negative gap from about 0.03 to about 0.69; positive extrapolation makes positives harder. → *Checks 5a–5c*.
# * **Too few hard negatives collapse.** With k = 16 the loss sits at log 17 = 2.833 on every seed with uniformity ≈ 0.
#   → *Check 6*.
#
# ## References
#
# Wang & Liu 2021 ([arXiv:2012.09740](https://arxiv.org/abs/2012.09740)); Chen et al. 2020
# ([arXiv:2002.05709](https://arxiv.org/abs/2002.05709)); Wang & Isola 2020 ([arXiv:2005.10242](https://arxiv.org/abs/2005.10242));
# Zhu et al. 2021 ([arXiv:2108.02982](https://arxiv.org/abs/2108.02982)); Roy & Vetterli 2007 (effective rank, EUSIPCO);
# van der Maaten & Hinton 2008 ([JMLR](https://jmlr.org/papers/v9/vandermaaten08a.html)).
#
# [← 03 · Imbalanced binary classification](03_imbalanced_binary.ipynb) · [series index](README.md) · [05 · Beyond InfoNCE →](05_beyond_infonce.ipynb)
