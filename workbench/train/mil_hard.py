"""Training for the hard-instance MIL methods: MHIM-MIL (``fit_mhim``), INS (``fit_ins``) and SC-MIL
(``fit_scmil``). Each returns a :class:`History` like :func:`workbench.train.fit_bags`."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .._checks import check_flag, check_int, check_number
from ..data.views import DigitAugment
from ..losses import get as get_loss
from ..losses import supcon_from_similarity
from ..losses.mil import ins_confidence_update, ins_contrastive, ins_partial_loss
from ..models.mil_hard import INSModel, ema_update, hard_instance_mask
from ..models.mil_merge import attention_to_score
from .history import History
from .loop import _check_schedule, _start


def _bag_loss(logits: Tensor, y: Tensor) -> Tensor:
    """The bag loss of :func:`workbench.train.fit_bags`: BCE on ``[B]`` logits, cross-entropy on ``[B, C]``."""
    if logits.dim() == 1:
        return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))
    return F.cross_entropy(logits, y)


def _loop(model, data, epochs, batch_size, n, generator, optimizer, step, after_step, metrics, desc, verbose,
          device, epoch_start=None) -> History:
    """Epochs of shuffled steps: ``step(idx, epoch, t) -> loss``, ``after_step(t)`` after each optimiser
    step (EMA updates), ``epoch_start(epoch)``; ``metrics(model, data)`` after every epoch."""
    rows, t = [], 0
    total = epochs * math.ceil(n / batch_size)
    for epoch in tqdm(range(1, epochs + 1), desc=desc, disable=not verbose):
        if epoch_start is not None:
            epoch_start(epoch)
        model.train()
        order = torch.randperm(n, generator=generator)
        values, sizes = [], []
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            value = step(idx, epoch, t / max(total - 1, 1))
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            after_step(t)
            t += 1
            values.append(float(value.detach()) * len(idx))
            sizes.append(len(idx))
        row = {"epoch": epoch, "loss": sum(values) / sum(sizes)}
        if metrics is not None:
            row.update(metrics(model, data))
        rows.append(row)
    return History(pd.DataFrame(rows).set_index("epoch"))


def _sequential_ema(prototypes: Tensor, features: Tensor, labels: Tensor, m: float) -> Tensor:
    r"""The official loop ``for f, l in zip(q, labels): p[l] = m p[l] + (1 - m) f`` in closed form: the
    :math:`n_c` rows of class c, in order, give :math:`p_c \leftarrow m^{n_c} p_c + \sum_j (1-m)\,m^{n_c-1-j} f_j`."""
    out = prototypes.clone()
    for c in range(prototypes.shape[0]):
        rows = features[labels == c]
        n = rows.shape[0]
        if n:
            powers = m ** torch.arange(n - 1, -1, -1, dtype=features.dtype, device=features.device)
            out[c] = m ** n * prototypes[c] + ((1 - m) * powers[:, None] * rows).sum(0)
    return out


def _enqueue(keys: Tensor, key_labels: Tensor, new_keys: Tensor, new_labels: Tensor, ptr: int) -> int:
    """Write ``new_keys`` (and their labels) into the ring buffer ``keys`` from slot ``ptr`` on, as if one at a time
    (a batch longer than the queue leaves its last ``len(keys)``); returns the next free slot."""
    size, b = len(keys), len(new_keys)
    last = min(b, size)
    slots = (ptr + b - last + torch.arange(last, device=keys.device)) % size
    keys[slots], key_labels[slots] = new_keys[-last:], new_labels[-last:]
    return (ptr + b) % size


def fit_mhim(student: nn.Module, data, *, teacher: nn.Module | None = None, consistency: nn.Module | None = None,
             epochs: int = 10, lr: float = 1e-3, batch_size: int = 16, seed: int = 0, weight_decay: float = 0.0,
             high: float = 0.1, high_random: float = 0.5, random: float = 0.0, low: float = 0.0,
             high_schedule: bool = False, momentum: float = 0.99, attn2score: bool = False,
             metrics: Callable | None = None, device: str | torch.device = "cpu", verbose: bool = True) -> History:
    r"""MHIM-MIL (Tang et al., ICCV 2023; DearCaat/MHIM-MIL): train an attention-MIL ``student`` on bags whose
    most-attended instances an EMA ``teacher`` masks.

    Every step: the teacher (eval mode, no gradient) sees the whole bags and ranks their instances by its
    attention; :func:`workbench.models.hard_instance_mask` hides the top ones (``high``, ``high_random``) and
    optionally random (``random``) and lowest (``low``) ones; the student sees the rest and is trained with

    .. math:: L = \mathrm{BCE}(\hat y_s, y) + \alpha\,\ell_{\mathrm{cons}}(z_s, z_t)

    where :math:`z` are the bag features and :math:`\ell_{\mathrm{cons}}` is ``consistency`` (default
    ``losses.get("mhim_consistency")``, :math:`\alpha` its ``weight``). After each optimiser step the teacher
    follows the student: :math:`\theta_t \leftarrow m\theta_t + (1-m)\theta_s` (``momentum``).
    ``teacher``: the model the teacher starts from (official ``--teacher_init``, a trained baseline); None
    starts it as a copy of the student. ``high_schedule``: cosine decay of ``high`` to 0 over training
    (official ``--mrh_sche``). Evaluation uses the student without masking (official ``forward_test``).

    Digit-scale defaults (our choice, not the paper's): ``high`` 0.1 with ``high_random`` 0.5 masks one of
    the two most-attended of ~10 instances (official CAMELYON16: 0.01 of thousands of patches); momentum
    0.99 instead of 0.9999 because a digit run has a few hundred steps, not tens of thousands.

    MHIM-MIL v2 (IJCV 2025; master@9d0c91a): ``attn2score=True`` ranks the instances by
    :func:`workbench.models.attention_to_score` of the teacher (``--attn2score``: attention times a confident
    class) instead of its raw attention; a :class:`workbench.models.MHIMModel` student merges a random
    ``1 - merge_ratio`` of the instances it still sees into tokens instead of only discarding (``--merge_enable``).
    v2's recipe uses neither random nor low masking (v1 only). Both off (the default) is v1.
    """
    _check_schedule(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, weight_decay=weight_decay)
    check_number(momentum, "momentum", low=0.0, high=1.0)
    for value, name in ((high, "high"), (random, "random"), (low, "low")):  # hard_instance_mask's ranges, now
        check_number(value, name, low=0.0, high=1.0)
    check_number(high_random, "high_random", low=0.0, high=1.0, low_open=True)
    check_flag(high_schedule, "high_schedule")
    check_flag(attn2score, "attn2score")
    check_flag(verbose, "verbose")
    if data.y_train.is_floating_point():
        raise ValueError("fit_mhim trains bag classification: data must have integer bag labels")
    consistency = get_loss("mhim_consistency") if consistency is None else consistency
    generator, _, optimizer = _start(student, None, seed=seed, device=device, lr=lr, weight_decay=weight_decay)
    ema = copy.deepcopy(student if teacher is None else teacher).to(device).requires_grad_(False)
    weight = float(getattr(consistency, "weight", 1.0))

    def step(idx, epoch, progress):
        X, mask, y, _ = data.padded("train", idx)
        X, mask, y = X.to(device), mask.to(device), y.to(device)
        ema.eval()
        with torch.no_grad():
            t = ema(X, mask)
            scores = t.instance_scores
            if attn2score:
                if t.attention is None:
                    raise ValueError("attn2score needs an attention-pooling teacher")
                H = ema.encoder(X.flatten(0, 1)).view(*mask.shape, -1)
                scores = attention_to_score(ema.classifier, H, t.attention, mask)
        h = high * 0.5 * (1 + math.cos(math.pi * progress)) if high_schedule else high
        keep = hard_instance_mask(scores, mask, high=h, high_random=high_random, random=random, low=low,
                                  generator=generator)
        s = student(X, keep, generator=generator)
        value = _bag_loss(s.logits, y)
        if weight > 0:
            value = value + weight * consistency(s.features, t.features)
        return value

    return _loop(student, data, epochs, batch_size, data.n_train, generator, optimizer, step,
                 lambda t: ema_update(ema, student, momentum), metrics, "fit_mhim", verbose, device)


def fit_scmil(model: nn.Module, data, *, epochs: int = 10, lr: float = 1e-3, batch_size: int = 16, seed: int = 0,
              weight_decay: float = 0.0, temperature: float = 0.1, metrics: Callable | None = None,
              device: str | torch.device = "cpu", verbose: bool = True) -> History:
    r"""SC-MIL (Juyal et al., WACV 2024): supervised contrastive learning on the bag representations,
    shifted progressively to the classifier.

    .. math:: L_t = (1 - \beta_t)\,\mathrm{SupCon}(z, y) + \beta_t\,\mathrm{BCE}(\hat y, y),
              \qquad \beta_t = t / (T - 1)

    with :math:`z` the model's bag features (``MILOutput.features``, L2-normalised; SupCon is
    :func:`workbench.losses.supcon_from_similarity` on their cosines, positives = the other bags of the same
    label in the batch, a bag without one adds nothing) and
    :math:`t` the step over :math:`T` steps. The paper's abstract says the training "progressively transitions
    from learning bag-level representations to optimal classifier learning"; no code was found, so the linear
    schedule and the temperature 0.1 are our choice, not the paper's (spec: schedule shape unverified).
    """
    _check_schedule(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, weight_decay=weight_decay)
    check_flag(verbose, "verbose")
    check_number(temperature, "temperature", low=0.0, low_open=True)
    generator, _, optimizer = _start(model, None, seed=seed, device=device, lr=lr, weight_decay=weight_decay)

    def step(idx, epoch, progress):
        X, mask, y, _ = data.padded("train", idx)
        out = model(X.to(device), mask.to(device), generator=generator)
        if out.features is None:
            raise ValueError("fit_scmil needs bag features: use attention, gated, mean or max pooling")
        y = y.to(device)
        z = F.normalize(out.features, dim=-1)
        contrast = supcon_from_similarity(z @ z.T, y, temperature=temperature, base_temperature=temperature)
        return (1 - progress) * contrast + progress * _bag_loss(out.logits, y)

    return _loop(model, data, epochs, batch_size, data.n_train, generator, optimizer, step, lambda t: None,
                 metrics, "fit_scmil", verbose, device)


def fit_ins(model: INSModel, data, *, epochs: int = 10, lr: float = 3e-3, batch_size: int = 64, seed: int = 0,
            weight_decay: float = 0.0, warmup: int = 1, weight: float = 0.5, temperature: float = 0.07,
            queue: int = 512, momentum: float = 0.99, proto_momentum: float = 0.9,
            phi: tuple[float, float] = (0.95, 0.8),
            augment: Callable | None = None, metrics: Callable | None = None, device: str | torch.device = "cpu",
            verbose: bool = True) -> History:
    r"""INS (Qu et al., "a good instance classifier is all you need"; miccaiif/INS ``train_withbag_cam.py``):
    train an instance classifier from bag labels by partial-label learning with prototypes.

    Every instance of a negative bag has the candidate set {0}; of a positive bag {0, 1}. ``batch_size``
    counts *instances* (official 64). Per step, two augmented views (``augment``, default
    ``DigitAugment(shift=1, noise=0.1)``) give the query (``model``) and the key (an EMA copy, ``momentum``,
    official ``moco_m`` 0.999) projections; the pseudo label of an instance is the argmax of
    softmax(classifier) restricted to its candidates; class prototypes follow the queries
    (:math:`p_k \leftarrow m p_k + (1-m) q`, ``proto_momentum`` 0.9, then L2-normalised), and:

    - warm-up (the first ``warmup`` epochs, official ``prot_start`` 1): every instance of a positive bag is
      taken as positive (official ``confidence_pos``) and the contrastive term is MoCo InfoNCE;
    - then :func:`workbench.losses.ins_partial_loss` against the confidence, updated by
      :func:`workbench.losses.ins_confidence_update` from the prototype scores with :math:`\phi` linear from
      ``phi[0]`` to ``phi[1]`` over the epochs (official ``conf_ema_range`` 0.95, 0.8), and
      :func:`workbench.losses.ins_contrastive` with pseudo-label positives over ``cat(q, k, queue)``.

    :math:`L = L_{\mathrm{cls}} + w\,L_{\mathrm{cont}}` (``weight`` 0.5, official ``--loss_weight``), queue of
    ``queue`` keys (official 8192; a digit set has ~2000 instances). Left out: the official warm-up's extra
    bag pass (``train_bag``, a softmax over mean-pooled encoder features), whose role the spec leaves open.
    """
    _check_schedule(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, weight_decay=weight_decay)
    check_int(warmup, "warmup", low=0)
    check_int(queue, "queue", low=1)
    for value, name in ((weight, "weight"), (temperature, "temperature")):
        check_number(value, name, low=0.0, low_open=name == "temperature")
    for value, name in ((momentum, "momentum"), (proto_momentum, "proto_momentum"), *((p, "phi") for p in phi)):
        check_number(value, name, low=0.0, high=1.0)
    check_flag(verbose, "verbose")
    augment = DigitAugment(shift=1, noise=0.1) if augment is None else augment
    X = torch.cat(data.bags_train).to(device)
    bag_y = torch.cat([torch.full((len(b),), int(y)) for b, y in zip(data.bags_train, data.y_train)]).to(device)
    candidates = torch.stack([torch.ones_like(bag_y), bag_y], 1).float()  # {0} or {0, 1}
    confidence = candidates / candidates.sum(1, keepdim=True)
    warm_confidence = torch.stack([1 - bag_y, bag_y], 1).float()  # every positive-bag instance positive
    generator, _, optimizer = _start(model, None, seed=seed, device=device, lr=lr, weight_decay=weight_decay)
    key = copy.deepcopy(model).requires_grad_(False)
    dim = model.projector.out_features
    prototypes = torch.zeros(2, dim, device=device)
    keys = torch.zeros(queue, dim, device=device)
    key_labels = torch.zeros(queue, dtype=torch.long, device=device)
    state = {"filled": 0, "ptr": 0}  # and "phi", set by epoch_start before each epoch's first step

    def epoch_start(epoch):
        state["phi"] = phi[0] + (phi[1] - phi[0]) * (epoch - 1) / epochs  # official set_conf_ema_m

    def step(idx, epoch, progress):
        nonlocal prototypes, confidence
        idx = idx.to(device)
        x = X[idx]
        logits, q = model.instances(augment(x, generator))
        with torch.no_grad():
            _, k = key.instances(augment(x, generator))
            pseudo = (logits.softmax(-1) * candidates[idx]).argmax(-1)
            score_prot = (q @ prototypes.T).softmax(-1)
            prototypes = F.normalize(_sequential_ema(prototypes, q.detach(), pseudo, proto_momentum), dim=1)
        warm = epoch <= warmup
        n = state["filled"]
        features = torch.cat([q, k, keys[:n]])
        if warm:
            cont = ins_contrastive(features, len(idx), None, temperature=temperature)
            cls = ins_partial_loss(logits, warm_confidence[idx])
        else:
            confidence[idx] = ins_confidence_update(confidence[idx], score_prot, candidates[idx], state["phi"])
            labels = torch.cat([pseudo, pseudo, key_labels[:n]])
            cont = ins_contrastive(features, len(idx), labels, temperature=temperature)
            cls = ins_partial_loss(logits, confidence[idx])
        with torch.no_grad():
            state["ptr"] = _enqueue(keys, key_labels, k, pseudo, state["ptr"])
            state["filled"] = min(queue, n + len(idx))
        return cls + weight * cont

    return _loop(model, data, epochs, batch_size, len(X), generator, optimizer, step,
                 lambda t: ema_update(key, model, momentum), metrics, "fit_ins", verbose, device, epoch_start)
