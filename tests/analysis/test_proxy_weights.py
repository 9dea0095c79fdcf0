"""analysis.proxy_weights / proxy_weight_curve: the proxy-to-sample weights dL/dS of margin-kind losses."""

import math

import numpy as np
import pytest
import torch

from workbench import analysis, losses


def test_proxy_anchor_weights_match_the_hand_formula():
    # Kim et al. 2020, eq. 4 differentiated by hand: for proxy p, a positive x is pulled with
    # dL/ds = -(α/|P+|) e^{-α(s-δ)} / (1 + Σ_{x'∈X_p+} e^{-α(s'-δ)}), a negative pushed with
    # dL/ds = (α/|P|) e^{α(s+δ)} / (1 + Σ_{x'∈X_p-} e^{α(s'+δ)}).
    a, d = 8.0, 0.1
    loss = losses.get("proxy_anchor", num_classes=2, embedding_dim=2, alpha=a, margin=d)
    f = analysis.proxy_weight_curve(loss, [0.1, 0.5, 0.9], "positive", positive=0.5, negative=0.0, per_class=4)
    for s, w in zip(f["similarity"], f["weight"]):
        rest = 3 * math.exp(-a * (0.5 - d))
        assert w == pytest.approx(-(a / 2) * math.exp(-a * (s - d)) / (1 + math.exp(-a * (s - d)) + rest), rel=1e-9)
    f = analysis.proxy_weight_curve(loss, [-0.2, 0.3], "negative", positive=0.5, negative=0.0, per_class=4)
    for s, w in zip(f["similarity"], f["weight"]):
        rest = 3 * math.exp(a * d)
        assert w == pytest.approx((a / 2) * math.exp(a * (s + d)) / (1 + math.exp(a * (s + d)) + rest), rel=1e-9)


def test_proxy_weights_are_the_gradient_through_the_real_cosines():
    torch.manual_seed(0)
    loss = losses.get("proxy_anchor", num_classes=3, embedding_dim=4).double()
    x, y = torch.randn(6, 4, dtype=torch.float64, requires_grad=True), torch.tensor([0, 0, 1, 1, 2, 2])
    w = analysis.proxy_weights(loss, x, y)
    # chain rule: dL/dx = Σ_c w_ic dS_ic/dx, with S the cosines the loss computes itself
    s = loss.cosine(x)
    (via_weights,) = torch.autograd.grad((w * s).sum(), x)
    (direct,) = torch.autograd.grad(loss(x, y), x)
    torch.testing.assert_close(via_weights, direct)
    assert (w[torch.arange(6), y] <= 0).all() and "cosine" not in vars(loss)  # pulls; the method is restored


def test_proxy_weight_curve_leaves_the_loss_alone_and_checks_arguments():
    loss = losses.get("proxy_anchor", num_classes=2, embedding_dim=2)
    before = loss.weight.detach().clone()
    analysis.proxy_weight_curve(loss, np.linspace(-1, 1, 5))
    assert loss.weight.dtype == torch.float32 and torch.equal(loss.weight, before)
    with pytest.raises(ValueError, match="which"):
        analysis.proxy_weight_curve(loss, [0.0], "both")
    with pytest.raises(ValueError, match="num_classes=2"):
        analysis.proxy_weight_curve(losses.get("proxy_anchor", num_classes=3, embedding_dim=2), [0.0])
    with pytest.raises(ValueError, match="cosine"):
        analysis.proxy_weights(losses.get("triplet"), torch.zeros(2, 2), torch.tensor([0, 1]))


def test_proxy_weights_refuses_a_loss_that_does_not_read_its_cosines():
    class Elsewhere(torch.nn.Module):
        def cosine(self, x):
            return x

        def forward(self, x, y):
            return x.sum()

    with pytest.raises(ValueError, match="reads .cosine"):
        analysis.proxy_weights(Elsewhere(), torch.zeros(2, 2), torch.tensor([0, 1]))
    # ProxyNCA reads them (its logits are -s(2 - 2 cos)): the chain rule through its weights gives the gradient
    loss = losses.get("proxy_nca", num_classes=3, embedding_dim=4).double()
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 1])
    w = analysis.proxy_weights(loss, x, y)
    (via_weights,) = torch.autograd.grad((w * loss.cosine(x)).sum(), x)
    (direct,) = torch.autograd.grad(loss(x, y), x)
    torch.testing.assert_close(via_weights, direct)
