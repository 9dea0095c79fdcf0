"""Losses on logits for long-tailed (imbalanced) data: focal loss, logit adjustment and DatasetEquity's
likelihood-weighted generalized focal loss (kind ``logits``: ``forward(logits[B, C], target[B])``).

Each re-weights or shifts plain cross-entropy ``l = logsumexp(z) - z_y``:

    focal            alpha_y (1 - p_y)^gamma l             easy samples (p_y -> 1) count less
    logit_adjusted   CE(z + tau log pi, y)                 rare classes must win by a larger margin
    dataset_equity   (eta + (1 - p_s)^gamma)/(eta + 1) l   samples from rare *appearance clusters* count more

The cluster likelihoods ``p_s`` of DatasetEquity and the priors ``pi`` of logit adjustment are measured on
the training set outside the loss (``workbench.analysis``); the loss only takes them.

Not implemented: RCAL's representation calibration ("When Noisy Labels Meet Long Tail Dilemmas", Zhang et al.,
ICCV 2023). No official code could be found, and beyond its abstract (per-class Gaussians of contrastive features,
recovered from the noisy long-tailed data and sampled to train the classifier) the method's definition (how noisy
samples are removed, how tail statistics borrow from head classes, the regulariser and its weight) could not be
confirmed; a guessed version would not be RCAL.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import (
    NONNEGATIVE,
    POSITIVE,
    check_float_tensor,
    check_index,
    check_nonnegative,
    check_positive,
    check_reduction,
    reduce,
)
from .classification import check_logits_target, per_sample_ce
from .registry import Paper, Param, register

FOCAL_PAPER = Paper("Focal Loss for Dense Object Detection", 2017, "Lin, Goyal, Girshick, He, Dollár")
LA_PAPER = Paper("Long-tail learning via logit adjustment", 2021,
                 "Menon, Jayasumana, Rawat, Jain, Veit, Kumar")
DE_PAPER = Paper("DatasetEquity: Are All Samples Created Equal? In The Quest For Equity Within Datasets", 2023,
                 "Nagesh, Zhang, Parchami, Shrivastava")
#: added to pi^tau inside the log, as the official logit-adjustment code does (google-research
#: logit_adjustment/utils.py): a class with prior 0 gets the finite offset log(1e-12) = -27.63.
PRIOR_GUARD = 1e-12


def _class_vector(values: Tensor | None, name: str, classes: int, like: Tensor) -> Tensor | None:
    """A per-class vector ``values[C]`` (finite, >= 0) on the device and dtype of ``like``, or None."""
    if values is None:
        return None
    check_float_tensor(values, name, 1, "[C] (one value per class)")
    if values.shape[0] != classes:
        raise ValueError(f"{name} must have one value per class: shape [{classes}], got {tuple(values.shape)}")
    if (values < 0).any():
        raise ValueError(f"{name} must be >= 0, got a minimum of {float(values.min()):g}")
    return values.to(device=like.device, dtype=like.dtype)


def focal(logits: Tensor, target: Tensor, *, gamma: float = 2.0, alpha: Tensor | None = None,
          reduction: str = "mean") -> Tensor:
    r"""Softmax focal loss :math:`-\alpha_y (1 - p_y)^\gamma \log p_y` (Lin et al., ICCV 2017).

    .. math:: \ell = \alpha_y\,(1 - p_y)^\gamma\,\ell_{CE}, \qquad \ell_{CE} = \operatorname{LSE}(z) - z_y,
              \quad 1 - p_y = -\operatorname{expm1}(-\ell_{CE})

    ``gamma`` >= 0 (default 2, the paper's): 0 gives cross-entropy (times alpha). ``alpha``: optional class
    weights [C] (>= 0; default None, all 1); ``"mean"`` is the plain mean over the B samples, not
    ``F.cross_entropy``'s weight-normalised mean. The paper states the sigmoid (per-class binary) form
    used by RetinaNet (torchvision ``sigmoid_focal_loss``, alpha = 0.25 for the positive class); with two
    classes and logits ``[0, x]`` this softmax form equals it with class weights ``[1 - alpha, alpha]``
    (tested). ``1 - p_y`` comes from ``expm1`` of the cross-entropy (never ``1 - softmax``, which rounds to 0
    early) and is floored at the dtype's tiny so that ``(1 - p_y)^gamma`` has a finite gradient for
    gamma < 1 when ``p_y`` rounds to 1.
    """
    gamma = check_nonnegative(gamma, "gamma")
    check_reduction(reduction)
    ce = per_sample_ce(logits, target)
    alpha = _class_vector(alpha, "alpha", logits.shape[1], logits)
    easy = (-(-ce).expm1()).clamp_min(torch.finfo(ce.dtype).tiny)  # 1 - p_y, > 0
    values = easy.pow(gamma) * ce  # gamma = 0: easy^0 = 1 exactly (easy > 0), plain cross-entropy
    if alpha is not None:
        values = alpha[target.long()] * values
    return reduce(values, reduction)


@register(
    "focal", family="classification", kind="logits", reduces_over="sample", paper=FOCAL_PAPER,
    formula=r"\ell = -\alpha_y (1 - p_y)^\gamma \log p_y",
    params={"gamma": Param(2.0, 0.0, 5.0, "focusing: 0 is cross-entropy, larger ignores easy samples more",
                           valid=NONNEGATIVE)},
)
class Focal(nn.Module):
    """Module form of :func:`focal`; ``forward(logits[B, C], target[B])``. ``alpha``: class weights [C] or None.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, gamma: float = 2.0, alpha: Tensor | None = None, reduction: str = "mean"):
        super().__init__()
        self.gamma = check_nonnegative(gamma, "gamma")
        if alpha is not None:
            check_float_tensor(alpha, "alpha", 1, "[C] (one weight per class)")
            if (alpha < 0).any():
                raise ValueError(f"alpha must be >= 0, got a minimum of {float(alpha.min()):g}")
        self.register_buffer("alpha", None if alpha is None else alpha.detach().clone())
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return focal(logits, target, gamma=self.gamma, alpha=self.alpha, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={'None' if self.alpha is None else self.alpha.tolist()}"


def _check_priors(priors: Tensor | None) -> Tensor | None:
    if priors is None:
        return None
    check_float_tensor(priors, "priors", 1, "[C] (the training class frequencies)")
    if (priors < 0).any() or not (priors > 0).any():
        raise ValueError("priors must be >= 0 with at least one positive value (class frequencies)")
    return priors


def prior_offsets(priors: Tensor, tau: float = 1.0) -> Tensor:
    r""":math:`\log(\pi^\tau + 10^{-12})` per class: what logit adjustment adds to the logits in training
    (and subtracts from them after training, :func:`workbench.analysis.posthoc_logit_adjustment`)."""
    tau = check_nonnegative(tau, "tau")
    _check_priors(priors)
    return torch.log(priors.pow(tau) + PRIOR_GUARD)


def logit_adjusted(logits: Tensor, target: Tensor, *, priors: Tensor | None = None, tau: float = 1.0,
                   reduction: str = "mean") -> Tensor:
    r"""Logit-adjusted cross-entropy :math:`\mathrm{CE}(z + \tau\log\pi, y)` (Menon et al., ICLR 2021).

    .. math:: \ell = -\log\frac{e^{z_y + \tau\log\pi_y}}{\sum_k e^{z_k + \tau\log\pi_k}}
              = \log\Big(1 + \sum_{k\ne y} \big(\tfrac{\pi_k}{\pi_y}\big)^{\tau} e^{z_k - z_y}\Big)

    ``priors`` [C]: the training class frequencies (need not sum to 1: a common factor shifts every logit
    alike and cancels). The offset is :math:`\log(\pi^\tau + 10^{-12})`, the official code's guard (so a
    class of prior 0 is finite). ``tau`` >= 0 (default 1, the official ``--tau``); 0 is cross-entropy.
    The pairwise form shows the effect: a rare true class y must beat a frequent class k by the margin
    :math:`\tau\log(\pi_k/\pi_y)`, which moves the decision boundary toward the frequent classes. At test
    time the raw logits are used (they estimate the *balanced* posterior).

    ``priors=None`` (the registry default, so that generic code can build the loss) means uniform priors,
    i.e. plain cross-entropy: the loss does nothing useful without the real priors.
    """
    tau = check_nonnegative(tau, "tau")
    check_reduction(reduction)
    target = check_logits_target(logits, target)
    priors = _class_vector(_check_priors(priors), "priors", logits.shape[1], logits)
    if priors is not None and tau > 0:
        logits = logits + torch.log(priors.pow(tau) + PRIOR_GUARD)
    return reduce(per_sample_ce(logits, target), reduction)


@register(
    "logit_adjusted", family="classification", kind="logits", reduces_over="sample", paper=LA_PAPER,
    formula=r"\ell = -\log\frac{e^{z_y + \tau\log\pi_y}}{\sum_k e^{z_k + \tau\log\pi_k}}",
    params={"tau": Param(1.0, 0.0, 3.0, "strength of the prior offset: 0 is cross-entropy", valid=NONNEGATIVE)},
)
class LogitAdjusted(nn.Module):
    """Module form of :func:`logit_adjusted`; ``forward(logits[B, C], target[B])``; ``priors[C]`` are held
    in a buffer (None: uniform, i.e. cross-entropy).

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, priors: Tensor | None = None, tau: float = 1.0, reduction: str = "mean"):
        super().__init__()
        priors = _check_priors(priors)
        self.register_buffer("priors", None if priors is None else priors.detach().clone())
        self.tau = check_nonnegative(tau, "tau")
        self.reduction = check_reduction(reduction)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return logit_adjusted(logits, target, priors=self.priors, tau=self.tau, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, priors={'uniform' if self.priors is None else self.priors.tolist()}"


def equity_weights(likelihood: Tensor, *, eta: float = 1.0, gamma: float = 5.0) -> Tensor:
    r"""DatasetEquity's sample weights :math:`w(p) = (\eta + (1 - p)^\gamma)/(\eta + 1)` for sample
    likelihoods ``p`` in [0, 1]: 1 for the rarest samples (p -> 0), :math:`\eta/(\eta+1)` for the commonest
    (p -> 1). Defaults eta = 1, gamma = 5 (official README, towardsautonomy/DatasetEquity)."""
    eta = check_positive(eta, "eta")
    gamma = check_nonnegative(gamma, "gamma")
    check_float_tensor(likelihood, "likelihood", 1, "[B] in [0, 1]")
    if (likelihood < 0).any() or (likelihood > 1).any():
        raise ValueError("likelihood must lie in [0, 1] (a sample's cluster frequency)")
    return (eta + (1 - likelihood).pow(gamma)) / (eta + 1)


def dataset_equity(logits: Tensor, target: Tensor, likelihood: Tensor | None = None, *, eta: float = 1.0,
                   gamma: float = 5.0, reduction: str = "mean") -> Tensor:
    r"""DatasetEquity's likelihood-weighted generalized focal loss on cross-entropy (Nagesh et al. 2023).

    .. math:: \ell_i = \frac{\eta + (1 - p_i)^\gamma}{\eta + 1}\,\ell_{CE}(z_i, y_i)

    ``likelihood`` [B]: each sample's likelihood :math:`p_i` in [0, 1], the share of the training set in its
    appearance cluster (computed once, before training, by :func:`workbench.analysis.cluster_likelihoods`:
    the official notebooks cluster 3-D t-SNE of pretrained features with DBSCAN). Unlike focal loss the
    weight does not depend on the model's prediction, so it is a fixed importance weight per sample. Defaults
    eta = 1, gamma = 5 (official README). ``likelihood=None``: every sample weighs 1 (cross-entropy). The
    official detectors weight their own task losses; cross-entropy stands in for them here. Which of the
    notebook's two likelihoods (cluster size / N or / largest cluster) feeds the weight in the official
    training code is not verified (its training submodules are not public in the snapshot we read).
    """
    check_reduction(reduction)
    ce = per_sample_ce(logits, target)
    if likelihood is None:
        check_positive(eta, "eta")
        check_nonnegative(gamma, "gamma")
        return reduce(ce, reduction)
    if likelihood.shape != (logits.shape[0],):
        raise ValueError(f"likelihood must have shape [{logits.shape[0]}] (one per sample), "
                         f"got {tuple(likelihood.shape)}")
    weights = equity_weights(likelihood, eta=eta, gamma=gamma).to(device=ce.device, dtype=ce.dtype)
    return reduce(weights * ce, reduction)


@register(
    "dataset_equity", family="classification", kind="logits", reduces_over="sample", paper=DE_PAPER,
    formula=r"\ell = \frac{\eta + (1 - p_{\mathrm{sample}})^\gamma}{\eta + 1}\,\ell_{CE}",
    params={"eta": Param(1.0, 0.1, 10.0, "floor: the commonest samples weigh eta/(eta+1)", log=True,
                         valid=POSITIVE),
            "gamma": Param(5.0, 0.0, 10.0, "how fast the weight falls with the sample likelihood",
                           valid=NONNEGATIVE)},
)
class DatasetEquity(nn.Module):
    """Module form of :func:`dataset_equity`; ``forward(logits[B, C], target[B], likelihood[B] or None, index=None)``.

    The per-sample likelihoods are fixed before training: pass them per batch as ``likelihood``, or hold the
    whole training set's with :meth:`set_likelihoods` (a buffer) and let ``train.fit`` pass each batch's
    sample ids as ``index`` (``uses_index``). Neither: every sample weighs 1 (cross-entropy).

    Reduction: ``"none"`` gives one weighted value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    uses_index = True

    def __init__(self, eta: float = 1.0, gamma: float = 5.0, reduction: str = "mean"):
        super().__init__()
        self.eta = check_positive(eta, "eta")
        self.gamma = check_nonnegative(gamma, "gamma")
        self.reduction = check_reduction(reduction)
        self.register_buffer("likelihoods", None)

    def set_likelihoods(self, likelihood: Tensor | None) -> None:
        """Hold every training sample's likelihood ``[N]`` in [0, 1] (None: forget them)."""
        if likelihood is not None:
            equity_weights(likelihood)  # the same checks: a 1-D float tensor in [0, 1]
            likelihood = likelihood.detach().clone()
        self.likelihoods = likelihood

    def forward(self, logits: Tensor, target: Tensor, likelihood: Tensor | None = None,
                index: Tensor | None = None) -> Tensor:
        if index is not None:
            known = None if self.likelihoods is None else len(self.likelihoods)
            index = check_index(index, logits.shape[0] if isinstance(logits, Tensor) and logits.dim() else 0,
                                num_samples=known)
            if likelihood is None and self.likelihoods is not None:
                likelihood = self.likelihoods[index]
        return dataset_equity(logits, target, likelihood, eta=self.eta, gamma=self.gamma, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"eta={self.eta}, gamma={self.gamma}"
