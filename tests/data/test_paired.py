"""Paired digits (two modalities) and the digit-style measurements."""

import numpy as np
import pytest
import torch

from workbench import analysis, data


def test_paired_digits_layout_prototypes_and_determinism():
    ds = data.paired_digits(code_dim=12, seed=1)
    assert ds.input_shape == (64 + 12,) and ds.meta["modality_dims"] == (64, 12)
    assert ds.meta["prototypes"].shape == (10, 12)
    assert torch.equal(ds.X_train[:, :64], data.digits(seed=1).X_train)  # modality A is the digits
    assert torch.equal(data.paired_digits(code_dim=12, seed=1).X_test, ds.X_test)
    # the code carries the class: nearest prototype beats chance by far
    acc = analysis.zero_shot_accuracy(ds.X_test[:, 64:], ds.meta["prototypes"], ds.y_test)
    assert acc > 0.5
    with pytest.raises(ValueError, match="code_dim"):
        data.paired_digits(code_dim=1)


def test_digit_style_measures_ink_and_its_centre():
    img = np.zeros((1, 8, 8))
    img[0, 2, 5] = 1.0
    assert data.digit_style(img.reshape(1, 64)).tolist() == [[1.0, 5.0, 2.0]]
