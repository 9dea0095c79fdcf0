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
# # 00 · Loss Lab in ten minutes
#
# A loss function is a choice about *which pairs of things to pull together and which to push apart, and how
# hard*. We train a 2-D embedding of handwritten digits with two classification losses and look at what each
# one does to the geometry, then we open up two pair-based losses and read their gradient pair by pair.
#
# ### What you will learn
# 1. How cross-entropy and NormFace shape a 2-D embedding differently (length vs angle), measured over three seeds.
# 2. Why NormFace needs a scale $s$, and that its bound is a floor, not a recipe (a run that fails is shown).
# 3. What the **pair weights** $w_{ij} = \partial L/\partial S_{ij}$ of a pair loss are, and how to read them as a heatmap.
# 4. How the contrastive loss and NT-Xent weigh positives and negatives differently (margin vs hardness awareness).
# 5. How a temperature scales cross-entropy's gradient.
#
# **Prerequisites.** Python, PyTorch tensors, softmax and cross-entropy; the cosine similarity. **Time.** About
# 30 minutes to read and run (the notebook itself runs in about a minute on a laptop CPU).
#
# ### Papers
# - Wang, Xiang, Cheng, Yuille. *NormFace: L2 Hypersphere Embedding for Face Verification*. ACM MM 2017.
#   [arXiv:1704.06369](https://arxiv.org/abs/1704.06369)
# - Hadsell, Chopra, LeCun. *Dimensionality Reduction by Learning an Invariant Mapping*. CVPR 2006.
#   [doi:10.1109/CVPR.2006.100](https://doi.org/10.1109/CVPR.2006.100)
# - Chen, Kornblith, Norouzi, Hinton. *A Simple Framework for Contrastive Learning of Visual Representations*
#   (SimCLR). ICML 2020. [arXiv:2002.05709](https://arxiv.org/abs/2002.05709)
# - Wang, Han, Huang, Dong, Scott. *Multi-Similarity Loss with General Pair Weighting for Deep Metric Learning*.
#   CVPR 2019. [arXiv:1904.06627](https://arxiv.org/abs/1904.06627)
# - Wang & Liu. *Understanding the Behaviour of Contrastive Loss*. CVPR 2021.
#   [arXiv:2012.09740](https://arxiv.org/abs/2012.09740)
#
# The package `workbench` does the computing, this notebook does the telling. Every claim in the text is checked
# by an `assert` over three seeds (the cells marked **Check**), so the notebook is also a test.

# %% slideshow={"slide_type": "fragment"}
import numpy as np
import pandas as pd
import torch
import matplotlib.pyplot as plt

from workbench import analysis, data, losses, models, train, viz, widgets

# Tiny models train fastest on one thread, and one thread makes runs bit-identical across machines.
torch.set_num_threads(1)
SEEDS = (0, 1, 2)
digits = data.digits(seed=0)
digits

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · Two ways to classify into a 2-D embedding
#
# Both models share the same encoder, an MLP from the 64 pixels to **2 numbers** $x$, so we can look at the embedding
# directly.
#
# * **Cross-entropy** puts a linear layer on top: logits $z_j = w_j^\top x + b_j$. Multiplying $x$ by $c > 1$
#   multiplies every logit gap $z_y - z_j$ (bias aside) by $c$, so for a correctly classified sample the loss
#   $-\log p_y$ falls: cross-entropy can lower its loss by making embeddings *longer*, not only by turning them.
# * **NormFace** normalises the embedding and the class weights and uses $s\cos\theta_j$ as the logits, so only
#   *angles* matter. The scale $s$ is needed: cosines live in $[-1, 1]$, and the best a sample can do is
#   $\cos\theta_y = 1$ with the other $C-1$ classes spread evenly, which gives
#   $p_y \le e^{s}/\big(e^{s} + (C-1)e^{-s/(C-1)}\big)$. Solving $p_y \ge P$ for $s$ is the paper's bound
#   $s \ge \frac{C-1}{C}\log\frac{(C-1)P}{1-P}$.

# %% slideshow={"slide_type": "fragment"}
print("NormFace scale needed for p=0.99 on 10 classes:", round(losses.normface_scale_bound(10, 0.99), 2))
losses.info("normface")


# %% slideshow={"slide_type": "fragment"}
def train_pair(seed, lr=3e-3, scale=16.0, epochs=30):
    record = ("embeddings", "grad_norm") if seed == 0 else ()  # the pictures below use seed 0
    ce_model = models.classifier(models.MLP(64, embedding_dim=2, seed=seed), 10, seed=seed)
    ce_hist = train.fit(ce_model, losses.get("cross_entropy"), digits, epochs=epochs, lr=lr, batch_size=64,
                        seed=seed, record=record, verbose=False)
    torch.manual_seed(seed)  # the NormFace head owns the class weights: seed them too
    head = losses.get("normface", num_classes=10, embedding_dim=2, scale=scale)
    nf_model = models.MLP(64, embedding_dim=2, seed=seed)
    nf_hist = train.fit(nf_model, head, digits, epochs=epochs, lr=lr, batch_size=64, seed=seed,
                        record=record, verbose=False)
    return (ce_model, ce_hist), (nf_model, nf_hist)

runs = {"cross_entropy": [], "normface": []}
for seed in SEEDS:
    ce_run, nf_run = train_pair(seed)
    runs["cross_entropy"].append(ce_run)
    runs["normface"].append(nf_run)

viz.training_curves({name: r[0][1] for name, r in runs.items()}, ("loss", "test_acc", "grad_norm"));

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the two embeddings look like
#
# Left: cross-entropy's raw 2-D embedding of the test digits. Right: NormFace's embedding, projected to the unit
# circle where its loss lives. Colours are the digit classes.

# %% slideshow={"slide_type": "fragment"}
ce_model, ce_hist = runs["cross_entropy"][0]
nf_model, nf_hist = runs["normface"][0]
with torch.no_grad():
    ce_emb = models.embed(ce_model, digits.X_test)
    nf_emb = torch.nn.functional.normalize(nf_model(digits.X_test), dim=1)

fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
viz.embedding_scatter(ce_emb, digits.y_test, ax=axes[0], title="cross-entropy (raw 2-D), seed 0")
viz.embedding_scatter(nf_emb, digits.y_test, ax=axes[1], sphere=True, title="NormFace (on the circle), seed 0",
                      legend=True)
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### How angularly separated are the classes?
#
# We measure, on the test set and for every seed, with `analysis.class_similarity_stats`:
#
# * `intra`: mean cosine between two test digits of the same class (1 = every class is a single direction);
# * `min_centroid_angle`: the smallest angle between two class-mean directions (10 classes can be at most 36° apart
#   on a circle);
# * `length_spread`: the 95th over the 5th percentile of the raw embedding lengths $\lVert x\rVert$ (for NormFace
#   these are the lengths before normalisation, which its loss ignores).

# %% slideshow={"slide_type": "fragment"}
rows = []
for name, seed_runs in runs.items():
    for seed, (model, history) in zip(SEEDS, seed_runs):
        with torch.no_grad():
            emb = models.embed(model, digits.X_test)
        stats = analysis.class_similarity_stats(emb, digits.y_test)
        lengths = emb.norm(dim=1)
        rows.append({"loss": name, "seed": seed, "test_acc": history.last["test_acc"],
                     "intra": stats["intra"], "min_centroid_angle": stats["min_centroid_angle"],
                     "length_p5": float(lengths.quantile(0.05)), "length_p95": float(lengths.quantile(0.95))})
separation = pd.DataFrame(rows).set_index(["loss", "seed"])
separation["length_spread"] = separation["length_p95"] / separation["length_p5"]
separation.round(3)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-a"></a>**Check A** — NormFace separates by angle, cross-entropy spreads by length (every seed).

# %% slideshow={"slide_type": "fragment"}
ce, nf = separation.loc["cross_entropy"], separation.loc["normface"]
# NormFace's closest two classes are farther apart in angle, and each class is angularly tighter, on every seed;
assert (nf["min_centroid_angle"] > ce["min_centroid_angle"]).all(), separation
assert (nf["intra"] > ce["intra"]).all(), separation
# and its test accuracy is higher on every seed.
assert (nf["test_acc"] > ce["test_acc"]).all(), separation
# Cross-entropy's embedding lengths spread widely: the 95th percentile is more than 3x the 5th on every seed.
assert (ce["length_spread"] > 3).all(), separation
print(f"closest class pair: NormFace {nf['min_centroid_angle'].mean():.1f}° vs cross-entropy "
      f"{ce['min_centroid_angle'].mean():.1f}° (mean over seeds)")
print(f"same-class cosine:  NormFace {nf['intra'].mean():.3f} vs cross-entropy {ce['intra'].mean():.3f}")
print(f"test accuracy:      NormFace {nf['test_acc'].mean():.3f} vs cross-entropy {ce['test_acc'].mean():.3f}")
print(f"cross-entropy lengths, 95th / 5th percentile: {ce['length_spread'].min():.1f} to "
      f"{ce['length_spread'].max():.1f} over seeds")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Honest caveat: the scale bound is a floor, not a recipe
#
# NormFace in two dimensions is sensitive to its scale and learning rate. Six seeds with $s = 20$ and lr $10^{-2}$
# (instead of $s = 16$, lr $3\cdot10^{-3}$). Which seeds fail changes with tiny numerical differences (a change in
# how vectors are normalised moved the failures from seed 0 to seeds 3-5), so we look at six and assert only that
# some fail:

# %% slideshow={"slide_type": "fragment"}
caveat = []
for seed in range(6):
    torch.manual_seed(seed)
    head = losses.get("normface", num_classes=10, embedding_dim=2, scale=20.0)
    model = models.MLP(64, embedding_dim=2, seed=seed)
    history = train.fit(model, head, digits, epochs=30, lr=1e-2, batch_size=64, seed=seed, record=(), verbose=False)
    with torch.no_grad():
        stats = analysis.class_similarity_stats(models.embed(model, digits.X_test), digits.y_test)
    caveat.append({"seed": seed, "test_acc": history.last["test_acc"], "min_centroid_angle": stats["min_centroid_angle"]})
caveat = pd.DataFrame(caveat).set_index("seed")
caveat.round(3)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-b"></a>**Check B** — with $s = 20$, lr $10^{-2}$ at least one seed collapses two classes.

# %% slideshow={"slide_type": "fragment"}
worst = caveat["test_acc"].idxmin()
# At least one of the six seeds ends far worse than every run of the gentle setting: lower accuracy by more than
# 0.1 and a closest class pair narrower than every gentle run's.
assert caveat["test_acc"].min() < nf["test_acc"].min() - 0.1, caveat
assert caveat["min_centroid_angle"].min() < nf["min_centroid_angle"].min(), caveat
print(f"worst run (seed {worst}): accuracy {caveat.loc[worst, 'test_acc']:.2f}, closest class pair "
      f"{caveat.loc[worst, 'min_centroid_angle']:.1f}°; gentle setting: accuracy >= {nf['test_acc'].min():.2f}, "
      f"closest pair >= {nf['min_centroid_angle'].min():.1f}°")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### How the NormFace embedding formed
#
# Snapshots of the raw encoder output for the test digits (seed 0) before training, after 5 epochs and at the end.
# NormFace only looks at the directions: the classes fan out into rays, and the length along a ray is free.

# %% slideshow={"slide_type": "fragment"}
viz.embedding_snapshots(nf_hist, [0, 5, 30], sphere=False);

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 1 (pen and paper).** Show that for a correctly classified sample ($z_y > z_j$ for all $j \ne y$)
# and zero biases, cross-entropy of the logits $c\,z$ decreases as $c$ grows. What happens for a misclassified sample?

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** $\ell(c) = \log\big(1 + \sum_{j\ne y} e^{-c(z_y - z_j)}\big)$. Every exponent has $z_y - z_j > 0$, so each term,
# and $\ell$, falls as $c$ grows, towards 0. For a misclassified sample at least one gap is negative, that term
# grows like $e^{c|z_y - z_j|}$ and $\ell(c) \to \infty$: length helps only where the direction is already right.
# That is why a cross-entropy embedding grows long along correct directions (Check A's `length_spread`).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · The gradient lens: pair weights
#
# A pair-based loss depends on the normalised embeddings $\hat z_i$ only through the cosine-similarity matrix
# $S_{ij} = \hat z_i^\top \hat z_j$. By the chain rule
#
# $$\frac{\partial L}{\partial \hat z_i} = \sum_j \frac{\partial L}{\partial S_{ij}}\,\hat z_j + \sum_j \frac{\partial L}{\partial S_{ji}}\,\hat z_j
# = \sum_j (w_{ij} + w_{ji})\,\hat z_j, \qquad w_{ij} = \frac{\partial L}{\partial S_{ij}},$$
#
# so the gradient is the gradient of $\sum_{ij} w_{ij} S_{ij}$ with the weights held fixed: **every pair loss is a
# way of weighting pairs** (Wang et al. 2019). A gradient-descent step moves $\hat z_i$ along $-\sum_j (w_{ij}+w_{ji})\hat z_j$:
# a negative $w_{ij}$ pulls $i$ towards $j$ (blue cells below), a positive one pushes it away (red cells).
# `analysis.pair_weights` computes $w$ with autograd through each loss's `from_similarity`.
#
# **Two losses, written out.** On the unit sphere $D_{ij} = \lVert\hat z_i - \hat z_j\rVert = \sqrt{2 - 2S_{ij}}$, so
# $\partial D_{ij}/\partial S_{ij} = -1/D_{ij}$.
#
# * **Contrastive loss** as implemented here (the default `squared=False`, the form of pytorch-metric-learning's
#   `ContrastiveLoss`): $\ell^+_{ij} = [D_{ij} - m_+]_+$ on positives, $\ell^-_{ij} = [m_- - D_{ij}]_+$ on negatives,
#   each part averaged over its $n_+$ (resp. $n_-$) pairs with non-zero loss. Hence
#   $w_{ij} = -\frac{1}{n_+ D_{ij}}$ on a positive and $w_{ij} = +\frac{1}{n_- D_{ij}}$ on a negative inside the margin,
#   0 beyond it. **This is not Hadsell et al.'s form**: their loss is the halved square $\tfrac12 D^2$ (available as
#   `squared=True`), for which $\partial(\tfrac12 D^2)/\partial S = -1$: every positive pair gets the *same* weight.
#   The non-squared form's $1/D$ pulls the *closest* positives hardest.
# * **NT-Xent** with temperature $\tau$ and softmax $p_{ik} = e^{S_{ik}/\tau} / \sum_{k'\ne i} e^{S_{ik'}/\tau}$:
#   $\ell_i = -\frac{1}{\tau}S_{ij} + \log\sum_{k\ne i} e^{S_{ik}/\tau}$, so $w_{ik} = p_{ik}/\tau > 0$ on every negative,
#   growing exponentially with its similarity, and $w_{ij} = -(1 - p_{ij})/\tau$ on the positive.
#
# We take one batch, 8 test digits from each of 4 classes in NormFace's embedding, and draw both.

# %% slideshow={"slide_type": "fragment"}
contrastive = losses.get("contrastive", neg_margin=1.0)
contrastive_sq = losses.get("contrastive", neg_margin=1.0, squared=True)
ntxent = losses.get("ntxent", temperature=0.1)
picks = torch.cat([torch.nonzero(digits.y_test == c).flatten()[:8] for c in range(4)])
batch_labels = digits.y_test[picks]

def batch_of(model):
    # float64 before normalising: the closest positives are 1e-4 apart, below float32's resolution of 2 - 2S
    with torch.no_grad():
        return torch.nn.functional.normalize(model(digits.X_test).double(), dim=1)[picks]

batch = batch_of(runs["normface"][0][0])
w_con = analysis.pair_weights(contrastive, batch, batch_labels)
w_nt = analysis.pair_weights(ntxent, batch, batch_labels)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
viz.pair_weight_heatmap(w_con, batch_labels, ax=axes[0], title="contrastive (margin 1), seed 0")
viz.pair_weight_heatmap(w_nt, batch_labels, ax=axes[1], title="NT-Xent (τ = 0.1), seed 0")
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-c"></a>**Check C** — the pair weights, on the batch from each of the three NormFace models.

# %% slideshow={"slide_type": "fragment"}
same = batch_labels[:, None] == batch_labels[None, :]
off_diagonal = ~torch.eye(len(batch_labels), dtype=torch.bool)
positive, negative = same & off_diagonal, ~same
summary = []
for seed, (model, _) in zip(SEEDS, runs["normface"]):
    b = batch_of(model)
    sim = b @ b.T
    dist = (2 - 2 * sim).clamp_min(0).sqrt()
    w_con, w_nt = analysis.pair_weights(contrastive, b, batch_labels), analysis.pair_weights(ntxent, b, batch_labels)
    w_sq = analysis.pair_weights(contrastive_sq, b, batch_labels)
    # Both losses pull every positive pair (w <= 0) and never pull a negative pair (w >= 0) ...
    for w in (w_con, w_nt):
        assert (w[positive] <= 0).all() and (w[negative] >= 0).all(), seed
    # ... the non-squared contrastive weight on a positive is proportional to 1/D (w * D constant), the squared
    # (Hadsell) form's is the same for every positive pair;
    moving = positive & (dist > 1e-6)
    scaled = (w_con * dist)[moving]
    assert torch.allclose(scaled, scaled[0], rtol=1e-4), seed
    assert torch.allclose(w_sq[moving], w_sq[moving][0], rtol=1e-4), seed
    # ... the contrastive loss ignores every negative beyond its margin (D >= 1, i.e. S <= 0.5),
    assert (w_con[negative][sim[negative] < 0.5] == 0).all(), seed
    ignored = (w_con[negative] == 0).float().mean().item()
    assert ignored > 0.5, seed
    # while NT-Xent weighs every negative (a softmax share, never 0), more the more similar it is (hardness awareness).
    rho = pd.Series(sim[negative].numpy()).corr(pd.Series(w_nt[negative].numpy()), method="spearman")
    assert rho > 0.9, seed
    summary.append({"seed": seed, "contrastive: negatives ignored": ignored, "NT-Xent: rank corr(w, S)": rho})
pd.DataFrame(summary).set_index("seed").round(3)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 2 (code).** `losses.get("multi_similarity")` weighs pairs by their similarity relative to the others
# (eq. 11-12 of Wang et al. 2019). Compute its pair weights on the seed-0 batch `batch`. Does it ignore any negative?
# Which positives does it pull hardest: the closest or the farthest?

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# Solution
w_ms = analysis.pair_weights(losses.get("multi_similarity"), batch, batch_labels)
sim0 = batch @ batch.T   # (batch is float64, see batch_of)
print("negatives with zero weight:", f"{(w_ms[negative] == 0).float().mean().item():.0%}")
print("positives with zero weight (mined out):", f"{(w_ms[positive] == 0).float().mean().item():.0%}")
# Spearman's rank correlation: below 0 means the less similar (farther) positives get the larger pull; near 0, no
# clear order (then read the weights themselves, e.g. sorted by similarity).
print("rank corr. of |w| with similarity on positives:",
      round(pd.Series(sim0[positive].numpy()).corr(pd.Series(w_ms[positive].abs().numpy()), method="spearman"), 2))

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · Explore a loss yourself
#
# The explorer draws a loss and its gradient: against the true-class margin $m = z_y - z_{k\neq y}$ for
# classification losses, against the similarity of a positive or a negative pair for pair losses. Pick a loss, move a
# slider, release it: the curves redraw. Below it, a static version of the same picture for cross-entropy at three
# temperatures, which stays visible when the notebook is read without a kernel.
#
# > **Predict, then move the slider.** With NT-Xent selected, the weight of a negative pair is $p_{ik}/\tau$.
# > Before you move the temperature from 0.5 down to 0.05: will the gradient at similarity 0.9 grow or shrink
# > *relative to* the gradient at similarity 0? By roughly what factor? Then move the slider and compare.

# %% slideshow={"slide_type": "subslide"}
explorer = widgets.LossExplorer("ntxent")
explorer

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** The ratio of the two weights is $e^{(0.9 - 0)/\tau}$: about $6$ at $\tau = 0.5$ and about $6.6\cdot10^{7}$
# at $\tau = 0.05$. A small temperature concentrates the whole push on the hardest negatives (Wang & Liu 2021).

# %% [markdown] slideshow={"slide_type": "fragment"}
# For cross-entropy with temperature $T$, $\ell = -\log\operatorname{softmax}(z/T)_y$ and
# $\partial\ell/\partial z_y = (p_y - 1)/T$. At a badly misclassified sample $p_y \to 0$, so the slope tends to $-1/T$.

# %% slideshow={"slide_type": "fragment"}
margins = np.linspace(-6, 6, 121)
curves = {f"T = {t}": analysis.margin_curve(losses.get("cross_entropy", temperature=t), margins)
          for t in (0.5, 1.0, 3.0)}
viz.loss_curves(curves, "margin", xlabel="true-class margin m");

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-d"></a>**Check D** — temperature scales the gradient at a misclassified sample (deterministic: no seed involved).

# %% slideshow={"slide_type": "fragment"}
grad_at = {t: curves[f"T = {t}"]["grad"].iloc[0] for t in (0.5, 1.0, 3.0)}   # at m = -6
assert abs(grad_at[0.5]) > abs(grad_at[1.0]) > abs(grad_at[3.0])
# slope -> -1/T for p_y -> 0; at m = -6 and T = 3 p_y is not yet 0, so the check is loose there.
assert abs(grad_at[0.5] + 2.0) < 0.01 and abs(grad_at[1.0] + 1.0) < 0.01 and abs(grad_at[3.0] + 1 / 3) < 0.1
{t: round(g, 3) for t, g in grad_at.items()}

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 3 (predict, then move the slider).** Select `contrastive` in the explorer and look at the negative-pair
# curve. Predict what happens to the gradient at similarity 0.8 when you lower `neg_margin` from 1.0 to 0.5. Then move
# the slider.

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** On the unit sphere similarity 0.8 is distance $\sqrt{2 - 1.6} \approx 0.63$. With margin 1.0 that negative is inside
# the margin and is pushed; with margin 0.5 it is already beyond it and its gradient drops to 0: a smaller margin
# ignores more negatives.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# Measured on 2 CPU cores, 30 epochs, Adam, three seeds; each bullet names the cell that asserts it.
#
# * **NormFace separates the classes by angle, cross-entropy does not have to** ([Check A](#check-a)). On every seed the
#   two closest digit classes are farther apart in angle with NormFace (about 31° against 16° on average; 36° is the
#   most 10 classes can have), the same-class cosine is higher, and so is the test accuracy (about 0.94 against 0.90).
#   Cross-entropy's embeddings are long and their lengths vary widely (on every seed the 95th percentile is more than
#   three times the 5th): for cross-entropy a longer embedding lowers the loss of a correct sample (Exercise 1). NormFace's
#   raw lengths vary too (table above), but its loss never sees them.
# * **Honest caveat** ([Check B](#check-b)). With $s = 20$ and lr $10^{-2}$ at least one of six seeds lets two
#   classes nearly share a direction, with accuracy more than 0.1 below every run of the gentle setting (numbers printed
#   in Check B). The scale bound (6.1 for $p = 0.99$) is a floor, not a recipe; we used $s = 16$ and lr $3\cdot10^{-3}$.
# * **Pair weights make the losses' characters visible** ([Check C](#check-c)). On a 32-digit batch from each NormFace
#   model, the contrastive loss (non-squared form, weight $-1/(n_+D)$ on positives, so the closest positives are pulled
#   hardest; Hadsell's squared form weighs them all equally) gives weight 0 to most negative pairs, those beyond its
#   margin, while NT-Xent at $\tau = 0.1$ weighs every negative pair, more the more similar it is (rank correlation
#   above 0.9): the hardness awareness of Wang & Liu (2021).
# * **Temperature scales cross-entropy's gradient** ([Check D](#check-d)). For a badly misclassified sample the slope is
#   about $-1/T$: a temperature of 3 learns from its mistakes about three times more gently.
#
# ## References
# - Wang et al. 2017, NormFace, [arXiv:1704.06369](https://arxiv.org/abs/1704.06369).
# - Hadsell, Chopra, LeCun 2006, [doi:10.1109/CVPR.2006.100](https://doi.org/10.1109/CVPR.2006.100).
# - Chen et al. 2020, SimCLR, [arXiv:2002.05709](https://arxiv.org/abs/2002.05709).
# - Wang et al. 2019, Multi-Similarity loss and general pair weighting, [arXiv:1904.06627](https://arxiv.org/abs/1904.06627).
# - Wang & Liu 2021, Understanding the behaviour of contrastive loss, [arXiv:2012.09740](https://arxiv.org/abs/2012.09740).
# - Musgrave, Belongie, Lim 2020, *A Metric Learning Reality Check* (pytorch-metric-learning), [arXiv:2003.08505](https://arxiv.org/abs/2003.08505).
#
# ---
# **Previous:** this is the first notebook · [series index](README.md) · **Next:** [01 · The cross-entropy family](01_cross_entropy_family.ipynb)
