"""Few-shot episodes drawn from a labelled set."""

import pytest
import torch

from workbench import data


def test_episode_orders_supports_first_and_is_seeded():
    X, y = torch.arange(100.0)[:, None], torch.arange(100) % 10
    ex, ey = data.episode(X, y, n_way=3, shot=2, queries=4, generator=torch.Generator().manual_seed(0))
    assert len(ey) == 3 * 6 and len(ey.unique()) == 3
    assert (ey[:6].reshape(3, 2) == ey[:6].reshape(3, 2)[:, :1]).all()  # two supports per class, class by class
    assert (y[ex.squeeze(1).long()] == ey).all()
    again = data.episode(X, y, n_way=3, shot=2, queries=4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0], ex)
    with pytest.raises(ValueError, match="n_way"):
        data.episode(X, y, n_way=11)
