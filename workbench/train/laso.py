"""Training LaSO's label-set operation networks (:class:`workbench.models.LaSO`) on the features of a frozen
multi-label model, with the official objective.

Source: leokarlin/LaSO@eea81de ``scripts_coco/train_setops_stripped.py`` (``create_setops_trainer._update`` and the
``Main`` defaults) and ``oneshot/alfassy/datasets.py`` (``CocoDatasetPairs.calc_index``: the pairs share a label).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import NONNEGATIVE, check_choice, check_flag, check_int, check_number
from .adam import Adam

WEIGHTS = ("class_fake", "recon", "class_S", "class_U", "class_I")


def label_set_targets(target_a: Tensor, target_b: Tensor) -> dict[str, Tensor]:
    """The labels of the set operations of two multi-hot targets [B, C] (the official code's ``target_a_I_b``,
    ...): ``a_I_b`` = a ∩ b, ``a_U_b`` = a ∪ b, ``a_S_b`` = a \\ b, ``b_S_a`` = b \\ a, as floats."""
    if target_a.shape != target_b.shape or target_a.dim() != 2:
        raise ValueError(f"target_a and target_b must be multi-hot [B, C] of one shape, got {tuple(target_a.shape)} "
                         f"and {tuple(target_b.shape)}")
    a, b = target_a.bool(), target_b.bool()
    both = a & b
    return {"a_I_b": both.float(), "a_U_b": (a | b).float(), "a_S_b": (a & ~both).float(),
            "b_S_a": (b & ~both).float()}


class LaSOObjective(nn.Module):
    r"""The official LaSO training loss (``create_setops_trainer._update``), with :math:`\mathcal C` the multi-label
    soft-margin loss (torch ``MultiLabelSoftMarginLoss``: the mean over labels and samples of the per-label BCE, i.e.
    ``multilabel_bce`` / C) on the frozen classifier's logits and :math:`\mathcal R` the MSE between feature vectors:

    .. math::
        L = L_{real} + w_{fake} L_{fake} + w_{rec}(\mathcal R(a, \hat a) + \mathcal R(b, \hat b))
            + w_S L_S + w_{rec} R_S + w_U L_U + w_{rec} R_U + w_I L_I + w_{rec} R_I

    - :math:`L_{real} = \mathcal C(f(a), y_a) + \mathcal C(f(b), y_b)` (constant when the classifier and the features
      are frozen, as in the official runs), :math:`L_{fake}` the same on the reconstructions
      :math:`\hat a = (a \setminus (b \cap a)) \cup (a \cap b)` (the "anti mode collapse" term);
    - :math:`L_S = \mathcal C(f(a\setminus b), y_a\setminus y_b) + \mathcal C(f(b\setminus a), y_b\setminus y_a)`,
      plus (tautologies) the same targets for :math:`(a\setminus b)\setminus b`, :math:`a\setminus(a\cap b)`,
      :math:`a\setminus(b\cap a)` and mirrors; :math:`L_U`, :math:`L_I` likewise for :math:`a\cup b`, :math:`b\cup a`,
      :math:`(a\cup b)\cup b`, ... and :math:`a\cap b`, ...;
    - :math:`R_S` the MSE of :math:`a\setminus b` to each of its tautologies (and mirrors), :math:`R_U =
      \mathcal R(a\cup b, b\cup a)`, :math:`R_I = \mathcal R(a\cap b, b\cap a)` (symmetry).

    Defaults (``Main``): every weight 1 (``recon_loss_weight``, ``class_fake_loss_weight``,
    ``class_S/U/I_loss_weight``), every toggle on (``sym_class_toggle``, ``sym_recon_toggle``, ``mc_toggle``,
    ``tautology_recon_toggle``, ``tautology_class_toggle``), ``recon_loss="mse"`` (or ``"l1"``), ``focal_loss=False``
    (the soft-margin loss). Not a registered loss: it needs the operation networks' 18 outputs and the classifier,
    not one kind's inputs.

    ``forward(outputs, classify, embed_a, embed_b, target_a, target_b)`` with ``outputs`` = ``LaSO(embed_a,
    embed_b)``; returns the scalar loss and stores its parts (floats) in ``self.parts``.
    """

    def __init__(self, class_fake: float = 1.0, recon: float = 1.0, class_S: float = 1.0, class_U: float = 1.0,
                 class_I: float = 1.0, sym_class: bool = True, sym_recon: bool = True, mc: bool = True,
                 tautology_recon: bool = True, tautology_class: bool = True, recon_loss: str = "mse"):
        super().__init__()
        self.weights = {k: NONNEGATIVE.check(v, k) for k, v in zip(WEIGHTS, (class_fake, recon, class_S, class_U,
                                                                             class_I))}
        self.sym_class, self.sym_recon, self.mc = (check_flag(v, n) for v, n in
                                                   ((sym_class, "sym_class"), (sym_recon, "sym_recon"), (mc, "mc")))
        self.tautology_recon = check_flag(tautology_recon, "tautology_recon")
        self.tautology_class = check_flag(tautology_class, "tautology_class")
        self.recon_loss = check_choice(recon_loss, "recon_loss", ("mse", "l1"))
        self.parts: dict[str, float] = {}

    def forward(self, outputs: dict[str, Tensor], classify, embed_a: Tensor, embed_b: Tensor, target_a: Tensor,
                target_b: Tensor) -> Tensor:
        c = F.multilabel_soft_margin_loss
        r = F.mse_loss if self.recon_loss == "mse" else F.l1_loss
        o = {k: classify(v) for k, v in outputs.items()}  # the classifier on every synthesised feature vector
        t = label_set_targets(target_a, target_b)
        ya, yb = target_a.float(), target_b.float()
        real = c(classify(embed_a), ya) + c(classify(embed_b), yb)
        fake = c(o["fake_a"], ya) + c(o["fake_b"], yb)
        recon = r(embed_a, outputs["fake_a"]) + r(embed_b, outputs["fake_b"]) if self.mc else None
        class_s = c(o["a_S_b"], t["a_S_b"]) + c(o["b_S_a"], t["b_S_a"])
        class_u = c(o["a_U_b"], t["a_U_b"])
        class_i = c(o["a_I_b"], t["a_I_b"])
        if self.tautology_class:
            class_s = class_s + c(o["a_S_b_b"], t["a_S_b"]) + c(o["b_S_a_a"], t["b_S_a"])
            class_s = class_s + (c(o["a_S_a_I_b"], t["a_S_b"]) + c(o["b_S_a_I_b"], t["b_S_a"])
                                 + c(o["b_S_b_I_a"], t["b_S_a"]) + c(o["a_S_b_I_a"], t["a_S_b"]))
            class_u = class_u + c(o["a_U_b_b"], t["a_U_b"]) + c(o["b_U_a_a"], t["a_U_b"])
            class_i = class_i + c(o["a_I_b_b"], t["a_I_b"]) + c(o["b_I_a_a"], t["a_I_b"])
        recon_s = None
        if self.tautology_recon:
            e = outputs
            recon_s = (r(e["a_S_b"], e["a_S_b_b"]) + r(e["a_S_b"], e["a_S_a_I_b"]) + r(e["a_S_b"], e["a_S_b_I_a"])
                       + r(e["b_S_a"], e["b_S_a_a"]) + r(e["b_S_a"], e["b_S_a_I_b"]) + r(e["b_S_a"], e["b_S_b_I_a"]))
        if self.sym_class:
            class_u = class_u + c(o["b_U_a"], t["a_U_b"])
            class_i = class_i + c(o["b_I_a"], t["a_I_b"])
        recon_u = r(outputs["a_U_b"], outputs["b_U_a"]) if self.sym_recon else None
        recon_i = r(outputs["a_I_b"], outputs["b_I_a"]) if self.sym_recon else None
        w = self.weights
        # the official sum (a term whose weight is 0, or that is switched off, is left out; the code gates R_S on
        # R_I being present — ``(not loss_recon_I)``, a slip for R_S — which only matters with sym_recon off)
        loss = real + w["class_fake"] * fake + w["class_S"] * class_s + w["class_U"] * class_u + w["class_I"] * class_i
        gate_s = recon_i is not None
        for term, on in ((recon, True), (recon_s, gate_s), (recon_u, True), (recon_i, True)):
            if term is not None and on:
                loss = loss + w["recon"] * term
        zero = real.new_zeros(())
        self.parts = {k: float((v if v is not None else zero).detach()) for k, v in
                      (("real class", real), ("fake class", fake), ("fake MSE", recon), ("S MSE", recon_s),
                       ("U MSE", recon_u), ("I MSE", recon_i), ("S class", class_s), ("U class", class_u),
                       ("I class", class_i))}
        return loss


def label_sharing_pairs(targets: Tensor, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` index pairs (i, j) of rows of the multi-hot ``targets`` [N, C] that share at least one label, as the
    official ``CocoDatasetPairs`` draws them: i first (uniformly here; the official code cycles over the least
    sampled label), then j uniformly among the rows holding one of i's labels (its least sampled one there; a
    uniformly drawn one here). The intersection is then never empty."""
    n = check_int(n, "n", low=1)
    y = targets.bool()
    if y.dim() != 2 or not y.any(1).all():
        raise ValueError("targets must be multi-hot [N, C] with at least one label per row")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    first = torch.randint(len(y), (n,), generator=g)
    label = torch.multinomial(y[first].double(), 1, generator=g).squeeze(1)  # one of i's labels, uniformly
    second = torch.multinomial(y[:, label].T.double(), 1, generator=g).squeeze(1)  # a row holding it, uniformly
    return first, second


def fit_laso(laso: nn.Module, classify, features: Tensor, targets: Tensor, *, pairs: int = 2000, epochs: int = 10,
             lr: float = 1e-3, batch_size: int = 64, objective: LaSOObjective | None = None,
             seed: int = 0) -> list[float]:
    """Train ``laso`` on label-sharing pairs of frozen ``features`` [N, D] (with multi-hot ``targets``) against the
    frozen ``classify`` (features -> logits), as the official runs do with ``--train_base=False`` and
    ``train_classifier=False``. Departures (a toy budget): Adam at ``lr`` instead of SGD (momentum 0.9, lr cycled
    1e-4 → 2e-3, weight decay 1e-4, batch 16, 50 epochs); the pairs are drawn once. Returns the mean loss per epoch."""
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=2)  # BatchNorm needs two rows
    lr = check_number(lr, "lr", low=0.0, low_open=True)
    pairs, seed = check_int(pairs, "pairs", low=1), check_int(seed, "seed", low=0)
    objective = objective or LaSOObjective()
    g = torch.Generator().manual_seed(seed)
    i, j = label_sharing_pairs(targets, pairs, g)
    features = features.detach()
    opt = Adam(laso.parameters(), lr=lr)
    frozen = [p for p in getattr(classify, "parameters", lambda: [])() if p.requires_grad]
    for p in frozen:  # gradients flow through the classifier to the networks, but it is not trained
        p.requires_grad_(False)
    history = []
    laso.train()
    try:
        history = _epochs(laso, classify, objective, opt, features, targets, i, j, epochs, batch_size, g)
    finally:
        for p in frozen:
            p.requires_grad_(True)
        laso.eval()
    return history


def _epochs(laso, classify, objective, opt, features, targets, i, j, epochs, batch_size, g) -> list[float]:
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(i), generator=g)
        total, count = 0.0, 0
        for start in range(0, len(order) - 1, batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:
                continue
            a, b = features[i[idx]], features[j[idx]]
            loss = objective(laso(a, b), classify, a, b, targets[i[idx]], targets[j[idx]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        history.append(total / count)
    return history

