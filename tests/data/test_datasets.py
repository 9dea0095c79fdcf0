"""Tests for workbench.data: shapes, splits, determinism, and the properties each variant promises."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import data

NAMES = [
    "breast_cancer",
    "digit_views",
    "digits",
    "hierarchical_clusters",
    "moons",
    "paired_digits",
    "sphere_blobs",
    "spirals",
    "wine",
]
# Datasets whose labels are not one class id per row (multi-hot, continuous): tests/data/test_multilabel_data.py
OTHER_LABELS = ["diabetes", "digit_attribute", "multilabel_digits"]


@functools.cache
def cached(name: str, **kwargs) -> data.Dataset:
    # Datasets are frozen, so sharing one instance between tests (and hypothesis examples) is safe.
    return data.load(name, **kwargs)


def proportions(y: torch.Tensor, C: int) -> np.ndarray:
    return np.bincount(y.numpy(), minlength=C) / len(y)


# --------------------------------------------------------------------------------------------------
# The registry and the container
# --------------------------------------------------------------------------------------------------


def test_available_is_the_sorted_list_of_names():
    assert data.available() == sorted(NAMES + OTHER_LABELS) and sorted(NAMES) == NAMES


def test_load_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'") as err:
        data.load("mnist")
    for name in NAMES:
        assert name in str(err.value)


def test_load_passes_keyword_arguments():
    ds = data.load("sphere_blobs", num_classes=3, dim=5, n_per_class=20)
    assert ds.num_classes == 3 and ds.input_shape == (5,) and ds.n_train + ds.n_test == 60


@pytest.mark.parametrize("name", NAMES)
def test_shapes_dtypes_and_labels(name):
    ds = cached(name)
    assert ds.X_train.dtype == ds.X_test.dtype == torch.float32
    assert ds.y_train.dtype == ds.y_test.dtype == torch.int64
    assert ds.X_train.shape == (ds.n_train, *ds.input_shape)
    assert ds.X_test.shape == (ds.n_test, *ds.input_shape)
    assert ds.y_train.shape == (ds.n_train,) and ds.y_test.shape == (ds.n_test,)
    # every class is present in both splits, and no label is out of range
    assert set(ds.y_train.tolist()) == set(ds.y_test.tolist()) == set(range(ds.num_classes))
    assert torch.isfinite(ds.X_train).all() and torch.isfinite(ds.X_test).all()
    assert name in repr(ds) and "\n" not in repr(ds)
    assert ds.description


@pytest.mark.parametrize(
    "name, n, shape, C",
    [
        ("digits", 1797, (64,), 10),
        ("breast_cancer", 569, (30,), 2),
        ("wine", 178, (13,), 3),
        ("digit_views", 1797, (1, 8, 8), 10),
    ],
)
def test_real_datasets_have_their_known_sizes(name, n, shape, C):
    ds = cached(name)
    assert ds.n_train + ds.n_test == n
    assert ds.n_test == int(np.ceil(0.25 * n))  # sklearn rounds the test share up
    assert ds.input_shape == shape and ds.num_classes == C


def test_digits_pixels_in_unit_range_and_image_layout_matches_flat():
    flat, img = data.digits(), data.digits(image=True)
    assert img.input_shape == (1, 8, 8)
    assert torch.equal(img.X_train.reshape(-1, 64), flat.X_train)
    assert flat.X_train.min() == 0.0 and flat.X_train.max() == 1.0


@pytest.mark.parametrize("loader", [data.breast_cancer, data.wine, data.moons, data.spirals])
def test_standardised_with_train_statistics(loader):
    ds = loader()
    assert torch.allclose(ds.X_train.mean(0), torch.zeros(ds.input_shape), atol=1e-4)
    assert torch.allclose(ds.X_train.std(0, unbiased=False), torch.ones(ds.input_shape), atol=1e-4)
    # The test split is scaled with the train statistics, so it is only close to standard, not exact.
    assert not torch.allclose(ds.X_test.mean(0), torch.zeros(ds.input_shape), atol=1e-6)


def test_dataset_is_frozen_and_checks_alignment():
    ds = cached("wine")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"
    with pytest.raises(ValueError, match="y_train"):
        dataclasses.replace(ds, y_train=ds.y_train[:-1])


# --------------------------------------------------------------------------------------------------
# Splits and seeds
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_split_is_stratified(name):
    ds = cached(name)
    p_train = proportions(ds.y_train, ds.num_classes)
    p_test = proportions(ds.y_test, ds.num_classes)
    assert np.abs(p_train - p_test).max() < 0.02


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_tensors_different_seed_different(name):
    a, b, c = data.load(name, seed=3), data.load(name, seed=3), data.load(name, seed=4)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.X_train, c.X_train)


@pytest.mark.parametrize("test_size", [0.1, 0.5])
def test_test_size_sets_the_split(test_size):
    ds = data.moons(n=200, test_size=test_size)
    assert ds.n_test == round(200 * test_size)


# --------------------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 3, 10])
def test_sphere_blobs_lie_on_the_unit_sphere(dim):
    ds = data.sphere_blobs(dim=dim, n_per_class=30)
    for X in (ds.X_train, ds.X_test):
        assert torch.allclose(X.norm(dim=1), torch.ones(len(X)), atol=1e-5)


def test_sphere_blobs_concentration_tightens_around_the_means():
    def mean_cosine(concentration):
        ds = data.sphere_blobs(dim=8, concentration=concentration)
        return (ds.X_train * ds.meta["means"][ds.y_train]).sum(1).mean().item()

    assert mean_cosine(0.5) < mean_cosine(4.0) < mean_cosine(32.0)
    assert mean_cosine(32.0) > 0.95


def test_hierarchical_subclass_ids_map_to_exactly_one_class():
    ds = data.hierarchical_clusters(num_classes=3, subclusters=4)
    sub = torch.cat([ds.meta["subclass_train"], ds.meta["subclass_test"]])
    y = torch.cat([ds.y_train, ds.y_test])
    assert len(sub) == len(y) and set(sub.tolist()) == set(range(12))
    for s in sub.unique():
        classes = y[sub == s].unique()
        assert classes.tolist() == [int(s) // 4]


def test_hierarchical_subclusters_are_tighter_than_classes():
    ds = data.hierarchical_clusters()
    X, y, sub = ds.X_train, ds.y_train, ds.meta["subclass_train"]
    D = torch.cdist(X, X)
    same_sub = sub[:, None] == sub[None, :]
    same_class_other_sub = (y[:, None] == y[None, :]) & ~same_sub
    other_class = y[:, None] != y[None, :]
    off_diag = ~torch.eye(len(X), dtype=torch.bool)
    assert D[same_sub & off_diag].mean() < D[same_class_other_sub].mean() < D[other_class].mean()


def test_moons_and_spirals_are_two_dimensional_and_balanced():
    for ds in (data.moons(n=101), data.spirals(num_classes=3, n_per_class=50)):
        assert ds.input_shape == (2,)
    assert data.moons(n=101).n_train + data.moons(n=101).n_test == 101
    counts = np.bincount(torch.cat([cached("spirals").y_train, cached("spirals").y_test]).numpy())
    assert counts.tolist() == [200, 200]


# --------------------------------------------------------------------------------------------------
# long_tailed
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [1.0, 10.0, 50.0])
def test_long_tailed_counts_follow_the_exponential_profile(ratio):
    base = cached("digits")
    ds = data.long_tailed(base, imbalance_ratio=ratio)
    counts = np.bincount(ds.y_train.numpy(), minlength=10)
    n_max = np.bincount(base.y_train.numpy()).min()
    expected = n_max * ratio ** (-np.arange(10) / 9)
    assert counts.tolist() == ds.meta["class_counts"]
    assert np.all(np.abs(counts - expected) <= 0.5 + 1e-9)
    assert np.all(np.diff(counts) <= 0)  # class 0 is the head
    # head / tail is the requested ratio up to the rounding of the tail count
    assert counts[0] / (counts[-1] + 0.5) <= ratio <= counts[0] / (counts[-1] - 0.5)
    assert torch.equal(ds.X_test, base.X_test) and torch.equal(ds.y_test, base.y_test)


def test_long_tailed_order_moves_the_head_to_another_class():
    base = cached("digits")
    default = data.long_tailed(base, imbalance_ratio=10)
    swapped = data.long_tailed(base, imbalance_ratio=10, order=range(9, -1, -1))
    counts = np.bincount(swapped.y_train.numpy(), minlength=10)
    # the same profile, read from class 9 (head) down to class 0 (tail)
    assert counts.tolist() == default.meta["class_counts"][::-1] == swapped.meta["class_counts"]
    assert counts[9] > counts[0]
    for bad in ([0, 1], [0] * 10, list(range(1, 11))):
        with pytest.raises(ValueError, match="order"):
            data.long_tailed(base, order=bad)


def test_long_tailed_keeps_real_rows_and_per_sample_meta_aligned():
    base = data.hierarchical_clusters()
    ds = data.long_tailed(base, imbalance_ratio=5.0)
    assert torch.equal(ds.meta["subclass_train"] // 3, ds.y_train)
    # every kept row is a row of the original train split, with its own label
    rows = {tuple(x.tolist()): int(y) for x, y in zip(base.X_train, base.y_train, strict=True)}
    assert all(rows[tuple(x.tolist())] == int(y) for x, y in zip(ds.X_train, ds.y_train, strict=True))
    assert torch.equal(data.long_tailed(base, seed=1).y_train, data.long_tailed(base, seed=1).y_train)


def test_long_tailed_rejects_ratio_below_one():
    with pytest.raises(ValueError, match="imbalance_ratio"):
        data.long_tailed(cached("wine"), imbalance_ratio=0.5)


# --------------------------------------------------------------------------------------------------
# label_noise
# --------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    rate=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["symmetric", "pairflip"]),
)
def test_label_noise_rate_is_exact_and_corrupted_labels_are_wrong(rate, seed, kind):
    base = cached("wine")
    ds = data.label_noise(base, rate=rate, kind=kind, seed=seed)
    clean, noisy = ds.meta["y_train_clean"], ds.y_train
    N = len(clean)
    measured = (clean != noisy).float().mean().item()
    assert abs(measured - rate) <= 1 / N
    assert ds.meta["noise_rate"] == pytest.approx(measured)
    assert torch.equal(clean, base.y_train)
    assert torch.equal(ds.y_test, base.y_test) and torch.equal(ds.X_train, base.X_train)
    assert noisy.min() >= 0 and noisy.max() < base.num_classes
    changed = clean != noisy
    if kind == "pairflip":
        assert torch.equal(noisy[changed], (clean[changed] + 1) % base.num_classes)


def test_symmetric_noise_is_spread_over_the_other_classes():
    base = cached("digits")
    ds = data.label_noise(base, rate=0.8, seed=1)
    clean, noisy = ds.meta["y_train_clean"], ds.y_train
    changed = clean != noisy
    offsets = np.bincount(((noisy[changed] - clean[changed]) % 10).numpy(), minlength=10)
    assert offsets[0] == 0  # never the clean label
    expected = changed.sum().item() / 9
    assert np.all(np.abs(offsets[1:] - expected) < 0.3 * expected)


def test_label_noise_is_deterministic_and_composes():
    base = data.long_tailed(cached("digits"))
    a, b = data.label_noise(base, seed=5), data.label_noise(base, seed=5)
    assert torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.y_train, data.label_noise(base, seed=6).y_train)
    assert a.meta["class_counts"] == base.meta["class_counts"]


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
def test_label_noise_rejects_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        data.label_noise(cached("wine"), rate=rate)


def test_label_noise_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        data.label_noise(cached("wine"), kind="asymmetric")


# --------------------------------------------------------------------------------------------------
# one_vs_rest
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("imbalance", [12.0, 20.0, 60.0])
def test_one_vs_rest_is_binary_with_the_requested_imbalance(imbalance):
    base = cached("digits")
    ds = data.one_vs_rest(base, positive=3, imbalance=imbalance)
    assert ds.num_classes == 2
    for split in ("train", "test"):
        y = getattr(ds, f"y_{split}")
        base_y = getattr(base, f"y_{split}")
        pos, neg = int((y == 1).sum()), int((y == 0).sum())
        assert set(y.tolist()) == {0, 1} and pos >= 2
        assert neg == int((base_y != 3).sum())  # negatives are all kept
        assert abs(pos - neg / imbalance) <= 0.5  # positives kept = negatives / imbalance, rounded
        assert ds.meta[f"imbalance_{split}"] == pytest.approx(neg / pos)


def test_one_vs_rest_cannot_add_positives():
    # Digits is already about 1:9, so asking for 1:5 keeps every positive and reports the true ratio.
    base = cached("digits")
    ds = data.one_vs_rest(base, positive=0, imbalance=5.0)
    assert int(ds.y_train.sum()) == int((base.y_train == 0).sum())
    assert ds.meta["imbalance_train"] > 8.0


def test_one_vs_rest_keeps_at_least_two_positives_and_checks_arguments():
    ds = data.one_vs_rest(cached("wine"), positive=1, imbalance=1000.0)
    assert int(ds.y_train.sum()) == 2 and int(ds.y_test.sum()) == 2
    with pytest.raises(ValueError, match="positive"):
        data.one_vs_rest(cached("wine"), positive=3)
    with pytest.raises(ValueError, match="imbalance"):
        data.one_vs_rest(cached("wine"), imbalance=0.5)


# --------------------------------------------------------------------------------------------------
# Augmentation (digit_views)
# --------------------------------------------------------------------------------------------------


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_digit_views_carries_a_digit_augment():
    ds = data.digit_views(shift=2, noise=0.0, mask=0.3)
    assert ds.augment == data.DigitAugment(shift=2, noise=0.0, mask=0.3)
    assert data.digits().augment is None


def test_augment_is_deterministic_given_the_generator_and_changes_the_input():
    ds = cached("digit_views")
    X = ds.X_train[:64]
    a, b = ds.augment(X, gen(0)), ds.augment(X, gen(0))
    c = ds.augment(X, gen(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == X.shape and a.dtype == X.dtype
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert not torch.equal(a, X)
    assert torch.equal(X, ds.X_train[:64])  # the input is not modified in place


def test_augment_flat_input_gives_the_same_views_as_images():
    aug = data.DigitAugment(shift=2, noise=0.2, mask=0.3)
    img = cached("digit_views").X_train[:32]
    flat = img.reshape(32, 64)
    out = aug(flat, gen(7))
    assert out.shape == (32, 64)
    assert torch.equal(out, aug(img, gen(7)).reshape(32, 64))


def test_augment_uses_only_the_generator():
    aug, X = data.DigitAugment(), cached("digit_views").X_train[:16]
    torch.manual_seed(0)
    a = aug(X, gen(3))
    torch.manual_seed(1)  # the global RNG must not matter
    assert torch.equal(a, aug(X, gen(3)))


@settings(max_examples=30, deadline=None)
@given(shift=st.integers(0, 3), seed=st.integers(0, 2**31 - 1))
def test_shift_only_moves_ink(shift, seed):
    X = cached("digit_views").X_train[:50]
    out = data.DigitAugment(shift=shift, noise=0.0, mask=0.0)(X, gen(seed))
    ink_in, ink_out = X.sum(dim=(1, 2, 3)), out.sum(dim=(1, 2, 3))
    assert torch.all(ink_out <= ink_in + 1e-5)
    # Each output image is a translate of its input: every non-zero pixel value came from the input.
    for x, o in zip(X, out, strict=True):
        assert set(o[o > 0].tolist()) <= set(x.flatten().tolist())
    if shift == 0:
        assert torch.equal(out, X)


def test_shift_translates_a_single_pixel_within_range():
    X = torch.zeros(200, 1, 8, 8)
    X[:, 0, 4, 4] = 1.0
    out = data.DigitAugment(shift=2, noise=0.0, mask=0.0)(X, gen(0))
    assert torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(200))  # centre pixel never leaves the image
    rows, cols = out[:, 0].nonzero()[:, 1], out[:, 0].nonzero()[:, 2]
    assert set((rows - 4).tolist()) == set((cols - 4).tolist()) == {-2, -1, 0, 1, 2}


def test_mask_zeroes_about_the_requested_fraction():
    X = torch.ones(500, 64)
    out = data.DigitAugment(shift=0, noise=0.0, mask=0.25)(X, gen(0))
    assert abs((out == 0).float().mean().item() - 0.25) < 0.02


@pytest.mark.parametrize(
    "kwargs, arg",
    [({"shift": -1}, "shift"), ({"noise": -0.1}, "noise"), ({"mask": 1.0}, "mask")],
)
def test_augment_rejects_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        data.DigitAugment(**kwargs)
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        data.digit_views(**kwargs)


def test_augment_rejects_non_digit_shapes():
    with pytest.raises(ValueError, match="8x8"):
        data.DigitAugment()(torch.zeros(4, 10), gen(0))


# --------------------------------------------------------------------------------------------------
# Argument errors name the argument
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, arg",
    [
        (lambda: data.digits(test_size=0.0), "test_size"),
        (lambda: data.wine(test_size=1.0), "test_size"),
        (lambda: data.breast_cancer(test_size=-0.2), "test_size"),
        (lambda: data.digits(seed=-1), "seed"),
        (lambda: data.sphere_blobs(num_classes=1), "num_classes"),
        (lambda: data.sphere_blobs(dim=1), "dim"),
        (lambda: data.sphere_blobs(concentration=-1.0), "concentration"),
        (lambda: data.spirals(num_classes=1), "num_classes"),
        (lambda: data.spirals(turns=0.0), "turns"),
        (lambda: data.moons(noise=-1.0), "noise"),
        (lambda: data.moons(n=2), "n"),
        (lambda: data.hierarchical_clusters(subclusters=0), "subclusters"),
        (lambda: data.hierarchical_clusters(num_classes=1), "num_classes"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(call, arg):
    with pytest.raises(ValueError, match=rf"\b{arg}\b"):
        call()


def test_unseen_classes_split():
    ds = data.unseen_classes(data.digits(), seen=5)
    assert ds.num_classes == 5 and ds.y_train.max() == 4 and ds.y_test.max() == 4
    assert set(ds.meta["y_unseen"].tolist()) == {5, 6, 7, 8, 9}
    full = data.digits()
    assert ds.n_train + ds.n_test + len(ds.meta["y_unseen"]) == full.n_train + full.n_test
    with pytest.raises(ValueError, match="seen"):
        data.unseen_classes(full, seen=10)


def test_feature_transform_needs_two_views():
    with pytest.raises(ValueError, match=r"\[B, 2, D\]"):
        data.feature_transform(torch.randn(4, 3, 2))
