"""The fast finiteness test behind ``check_float_tensor``: a sum first, the exact scan only when it is not finite.
These cases pin that the shortcut neither misses a NaN nor rejects finite inputs whose sum overflows."""

import pytest
import torch

from workbench._checks import check_float_tensor


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_a_single_nan_is_found_in_every_float_dtype(dtype):
    x = torch.zeros(64, 8, dtype=dtype)
    x[37, 5] = float("nan")
    with pytest.raises(ValueError, match="x contains NaN"):
        check_float_tensor(x, "x", 2, "[B, D]")


def test_finite_values_whose_sum_overflows_are_accepted():
    # 4 x 3e38 overflows float32 (max 3.4e38): the sum is inf, yet every element is finite.
    x = torch.full((2, 2), 3e38, dtype=torch.float32)
    assert not torch.isfinite(x.sum())
    assert check_float_tensor(x, "x", 2, "[B, D]") is x


def test_half_precision_sums_are_taken_in_float32():
    # 100 x 60000 overflows float16 (max 65504) but not the float32 accumulator: no false alarm, no slow path needed.
    x = torch.full((10, 10), 60000.0, dtype=torch.float16)
    assert check_float_tensor(x, "x", 2, "[B, D]") is x


def test_nan_hidden_next_to_an_overflowing_sum_is_still_found():
    x = torch.full((3, 3), 3e38, dtype=torch.float32)
    x[1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        check_float_tensor(x, "x", 2, "[B, D]")

