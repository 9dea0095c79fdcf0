"""experiments.arbex_run (the official trust ramp) and experiments.novel_class_imprinting (Pereira et al.'s
prototype imprinting), on the digits split of notebook 12."""

from __future__ import annotations

import math

import pytest
import torch

from workbench import data, experiments


@pytest.fixture(scope="module")
def split():
    return data.unseen_classes(data.digits(seed=0), seen=5)


def test_arbex_run_ramps_trust_as_the_official_loop(split):
    torch.set_num_threads(1)
    model, loss, history = experiments.arbex_run(split, epochs=2, seed=0)
    steps = 2 * math.ceil(len(split.y_train) / 128)
    # official: trust = n_iter / num_iters with n_iter = 0 .. num_iters - 1; the last step's value stays set
    assert loss.trust == pytest.approx((steps - 1) / steps)
    assert history.last["test_acc"] > 0.5  # 5 classes: chance is 0.2
    assert loss.weight.abs().sum() > 0  # the anchors left their zero start


@pytest.mark.parametrize("hyperspherical", [True, False])
def test_novel_class_imprinting_scores_add_up(split, hyperspherical):
    torch.set_num_threads(1)
    scores = experiments.novel_class_imprinting(split, hyperspherical=hyperspherical, epochs=2, seed=1)
    assert set(scores) == {"seen_before", "seen", "novel", "joint", "novel_only"}
    n_seen = len(split.y_test)
    g = torch.Generator().manual_seed(1)  # the same support draw as the function's
    n_query = int((torch.rand(len(split.meta["y_unseen"]), generator=g) >= 0.5).sum())
    joint = (n_seen * scores["seen"] + n_query * scores["novel"]) / (n_seen + n_query)
    assert scores["joint"] == pytest.approx(joint)
    # among the novel classes alone, a query can only get better than among all classes
    assert scores["novel_only"] >= scores["novel"]
