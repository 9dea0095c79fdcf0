"""MILModel: masking, permutation invariance, pooling behaviour, stochastic top-k masking."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import data, models

SETTINGS = settings(max_examples=15, deadline=None)


def _batch(seed=0, n_bags=5, dim=6):
    g = torch.Generator().manual_seed(seed)
    sizes = [1, 3, 7, 4, 2][:n_bags]
    return data.pad_bags([torch.randn(s, dim, generator=g) for s in sizes])[:2]


@pytest.mark.parametrize("pooling", models.MIL_POOLINGS)
def test_padding_changes_nothing_and_masked_instances_get_zero_attention(pooling):
    X, mask = _batch()
    model = models.MILModel(6, pooling, seed=0).eval()
    out = model(X, mask)
    more = model(torch.cat([X, 50 * torch.randn(5, 3, 6)], 1),
                 torch.cat([mask, torch.zeros(5, 3, dtype=torch.bool)], 1))
    for b, n in enumerate(mask.sum(1).tolist()):
        alone = model(X[b, :n])
        assert torch.allclose(out.logits[b], alone.logits[0], atol=1e-5)
        assert torch.allclose(more.logits[b], alone.logits[0], atol=1e-5)
    if out.attention is not None:
        assert (out.attention[~mask] == 0).all() and (more.attention[:, 7:] == 0).all()
        assert torch.allclose(out.attention.sum(1), torch.ones(5), atol=1e-6)


@SETTINGS
@given(seed=st.integers(0, 2**16), pooling=st.sampled_from(models.MIL_POOLINGS))
def test_bag_score_is_permutation_invariant(seed, pooling):
    g = torch.Generator().manual_seed(seed)
    bag = torch.randn(6, 4, generator=g)
    perm = torch.randperm(6, generator=g)
    model = models.MILModel(4, pooling, branches=3 if pooling == "gated" else 1, seed=seed % 7).eval()
    out, shuffled = model(bag), model(bag[perm])
    assert torch.allclose(out.logits, shuffled.logits, atol=1e-5)
    assert torch.allclose(out.instance_scores[0, perm], shuffled.instance_scores[0], atol=1e-5)


@pytest.mark.parametrize("pooling", models.MIL_POOLINGS)
def test_one_instance_bag_is_the_classifier_of_its_embedding(pooling):
    model = models.MILModel(4, pooling, seed=1).eval()
    x = torch.randn(1, 4)
    out = model(x)
    assert torch.allclose(out.logits, model.classifier(model.encoder(x)).squeeze(-1), atol=1e-6)
    if out.attention is not None:
        assert out.attention.item() == pytest.approx(1.0)


def test_attention_pooling_ignores_duplicated_instances():
    model = models.MILModel(4, "attention", seed=2).eval()
    bag = torch.randn(5, 4)
    assert torch.allclose(model(bag).logits, model(torch.cat([bag, bag])).logits, atol=1e-6)


def test_instance_pooling_never_drops_when_an_instance_is_added_but_attention_can():
    g = torch.Generator().manual_seed(3)
    inst, att = models.MILModel(4, "instance", seed=3).eval(), models.MILModel(4, "attention", seed=3).eval()
    drops = 0
    for _ in range(30):
        bag, extra = torch.randn(5, 4, generator=g), 5 * torch.randn(1, 4, generator=g)
        assert inst(torch.cat([bag, extra])).logits >= inst(bag).logits - 1e-6
        drops += bool(att(torch.cat([bag, extra])).logits < att(bag).logits)
    assert drops > 0


def test_stkim_masks_int_of_k_times_drop_of_the_top_k_only_in_training():
    # spec 11c: masks exactly int(10 * 0.6) = 6 of the top-10 per branch, never a non-top-10 instance
    model = models.MILModel(4, "gated", branches=3, n_masked=10, mask_drop=0.6, seed=0)
    X, mask = data.pad_bags([torch.randn(25, 4), torch.randn(7, 4)])[:2]
    model.eval()
    clean = model(X, mask).attention_logits
    model.train()
    out = model(X, mask, generator=torch.Generator().manual_seed(0))
    dropped = out.attention_logits == -1e9
    assert dropped[0].sum(-1).tolist() == [6, 6, 6]
    assert dropped[1].sum(-1).tolist() == [int(7 * 0.6)] * 3  # k = min(10, n)
    top10 = clean[0].topk(10, dim=-1).indices
    for k in range(3):
        assert set(dropped[0, k].nonzero().flatten().tolist()) <= set(top10[k].tolist())
    again = model(X, mask, generator=torch.Generator().manual_seed(0)).attention_logits
    assert torch.equal(again, out.attention_logits)  # seeded
    model.eval()
    assert torch.equal(model(X, mask).attention_logits, clean)  # eval: no masking, deterministic


def test_multi_branch_model_returns_branch_logits():
    model = models.MILModel(4, "attention", branches=4, seed=0)
    X, mask = _batch(dim=4)
    out = model(X, mask)
    assert out.branch_logits.shape == (5, 4) and out.attention_logits.shape == (5, 4, 7)


def test_bad_model_arguments_are_named():
    with pytest.raises(ValueError, match="pooling"):
        models.MILModel(4, "sum")
    with pytest.raises(ValueError, match="branches"):
        models.MILModel(4, "mean", branches=2)
    with pytest.raises(ValueError, match="mask"):
        models.MILModel(4)(torch.randn(2, 3, 4), torch.ones(2, 3))


@pytest.mark.parametrize("pooling", ["attention", "gated", "mean", "instance"])
def test_model_gradcheck_float64_with_padding(pooling):
    X, mask = _batch(n_bags=3, dim=4)
    model = models.MILModel(4, pooling, embedding_dim=3, hidden=(5,), attention_dim=4, seed=0).double().eval()
    X = X.double().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: model(x, mask).logits, (X,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("pooling", models.MIL_POOLINGS)
def test_model_is_finite_on_huge_inputs(pooling):
    X, mask = _batch()
    out = models.MILModel(6, pooling, seed=0)(1e4 * X, mask)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.instance_scores[mask]).all()
