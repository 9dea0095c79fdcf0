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
# # 08 · Retrieval of unseen classes and few-shot episodes: what metric learning buys, measured against baselines
#
# [← 07 · Metric learning through its gradients](07_metric_learning_gradients.ipynb) · [series index](README.md) ·
# [09 · Margins on the hypersphere →](09_hypersphere_margins.ipynb)
#
# Notebook 07 read the metric-learning losses through their pair weights. This lesson trains them on five digits
# and asks what the promise of metric learning is: an embedding that *retrieves classes it never saw*. It measures
# retrieval (Recall@k, MAP@R, NMI), how well the training points cover where the unseen classes land (Metrix's
# utilization) and few-shot episodes, always against the two baselines that decide the reading: the untrained
# network and the raw pixels.
#
# **What you will learn**
# 1. To evaluate an embedding on classes it never saw: Recall@k, MAP@R, NMI, nearest-prototype few-shot accuracy.
# 2. Why every comparison on unseen classes needs the untrained network and the raw input as baselines.
# 3. What embedding mixup (Metrix) changes, measured by utilization.
# 4. How few-shot episodes are built and trained (Proto-Triplet, ICNN), and why five training classes do not
#    transfer to five new ones (effective rank of the unseen embedding).
#
# **Prerequisites**: notebook 07 (the losses and their pair weights), effective rank (notebook 04), k-nearest
# neighbours. **Time**: a 45-minute lesson; the notebook trains 24 small models (see the run-time note at the end).
#
# **Papers**
# - Wang et al., *Multi-Similarity Loss with General Pair Weighting for Deep Metric Learning*, CVPR 2019,
#   [arXiv:1904.06627](https://arxiv.org/abs/1904.06627); Hadsell et al. 2006, Schroff et al. 2015, Song et al. 2016,
#   Yi et al. 2014 for the other losses (notebook 07 lists them).
# - Venkataramanan, Psomas et al., *It Takes Two to Tango: Mixup for Deep Metric Learning*, ICLR 2022,
#   [arXiv:2106.04990](https://arxiv.org/abs/2106.04990): Metrix, utilization.
# - Mendez-Ruiz et al., *SuSana Distancia is all you need*, 2023, [arXiv:2305.09062](https://arxiv.org/abs/2305.09062):
#   Proto-Triplet and ICNN losses for few-shot episodes.
# - Musgrave, Belongie, Lim, *A Metric Learning Reality Check*, ECCV 2020,
#   [arXiv:2003.08505](https://arxiv.org/abs/2003.08505): MAP@R, and why baselines and fair settings matter.
# - L. van der Maaten, G. Hinton. *Visualizing Data using t-SNE.* JMLR 9, 2008. [jmlr.org](https://jmlr.org/papers/v9/vandermaaten08a.html)

# %% slideshow={"slide_type": "fragment"}
import pandas as pd
import torch
import torch.nn.functional as F
import matplotlib.pyplot as plt
from IPython.display import display

from workbench import analysis, data, losses, models, train, viz, widgets

torch.set_num_threads(1)  # tiny models: one thread is fastest and bit-reproducible
SEEDS = (0, 1, 2)
digits = data.digits(seed=0)
split = data.unseen_classes(digits, seen=5)  # train on digits 0-4; digits 5-9 are only ever retrieved
X_unseen, y_unseen = split.meta["X_unseen"], split.meta["y_unseen"]
split, len(y_unseen)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · Retrieval on unseen classes, three seeds
#
# An MLP (64 → 128 → 64 → 32) is trained with each loss on digits **0-4** only (675 images, 10 epochs, Adam
# 3e-3, batch 128), then embeds the 896 images of digits **5-9**, which it has never seen. Each unseen image
# queries the others by cosine similarity: **Recall@k** (is a same-class image among the k nearest?),
# **MAP@R** (are *all* R same-class images ranked first?) and the **NMI** of a k-means clustering.
# Metrix wraps MS with embedding mixup (weight 0.4, $\lambda\sim$ Beta(2, 2)).
#
# Two baselines that any comparison on unseen classes needs: the **untrained** network with the same seed, and
# the **raw pixels**.

# %% slideshow={"slide_type": "fragment"}
RETRIEVAL = {"contrastive": {}, "triplet": {"mining": "semi-hard"}, "lifted_structure": {},
             "binomial_deviance": {}, "multi_similarity": {}, "metrix": {}}
results, trained = [], {}
for seed in SEEDS:
    with torch.no_grad():
        z = models.MLP(64, embedding_dim=32, seed=seed)(X_unseen)
    results.append({"loss": "untrained", "seed": seed, **analysis.retrieval_metrics(z, y_unseen, seed=seed)})
    results.append({"loss": "pixels", "seed": seed, **analysis.retrieval_metrics(X_unseen, y_unseen, seed=seed)})
    for name, params in RETRIEVAL.items():
        extra = {"generator": torch.Generator().manual_seed(seed)} if name == "metrix" else {}
        model = models.MLP(64, embedding_dim=32, seed=seed)
        # evaluate_every=None: fit's own probe is not read; retrieval is measured on the unseen digits below
        train.fit(model, losses.get(name, **params, **extra), split, epochs=10, lr=3e-3, batch_size=128,
                  seed=seed, verbose=False, record=(), evaluate_every=None)
        with torch.no_grad():
            z = model(X_unseen)
        results.append({"loss": name, "seed": seed, **analysis.retrieval_metrics(z, y_unseen, seed=seed)})
        trained[name, seed] = model
results = pd.DataFrame(results)
summary = results.groupby("loss", sort=False).mean(numeric_only=True).drop(columns="seed")
summary.attrs["std"] = results.groupby("loss", sort=False).std(numeric_only=True).drop(columns="seed")
display(summary.round(3))
viz.metric_bars(summary, title="retrieval of unseen digits 5-9 (mean ± sd over 3 seeds)");

# %% slideshow={"slide_type": "fragment"}
r1 = results.pivot(index="seed", columns="loss", values="R@1")
print(r1.round(3))
assert (r1["multi_similarity"] > r1["contrastive"]).all()   # MS beats the contrastive loss on every seed
assert (r1["metrix"] > r1["multi_similarity"]).all()        # and mixup improves MS on every seed
trained_losses = list(RETRIEVAL)
assert (r1[trained_losses].max(axis=1) < r1["untrained"]).all()  # ... but no trained encoder beats the untrained one
assert (r1["untrained"] < r1["pixels"]).all()                    # which is itself below the raw pixels

# %% [markdown] slideshow={"slide_type": "fragment"}
# **The baselines change the reading.** Among the trained losses, MS beats the contrastive loss and Metrix beats
# MS on every seed. But the **untrained** network retrieves the unseen digits better than every trained one on
# every seed, and the raw pixels better still. Section 3 measures why.
#
# ## 2 · Metrix: mixing explores where unseen classes land
#
# **Utilization** (Metrix paper) is the mean squared distance from each test query to its nearest training
# embedding, $u(Q) = \frac1{|Q|}\sum_q \min_x \lVert f(q) - f(x)\rVert^2$. Lower means the training points cover
# more of the region where the unseen classes fall. We compare the MS and Metrix models of section 1
# (unit-normalised embeddings), and for Metrix also with its mixed points added to the references.

# %% slideshow={"slide_type": "fragment"}
util = []
for seed in SEEDS:
    row = {"seed": seed}
    for name in ("multi_similarity", "metrix"):
        with torch.no_grad():
            zq = F.normalize(trained[name, seed](X_unseen), dim=1)
            zt = F.normalize(trained[name, seed](split.X_train), dim=1)
        row[name] = analysis.utilization(zq, zt)
    with torch.no_grad():
        z150 = trained["metrix", seed](split.X_train[:150])
    mixed = losses.get("metrix", generator=torch.Generator().manual_seed(seed)).mixed_points(z150, split.y_train[:150])
    row["metrix + mixed points"] = analysis.utilization(zq, torch.cat([zt, mixed]))
    util.append(row)
util = pd.DataFrame(util).set_index("seed")
display(util.round(4))
assert (util["metrix"] < util["multi_similarity"]).all()
assert (util["metrix + mixed points"] <= util["metrix"]).all()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · Few-shot episodes, and why training on five classes does not help the other five
#
# Few-shot training draws **episodes**: 5 classes, 5 support and 5 query images each (`data.episode`, supports
# first; `train.episodic_batch_loss` turns that into a training step). Proto-Triplet asks each query to be nearer
# its own prototype (mean support embedding) than the nearest other prototype by a margin 0.5; ICNN is $-\log$ of a
# nearest-neighbour score of the whole episode. We train on digits 0-4 (6 epochs of episodes, Adam 1e-3) and
# measure 5-way 5-shot nearest-prototype accuracy on 50 episodes from held-out images of the **seen** classes and
# from the **unseen** digits 5-9, against the untrained encoder, the raw pixels and the MS model of section 1.
# We also measure the **effective rank** of the unseen digits' embeddings (how many directions they spread over).

# %% slideshow={"slide_type": "fragment"}
episodes = train.episodic_batch_loss(split.X_train, split.y_train, n_way=5, shot=5, queries=5)
few, encoders = [], {}
for seed in SEEDS:
    pixels = analysis.prototype_accuracy(X_unseen, y_unseen, episodes=50, seed=seed)
    for name in ("untrained", "proto_triplet", "icnn", "multi_similarity"):
        if name == "multi_similarity":
            model = trained[name, seed]                       # batch-trained in section 1
        else:
            model = models.MLP(64, embedding_dim=32, seed=seed)
        if name in ("proto_triplet", "icnn"):
            loss = losses.get(name, shot=5) if name == "proto_triplet" else losses.get(name)
            train.fit(model, loss, split, epochs=6, lr=1e-3, batch_size=64, seed=seed, verbose=False, record=(),
                      evaluate_every=None, batch_loss=episodes)
        with torch.no_grad():
            z_seen, z_unseen = model(split.X_test), model(X_unseen)
        few.append({"seed": seed, "encoder": name,
                    "seen classes": analysis.prototype_accuracy(z_seen, split.y_test, episodes=50, seed=seed),
                    "unseen classes": analysis.prototype_accuracy(z_unseen, y_unseen, episodes=50, seed=seed),
                    "effective rank (unseen)": analysis.effective_rank(z_unseen), "pixels (unseen)": pixels})
        encoders[name, seed] = model
few = pd.DataFrame(few)
display(few.groupby("encoder", sort=False).mean(numeric_only=True).drop(columns="seed").round(3))

# %% slideshow={"slide_type": "fragment"}
seen_acc = few.pivot(index="seed", columns="encoder", values="seen classes")
unseen_acc = few.pivot(index="seed", columns="encoder", values="unseen classes")
erank = few.pivot(index="seed", columns="encoder", values="effective rank (unseen)")
pixels_acc = few.groupby("seed")["pixels (unseen)"].first()
print(unseen_acc.round(3)); print(erank.round(1))
assert (seen_acc["proto_triplet"] > seen_acc["untrained"] + 0.1).all()     # both losses learn the seen classes
assert (seen_acc["icnn"] > seen_acc["untrained"] + 0.05).all()
assert (unseen_acc["proto_triplet"] < unseen_acc["untrained"]).all()      # Proto-Triplet hurts unseen classes
assert (unseen_acc["multi_similarity"] < unseen_acc["untrained"]).all()   # so does batch-trained MS
assert (unseen_acc["icnn"] > unseen_acc["proto_triplet"]).all()
assert (unseen_acc.max(axis=1) < pixels_acc).all()                         # nothing beats the raw pixels
for name in ("proto_triplet", "multi_similarity"):
    assert (erank[name] < erank["untrained"] - 3).all(), name              # training narrows the embedding

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Why training did not help the unseen classes.** We looked for a setting where it does and did not find one
# at this scale; the measurements above say why.
#
# 1. *The pixels are already a good metric for digits.* Nearest-prototype accuracy on the raw 64 pixels is the
#    highest of all on every seed (the assert above), and an untrained MLP is close to a random projection of them, which
#    keeps most of their distances: the untrained encoder starts high.
# 2. *Training on five classes narrows the embedding.* The effective rank of the unseen digits' embeddings falls
#    (by more than 3 for Proto-Triplet and MS, on every seed): the losses keep the directions that separate 0-4
#    and squeeze the others, some of which the digits 5-9 need. The hard-margin Proto-Triplet narrows it most;
#    ICNN's neighbourhood score keeps more (better than Proto-Triplet on every seed, about level with the
#    untrained encoder).
# 3. *Five training classes are too few.* Every training episode is the same 5-way task, so nothing rewards
#    features that generalise to new classes; the few-shot papers meta-train on 64 or more classes.
#
# In exploratory runs (not repeated here, to keep the notebook within its time) fewer epochs, 3-way episodes and
# the penultimate layer's features did not beat the untrained encoder either. The t-SNE maps show the unseen digits
# (400 of them) as the pixels, the untrained encoder and two trained ones see them (seed 0):

# %% slideshow={"slide_type": "fragment"}
subset = torch.cat([(y_unseen == c).nonzero().squeeze(1)[:80] for c in range(5, 10)])
with torch.no_grad():
    views = {"raw pixels": X_unseen[subset]} | {
        name: encoders[name, 0](X_unseen[subset]) for name in ("untrained", "proto_triplet", "multi_similarity")}
fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
for ax, (name, z) in zip(axes, views.items()):
    viz.embedding_scatter(z, y_unseen[subset], ax=ax, method="tsne", title=f"unseen digits · {name}", s=6,
                          legend=ax is axes[-1])
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Predict, then move the sliders.** With one support image per class (`shot` = 1) a prototype *is* that image;
# with 20 it is a class mean. Which encoder gains most from more shots, and does a trained encoder overtake the raw
# pixels on the unseen digits at some number of shots or of classes per episode (`n_way`)? Write your guess down,
# then move the sliders (the bars are 30 fresh episodes of the unseen digits, seed-0 encoders).

# %% slideshow={"slide_type": "subslide"}
with torch.no_grad():
    unseen_views = {"raw pixels": X_unseen} | {name: encoders[name, 0](X_unseen)
                                               for name in ("untrained", "proto_triplet", "icnn", "multi_similarity")}


def episode_scores(shot, n_way):
    return {name: analysis.prototype_accuracy(z, y_unseen, n_way=n_way, shot=shot, queries=5, episodes=30)
            for name, z in unseen_views.items()}


def draw_episodes(shot, n_way):
    scores = episode_scores(shot, n_way)
    fig, ax = plt.subplots(figsize=(5.6, 3.2))
    ax.bar(list(scores), list(scores.values()), color=[f"C{i}" for i in range(len(scores))])
    ax.axhline(1 / n_way, color="0.5", ls="--", lw=0.8, label="chance")
    ax.set(ylim=(0, 1), ylabel="nearest-prototype accuracy", title=f"unseen digits, {n_way}-way {shot}-shot")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def move_episodes(fig, shot, n_way):  # the same figure for other sliders: new bars, no new layout
    ax = fig.axes[0]
    for bar, score in zip(ax.patches, episode_scores(shot, n_way).values()):
        bar.set_height(score)
    ax.lines[0].set_ydata([1 / n_way, 1 / n_way])
    ax.set_title(f"unseen digits, {n_way}-way {shot}-shot")


display(widgets.FigureExplorer(draw_episodes, update_figure=move_episodes, shot=losses.Param(5, 1, 20),
                               n_way=losses.Param(5, 2, 5)))

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Solution: the accuracies at a few settings (30 episodes each, seed-0 encoders). More shots help every encoder,
# most from 1 to 5 (a mean of five images is a better prototype than one image); fewer classes per episode help
# too. What does not move is the ranking at the top: the raw pixels stay best at every setting, because the reasons
# listed above (five training classes, a narrowed embedding) do not depend on the episode's size.
grid = pd.DataFrame({f"{n}-way {k}-shot": {name: analysis.prototype_accuracy(z, y_unseen, n_way=n, shot=k, queries=5,
                                                                              episodes=30)
                                           for name, z in unseen_views.items()}
                     for n, k in ((5, 1), (5, 5), (5, 20), (2, 5))})
display(grid.round(3))
assert (grid.loc["raw pixels"] >= grid.max()).all()                       # the pixels on top everywhere
assert (grid["5-way 5-shot"] > grid["5-way 1-shot"]).all()                # five shots beat one, every encoder

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Exercises
#
# **Exercise 1 (a wider embedding).** **Predict** whether a *wider* embedding (64 instead of 32 dimensions) would
# help Proto-Triplet on the unseen digits, given point 2 above. Then test it on one seed (about 5 seconds).

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# Point 2 says the loss narrows the embedding to what separates five classes; a wider output layer gives it more
# room but the loss still has no reason to use it. Measured on seed 0: 64-D reaches 0.656 against 0.599 for 32-D,
# a small gain that stays below the untrained encoder (0.722).
wide = models.MLP(64, embedding_dim=64, seed=0)
train.fit(wide, losses.get("proto_triplet", shot=5), split, epochs=6, lr=1e-3, batch_size=64, seed=0, verbose=False,
          record=(), evaluate_every=None, batch_loss=episodes)
with torch.no_grad():
    print("64-D Proto-Triplet, unseen:", round(analysis.prototype_accuracy(wide(X_unseen), y_unseen, episodes=50), 3),
          "| 32-D:", round(unseen_acc.loc[0, "proto_triplet"], 3), "| untrained:", round(unseen_acc.loc[0, "untrained"], 3))

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 2 (R@1 against MAP@R).** The unseen digits have about 180 images per class, five classes. Imagine an
# embedding that puts *one* same-class image first for every query and ranks the rest at random. Estimate its R@1
# and its MAP@R, and say what this tells you about section 1's table.

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"} tags=["solution"]
# *Solution 2.* R@1 = 1. MAP@R averages, over the first $R \approx 179$ ranks, the precision at each rank that holds a
# same-class image: rank 1 gives 1, and at random about one rank in five after it holds a same-class image, with a
# precision near 1/5 there. So MAP@R $\approx \big(1 + 178 \cdot \tfrac15 \cdot \tfrac15\big)/179 \approx 0.05$. R@1 asks
# whether *one* neighbour is right, MAP@R whether the whole class comes first: an embedding can find an unseen class
# long before it ranks all of it first. Compare the R@1 and MAP@R columns of section 1's table.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# MLP 64 → 128 → 64 → 32 trained on digits 0-4 (675 images), Adam, seeds 0, 1, 2; digits 5-9 only ever retrieved.
# Each bullet names the cell that asserts it.
#
# * **Retrieval of unseen digits 5-9** (section 1's assert cell): MS beats the contrastive loss and Metrix beats
#   MS in R@1 on every seed, **but no trained encoder beats the untrained network, and the raw pixels beat both**.
#   *Not reproduced at this scale*: the MS paper's ranking MS > binomial deviance; here binomial deviance (same
#   α, β, λ) is as good or better in the table (not asserted). MAP@R stays low for all: an unseen class is found
#   (R@1) long before all of it is ranked first (Exercise 2).
# * **Utilization.** Metrix's embedding puts unseen digits closer to training points than MS's on every seed, and
#   closer still with its mixed points as references (section 2).
# * **Few-shot episodes** (section 3's assert cell): both Proto-Triplet and ICNN learn the seen classes'
#   episodes; on the unseen digits Proto-Triplet and batch-trained MS fall below the untrained encoder, ICNN stays
#   above Proto-Triplet, nothing beats the raw pixels, and training lowers the effective rank of the unseen
#   embeddings by more than 3 on every seed. The papers' few-shot gains need many training classes, which digits
#   do not have.
#
# **Run time.** The lesson trains 18 encoders on batches and 6 on episodes (one more in Exercise 1's solution); on a
# shared 2-core machine loaded by eight other jobs it took about 44 s of CPU time, kernel start and imports
# included (159 s of wall time).
#
# ## References
#
# 1. X. Wang, X. Han, W. Huang, D. Dong, M. R. Scott. Multi-Similarity Loss with General Pair Weighting for Deep
#    Metric Learning. CVPR 2019. [arXiv:1904.06627](https://arxiv.org/abs/1904.06627)
# 2. S. Venkataramanan, B. Psomas et al. It Takes Two to Tango: Mixup for Deep Metric Learning. ICLR 2022.
#    [arXiv:2106.04990](https://arxiv.org/abs/2106.04990)
# 3. M. Mendez-Ruiz et al. SuSana Distancia is all you need. 2023. [arXiv:2305.09062](https://arxiv.org/abs/2305.09062)
# 4. K. Musgrave, S. Belongie, S.-N. Lim. A Metric Learning Reality Check. ECCV 2020.
#    [arXiv:2003.08505](https://arxiv.org/abs/2003.08505)
# 5. L. van der Maaten, G. Hinton. Visualizing Data using t-SNE. JMLR 9, 2008.
# 6. The losses' own papers: Hadsell et al. 2006, Schroff et al. 2015, Song et al. 2016, Yi et al. 2014 (links in
#    notebook 07).
#
# ---
# [← 07 · Metric learning through its gradients](07_metric_learning_gradients.ipynb) · [series index](README.md) ·
# [09 · Margins on the hypersphere →](09_hypersphere_margins.ipynb)
