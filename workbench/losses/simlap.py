"""SimLAP (v1 of the paper: Hydra), "Rethinking Positive Pairs in Contrastive Learning" (Wu, Atito, Feng, Mo,
Kittler, Awais; arXiv 2410.18200): any two classes may form a positive pair, provided a learned filter keeps only
the features the two share. A supervised contrastive loss whose positives are the samples of a *partner* class.

Written from the official training file (the ``SimLAP`` class with ``BasicGate``, ``apply_gate`` and
``multipos_ce_loss``, vitookit/timm-based; ../shared/reference/losses-wave2.md §1.8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import POSITIVE, check_choice, check_flag, check_float_tensor, check_int, check_labels, check_mask
from . import distributed
from .margin import check_embedding_width
from .registry import Paper, Param, register
from .similarity import masked_logsumexp, norm_eps, normalize

PAIRINGS = ("arbitrary", "identical", "distinct")


def multipositive_ce(logits: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
    r"""The official ``multipos_ce_loss``: one softmax per positive pair, with only the negatives beside it,

    .. math::
        L = \frac{1}{\sum P}\sum_{b,n} P_{bn}\Big[\log\big(e^{l_{bn}} + \textstyle\sum_m N_{bm} e^{l_{bm}}\big)
            - l_{bn}\Big]

    ``logits[B, N]``, boolean ``positives`` and ``negatives`` of the same shape. The official code exponentiates
    the row-centred logits; a log-sum-exp gives the same value without overflow. No positive pair at all: 0 (with
    a zero gradient), where the official division would give NaN."""
    check_float_tensor(logits, "logits", 2, "[B, N]", nonempty=True)
    for mask, name in ((positives, "positives"), (negatives, "negatives")):
        check_mask(mask, name, logits.shape, f"{list(logits.shape)} (logits' shape)")
    negative_lse = masked_logsumexp(logits, negatives)  # [B]: -inf for a row without negatives
    per_pair = torch.logaddexp(logits, negative_lse[:, None]) - logits  # log(e^l + Σ_neg e^l') - l, >= 0
    return torch.where(positives, per_pair, 0.0).sum() / positives.sum().clamp(min=1)


def gated_cosine(embeddings: Tensor, gate: Tensor) -> Tensor:
    r"""``C[b, n] = cos(z_b ⊙ g_b, z_n ⊙ g_b)``: anchor b's filter ``g_b`` applied to the anchor and to every key
    (the official ``apply_gate`` + ``contrast``). Computed as ``Σ_k z_bk z_nk g_bk²`` over the two norms: [B, B]
    memory (O(B²·D) time) instead of the official ``[B, B, D]`` gated keys. The rows are normalised before the
    filter (the cosine does not depend on their scale), so huge embeddings do not overflow; a zero vector has
    cosine 0."""
    unit = normalize(embeddings, dim=1)  # the cosine is scale-free per row: no overflow for huge embeddings
    g2 = gate * gate
    eps2 = norm_eps(unit.dtype) ** 2
    dot = (unit * g2) @ unit.T
    anchor_sq = (unit * unit * g2).sum(1, keepdim=True)  # ‖z_b ⊙ g_b‖²
    key_sq = g2 @ (unit * unit).T  # ‖z_n ⊙ g_b‖², [B, N]
    # squared norms floored before the root (as F.normalize floors the norm): a finite gradient at zero vectors
    return dot / (anchor_sq.clamp(min=eps2).sqrt() * key_sq.clamp(min=eps2).sqrt())


class LabelGate(nn.Module):
    """The official ``BasicGate`` (fuse=True): a label embedding e(y) per class, the mean of the anchor's and the
    partner's, then ReLU, BatchNorm, Linear(label_dim, hidden_dim), ReLU, BatchNorm, Linear(hidden_dim, D), a
    sigmoid: one filter ``g ∈ (0, 1)^D`` per anchor."""

    def __init__(self, num_classes: int, embedding_dim: int, label_dim: int = 512, hidden_dim: int = 1024):
        super().__init__()
        self.label_embedding = nn.Embedding(num_classes, label_dim)
        self.mlp = nn.Sequential(nn.ReLU(), nn.BatchNorm1d(label_dim), nn.Linear(label_dim, hidden_dim),
                                 nn.ReLU(), nn.BatchNorm1d(hidden_dim), nn.Linear(hidden_dim, embedding_dim))

    def forward(self, labels: Tensor, partner_labels: Tensor) -> Tensor:
        fused = (self.label_embedding(labels) + self.label_embedding(partner_labels)) / 2
        return torch.sigmoid(self.mlp(fused))


@register(
    "simlap", family="contrastive", kind="margin", reduces_over="batch",
    paper=Paper("Rethinking Positive Pairs in Contrastive Learning", 2024, "Wu, Atito, Feng, Mo, Kittler, Awais"),
    formula=r"L = \frac{1}{\sum P}\sum_{b,n} P_{bn}\Big[\log\big(e^{l_{bn}} + \sum_m N_{bm}e^{l_{bm}}\big) - l_{bn}"
            r"\Big],\; l_{bn} = \tfrac{1}{\tau}\cos(z_b\odot g_b, z_n\odot g_b),\; g_b = g(y_b, y'_b)",
    params={"temperature": Param(0.1, 0.05, 1.0, "τ of the gated cosine logits", log=True, valid=POSITIVE),
            "pairing": Param("arbitrary", doc=f"the partner class of each anchor, one of {PAIRINGS}: a random "
                                              f"batch label, its own, or a random other class")},
)
class SimLAP(nn.Module):
    r"""SimLAP / Hydra (Wu et al., arXiv 2410.18200), as the official code computes it.

    Each anchor b of class :math:`y_b` gets a partner class :math:`y'_b` and a filter
    :math:`g_b = \sigma(\mathrm{MLP}(\tfrac12(e(y_b) + e(y'_b)))) \in (0, 1)^D` (:class:`LabelGate`). The logits
    are the cosines of the filtered embeddings, :math:`l_{bn} = \cos(z_b \odot g_b, z_n \odot g_b)/\tau`
    (:func:`gated_cosine`), over the batch itself (no second view: the positives come from the labels). The
    positives of b are the samples of the partner class, :math:`P_{bn} = [y_n = y'_b]` (b itself when
    :math:`y'_b = y_b`); its negatives every sample of neither class, :math:`N_{bn} = [y_n \ne y_b \wedge
    y_n \ne y'_b]`. The loss is :func:`multipositive_ce`: one softmax per positive pair against the negatives
    only, averaged over all positive pairs of the batch.

    Shapes: ``embeddings[B, D]``, ``labels[B]`` (``partner_labels[B]`` optional: drawn by ``pairing`` when
    absent). One number per batch (a mean over positive pairs), so no ``reduction``.

    Defaults, all from the official code: τ = 0.1; ``pairing="arbitrary"`` (the partner of anchor b is the
    label of a random permutation of the batch; ``"identical"`` is supervised contrastive with the anchor among
    its positives, ``"distinct"`` a random other class, which may be absent from the batch); label embedding 512,
    gate hidden layer 1024 (``label_dim``, ``hidden_dim``). ``classifier=True`` adds, as the official
    ``criterion``, the cross-entropy of a linear classifier on the *detached* embeddings (its weight is
    ``.weight[C, D]``, ``.logits(x)`` its logits, what a trained model predicts with): it does not shape the
    embedding. ``filter=False`` is the official ``OpenGate`` (g = 1 for every anchor: plain cosines), the ablation
    that shows what the filter is for. Departure: the official classifier reads the backbone's output before the
    projector; here it reads the embedding the loss sees.

    The pair-weight lens: the logits are cosines *through each anchor's filter*, not one similarity matrix of the
    embeddings, so ``analysis.pair_weights`` (which builds that matrix) does not apply; :func:`multipositive_ce` is
    the loss as a function of the logit matrix, and autograd through it gives the weight of every pair.

    ``gather=True``: under torch.distributed, every rank's embeddings and labels (and given partners) are gathered
    and every rank computes the loss of the whole batch (the whole-batch semantics of
    :mod:`workbench.losses.distributed`); partners drawn after the gather, so a ``generator`` seeded alike on every
    rank draws the same ones, as one process would. The official code gathers the keys
    (``concat_all_gather_grad``) but not their labels, so its masks fit only one GPU's batch.

    Tips: put ``loss.parameters()`` in the optimiser (the gate and the classifier learn); the gate's BatchNorm
    needs two or more anchors and, like any module, ``loss.eval()`` for evaluation. ``generator`` makes the
    partner draws reproducible.

    Example::

        loss = SimLAP(num_classes=10, embedding_dim=32, generator=torch.Generator().manual_seed(0))
        value = loss(model(x), y)       # x[B, ...], y[B]
        predicted = loss.logits(model(x)).argmax(1)
    """

    def __init__(self, num_classes: int, embedding_dim: int, temperature: float = 0.1, pairing: str = "arbitrary",
                 label_dim: int = 512, hidden_dim: int = 1024, classifier: bool = True, filter: bool = True,
                 generator: torch.Generator | None = None, gather: bool = False):
        super().__init__()
        self.num_classes = check_int(num_classes, "num_classes", 2)
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", 1)
        self.temperature = POSITIVE.check(temperature, "temperature")
        self.pairing = check_choice(pairing, "pairing", PAIRINGS)
        self.classifier = check_flag(classifier, "classifier")
        self.filter = check_flag(filter, "filter")
        self.gate = LabelGate(self.num_classes, self.embedding_dim, check_int(label_dim, "label_dim", 1),
                              check_int(hidden_dim, "hidden_dim", 1))
        # the online linear classifier of the official criterion (nn.Linear's initialisation)
        head = nn.Linear(self.embedding_dim, self.num_classes)
        self.weight, self.bias = head.weight, head.bias
        self.generator = generator
        self.gather = distributed.check_gather(gather)

    def logits(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        """The linear classifier's logits ``[B, C]`` (no margin: ``labels`` changes nothing)."""
        check_embedding_width(embeddings, self.embedding_dim)
        return F.linear(embeddings, self.weight.to(embeddings.dtype), self.bias.to(embeddings.dtype))

    def partners(self, labels: Tensor) -> Tensor:
        """Each anchor's partner class, drawn as ``pairing`` says (on ``generator``, CPU draws)."""
        if self.pairing == "identical":
            return labels
        g = self.generator
        device = g.device if g is not None else "cpu"  # drawn where the generator lives (CPU without one)
        if self.pairing == "arbitrary":
            return labels[torch.randperm(len(labels), generator=g, device=device).to(labels.device)]
        shift = torch.randint(1, self.num_classes, (len(labels),), generator=g, device=device).to(labels.device)
        return (labels + shift) % self.num_classes

    def forward(self, embeddings: Tensor, labels: Tensor, partner_labels: Tensor | None = None) -> Tensor:
        check_embedding_width(embeddings, self.embedding_dim)
        if labels is None:
            raise ValueError("labels must be a tensor of shape [B]; SimLAP's positives come from the labels")
        labels = check_labels(labels, "labels", embeddings.shape[0], self.num_classes).long()
        if partner_labels is not None:
            partner_labels = check_labels(partner_labels, "partner_labels", len(labels), self.num_classes).long()
        # the whole batch on every rank (a no-op in one process), partners drawn after it
        embeddings, labels, partner_labels = distributed.whole_batch(self.gather, embeddings, labels, partner_labels)
        if partner_labels is None:
            partner_labels = self.partners(labels)
        if self.filter and self.training and len(labels) < 2:
            raise ValueError("embeddings must hold at least 2 rows in training mode (the gate's BatchNorm), got 1")
        # filter=False: the official OpenGate, every feature kept (g = 1): plain cosines, arbitrary positives
        gate = (self.gate(labels, partner_labels) if self.filter else torch.ones_like(embeddings)).to(embeddings.dtype)
        logits = gated_cosine(embeddings, gate) / self.temperature
        positives = labels[None, :] == partner_labels[:, None]  # [anchor, key]: the key is of the partner class
        negatives = ~(positives | (labels[None, :] == labels[:, None]))
        value = multipositive_ce(logits, positives, negatives)
        if self.classifier:
            value = value + F.cross_entropy(self.logits(embeddings.detach()), labels)
        return value

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embedding_dim={self.embedding_dim}, "
                f"temperature={self.temperature}, pairing={self.pairing!r}, classifier={self.classifier}, "
                f"filter={self.filter}")
