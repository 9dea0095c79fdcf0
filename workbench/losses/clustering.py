r"""Deep clustering losses (kind ``clustering``): DEC's KL divergence to a sharpened target and DEPICT's
cross-entropy to a target with a cluster-frequency prior.

Both own cluster parameters ``.weight[K, D]`` and take ``(embeddings[B, D], target[B, K] or None)``: the soft
assignment of every embedding to the K clusters is pulled toward an auxiliary target distribution that
sharpens it. In the papers the target is computed on the whole data set every T iterations and held fixed
in between (pass its rows as ``target``); without one, the loss computes it from the batch, detached.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import POSITIVE, POSITIVE_INT, check_choice, check_float_tensor, check_reduction, reduce
from .registry import Paper, Param, register


def _check_embeddings(embeddings: Tensor, weight: Tensor) -> Tensor:
    check_float_tensor(embeddings, "embeddings", 2, "[B, D]", nonempty=True)
    if embeddings.shape[1] != weight.shape[1]:
        raise ValueError(f"embeddings must have embedding_dim={weight.shape[1]} features, got shape "
                         f"{tuple(embeddings.shape)}")
    return embeddings


def _check_target(target: Tensor, n: int, k: int) -> Tensor:
    """A fixed target distribution ``[B, K]``: finite, non-negative rows that sum to 1."""
    check_float_tensor(target, "target", 2, f"[{n}, {k}] (one distribution over the clusters per row)")
    if target.shape != (n, k):
        raise ValueError(f"target must have shape [{n}, {k}] (one distribution over the clusters per row), got "
                         f"shape {tuple(target.shape)}")
    if (target < 0).any() or not torch.allclose(target.sum(1), target.new_ones(n), atol=1e-3):
        raise ValueError("target must hold probability rows (non-negative, each summing to 1)")
    return target


def _work_dtype(x: Tensor) -> torch.dtype:
    # Squared distances of float16 embeddings overflow 65504 early; compute in float32 and cast the loss back.
    return torch.promote_types(x.dtype, torch.float32)


def sharpened_target(log_q: Tensor, power: float = 2.0) -> Tensor:
    r"""The auxiliary target of soft assignments :math:`q` (rows of ``log_q``, log probabilities), detached:

    .. math::  p_{ij} = \frac{q_{ij}^{\,a} / f_j}{\sum_{j'} q_{ij'}^{\,a} / f_{j'}},\qquad f_j = \sum_i q_{ij}.

    ``power = 2`` is DEC's target (and DEPICT's official code); ``power = 1`` with :math:`\sqrt{f_j}` is DEPICT's
    paper form, see :func:`depict_paper_target`. Computed in log space (an empty cluster gives a large negative
    log f, not a division by 0)."""
    log_q = log_q.detach()
    log_f = torch.logsumexp(log_q, dim=0, keepdim=True)
    return torch.log_softmax(power * log_q - log_f, dim=1).exp()


def depict_paper_target(log_q: Tensor) -> Tensor:
    r"""DEPICT's target as the paper derives it (KL(Q‖P) plus a uniform prior on the cluster frequencies):
    :math:`p_{ij} \propto q_{ij} / \sqrt{f_j}` (milder than DEC's :math:`q^2/f`), detached."""
    log_q = log_q.detach()
    log_f = torch.logsumexp(log_q, dim=0, keepdim=True)
    return torch.log_softmax(log_q - 0.5 * log_f, dim=1).exp()


@register("dec", family="clustering", kind="clustering",
          paper=Paper("Unsupervised Deep Embedding for Clustering Analysis", 2016, "Xie, Girshick, Farhadi"),
          formula=r"q_{ij}\propto(1+\|z_i-\mu_j\|^2/\alpha)^{-\frac{\alpha+1}2},\ "
                  r"p_{ij}\propto q_{ij}^2/\textstyle\sum_i q_{ij},\ \ell_i=\sum_j p_{ij}\log\frac{p_{ij}}{q_{ij}}",
          params={"alpha": Param(1.0, 0.1, 10.0, "degrees of freedom of the Student-t kernel", log=True,
                                 valid=POSITIVE)},
          reduces_over="sample")
class DEC(nn.Module):
    r"""Deep Embedded Clustering (Xie, Girshick & Farhadi, ICML 2016): KL divergence from a sharpened target to
    the Student-t soft assignment of every embedding to K learnable centres :math:`\mu_j` (``.weight[K, D]``).

    .. math::
        k_{ij} = (1 + \|z_i - \mu_j\|^2/\alpha)^{-\frac{\alpha+1}{2}},\qquad q_{ij} = \frac{k_{ij}}{\sum_{j'} k_{ij'}},

        \qquad p_{ij} = \frac{q_{ij}^2 / f_j}{\sum_{j'} q_{ij'}^2 / f_{j'}},\quad f_j = \sum_i q_{ij},

        \ell_i = \mathrm{KL}(P_i \,\|\, Q_i) = \sum_j p_{ij} \log\frac{p_{ij}}{q_{ij}}.

    Squaring sharpens confident assignments; dividing by the soft cluster size :math:`f_j` keeps large clusters
    from absorbing the others. ``forward(embeddings[B, D], target=None)``: ``target`` holds fixed rows of P (in
    the paper P is recomputed on the whole data set every T iterations, DEC-keras T = 140, and held fixed in
    between); ``None`` computes P from the batch's q, detached (the gradient flows through q only, as in the
    paper). The gradient reaches both the embeddings and the centres.

    Defaults: ``alpha = 1`` (the paper: "we let α = 1 for all experiments"). The centres are drawn from a
    standard normal here; the paper initialises them with k-means on the pretrained autoencoder's embeddings:
    call :meth:`init_centres` (``experiments.deep_clustering`` does). Reference values (losses-wave2.md §6.3,
    derived from the formulas above): Z = [(0,0),(1,0),(4,4),(5,5)], μ = [(0.5,0),(4.5,4.5)] give a KL sum of
    0.123174. Formulas from memory of the paper, checked numerically there; DEC's official Caffe code was not read.

    Reduction: ``"none"`` gives the KL of every sample ``[B]``; ``"sum"`` their sum; ``"mean"`` the mean over the
    batch (DEC-keras's ``kld`` loss, the batch mean of the per-sample KL).
    """

    def __init__(self, num_clusters: int, embedding_dim: int, alpha: float = 1.0, reduction: str = "mean"):
        super().__init__()
        self.num_clusters = POSITIVE_INT.check(num_clusters, "num_clusters")
        self.embedding_dim = POSITIVE_INT.check(embedding_dim, "embedding_dim")
        self.alpha = POSITIVE.check(alpha, "alpha")
        self.reduction = check_reduction(reduction)
        self.weight = nn.Parameter(torch.randn(self.num_clusters, self.embedding_dim))

    @torch.no_grad()
    def init_centres(self, centres: Tensor) -> None:
        """Set the centres (e.g. k-means centroids of the pretrained embeddings, as the paper does)."""
        check_float_tensor(centres, "centres", 2, f"[{self.num_clusters}, {self.embedding_dim}]")
        if centres.shape != self.weight.shape:
            raise ValueError(f"centres must have shape {list(self.weight.shape)}, got {tuple(centres.shape)}")
        self.weight.copy_(centres)

    def log_soft_assignment(self, embeddings: Tensor) -> Tensor:
        """:math:`\\log q` ``[B, K]``: the Student-t soft assignment, in the work dtype (float32 at least)."""
        _check_embeddings(embeddings, self.weight)
        dtype = _work_dtype(embeddings)
        z, mu = embeddings.to(dtype), self.weight.to(dtype)
        # written out rather than cdist: its gradient is finite where an embedding sits on a centre
        sq = (z[:, None, :] - mu[None, :, :]).square().sum(-1)
        return torch.log_softmax(-(self.alpha + 1) / 2 * torch.log1p(sq / self.alpha), dim=1)

    def soft_assignment(self, embeddings: Tensor) -> Tensor:
        """The soft assignment q ``[B, K]`` of every embedding to the centres."""
        return self.log_soft_assignment(embeddings).exp().to(embeddings.dtype)

    def target_distribution(self, embeddings: Tensor) -> Tensor:
        """DEC's target P ``[B, K]`` for these embeddings (detached): compute it on the whole data set and pass
        its rows as ``target`` to hold it fixed between updates."""
        return sharpened_target(self.log_soft_assignment(embeddings)).to(embeddings.dtype)

    def forward(self, embeddings: Tensor, target: Tensor | None = None) -> Tensor:
        log_q = self.log_soft_assignment(embeddings)
        if target is None:
            p = sharpened_target(log_q)
        else:
            p = _check_target(target, *log_q.shape).detach().to(log_q.dtype)
        kl = (torch.xlogy(p, p) - p * log_q).sum(1)
        return reduce(kl, self.reduction).to(embeddings.dtype)


@register("depict", family="clustering", kind="clustering",
          paper=Paper("Deep Clustering via Joint Convolutional Autoencoder Embedding and Relative Entropy "
                      "Minimization", 2017, "Dizaji, Herandi, Deng, Cai, Huang"),
          formula=r"p_i=\operatorname{softmax}(Wz_i+b),\ q_{ik}\propto p_{ik}^2/f_k\ "
                  r"(\text{paper: } p_{ik}/\sqrt{f_k}),\ f_k=\textstyle\sum_i p_{ik},\ "
                  r"\ell_i=-\sum_k q_{ik}\log p_{ik}",
          params={"target_form": Param("dec", doc="the auxiliary target: 'dec' (p²/f, the official code) or "
                                                   "'depict_paper' (p/√f, the paper's cluster-frequency prior)")},
          reduces_over="sample")
class DEPICT(nn.Module):
    r"""DEPICT's clustering loss (Dizaji et al., ICCV 2017): cross-entropy from an auxiliary target Q to the
    softmax cluster probabilities P of a linear head on the embedding (``.weight[K, D]``, ``.bias[K]``).

    .. math::
        p_{ik} = \operatorname{softmax}_k(w_k^\top z_i + b_k),\qquad f_k = \sum_i p_{ik},

        q_{ik} = \frac{p_{ik}^2 / f_k}{\sum_{k'} p_{ik'}^2 / f_{k'}}\ \ (\texttt{target\_form="dec"}),\qquad
        q_{ik} = \frac{p_{ik} / \sqrt{f_k}}{\sum_{k'} p_{ik'} / \sqrt{f_{k'}}}\ \ (\texttt{"depict\_paper"}),

        \ell_i = -\sum_k q_{ik} \log p_{ik} \;=\; \mathrm{KL}(Q_i\|P_i) + H(Q_i).

    The paper derives Q from KL(Q‖P) plus a uniform prior on the cluster frequencies, which gives the
    :math:`1/\sqrt{f}` form; the official code (herandy/DEPICT@e75840d ``functions.py`` ``train_depict``) computes
    DEC's :math:`p^2/f` and leaves the paper's form commented out. Following DESIGN.md's faithfulness rule the
    default is the code's ("dec"), the paper's behind ``target_form="depict_paper"`` (reference losses-wave2.md
    §6.3). Q is detached (held fixed, recomputed once per epoch on the whole data set in the code: pass it as
    ``target``; ``None`` computes it from the batch). The code also adds a reconstruction loss of a denoising
    autoencoder (weight 1) and computes P on the noisy path: that belongs to the model and the training recipe
    (``experiments.deep_clustering``), not to this loss. The head is initialised from a standard normal here
    (the code: normalised k-means centroids, b = 0; :meth:`init_centres`).

    Reference (§6.3, derived): P = [[.7,.3],[.6,.4],[.55,.45],[.2,.8]] gives a mean CE to the code's target of
    0.528852.

    Reduction: ``"none"`` gives the cross-entropy of every sample ``[B]``; ``"sum"`` their sum; ``"mean"`` the mean
    over the batch (the code's ``categorical_crossentropy(...).mean()``).
    """

    def __init__(self, num_clusters: int, embedding_dim: int, target_form: str = "dec", reduction: str = "mean"):
        super().__init__()
        self.num_clusters = POSITIVE_INT.check(num_clusters, "num_clusters")
        self.embedding_dim = POSITIVE_INT.check(embedding_dim, "embedding_dim")
        self.target_form = check_choice(target_form, "target_form", ("dec", "depict_paper"))
        self.reduction = check_reduction(reduction)
        self.weight = nn.Parameter(torch.randn(self.num_clusters, self.embedding_dim))
        self.bias = nn.Parameter(torch.zeros(self.num_clusters))

    @torch.no_grad()
    def init_centres(self, centres: Tensor) -> None:
        """Set the head from centroids, normalised to unit rows as the code does; the bias back to 0."""
        check_float_tensor(centres, "centres", 2, f"[{self.num_clusters}, {self.embedding_dim}]")
        if centres.shape != self.weight.shape:
            raise ValueError(f"centres must have shape {list(self.weight.shape)}, got {tuple(centres.shape)}")
        self.weight.copy_(F.normalize(centres, dim=1))
        self.bias.zero_()

    def log_soft_assignment(self, embeddings: Tensor) -> Tensor:
        """:math:`\\log p` ``[B, K]``: the head's log cluster probabilities, in the work dtype."""
        _check_embeddings(embeddings, self.weight)
        dtype = _work_dtype(embeddings)
        return torch.log_softmax(F.linear(embeddings.to(dtype), self.weight.to(dtype), self.bias.to(dtype)), dim=1)

    def soft_assignment(self, embeddings: Tensor) -> Tensor:
        """The cluster probabilities ``[B, K]``."""
        return self.log_soft_assignment(embeddings).exp().to(embeddings.dtype)

    def _target(self, log_p: Tensor) -> Tensor:
        return sharpened_target(log_p) if self.target_form == "dec" else depict_paper_target(log_p)

    def target_distribution(self, embeddings: Tensor) -> Tensor:
        """The auxiliary target Q ``[B, K]`` of ``target_form`` for these embeddings (detached)."""
        return self._target(self.log_soft_assignment(embeddings)).to(embeddings.dtype)

    def forward(self, embeddings: Tensor, target: Tensor | None = None) -> Tensor:
        log_p = self.log_soft_assignment(embeddings)
        q = self._target(log_p) if target is None else _check_target(target, *log_p.shape).detach().to(log_p.dtype)
        return reduce(-(q * log_p).sum(1), self.reduction).to(embeddings.dtype)
