"""experiments.dual_adversarial_training: the three models of a seed, their scores and samples, repeatable."""

import torch

from workbench import data, experiments


def test_dual_adversarial_training_scores_three_models_per_seed_and_repeats():
    digits = data.digits(seed=0)
    kwargs = dict(seeds=(0,), std_epochs=1, at_epochs=1, finetune_epochs=1, samples_per_class=1, gen_steps=3)
    first, second = (experiments.dual_adversarial_training(digits, **kwargs) for _ in range(2))
    scores = first["scores"]
    assert scores.model.tolist() == ["standard", "adversarial", "dat"]
    assert scores.equals(second["scores"])
    rates = scores[["clean_acc", "robust_acc", "sample_hit"]]
    assert ((rates >= 0) & (rates <= 1)).all().all()
    assert (scores.robust_acc <= scores.clean_acc + 0.05).all()  # the attack does not help the classifier
    assert set(first["samples"][0]) == {"standard", "adversarial", "dat"}
    seeds = first["seeds"][0]
    assert seeds.shape == (10, 64) and all(s.shape == seeds.shape for s in first["samples"][0].values())
    assert all(not torch.equal(s, seeds) for s in first["samples"][0].values())
    history = first["histories"][0]
    assert len(history) == 11 and {"T", "auc", "ebm_loss", "clf_loss"} <= set(history.columns)
