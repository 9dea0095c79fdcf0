"""Multiple-instance learning: bags of instances with one label (or aggregate response) per bag."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .._checks import check_int, check_number
from .real import digits


def pad_bags(bags, instance_labels=None):
    """Stack bags of different sizes into one padded batch.

    Returns ``(X[B, N_max, *features], mask[B, N_max], labels[B, N_max] or None)``: padding rows are zero
    and ``mask`` is True on real instances. A model that respects the mask gives padding zero attention,
    so a padded batch trains like B separate bags at the cost of one forward pass.
    """
    if len(bags) == 0:
        raise ValueError("bags must hold at least one bag")
    sizes = [int(b.shape[0]) for b in bags]
    if min(sizes) < 1:
        raise ValueError(f"every bag needs at least one instance, got sizes {sizes}")
    from torch.nn.utils.rnn import pad_sequence  # one C++ copy instead of a Python loop over bags

    X = pad_sequence(list(bags), batch_first=True)
    mask = torch.arange(X.shape[1])[None, :] < torch.tensor(sizes)[:, None]
    if instance_labels is None:
        return X, mask, None
    labels = pad_sequence(list(instance_labels), batch_first=True)
    return X, mask, labels


@dataclass(frozen=True, eq=False, repr=False)
class Bags:
    """Multiple-instance data: lists of bags (``[n_i, *features]`` each) with one label per bag.

    ``y_*`` are the bag labels (int64 in {0, 1} for classification, float32 aggregate responses for
    regression); ``instances_*`` keep the per-instance truth for evaluation only (1 = key instance of a
    positive bag, 0 = other; or the hidden per-instance responses). ``padded(split)`` gives a padded batch.
    """

    name: str
    bags_train: list
    y_train: torch.Tensor
    instances_train: list
    bags_test: list
    y_test: torch.Tensor
    instances_test: list
    description: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        for split in ("train", "test"):
            bags, y, inst = (getattr(self, f"{k}_{split}") for k in ("bags", "y", "instances"))
            if not (len(bags) == len(y) == len(inst)):
                raise ValueError(f"{split}: {len(bags)} bags, {len(y)} labels, {len(inst)} instance label sets")
            if any(b.shape[0] != i.shape[0] for b, i in zip(bags, inst)):
                raise ValueError(f"{split}: a bag and its instance labels differ in length")

    @property
    def n_train(self) -> int:
        return len(self.bags_train)

    @property
    def n_test(self) -> int:
        return len(self.bags_test)

    @property
    def instance_shape(self) -> tuple[int, ...]:
        return tuple(self.bags_train[0].shape[1:])

    def sizes(self, split: str = "train") -> torch.Tensor:
        return torch.tensor([b.shape[0] for b in self._split(split)[0]])

    def _split(self, split: str):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return getattr(self, f"bags_{split}"), getattr(self, f"y_{split}"), getattr(self, f"instances_{split}")

    def padded(self, split: str = "train", index=None):
        """``(X[B, N_max, ...], mask[B, N_max], y[B], instance_labels[B, N_max])`` for the bags ``index``
        (all by default) of ``split``."""
        bags, y, inst = self._split(split)
        idx = range(len(bags)) if index is None else [int(i) for i in index]
        X, mask, labels = pad_bags([bags[i] for i in idx], [inst[i] for i in idx])
        return X, mask, y[list(idx)], labels

    def __repr__(self) -> str:
        sizes = self.sizes("train").float()
        return (f"Bags({self.name!r}, train={self.n_train}, test={self.n_test}, instance_shape={self.instance_shape}, "
                f"bag size {sizes.mean():.1f} +- {sizes.std():.1f})")


def _bag_sizes(rng: np.random.Generator, n: int, mean: float, std: float, low: int, high: int) -> np.ndarray:
    return np.clip(np.rint(rng.normal(mean, std, size=n)), low, high).astype(int)


def digit_bags(*, target: int = 9, mean_size: float = 10.0, std_size: float = 2.0, min_size: int = 2,
               max_size: int = 20, n_train: int = 200, n_test: int = 100, seed: int = 0,
               positive_fraction: float | None = None, keys: tuple[int, int] = (1, 2), hard: float = 0.0,
               hardness: float = 0.5) -> Bags:
    """Bags of 8x8 digits (Ilse et al. 2018's MNIST-bags, on sklearn's digits): a bag is positive iff it
    holds at least one ``target`` digit; its size is ``round(N(mean_size, std_size))`` clipped to
    ``[min_size, max_size]``.

    Instances are flat 64-pixel rows in [0, 1]; train bags draw (with replacement) from the digits' train
    split, test bags from its test split, so no image is in both. ``instances_*`` mark the target digits
    (the key instances), ``meta["digits_train"/"digits_test"]`` the digit of every instance. About
    1 - 0.9^10 = 65 % of the bags are positive, as in the paper's MNIST-bags.

    ``positive_fraction`` (None: the draw above) fixes the bag labels instead: each bag is positive with that
    probability (bag-label imbalance, e.g. 0.2), negative bags hold only non-target digits, positive bags
    ``keys[0]``..``keys[1]`` target digits (uniform) at random places among non-target ones: few key
    instances. Each key is then *hard* with probability ``hard``: blended with a random non-target digit,
    ``(1 - hardness) * key + hardness * other``, so it resembles the negatives (a subtle positive).
    ``meta["hard_train"/"hard_test"]`` mark the hard keys (bool per instance).
    """
    seed = check_int(seed, "seed", low=0)
    check_int(target, "target", low=0)
    if target > 9:
        raise ValueError(f"target must be a digit in 0..9, got {target}")
    min_size, max_size = check_int(min_size, "min_size", low=1), check_int(max_size, "max_size", low=1)
    if max_size < min_size:
        raise ValueError(f"max_size must be >= min_size, got {max_size} < {min_size}")
    base = digits(seed=seed)
    rng = np.random.default_rng(seed)
    if positive_fraction is not None:
        return _controlled_digit_bags(base, rng, target, mean_size, std_size, min_size, max_size, n_train, n_test,
                                      positive_fraction, keys, hard, hardness)
    out, meta = {}, {}
    for split, n, X, y in (("train", check_int(n_train, "n_train", low=1), base.X_train, base.y_train),
                           ("test", check_int(n_test, "n_test", low=1), base.X_test, base.y_test)):
        sizes = _bag_sizes(rng, n, check_number(mean_size, "mean_size", low=1.0),
                           check_number(std_size, "std_size", low=0.0), min_size, max_size)
        picks = [torch.as_tensor(rng.integers(0, len(y), size=s)) for s in sizes]
        bags = [X[p] for p in picks]
        inst = [(y[p] == target).long() for p in picks]
        out[split] = (bags, torch.stack([i.max() for i in inst]), inst)
        meta[f"digits_{split}"] = [y[p] for p in picks]
    return Bags("digit_bags", *out["train"], *out["test"], meta=meta,
                description=f"sklearn digits in bags of ~{mean_size:g} (sd {std_size:g}); positive iff a {target} "
                            "is inside")


def _controlled_digit_bags(base, rng, target, mean_size, std_size, min_size, max_size, n_train, n_test,
                           positive_fraction, keys, hard, hardness) -> Bags:
    """:func:`digit_bags` with a fixed positive fraction, few keys and hard keys (see its docstring)."""
    positive_fraction = check_number(positive_fraction, "positive_fraction", low=0.0, high=1.0)
    hard, hardness = check_number(hard, "hard", low=0.0, high=1.0), check_number(hardness, "hardness", 0.0, 1.0)
    if (not isinstance(keys, (tuple, list)) or len(keys) != 2
            or not all(isinstance(k, int) and not isinstance(k, bool) for k in keys) or not 1 <= keys[0] <= keys[1]):
        raise ValueError(f"keys must be a pair of ints 1 <= low <= high, got {keys!r}")
    out, meta = {}, {}
    for split, n, X, y in (("train", check_int(n_train, "n_train", low=1), base.X_train, base.y_train),
                           ("test", check_int(n_test, "n_test", low=1), base.X_test, base.y_test)):
        sizes = _bag_sizes(rng, n, check_number(mean_size, "mean_size", low=1.0),
                           check_number(std_size, "std_size", low=0.0), min_size, max_size)
        key_rows, other_rows = np.flatnonzero(y.numpy() == target), np.flatnonzero(y.numpy() != target)
        labels = rng.random(n) < positive_fraction
        bags, inst, digit_ids, hard_marks = [], [], [], []
        for size, positive in zip(sizes, labels):
            picks = other_rows[rng.integers(0, len(other_rows), size=size)]
            is_key = np.zeros(size, dtype=bool)
            if positive:
                n_keys = min(int(rng.integers(keys[0], keys[1] + 1)), size)  # a small bag is all keys at most
                is_key[rng.choice(size, size=n_keys, replace=False)] = True
                picks[is_key] = key_rows[rng.integers(0, len(key_rows), size=int(is_key.sum()))]
            is_hard = is_key & (rng.random(size) < hard)
            x = X[torch.as_tensor(picks)].clone()
            if is_hard.any():
                blend = X[torch.as_tensor(other_rows[rng.integers(0, len(other_rows), size=int(is_hard.sum()))])]
                x[torch.as_tensor(is_hard)] = (1 - hardness) * x[torch.as_tensor(is_hard)] + hardness * blend
            bags.append(x)
            inst.append(torch.as_tensor(is_key).long())
            digit_ids.append(y[torch.as_tensor(picks)])
            hard_marks.append(torch.as_tensor(is_hard))
        out[split] = (bags, torch.as_tensor(labels).long(), inst)
        meta[f"digits_{split}"], meta[f"hard_{split}"] = digit_ids, hard_marks
    return Bags("digit_bags", *out["train"], *out["test"], meta=meta,
                description=f"sklearn digits in bags of ~{mean_size:g}; {positive_fraction:.0%} positive with "
                            f"{keys[0]}-{keys[1]} {target}s, each hard (blended {hardness:g} with a non-{target}) "
                            f"with probability {hard:g}")


MIL_UNIT_TESTS = ("single_concept", "two_concept", "false_frequency")


def _normal(rng, n: int, dim: int, mean: float, std: float) -> torch.Tensor:
    return torch.as_tensor(rng.normal(mean, std, size=(n, dim)), dtype=torch.float32)


def _unit_test_bag(rng, test: str, positive: bool, train: bool, dim: int, negatives: int):
    """One bag of Raff & Holt's Algorithms 1-3: ``(instances, instance labels)``."""
    parts, labels = [], []

    def add(x, label):
        parts.append(x)
        labels.append(torch.full((x.shape[0],), label, dtype=torch.long))

    if test == "single_concept":
        if positive:
            for _ in range(rng.integers(1, 4)):  # 1-3 positives from N(0, 3^2 I) or N(1, I)
                add(_normal(rng, 1, dim, 0.0, 3.0) if rng.integers(2) == 0 else _normal(rng, 1, dim, 1.0, 1.0), 1)
        add(_normal(rng, negatives, dim, 0.0, 1.0), 0)
    else:
        n_neg = int(rng.integers(1, 10))  # 1-9 negatives
        concepts = [(2.0, 0.1), (3.0, 0.1)]
        if test == "two_concept":
            if positive:
                for mean, std in concepts:
                    add(_normal(rng, int(rng.integers(1, 4)), dim, mean, std), 1)
            else:
                add(_normal(rng, 1, dim, *concepts[int(rng.integers(2))]), 1)
        else:  # false_frequency
            if positive:
                for mean, std in concepts:
                    add(_normal(rng, 1, dim, mean, std), 1)
            else:
                copies = 1 if train else int(rng.integers(35, 45))
                add(_normal(rng, copies, dim, *concepts[int(rng.integers(2))]), 1)
        add(_normal(rng, n_neg, dim, 0.0, 1.0), 0)
    # Poison (tests 1 and 2): in negative bags at train time, in positive bags at test time.
    if test != "false_frequency" and positive != train:
        add(_normal(rng, 1, dim, -10.0, 0.1), 0)
    order = torch.as_tensor(rng.permutation(sum(p.shape[0] for p in parts)))
    return torch.cat(parts)[order], torch.cat(labels)[order]


def mil_unit_test(test: str = "single_concept", *, dim: int = 16, negatives: int = 9, n_train: int = 200,
                  n_test: int = 200, seed: int = 0) -> Bags:
    """The three synthetic "algorithmic unit tests" of Raff & Holt (NeurIPS 2023), parameters as in the
    torchmil re-implementation of their Algorithms 1-3 (half the bags positive):

    - ``"single_concept"`` (Alg. 1): positive bags hold 1-3 instances from N(0, 3^2 I) or N(1, I) among
      ``negatives`` N(0, I) instances. A poison instance N(-10, 0.1^2 I) is in every NEGATIVE bag at train
      time and every POSITIVE bag at test time. Under the standard MIL assumption an instance can only be
      evidence FOR the positive class, so a model that respects it cannot use the poison; one that learns
      "poison => negative" fails at test time.
    - ``"two_concept"`` (Alg. 2): concepts N(2, 0.1^2 I) and N(3, 0.1^2 I); a positive bag needs both
      (1-3 of each), a negative bag has one instance of one concept; 1-9 negatives each; poisoned as above.
    - ``"false_frequency"`` (Alg. 3): positive = one instance of each concept; negative = t copies of one
      concept, t = 1 at train time and 35-44 at test time: counting the concept instead of checking both
      are present fails.

    ``instances_*`` mark the positive / concept instances with 1. Departure from torchmil: everything is
    drawn from one ``numpy`` generator seeded by ``seed`` (torchmil seeds numpy but samples with torch), and
    the concept of a false-frequency negative bag is random (torchmil's ``randint(0, 1)`` is always 0).
    """
    if test not in MIL_UNIT_TESTS:
        raise ValueError(f"test must be one of {MIL_UNIT_TESTS}, got {test!r}")
    seed = check_int(seed, "seed", low=0)
    dim, negatives = check_int(dim, "dim", low=1), check_int(negatives, "negatives", low=1)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", check_int(n_train, "n_train", low=2)), ("test", check_int(n_test, "n_test", low=2))):
        y = torch.as_tensor(rng.permutation(np.arange(n) < n // 2), dtype=torch.long)
        made = [_unit_test_bag(rng, test, bool(label), split == "train", dim, negatives) for label in y]
        out[split] = ([m[0] for m in made], y, [m[1] for m in made])
    return Bags(f"mil_unit_test:{test}", *out["train"], *out["test"],
                description=f"Raff & Holt (2023) algorithmic unit test {test!r}, dim {dim}")


def aggregate_bags(*, n_train: int = 100, n_test: int = 100, bag_size: int = 10, dim: int = 8, noise: float = 0.5,
                   seed: int = 0) -> Bags:
    """Regression from aggregate responses (Javanmard et al. 2024): instances x ~ N(0, I_dim) with hidden
    responses y_i = <theta, x_i> + noise * eps_i (theta ~ N(0, I / dim), fixed by ``seed``); a bag of
    ``bag_size`` random instances reveals only its mean response, the bag label ``y``.

    ``instances_*`` hold the hidden y_i (for evaluating instance predictions), ``meta["theta"]`` the truth.
    """
    seed = check_int(seed, "seed", low=0)
    dim, bag_size = check_int(dim, "dim", low=1), check_int(bag_size, "bag_size", low=1)
    noise = check_number(noise, "noise", low=0.0)
    rng = np.random.default_rng(seed)
    theta = torch.as_tensor(rng.normal(0.0, 1.0 / math.sqrt(dim), size=dim), dtype=torch.float32)
    out = {}
    for split, n in (("train", check_int(n_train, "n_train", low=1)), ("test", check_int(n_test, "n_test", low=1))):
        X = _normal(rng, n * bag_size, dim, 0.0, 1.0)
        responses = X @ theta + noise * torch.as_tensor(rng.normal(size=n * bag_size), dtype=torch.float32)
        bags, inst = list(X.split(bag_size)), list(responses.split(bag_size))
        out[split] = (bags, torch.stack([r.mean() for r in inst]), inst)
    return Bags("aggregate_bags", *out["train"], *out["test"], meta={"theta": theta},
                description=f"linear responses in {dim} dims, noise {noise:g}, bags of {bag_size}, mean revealed")
