"""Bags for multiple-instance learning: padding, digit bags, the MIL unit tests, aggregate responses."""

import pytest
import torch

from workbench import data


def test_pad_bags_pads_with_zeros_and_masks():
    bags = [torch.ones(2, 3), 2 * torch.ones(4, 3)]
    X, mask, labels = data.pad_bags(bags, [torch.tensor([1, 0]), torch.tensor([0, 0, 1, 1])])
    assert X.shape == (2, 4, 3) and (X[0, 2:] == 0).all() and (X[1] == 2).all()
    assert mask.tolist() == [[True, True, False, False], [True] * 4]
    assert labels.tolist() == [[1, 0, 0, 0], [0, 0, 1, 1]]
    with pytest.raises(ValueError, match="at least one"):
        data.pad_bags([torch.ones(0, 3)])


def test_digit_bags_label_is_whether_the_target_is_inside():
    bags = data.digit_bags(n_train=60, n_test=30, seed=1)
    for split in ("train", "test"):
        digits = bags.meta[f"digits_{split}"]
        inst = getattr(bags, f"instances_{split}")
        assert all((i == (d == 9).long()).all() for i, d in zip(inst, digits))
        assert getattr(bags, f"y_{split}").tolist() == [int((d == 9).any()) for d in digits]
    sizes = bags.sizes("train")
    assert sizes.min() >= 2 and sizes.max() <= 20 and len(set(sizes.tolist())) > 2  # sizes vary
    assert 0.3 < bags.y_train.float().mean() < 0.9


def test_generators_are_seeded():
    for make in (lambda s: data.digit_bags(n_train=10, n_test=5, seed=s),
                 lambda s: data.mil_unit_test("two_concept", n_train=10, n_test=10, seed=s),
                 lambda s: data.aggregate_bags(n_train=5, n_test=5, seed=s)):
        a, b, c = make(3), make(3), make(4)
        assert all(torch.equal(x, y) for x, y in zip(a.bags_train, b.bags_train))
        assert not all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a.bags_train, c.bags_train))


def _poison(bag):
    return (bag.mean(1) < -8).sum().item()  # poison ~ N(-10, 0.1^2 I); nothing else gets near


@pytest.mark.parametrize("test", ["single_concept", "two_concept"])
def test_poison_is_in_negative_bags_at_train_and_positive_bags_at_test(test):
    bags = data.mil_unit_test(test, n_train=40, n_test=40, seed=0)
    for bag, y in zip(bags.bags_train, bags.y_train):
        assert _poison(bag) == (1 - int(y))
    for bag, y in zip(bags.bags_test, bags.y_test):
        assert _poison(bag) == int(y)
    assert bags.y_train.float().mean() == 0.5


def test_single_concept_positive_bags_hold_one_to_three_key_instances():
    bags = data.mil_unit_test("single_concept", n_train=50, n_test=10, negatives=5, seed=2)
    for inst, y in zip(bags.instances_train, bags.y_train):
        assert (inst.sum() == 0) if y == 0 else (1 <= inst.sum() <= 3)


def _concepts(bag):
    m = bag.mean(1)
    return int(((m - 2).abs() < 0.2).sum()), int(((m - 3).abs() < 0.2).sum())


def test_two_concept_positive_needs_both_concepts():
    bags = data.mil_unit_test("two_concept", dim=32, n_train=60, n_test=10, seed=3)
    for bag, y in zip(bags.bags_train, bags.y_train):
        c2, c3 = _concepts(bag)
        assert (1 <= c2 <= 3 and 1 <= c3 <= 3) if y == 1 else (c2 + c3 == 1)


def test_false_frequency_negatives_repeat_one_concept_35_to_44_times_at_test():
    bags = data.mil_unit_test("false_frequency", dim=32, n_train=40, n_test=40, seed=4)
    for split, low, high in (("train", 1, 1), ("test", 35, 44)):
        for bag, y in zip(getattr(bags, f"bags_{split}"), getattr(bags, f"y_{split}")):
            c2, c3 = _concepts(bag)
            if y == 1:
                assert (c2, c3) == (1, 1)
            else:
                assert min(c2, c3) == 0 and low <= max(c2, c3) <= high
    negatives = [_concepts(b) for b, y in zip(bags.bags_test, bags.y_test) if y == 0]
    assert {c2 > 0 for c2, _ in negatives} == {True, False}  # both concepts occur (torchmil only uses one)


def test_aggregate_bags_reveal_the_mean_response():
    bags = data.aggregate_bags(n_train=7, n_test=3, bag_size=4, seed=0)
    for y, inst in zip(bags.y_train, bags.instances_train):
        assert torch.isclose(y, inst.mean())
    assert bags.sizes().tolist() == [4] * 7


def test_mil_unit_test_rejects_unknown_names():
    with pytest.raises(ValueError, match="single_concept"):
        data.mil_unit_test("nope")
