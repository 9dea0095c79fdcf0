"""MHIM-MIL v2's attention-to-score and instance merging against a transcription of the official code
(DearCaat/MHIM-MIL master@9d0c91a, ``modules/mhim_modules/scoring.py`` ``get_pseudo_score`` and
``modules/mhim_modules/merge.py`` ``MCA``, ``Merge.masking``, ``Merge.merge``), on fixed tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from workbench import models

# --- transcription of the official code (einops' rearrange written as view/permute; batch size 1) -----------

def official_pseudo_score(classifier, feat, attention):
    attention = attention.squeeze(0)
    features = torch.einsum('ns,n->ns', feat.squeeze(0), attention.squeeze(0))
    tweight = list(classifier.parameters())[-2]
    cam_maps = torch.einsum('gf,cf->cg', features, tweight)
    cam_maps += list(classifier.parameters())[-1].data[0]
    cam_maps = torch.nn.functional.softmax(cam_maps, dim=0)
    cam_maps, _ = torch.max(cam_maps.transpose(0, 1), -1)
    return cam_maps.unsqueeze(0)


def official_mca(merge, x, _q):  # MCA.forward with merge's weights (dropout off: eval)
    heads = merge.heads
    kv = merge.to_kv(x).chunk(2, dim=-1)
    q = merge.to_q(_q)

    def rearrange(t):  # 'b n (h d) -> b h n d'
        b, n, hd = t.shape
        return t.view(b, n, heads, hd // heads).permute(0, 2, 1, 3)

    k, v = map(rearrange, kv)
    q = rearrange(q)
    dots = torch.matmul(q, k.transpose(-1, -2)) * merge.head_dim ** -0.5
    attn = torch.softmax(dots, dim=-1)
    out = torch.matmul(attn, v)
    b, h, n, d = out.shape
    out = out.permute(0, 2, 1, 3).reshape(b, n, h * d)  # 'b h n d -> b n (h d)'
    return merge.to_out(out)


def official_merge(merge, x, momentum):  # Merge.merge in training: z, then the EMA of the global queries
    z = official_mca(merge, merge.norm(x), merge.norm(merge.global_q))
    q = merge.global_q.data * momentum + z[:, :merge.k] * (1 - momentum)
    return z, q


def official_masking(x, merge_ratio):  # Merge.masking, mask_type 'random'
    B, L, C = x.shape
    len_keep = int(L * merge_ratio)
    noise = torch.rand(L, device=x.device)
    ids_shuffle = torch.argsort(noise, dim=0)
    ids_keep = ids_shuffle[:len_keep]
    ids_random = ids_shuffle[len_keep:]
    x_keep = torch.gather(x, dim=1, index=ids_keep.unsqueeze(-1).repeat(1, 1, C))
    x_masked = torch.gather(x, dim=1, index=ids_random.unsqueeze(-1).repeat(1, 1, C))
    return x_keep, x_masked


# --- tests ---------------------------------------------------------------------------------------------------

def _fixed(n=7, m=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, n, m, generator=g, dtype=torch.float64), torch.rand(1, n, generator=g, dtype=torch.float64)


def test_attention_to_score_equals_official_two_classes():
    H, a = _fixed()
    a = a.softmax(-1)
    clf = torch.nn.Linear(8, 2).double()
    torch.nn.init.normal_(clf.bias)  # a nonzero bias: the official b_0 cancels in the softmax
    torch.testing.assert_close(models.attention_to_score(clf, H, a), official_pseudo_score(clf, H, a))


def test_attention_to_score_one_logit_is_the_two_class_model_with_rows_0_w():
    H, a = _fixed(seed=1)
    a = a.softmax(-1)
    one = torch.nn.Linear(8, 1).double()
    two = torch.nn.Linear(8, 2).double()
    with torch.no_grad():
        two.weight.copy_(torch.cat([torch.zeros(1, 8, dtype=torch.float64), one.weight]))
        two.bias.copy_(torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(models.attention_to_score(one, H, a), official_pseudo_score(two, H, a))


def test_attention_to_score_padding_and_permutation():
    H, a = _fixed(n=5, seed=2)
    clf = torch.nn.Linear(8, 1).double()
    padded = torch.cat([H, torch.randn(1, 2, 8, dtype=torch.float64)], 1)
    mask = torch.tensor([[True] * 5 + [False] * 2])
    s = models.attention_to_score(clf, padded, torch.cat([a, torch.zeros(1, 2, dtype=torch.float64)], 1), mask)
    torch.testing.assert_close(s[:, :5], models.attention_to_score(clf, H, a))
    assert torch.isneginf(s[:, 5:]).all()
    perm = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(models.attention_to_score(clf, H[:, perm], a[:, perm]),
                               models.attention_to_score(clf, H, a)[:, perm])


def _merge(**kw):
    torch.manual_seed(0)
    return models.InstanceMerge(8, heads=2, **kw).double()


def test_merged_tokens_and_query_ema_equal_official():
    merge = _merge(k=3, momentum=0.9)
    H, _ = _fixed()
    merge.eval()  # dropout off on both sides; the EMA is checked separately
    z_official, q_official = official_merge(merge, H, 0.9)
    members = torch.ones(1, 7, dtype=torch.bool)
    torch.testing.assert_close(merge.tokens(H, members), z_official)
    merge.update_queries(z_official)
    torch.testing.assert_close(merge.global_q, q_official)


def test_split_equals_official_masking_and_forward_appends_tokens():
    merge = _merge(ratio=0.8, dropout=0.0)
    H, _ = _fixed(n=9)
    torch.manual_seed(3)
    keep_official, merged_official = official_masking(H, 0.8)
    keep, merged = merge.split(torch.ones(1, 9, dtype=torch.bool), torch.Generator().manual_seed(3))
    assert keep.sum() == int(9 * 0.8) == 7 and merged.sum() == 2
    def rows(t):  # the same instances (the official ones come in shuffled order, ours in index order)
        return set(map(tuple, t.reshape(-1, 8).tolist()))

    assert rows(H[keep]) == rows(keep_official) and rows(H[merged]) == rows(merged_official)
    q_before, z = merge.global_q.clone(), merge.tokens(H, merged)  # the token from the queries before the step
    merge.train()
    H2, mask2 = merge(H, torch.ones(1, 9, dtype=torch.bool), torch.Generator().manual_seed(3))
    assert H2.shape == (1, 10, 8) and mask2.sum() == 8 and mask2[0, -1]
    torch.testing.assert_close(H2[:, -1:], z)
    torch.testing.assert_close(merge.global_q, merge.momentum * q_before + (1 - merge.momentum) * z)


def test_batched_query_ema_is_the_sequential_one():
    merge = _merge(k=1, momentum=0.7)
    z = torch.randn(3, 1, 8, dtype=torch.float64)
    q = merge.global_q.clone()
    for j in range(3):
        q = 0.7 * q + 0.3 * z[j:j + 1]
    merge.update_queries(z)
    torch.testing.assert_close(merge.global_q, q)


def test_merged_token_is_permutation_and_padding_invariant():
    merge = _merge().eval()
    H, _ = _fixed(n=6, seed=4)
    members = torch.tensor([[True, False, True, True, False, True]])
    z = merge.tokens(H, members)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(merge.tokens(H[:, perm], members[:, perm]), z)
    padded = torch.cat([H, 1e3 * torch.ones(1, 3, 8, dtype=torch.float64)], 1)
    torch.testing.assert_close(merge.tokens(padded, F.pad(members, (0, 3))), z)


def test_training_merge_is_padding_invariant_with_the_same_generator():
    merge = _merge(ratio=0.5, dropout=0.0, momentum=1.0)
    H, _ = _fixed(n=6, seed=5)
    mask = torch.ones(1, 6, dtype=torch.bool)
    out, m = merge(H, mask, torch.Generator().manual_seed(1))
    padded = torch.cat([H, torch.randn(1, 2, 8, dtype=torch.float64)], 1)
    out_p, m_p = merge(padded, F.pad(mask, (0, 2)), torch.Generator().manual_seed(1))
    torch.testing.assert_close(out_p[:, -1], out[:, -1])  # the same merged token
    assert torch.equal(m_p[:, :6], m[:, :6]) and not m_p[:, 6:8].any()


def test_mhim_model_eval_is_the_plain_model_and_training_merges():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    student = models.MHIMModel(6, seed=0, merge_ratio=0.5)
    plain = models.MILModel(6, seed=0)
    student.eval()
    torch.testing.assert_close(student(x, mask).logits, plain.eval()(x, mask).logits)
    perm = torch.tensor([4, 2, 0, 1, 3])
    torch.testing.assert_close(student(x[:, perm], mask[:, perm]).logits[:1], student(x, mask).logits[:1])
    student.train()
    out = student(x, mask, generator=torch.Generator().manual_seed(0))
    assert out.mask.shape == (2, 6) and out.mask[:, -1].all()
    assert out.mask.sum(1).tolist() == [int(5 * 0.5) + 1, int(3 * 0.5) + 1]
