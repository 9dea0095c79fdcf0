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
# # 18 · Comparing learned representations: CKA, unit matching, relative representations, Loki, transduction
#
# [← 17 · Energy, clustering and generative objectives](17_energy_clustering_generative.ipynb) · [the series index →](README.md)
#
# Every earlier notebook trained a network with some loss and looked at *one* embedding. This one asks how much two
# trained networks agree, and how to use what they share: the same encoder trained with four losses from the series
# (cross-entropy, NormFace, SupCon, Multi-Similarity) and three seeds each, compared with the standard tools.
#
# **What you will learn**
# 1. To compute and read **linear CKA**, and why it is invariant to rotations and scaling but not to every linear map.
# 2. To match the **units** of two networks by correlation (Hungarian one-to-one vs many-to-one), against an untrained
#    baseline.
# 3. Why a head trained on one network cannot read another's embedding, and how **relative representations** (cosines
#    to shared anchors) make zero-shot stitching work.
# 4. Two ways to use several networks or a label metric: **concatenating seeds** for unseen classes, and **Loki**'s
#    Fréchet-mean prediction, which can name a class the model never saw.
# 5. **Transductive** few-shot: clustering the queries with the supports held fixed, against nearest prototypes.
#
# **Prerequisites**: notebooks 00 (a loss shapes an embedding), 01 (cross-entropy), 07-09 (metric learning, margins);
# linear algebra (Frobenius norm, orthogonal matrices). **Time**: about 45 minutes (runs in about a minute).
#
# **Papers**
# - S. Kornblith, M. Norouzi, H. Lee, G. Hinton. *Similarity of Neural Network Representations Revisited.* ICML 2019. [arXiv:1905.00414](https://arxiv.org/abs/1905.00414)
# - Y. Li, J. Yosinski, J. Clune, H. Lipson, J. Hopcroft. *Convergent Learning: Do different neural networks learn the same representations?* ICLR 2016. [arXiv:1511.07543](https://arxiv.org/abs/1511.07543)
# - L. Moschella et al. *Relative representations enable zero-shot latent space communication.* ICLR 2023. [arXiv:2209.15430](https://arxiv.org/abs/2209.15430)
# - J. Zhang, L. Bottou. *Learning useful representations for shifting tasks and distributions.* ICML 2023. [arXiv:2212.07346](https://arxiv.org/abs/2212.07346)
# - N. Roberts et al. *Geometry-Aware Adaptation for Pretrained Models* (Loki). NeurIPS 2023. [arXiv:2307.12226](https://arxiv.org/abs/2307.12226)
# - I. Ziko, M. Boudiaf, J. Dolz, E. Granger, I. Ben Ayed. *Transductive Few-Shot Learning: Clustering is All You Need?* 2021. [arXiv:2106.09516](https://arxiv.org/abs/2106.09516)

# %% slideshow={"slide_type": "skip"}
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from scipy.sparse.csgraph import minimum_spanning_tree

from workbench import analysis, data, kinds, losses, models, train, viz, widgets

torch.set_num_threads(1)  # tiny models: one thread is fastest and bit-reproducible
plt.rcParams["figure.dpi"] = 80
START = time.perf_counter()
SEEDS = (0, 1, 2)
DIM = 16
full = data.digit_views(seed=0, image=False)      # flat digits with an augmentation (SupCon needs two views)
digits = data.unseen_classes(full, seen=6)        # train on digits 0-5; 6-9 are never seen in training
print(digits)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · Twelve networks: four losses, three seeds
#
# One encoder (MLP 64→128→64→16), one recipe (10 epochs, Adam 3·10⁻³, batch 128), four losses from the series:
# cross-entropy on a linear head (notebook 01), NormFace (09), SupCon (05) and Multi-Similarity (07). The embedding we
# compare is the encoder's 16-d output, on the test digits 0-5 and every digit 6-9.

# %% slideshow={"slide_type": "-"}
LOSSES = ("cross_entropy", "normface", "supcon", "multi_similarity")


def make(name: str, seed: int, dim: int = DIM, hidden=(128, 64)):
    """A fresh model and loss of ``name``'s kind, as the kind builds them."""
    kind = kinds.get(losses.info(name).kind)
    model = models.for_kind(kind.name, 64, digits.num_classes, embedding_dim=dim, hidden=hidden, seed=seed)
    return model, losses.get(name, **kind.loss_args(classes=digits.num_classes, dim=dim))


def trained(name: str, seed: int, **kw):
    model, loss = make(name, seed, **kw)
    train.fit(model, loss, digits, epochs=10, lr=3e-3, batch_size=128, seed=seed, verbose=False, record=(),
              evaluate_every=None)  # fit's own probe is not read: the representations are compared below
    return model.eval()


def embed(model, X):
    with torch.no_grad():
        return models.embed(model, X).double()


nets = {(name, seed): trained(name, seed) for name in LOSSES for seed in SEEDS}
X_eval = torch.cat([digits.X_test, digits.meta["X_unseen"]])
y_eval = torch.cat([digits.y_test, digits.meta["y_unseen"]])
Z = {key: embed(net, X_eval) for key, net in nets.items()}
untrained = {name: embed(make(name, 100 + seed)[0].eval(), X_eval) for seed, name in enumerate(LOSSES)}
print(f"12 networks trained in {time.perf_counter() - START:.0f} s")

# %% [markdown] slideshow={"slide_type": "subslide"}
# Two seeds of the same loss, drawn with PCA: the digits form the same clusters, but in different places and
# orientations. A head trained on the left picture would misread the right one: this is the problem of sections 3-4.

# %% slideshow={"slide_type": "-"}
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, seed in zip(axes, (0, 1)):
    viz.embedding_scatter(Z["cross_entropy", seed], y_eval, ax=ax, title=f"cross-entropy, seed {seed}",
                          legend=seed == 1)
viz.theme.finish(fig)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · CKA: which losses learn the same thing?
#
# Centre each representation's columns ($X \in \mathbb R^{n\times d_1}$, $Y \in \mathbb R^{n\times d_2}$, same $n$ samples)
# and compare their Gram matrices $K = XX^\top$, $L = YY^\top$ with the centring $H = I - \tfrac1n\mathbf 1\mathbf 1^\top$:
#
# $$\mathrm{CKA}(X, Y) = \frac{\langle HKH, HLH\rangle_F}{\lVert HKH\rVert_F\,\lVert HLH\rVert_F}
#   = \frac{\lVert Y^\top X\rVert_F^2}{\lVert X^\top X\rVert_F\,\lVert Y^\top Y\rVert_F}\quad\text{(centred } X, Y).$$
#
# The second form follows from $\langle XX^\top, YY^\top\rangle_F = \operatorname{tr}(XX^\top YY^\top) = \lVert Y^\top X\rVert_F^2$.
# Replace $X$ by $XQ$ with $Q$ orthogonal: $XQ(XQ)^\top = XX^\top$, so nothing changes; scaling $X$ by $c$ scales
# numerator and denominator by $c^2$. A stretch of one axis changes $XX^\top$ and therefore CKA: it is *not* invariant to
# every invertible map (CCA is, and that is why it cannot tell a network from a rescaled random projection of itself).
#
# **Predict, then move the sliders.** Below, $Y$ is a copy of a trained embedding, rotated in its first two axes by an
# angle and with its first axis stretched. Which slider moves CKA$(X, Y)$ away from 1? Guess before you touch them.

# %% slideshow={"slide_type": "subslide"}
base = Z["cross_entropy", 0][::3]  # every third sample: the widget redraws in well under a second


def transformed(angle: float, stretch: float) -> torch.Tensor:
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    rotation = torch.eye(DIM, dtype=torch.float64)
    rotation[:2, :2] = torch.tensor([[c, -s], [s, c]])
    scale = torch.ones(DIM, dtype=torch.float64)
    scale[0] = stretch
    return base @ rotation * scale


STRETCHES = np.geomspace(0.05, 20, 17)


def invariance_curve(angle, stretch):
    """CKA against the stretch at this angle, CKA at the sliders' stretch, and the title."""
    curve = [analysis.cka(base, transformed(angle, float(t))) for t in STRETCHES]
    return curve, analysis.cka(base, transformed(angle, stretch)), f"rotation {angle:.0f}°, stretch {stretch:.2f}"


def draw_invariance(angle, stretch):
    curve, at_sliders, title = invariance_curve(angle, stretch)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(STRETCHES, curve, label="linear CKA")
    ax.plot([stretch], [at_sliders], "o", c="C3", label="sliders")
    ax.set(xscale="log", ylim=(0, 1.05), xlabel="stretch of axis 1", ylabel="CKA(X, Y)", title=title)
    viz.theme.legend_outside(ax)
    return viz.theme.finish(fig)


def move_invariance(fig, angle, stretch):  # the same figure for other sliders: new points, no new layout
    curve, at_sliders, title = invariance_curve(angle, stretch)
    line, dot = fig.axes[0].lines
    line.set_ydata(curve)
    dot.set_data([stretch], [at_sliders])
    fig.axes[0].set_title(title)


invariance = widgets.FigureExplorer(draw_invariance, update_figure=move_invariance,
                                    angle=losses.Param(0.0, 0.0, 180.0),
                                    stretch=losses.Param(1.0, 0.05, 20.0, log=True))
display(invariance)

# %% slideshow={"slide_type": "fragment"}
# Check 2a: rotation and isotropic scaling leave CKA at 1; a stretch of one axis does not.
assert abs(analysis.cka(base, 3.0 * transformed(73.0, 1.0)) - 1) < 1e-9
assert analysis.cka(base, transformed(0.0, 10.0)) < 0.9

# %% [markdown] slideshow={"slide_type": "subslide"}
# The loss × loss matrix: mean linear CKA over the seed pairs (the diagonal compares *different* seeds of one loss).

# %% slideshow={"slide_type": "-"}
pairs_cka = pd.DataFrame([
    {"a": a, "b": b, "seed_a": s, "seed_b": t, "cka": analysis.cka(Z[a, s], Z[b, t])}
    for i, a in enumerate(LOSSES) for b in LOSSES[i:] for s in SEEDS for t in SEEDS if (a, s) < (b, t)])
matrix = pairs_cka.groupby(["a", "b"])["cka"].mean().unstack().reindex(index=LOSSES, columns=LOSSES)
matrix = matrix.combine_first(matrix.T)
random_cka = {name: float(np.mean([analysis.cka(Z[name, s], untrained[name]) for s in SEEDS])) for name in LOSSES}

fig, ax = plt.subplots(figsize=(5.2, 4))
im = ax.imshow(matrix.values, vmin=0, vmax=1, cmap="viridis")
for (i, j), v in np.ndenumerate(matrix.values):
    ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w" if v < 0.6 else "k", fontsize=9)
ax.set(xticks=range(4), yticks=range(4), xticklabels=LOSSES, yticklabels=LOSSES, title="mean linear CKA")
plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
viz.theme.colourbar(fig, im, ax, r"$\mathrm{CKA}$")
viz.theme.finish(fig)
plt.show()
print("CKA to an untrained network of the same architecture:", {k: round(v, 2) for k, v in random_cka.items()})

# %% slideshow={"slide_type": "fragment"}
# Check 2b: every loss agrees with itself across seeds more than with an untrained network, on every seed pair.
for name in LOSSES:
    same = pairs_cka.query("a == b == @name")["cka"]
    assert same.min() > max(analysis.cka(Z[name, s], untrained[name]) for s in SEEDS), name
# Check 2c: the two classifiers (cross-entropy, NormFace) are closer to each other than either is to SupCon, on
# every seed pair: the losses with a class head learn one geometry, the augmentation-driven SupCon another.
for s in SEEDS:
    for t in SEEDS:
        ce_nf = analysis.cka(Z["cross_entropy", s], Z["normface", t])
        assert ce_nf > analysis.cka(Z["cross_entropy", s], Z["supcon", t]), (s, t)
        assert ce_nf > analysis.cka(Z["normface", s], Z["supcon", t]), (s, t)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · Convergent learning: do the units match?
#
# CKA compares whole spaces. Li et al. ask about single units: correlate every unit of network A with every unit of
# network B over the same inputs (Pearson), then match them. **One-to-one**: the maximum-weight bipartite matching
# (Hungarian method) on the correlation matrix, each unit used once. **Many-to-one**: each unit of A to its best unit
# of B. The baseline the matching must beat is not a random permutation (the Hungarian matching beats every
# permutation by construction) but the same matching against an *untrained* network.

# %% slideshow={"slide_type": "-"}
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for name, colour in zip(("cross_entropy", "supcon"), ("C0", "C2")):
    for method, style in (("one_to_one", "-"), ("many_to_one", ":")):
        ax.plot(analysis.match_units(Z[name, 0], Z[name, 1], method=method)["correlation"], style, c=colour,
                label=f"{name}: seed 0 vs 1, {method}")
    ax.plot(analysis.match_units(Z[name, 0], untrained[name])["correlation"], "--", c=colour, alpha=0.6,
            label=f"{name}: vs untrained, one_to_one")
ax.set(xlabel="unit of network A (best matched first)", ylabel="correlation with its match")
viz.theme.legend_outside(ax)
viz.theme.finish(fig)
plt.show()

# %% slideshow={"slide_type": "fragment"}
# Check 3: on every loss and every seed pair, the one-to-one matched units of two trained networks correlate more
# (on average) than the matched units of a trained and an untrained one; many-to-one is never below one-to-one.
unit_rows = []
for name in LOSSES:
    for s in SEEDS:
        t = (s + 1) % 3
        one = analysis.match_units(Z[name, s], Z[name, t])["correlation"].mean().item()
        many = analysis.match_units(Z[name, s], Z[name, t], method="many_to_one")["correlation"].mean().item()
        rand = analysis.match_units(Z[name, s], untrained[name])["correlation"].mean().item()
        unit_rows.append({"loss": name, "seeds": f"{s}-{t}", "trained": one, "many_to_one": many, "untrained": rand})
        assert one > rand and many >= one - 1e-12, (name, s)
units = pd.DataFrame(unit_rows)
units.groupby("loss", sort=False)[["trained", "many_to_one", "untrained"]].mean().round(3)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4 · Relative representations and zero-shot stitching
#
# Pick $|A|$ anchor samples and describe every sample by its cosines to them:
# $r(x) = \big[\cos(e_x, e_{a_1}), \dots, \cos(e_x, e_{a_{|A|}})\big]$. If $e' = cQe$ with $Q$ orthogonal and
# $c > 0$, then $\cos(e'_x, e'_a) = \frac{c^2 e_x^\top Q^\top Q e_a}{c\lVert e_x\rVert\, c\lVert e_a\rVert} = \cos(e_x, e_a)$:
# two networks whose spaces differ by an angle-preserving map give the *same* relative representation.
#
# **Zero-shot stitching**: fit a linear head on network A's train embeddings, then feed it network B's test embeddings
# (same inputs, B's encoder). In the absolute space B's axes are not A's; in the relative space (64 anchors, the same
# training digits embedded by each network) they can be.

# %% slideshow={"slide_type": "-"}
def embeddings_of(net):
    return embed(net, digits.X_train), embed(net, digits.X_test)


stitch = []
for name in LOSSES:
    for s in SEEDS:
        t = (s + 1) % 3
        (a_train, a_test), (b_train, b_test) = embeddings_of(nets[name, s]), embeddings_of(nets[name, t])
        scores = analysis.stitching_accuracy(a_train, a_test, b_train, b_test, digits.y_train, digits.y_test,
                                             anchors=64, seed=s)
        stitch.append({"loss": name, "seeds": f"{s}→{t}", **scores})
stitch = pd.DataFrame(stitch)
stitch_mean = stitch.groupby("loss", sort=False)[["absolute_same", "absolute_stitched", "relative_same",
                                                   "relative_stitched"]].mean()
viz.grouped_bars(stitch_mean, ylabel="test accuracy (digits 0-5)", title="head from seed s, embeddings of seed s+1")
plt.show()
stitch_mean.round(3)

# %% slideshow={"slide_type": "fragment"}
# Check 4: on every loss and seed pair, stitching works in the relative space and fails in the absolute one
# (by at least 0.4), and relative stitching keeps at least 80 % of the head's own accuracy.
assert (stitch.relative_stitched > stitch.absolute_stitched + 0.4).all()
assert (stitch.relative_stitched > 0.8 * stitch.relative_same).all()

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 1.** Relative representations are invariant to rotations and scaling of the latent space. (a) Which
# transformation of network B's embedding would break relative stitching but not absolute stitching? (b) Check it:
# shift B's embeddings by a constant vector of norm 10 and recompute `stitching_accuracy` for cross-entropy, seeds 0→1.

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution 1: a translation. Cosines are measured from the origin, so shifting every embedding (anchors included)
# by a large constant vector squeezes all cosines towards 1; an absolute linear head only sees a constant offset
# added to its logits and (when it stitches at all) keeps its ranking of classes.
(a_train, a_test), (b_train, b_test) = embeddings_of(nets["cross_entropy", 0]), embeddings_of(nets["cross_entropy", 1])
shift = 10 * torch.nn.functional.normalize(torch.ones(DIM, dtype=torch.float64), dim=0)
print("same network, shifted:", {k: round(v, 3) for k, v in analysis.stitching_accuracy(
    a_train, a_test, a_train + shift, a_test + shift, digits.y_train, digits.y_test).items()})
print("seed 1, shifted:      ", {k: round(v, 3) for k, v in analysis.stitching_accuracy(
    a_train, a_test, b_train + shift, b_test + shift, digits.y_train, digits.y_test).items()})

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5 · Several seeds for classes never seen: concatenate, or one wide network?
#
# Zhang & Bottou argue that a network trained once keeps only the features its training task needs; several seeds keep
# *different* ones, so concatenating their representations transfers better to a new task than one network of the
# same total width. Test: three cross-entropy networks of width 16 (the seeds of section 1) concatenated into 48
# dimensions, against one network 3× wider (64→384→192→48), each probed linearly on digits 6-9 (half of those digits
# to fit the probe, half to score it). Three repetitions: the concatenation of seeds 0-2 plus two more triples.

# %% slideshow={"slide_type": "-"}
X_new, y_new = digits.meta["X_unseen"], digits.meta["y_unseen"]
split = torch.randperm(len(y_new), generator=torch.Generator().manual_seed(0))
fit_idx, score_idx = split[: len(y_new) // 2], split[len(y_new) // 2:]


def probe(z):
    return analysis.linear_probe(z[fit_idx], y_new[fit_idx], z[score_idx], y_new[score_idx])


triples = [[nets["cross_entropy", s] for s in SEEDS]] + [
    [trained("cross_entropy", 10 + 3 * r + k) for k in range(3)] for r in (1, 2)]
concat_rows = []
for r, triple in enumerate(triples):
    wide = trained("cross_entropy", 50 + r, dim=3 * DIM, hidden=(384, 192))
    concat_rows.append({"repetition": r, "one network (16)": probe(embed(triple[0], X_new)),
                        "3 seeds concatenated (48)": probe(torch.cat([embed(m, X_new) for m in triple], 1)),
                        "one wide network (48)": probe(embed(wide, X_new))})
concat = pd.DataFrame(concat_rows).set_index("repetition")
concat.round(3)

# %% slideshow={"slide_type": "fragment"}
# Check 5: on every repetition the concatenated seeds beat both one narrow network and one wide network.
assert (concat["3 seeds concatenated (48)"] > concat["one wide network (48)"]).all()
assert (concat["3 seeds concatenated (48)"] > concat["one network (16)"]).all()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6 · Loki: predicting through the Fréchet mean of a label metric
#
# A classifier trained on digits 0-5 outputs $P(\lambda\mid x)$ over those six classes only. Given a metric $d$ on all
# ten labels, Loki predicts the label that minimises the expected squared distance to the model's belief:
#
# $$\hat y(x) = \arg\min_{y\in\mathcal Y}\ \sum_{\lambda\in\Lambda} P(\lambda\mid x)\, d(y, \lambda)^2 .$$
#
# With the discrete metric ($d = 1$ between any two labels) the sum is $1 - P(y\mid x)$ for an observed $y$ and $1$ for
# any other, so Loki is the argmax. With a real metric a label *between* two likely classes can win, even one never
# observed. Our metric, fixed before any training: the minimum spanning tree of the ten class-mean images (raw
# pixels of the training split), each edge of length 1.

# %% slideshow={"slide_type": "-"}
means = torch.stack([full.X_train[full.y_train == c].mean(0) for c in range(10)]).double()
tree = minimum_spanning_tree(torch.cdist(means, means).numpy()).tocoo()
edges = list(zip(tree.row.tolist(), tree.col.tolist()))
label_metric = analysis.graph_distances(edges, 10)
print("tree edges:", sorted(tuple(sorted(e)) for e in edges))

loki_rows = []
for s in SEEDS:
    with torch.no_grad():
        probs = nets["cross_entropy", s].eval()(X_eval).softmax(1).double()
    argmax, loki = probs.argmax(1), analysis.frechet_predict(probs, label_metric)
    for rule, pred in (("argmax", argmax), ("Loki", loki)):
        loki_rows.append({"seed": s, "rule": rule,
                          "E[d²]": analysis.expected_squared_distance(pred, y_eval, label_metric),
                          "accuracy, all digits": float((pred == y_eval).double().mean()),
                          "predicts an unseen digit": float((pred >= 6).double().mean())})
loki_table = pd.DataFrame(loki_rows)
loki_table.groupby("rule")[["E[d²]", "accuracy, all digits", "predicts an unseen digit"]].mean().round(3)

# %% slideshow={"slide_type": "fragment"}
# Check 6: on every seed Loki lowers the expected squared label distance and raises the accuracy over all ten
# digits (argmax can never name digits 6-9; Loki sometimes names them correctly).
wide_loki = loki_table.pivot(index="seed", columns="rule")
assert (wide_loki["E[d²]"]["Loki"] < wide_loki["E[d²]"]["argmax"]).all()
assert (wide_loki["accuracy, all digits"]["Loki"] > wide_loki["accuracy, all digits"]["argmax"]).all()

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 2.** (a) Show that with the discrete metric Loki's prediction is the argmax (hint: write
# $\sum_\lambda P(\lambda)\,d(y,\lambda)^2$ for an observed $y$). (b) Run it: `analysis.frechet_predict(probs, 1 - torch.eye(6))`
# on seed 0's probabilities.

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution 2: for observed y the sum is sum_{l != y} P(l) = 1 - P(y), minimised by the most probable class.
with torch.no_grad():
    probs = nets["cross_entropy", 0](X_eval).softmax(1).double()
print("equal to argmax on every sample:",
      torch.equal(analysis.frechet_predict(probs, 1 - torch.eye(6, dtype=torch.float64)), probs.argmax(1)))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7 · Transductive few-shot: cluster the queries
#
# Few-shot on the unseen digits 6-9: 4-way 1-shot episodes with 15 queries per class. **Inductive** (ProtoNet): each
# query goes to the nearest support prototype. **Transductive** (Ziko et al., with the Laplacian weight 0 as their
# code's `lap_bound=False`): K-means over the queries with the supports' assignments held fixed, the centres started at
# the prototypes, and the code's query shift (query mean moved onto the support mean). Same episodes for both.

# %% slideshow={"slide_type": "-"}
EPISODES = dict(n_way=4, shot=1, queries=15, episodes=40)
fewshot = pd.DataFrame([
    {"loss": name, "seed": s,
     "inductive": analysis.prototype_accuracy(embed(nets[name, s], X_new), y_new, seed=s, **EPISODES),
     "transductive": analysis.transductive_accuracy(embed(nets[name, s], X_new), y_new, seed=s, **EPISODES)}
    for name in LOSSES for s in SEEDS])
fewshot["gain"] = fewshot.transductive - fewshot.inductive
fewshot.groupby("loss", sort=False)[["inductive", "transductive", "gain"]].mean().round(3)

# %% slideshow={"slide_type": "fragment"}
# Check 7 (the paper's claim did NOT reproduce here): averaged over losses and seeds, clustering the queries changes
# 4-way 1-shot accuracy on the unseen digits by less than 3 points, and it does not help on every network.
assert abs(fewshot.gain.mean()) < 0.03
assert (fewshot.gain < 0).any()

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Why not?** Transduction helps when the queries form clusters that the one-shot prototypes place badly. Here the
# unseen digits are poorly clustered by encoders trained on other digits (the inductive accuracy is 0.45-0.70): K-means
# then moves the centres into the overlaps as often as out of them. The paper's gains are measured on backbones trained
# on many base classes (miniImageNet), whose features cluster new classes well, and with the Laplacian term (λ = 0.7),
# which we left out. An honest reading: "clustering is all you need" needs features that cluster.
#
# **Exercise 3.** Try 5-shot episodes (`shot=5`) for SupCon, the best-clustered encoder. Does the gain change sign?

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution 3 (one seed; read the numbers, not a rule)
z = embed(nets["supcon", 0], X_new)
kw = dict(n_way=4, shot=5, queries=15, episodes=40, seed=0)
print("inductive", round(analysis.prototype_accuracy(z, y_new, **kw), 3),
      "transductive", round(analysis.transductive_accuracy(z, y_new, **kw), 3))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# Measured on the digits (train on 0-5; MLP 64→128→64→16, 10 epochs, seeds 0, 1, 2; see the tables for the numbers).
#
# * **CKA is invariant to rotations and isotropic scaling, not to stretching one axis.** → *Check 2a* and the widget.
# * **Every loss learns a representation closer to its own other seeds than to an untrained network**, and the two
#   losses with a class head (cross-entropy, NormFace) agree more with each other than with SupCon, on every seed pair.
#   → *Checks 2b, 2c*, the CKA matrix.
# * **Units of two trained networks match better than units of a trained and an untrained one**, one-to-one and
#   many-to-one. → *Check 3*.
# * **Zero-shot stitching works in the relative space and fails in the absolute one** (the paper's claim reproduced),
#   keeping at least 80 % of the head's own accuracy. → *Check 4*.
# * **Concatenating three seeds transfers better to unseen digits than one network three times wider** (Zhang & Bottou's
#   claim reproduced at this scale). → *Check 5*.
# * **Loki lowers the expected squared label distance and names unseen digits** under a pixel-space label tree. → *Check 6*.
# * **Transductive K-means did not beat nearest prototypes here** (not reproduced; the honest note in section 7 says why
#   we think so). → *Check 7*.
#
# ## References
#
# Kornblith et al. 2019 ([arXiv:1905.00414](https://arxiv.org/abs/1905.00414), CKA; official demo in
# google-research/representation_similarity); Li et al. 2016 ([arXiv:1511.07543](https://arxiv.org/abs/1511.07543));
# Moschella et al. 2023 ([arXiv:2209.15430](https://arxiv.org/abs/2209.15430)); Zhang & Bottou 2023
# ([arXiv:2212.07346](https://arxiv.org/abs/2212.07346)); Roberts et al. 2023 ([arXiv:2307.12226](https://arxiv.org/abs/2307.12226));
# Ziko et al. 2021 ([arXiv:2106.09516](https://arxiv.org/abs/2106.09516)).
#
# [← 17 · Energy, clustering and generative objectives](17_energy_clustering_generative.ipynb) · [the series index →](README.md)

# %% slideshow={"slide_type": "skip"}
print(f"notebook ran in {time.perf_counter() - START:.0f} s")
