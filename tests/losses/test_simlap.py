"""SimLAP / Hydra (Wu et al., arXiv 2410.18200) against the official code and the spec
(../shared/reference/losses-wave2.md §1.8).

``official_disparate_loss`` is the official ``SimLAP.disparate_loss`` with ``apply_gate``, ``contrast`` and
``multipos_ce_loss``, transcribed line by line (one process, so ``concat_all_gather_grad`` is the identity)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from workbench import losses
from workbench.losses import SimLAP, gated_cosine, multipositive_ce


def official_multipos_ce_loss(logits, pos_mask, neg_mask):
    logits = logits - logits.mean(1, keepdim=True)
    similarity = logits.exp()
    neg = (similarity * neg_mask).sum(1, keepdim=True)
    return (torch.sum(pos_mask * (torch.log(similarity + neg) - logits)) / pos_mask.sum()).mean()


class OfficialBasicGate(torch.nn.Module):
    """The official ``BasicGate`` (fuse=True, in_dim 512, mlp_dim 1024), transcribed."""

    def __init__(self, embed_dim, num_classes=1000, in_dim=512, mlp_dim=1024):
        super().__init__()
        self.mlp = torch.nn.Sequential(
            torch.nn.ReLU(), torch.nn.BatchNorm1d(in_dim),
            torch.nn.Linear(in_dim, mlp_dim),
            torch.nn.ReLU(), torch.nn.BatchNorm1d(mlp_dim),
            torch.nn.Linear(mlp_dim, embed_dim),
        )
        self.label_embedding = torch.nn.Embedding(num_classes, in_dim)

    def forward(self, y1, y2=None):
        label_embeds = (self.label_embedding(y1) + self.label_embedding(y2)) / 2
        return self.mlp(label_embeds).sigmoid()


def official_disparate_loss(gate_module, z1, k2, y1, posy, temperature):
    gate = gate_module(y1, posy)
    x1 = F.normalize(torch.einsum("bk,bk->bk", z1, gate), p=2, dim=-1)
    x2 = F.normalize(torch.einsum("nk,bk->bnk", k2, gate), p=2, dim=-1)
    logits = torch.einsum("bj,bnj->bn", x1, x2) / temperature
    c1_mask = y1.unsqueeze(1) == y1.unsqueeze(0)
    c2_mask = posy.unsqueeze(1) == y1.unsqueeze(0)
    return official_multipos_ce_loss(logits, c2_mask, ~(c1_mask | c2_mask))


def _batch(seed=0, b=12, d=6, classes=4):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, d, generator=g, dtype=torch.float64)
    labels = torch.arange(b) % classes
    partners = labels[torch.randperm(b, generator=g)]
    return z, labels, partners


def test_multipositive_ce_matches_the_spec_reference_value():
    # spec §1.8 [DERIVED]: logits [[5,1,2,0],[1,4,0,3]], P = e0, e1, N = [[0,1,1,1],[1,0,1,0]] -> 0.0690282
    logits = torch.tensor([[5.0, 1, 2, 0], [1, 4, 0, 3]], dtype=torch.float64)
    positives = torch.zeros(2, 4, dtype=torch.bool)
    positives[0, 0] = positives[1, 1] = True
    negatives = torch.tensor([[0, 1, 1, 1], [1, 0, 1, 0]], dtype=torch.bool)
    assert multipositive_ce(logits, positives, negatives).item() == pytest.approx(0.0690282, abs=1e-7)


def test_multipositive_ce_equals_the_official_on_random_masks_and_stays_finite_where_it_overflows():
    g = torch.Generator().manual_seed(3)
    logits = 3 * torch.randn(7, 9, generator=g, dtype=torch.float64)
    positives, negatives = torch.rand(7, 9, generator=g) < 0.3, torch.rand(7, 9, generator=g) < 0.5
    positives[0, 0] = True
    expected = official_multipos_ce_loss(logits, positives, negatives & ~positives)
    assert torch.allclose(multipositive_ce(logits, positives, negatives & ~positives), expected, atol=1e-12)
    big = multipositive_ce(1e4 * logits, positives, negatives)  # the official exp overflows to inf/nan here
    assert torch.isfinite(big) and not torch.isfinite(official_multipos_ce_loss(1e4 * logits, positives, negatives))


def test_no_positive_pair_gives_zero_with_a_zero_gradient():
    logits = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    none = torch.zeros(3, 3, dtype=torch.bool)
    value = multipositive_ce(logits, none, ~none)
    (grad,) = torch.autograd.grad(value, logits)
    assert value.item() == 0 and torch.equal(grad, torch.zeros_like(grad))


def test_gated_cosine_equals_the_official_gated_keys():
    z, _, _ = _batch()
    gate = torch.rand(len(z), z.shape[1], generator=torch.Generator().manual_seed(1), dtype=z.dtype)
    x1 = F.normalize(z * gate, dim=-1)
    x2 = F.normalize(torch.einsum("nk,bk->bnk", z, gate), dim=-1)
    assert torch.allclose(gated_cosine(z, gate), torch.einsum("bj,bnj->bn", x1, x2), atol=1e-12)
    assert torch.allclose(gated_cosine(z, torch.ones_like(gate)), F.normalize(z, dim=1) @ F.normalize(z, dim=1).T)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_the_loss_equals_the_official_disparate_loss(temperature):
    z, labels, partners = _batch()
    torch.manual_seed(0)
    loss = SimLAP(4, z.shape[1], temperature=temperature, classifier=False).double()
    expected = official_disparate_loss(loss.gate, z, z, labels, partners, temperature)
    assert torch.allclose(loss(z, labels, partners), expected, atol=1e-10)


def test_the_gate_is_the_official_basic_gate():
    # same layers, same parameter names and shapes at the official defaults (label embedding 512, hidden 1024): the
    # official module takes our weights as they are and gives the same filter, in training and in eval mode
    loss = SimLAP(10, 32)
    official = OfficialBasicGate(32, num_classes=10)
    official.load_state_dict(loss.gate.state_dict())  # strict: every layer and shape must match
    y1, y2 = torch.arange(12) % 10, (torch.arange(12) * 7) % 10
    for mode in (True, False):
        loss.gate.train(mode), official.train(mode)
        assert torch.allclose(loss.gate(y1, y2), official(y1, y2), atol=1e-6)
    with torch.no_grad():  # the filter depends on both labels through their mean embedding
        official.label_embedding.weight.normal_()
        loss.gate.label_embedding.weight.copy_(official.label_embedding.weight)
    loss.gate.eval(), official.eval()
    assert torch.allclose(loss.gate(y1, y2), official(y1, y2), atol=1e-6)
    assert not torch.allclose(loss.gate(y1, y2), loss.gate(y1, y1))


def test_the_classifier_adds_its_cross_entropy_on_detached_embeddings():
    z, labels, partners = _batch()
    torch.manual_seed(0)
    loss = SimLAP(4, z.shape[1]).double()
    z = z.requires_grad_(True)
    with_head = loss(z, labels, partners)
    (grad_with,) = torch.autograd.grad(with_head, z)
    loss.classifier = False
    without = loss(z, labels, partners)
    (grad_without,) = torch.autograd.grad(without, z)
    head = F.cross_entropy(z.detach() @ loss.weight.T + loss.bias, labels)  # official: cls_head(rep.detach())
    assert torch.allclose(with_head - without, head, atol=1e-12)
    assert torch.allclose(grad_with, grad_without)  # the head does not shape the embedding
    assert torch.equal(loss.logits(z).argmax(1), (z @ loss.weight.T + loss.bias).argmax(1))


def test_gradcheck_with_given_partners():
    # the registry-wide gradcheck cannot run on the default loss: it draws new partners at every call, and its
    # classifier's cross-entropy reads detached embeddings (a value with no gradient in them)
    z, labels, partners = _batch(b=8)
    torch.manual_seed(0)
    loss = SimLAP(4, z.shape[1], label_dim=8, hidden_dim=8, classifier=False).double()
    assert torch.autograd.gradcheck(lambda t: loss(t, labels, partners), (z.requires_grad_(True),))


def test_pairings_draw_the_official_partners_reproducibly():
    labels = torch.arange(40) % 5

    def partners(pairing, seed):
        return SimLAP(5, 4, pairing=pairing, generator=torch.Generator().manual_seed(seed)).partners(labels)

    assert torch.equal(partners("identical", 0), labels)
    arbitrary = partners("arbitrary", 0)
    assert torch.equal(arbitrary.sort().values, labels.sort().values)  # a permutation of the batch's labels
    assert not torch.equal(arbitrary, labels)
    distinct = partners("distinct", 0)
    assert (distinct != labels).all() and len(distinct.unique()) == 5  # another class, every class reached
    for pairing in ("arbitrary", "distinct"):
        assert torch.equal(partners(pairing, 7), partners(pairing, 7))
        assert not torch.equal(partners(pairing, 7), partners(pairing, 8))


def test_identical_pairing_counts_the_anchor_among_its_positives():
    # y' = y: positives are the anchor's own class, itself included (cosine 1: its pair costs log(e^{1/τ} + Σ_neg))
    z, labels, _ = _batch()
    torch.manual_seed(0)
    loss = SimLAP(4, z.shape[1], pairing="identical", classifier=False).double()
    logits = gated_cosine(z, loss.gate(labels, labels).double()) / loss.temperature
    assert torch.allclose(logits.diagonal(), torch.full((len(z),), 1 / loss.temperature, dtype=z.dtype))
    same = labels[:, None] == labels[None, :]
    assert torch.allclose(loss(z, labels), multipositive_ce(logits, same, ~same), atol=1e-12)


def test_a_partner_class_absent_from_the_batch_gives_no_positive_and_a_finite_loss():
    z, labels, _ = _batch(b=6, classes=3)
    loss = SimLAP(5, z.shape[1]).double()
    value = loss(z.requires_grad_(True), labels, torch.full_like(labels, 4))  # class 4 is not in the batch
    (grad,) = torch.autograd.grad(value, z)
    assert torch.isfinite(value) and torch.equal(grad, torch.zeros_like(grad))  # only the (detached) head's CE


def test_bad_arguments_are_named():
    z, labels, partners = _batch()
    loss = SimLAP(4, z.shape[1]).double()
    with pytest.raises(ValueError, match="partner_labels"):
        loss(z, labels, partners[:-1])
    with pytest.raises(ValueError, match="partner_labels"):
        loss(z, labels, torch.full_like(partners, 4))
    with pytest.raises(ValueError, match="embeddings.*2 rows"):
        loss(z[:1], labels[:1])
    loss.eval()
    assert torch.isfinite(loss(z[:1], labels[:1]))  # one anchor is fine for the gate's BatchNorm in eval mode
    with pytest.raises(ValueError, match="positives"):
        multipositive_ce(z[:, :3], torch.ones(12, 3), torch.ones(12, 3, dtype=torch.bool))
    for key, value in (("label_dim", 0), ("hidden_dim", 1.5), ("classifier", 1), ("pairing", "random")):
        with pytest.raises(ValueError, match=key):
            losses.get("simlap", num_classes=4, embedding_dim=6, **{key: value})
