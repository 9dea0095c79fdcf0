"""Long-tail losses pinned against their references: focal (hand computation and torchvision's sigmoid form),
logit adjustment (the official google-research code's formula), DatasetEquity's weights (official README) and
SBCL (a transcription of the official ``SupConLoss_rank``), plus the long-tail measurements and SBCL's
clustering step. Reference numbers: ../shared/reference/losses-wave2.md §3 (recomputed there in float64)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score

from workbench import analysis, losses, train

Z = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)


def test_focal_matches_the_hand_computed_softmax_form():
    # -(1 - p_0)^2 log p_0 with p = softmax([1, 2, 3]) written out; spec §3.1: 1.99360 (gamma 2), 2.40761 (gamma 0)
    p0 = math.e / (math.e + math.e ** 2 + math.e ** 3)
    assert losses.get("focal")(Z, torch.tensor([0])).item() == pytest.approx((1 - p0) ** 2 * -math.log(p0), rel=1e-12)
    assert losses.get("focal")(Z, torch.tensor([0])).item() == pytest.approx(1.99360, abs=1e-5)
    assert losses.get("focal", gamma=0.0)(Z, torch.tensor([0])).item() == pytest.approx(2.40761, abs=1e-5)
    assert torch.allclose(losses.get("focal", gamma=0.0, reduction="none")(Z.repeat(3, 1), torch.arange(3)),
                          F.cross_entropy(Z.repeat(3, 1), torch.arange(3), reduction="none"))


def _torchvision_sigmoid_focal(x, t, alpha=0.25, gamma=2.0):
    # torchvision/ops/focal_loss.py (pytorch/vision@148ddaa, from fvcore), transcribed: reduction 'none'
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    return (alpha * t + (1 - alpha) * (1 - t)) * loss if alpha >= 0 else loss


def test_focal_with_two_classes_is_torchvisions_sigmoid_focal_loss():
    # softmax([0, x])_1 = sigmoid(x): the softmax form with class weights [1 - alpha, alpha] is the sigmoid form.
    x = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    t = torch.tensor([1, 0, 0])
    logits = torch.stack([torch.zeros_like(x), x], dim=1)
    ours = losses.get("focal", alpha=torch.tensor([0.75, 0.25], dtype=torch.float64), reduction="none")(logits, t)
    expected = _torchvision_sigmoid_focal(x, t.double())
    assert torch.allclose(ours, expected, rtol=1e-12)
    assert torch.allclose(ours, torch.tensor([4.50891e-4, 0.0169935, 0.283059], dtype=torch.float64), rtol=1e-5)
    plain = losses.get("focal", gamma=1.5, reduction="none")(logits, t)  # alpha < 0 in torchvision: no weights
    assert torch.allclose(plain, _torchvision_sigmoid_focal(x, t.double(), alpha=-1, gamma=1.5), rtol=1e-12)


def test_focal_down_weights_easy_samples_relative_to_cross_entropy():
    # The focal/CE ratio is (1 - p_y)^gamma: near 0 for a confident correct sample, near 1 for a wrong one.
    logits = torch.tensor([[6.0, 0.0, 0.0], [0.0, 6.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([0, 0])
    ratio = losses.get("focal", reduction="none")(logits, target) / F.cross_entropy(logits, target, reduction="none")
    p = torch.softmax(logits, 1)[:, 0]
    assert torch.allclose(ratio, (1 - p) ** 2)
    assert ratio[0] < 1e-4 < 0.99 < ratio[1]


def test_focal_checks_alpha():
    for bad in (torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 1.0, 1.0]), torch.tensor([math.nan, 1.0, 1.0])):
        with pytest.raises(ValueError, match="alpha"):
            losses.focal(Z, torch.tensor([0]), alpha=bad)
    with pytest.raises(ValueError, match="alpha"):
        losses.get("focal", alpha=torch.tensor([-1.0, 1.0, 1.0]))


PRIORS = torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64)


@pytest.mark.parametrize("tau, target, expected", [(1.0, 0, 1.04106), (1.0, 2, 0.986975),
                                                   (2.0, 0, 0.316778), (2.0, 2, 2.20860)])
def test_logit_adjusted_matches_the_official_formula(tau, target, expected):
    # google-research logit_adjustment/utils.py: CE(logits + log(pi^tau + 1e-12)); values from spec §3.2
    loss = losses.get("logit_adjusted", priors=PRIORS, tau=tau)
    value = loss(Z, torch.tensor([target])).item()
    assert value == pytest.approx(expected, abs=1e-5)
    official = F.cross_entropy(Z + torch.log(PRIORS ** tau + 1e-12), torch.tensor([target])).item()
    assert value == pytest.approx(official, rel=1e-12)


def test_logit_adjusted_properties():
    logits, target = torch.randn(8, 3, dtype=torch.float64), torch.arange(8) % 3
    ce = F.cross_entropy(logits, target)
    assert torch.allclose(losses.get("logit_adjusted", priors=PRIORS, tau=0.0)(logits, target), ce)
    assert torch.allclose(losses.get("logit_adjusted")(logits, target), ce)  # no priors: uniform, i.e. CE
    # priors need not sum to 1: a common factor is a constant shift of every logit
    assert torch.allclose(losses.get("logit_adjusted", priors=5 * PRIORS)(logits, target),
                          losses.get("logit_adjusted", priors=PRIORS)(logits, target))
    # a class of prior 0 gets the official guard's finite offset log(1e-12)
    zero = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    assert torch.allclose(losses.prior_offsets(zero), torch.tensor([math.log(0.5), math.log(0.5), -27.631021],
                                                                   dtype=torch.float64))
    for bad in (torch.tensor([0.5, 0.5]), torch.tensor([-0.1, 0.6, 0.5]), torch.zeros(3)):
        with pytest.raises(ValueError, match="priors"):
            losses.logit_adjusted(logits, target, priors=bad)


def test_posthoc_logit_adjustment_is_the_official_posthoc_mode():
    # spec §3.2: z - log(pi) = [1.35667, 3.60944, 5.30259]
    adjusted = analysis.posthoc_logit_adjustment(Z, PRIORS)
    assert torch.allclose(adjusted, torch.tensor([[1.35667, 3.60944, 5.30259]], dtype=torch.float64), atol=1e-5)
    assert torch.allclose(analysis.posthoc_logit_adjustment(Z, PRIORS, tau=0.0), Z, rtol=0, atol=1e-11)  # log(1+1e-12)


def test_dataset_equity_weights_match_the_official_formula():
    # towardsautonomy/DatasetEquity README: w = (eta + (1 - p)^gamma) / (eta + 1), eta 1, gamma 5; spec §3.5
    p = torch.tensor([0.0, 0.01, 0.5, 0.9, 1.0], dtype=torch.float64)
    assert torch.allclose(losses.equity_weights(p), torch.tensor([1.0, 0.975495, 0.515625, 0.500005, 0.5],
                                                                 dtype=torch.float64), atol=1e-6)
    logits, target = torch.randn(5, 3, dtype=torch.float64), torch.arange(5) % 3
    ce = F.cross_entropy(logits, target, reduction="none")
    value = losses.get("dataset_equity", reduction="none")(logits, target, p)
    assert torch.allclose(value, losses.equity_weights(p) * ce)
    assert torch.allclose(losses.get("dataset_equity")(logits, target), ce.mean())  # no likelihoods: CE
    for bad in (torch.tensor([0.1, 1.5, 0.0, 0.0, 0.0], dtype=torch.float64), p[:3]):
        with pytest.raises(ValueError, match="likelihood"):
            losses.dataset_equity(logits, target, bad)


def test_cluster_likelihoods():
    ids = torch.tensor([0, 0, 0, 1, -1, -1])  # DBSCAN noise (-1) counts as one more cluster, as officially
    assert torch.allclose(analysis.cluster_likelihoods(ids), torch.tensor([3, 3, 3, 1, 2, 2]).double() / 6)
    assert torch.allclose(analysis.cluster_likelihoods(ids, scaled=True), torch.tensor([3, 3, 3, 1, 2, 2]).double() / 3)


# --- SBCL ------------------------------------------------------------------------------------------------------

def _official_rank_loss(features, labels, cluster_target, ranking_temperature, temperature=0.1, grama=0.25,
                        base_temperature=0.07):
    """JackHck/SBCL SimCLR/loss.py ``SupConLoss_rank.forward`` transcribed (cuda calls dropped, float64)."""
    batch_size = features.shape[0]
    cluster_target = cluster_target.contiguous().view(-1, 1)
    mask = torch.eq(cluster_target, cluster_target.T).double()
    contrast_count = features.shape[1]
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_feature, anchor_count = contrast_feature, contrast_count
    anchor_dot_contrast = torch.div(torch.matmul(anchor_feature, contrast_feature.T), temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    one_hot_labels = F.one_hot(labels, num_classes=len(ranking_temperature)).repeat(anchor_count, 1).double()
    rt = torch.matmul(one_hot_labels, ranking_temperature.double())[:, None]  # official: [N] -> [N, 1]
    anchor_rank_contrast = torch.div(torch.matmul(anchor_feature, contrast_feature.T), rt)
    logits_rank_max, _ = torch.max(anchor_rank_contrast, dim=1, keepdim=True)
    logits_rank = anchor_rank_contrast - logits_rank_max.detach()
    mask = mask.repeat(anchor_count, contrast_count)
    logits_mask = torch.scatter(torch.ones_like(mask), 1, torch.arange(batch_size * anchor_count).view(-1, 1), 0)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    labels = labels.contiguous().view(-1, 1)
    label_mask = torch.eq(labels, labels.T).double().repeat(anchor_count, contrast_count)
    logits_label_mask = (~mask.bool()).double() * logits_mask
    index = list(range(batch_size, batch_size * anchor_count)) + list(range(batch_size))
    ad_mask = torch.scatter(torch.zeros(mask.shape, dtype=torch.float64), 0, torch.tensor([index]), 1)
    exp_logits_rank = torch.exp(logits_rank) * (ad_mask + logits_label_mask)
    label_mask = ad_mask + logits_label_mask * label_mask
    log_prob_rank = logits_rank - torch.log(exp_logits_rank.sum(1, keepdim=True))
    mean_log_label_pos = (label_mask * log_prob_rank).sum(1) / label_mask.sum(1)
    loss = -(temperature / base_temperature) * mean_log_prob_pos - grama * mean_log_label_pos
    return loss.mean()


def _spec_views():
    # spec §3.3: x0..x3 two views each (normalised), labels [0,0,0,1], subclasses [0,0,1,2], tau_c = [0.1, 0.1]
    x = torch.tensor([[[1, 0, 0], [.9, .1, 0]], [[.8, .3, 0], [.7, .4, .1]], [[0, 1, .2], [.1, .9, .3]],
                      [[0, .2, 1], [.1, .1, .9]]], dtype=torch.float64)
    return F.normalize(x, dim=-1), torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 1, 2])


def test_sbcl_matches_the_spec_value_and_the_official_code():
    views, labels, subclasses = _spec_views()
    value = losses.get("sbcl")(views, labels, subclasses)
    assert value.item() == pytest.approx(1.79454, abs=1e-5)
    official = _official_rank_loss(views, labels, subclasses, torch.tensor([0.1, 0.1], dtype=torch.float64))
    assert value.item() == pytest.approx(official.item(), rel=1e-10)


def test_sbcl_matches_the_official_code_with_class_temperatures():
    g = torch.Generator().manual_seed(3)
    views = F.normalize(torch.randn(10, 2, 5, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    subclasses = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 3])
    temps = torch.tensor([0.08, 0.1, 0.13], dtype=torch.float64)
    loss = losses.get("sbcl")
    loss.set_clusters(subclasses, temps)
    value = loss(views, labels, index=torch.arange(10))  # subclasses read from the buffer through index
    assert value.item() == pytest.approx(_official_rank_loss(views, labels, subclasses, temps).item(), rel=1e-10)
    # the similarity form with instance-major rows gives the same value
    rows = views.reshape(20, 5)
    again = losses.sbcl_from_similarity(rows @ rows.T, labels.repeat_interleave(2), subclasses.repeat_interleave(2),
                                        class_temperatures=temps)
    assert again.item() == pytest.approx(value.item(), rel=1e-12)


def test_sbcl_without_subclasses_and_class_term_is_supcon():
    g = torch.Generator().manual_seed(0)
    views, labels = torch.randn(8, 2, 4, generator=g, dtype=torch.float64), torch.arange(8) % 3
    supcon = losses.get("supcon", temperature=0.1, base_temperature=0.07)(views, labels)
    assert torch.allclose(losses.get("sbcl", gamma=0.0)(views, labels), supcon)


def test_cluster_counts_follow_the_official_rule():
    # main.py: cluster_number = [t // max(min(cls_num_list), 10)], zeros set to 1
    assert train.cluster_counts([100, 50, 10, 5]) == [10, 5, 1, 1]
    assert train.cluster_counts([200, 40, 20], min_size=10) == [10, 2, 1]


def test_sbcl_clusters_recover_the_modes_of_a_head_class():
    g = torch.Generator().manual_seed(0)
    modes = torch.eye(4, dtype=torch.float64)[:3] * 5
    head = modes.repeat_interleave(10, 0) + 0.1 * torch.randn(30, 4, generator=g, dtype=torch.float64)
    tail = torch.tensor([[0, 0, 0, 5.0]], dtype=torch.float64) + 0.1 * torch.randn(10, 4, generator=g,
                                                                                   dtype=torch.float64)
    labels = torch.tensor([0] * 30 + [1] * 10)
    ids = train.sbcl_clusters(torch.cat([head, tail]), labels)
    assert len(set(ids[:30].tolist())) == 3 and set(ids[30:].tolist()) == {3}  # 30 // 10 = 3 subclasses, then 1
    for m in range(3):  # each mode is one subclass
        assert len(set(ids[10 * m:10 * m + 10].tolist())) == 1
    temps = train.density_temperatures(torch.cat([head, tail]), labels)
    assert temps[1] == 0.1 and temps[0] > 0  # one-subclass classes keep tau


def test_long_tail_metrics():
    pred, target = torch.tensor([0, 0, 1, 1, 2, 0]), torch.tensor([0, 0, 1, 2, 2, 2])
    assert torch.allclose(analysis.per_class_accuracy(pred, target, 3), torch.tensor([1.0, 1.0, 1 / 3],
                                                                                     dtype=torch.float64))
    assert analysis.balanced_accuracy(pred, target, 3) == pytest.approx(balanced_accuracy_score(target, pred))
    assert analysis.few_shot_accuracy(pred, target, [50, 20, 5], share=0.3) == pytest.approx(1 / 3)
    assert torch.allclose(analysis.class_priors(torch.tensor([0, 0, 1, 2]), 3),
                          torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64))


def test_dataset_equity_reads_held_likelihoods_through_the_sample_index():
    logits, target = torch.randn(4, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    held = torch.tensor([0.9, 0.1, 0.5, 0.0, 0.3], dtype=torch.float64)
    loss = losses.get("dataset_equity")
    loss.set_likelihoods(held)
    index = torch.tensor([4, 0, 2, 1])
    assert torch.equal(loss(logits, target, index=index), losses.dataset_equity(logits, target, held[index]))
    with pytest.raises(ValueError, match="index"):
        loss(logits, target, index=torch.tensor([5, 0, 1, 2]))  # beyond the held samples
    with pytest.raises(ValueError, match="likelihood"):
        loss.set_likelihoods(torch.tensor([1.5]))
