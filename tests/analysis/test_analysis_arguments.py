"""Every public analysis function names a bad number among its keyword arguments in a ValueError (DEVELOPERS.md:
"a ValueError naming the argument"; bools, strings and NaN are never numbers, whatever the range), before it
computes anything with it."""

import inspect

import pytest
import torch
from conftest import assert_names_the_bad_argument, bad_argument_cases, numeric_keywords, seed_cases

from workbench import analysis, losses, models


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _emb(n=40, d=4, seed=0):
    return torch.randn(n, d, generator=_g(seed))


def _lab(n=40, c=4):
    return torch.arange(n) % c


def _binary():
    return torch.tensor([-1.0, 0.5, 2.0, -0.3]), torch.tensor([0, 1, 1, 0])


def _multi():
    return torch.randn(6, 3, generator=_g(1)), (torch.arange(18).reshape(6, 3) % 2 == 0).long()


# each function with valid arguments (the bad value replaces one numeric keyword); built lazily, per test
CALLS = {
    "alignment": lambda: (analysis.alignment, (_emb(8), _emb(8, seed=1)), {}),
    "amplifier_curve": lambda: (analysis.amplifier_curve, ([1.0, 2.0],), {}),
    "asl_gradient_curve": lambda: (analysis.asl_gradient_curve, (), {}),
    "binary_metrics": lambda: (analysis.binary_metrics, _binary(), {}),
    "cka": lambda: (analysis.cka, (_emb(12), _emb(12, seed=1)), {}),
    "contrastive_metrics": lambda: (analysis.contrastive_metrics, (_emb(), _lab()), {}),
    "dec_target_along": lambda: (analysis.dec_target_along, (_emb(5, 2), _emb(10, 2), _emb(3, 2, seed=2)), {}),
    "few_shot_accuracy": lambda: (analysis.few_shot_accuracy, (torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]),
                                                               [50, 20, 5]), {}),
    "gaussian_mean_landscape": lambda: (analysis.gaussian_mean_landscape, ([0.0, 1.0], 2.0), {}),
    "gaussian_nb_probe": lambda: (analysis.gaussian_nb_probe, (_emb(), _lab(), _emb(seed=1), _lab()), {}),
    "gpw_dependence": lambda: (analysis.gpw_dependence, (losses.get("binomial_deviance"),), {}),
    "importance_weight_relative_variance": lambda: (analysis.importance_weight_relative_variance, (0.5,), {}),
    "knn_probe": lambda: (analysis.knn_probe, (_emb(), _lab(), _emb(seed=1), _lab()), {}),
    "loss_seconds": lambda: (analysis.loss_seconds, (losses.get("cross_entropy"), 8), {}),
    "margin_curve": lambda: (analysis.margin_curve, (losses.get("cross_entropy"), [0.0, 1.0]), {}),
    "multilabel_metrics": lambda: (analysis.multilabel_metrics, _multi(), {}),
    "ndcg_at_k": lambda: (analysis.ndcg_at_k, (torch.randn(4, 12, generator=_g(2)), torch.rand(4, 12, generator=_g(3))),
                          {}),
    "nmi": lambda: (analysis.nmi, (_emb(), _lab()), {}),
    "posthoc_logit_adjustment": lambda: (analysis.posthoc_logit_adjustment,
                                         (torch.randn(2, 3, generator=_g(4)), torch.tensor([0.5, 0.3, 0.2])), {}),
    "precision_at_k": lambda: (analysis.precision_at_k, _multi(), {}),
    "prototype_accuracy": lambda: (analysis.prototype_accuracy, (_emb(60), _lab(60, 6)), {}),
    "proxy_weight_curve": lambda: (analysis.proxy_weight_curve,
                                   (losses.get("proxy_anchor", num_classes=2, embedding_dim=2), [0.0, 0.5]), {}),
    "retrieval_metrics": lambda: (analysis.retrieval_metrics, (_emb(), _lab()), {}),
    "robust_accuracy": lambda: (analysis.robust_accuracy, (models.MLP(4, 3, seed=0), torch.rand(6, 4, generator=_g(2)),
                                                           torch.arange(6) % 3), {}),
    "ridge_probe": lambda: (analysis.ridge_probe, (_emb(), torch.randn(40, generator=_g(5)), _emb(seed=1)), {}),
    "similarity_curve": lambda: (analysis.similarity_curve, (losses.get("ntxent", temperature=0.1), [0.0, 0.5]), {}),
    "stitching_accuracy": lambda: (analysis.stitching_accuracy, (_emb(), _emb(seed=1), _emb(seed=2), _emb(seed=3),
                                                                 _lab(), _lab()), {"anchors": 8}),
    "target_logit_curve": lambda: (analysis.target_logit_curve,
                                   (losses.get("arcface", num_classes=2, embedding_dim=2), [0.0, 90.0]), {}),
    "top_k_attention_mass": lambda: (analysis.top_k_attention_mass, (torch.randn(2, 5, generator=_g(6)),), {}),
    "topk_accuracy": lambda: (analysis.topk_accuracy, (torch.randn(6, 3, generator=_g(7)), torch.arange(6) % 3), {}),
    "transductive_accuracy": lambda: (analysis.transductive_accuracy, (_emb(120), _lab(120, 6)), {}),
    "transductive_kmeans": lambda: (analysis.transductive_kmeans, (_emb(6), _lab(6, 3), _emb(9, seed=1)), {}),
    "uniformity": lambda: (analysis.uniformity, (_emb(8),), {}),
    "verification_roc": lambda: (analysis.verification_roc, (_emb(), _lab()), {}),
    "view_similarities": lambda: (analysis.view_similarities, (torch.randn(6, 2, 4, generator=_g(8)),), {}),
    "weight_curve": lambda: (analysis.weight_curve, (losses.get("multi_similarity"), [0.0, 0.5]), {}),
}


CASES = bad_argument_cases(CALLS)


def test_every_public_function_with_a_numeric_keyword_is_listed():
    public = [getattr(analysis, n) for n in dir(analysis) if not n.startswith("_")]
    assert {f.__name__ for f in public if inspect.isfunction(f) and numeric_keywords(f)} == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_valid_call_runs(name):
    function, args, kwargs = CALLS[name]()
    function(*args, **kwargs)  # so that the ValueErrors below come from the bad argument alone


@pytest.mark.parametrize("name, keyword, bad", CASES)
def test_functions_name_a_bad_number(name, keyword, bad):
    assert_names_the_bad_argument(CALLS[name], keyword, bad)


@pytest.mark.parametrize("name", seed_cases(CALLS))
def test_a_negative_seed_is_refused(name):
    assert_names_the_bad_argument(CALLS[name], "seed", -1)
