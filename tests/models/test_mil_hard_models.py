"""MHIM-MIL's hard-instance masking and INS's instance-classifier model: the official selection rules,
never an empty bag, permutation invariance and padding that changes nothing."""

import math

import pytest
import torch

from workbench import data, models


def test_high_masking_hides_a_random_share_of_the_top_instances_only():
    # official select_mask_fn: top ceil(n h / h_r) instances, ceil(that * h_r) of them at random
    scores = torch.arange(20.0)[None]  # instance 19 is the most attended
    mask = torch.ones(1, 20, dtype=torch.bool)
    for seed in range(5):
        keep = models.hard_instance_mask(scores, mask, high=0.1, high_random=0.5,
                                         generator=torch.Generator().manual_seed(seed))
        dropped = (~keep[0]).nonzero().flatten().tolist()
        assert len(dropped) == math.ceil(math.ceil(20 * 0.1 / 0.5) * 0.5) == 2
        assert all(i >= 16 for i in dropped)  # only among the top 4


def test_low_and_random_masking_and_their_union():
    scores, mask = torch.arange(10.0)[None], torch.ones(1, 10, dtype=torch.bool)
    keep = models.hard_instance_mask(scores, mask, high=0.0, low=0.2)
    assert (~keep[0]).nonzero().flatten().tolist() == [0, 1]
    keep = models.hard_instance_mask(scores, mask, high=0.0, random=0.5, generator=torch.Generator().manual_seed(0))
    assert int((~keep).sum()) == 5
    keep = models.hard_instance_mask(scores, mask, high=0.1, high_random=1.0, low=0.1)
    assert (~keep[0]).nonzero().flatten().tolist() == [0, 9]


def test_masking_never_empties_a_bag_nor_touches_padding():
    scores = torch.randn(3, 6)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 2:], mask[2, 1:] = False, False  # sizes 6, 2, 1
    keep = models.hard_instance_mask(scores, mask, high=1.0, high_random=1.0, random=1.0)
    assert keep.any(1).all() and not (keep & ~mask).any()
    assert keep.sum(1).tolist() == [1, 1, 1]
    assert torch.equal(models.hard_instance_mask(scores, mask, high=0.0), mask)  # ratio 0 masks nothing


@pytest.mark.parametrize("bad", [{"high": 1.5}, {"high_random": 0.0}, {"random": -0.1}, {"low": float("nan")}])
def test_masking_refuses_bad_ratios(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        models.hard_instance_mask(torch.zeros(1, 3), torch.ones(1, 3, dtype=torch.bool), **bad)


def test_ema_update_moves_the_teacher_towards_the_student():
    student, teacher = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    before = teacher.weight.detach().clone()
    models.ema_update(teacher, student, 0.9)
    assert torch.allclose(teacher.weight, 0.9 * before + 0.1 * student.weight)


@pytest.mark.parametrize("bag_score", ["mean", "max"])
def test_ins_model_is_permutation_invariant_and_padding_changes_nothing(bag_score):
    model = models.INSModel(64, bag_score=bag_score, seed=0).eval()
    bags = data.digit_bags(n_train=4, n_test=4, seed=0)
    X, mask, _, _ = bags.padded("test")
    out = model(X, mask)
    for b, n in enumerate(mask.sum(1).tolist()):
        alone = model(bags.bags_test[b])
        assert torch.allclose(alone.logits, out.logits[b:b + 1], atol=1e-6)  # padding changes nothing
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(b))
        shuffled = model(bags.bags_test[b][perm])
        assert torch.allclose(shuffled.logits, alone.logits, atol=1e-6)  # permutation invariance
        assert torch.allclose(shuffled.instance_scores[0], alone.instance_scores[0][perm])
    assert torch.isinf(out.instance_scores[~mask]).all()


def test_ins_max_score_never_drops_when_an_instance_is_added():
    # the standard MIL assumption (Raff & Holt): max pooling of instance probabilities is monotone
    model = models.INSModel(64, bag_score="max", seed=1).eval()
    bag = data.digit_bags(n_train=2, n_test=2, seed=0).bags_test[0]
    for extra in data.digits(seed=0).X_test[:20]:
        assert model(torch.cat([bag, extra[None]])).logits >= model(bag).logits - 1e-6


def test_mil_output_carries_the_bag_features_the_classifier_reads():
    model = models.MILModel(64, "attention", seed=0).eval()
    X = data.digit_bags(n_train=2, n_test=2, seed=0).bags_test[0]
    out = model(X)
    assert torch.allclose(model.classifier(out.features).squeeze(-1), out.logits)


def test_the_mask_follows_the_instances_when_the_bag_is_permuted():
    # deterministic settings (top share all hidden, lowest share hidden): permuting the bag permutes the mask
    scores = torch.randn(1, 12, generator=torch.Generator().manual_seed(3))
    mask = torch.ones(1, 12, dtype=torch.bool)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(4))
    keep = models.hard_instance_mask(scores, mask, high=0.2, high_random=1.0, low=0.1)
    keep_perm = models.hard_instance_mask(scores[:, perm], mask, high=0.2, high_random=1.0, low=0.1)
    assert torch.equal(keep_perm[0], keep[0][perm])
    assert int((~keep).sum()) == math.ceil(12 * 0.2) + math.ceil(12 * 0.1)
