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
# **What this notebook teaches.** A loss function is a choice about *which pairs of things to pull
# together and which to push apart, and how hard*. We train a 2-D embedding of handwritten digits with
# two classification losses and look at what each one does to the geometry, then we open up two
# pair-based losses and read their gradient pair by pair.
#
# **Papers it follows**
# - Cross-entropy with a linear classifier, the baseline.
# - *NormFace: L2 Hypersphere Embedding for Face Verification* (Wang et al., 2017): cosine logits
#   $s\cos\theta_j$ with features and class weights on the unit sphere.
# - *Dimensionality Reduction by Learning an Invariant Mapping* (Hadsell, Chopra, LeCun, 2006): the contrastive loss.
# - *A Simple Framework for Contrastive Learning of Visual Representations* (SimCLR, Chen et al., 2020): NT-Xent.
# - *Multi-Similarity Loss with General Pair Weighting* (Wang et al., 2019): every pair loss is a pair-weighting
#   scheme, $w_{ij} = \partial L/\partial S_{ij}$.
#
# Everything runs on a laptop CPU in about a minute; the package `workbench` does the computing, this
# notebook does the telling. Each claim is checked by an `assert`, so the notebook is also a test.

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
# Both models share the same encoder, an MLP from the 64 pixels to **2 numbers**, so we can look at the
# embedding directly.
#
# * **Cross-entropy** puts a linear layer (10 weight vectors and biases) on top of the 2-D embedding.
#   It can lower its loss by making embeddings *longer*, not only by turning them towards their class.
# * **NormFace** normalises both the embedding and the 10 class weights and uses $s\cos\theta_j$ as the
#   logits, so only *angles* matter. The scale $s$ is needed: cosines live in $[-1, 1]$ and the paper's
#   bound says that reaching probability $P$ on 10 classes needs $s \ge \frac{C-1}{C}\log\frac{(C-1)P}{1-P}$.

# %% slideshow={"slide_type": "fragment"}
print("NormFace scale needed for p=0.99 on 10 classes:", round(losses.normface_scale_bound(10, 0.99), 2))
losses.info("normface")

# %% slideshow={"slide_type": "fragment"}
runs = {"cross_entropy": [], "normface": []}
for seed in SEEDS:
    ce_model = models.classifier(models.MLP(64, embedding_dim=2, seed=seed), 10, seed=seed)
    runs["cross_entropy"].append((ce_model, train.fit(
        ce_model, losses.get("cross_entropy"), digits, epochs=30, lr=3e-3, batch_size=64, seed=seed,
        record=("embeddings", "grad_norm"), verbose=False)))

    torch.manual_seed(seed)  # the NormFace head owns the class weights: seed them too
    head = losses.get("normface", num_classes=10, embedding_dim=2, scale=16.0)
    nf_model = models.MLP(64, embedding_dim=2, seed=seed)
    runs["normface"].append((nf_model, train.fit(
        nf_model, head, digits, epochs=30, lr=3e-3, batch_size=64, seed=seed,
        record=("embeddings", "grad_norm"), verbose=False)))

viz.training_curves({name: r[0][1] for name, r in runs.items()}, ("loss", "test_acc", "grad_norm"));

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### What the two embeddings look like
#
# Left: cross-entropy's raw 2-D embedding of the test digits. Right: NormFace's embedding, projected to the
# unit circle where its loss lives. Colours are the digit classes.

# %% slideshow={"slide_type": "fragment"}
ce_model, ce_hist = runs["cross_entropy"][0]
nf_model, nf_hist = runs["normface"][0]
with torch.no_grad():
    ce_emb = models.embed(ce_model, digits.X_test)
    nf_emb = torch.nn.functional.normalize(nf_model(digits.X_test), dim=1)

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
viz.embedding_scatter(ce_emb, digits.y_test, ax=axes[0], title="cross-entropy (raw 2-D)")
viz.embedding_scatter(nf_emb, digits.y_test, ax=axes[1], sphere=True, title="NormFace (on the circle)")
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### How angularly separated are the classes?
#
# We measure, on the test set and for every seed, with `analysis.class_similarity_stats`:
#
# * `intra`: mean cosine between two test digits of the same class (1 = every class is a single direction);
# * `min_centroid_angle`: the smallest angle between two class-mean directions (10 classes can be at most
#   36° apart on a circle).

# %% slideshow={"slide_type": "fragment"}
rows = []
for name, seed_runs in runs.items():
    for seed, (model, history) in zip(SEEDS, seed_runs):
        with torch.no_grad():
            emb = models.embed(model, digits.X_test)
        stats = analysis.class_similarity_stats(emb, digits.y_test)
        rows.append({"loss": name, "seed": seed, "test_acc": history.last["test_acc"],
                     "intra": stats["intra"], "min_centroid_angle": stats["min_centroid_angle"]})
separation = pd.DataFrame(rows).set_index(["loss", "seed"])
separation.round(3)

# %% slideshow={"slide_type": "fragment"}
ce, nf = separation.loc["cross_entropy"], separation.loc["normface"]
# The claim: NormFace's classes are more angularly separated than cross-entropy's, on every seed:
# the closest two classes are farther apart in angle, and each class is angularly tighter.
assert (nf["min_centroid_angle"] > ce["min_centroid_angle"]).all(), separation
assert (nf["intra"] > ce["intra"]).all(), separation
print(f"closest class pair: NormFace {nf['min_centroid_angle'].mean():.1f}° vs cross-entropy "
      f"{ce['min_centroid_angle'].mean():.1f}° (mean over seeds)")
print(f"test accuracy:      NormFace {nf['test_acc'].mean():.3f} vs cross-entropy {ce['test_acc'].mean():.3f}")
# Cross-entropy can also lower its loss by making embeddings longer: look at the spread of its norms.
lengths = ce_emb.norm(dim=1)
print(f"cross-entropy embedding lengths, 5th to 95th percentile: {lengths.quantile(0.05):.0f} to "
      f"{lengths.quantile(0.95):.0f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### How the NormFace embedding formed
#
# Snapshots of the raw encoder output for the test digits (seed 0) before training, after 5 epochs and at
# the end. NormFace only looks at the directions: the classes fan out into rays, and the length along a ray
# is free.

# %% slideshow={"slide_type": "fragment"}
viz.embedding_snapshots(nf_hist, [0, 5, 30], sphere=False);

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · The gradient lens: pair weights
#
# A pair-based loss depends on the embeddings only through the cosine-similarity matrix $S$. Its gradient
# is therefore the gradient of $\sum_{ij} w_{ij} S_{ij}$ with $w_{ij} = \partial L / \partial S_{ij}$: every
# loss is a way of **weighting pairs** (Wang et al. 2019). Red cells push a pair apart, blue cells pull it together.
#
# We take one batch, 8 test digits from each of 4 classes in NormFace's embedding, and draw the pair weights
# of the **contrastive loss** (Hadsell et al.: pull positives, push negatives closer than a margin) and of
# **NT-Xent** (SimCLR's loss, here with the labels defining the positives).

# %% slideshow={"slide_type": "fragment"}
picks = torch.cat([torch.nonzero(digits.y_test == c).flatten()[:8] for c in range(4)])
batch, batch_labels = nf_emb[picks], digits.y_test[picks]

contrastive, ntxent = losses.get("contrastive", neg_margin=1.0), losses.get("ntxent", temperature=0.1)
w_con = analysis.pair_weights(contrastive, batch, batch_labels)
w_nt = analysis.pair_weights(ntxent, batch, batch_labels)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
viz.pair_weight_heatmap(w_con, batch_labels, ax=axes[0], title="contrastive (margin 1)")
viz.pair_weight_heatmap(w_nt, batch_labels, ax=axes[1], title="NT-Xent (τ = 0.1)")
fig.tight_layout()

# %% slideshow={"slide_type": "fragment"}
same = batch_labels[:, None] == batch_labels[None, :]
off_diagonal = ~torch.eye(len(batch_labels), dtype=torch.bool)
positive, negative = same & off_diagonal, ~same
sim = batch @ batch.T

# Both losses pull every positive pair (w <= 0) and never pull a negative pair (w >= 0) ...
for w in (w_con, w_nt):
    assert (w[positive] <= 0).all() and (w[negative] >= 0).all()
# ... but the contrastive loss ignores every negative beyond its margin (D >= 1, i.e. S <= 0.5),
ignored = (w_con[negative] == 0).float().mean().item()
assert ignored > 0 and (w_con[negative][sim[negative] < 0.5] == 0).all()
# while NT-Xent weighs every negative, exponentially more the more similar it is (hardness awareness).
assert (w_nt[negative] > 0).all()
rho = pd.Series(sim[negative].numpy()).corr(pd.Series(w_nt[negative].numpy()), method="spearman")
assert rho > 0.9
print(f"contrastive ignores {ignored:.0%} of the negative pairs; NT-Xent weighs all of them, "
      f"rank correlation of weight with similarity {rho:.2f}")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · Explore a loss yourself
#
# The explorer draws a loss and its gradient: against the true-class margin $m = z_y - z_{k\neq y}$ for
# classification losses, against the similarity of a positive or a negative pair for pair losses. Pick a
# loss, move a slider, release it: the curves redraw. Below it, a static version of the same picture for
# cross-entropy at three temperatures, which stays visible when the notebook is read without a kernel.

# %% slideshow={"slide_type": "subslide"}
explorer = widgets.LossExplorer("ntxent")
explorer

# %% slideshow={"slide_type": "fragment"}
margins = np.linspace(-6, 6, 121)
curves = {f"T = {t}": analysis.margin_curve(losses.get("cross_entropy", temperature=t), margins)
          for t in (0.5, 1.0, 3.0)}
viz.loss_curves(curves, "margin", xlabel="true-class margin m");
# A higher temperature flattens the loss: the gradient at a misclassified sample (m = -6) shrinks by ~1/T.
grad_at = {t: curves[f"T = {t}"]["grad"].iloc[0] for t in (0.5, 1.0, 3.0)}
assert abs(grad_at[0.5]) > abs(grad_at[1.0]) > abs(grad_at[3.0])

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# Measured on 2 CPU cores, 30 epochs, Adam at lr 3e-3, three seeds (the asserts above check them on every run):
#
# * **NormFace separates the classes by angle, cross-entropy does not have to.** The two closest digit classes are
#   on average **31°** apart with NormFace against **16°** with cross-entropy (10 classes can be at most 36° apart on
#   a circle), and the same-class cosine is higher (about 0.96 against 0.92). This held on every seed, as did a
#   higher test accuracy (0.94 against 0.90). Cross-entropy instead spreads its classes *radially*: its embedding
#   lengths run from 13 to 86 (5th to 95th percentile), which lowers the loss without separating the directions.
# * **Honest caveat.** NormFace in two dimensions is sensitive to its scale and learning rate: with lr 1e-2 and
#   s = 20 we saw a run where two classes ended up sharing a direction (closest pair 3° apart, accuracy 0.66). The scale bound of the paper
#   (6.1 for p = 0.99) is a floor, not a recipe; we used s = 16.
# * **Pair weights make the losses' characters visible.** On the same batch the contrastive loss gives weight 0
#   to about 83 % of the negative pairs (those beyond its margin) and weights positive pairs by 1/D, while
#   NT-Xent at τ = 0.1 weighs every negative pair, more the more similar it is (rank correlation 0.97):
#   that is the hardness awareness of Wang & Liu (2021).
# * **Temperature scales cross-entropy's gradient.** For a badly misclassified sample the gradient is about
#   -1/T: a temperature of 3 learns from its mistakes three times more gently.
