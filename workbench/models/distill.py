"""Models for knowledge distillation: a two-head student (Dual-Head KD) and a student paired with a frozen
teacher, which is how ``train.fit`` trains a distill loss.

    teacher = ...                                   # a trained classifier (e.g. experiments.train_teacher)
    student = models.dual_head_classifier(models.MLP(64, 16, (32,), seed=0), 10, seed=0)
    pair = models.StudentTeacher(student, teacher)  # freezes the teacher (no gradient, always eval mode)
    train.fit(pair, losses.get("dhkd"), data.digits(seed=0), epochs=10)
    pair(x)                                         # the student's main-head logits: what is scored

The design: the teacher travels with the model, not with the loss or ``fit``, so ``fit`` keeps one signature
for every kind and the losses stay functions of tensors. The distill kind's training step calls
:meth:`StudentTeacher.distill_outputs` and hands the :class:`DistillOutputs` to the loss's ``objective``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._checks import check_labels
from .encoders import seeded
from .heads import WithHead


class DistillOutputs(NamedTuple):
    """What one batch gives a distillation objective. ``aux_logits`` is None for a one-head student,
    ``features``/``teacher_features`` (the penultimate features, ``embed(x)``) None where a model has no
    ``embed``. The teacher's entries carry no gradient."""

    logits: Tensor
    aux_logits: Tensor | None
    features: Tensor | None
    teacher_logits: Tensor
    teacher_features: Tensor | None


class DualHead(nn.Module):
    """Two linear heads on the same features: ``forward`` gives the main head's logits (the prediction),
    :meth:`both` the pair ``(main, aux)``. DHKD's auxiliary classifier ``fc2`` (official default: linear)."""

    def __init__(self, in_features: int, num_classes: int, seed: int | None = None):
        super().__init__()
        with seeded(seed):
            self.main = nn.Linear(in_features, num_classes)
            self.aux = nn.Linear(in_features, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        return self.main(features)

    def both(self, features: Tensor) -> tuple[Tensor, Tensor]:
        return self.main(features), self.aux(features)


def dual_head_classifier(encoder: nn.Module, num_classes: int, seed: int | None = None) -> WithHead:
    """Encoder + :class:`DualHead`: the Dual-Head KD student (``model(x)`` is the main head's logits)."""
    return WithHead(encoder, DualHead(encoder.embedding_dim, num_classes, seed=seed))


class StudentTeacher(nn.Module):
    """A student trained against a frozen teacher; ``forward``/``embed`` are the student's.

    On construction the teacher's parameters stop requiring gradients; :meth:`train` keeps the teacher in
    eval mode whatever the student's mode (dropout and batch norm of the teacher never change its targets).
    Teacher and student must give logits of the same width; ``nd`` also needs features of the same width.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module):
        super().__init__()
        if not isinstance(student, nn.Module) or not isinstance(teacher, nn.Module):
            raise ValueError("student and teacher must be torch modules")
        if student is teacher:
            raise ValueError("teacher must be a different module from student")
        self.student, self.teacher = student, teacher
        self.teacher.requires_grad_(False)
        self.teacher.eval()

    def train(self, mode: bool = True) -> StudentTeacher:
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.student(x)

    def embed(self, x: Tensor) -> Tensor:
        return _embed(self.student, x)

    def distill_outputs(self, x: Tensor) -> DistillOutputs:
        """The student's logits, auxiliary logits and features, and the teacher's logits and features
        computed in eval mode under ``torch.no_grad``."""
        features = _embed(self.student, x)
        if isinstance(self.student, WithHead) and isinstance(self.student.head, DualHead):
            logits, aux = self.student.head.both(features)
        else:
            logits, aux = self.student(x), None
        with torch.no_grad():
            self.teacher.eval()
            teacher_features = _embed(self.teacher, x)
            # A WithHead teacher's logits from the features just computed (one encoder pass, not two).
            teacher_logits = self.teacher.head(teacher_features) if isinstance(self.teacher, WithHead) \
                else self.teacher(x)
        if teacher_logits.shape != logits.shape:
            raise ValueError(f"teacher gives logits of shape {tuple(teacher_logits.shape)}, the student "
                             f"{tuple(logits.shape)}: they must predict the same classes")
        return DistillOutputs(logits, aux, features, teacher_logits, teacher_features)


def _embed(model: nn.Module, x: Tensor) -> Tensor | None:
    return model.embed(x) if hasattr(model, "embed") else None


@torch.no_grad()
def teacher_class_means(teacher: nn.Module, x: Tensor, y: Tensor, num_classes: int | None = None) -> Tensor:
    """The teacher's mean feature (``teacher.embed``) per class on ``(x, y)`` ``[C, D]``: KD++'s class
    centres, for ``losses.get("nd", class_means=...)``. Runs the teacher in eval mode and restores its mode."""
    if not hasattr(teacher, "embed"):
        raise ValueError("teacher must have embed(x) (its penultimate features), e.g. a models.classifier")
    check_labels(y, "y", len(x), num_classes)
    was_training = teacher.training
    teacher.eval()
    try:
        features = teacher.embed(x)
    finally:
        teacher.train(was_training)
    c = int(y.max()) + 1 if num_classes is None else num_classes
    sums = features.new_zeros(c, features.shape[1]).index_add_(0, y, features)
    return sums / torch.bincount(y, minlength=c).clamp_min(1).to(features.dtype)[:, None]
