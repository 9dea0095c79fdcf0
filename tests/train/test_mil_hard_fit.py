"""fit_mhim, fit_ins, fit_scmil: seeded, learning on digit bags, the student never sees masked instances,
SC-MIL's schedule endpoints."""

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import mhim_first_batch

from workbench import analysis, data, losses, models, train


def test_fit_mhim_is_seeded_and_learns(bags):
    def run():
        return train.fit_mhim(models.MILModel(64, seed=0), bags, epochs=10, lr=3e-3, metrics=analysis.mil_metrics,
                              verbose=False)
    a, b = run(), run()
    assert a.equals(b)
    assert a["test_auc"].iloc[-1] > 0.8


def test_fit_mhim_student_sees_only_the_kept_instances(bags):
    # every mask the student gets hides the teacher's most attended instance when high_random = 1 and high = 1/n_min
    # (the top ceil(n h) instances all masked)
    X, keep, mask, teacher = mhim_first_batch(bags)
    with torch.no_grad():
        top = teacher(X, mask).attention.argmax(1)  # momentum 1: the teacher never moved
    assert ((mask & ~keep).sum(1) == 1).all()  # exactly ceil(n * 0.01) = 1 per bag
    assert not keep[torch.arange(len(top)), top].any()


def test_fit_mhim_teacher_follows_the_student_only_through_ema(bags):
    student = models.MILModel(64, seed=0)
    frozen = copy.deepcopy(student)
    train.fit_mhim(student, bags, teacher=frozen, epochs=1, momentum=1.0, verbose=False)
    # momentum 1: the teacher kept its weights (it is a copy, the caller's model untouched)
    assert all(torch.equal(p, q) for p, q in zip(frozen.parameters(), models.MILModel(64, seed=0).parameters()))


def test_fit_ins_is_seeded_and_localises():
    # 120 bags, 6 epochs: measured localisation AUC 0.36 after the warm-up epoch, 0.75 at the end (seed 0)
    bags = data.digit_bags(positive_fraction=0.5, keys=(1, 3), n_train=120, n_test=60, seed=0)

    def run():
        return train.fit_ins(models.INSModel(64, seed=0), bags, epochs=6, metrics=analysis.mil_metrics,
                             verbose=False)
    a, b = run(), run()
    assert a.equals(b)
    assert a["test_loc_auc"].iloc[-1] > 0.65 and a["test_loc_auc"].iloc[-1] > a["test_loc_auc"].iloc[0] + 0.2


def test_fit_scmil_starts_as_supcon_and_ends_as_the_bag_loss(bags):
    # The loss of the first step is pure SupCon on the bag features, of the last pure BCE (beta_t = t / (T - 1)).
    model = models.MILModel(64, seed=0)
    start = copy.deepcopy(model)
    h = train.fit_scmil(model, bags, epochs=1, batch_size=80, lr=1e-9, verbose=False)  # one step, T = 1
    X, mask, y, _ = bags.padded("train", range(80))
    torch.manual_seed(0)
    order = torch.randperm(80, generator=torch.Generator().manual_seed(0))
    out = start.train()(*bags.padded("train", order)[:2])
    z = F.normalize(out.features, dim=-1)
    yy = bags.y_train[order]
    expected = losses.supcon_from_similarity(z @ z.T, yy, temperature=0.1, base_temperature=0.1)
    assert h["loss"].iloc[0] == pytest.approx(float(expected.detach()), rel=1e-5)
    h2 = train.fit_scmil(models.MILModel(64, seed=0), bags, epochs=2, batch_size=80, lr=1e-9, verbose=False)
    out = models.MILModel(64, seed=0).train()(*bags.padded("train", order)[:2])
    last = F.binary_cross_entropy_with_logits(out.logits, yy.float())
    assert h2["loss"].iloc[1] == pytest.approx(float(last.detach()), rel=1e-4)


def test_fit_scmil_learns(bags):
    h = train.fit_scmil(models.MILModel(64, seed=0), bags, epochs=6, lr=3e-3, metrics=analysis.mil_metrics,
                        verbose=False)
    assert h["test_auc"].iloc[-1] > 0.8


def test_prototype_update_in_closed_form_is_the_official_loop():
    from workbench.train.mil_hard import _sequential_ema

    g = torch.Generator().manual_seed(0)
    protos, feats = torch.randn(2, 3, generator=g, dtype=torch.float64), torch.randn(7, 3, generator=g,
                                                                                   dtype=torch.float64)
    labels = torch.tensor([1, 0, 1, 1, 0, 1, 1])
    expected = protos.clone()
    for f, label in zip(feats, labels):  # miccaiif/INS model.py, before the normalisation
        expected[label] = expected[label] * 0.9 + (1 - 0.9) * f
    assert torch.allclose(_sequential_ema(protos, feats, labels, 0.9), expected)
