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
# # 03 · Imbalanced binary problems: optimise the metric you report
#
# With one positive in twenty, a model trained with binary cross-entropy can reach 95 % accuracy by saying "negative" to
# everything, and its F1 at the default threshold is then zero. The first fixes a practitioner tries are to **weight the
# positives** in the loss or to **move the threshold**. Two other ways out: make the *metric* differentiable and minimise
# $1 - \text{metric}$ directly (AnyLoss), or optimise the *ranking*, the area under the ROC curve, instead of the labels
# (AUC-M, MW). EnsLoss is a further idea: a fresh random convex, calibrated loss at every step, against overfitting.
#
# ### What you will learn
# 1. Why BCE's F1 at threshold 0 collapses at 1:20 while its ranking (ROC AUC) stays good, and what the two first fixes
#    (class-weighted BCE, a tuned threshold) recover.
# 2. How AnyLoss turns a confusion-matrix metric into a loss (the amplifying sigmoid, the soft confusion matrix).
# 3. To derive the AUC-M min-max problem's saddle point (min over $w, a, b$, max over $\alpha$), and why learning
#    $a, b, \alpha$ by gradient steps can fail where the closed form works.
# 4. To read ROC *and* precision-recall curves at 1:20, and how uncertain an F1 measured on ~20 test positives is.
#
# **Prerequisites.** [01](01_cross_entropy_family.ipynb) (cross-entropy and its gradient); precision, recall, F1, ROC.
# **Time.** About 45 minutes.
#
# ### Papers
# - Han, Moniz, Chawla. *AnyLoss: Transforming Classification Metrics into Loss Functions*. KDD 2024.
#   [arXiv:2405.14745](https://arxiv.org/abs/2405.14745).
# - Dai. *EnsLoss: Stochastic Calibrated Loss Ensembles for Preventing Overfitting in Classification*. ICML 2025.
#   [arXiv:2409.00908](https://arxiv.org/abs/2409.00908).
# - Yuan, Yan, Sonka, Yang. *Large-scale Robust Deep AUC Maximization: A New Surrogate Loss and Empirical Studies on
#   Medical Image Classification*. ICCV 2021. [arXiv:2012.03173](https://arxiv.org/abs/2012.03173) (AUC-M; LibAUC).
# - Ying, Wen, Lyu. *Stochastic Online AUC Maximization*. NeurIPS 2016 (the min-max reformulation of the square AUC
#   loss that AUC-M builds on).
# - Sheikholeslami et al. *Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval*. 2025.
#   [arXiv:2510.00137](https://arxiv.org/abs/2510.00137) (the MW loss).
# - Saito & Rehmsmeier. *The Precision-Recall Plot Is More Informative than the ROC Plot When Evaluating Binary
#   Classifiers on Imbalanced Datasets*. PLOS ONE 2015. [doi:10.1371/journal.pone.0118432](https://doi.org/10.1371/journal.pone.0118432).

# %% slideshow={"slide_type": "fragment"}
import numpy as np
import pandas as pd
import torch
import matplotlib.pyplot as plt
from IPython.display import display
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve

from workbench import analysis, data, experiments, losses, models, viz, widgets
from workbench.losses import binary

torch.set_num_threads(1)  # tiny models: one thread is fastest and bit-reproducible
SEEDS = (0, 1, 2)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · Two tasks, the rare class as the positive
#
# * **Breast cancer** (30 features, 569 patients). scikit-learn codes 0 = malignant, 1 = benign; the class we want to
#   *find* is malignant, the minority (212 of 569), so we relabel it as the positive class 1 with
#   `data.one_vs_rest(..., positive=0, imbalance=1.0)` (malignant → 1, benign → 0; an imbalance of 1 keeps every
#   malignant case, since there are fewer malignant than benign).
# * **Digit 8 against the other nine digits**, with the positives subsampled to about 1:20 in both splits
#   (`data.one_vs_rest`).

# %% slideshow={"slide_type": "fragment"}
TASKS = ("breast cancer", "digits 8 vs rest")

def make_task(seed, task):
    if task == "breast cancer":  # malignant (sklearn's class 0) is the positive class
        return data.one_vs_rest(data.breast_cancer(seed=seed), positive=0, imbalance=1.0, seed=seed)
    return data.one_vs_rest(data.digits(seed=seed), positive=8, imbalance=20.0, seed=seed)

for name in TASKS:
    ds = make_task(0, name)
    print(f"{name:18s} train {ds.n_train:5d} ({int(ds.y_train.sum()):3d} positive), "
          f"test {ds.n_test:4d} ({int(ds.y_test.sum()):3d} positive)")
cancer_raw, cancer = data.breast_cancer(seed=0), make_task(0, "breast cancer")
# the relabelling: positives are exactly sklearn's malignant cases
assert torch.equal(cancer.y_train, (cancer_raw.y_train == 0).long()) and cancer.y_train.float().mean() < 0.5

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · AnyLoss: the amplifying sigmoid
#
# AnyLoss turns the network's probability $p = \sigma(z)$ into a near-hard prediction $\hat y = A(p) = 1/(1+e^{-L(p-1/2)})$,
# sums it into a soft confusion matrix ($\mathrm{TP} = \sum_i y_i\hat y_i$, $\mathrm{FP} = \sum_i (1-y_i)\hat y_i$, ...), and
# minimises $1 - \text{metric}(\mathrm{TP}, \mathrm{FP}, \mathrm{FN}, \mathrm{TN})$, e.g.
# $1 - \frac{2\mathrm{TP}}{2\mathrm{TP} + \mathrm{FP} + \mathrm{FN}}$ for F1. The chain rule gives each sample the gradient
# $\frac{\partial(1-\text{metric})}{\partial \hat y_i}\,A'(p_i)\,p_i(1-p_i)$, and $A'(p) = L\,A(1-A)$ is large only near
# $p = 1/2$: a larger $L$ is closer to the hard metric but gives gradient only to samples near the boundary. The default
# $L = 73$ (the paper's notebooks) is about the largest value for which $1 - A(1) = e^{-L/2}$ is still above
# double-precision resolution.

# %% slideshow={"slide_type": "fragment"}
curve = analysis.amplifier_curve([1, 5, 20, 73])
fig = viz.line_panel(curve, "p", xlabel="probability p = sigmoid(z)", ylabel="A(p)", title="amplifying sigmoid")
fig.set_dpi(80)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-a"></a>**Check A** — the amplifier and the soft confusion matrix (deterministic).

# %% slideshow={"slide_type": "fragment"}
assert np.allclose(curve.loc[50, curve.columns[1:]], 0.5)      # A(1/2) = 1/2 for every L
assert 1 - curve["L=73"].iloc[90] < 1e-6                       # p = 0.9 is already a hard 1 at L = 73
# the soft confusion matrix at L = 73 is the hard one, up to tiny corrections
scores = torch.tensor([2.2, -1.4, 0.8, -0.4, 3.0, -2.0], dtype=torch.float64)
y = torch.tensor([1, 0, 1, 0, 0, 1])
soft = {k: round(float(v), 4) for k, v in binary.soft_confusion(scores, y, 73.0).items()}
print("soft confusion at L=73:", soft)
hard = {"tp": 2, "fp": 1, "fn": 1, "tn": 2}  # predictions z > 0: 1 0 1 0 1 0 (hand count)
assert all(abs(soft[k] - v) < 0.01 for k, v in hard.items())


# %% [markdown] slideshow={"slide_type": "fragment"}
# > **Predict, then move the slider.** At $L = 73$, $A(0.6)$ is already about 0.9993. Predict $A(0.6)$ at $L = 5$, and
# > say which samples still receive gradient as $L$ grows. Then move the slider.

# %% slideshow={"slide_type": "subslide"}
def draw(L):
    return viz.line_panel(analysis.amplifier_curve([L]), "p", xlabel="p", ylabel="A(p)", title=f"L = {L:g}")

display(widgets.FigureExplorer(draw, L=losses.info("anyloss").params["L"]))

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** $A(0.6) = 1/(1 + e^{-5\cdot0.1}) \approx 0.62$ at $L = 5$: a soft, almost linear map. As $L$ grows, $A'(p) = L A(1-A)$
# concentrates in a band of width about $4/L$ around $p = 1/2$: only samples near the decision boundary get gradient,
# which is why AnyLoss with a large $L$ can stall when every sample is confidently (wrongly) classified.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · The AUC-M saddle point
#
# The square-loss AUC surrogate $E\big[(m - h(x^+) + h(x^-))^2\big]$ over positive-negative pairs costs $O(n_+ n_-)$.
# Ying et al. (2016) and Yuan et al. (2021) rewrite it, per sample, as a **min-max** problem in the model $w$ and three
# scalars. With scores $h = \sigma(z) \in [0, 1]$, $\mu_\pm = E[h \mid y = \pm]$, $\mathrm{Var}_\pm$ the class variances and
# $p$ the positive ratio, AUC-M is
#
# $$\min_{w, a, b}\ \max_{\alpha \ge 0}\ f(w, a, b, \alpha), \quad
# f = E_+[(h - a)^2] + E_-[(h - b)^2] + 2\alpha\big(m - E_+[h] + E_-[h]\big) - \alpha^2 ,$$
#
# (the package's per-sample form multiplies everything by $p(1-p)$ to write it as one expectation over the batch).
#
# * **Inner max over $\alpha$.** $f$ is concave in $\alpha$: $\partial f/\partial\alpha = 2(m - \mu_+ + \mu_-) - 2\alpha = 0$, projected
#   on $\alpha \ge 0$: $\alpha^* = (m - \mu_+ + \mu_-)_+$, which adds $(m - \mu_+ + \mu_-)_+^2$.
# * **Min over $a, b$.** $\partial f/\partial a = -2E_+[h - a] = 0 \Rightarrow a^* = \mu_+$, and $b^* = \mu_-$; then
#   $E_+[(h - \mu_+)^2] = \mathrm{Var}_+$ and $E_-[(h-\mu_-)^2] = \mathrm{Var}_-$.
#
# $$f(w, a^*, b^*, \alpha^*) = \mathrm{Var}_+(h) + \mathrm{Var}_-(h) + \big(m - \mu_+ + \mu_-\big)_+^2 .$$
#
# So at the saddle the model is asked for **tight classes** and a **mean positive score at least $m$ above the mean negative
# score** — a ranking objective, blind to the threshold. With $m = 1$ and $h \in [0, 1]$ the margin term never reaches 0: it
# keeps pushing $\mu_+ \to 1$, $\mu_- \to 0$. Two ways to train it:
# * **learned** $a, b, \alpha$ (LibAUC): $a, b$ descend with the model, $\alpha$ ascends (gradient reversal here, PESG in
#   LibAUC). Until $a, b$ reach $\mu_\pm$ the first two terms pull the scores towards the *wrong* targets;
# * **closed form** (`closed_form=True`): put $a, b, \alpha$ at $a^*, b^*, \alpha^*$ for every batch and descend on the value
#   above; by Danskin's theorem its gradient in $w$ is the min-max gradient at the saddle.

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-b"></a>**Check B** — the learned form, evaluated at $a^*, b^*, \alpha^*$, equals the closed form, and moving $a$, $b$ away raises it while moving $\alpha$ away lowers it (three seeds of random scores).

# %% slideshow={"slide_type": "fragment"}
for seed in SEEDS:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(64, generator=g, dtype=torch.float64)
    yb = (torch.rand(64, generator=g) < 0.3).long()
    h, pos = torch.sigmoid(z), yb.bool()
    learned = losses.get("auc_margin", margin=1.0).double()
    closed = losses.get("auc_margin", margin=1.0, closed_form=True)(z, yb)
    a, b = h[pos].mean(), h[~pos].mean()
    alpha = (1.0 - a + b).clamp_min(0)
    def f(da=0.0, db=0.0, dalpha=0.0):
        with torch.no_grad():
            learned.a.fill_(a + da); learned.b.fill_(b + db); learned.alpha.fill_(alpha + dalpha)
        return learned(z, yb).item()
    assert abs(f() - closed.item()) < 1e-12, seed                         # the saddle value
    assert f(da=0.05) > f() and f(db=-0.05) > f(), seed                    # a minimum in a and b ...
    assert f(dalpha=0.05) < f() and f(dalpha=-0.05) < f(), seed            # ... and a maximum in alpha
print("saddle point checked for seeds", SEEDS)


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4 · Ten losses, two tasks, three seeds
#
# The same MLP (in → 32 → 16 → 1 score), 10 epochs of Adam (lr 0.01, batch 128).
# * **Baselines.** BCE; **class-weighted BCE** with `pos_weight` $= n_-/n_+$ of the training split (about 1.7 for breast
#   cancer, 20 for digits); and **BCE with a tuned threshold**: the BCE models, thresholded at the score that maximises F1
#   on the *training* set instead of at 0 (no retraining, no peeking at the test set).
# * AnyLoss with three metrics (F1, balanced accuracy, G-mean), EnsLoss (seeded generator), MW, and AUC-M twice: with
#   learned $a, b, \alpha$ (it starts from 5 epochs of BCE and then trains 5 epochs with its own loss, as its authors
#   recommend), and with `closed_form=True`, trained from scratch.
#
# F1 and balanced accuracy use the threshold $z > 0$ (except the tuned-threshold row); ROC AUC and average precision need none.

# %% slideshow={"slide_type": "fragment"}
def losses_for(pos_weight):
    return {
        "BCE": lambda: losses.get("bce"),
        "BCE weighted": lambda: losses.get("bce", pos_weight=pos_weight),
        "AnyLoss F1": lambda: losses.get("anyloss", metric="f1"),
        "AnyLoss BA": lambda: losses.get("anyloss", metric="balanced_accuracy"),
        "AnyLoss G-mean": lambda: losses.get("anyloss", metric="gmean"),
        "EnsLoss": lambda: losses.get("ensloss", generator=torch.Generator().manual_seed(0)),
        "AUC-M": lambda: losses.get("auc_margin", margin=1.0),
        "AUC-M closed form": lambda: losses.get("auc_margin", margin=1.0, closed_form=True),
        "MW": lambda: losses.get("mw"),
    }

def mlp(ds, seed):
    return models.for_kind("binary", ds.X_train.shape[1], 2, embedding_dim=16, hidden=(32,), seed=seed)

def metrics(model, ds):
    scores = analysis.outputs_on_test(model, ds)
    return {**analysis.binary_metrics(scores, ds.y_test),
            "average_precision": float(average_precision_score(ds.y_test.numpy(), scores.numpy()))}

def train_f1_threshold(model, ds):
    # the score threshold that maximises F1 on the training split (sklearn's PR curve lists every candidate)
    with torch.no_grad():
        model.eval()
        s = model(ds.X_train).squeeze(-1).numpy()
    precision, recall, thresholds = precision_recall_curve(ds.y_train.numpy(), s)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[np.argmax(f1[:-1])])

frames, trained = [], {}
for task in TASKS:
    d0 = make_task(0, task)
    pos_weight = float((d0.y_train == 0).sum() / d0.y_train.sum())
    kept = {}
    frame = experiments.compare_losses(losses_for(pos_weight), lambda seed: make_task(seed, task), mlp, metrics,
                                       seeds=SEEDS, keep=kept, pretrain={"AUC-M": lambda: losses.get("bce")},
                                       pretrain_epochs=5, verbose=False, epochs=10, lr=1e-2, batch_size=128)
    frames.append(frame.assign(task=task))
    for seed in SEEDS:  # the tuned-threshold baseline: the BCE models, another threshold
        model, ds = kept[("BCE", seed)]
        t = train_f1_threshold(model, ds)
        row = analysis.binary_metrics(analysis.outputs_on_test(model, ds), ds.y_test, threshold=t)
        row["average_precision"] = frame.query("loss == 'BCE' and seed == @seed")["average_precision"].item()
        frames.append(pd.DataFrame([{"loss": "BCE tuned threshold", "seed": seed, "task": task, "threshold": t, **row}]))
    trained.update({(label, task, seed): v for (label, seed), v in kept.items()})
runs = pd.concat(frames, ignore_index=True)
ORDER = ["BCE", "BCE weighted", "BCE tuned threshold", *list(losses_for(1.0))[2:]]
table = runs.groupby(["task", "loss"])[["f1", "balanced_accuracy", "roc_auc", "average_precision"]].mean()
table = table.reindex([(t, l) for t in TASKS for l in ORDER]).round(3)
table

# %% slideshow={"slide_type": "fragment"}
fig, axes = plt.subplots(2, 2, figsize=(13, 7), dpi=80)
in_order = runs.sort_values("loss", key=lambda s: s.map(ORDER.index), kind="stable")  # bars in the table's order
for ax, metric in zip(axes.flat, ("f1", "balanced_accuracy", "roc_auc", "average_precision")):
    viz.metric_by_setting(in_order, metric, "task", ax=ax, title=f"{metric} (mean ± sd over 3 seeds)")
handles, labels = axes[0, 0].get_legend_handles_labels()
for ax in axes.flat:
    ax.get_legend().remove()
fig.tight_layout()
fig.legend(handles, labels, title="loss", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize="small");

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### ROC and precision-recall at 1:20
#
# ROC AUC is the probability that a random positive outscores a random negative; at 1:20 a model can have a high ROC AUC
# while most of its top-scored samples are still negatives. The precision-recall curve (and its summary, **average
# precision**, AP; a random ranking has AP equal to the positive rate, about 0.05 here) shows that directly.

# %% slideshow={"slide_type": "fragment"}
SHOW = ["BCE", "BCE weighted", "AnyLoss F1", "AUC-M", "AUC-M closed form", "MW"]
curves = {label: (analysis.outputs_on_test(*trained[(label, "digits 8 vs rest", 0)]),
                  trained[(label, "digits 8 vs rest", 0)][1].y_test) for label in SHOW}
fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=80)
viz.roc_curves(curves, ax=axes[0], title="ROC, digits 8 vs rest (1:20), seed 0")
for label, (s, yt) in curves.items():
    precision, recall, _ = precision_recall_curve(yt.numpy(), s.numpy())
    axes[1].step(recall, precision, where="post", label=f"{label} (AP {average_precision_score(yt.numpy(), s.numpy()):.3f})")
base_rate = float(curves["BCE"][1].float().mean())
axes[1].axhline(base_rate, color="0.6", lw=0.8, ls="--")
axes[1].set(xlabel="recall", ylabel="precision", title="precision-recall, same models", ylim=(0, 1.02))
axes[1].legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
fig.tight_layout()

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-c"></a>**Check C** — the claims on the two tasks, three seeds.

# %% slideshow={"slide_type": "fragment"}
per_seed = runs.pivot_table(index=["task", "seed"], columns="loss", values=["f1", "balanced_accuracy", "roc_auc", "average_precision"])
digits_, cancer_ = per_seed.xs("digits 8 vs rest", level="task"), per_seed.xs("breast cancer", level="task")
# Claim 1: at 1:20, BCE's scores rank well (ROC AUC > 0.95) but at threshold 0 it never predicts a positive: F1 = 0.
assert (digits_["f1"]["BCE"] == 0).all() and digits_["roc_auc"]["BCE"].mean() > 0.95
# Claim 2: the two first fixes recover positives: class-weighted BCE and the tuned threshold reach F1 > 0.3 on every seed.
for name in ("BCE weighted", "BCE tuned threshold"):
    assert (digits_["f1"][name] > 0.3).all(), name
# Claim 3: AnyLoss, which optimises the metric on the batch, also finds positives: F1 > 0.3 and balanced accuracy at
# least 0.25 above BCE's, for each of its three metrics (means over seeds).
for name in ("AnyLoss F1", "AnyLoss BA", "AnyLoss G-mean"):
    assert digits_["f1"][name].mean() > 0.3, name
    assert digits_["balanced_accuracy"][name].mean() > digits_["balanced_accuracy"]["BCE"].mean() + 0.25, name
# Claim 4: MW ranks as well as BCE (ROC AUC within 0.01 or better) without a calibrated threshold.
assert digits_["roc_auc"]["MW"].mean() > digits_["roc_auc"]["BCE"].mean() - 0.01
# Claim 5: at 1:20 average precision is far below ROC AUC for every loss and seed: ranking well is not the same as a
# clean top of the list.
assert (digits_["average_precision"] < digits_["roc_auc"] - 0.1).all().all()
# Claim 6: on breast cancer (malignant positive, mild imbalance) every loss but the learned AUC-M reaches ROC AUC > 0.98.
assert (cancer_["roc_auc"].drop(columns="AUC-M").mean() > 0.98).all()
# Claim 7: the AUC-M objective works at its saddle point: the closed form ranks the 1:20 digits (ROC AUC > 0.95) and
# finds positives (balanced accuracy > 0.8) ...
assert digits_["roc_auc"]["AUC-M closed form"].mean() > 0.95 and digits_["balanced_accuracy"]["AUC-M closed form"].mean() > 0.8
# ... while with learned a, b, alpha under Adam it ranks worse than BCE on both tasks (see below).
assert per_seed["roc_auc"]["AUC-M"].groupby(level="task").mean().lt(per_seed["roc_auc"]["BCE"].groupby(level="task").mean()).all()


# %% [markdown] slideshow={"slide_type": "subslide"}
# ### How uncertain is an F1 measured on ~20 positives?
#
# The 1:20 test split has about 20 positives. One more or one fewer found moves recall by 5 points. We bootstrap the test
# set (resample its samples with replacement, 1000 times) and report the 95 % interval of F1 for the weighted BCE, the
# tuned threshold and AnyLoss F1, per seed.

# %% slideshow={"slide_type": "fragment"}
def bootstrap_f1(pred, target, n=1000, seed=0):
    # F1 = 2 TP / (2 TP + FP + FN) on n resamples of the test set at once (sklearn's f1_score per resample is slow)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(target), size=(n, len(target)))
    p, t = pred[idx], target[idx]
    tp, fp, fn = (p & t).sum(1), (p & (1 - t)).sum(1), ((1 - p) & t).sum(1)
    return 2 * tp / np.maximum(2 * tp + fp + fn, 1)

intervals = []
for label in ("BCE weighted", "BCE tuned threshold", "AnyLoss F1"):
    for seed in SEEDS:
        model, ds = trained[("BCE" if label == "BCE tuned threshold" else label, "digits 8 vs rest", seed)]
        s = analysis.outputs_on_test(model, ds).numpy()
        t = runs.query("loss == @label and seed == @seed and task == 'digits 8 vs rest'")
        threshold = float(t["threshold"].item()) if label == "BCE tuned threshold" else 0.0
        pred, yt = (s > threshold).astype(int), ds.y_test.numpy()
        boot = bootstrap_f1(pred, yt, seed=seed)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        intervals.append({"loss": label, "seed": seed, "test positives": int(yt.sum()), "F1": f1_score(yt, pred),
                          "95% low": lo, "95% high": hi, "width": hi - lo})
intervals = pd.DataFrame(intervals).set_index(["loss", "seed"])
intervals.round(3)

# %% [markdown] slideshow={"slide_type": "fragment"}
# <a id="check-d"></a>**Check D** — the F1 intervals are wide.

# %% slideshow={"slide_type": "fragment"}
# Every interval (3 losses x 3 seeds) is wider than 0.15: F1 differences of a few points between losses on one seed
# are noise at this test size.
assert (intervals["width"] > 0.15).all(), intervals
assert (intervals["test positives"] <= 25).all()
between = runs.query("task == 'digits 8 vs rest' and loss in ['BCE weighted', 'BCE tuned threshold', 'AnyLoss F1']")
print(f"median 95% interval width {intervals['width'].median():.2f}; spread of these losses' mean F1: "
      f"{between.groupby('loss')['f1'].mean().max() - between.groupby('loss')['f1'].mean().min():.2f}")

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 1 (pen and paper).** A model finds 12 of 20 positives and raises 8 false alarms among 400 negatives. Compute
# its F1, then the F1 if it had found 14. What does that say about comparing two losses by F1 on this test set?

# %% [markdown] jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# **Solution.** $\mathrm{F1} = 2\mathrm{TP}/(2\mathrm{TP} + \mathrm{FP} + \mathrm{FN}) = 24/(24 + 8 + 8) = 0.60$; with 14 found: $28/(28 + 8 + 6) = 0.67$.
# Two more positives found, well within sampling noise for 20 positives, move F1 by 7 points: differences of that size
# between losses need several seeds *and* a larger test set (or intervals, as in Check D) before they mean anything.

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Exercise 2 (code).** Class-weighted BCE with `pos_weight` $= n_-/n_+$ and BCE with a tuned threshold both move the
# decision boundary. Show, for seed 0 of the digits task, that the *ranking* of the weighted model is about as good as
# BCE's (compare ROC AUC) — i.e. weighting mostly moves the threshold.

# %% jupyter={"source_hidden": true} slideshow={"slide_type": "fragment"}
# Solution
print(runs.query("task == 'digits 8 vs rest' and seed == 0 and loss in ['BCE', 'BCE weighted']")[["loss", "roc_auc", "f1"]])
# ROC AUC differs by a little, F1 by a lot: the weight mainly shifts the scores of the positives up, as a threshold would.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What we saw
#
# - **BCE at 1:20** ([Check C](#check-c)): binary cross-entropy ranks the test digits well (ROC AUC above 0.95) but never
#   predicts the rare class at threshold 0: F1 = 0 on every seed. The metric was never its objective.
# - **The first fixes work** ([Check C](#check-c)): class-weighted BCE ($n_-/n_+$) and BCE with a threshold tuned for F1 on
#   the training set both reach F1 above 0.3 on every seed. Any other loss should be compared with these, not with plain BCE.
# - **AnyLoss** ([Check C](#check-c)), minimising $1 - $ F1, balanced accuracy or G-mean of a soft confusion matrix of each
#   batch, finds the positives: F1 above 0.3 and balanced accuracy at least 0.25 higher than BCE's (means over seeds).
# - **MW** ranks as well as BCE ([Check C](#check-c)). Its threshold means nothing (it only sees score differences), so read
#   its ROC AUC, not its F1.
# - **ROC vs precision-recall** ([Check C](#check-c)): at 1:20 average precision is more than 0.1 below ROC AUC for every loss
#   and seed; the PR panel shows where precision drops.
# - **F1 on ~20 positives is uncertain** ([Check D](#check-d)): every bootstrap 95 % interval of F1 is wider than 0.15
#   (median width printed in Check D, about 0.3), so F1 differences of a few points between losses here are not evidence.
# - **Breast cancer** with malignant as the positive class ([Check C](#check-c)): every loss except the learned AUC-M reaches
#   ROC AUC above 0.98: with enough positives the choice of loss hardly matters.
# - **AUC-M** ([Check B](#check-b), [Check C](#check-c)): the learned form evaluated at $a^* = \mu_+$, $b^* = \mu_-$,
#   $\alpha^* = (m - \mu_+ + \mu_-)_+$ equals the closed-form saddle value $\mathrm{Var}_+ + \mathrm{Var}_- + (m - \mu_+ + \mu_-)_+^2$
#   (times $p(1-p)$), a minimum in $a, b$ and a maximum in $\alpha$. **With learned $a, b, \alpha$ it did not work here**:
#   even after 5 epochs of BCE it ranked worse than BCE on both tasks. Its scores are pulled towards $a$ and $b$, which
#   start at 0 and, under Adam at lr 0.01, move at most about 0.01 per step, so they lag the model and the sigmoid
#   scores collapse; LibAUC trains them with its PESG optimiser at lr 0.1 and a larger budget. **At its saddle point the
#   same objective works**: `closed_form=True`, trained from scratch, ranks the 1:20 digits with ROC AUC above 0.95 and
#   a balanced accuracy above 0.8.
# - EnsLoss trains like a calibrated loss (ROC AUC above 0.98 on breast cancer, as asserted for every loss but AUC-M),
#   and fails at 1:20 like plain BCE: on the digits its F1 is 0 (every sample predicted negative at the 0.5 threshold)
#   and its ROC AUC (0.94 in the table) is the lowest of the trained losses but AUC-M. A calibrated loss estimates
#   $p(y=1\mid x)$, which stays below 0.5 for most positives when they are 1 in 21: without a tuned threshold or
#   class weights, calibration alone does not help with imbalance. Read from the table, not asserted.
#
# ## References
# - Han, Moniz, Chawla 2024, AnyLoss, [arXiv:2405.14745](https://arxiv.org/abs/2405.14745).
# - Dai 2025, EnsLoss, [arXiv:2409.00908](https://arxiv.org/abs/2409.00908).
# - Yuan, Yan, Sonka, Yang 2021, AUC-M, [arXiv:2012.03173](https://arxiv.org/abs/2012.03173); LibAUC, [libauc.org](https://libauc.org).
# - Ying, Wen, Lyu 2016, Stochastic online AUC maximization, NeurIPS 2016.
# - Sheikholeslami et al. 2025, MW loss, [arXiv:2510.00137](https://arxiv.org/abs/2510.00137).
# - Saito & Rehmsmeier 2015, PR vs ROC on imbalanced data, [doi:10.1371/journal.pone.0118432](https://doi.org/10.1371/journal.pone.0118432).
# - Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, [doi:10.1201/9780429246593](https://doi.org/10.1201/9780429246593).
#
# ---
# **Previous:** [02 · The Z-loss](02_z_loss.ipynb) · [series index](README.md) · **Next:** [04 · Contrastive temperature](04_contrastive_temperature.ipynb)
