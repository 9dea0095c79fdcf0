"""``train.fit`` trains a student against a frozen teacher (kind distill): the teacher runs in eval mode without
gradients and never changes, the student learns, the same seed gives the same History."""

import pytest
import torch

from workbench import data, experiments, kinds, losses, models, train

EPOCHS = 4


@pytest.fixture(scope="module")
def digits():
    return data.digits(seed=0)


@pytest.fixture(scope="module")
def teacher(digits):
    return experiments.train_teacher(digits, hidden=(64,), embedding_dim=16, epochs=8, seed=0)


def student(name: str, seed: int = 0):
    encoder = models.MLP(64, 16, (16,), dropout=0.1, seed=seed)
    if name == "dhkd":
        return models.dual_head_classifier(encoder, 10, seed=seed)
    return models.classifier(encoder, 10, seed=seed)


def fit(pair, name, digits, **kw):
    return train.fit(pair, losses.get(name), digits, epochs=EPOCHS, lr=3e-3, seed=0, verbose=False, record=(), **kw)


def test_the_teacher_is_seeded_frozen_and_good(digits, teacher):
    again = experiments.train_teacher(digits, hidden=(64,), embedding_dim=16, epochs=8, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(teacher.state_dict().values(), again.state_dict().values()))
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    with torch.no_grad():
        assert (teacher(digits.X_test).argmax(1) == digits.y_test).double().mean() > 0.9


@pytest.mark.parametrize("name", ["kd", "dhkd", "nd"])
def test_teacher_gets_no_gradient_stays_in_eval_mode_and_the_student_learns(name, digits):
    # A teacher with dropout: in training mode its outputs would be random, so its mode is visible.
    teacher = models.classifier(models.MLP(64, 16, (64,), dropout=0.5, seed=1), 10, seed=1)
    train.fit(teacher, losses.get("cross_entropy"), digits, epochs=3, lr=3e-3, seed=1, verbose=False, record=())
    teacher.train()  # StudentTeacher must put it in eval mode itself
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    seen = []
    for module in teacher.modules():  # every layer, dropout included, whichever way the teacher is called
        module.register_forward_pre_hook(lambda m, args: seen.append((m.training, torch.is_grad_enabled())))
    pair = models.StudentTeacher(student(name), teacher)
    start = {k: v.clone() for k, v in pair.student.state_dict().items()}
    with torch.no_grad():
        untrained = float((pair.eval()(digits.X_test).argmax(1) == digits.y_test).double().mean())
    history = fit(pair, name, digits)
    assert seen and all(mode == (False, False) for mode in seen)  # eval mode, no autograd graph, every call
    assert all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert not pair.teacher.training
    # The student learnt: every parameter moved, the loss fell and, from a weak dropout teacher after 4 epochs,
    # its accuracy rose far above the untrained student's (about chance, 0.1).
    assert all(not torch.equal(start[k], v) for k, v in pair.student.state_dict().items())
    assert history.frame["loss"].iloc[-1] < history.frame["loss"].iloc[0]
    assert history.last["test_acc"] > untrained + 0.3


def test_predictions_are_the_students_main_head(digits, teacher):
    pair = models.StudentTeacher(student("dhkd"), teacher)
    history = fit(pair, "dhkd", digits)
    pair.eval()
    with torch.no_grad():
        main = pair.student.head.main(pair.student.encoder(digits.X_test))
        acc = float((main.argmax(1) == digits.y_test).double().mean())
    assert history.last["test_acc"] == pytest.approx(acc)
    assert torch.equal(kinds.get("distill").predict(pair, None, digits.X_test), main.argmax(1))


@pytest.mark.parametrize("name", ["kd", "dhkd"])
def test_same_seed_same_history(name, digits, teacher):
    first = fit(models.StudentTeacher(student(name), teacher), name, digits)
    again = fit(models.StudentTeacher(student(name), teacher), name, digits)
    assert first.frame.equals(again.frame)


def test_nd_trains_with_the_teachers_class_means(digits, teacher):
    means = models.teacher_class_means(teacher, digits.X_train, digits.y_train)
    by_hand = torch.stack([teacher.embed(digits.X_train[digits.y_train == c]).mean(0) for c in range(10)])
    assert torch.allclose(means, by_hand, atol=1e-5)
    loss = losses.get("nd", class_means=means)
    history = train.fit(models.StudentTeacher(student("nd"), teacher), loss, digits, epochs=EPOCHS, lr=3e-3, seed=0,
                        verbose=False, record=())
    # Well above chance (0.1) after 4 epochs (ND's student is slower to start than KD's; 0.93 after 20 epochs).
    assert history.last["test_acc"] > 0.4 and torch.equal(loss.class_means, means)
    with pytest.raises(ValueError, match="y must"):
        models.teacher_class_means(teacher, digits.X_train, digits.y_train.float())


def test_a_plain_model_is_refused_by_name(digits):
    with pytest.raises(ValueError, match="StudentTeacher"):
        fit(student("kd"), "kd", digits)


def test_student_and_teacher_must_predict_the_same_classes(digits, teacher):
    pair = models.StudentTeacher(models.classifier(models.MLP(64, 16, (16,), seed=0), 7, seed=0), teacher)
    with pytest.raises(ValueError, match="same classes"):
        pair.distill_outputs(digits.X_test[:4])
    with pytest.raises(ValueError, match="different module"):
        models.StudentTeacher(teacher, teacher)
