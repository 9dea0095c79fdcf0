"""Training-loop values pinned by independent expectations. Imports go through the public namespaces only."""

import pytest
import torch.nn.functional as F
from torch import nn

from workbench import data, models, train


class RecordingCE(nn.Module):
    """Cross-entropy that records every batch's value and size, to recompute the epoch loss by hand."""

    kind = "logits"
    name = "recording_ce"

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, logits, target):
        value = F.cross_entropy(logits, target)
        self.calls.append((float(value.detach()), len(target)))
        return value


def test_epoch_loss_is_the_batch_means_weighted_by_batch_size():
    # 22 training rows in batches of 8: sizes 8, 8, 6; the epoch loss is the mean over the epoch's samples,
    # sum(size * batch mean) / 22, not the plain mean of the three batch means
    ds = data.sphere_blobs(n_per_class=10, num_classes=3, dim=4, seed=0)
    assert ds.n_train == 22
    loss = RecordingCE()
    model = models.for_kind("logits", 4, 3, embedding_dim=4, hidden=(8,), seed=0)
    history = train.fit(model, loss, ds, epochs=2, batch_size=8, lr=0.05, verbose=False, record=())
    per_epoch = [loss.calls[:3], loss.calls[3:6]]
    assert [[n for _, n in calls] for calls in per_epoch] == [[8, 8, 6], [8, 8, 6]]
    for epoch, calls in zip((1, 2), per_epoch):
        weighted = sum(v * n for v, n in calls) / 22
        plain = sum(v for v, _ in calls) / 3
        assert abs(weighted - plain) > 1e-6
        assert history["loss"].loc[epoch] == pytest.approx(weighted, rel=1e-12)
