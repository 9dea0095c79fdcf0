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
# # 08 · Multiple-instance learning and attention entropy
#
# **What this notebook teaches.** In multiple-instance learning (MIL) a label belongs to a *bag* of instances,
# not to the instances: a bag of digits is positive when a **9** is somewhere inside. Attention-based MIL
# learns a weight per instance, pools the bag with those weights and classifies the pooled vector; the
# weights double as an explanation ("which instance made this bag positive?"). Two things go wrong:
# the attention tends to **collapse** onto one or two instances, and many pooling operators quietly
# **break the MIL assumption** (a bag is positive iff it holds at least one positive instance). We watch
# attention entropy while training, regularise it, challenge the attention by masking, test five pooling
# operators with algorithmic unit tests, and compare bag- and instance-level losses for aggregate labels.
#
# **Papers it follows**
# - *Attention-based Deep Multiple Instance Learning* (Ilse, Tomczak, Welling, ICML 2018): attention and gated
#   attention pooling, MNIST-bags (here: the 8x8 digits of scikit-learn).
# - *AEM: Attention Entropy Maximization for MIL based Whole Slide Image Classification* (Zhang et al., 2024):
#   add $\lambda\sum_i a_i\log a_i$ (the negative attention entropy) to the bag loss.
# - *Attention-Challenging Multiple Instance Learning for Whole Slide Image Classification* (ACMIL, Zhang et al.,
#   ECCV 2024): several attention branches kept apart by a diversity term, and stochastic top-K instance masking.
# - *Reproducibility in Multiple Instance Learning: A Case For Algorithmic Unit Tests* (Raff & Holt, NeurIPS 2023).
# - *Learning from Aggregate responses: Instance Level versus Bag Level Loss Functions* (Javanmard et al., ICLR 2024).
#
# The package `workbench` computes (`data.digit_bags`, `models.MILModel`, `losses.get("aem")`,
# `train.fit_bags`, `analysis.attention_entropy`, ...); this notebook tells. Every claim is checked by an
# `assert`.

# %% slideshow={"slide_type": "fragment"}
import numpy as np
import pandas as pd
import torch
import matplotlib.pyplot as plt

from workbench import analysis, data, experiments, losses, models, train, viz

torch.set_num_threads(1)  # tiny models: one thread is fastest and bit-reproducible
plt.rcParams["figure.dpi"] = 80
SEEDS = (0, 1, 2)
bags = data.digit_bags(seed=0)  # ~10 digits per bag (sd 2), positive iff a 9 is inside
print(bags, f"-- {bags.y_train.float().mean():.0%} of the training bags are positive")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1 · Attention MIL on digit bags, with and without AEM
#
# Each instance (64 pixels) is embedded by a small MLP to $h_n\in\mathbb{R}^{32}$; the attention logit is
# $A_n = w^\top\tanh(Vh_n)$, the weights $a = \operatorname{softmax}(A)$, the bag vector $z=\sum_n a_n h_n$.
# Bags of different sizes share one padded batch; padding gets logit $-\infty$, hence zero attention.
#
# We measure the **normalised attention entropy** $\tilde H = -\frac{1}{\log n}\sum_i a_i\log a_i$ (1 =
# uniform, 0 = all on one instance; dividing by $\log n$ makes bags of different sizes comparable), the
# **bag AUC**, and the **localisation AUC**: within each positive bag, does the attention rank the 9s above
# the other digits? AEM adds $\lambda\sum_i a_i \log a_i$ to the loss; we try $\lambda\in\{0, 0.1, 0.5, 1\}$.

# %% slideshow={"slide_type": "fragment"}
losses.info("aem")

# %% slideshow={"slide_type": "fragment"}
WEIGHTS = (0.0, 0.1, 0.5, 1.0)
EPOCHS, LR = 12, 2e-3


def attention_mil(seed=0, **kw):
    return models.MILModel(64, "attention", embedding_dim=32, hidden=(64,), seed=seed, **kw)


runs, fitted = {}, {}
for w in WEIGHTS:
    model = attention_mil()
    runs[f"AEM λ={w:g}"] = train.fit_bags(model, bags, loss=losses.get("aem", weight=w), epochs=EPOCHS, lr=LR,
                                          metrics=analysis.mil_metrics, verbose=False)
    fitted[w] = model
final = pd.DataFrame({k: h.last for k, h in runs.items()}).T[["test_auc", "test_loc_auc", "test_entropy",
                                                              "test_top1_mass"]]
viz.training_curves(runs, ("test_entropy", "test_top1_mass", "test_auc", "test_loc_auc"));
final.round(3)

# %% [markdown] slideshow={"slide_type": "fragment"}
# Without AEM ($\lambda=0$) the entropy starts near 1 (an untrained model attends uniformly) and falls as
# the model learns: the attention concentrates on a few instances. AEM keeps it up, the more so the larger
# $\lambda$. Is that robust? Three seeds of the two extreme settings:

# %% slideshow={"slide_type": "fragment"}
rows = []
for seed in SEEDS:
    seed_bags = data.digit_bags(seed=seed)
    for w in (0.0, 1.0):
        h = runs[f"AEM λ={w:g}"] if seed == 0 else train.fit_bags(  # seed 0 ran above
            attention_mil(seed), seed_bags, loss=losses.get("aem", weight=w), epochs=EPOCHS, lr=LR, seed=seed,
            metrics=analysis.mil_metrics, verbose=False)
        rows.append({"seed": seed, "λ": w, **{k: h.last[k] for k in ("test_entropy", "test_auc", "test_loc_auc")}})
seeds_table = pd.DataFrame(rows).pivot(index="seed", columns="λ")
seeds_table.round(3)

# %% slideshow={"slide_type": "fragment"}
entropy = final["test_entropy"].values
assert all(np.diff(entropy) > 0), "attention entropy rises with the AEM weight"
assert (seeds_table["test_entropy"][1.0] > seeds_table["test_entropy"][0.0] + 0.2).all(), "AEM raises entropy, every seed"
assert (seeds_table["test_auc"][0.0] > 0.9).all()  # plain attention MIL solves digit bags
# At 12 epochs on 200 bags AEM does NOT improve the bag AUC (the paper reports gains on whole-slide images):
print("mean bag AUC  λ=0:", seeds_table["test_auc"][0.0].mean().round(3), " λ=1:", seeds_table["test_auc"][1.0].mean().round(3))
assert seeds_table["test_auc"][1.0].mean() <= seeds_table["test_auc"][0.0].mean() + 0.01

# %% [markdown] slideshow={"slide_type": "fragment"}
# **What the attention looks at.** One positive test bag, the weight of every digit under the plain model
# and under AEM $\lambda=1$ (red frames: the 9s, the key instances).

# %% slideshow={"slide_type": "fragment"}
X, mask, y, key = bags.padded("test")
positive = [i for i in range(len(y)) if y[i] == 1 and 1 <= key[i].sum() <= 2]
b = positive[0]
n = int(mask[b].sum())
for w in (0.0, 1.0):
    with torch.no_grad():
        out = fitted[w].eval()(X[b:b + 1, :n])
    viz.bag_attention(X[b, :n], out.attention[0], key=key[b, :n],
                      title=f"AEM λ={w:g}: entropy {analysis.attention_entropy(out.attention_logits)[0]:.2f}")
plt.show()
out0 = models.predict_bags(fitted[0.0], bags)
# the plain model's most attended instance is a 9 in most positive test bags
top_is_key = [bool(key[i, out0.attention[i].argmax()]) for i in range(len(y)) if y[i] == 1]
print(f"plain attention MIL: the top-attended digit is a 9 in {np.mean(top_is_key):.0%} of positive test bags")
assert np.mean(top_is_key) > 0.8

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2 · ACMIL: several attention branches, kept apart, and challenged
#
# ACMIL uses $K$ attention branches (here $K=5$, gated attention). Each branch pools the bag its own way and has
# its own classifier (the per-branch losses); the bag classifier sees the mean attention. The **diversity
# term** is the mean cosine similarity between the branches' attention maps, $\frac{2}{K(K-1)}\sum_{i<j}
# \cos(a_i, a_j)$: 1 when all branches look at the same instances. **STKIM** (stochastic top-K instance
# masking), in training only: in each branch, hide a random `mask_drop` share of the `n_masked` most attended
# instances (logit $-10^9$), so the model cannot lean on a few instances.
# The official README recipe hides 6 of the top 10 (`n_masked=10, mask_drop=0.6`) in slides of thousands of
# patches; our bags hold ~10 digits, so we hide 3 of the top 5.

# %% slideshow={"slide_type": "fragment"}
acmil_bag = data.pad_bags([bags.bags_train[0]])[0]
demo = models.MILModel(64, "gated", branches=5, n_masked=5, mask_drop=0.6, seed=0)
demo.train()
masked = (demo(acmil_bag, generator=torch.Generator().manual_seed(0)).attention_logits == -1e9).sum(-1)
print("instances masked per branch in training mode:", masked.tolist(), "(int(5 * 0.6) = 3 of the top 5)")
demo.eval()
first, second = demo(acmil_bag).attention_logits, demo(acmil_bag).attention_logits
assert masked.tolist() == [[3] * 5] and torch.equal(first, second) and (first > -1e8).all()  # eval: no masking
losses.info("acmil")

# %% slideshow={"slide_type": "fragment"}
acmil_runs = {}
for label, kw, w in (("5 branches, no diversity", {}, 0.0), ("ACMIL: diversity", {}, 1.0),
                     ("ACMIL: diversity + STKIM", {"n_masked": 5, "mask_drop": 0.6}, 1.0)):
    model = models.MILModel(64, "gated", branches=5, embedding_dim=32, hidden=(64,), seed=0, **kw)
    acmil_runs[label] = train.fit_bags(model, bags, loss=losses.get("acmil", weight=w), epochs=EPOCHS, lr=LR,
                                       metrics=analysis.mil_metrics, verbose=False)
viz.training_curves(acmil_runs, ("test_diversity", "test_entropy", "test_auc", "test_loc_auc"));
acmil_final = pd.DataFrame({k: h.last for k, h in acmil_runs.items()}).T
acmil_final[["test_auc", "test_loc_auc", "test_entropy", "test_diversity"]].round(3)

# %% slideshow={"slide_type": "fragment"}
div = acmil_final["test_diversity"]
assert div["5 branches, no diversity"] > 0.95, "without the term, the branches attend alike"
assert div["ACMIL: diversity"] < div["5 branches, no diversity"] - 0.3, "the diversity term pulls the branches apart"
# Honest: with bags of ~10 digits and 1-2 nines, STKIM often hides every 9 from a branch during training;
# at this scale the masked model then learns far less (lower bag and localisation AUC) than the unmasked one.
stkim, plain = acmil_final.loc["ACMIL: diversity + STKIM"], acmil_final.loc["ACMIL: diversity"]
print(f"bag AUC with STKIM {stkim.test_auc:.3f} vs without {plain.test_auc:.3f}")
assert stkim.test_auc < plain.test_auc

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3 · The algorithmic unit tests: which poolings respect the MIL assumption?
#
# Raff & Holt's synthetic tests train on bags where a shortcut works and test where it does not:
#
# - **single concept, poisoned**: a "poison" instance far from everything sits in every *negative* training bag
#   and every *positive* test bag. Under the MIL assumption an instance can only be evidence *for* the
#   positive class, so "poison ⇒ negative" is forbidden, and a model that learned it ranks the test bags
#   backwards (AUC below 0.5).
# - **two concepts, poisoned**: positive needs two concepts together (a threshold MIL rule), poisoned the same way.
# - **false frequency**: positive = both concepts once; negative = one concept, once at training time,
#   35-44 copies at test time. Counting instead of checking presence fails.
#
# Five poolings, same encoder, same budget; a test passes when the test-set bag AUC is at least 0.6 (our
# threshold).

# %% slideshow={"slide_type": "fragment"}
unit = experiments.mil_unit_tests(seeds=(0,), epochs=10, lr=5e-3, verbose=False)
viz.unit_test_table(unit);
unit.pivot(index="pooling", columns="test", values="test_auc").round(2)

# %% slideshow={"slide_type": "fragment"}
auc = unit.set_index(["pooling", "test"])["test_auc"]
assert (unit["train_auc"] > 0.75).all(), "every pooling fits its training bags"
# Only the instance classifier with max pooling respects the MIL assumption and ignores the poison.
assert auc["instance", "single_concept"] >= 0.6
for pooling in ("attention", "gated", "mean", "max"):
    assert auc[pooling, "single_concept"] < 0.5, f"{pooling} learned 'poison => negative'"
# Attention and mean pooling average over the bag, so 35+ copies of one concept change the bag vector:
for pooling in ("attention", "gated", "mean"):
    assert auc[pooling, "false_frequency"] < 0.5

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Why.** The instance classifier scores every instance and takes the *max*: adding an instance can only raise
# the bag score, so the poison can never push a bag towards negative; it is the only operator here built on
# the MIL assumption. Attention, gated attention and mean pooling feed a weighted *average* of embeddings to a
# linear classifier, which can give the poison direction a negative weight: they learn the shortcut
# perfectly on the training bags and rank the test bags backwards. Feature-wise max pooling (MI-Net) is
# monotone in each feature but its classifier may still weight a feature negatively, so it learns the
# shortcut too. The two-concept rule needs *two* instances together: the instance classifier cannot express
# it (AUC near 0.5), the others can but also take the poison. On false frequency, averaging operators see
# "many copies" as "more concept" and fail; max pooling ignores copies, but at this scale it only half
# learned the rule.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4 · Aggregate responses: bag-level versus instance-level loss
#
# Regression where each bag of 10 instances only reveals the **mean** of its instances' responses
# ($y_i = \langle\theta, x_i\rangle + $ noise, $x_i\sim N(0, I_8)$). A linear model predicts every instance.
# The **bag-level** loss compares the mean prediction with the bag's mean; the **instance-level** loss gives
# every instance its bag's mean as label. With squared loss,
# $\frac1k\sum_i(\bar y-f_i)^2 = (\bar y-\bar f)^2 + \frac1k\sum_i(f_i-\bar f)^2$: the instance loss is the bag
# loss plus a within-bag variance penalty, and $\rho\in[0,1]$ interpolates (`losses.get("aggregate_response", rho=...)`).

# %% slideshow={"slide_type": "fragment"}
agg = data.aggregate_bags(seed=0)
f = torch.randn(4, 10, dtype=torch.float64)
ybar = torch.randn(4, dtype=torch.float64)
identity_gap = (losses.get("aggregate_response", rho=1.0)(f, ybar)
                - losses.get("aggregate_response", rho=0.0)(f, ybar) - f.var(1, unbiased=False).mean())
assert abs(identity_gap) < 1e-12  # instance loss = bag loss + within-bag variance

rows, thetas = [], {}
for seed in SEEDS:
    seed_agg = data.aggregate_bags(seed=seed)
    for rho in (0.0, 0.5, 1.0):
        model = models.MLP(8, 1, hidden=(), seed=seed)
        h = train.fit_bags(model, seed_agg, loss=losses.get("aggregate_response", rho=rho), epochs=25, lr=2e-2,
                           seed=seed, metrics=analysis.mil_metrics, verbose=False)
        theta_hat = model.net[-1].weight.detach().flatten()
        rows.append({"seed": seed, "rho": rho, "instance MSE": h.last["test_instance_mse"],
                     "bag MSE": h.last["test_bag_mse"],
                     "|θ̂| / |θ|": float(theta_hat.norm() / seed_agg.meta["theta"].norm())})
agg_table = pd.DataFrame(rows)
agg_table.groupby("rho")[["instance MSE", "bag MSE", "|θ̂| / |θ|"]].mean().round(3)

# %% slideshow={"slide_type": "fragment"}
by = agg_table.pivot(index="seed", columns="rho")
assert (by["instance MSE"][0.0] < by["instance MSE"][1.0]).all(), "bag-level wins at this scale, every seed"
assert (by["|θ̂| / |θ|"][1.0] < by["|θ̂| / |θ|"][0.0]).all(), "the instance-level fit is shrunk towards 0"

# %% [markdown] slideshow={"slide_type": "fragment"}
# With bags drawn at random, the bag-level estimator is unbiased, while the instance-level loss labels every
# instance with a mean over 10 mostly *unrelated* instances and so shrinks $\hat\theta$ towards zero (it is
# the bag loss plus a penalty on within-bag variance). Javanmard et al. show the instance-level loss trading
# this bias for lower variance and an interpolation beating both; at this scale (100 bags, 8 dimensions,
# enough data for the unbiased estimator) bag-level wins on every seed and we did not see the interpolation
# win.
#
# ## What we saw
#
# (Numbers from this run; seeds fixed, so a re-run gives the same.)
#
# - Plain attention MIL solves digit bags (bag AUC 0.98 / 0.99 / 0.95 on three seeds) and its attention finds
#   the 9s (the top-attended digit is a 9 in 98 % of positive test bags), while its normalised attention
#   entropy falls from 1.0 to about 0.47: attention concentrates on one or two digits.
# - AEM raises the attention entropy monotonically with $\lambda$ (0.47, 0.72, 0.98, 0.995 for
#   $\lambda$ = 0, 0.1, 0.5, 1; above 0.98 for $\lambda=1$ on every seed). At 12 epochs on 200 bags it does
#   **not** raise the bag AUC (mean 0.97 without, 0.88 with $\lambda=1$): the paper's gains on whole-slide
#   images did not reproduce at this scale. The curves show why: with a large $\lambda$ the bag AUC is still
#   climbing at epoch 12, so AEM mainly slowed learning here; localisation stays high either way.
# - ACMIL's diversity term drives the mean cosine between the five branches' attention maps from 1.00 to
#   0.33 at a small cost in bag AUC (0.99 to 0.97). STKIM (hiding 3 of each branch's top 5 digits) on bags
#   of ~10 digits with one or two 9s hides the evidence: the model fell to bag AUC 0.54 and attends away from
#   the 9s (localisation AUC 0.13). The paper's setting (thousands of patches per slide, top 10) is
#   different; here the masking was harmful.
# - In the algorithmic unit tests only the max-of-instance-scores classifier passes the poisoned
#   single-concept test (test AUC 0.89); attention, gated attention, mean and max-feature pooling reach
#   training AUC near 1 and test AUC 0.00: they learned the forbidden "poison ⇒ negative" rule. No pooling
#   passes the poisoned two-concept test; the averaging poolings fail false frequency (AUC <= 0.06), max
#   pooling is at 0.59.
# - For aggregate responses the instance-level loss equals the bag-level loss plus the within-bag variance
#   (to 1e-12). With random bags the bag-level loss gives the lowest instance MSE on every seed (0.27 against
#   0.92 for instance-level, noise floor 0.25), and the instance-level fit shrinks $\hat\theta$ to about 12 %
#   of $\lvert\theta\rvert$; the interpolation ($\rho=0.5$) sits in between.
