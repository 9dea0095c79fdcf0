r"""Knowledge distillation losses (kind ``distill``): Hinton KD, Dual-Head KD's BinaryKL-Norm, KD++'s ND loss.

Every loss here takes ``forward(student, teacher, target)`` as the kind says,
``(student_logits[B, C], teacher_logits[B, C], target[B] or None)``; ``nd`` is a feature-based loss and
takes the penultimate *features* ``[B, D]`` of student and teacher in those two places (see :class:`ND`).

Training a student is more than the registered loss: Dual-Head KD adds cross-entropy on the main head,
KD++ adds cross-entropy and KD on the logits. Each loss therefore also has ``objective(out, target)``, the
whole training loss of one batch from a :class:`workbench.models.DistillOutputs` (student logits, auxiliary
logits, features, and the frozen teacher's logits and features); ``train.fit`` calls it through the kind's
training step (see ``workbench.kinds``). The teacher's outputs are computed without gradients there; the
functions below do not detach them, so a caller who wants gradients into a teacher gets them.

Sources (official code read at the commits the spec names, ``../shared/reference/losses-classification-kd-mil.md``
§10): Hinton KD as ``F.kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") * T**2``
(WangYZ1608/Knowledge-Distillation-via-ND @fc6f3f9 ``CIFAR/utils.py`` ``KDLoss``; penghui-yang/DHKD @7976c69
``distiller_zoo/KD.py``); BinaryKL-Norm (DHKD ``distiller_zoo/BinaryKLNorm.py``, training loss in
``helper/loops.py``); ND (KD++ ``CIFAR/utils.py`` ``DirectNormLoss``, training loss in ``train_cifar_kd.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    UNIT,
    check_flag,
    check_float_tensor,
    check_labels,
    check_number,
    check_reduction,
    reduce,
)
from .registry import Paper, Param, register

#: DHKD's clamp of sigmoid((z_s - z_t)/T) to [eps, 1 - eps], eps = 1e-8, is a clamp of u = (z_s - z_t)/T to
#: [-U, U] with U = logit(1 - eps): the same value and the same zero gradient beyond it, without ever forming
#: log(1 - sigmoid(u)), which is log(0) = -inf in float32 for u > ~16.6 (where the official code returns inf).
BINARY_KL_EPS = 1e-8
BINARY_KL_CLAMP = math.log((1 - BINARY_KL_EPS) / BINARY_KL_EPS)  # 18.420680733...


# --- validation -------------------------------------------------------------------------------------------

def check_pair(student: Tensor, teacher: Tensor, target: Tensor | None, *, names=("student_logits", "teacher_logits"),
               shape="[B, C]", need_target: bool = False) -> Tensor | None:
    """Student and teacher outputs of the same shape ``[B, C]`` (B >= 1), finite, and ``target[B]`` in
    ``[0, C)`` when given (``need_target``: refuse None); returns ``target`` as ``torch.long`` (or None)."""
    s_name, t_name = names
    for x, name in ((student, s_name), (teacher, t_name)):
        check_float_tensor(x, name, 2, shape)  # also refuses NaN and ±inf, by name
    if teacher.shape != student.shape:
        raise ValueError(f"{t_name} must have the shape of {s_name} {tuple(student.shape)}, got shape "
                         f"{tuple(teacher.shape)}")
    if student.shape[0] == 0:
        raise ValueError(f"{s_name} must hold at least one row (an empty batch has no distillation loss)")
    if target is None:
        if need_target:
            raise ValueError("target is required by this loss (a class label per row), got None")
        return None
    return check_labels(target, "target", student.shape[0], None if shape != "[B, C]" else student.shape[1])


def _temperature(value) -> float:
    return check_number(value, "temperature", low=0.0, low_open=True)


def _weight(value, name: str) -> float:
    return check_number(value, name, low=0.0)


def _scalar(values: Tensor, reduction: str) -> Tensor:
    """A training objective is one number: "sum" sums the per-sample values, "mean" and "none" average them."""
    return values.sum() if reduction == "sum" else values.mean()


# --- Hinton KD ---------------------------------------------------------------------------------------------

def soft_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    r"""Per row :math:`T^2\,\mathrm{KL}(\mathrm{softmax}(t/T)\,\|\,\mathrm{softmax}(s/T))` ``[B]``, from two
    ``log_softmax`` (finite for logits of 1e4 at T = 0.5: a teacher probability that underflows to 0
    contributes 0, as 0·log 0 = 0)."""
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=1)
    return temperature ** 2 * F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(1)


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, target: Tensor | None = None, *,
            temperature: float = 4.0, alpha: float = 0.9, reduction: str = "mean") -> Tensor:
    r"""Hinton, Vinyals & Dean (2015) knowledge distillation.

    .. math::
        \ell_i = \alpha\,T^2\,\mathrm{KL}\big(\mathrm{softmax}(t_i/T)\,\|\,\mathrm{softmax}(s_i/T)\big)
                 + (1-\alpha)\,\mathrm{CE}(s_i, y_i)

    and :math:`T^2\,\mathrm{KL}` alone when ``target`` is None (no labels: pure distillation).
    ``reduction="mean"`` averages :math:`\ell_i` over the B samples, which is the official
    ``F.kl_div(..., reduction="batchmean") * T**2`` (sum over classes, mean over the batch); "none" gives
    ``[B]``. The :math:`T^2` keeps the soft-target gradient's size roughly independent of T (the gradient of
    the KL term with respect to s is :math:`T(\mathrm{softmax}(s/T) - \mathrm{softmax}(t/T))`).

    Defaults: T = 4 (both official CIFAR recipes), alpha = 0.9 (a common choice with T = 4 in the
    Hinton-style blend; the official repositories instead add CE and KD with separate weights, 1 and 1).
    Reference: s = [1, 2, 3], t = [3, 2, 1], T = 4, no target: 1.319630 (spec §10a); s = t: 0.

    Tips: T -> 0 makes the soft targets one-hot (KD becomes CE on the teacher's argmax); a large T exposes the
    teacher's "dark knowledge", the small probabilities of wrong but similar classes.
    """
    # hyper-parameters before tensors: a bad temperature is named even when the tensors are also wrong
    temperature = _temperature(temperature)
    alpha = check_number(alpha, "alpha", low=0.0, high=1.0)
    check_reduction(reduction)
    target = check_pair(student_logits, teacher_logits, target)
    value = soft_kl(student_logits, teacher_logits, temperature)
    if target is not None:
        value = alpha * value + (1 - alpha) * F.cross_entropy(student_logits, target, reduction="none")
    return reduce(value, reduction)


@register(
    "kd", family="distill", kind="distill", reduces_over="sample",
    paper=Paper("Distilling the Knowledge in a Neural Network", 2015, "Hinton, Vinyals, Dean"),
    formula=r"\ell = \alpha T^2\,\mathrm{KL}\big(\mathrm{softmax}(t/T)\,\|\,\mathrm{softmax}(s/T)\big)"
            r" + (1-\alpha)\,\mathrm{CE}(s, y)",
    params={
        "temperature": Param(4.0, 0.5, 20.0, "softens both distributions; larger shows more dark knowledge",
                             log=True, valid=POSITIVE),
        "alpha": Param(0.9, 0.0, 1.0, "weight of the soft-target term (1 - alpha on cross-entropy)", valid=UNIT),
    },
)
class KD(nn.Module):
    """Module form of :func:`kd_loss`; ``forward(student_logits[B, C], teacher_logits[B, C], target[B] or None)``.

    ``objective(out, target)`` (the training step of ``train.fit``) is this loss on the student's main logits.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples (the
    official ``reduction="batchmean"``).
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9, reduction: str = "mean"):
        super().__init__()
        self.temperature = _temperature(temperature)
        self.alpha = check_number(alpha, "alpha", low=0.0, high=1.0)
        self.reduction = check_reduction(reduction)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor | None = None) -> Tensor:
        return kd_loss(student_logits, teacher_logits, target, temperature=self.temperature, alpha=self.alpha,
                       reduction=self.reduction)

    def objective(self, out, target: Tensor) -> Tensor:
        return _scalar(kd_loss(out.logits, out.teacher_logits, target, temperature=self.temperature,
                               alpha=self.alpha, reduction="none"), self.reduction)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"


# --- Dual-Head KD: BinaryKL-Norm on the auxiliary head ----------------------------------------------------

def binary_kl_norm(student_logits: Tensor, teacher_logits: Tensor, target: Tensor | None = None, *,
                   temperature: float = 2.0, clamp: bool = True, reduction: str = "mean") -> Tensor:
    r"""DHKD's BinaryKL-Norm (Yang et al. 2024), per row

    .. math::
        \ell_i = T^2 \sum_c \mathrm{KL}\big(\mathrm{Bern}(\tfrac12)\,\|\,\mathrm{Bern}(\sigma(u_{ic}))\big)
               = T^2 \sum_c \log\cosh\big(u_{ic}/2\big),\qquad u = (s - t)/T

    (the closed form is derived in the spec §10c and checked against the official expression in the tests).
    It pulls every student logit towards the teacher's logit, class by class: a logit-level loss, not a
    probability-level one. ``reduction="mean"`` is the official ``loss.sum() / N``. ``target`` is accepted
    for the kind's signature and validated, but not used.

    ``clamp=True`` (default, the official code): sigmoid(u) is clamped to [1e-8, 1 - 1e-8], so the value
    saturates and the gradient is exactly 0 once :math:`|u| > 18.42`. ``clamp=False``: the exact log-cosh,
    whose gradient :math:`(T/2)\tanh(u/2)` never vanishes. Default T = 2 (``--BinaryKL_T 2``).
    Computed as :math:`\tfrac12(\mathrm{softplus}(u) + \mathrm{softplus}(-u)) - \log 2`: finite for logits of 1e4
    in float32, where the official ``log(1 - sigmoid(u))`` is -inf.
    Reference (spec §10c): s - t = 2 in one class, T = 2: 0.480458; s = [1, 2, 3], t = 0, T = 2: 1.637242.
    """
    temperature = _temperature(temperature)  # hyper-parameters before tensors, as in kd_loss
    check_flag(clamp, "clamp")
    check_reduction(reduction)
    check_pair(student_logits, teacher_logits, target)
    u = (student_logits - teacher_logits) / temperature
    if clamp:
        u = u.clamp(-BINARY_KL_CLAMP, BINARY_KL_CLAMP)
    per_class = 0.5 * (F.softplus(u) + F.softplus(-u)) - math.log(2.0)
    return reduce(temperature ** 2 * per_class.sum(1), reduction)


@register(
    "dhkd", family="distill", kind="distill", reduces_over="sample",
    paper=Paper("Dual-Head Knowledge Distillation: Enhancing Logits Utilization with an Auxiliary Head", 2024,
                "Yang et al."),
    formula=r"\ell = T^2 \sum_c \mathrm{KL}\big(\mathrm{Bern}(\tfrac12)\,\|\,"
            r"\mathrm{Bern}(\sigma((z^2_c - t_c)/T))\big);\quad L = \gamma\,\mathrm{CE}(z^1, y) + \alpha\,\ell(z^2, t)",
    params={
        "temperature": Param(2.0, 0.5, 10.0, "scale of the logit differences (official --BinaryKL_T 2)", log=True,
                             valid=POSITIVE),
        "alpha": Param(1.0, 0.0, 5.0, "weight of the auxiliary-head loss in the objective (official -a, CIFAR 1)",
                       valid=NONNEGATIVE),
        "gamma": Param(1.0, 0.0, 5.0, "weight of cross-entropy on the main head in the objective (official -r 1)",
                       valid=NONNEGATIVE),
    },
)
class DHKD(nn.Module):
    r"""Dual-Head KD. ``forward(student_logits, teacher_logits, target=None)`` is BinaryKL-Norm
    (:func:`binary_kl_norm`) of the *auxiliary* head's logits :math:`z^2` against the teacher's; it is
    unweighted (the official ``criterion_kd``).

    ``objective(out, target)`` is the official training loss (``helper/loops.py``):
    :math:`\gamma\,\mathrm{CE}(z^1, y) + \alpha\,\ell(z^2, t)`, the prediction coming from the main head
    :math:`z^1` only. On a one-head student (``out.aux_logits`` is None) both terms act on the same head:
    the set-up the paper shows to hurt (the logit-level loss fights cross-entropy), kept to show it.
    Build the two-head student with ``workbench.models.dual_head_classifier`` (``heads = 2`` says so to the
    command line).

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples (the
    official sum divided by the batch size). ``objective`` is one number: the sum with ``"sum"``, else the mean.
    """

    heads = 2  # the student this loss is meant for has a main and an auxiliary head

    def __init__(self, temperature: float = 2.0, alpha: float = 1.0, gamma: float = 1.0, clamp: bool = True,
                 reduction: str = "mean"):
        super().__init__()
        self.temperature = _temperature(temperature)
        self.alpha, self.gamma = _weight(alpha, "alpha"), _weight(gamma, "gamma")
        self.clamp = check_flag(clamp, "clamp")
        self.reduction = check_reduction(reduction)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, target: Tensor | None = None) -> Tensor:
        return binary_kl_norm(student_logits, teacher_logits, target, temperature=self.temperature,
                              clamp=self.clamp, reduction=self.reduction)

    def objective(self, out, target: Tensor) -> Tensor:
        aux = out.logits if out.aux_logits is None else out.aux_logits
        ce = F.cross_entropy(out.logits, target, reduction="none")
        aux_loss = binary_kl_norm(aux, out.teacher_logits, target, temperature=self.temperature, clamp=self.clamp,
                                  reduction="none")
        return _scalar(self.gamma * ce + self.alpha * aux_loss, self.reduction)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, gamma={self.gamma}, clamp={self.clamp}"


# --- KD++: the norm-and-direction (ND) loss on features ---------------------------------------------------

def class_means(features: Tensor, labels: Tensor, num_classes: int | None = None) -> Tensor:
    """Mean feature of each class ``[C, D]`` (rows of classes without samples are 0): KD++'s teacher class
    centres, computed on the training set with the teacher (official ``emb_fea_distribution.py``, which
    also rounds to 4 decimals; we do not)."""
    check_float_tensor(features, "features", 2, "[N, D]")
    check_labels(labels, "labels", features.shape[0], num_classes)
    c = int(labels.max()) + 1 if num_classes is None else num_classes
    sums = features.new_zeros(c, features.shape[1]).index_add_(0, labels, features)
    counts = torch.bincount(labels, minlength=c).clamp_min(1).to(features.dtype)
    return sums / counts[:, None]


def nd_loss(student_features: Tensor, teacher_features: Tensor, target: Tensor, centres: Tensor | None = None, *,
            weight: float = 1.0, eps: float = 1e-12, reduction: str = "mean") -> Tensor:
    r"""KD++'s ND loss (Wang et al. 2023), per sample

    .. math::
        \ell_i = w\,\Big(1 - \frac{\langle s_i, e_{y_i}\rangle}{\max(\|s_i\|_2, \|t_i\|_2)}\Big),\qquad
        e_c = \frac{\mu_c}{\|\mu_c\|_2}

    with :math:`s_i, t_i` the raw (un-normalised) penultimate features of student and teacher (same
    dimension) and :math:`\mu_c` the teacher's mean feature of class c (``centres [C, D]``). While
    :math:`\|s\| < \|t\|` the loss falls as :math:`\langle s, e\rangle` grows: it pushes the student's
    feature along the teacher's class direction *and* its norm up to the teacher's. ``weight`` is the
    official ``nd_loss_factor`` (1.0; the res56 -> res20 recipe uses 2.0). ``reduction="mean"`` is the
    official sum over the batch divided by its size.

    ``centres=None`` estimates the centres from this batch's teacher features (detached): a departure
    for inputs without precomputed centres (the official code always uses training-set centres).
    ``eps`` keeps the denominator away from 0 (both features 0: the official code divides by 0).
    Reference (spec §10b): s = [3, 4], t = [1, 0], centre [2, 0]: 0.4; t = [6, 8]: 0.7.
    """
    weight = _weight(weight, "weight")  # hyper-parameters before tensors, as in kd_loss
    eps = check_number(eps, "eps", low=0.0, low_open=True)
    check_reduction(reduction)
    target = check_pair(student_features, teacher_features, target, names=("student_features", "teacher_features"),
                        shape="[B, D]", need_target=True)
    if centres is None:
        centres = class_means(teacher_features.detach(), target)
    else:
        check_float_tensor(centres, "class_means", 2, "[C, D]")
        if centres.shape[1] != student_features.shape[1]:
            raise ValueError(f"class_means must have D = {student_features.shape[1]} columns (the features' "
                             f"dimension), got shape {tuple(centres.shape)}")
        target = check_labels(target, "target", student_features.shape[0], centres.shape[0])
    directions = F.normalize(centres.to(student_features.dtype), dim=1)[target]
    norm = torch.maximum(student_features.norm(dim=1), teacher_features.norm(dim=1)).clamp_min(eps)
    return reduce(weight * (1 - (student_features * directions).sum(1) / norm), reduction)


@register(
    "nd", family="distill", kind="distill", reduces_over="sample",
    paper=Paper("Improving Knowledge Distillation via Regularizing Feature Norm and Direction", 2023,
                "Wang et al."),
    formula=r"\ell = w\Big(1 - \frac{\langle s, e_y\rangle}{\max(\|s\|, \|t\|)}\Big),\; e_y = \mu_y/\|\mu_y\|"
            r";\quad L = \mathrm{CE} + \mathrm{KD}_T + \ell",
    params={
        "weight": Param(1.0, 0.0, 5.0, "nd_loss_factor: weight of the ND term (official 1.0; res56->res20 2.0)",
                        valid=NONNEGATIVE),
        "temperature": Param(4.0, 0.5, 20.0, "temperature of the KD term in the objective (official T = 4)",
                             log=True, valid=POSITIVE),
    },
)
class ND(nn.Module):
    r"""KD++'s norm-and-direction loss: a *feature* loss in the distill kind's three places,
    ``forward(student_features[B, D], teacher_features[B, D], target[B])`` (target required), where
    ``D`` is the penultimate feature size, the same for student and teacher. See :func:`nd_loss`.

    ``class_means [C, D]``: the teacher's mean training feature per class (a buffer; build it with
    :func:`class_means` of the teacher's features, or ``workbench.models.teacher_class_means``; set later with
    :meth:`set_class_means`). While it is None, each batch's own teacher class means are used.

    ``objective(out, target)`` is the official KD++ training loss (``train_cifar_kd.py``):
    :math:`\mathrm{CE}(z_s, y) + \mathrm{KD}_T(z_s, z_t) + \ell_{ND}(s, t)` with CE and KD weighted 1 as in the
    res56 -> res20 recipe; the official KD warm-up (its weight rising over the first 20 epochs) is not done.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples (the
    official sum over the batch divided by its size). ``objective`` is one number: the sum with ``"sum"``,
    else the mean.
    """

    def __init__(self, weight: float = 1.0, temperature: float = 4.0, class_means: Tensor | None = None,
                 reduction: str = "mean"):
        super().__init__()
        self.weight = _weight(weight, "weight")
        self.temperature = _temperature(temperature)
        self.reduction = check_reduction(reduction)
        self.register_buffer("class_means", None)
        if class_means is not None:
            self.set_class_means(class_means)

    def set_class_means(self, means: Tensor) -> ND:
        """Use ``means [C, D]`` (the teacher's class-mean features) from now on; returns self."""
        check_float_tensor(means, "class_means", 2, "[C, D]")  # also refuses NaN and ±inf, by name
        self.class_means = means.detach().clone()
        return self

    def forward(self, student_features: Tensor, teacher_features: Tensor, target: Tensor | None = None) -> Tensor:
        return nd_loss(student_features, teacher_features, target, self.class_means, weight=self.weight,
                       reduction=self.reduction)

    def objective(self, out, target: Tensor) -> Tensor:
        if out.features is None or out.teacher_features is None:
            raise ValueError("nd needs the student's and the teacher's features: train a models.StudentTeacher "
                             "whose student and teacher both have embed()")
        kd = soft_kl(out.logits, out.teacher_logits, self.temperature)
        ce = F.cross_entropy(out.logits, target, reduction="none")
        nd = nd_loss(out.features, out.teacher_features, target, self.class_means, weight=self.weight,
                     reduction="none")
        return _scalar(ce + kd + nd, self.reduction)

    def extra_repr(self) -> str:
        means = None if self.class_means is None else tuple(self.class_means.shape)
        return f"weight={self.weight}, temperature={self.temperature}, class_means={means}"
