"""fit_mhim, fit_ins, fit_scmil: seeded, learning on digit bags, the student never sees masked instances,
SC-MIL's schedule endpoints."""

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import mhim_first_batch

from workbench import analysis, data, losses, models, train
from workbench.train.mil_hard import _enqueue


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


class RecordingConsistency(torch.nn.Module):
    """A consistency term that records the teacher's bag features it is given and adds a known constant."""

    weight = 0.5

    def __init__(self):
        super().__init__()
        self.teacher_features = []

    def forward(self, student_features, teacher_features):
        self.teacher_features.append(teacher_features.clone())
        return 2.0 + 0.0 * student_features.sum()


def mhim_teacher_features(bags, momentum, epochs, lr=1e-2):
    """The teacher's bag features at each step of fit_mhim (every bag in one batch, one step an epoch), and the
    trained student."""
    consistency = RecordingConsistency()
    student = models.MILModel(64, seed=0)
    train.fit_mhim(student, bags, consistency=consistency, epochs=epochs, lr=lr, batch_size=bags.n_train,
                   momentum=momentum, verbose=False)
    return consistency.teacher_features, student


def features_of(model, bags):
    X, mask, _, _ = bags.padded("train", range(bags.n_train))
    model.eval()
    with torch.no_grad():
        return model(X, mask).features


def same_rows(a, b):  # the same bags, perhaps in another order (the loop shuffles)
    return torch.allclose(a[a.sum(1).argsort()], b[b.sum(1).argsort()], atol=1e-6)


def test_fit_mhim_teacher_follows_the_student_only_through_ema(bags):
    start = features_of(models.MILModel(64, seed=0), bags)
    # momentum 1: the teacher keeps the student's starting weights at every step
    seen, _ = mhim_teacher_features(bags, momentum=1.0, epochs=3)
    assert len(seen) == 3 and all(same_rows(t, start) for t in seen)
    # momentum 0: at each step the teacher is the student after the step before (theta_t <- theta_s)
    seen, _ = mhim_teacher_features(bags, momentum=0.0, epochs=2)
    _, after_one_step = mhim_teacher_features(bags, momentum=0.0, epochs=1)
    assert same_rows(seen[0], start) and not same_rows(seen[1], start)
    assert same_rows(seen[1], features_of(after_one_step, bags))


def test_fit_mhim_loss_is_the_bag_loss_plus_the_weighted_consistency(bags):
    # nothing masked (high = 0) and a step too small to move: the recorded loss is BCE of the starting student
    # on the whole bags plus weight (0.5) times the consistency term (2.0)
    consistency = RecordingConsistency()
    history = train.fit_mhim(models.MILModel(64, seed=0), bags, consistency=consistency, epochs=1, lr=1e-12,
                             batch_size=bags.n_train, high=0.0, verbose=False)
    X, mask, y, _ = bags.padded("train", range(bags.n_train))
    model = models.MILModel(64, seed=0)
    with torch.no_grad():
        bce = F.binary_cross_entropy_with_logits(model(X, mask).logits, y.float())
    assert history.last["loss"] == pytest.approx(float(bce) + 0.5 * 2.0, rel=1e-5)


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


@pytest.mark.parametrize("ptr, batch", [(0, 3), (6, 5), (2, 8), (5, 19)])
def test_the_key_queue_holds_what_writing_one_key_at_a_time_leaves(ptr, batch):
    size = 8
    keys, labels = torch.full((size, 2), -1.0), torch.full((size,), -1)
    new = torch.arange(2.0 * batch).view(batch, 2)
    expected_keys, expected_labels, slot = keys.clone(), labels.clone(), ptr
    for row in range(batch):  # the ring buffer, one key at a time
        expected_keys[slot], expected_labels[slot], slot = new[row], row, (slot + 1) % size
    assert _enqueue(keys, labels, new, torch.arange(batch), ptr) == slot
    assert torch.equal(keys, expected_keys) and torch.equal(labels, expected_labels)


def test_fit_ins_takes_a_batch_longer_than_its_queue():
    bags = data.digit_bags(positive_fraction=0.5, keys=(1, 3), n_train=40, n_test=20, seed=0)
    history = train.fit_ins(models.INSModel(64, seed=0), bags, epochs=2, batch_size=64, queue=16, verbose=False)
    assert torch.isfinite(torch.tensor(history.last["loss"]))


@pytest.mark.parametrize(("keyword", "bad"), [("momentum", -0.1), ("momentum", 1.1), ("proto_momentum", -0.5),
                                              ("phi", (-0.1, 0.8)), ("phi", (0.95, 1.5))])
def test_fit_ins_refuses_momenta_and_thresholds_outside_0_1(bags, keyword, bad):
    with pytest.raises(ValueError, match=rf"\b{keyword}\b"):
        train.fit_ins(models.INSModel(64, seed=0), bags, verbose=False, **{keyword: bad})
