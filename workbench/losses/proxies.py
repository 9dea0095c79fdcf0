"""Proxy-based metric-learning losses (kind ``margin``): Proxy-Anchor, ProxyNCA, SoftTriple and Sub-center
ArcFace.

Each loss owns learnable proxies (class centres) ``.weight`` and compares the batch's embeddings with them,
never with each other, so one step costs O(B·C) instead of the O(B²) of pair losses. ``.logits(x)`` gives
the margin-free similarity logits a trained model predicts with (argmax over classes).

Every loss equals pytorch-metric-learning's (PML 2.9) class of the same name on the same tensors and weights
(tests/losses/test_proxies.py); ``.weight`` is PML's ``proxies`` (Proxy-Anchor, ProxyNCA) or the transpose of
its ``fc``/``W`` (SoftTriple, Sub-center ArcFace, whose ``[C·K, D]`` rows are class-major: rows
``c·K … c·K+K-1`` are class c's centres). Put ``loss.parameters()`` in the optimiser: the proxies learn.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import ANGLE, NONNEGATIVE, POSITIVE, POSITIVE_INT, check_float_tensor, check_labels, check_number, reduce
from . import distributed
from .margin import ArcFace, MarginHead
from .registry import Paper, Param, register


def _targets(labels: Tensor, embeddings: Tensor, num_classes: int) -> Tensor:
    if labels is None:
        raise ValueError("labels must be a tensor of shape [B]; a proxy loss needs the targets")
    return check_labels(labels, "labels", embeddings.shape[0], num_classes).long()  # any integer dtype


def _check_embeddings(embeddings: Tensor, dim: int) -> None:
    """Before the labels are read: a float matrix [B, D], at least one row, no NaN or ±inf (the dimension D is
    checked by ``cosine``)."""
    check_float_tensor(embeddings, "embeddings", 2, f"[B, {dim}]", nonempty=True)


# --- Proxy-Anchor -------------------------------------------------------------------------------------

@register(
    "proxy_anchor", family="margin", kind="margin", reduces_over="batch",
    paper=Paper("Proxy Anchor Loss for Deep Metric Learning", 2020, "Kim, Kim, Cho, Kwak"),
    formula=r"\ell = \frac{1}{|P^+|}\sum_{p\in P^+}\log\Big(1+\sum_{x\in X_p^+}e^{-\alpha(s(x,p)-\delta)}\Big)"
            r" + \frac{1}{|P|}\sum_{p\in P}\log\Big(1+\sum_{x\in X_p^-}e^{\alpha(s(x,p)+\delta)}\Big)",
    params={"margin": Param(0.1, 0.0, 0.5, "δ: positives are pulled above cos δ, negatives pushed below -δ",
                            valid=NONNEGATIVE),
            "alpha": Param(32.0, 1.0, 64.0, "α: scale; large α focuses each proxy on its hardest samples",
                           log=True, valid=POSITIVE)},
)
class ProxyAnchor(MarginHead):
    r"""Proxy-Anchor loss (Kim et al., CVPR 2020): every proxy is an anchor over the whole batch.

    .. math::
        \ell = \frac{1}{|P^+|}\sum_{p\in P^+}\log\Big(1+\sum_{x\in X_p^+}e^{-\alpha(s(x,p)-\delta)}\Big)
             + \frac{1}{|P|}\sum_{p\in P}\log\Big(1+\sum_{x\in X_p^-}e^{\alpha(s(x,p)+\delta)}\Big)

    with :math:`s` the cosine, :math:`P^+` the proxies with a positive in the batch, :math:`P` all C proxies
    (a class absent from the batch still pushes its negatives away, divided by C), :math:`X_p^\pm` the batch's
    positives/negatives of proxy p. Defaults α = 32, δ = 0.1 (paper, official code
    tjddus9597/Proxy-Anchor-CVPR2020 ``code/losses.py``, PML ``ProxyAnchorLoss``); proxies initialised with
    ``kaiming_normal_(mode="fan_out")`` as both. The log(1 + Σ e) terms are computed as a stable logsumexp
    with a zero column (the official code exponentiates directly, which overflows in half precision).

    The loss is one number per batch (its two means run over proxies, not samples), so there is
    no ``reduction``. ``.logits(x)`` is ``α·cos`` (to predict); ``.logits(x, labels)`` is ``α(cos - δ)`` on the
    target and ``α(cos + δ)`` elsewhere, the arguments of the two sums. Tip: the official ``train.py`` gives
    the proxies a learning rate 100x the backbone's; Loss Lab's default recipe uses one Adam rate for both.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels are gathered and every rank
    computes the loss of the whole batch (the whole-batch semantics of :mod:`workbench.losses.distributed`): each
    proxy's sums then run over every rank's samples, which a mean of the shards' losses would not give (the log
    of a sum). The proxies' gradient is then the whole batch's on every rank, and DDP's average keeps it; they
    must start equal on every rank (seed the ranks alike, or let DDP broadcast them). pytorch-metric-learning's
    ``DistributedLossWrapper`` likewise computes a loss on the gathered embeddings by default.
    """

    def __init__(self, num_classes: int, embedding_dim: int, margin: float = 0.1, alpha: float = 32.0,
                 gather: bool = False):
        super().__init__(num_classes, embedding_dim, POSITIVE.check(alpha, "alpha"))
        self.gather = distributed.check_gather(gather)
        self.margin, self.alpha = NONNEGATIVE.check(margin, "margin"), self.scale
        with torch.no_grad():
            nn.init.kaiming_normal_(self.weight, mode="fan_out")

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        target = F.one_hot(labels, self.num_classes).to(cosine.dtype)
        return cosine + self.margin * (1 - 2 * target)  # cos - δ on the target, cos + δ elsewhere

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        cosine = self.cosine(embeddings)  # checks the embeddings
        labels = _targets(labels, embeddings, self.num_classes)
        if distributed.active(self.gather):  # the whole gathered batch on every rank (see .distributed)
            embeddings, labels = distributed.gather_batch(embeddings, labels)
            cosine = self.cosine(embeddings)
        positive = F.one_hot(labels, self.num_classes).bool()  # [B, C]: sample i is a positive of proxy c
        pos_term = _log1p_sum_exp(-self.alpha * (cosine - self.margin), positive)  # [C], 0 without positives
        neg_term = _log1p_sum_exp(self.alpha * (cosine + self.margin), ~positive)
        with_positives = positive.any(0).sum()
        return pos_term.sum() / with_positives + neg_term.sum() / self.num_classes

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, margin={self.margin}, alpha={self.alpha}"


def _log1p_sum_exp(x: Tensor, mask: Tensor) -> Tensor:
    """Column-wise ``log(1 + Σ_{mask} e^x)`` over the batch (dim 0), stable; an empty column gives 0."""
    x = x.masked_fill(~mask, -math.inf)
    return torch.logsumexp(torch.cat([x, x.new_zeros(1, x.shape[1])]), dim=0)


# --- ProxyNCA -----------------------------------------------------------------------------------------

@register(
    "proxy_nca", family="margin", kind="margin", reduces_over="sample",
    paper=Paper("No Fuss Distance Metric Learning using Proxies", 2017,
                "Movshovitz-Attias, Toshev, Leung, Ioffe, Singh"),
    formula=r"\ell_i = -\log\frac{e^{-s\,\lVert\hat x_i-\hat p_{y_i}\rVert^2}}"
            r"{\sum_{c} e^{-s\,\lVert\hat x_i-\hat p_c\rVert^2}}",
    params={"scale": Param(1.0, 1.0, 64.0, "s: softmax scale on the squared distances (PML's softmax_scale)",
                           log=True, valid=POSITIVE)},
)
class ProxyNCA(MarginHead):
    r"""ProxyNCA (Movshovitz-Attias et al., ICCV 2017): NCA with one learnable proxy per class.

    .. math:: \ell_i = -\log\frac{e^{-s\,d^2(x_i, p_{y_i})}}{\sum_c e^{-s\,d^2(x_i, p_c)}},\qquad
              d^2(x, p) = \lVert\hat x - \hat p\rVert^2 = 2 - 2\cos(x, p)

    as PML's ``ProxyNCALoss`` (squared Euclidean distance of L2-normalised vectors; the denominator includes
    the true proxy; default ``softmax_scale`` 1). Since :math:`-s d^2 = 2s\cos - 2s`, this is NormFace with
    scale 2s. With s = 1 the logits span only [-4, 0], so the loss cannot fall below
    :math:`\log(1 + (C-1)e^{-4})`: the Proxy-Anchor repository trains ProxyNCA with s = 32.

    Departures: the paper's NCA denominator leaves out the true proxy (from memory, not verified here); PML
    drops samples whose probability on the true proxy underflows to 0, where this log-softmax keeps their
    (large, finite) loss. ``.logits(x)`` are ``-s·d²``.

    Reduction: ``"none"`` gives one value per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, num_classes: int, embedding_dim: int, scale: float = 1.0, reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, POSITIVE.check(scale, "scale"), reduction)
        with torch.no_grad():
            self.weight.normal_()  # PML's default initialiser (normal_, std 1)

    def logits(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        cosine = self.cosine(embeddings)
        if labels is not None:
            check_labels(labels, "labels", embeddings.shape[0], self.num_classes)
        return -self.scale * (2 - 2 * cosine).clamp(min=0)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        _check_embeddings(embeddings, self.embedding_dim)
        labels = _targets(labels, embeddings, self.num_classes)
        return F.cross_entropy(self.logits(embeddings, labels), labels, reduction=self.reduction)


# --- SoftTriple ---------------------------------------------------------------------------------------

@register(
    "soft_triple", family="margin", kind="margin", reduces_over="sample",
    paper=Paper("SoftTriple Loss: Deep Metric Learning Without Triplet Sampling", 2019,
                "Qian, Shang, Sun, Hu, Li, Jin"),
    formula=r"\ell_i = -\log\frac{e^{\lambda(S_{i,y_i}-\delta)}}{e^{\lambda(S_{i,y_i}-\delta)}"
            r"+\sum_{c\neq y_i}e^{\lambda S_{i,c}}},\;"
            r"S_{i,c}=\sum_k\frac{e^{\frac1\gamma x_i^\top w_c^k}}{\sum_{k'}e^{\frac1\gamma x_i^\top w_c^{k'}}}"
            r"\,x_i^\top w_c^k,\; L = \bar\ell + \tau R",
    params={"centers_per_class": Param(10, 1, 20, "K: centres per class", valid=POSITIVE_INT),
            "lam": Param(20.0, 1.0, 64.0, "λ: scale of the class similarities in the softmax", log=True,
                         valid=POSITIVE),
            "gamma": Param(0.1, 0.01, 1.0, "γ: temperature of the soft assignment to a class's centres",
                           log=True, valid=POSITIVE),
            "margin": Param(0.01, 0.0, 0.2, "δ: subtracted from the target class similarity", valid=NONNEGATIVE),
            "tau": Param(0.2, 0.0, 1.0, "τ: weight of the regulariser that merges redundant centres",
                         valid=NONNEGATIVE)},
)
class SoftTriple(MarginHead):
    r"""SoftTriple loss (Qian et al., ICCV 2019): a softmax over classes, each class a soft mixture of K centres.

    .. math::
        S_{i,c} = \sum_k \mathrm{softmax}_k\big(\tfrac1\gamma\,\hat x_i^\top\hat w_c^k\big)\,\hat x_i^\top\hat w_c^k,
        \qquad \ell_i = \mathrm{CE}\big(\lambda(S_i - \delta e_{y_i}), y_i\big),
        \qquad L = \tfrac1B\sum_i\ell_i + \tau R

    .. math::
        R = \frac{1}{CK(K-1)}\sum_c\sum_{k<k'}\sqrt{2 + 10^{-5} - 2\,\hat w_c^{k\top}\hat w_c^{k'}}

    Defaults λ = 20, γ = 0.1, δ = 0.01, K = 10, τ = 0.2: the official code (idstcv/SoftTriple ``train.py``,
    ``loss/SoftTriple.py``). ``.weight`` is ``[C·K, D]``, class-major (PML's ``fc`` transposed), initialised as
    the official ``kaiming_uniform_(a=√5)`` of that ``[D, C·K]`` matrix. Embeddings and centres are
    L2-normalised (PML; the official code normalises only the centres and expects normalised inputs).

    The centre regulariser R (official code; PML's ``SoftTripleLoss`` has none) pulls the centres of a class
    together so that redundant ones merge; ``tau=0`` leaves it out and then the loss equals PML's. It needs
    K > 1 (the official code skips it otherwise; so do we).
    ``.logits(x)`` is ``λS`` (to predict); ``.logits(x, labels)`` subtracts λδ on the target.

    Reduction: ``"none"`` gives one value per sample [B], ``ℓ_i + τR``; ``"mean"`` averages them over all B
    samples, the official ``mean(ℓ) + τR``, and ``"sum"`` is ``Σℓ_i + BτR``.
    """

    def __init__(self, num_classes: int, embedding_dim: int, centers_per_class: int = 10, lam: float = 20.0,
                 gamma: float = 0.1, margin: float = 0.01, tau: float = 0.2, reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, POSITIVE.check(lam, "lam"), reduction)
        self.centers_per_class = POSITIVE_INT.check(centers_per_class, "centers_per_class")
        self.lam, self.gamma = self.scale, POSITIVE.check(gamma, "gamma")
        self.margin, self.tau = NONNEGATIVE.check(margin, "margin"), NONNEGATIVE.check(tau, "tau")
        fc = torch.empty(embedding_dim, num_classes * self.centers_per_class)
        nn.init.kaiming_uniform_(fc, a=math.sqrt(5))
        self.weight = nn.Parameter(fc.T.contiguous())

    def cosine(self, embeddings: Tensor) -> Tensor:
        """The class similarities S, shape [B, C] (the soft maximum of each class's K centre cosines)."""
        to_centres = super().cosine(embeddings).view(len(embeddings), self.num_classes, self.centers_per_class)
        weights = torch.softmax(to_centres / self.gamma, dim=2)
        return (weights * to_centres).sum(2)

    def adjust(self, cosine: Tensor, labels: Tensor) -> Tensor:
        return cosine - self.margin * F.one_hot(labels, self.num_classes).to(cosine.dtype)

    def regularizer(self) -> Tensor:
        """R: the mean over classes and centre pairs k < k' of ``sqrt(2 + 1e-5 - 2 cos(w_c^k, w_c^k'))``
        (the official code's normalisation C·K·(K-1), i.e. half the mean over pairs); 0 when K = 1."""
        k = self.centers_per_class
        if k == 1:
            return self.weight.new_zeros(())
        centres = F.normalize(self.weight, dim=1).view(self.num_classes, k, -1)
        upper = torch.ones(k, k, dtype=torch.bool, device=centres.device).triu(1)
        gram = centres @ centres.transpose(1, 2)  # [C, K, K]
        return (2.0 + 1e-5 - 2.0 * gram[:, upper]).sqrt().sum() / (self.num_classes * k * (k - 1))

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        _check_embeddings(embeddings, self.embedding_dim)
        labels = _targets(labels, embeddings, self.num_classes)
        per_sample = F.cross_entropy(self.logits(embeddings, labels), labels, reduction="none")
        if self.tau > 0:
            per_sample = per_sample + self.tau * self.regularizer().to(per_sample.dtype)
        return reduce(per_sample, self.reduction)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, centers_per_class={self.centers_per_class}, gamma={self.gamma}, "
                f"margin={self.margin}, tau={self.tau}")


# --- Sub-center ArcFace -------------------------------------------------------------------------------

@register(
    "subcenter_arcface", family="margin", kind="margin", reduces_over="sample",
    paper=Paper("Sub-center ArcFace: Boosting Face Recognition by Large-Scale Noisy Web Faces", 2020,
                "Deng, Guo, Liu, Zafeiriou"),
    formula=r"\ell = -\log\frac{e^{s\cos(\theta_y + m)}}{e^{s\cos(\theta_y + m)} + \sum_{j\neq y} e^{s\cos\theta_j}},"
            r"\;\cos\theta_j = \max_k \cos(x, w_j^k)",
    params={"sub_centers": Param(3, 1, 10, "K: sub-centres per class (noisy samples gather on extra ones)",
                                 valid=POSITIVE_INT),
            "scale": Param(64.0, 1.0, 64.0, "s: logit scale", log=True, valid=POSITIVE),
            "margin": Param(0.5, 0.0, 0.8, "m: added to the target angle (radians)", valid=ANGLE)},
)
class SubCenterArcFace(ArcFace):
    r"""Sub-center ArcFace (Deng et al., ECCV 2020): ArcFace where each class has K sub-centres and a sample's
    class cosine is the nearest one's, :math:`\cos\theta_j = \max_k\cos(x, w_j^k)`.

    Defaults K = 3, m = 0.5 rad, s = 64 (paper; PML's ``SubCenterArcFaceLoss`` takes the margin in degrees,
    default 28.6 = 0.49916 rad). ``.weight`` is ``[C·K, D]``, class-major (PML's ``W`` transposed). The angular
    margin and its θ + m > π fallback are :func:`~workbench.losses.margin.arc_margin`'s (as PML's ArcFace).
    :meth:`outliers` is PML's ``get_outliers``: the samples far from their class's dominant sub-centre, which
    the paper drops before retraining with K = 1.

    Reduction: ``"none"`` gives one cross-entropy per sample [B]; ``"mean"`` averages them over all B samples.
    """

    def __init__(self, num_classes: int, embedding_dim: int, sub_centers: int = 3, scale: float = 64.0,
                 margin: float = 0.5, easy_margin: bool = False, reduction: str = "mean"):
        super().__init__(num_classes, embedding_dim, POSITIVE.check(scale, "scale"), ANGLE.check(margin, "margin"),
                         easy_margin, reduction)
        self.sub_centers = POSITIVE_INT.check(sub_centers, "sub_centers")
        self.weight = nn.Parameter(torch.randn(num_classes * self.sub_centers, embedding_dim) * 0.01)

    def sub_center_cosine(self, embeddings: Tensor) -> Tensor:
        """Cosines to every sub-centre, shape [B, C, K]."""
        return super().cosine(embeddings).view(len(embeddings), self.num_classes, self.sub_centers)

    def cosine(self, embeddings: Tensor) -> Tensor:
        return self.sub_center_cosine(embeddings).amax(2)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        _check_embeddings(embeddings, self.embedding_dim)
        return super().forward(embeddings, _targets(labels, embeddings, self.num_classes))

    @torch.no_grad()
    def outliers(self, embeddings: Tensor, labels: Tensor, threshold: float = 75.0) -> tuple[Tensor, Tensor]:
        """``(outlier indices, dominant sub-centre per class [C])``: per class, the dominant sub-centre is the one
        most of its samples are nearest to; a sample whose cosine to it is below ``cos(threshold°)`` is an
        outlier (PML ``get_outliers``, threshold 75° by default; -1 for classes absent from the batch)."""
        threshold = check_number(threshold, "threshold", low=0.0, high=180.0)
        cos = self.sub_center_cosine(embeddings)
        labels = _targets(labels, embeddings, self.num_classes)
        own = cos[torch.arange(len(labels), device=cos.device), labels]  # [B, K]
        votes = torch.zeros(self.num_classes, self.sub_centers, dtype=torch.long, device=cos.device)
        votes.index_put_((labels, own.argmax(1)), torch.ones_like(labels), accumulate=True)
        dominant = torch.where(votes.sum(1) > 0, votes.argmax(1), -1)
        to_dominant = own.gather(1, dominant[labels].clamp(min=0)[:, None]).squeeze(1)
        return torch.nonzero(to_dominant < math.cos(math.radians(threshold))).flatten(), dominant

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, sub_centers={self.sub_centers}, margin={self.margin}"


__all__ = ["ProxyAnchor", "ProxyNCA", "SoftTriple", "SubCenterArcFace"]
