"""analysis.loss_seconds and analysis.on_dominant_subcenter."""

import pytest
import torch

from workbench import analysis, losses


def test_loss_seconds_times_a_forward_and_backward():
    loss = losses.get("proxy_anchor", num_classes=10, embedding_dim=8)
    seconds = analysis.loss_seconds(loss, 64, embedding_dim=8, repeats=2)
    assert 0 < seconds < 5
    assert loss.weight.grad is not None  # the backward pass reached the proxies
    with pytest.raises(ValueError, match="batch_size"):
        analysis.loss_seconds(loss, 1)
    with pytest.raises(ValueError, match="repeats"):
        analysis.loss_seconds(loss, 8, repeats=0)


def test_on_dominant_subcenter_by_hand():
    head = losses.get("subcenter_arcface", num_classes=2, embedding_dim=2, sub_centers=2)
    with torch.no_grad():  # class 0: sub-centres along +x and +y; class 1: along -x and -y (class-major rows)
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [0.1, 1.0], [-1.0, 0.1], [0.1, -1.0], [-0.1, -1.0]])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    # class 0: two samples nearest +x (dominant), one nearest +y; class 1: two nearest -y (dominant), one -x
    assert analysis.on_dominant_subcenter(head, x, y).tolist() == [True, True, False, False, True, True]
    with pytest.raises(ValueError, match="sub-centre"):
        analysis.on_dominant_subcenter(losses.get("arcface", num_classes=2, embedding_dim=2), x, y)
