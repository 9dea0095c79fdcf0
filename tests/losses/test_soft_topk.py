"""DEXML's soft top-k criterion (``soft_topk``) against a transcription of the official code:
nilesh2797/DEXML@7690769 ``utils/topk_utils.py`` (``_dist_find_ts``, ``DistLogTopK``, single process) and the
``loss_criterion == 'topk'`` branch of ``SimLoss.compute_loss`` in ``losses.py`` (targets as the
``(target_inds, target_vals)`` tuple, ``filter_non_local_yinds`` the identity on one GPU)."""

import pytest
import torch

from workbench import losses

# --- transcription of the official code (one process: every dist.* call is a no-op) -------------------------


@torch.no_grad()
def official_find_ts(xs, k, alpha=1, n_iter=64):
    lo = -xs.max(dim=1, keepdims=True).values - 10 / alpha
    hi = -xs.min(dim=1, keepdims=True).values + 10 / alpha
    for _ in range(n_iter):
        mid = (hi + lo) / 2
        sigmoid_sum = torch.sigmoid(alpha * (xs + mid)).sum(dim=1)
        mask = sigmoid_sum < k
        lo[mask] = mid[mask]
        hi[~mask] = mid[~mask]
    ts = (lo + hi) / 2
    logits = alpha * (xs + ts)
    log_sig = logits - torch.logaddexp(logits, torch.zeros_like(logits[:, :1]))
    return logits, log_sig


class OfficialLogTopK(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xs, k, alpha, n_iter=32):
        logits, log_sig = official_find_ts(xs, k, alpha=alpha, n_iter=n_iter)
        ctx.save_for_backward(torch.tensor(alpha), logits)
        return log_sig

    @staticmethod
    def backward(ctx, grad_output):
        alpha, logits = ctx.saved_tensors
        sig_x = torch.sigmoid(logits)
        v = alpha * sig_x * (1 - sig_x)
        s = v.sum(dim=1, keepdims=True)
        uv = grad_output * alpha * (1 - sig_x)
        uv_sum = uv.sum(dim=1, keepdims=True)
        t1 = -uv_sum * v / s
        return t1.add_(uv), None, None, None


def official_topk_loss(sim, target_vals, topk_K=5, topk_alpha=2, topk_n_iter=32, loss_sample=True):
    """``SimLoss.compute_loss`` for 'topk' with dense targets: target_inds = every column."""
    eps = 1e-8
    target_inds = torch.arange(sim.shape[1]).expand(sim.shape[0], -1)
    with torch.no_grad():
        nnz = (target_vals > eps).nonzero(as_tuple=True)
        pos_cols = target_inds[nnz[0], nnz[1]]
        pos_rows = torch.repeat_interleave(torch.arange(target_inds.shape[0]), (target_vals > eps).sum(dim=1))
        num_pos = (target_vals > eps).sum(dim=1)
    if loss_sample or (isinstance(topk_K, int) and topk_K < target_inds.shape[1]):
        with torch.no_grad():
            num_pos_sample = min(topk_K, target_inds.shape[1])
            b_y_inds = torch.multinomial(target_vals.double(), num_pos_sample, replacement=False)
            y_inds = target_inds.gather(1, b_y_inds)
            y_vals = target_vals.gather(1, b_y_inds)
            pos_rows, pos_cols = y_vals.nonzero(as_tuple=True)
            pos_cols = y_inds[pos_rows, pos_cols]
            non_sampled_pos_vals = target_vals > eps
            non_sampled_pos_vals.scatter_(1, b_y_inds, False)
            nnz = non_sampled_pos_vals.nonzero(as_tuple=True)
            non_sampled_pos_cols = target_inds[nnz[0], nnz[1]]
            non_sampled_pos_rows = torch.repeat_interleave(torch.arange(target_inds.shape[0]),
                                                           non_sampled_pos_vals.sum(dim=1))
            num_pos = (y_vals > eps).sum(dim=1)
        sim = sim.clone()  # the official code writes into its (non-leaf) sim in place
        sim[non_sampled_pos_rows, non_sampled_pos_cols] = -100.0
    log_topk = OfficialLogTopK.apply(sim, topk_K, topk_alpha, topk_n_iter)
    pos_log_topk = log_topk[pos_rows, pos_cols] / num_pos[pos_rows]
    return -pos_log_topk.sum() / sim.shape[0]


# --- tests ----------------------------------------------------------------------------------------------------

def _scores_and_relevance(seed, batch=6, labels=12, max_pos=4, min_pos=1):
    g = torch.Generator().manual_seed(seed)
    scores = (torch.randn(batch, labels, generator=g, dtype=torch.float64) * 4).requires_grad_(True)
    relevance = torch.zeros(batch, labels, dtype=torch.float64)
    for i in range(batch):
        n = int(torch.randint(min_pos, max_pos + 1, (1,), generator=g))
        relevance[i, torch.randperm(labels, generator=g)[:n]] = 1.0
    return scores, relevance


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("k", "alpha"), [(5, 2.0), (3, 0.5), (1, 4.0)])
def test_value_and_gradient_equal_the_official_code(seed, k, alpha):
    # at most k positives per query: DEXML's draw keeps them all, so the official value is deterministic
    scores, relevance = _scores_and_relevance(seed, max_pos=k)
    ours = losses.soft_topk_scores(scores, relevance, k=k, alpha=alpha)
    (g_ours,) = torch.autograd.grad(ours, scores)
    theirs = official_topk_loss(scores, relevance, topk_K=k, topk_alpha=alpha)
    (g_theirs,) = torch.autograd.grad(theirs, scores)
    # the official bisection stops after 32 halvings of a bracket ~ 2·max|s| + 10: t to ~1e-8
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6, abs=1e-7)
    assert torch.allclose(g_ours, g_theirs, rtol=1e-5, atol=1e-7)
    # run to convergence (64 halvings, _find_ts's default), the official value is ours up to the rounding of
    # Σσ near the root (t is found to ~1e-16 / Σσ', ill-conditioned when few sigmoids are unsaturated)
    converged = official_topk_loss(scores, relevance, topk_K=k, topk_alpha=alpha, topk_n_iter=64)
    assert ours.item() == pytest.approx(converged.item(), rel=1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_sample_draws_k_positives_like_the_official_code(seed):
    # more than k positives per query: with the same RNG state both draw the same k (torch.multinomial on the same
    # relevance), mask the others to -100 and give the same value
    scores, relevance = _scores_and_relevance(seed, max_pos=9, min_pos=6)
    torch.manual_seed(seed)
    ours = losses.soft_topk_scores(scores, relevance, sample=True)
    torch.manual_seed(seed)
    theirs = official_topk_loss(scores, relevance, topk_n_iter=64)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    # the deterministic default keeps all positives: a different (larger: more positives must fit in k) value
    assert losses.soft_topk_scores(scores, relevance).item() > ours.item()


def test_threshold_makes_the_indicators_sum_to_k_and_loss_vanishes_for_clear_top_k():
    scores, _ = _scores_and_relevance(5)
    for k, alpha in [(5, 2.0), (2, 0.3), (11, 1.0)]:
        t = losses.soft_topk_threshold(scores, k, alpha)
        total = torch.sigmoid(alpha * (scores + t)).sum(1)
        assert torch.allclose(total, torch.full_like(total, float(k)), atol=1e-10)
    # positives 50 (in units of s) above every negative: the soft indicators of the two positives are ~1
    s = torch.tensor([[60.0, 55.0, 1.0, 0.0, -2.0, 3.0, 2.0]], dtype=torch.float64)
    r = torch.tensor([[1.0, 1.0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    assert losses.soft_topk_scores(s, r, k=2).item() < 1e-8
    # k >= L: everything is in the top k (the official code asserts k < L)
    assert losses.soft_topk_scores(s, r, k=7).item() == 0.0


def test_positives_do_not_compete_while_there_are_at_most_k():
    # two positives: raising one positive's score barely changes the other's term under soft top-k (both need only
    # beat the negatives), while the multi-positive softmax penalises the other positive for it
    s = torch.tensor([[4.0, 3.0, 0.0, -1.0, 0.5, -0.5, 0.2, 0.1]], dtype=torch.float64)
    r = torch.zeros_like(s)
    r[0, :2] = 1
    raised = s.clone()
    raised[0, 0] = 8.0
    log_second = [losses.soft_topk_log_indicator(v, 5, 2.0)[0, 1].item() for v in (s, raised)]
    soft_second = [torch.log_softmax(v, 1)[0, 1].item() for v in (s, raised)]
    assert abs(log_second[1] - log_second[0]) < 1e-3
    assert soft_second[0] - soft_second[1] > 1.0


def test_module_matches_the_scores_form_and_checks_its_arguments():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = torch.randn(8, 5, generator=g, dtype=torch.float64)
    relevance = (torch.rand(8, 8, generator=g, dtype=torch.float64) < 0.3).double()
    relevance.fill_diagonal_(1.0)
    loss = losses.get("soft_topk", temperature=0.1, k=3, alpha=2.0, reduction="none")
    scores = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(y, dim=1).T / 0.1
    assert torch.allclose(loss(x, y, relevance), losses.soft_topk_scores(scores, relevance, k=3, reduction="none"))
    assert torch.allclose(loss(x, y, relevance).mean(),
                          losses.soft_topk_loss(x, y, relevance, temperature=0.1, k=3))
    defaults = losses.get("soft_topk")
    assert (defaults.temperature, defaults.k, defaults.alpha, defaults.sample) == (0.05, 5, 2.0, False)
    with pytest.raises(ValueError, match="k"):
        losses.get("soft_topk", k=0)
    with pytest.raises(ValueError, match="alpha"):
        losses.soft_topk_scores(scores, relevance, alpha=0.0)
    with pytest.raises(ValueError, match="relevance"):
        losses.soft_topk_scores(scores, -relevance)
    with pytest.raises(ValueError, match="relevance"):
        losses.soft_topk_scores(scores, relevance[:, :3])
