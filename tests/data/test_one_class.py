"""data.one_class: train on one class, test that class against every other."""

import pytest
import torch

from workbench import data


def test_one_class_keeps_only_the_normal_class_for_training():
    digits = data.digits(seed=0)
    one = data.one_class(digits, normal=3)
    assert one.num_classes == 2 and one.n_test == digits.n_test
    assert one.n_train == int((digits.y_train == 3).sum()) and (one.y_train == 0).all()
    assert torch.equal(one.X_train, digits.X_train[digits.y_train == 3])
    assert torch.equal(one.y_test, (digits.y_test != 3).long())
    assert torch.equal(one.meta["y_test_original"], digits.y_test) and one.meta["normal_class"] == 3


@pytest.mark.parametrize("normal", [-1, 10, 1.0, True, "3"])
def test_one_class_refuses_a_bad_class(normal):
    with pytest.raises(ValueError, match="normal"):
        data.one_class(data.digits(seed=0), normal=normal)
