"""digit_bags with a fixed positive fraction, few key instances and hard (blended) keys."""

import pytest
import torch

from workbench import data


def test_controlled_bags_hold_few_keys_and_mark_the_hard_ones():
    bags = data.digit_bags(positive_fraction=0.3, keys=(1, 3), hard=0.5, hardness=0.6, n_train=200, n_test=50,
                           seed=0)
    base = data.digits(seed=0)
    for split in ("train", "test"):
        for bag, y, inst, digits, hard in zip(*(getattr(bags, f"{k}_{split}") for k in ("bags", "y", "instances")),
                                              bags.meta[f"digits_{split}"], bags.meta[f"hard_{split}"]):
            assert int(y) == int(inst.any())  # positive iff a key is inside
            assert (inst == (digits == 9).long()).all()
            assert inst.sum() <= 3 and not (hard & (inst == 0)).any()  # only keys are hard
            rows = base.X_train if split == "train" else base.X_test
            easy = [i for i in range(len(bag)) if not hard[i]]
            # easy instances are untouched digits of the split; hard keys are not
            assert all((rows == bag[i]).all(1).any() for i in easy)
            assert not any((rows == bag[i]).all(1).any() for i in hard.nonzero().flatten().tolist())
    assert 0.2 < bags.y_train.float().mean() < 0.4
    n_keys = sum(int(i.sum()) for i in bags.instances_train)
    n_hard = sum(int(h.sum()) for h in bags.meta["hard_train"])
    assert 0.35 < n_hard / n_keys < 0.65


def test_default_digit_bags_are_unchanged_by_the_new_options():
    a = data.digit_bags(n_train=10, n_test=5, seed=2)
    assert "hard_train" not in a.meta  # the original draw: no fixed labels, no hard keys
    b = data.digit_bags(n_train=10, n_test=5, seed=2, hard=0.9)  # hard only acts with positive_fraction
    assert all(torch.equal(x, y) for x, y in zip(a.bags_train, b.bags_train))


@pytest.mark.parametrize("bad, word", [({"positive_fraction": 1.5}, "positive_fraction"), ({"hard": -0.1}, "hard"),
                                       ({"keys": (0, 2)}, "keys"), ({"keys": (3, 2)}, "keys"),
                                       ({"hardness": float("nan")}, "hardness")])
def test_controlled_bags_refuse_bad_options(bad, word):
    with pytest.raises(ValueError, match=word):
        data.digit_bags(**{"positive_fraction": 0.5, **bad}, n_train=4, n_test=4)
