"""MHIM-MIL's consistency loss and INS's instance losses against the spec's reference values (spec wave 2
§5.1, §5.2, derived there by hand) and against hand-written loops of the official code."""

import math

import pytest
import torch
import torch.nn.functional as F

from workbench import losses
from workbench.models import DistillOutputs


def test_mhim_consistency_matches_the_spec():
    # spec wave 2 §5.1 [DERIVED]: s = [0.5, 1, -0.5, 0.2], t = [0.3, 1.2, -0.4, 0]
    s, t = torch.tensor([[0.5, 1.0, -0.5, 0.2]]), torch.tensor([[0.3, 1.2, -0.4, 0.0]])
    assert losses.mhim_consistency(s, t).item() == pytest.approx(0.823799, abs=1e-6)
    assert losses.mhim_consistency(s, t, temperature=1.0).item() == pytest.approx(1.21495, abs=1e-5)
    # s = t, tau_t = tau_s = 1: the entropy of softmax(s)
    assert losses.mhim_consistency(s, s, temperature=1.0).item() == pytest.approx(1.26139, abs=1e-5)


def test_mhim_consistency_sends_no_gradient_to_the_teacher():
    s = torch.randn(3, 5, requires_grad=True)
    t = torch.randn(3, 5, requires_grad=True)
    losses.get("mhim_consistency")(s, t).backward()
    assert s.grad is not None and t.grad is None


def test_mhim_objective_is_cross_entropy_plus_weighted_consistency():
    g = torch.Generator().manual_seed(0)
    logits, t_logits = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    feats, t_feats = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    y = torch.tensor([0, 1, 2, 1])
    loss = losses.get("mhim_consistency", weight=0.3)
    out = DistillOutputs(logits, None, feats, t_logits, t_feats)
    expected = F.cross_entropy(logits, y) + 0.3 * losses.mhim_consistency(feats, t_feats)
    assert loss.objective(out, y).item() == pytest.approx(expected.item(), rel=1e-6)
    no_feats = DistillOutputs(logits, None, None, t_logits, None)  # a generic pair: the consistency on logits
    expected = F.cross_entropy(logits, y) + 0.3 * losses.mhim_consistency(logits, t_logits)
    assert loss.objective(no_feats, y).item() == pytest.approx(expected.item(), rel=1e-6)


def test_ins_partial_loss_and_confidence_update_match_the_spec():
    # spec wave 2 §5.2 [DERIVED]
    o = torch.tensor([[2.0, -1.0], [0.0, 0.5], [1.0, 1.0]])
    c = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.3, 0.7]])
    assert losses.ins_partial_loss(o, c).item() == pytest.approx(0.488604, abs=1e-6)
    new = losses.ins_confidence_update(torch.tensor([[0.5, 0.5]]), torch.tensor([[0.2, 0.8]]),
                                       torch.tensor([[1.0, 1.0]]), 0.95)
    assert torch.allclose(new, torch.tensor([[0.475, 0.525]]))
    # an instance of a negative bag (candidates {0}) stays [1, 0] whatever its prototype says
    fixed = losses.ins_confidence_update(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.1, 0.9]]),
                                         torch.tensor([[1.0, 0.0]]), 0.5)
    assert torch.equal(fixed, torch.tensor([[1.0, 0.0]]))


def test_ins_partial_loss_refuses_bad_confidence():
    with pytest.raises(ValueError, match="confidence"):
        losses.ins_partial_loss(torch.zeros(2, 2), torch.tensor([[0.7, 0.7], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="confidence"):
        losses.ins_partial_loss(torch.zeros(2, 2), torch.ones(3, 2) / 2)


def _official_supcon(features, labels, batch_size, temperature):
    """A loop over anchors of micciaif/INS utils/utils_loss.py SupConLoss (partial-label mode)."""
    total = 0.0
    for i in range(batch_size):
        sims = [float(features[i] @ features[a]) / temperature for a in range(len(features))]
        denom = math.log(sum(math.exp(sims[a]) for a in range(len(features)) if a != i))
        pos = [a for a in range(len(features)) if a != i and labels[a] == labels[i]]
        total += -sum(sims[p] - denom for p in pos) / len(pos)
    return total / batch_size


def _official_moco(features, batch_size, temperature):
    total = 0.0
    for i in range(batch_size):
        pos = float(features[i] @ features[batch_size + i]) / temperature
        negs = [float(features[i] @ features[a]) / temperature for a in range(2 * batch_size, len(features))]
        total += -(pos - math.log(math.exp(pos) + sum(math.exp(n) for n in negs)))
    return total / batch_size


def test_ins_contrastive_matches_loops_of_the_official_code():
    g = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(3, 4, generator=g, dtype=torch.float64), dim=1)
    k = F.normalize(q + 0.1 * torch.randn(3, 4, generator=g, dtype=torch.float64), dim=1)
    queue = F.normalize(torch.randn(5, 4, generator=g, dtype=torch.float64), dim=1)
    features = torch.cat([q, k, queue])
    pseudo = torch.tensor([0, 1, 0])
    labels = torch.cat([pseudo, pseudo, torch.tensor([1, 1, 0, 0, 1])])
    got = losses.ins_contrastive(features, 3, labels, temperature=0.5, base_temperature=0.5)
    assert got.item() == pytest.approx(_official_supcon(features, labels.tolist(), 3, 0.5), rel=1e-9)
    got = losses.ins_contrastive(features, 3, None, temperature=0.5)
    assert got.item() == pytest.approx(_official_moco(features, 3, 0.5), rel=1e-9)


def test_ins_contrastive_is_finite_and_validates():
    f = F.normalize(torch.randn(6, 4, dtype=torch.float64), dim=1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: losses.ins_contrastive(x, 3, torch.tensor([0, 0, 1, 0, 0, 1])), (f,))
    assert torch.isfinite(losses.ins_contrastive(f.detach(), 3, torch.zeros(6, dtype=torch.long), temperature=0.01))
    with pytest.raises(ValueError, match="batch_size"):
        losses.ins_contrastive(f, 4, None)
    with pytest.raises(ValueError, match="temperature"):
        losses.ins_contrastive(f, 3, None, temperature=0.0)
