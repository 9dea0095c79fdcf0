"""MIDAM training for bag AUC (``fit_midam``) and LibAUC's MIDAM optimiser step (``MIDAMOptimizer``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._checks import check_choice, check_flag, check_int, check_number
from ..losses import get as get_loss
from ..losses.midam import MIDAMAttention, smoothed_max
from .history import History
from .loop import _check_schedule, _start
from .mil_hard import _loop


class MIDAMOptimizer(torch.optim.Optimizer):
    r"""LibAUC's ``MIDAM`` optimiser (``libauc/optimizers/midam.py``, LibAUC 2.0.1) for a
    :class:`workbench.losses.MIDAM` loss: on the model's parameters and the loss's ``a``, ``b``,

    .. math:: d = g + \lambda p,\quad v \leftarrow \beta v + (1-\beta) d\ (v = d \text{ at the first step}),
              \quad p \leftarrow p - \eta v,

    then the dual step :math:`\alpha \leftarrow \max(0, \alpha + \eta(c + b - a - \alpha))` with the updated
    a, b (``momentum`` :math:`\beta`, 0 = plain SGD; ``weight_decay`` :math:`\lambda`, applied to a and b
    too, as LibAUC). The loss's own reversed gradient on ``alpha`` is ignored here."""

    def __init__(self, params, loss: nn.Module, lr: float = 0.1, momentum: float = 0.0, weight_decay: float = 0.0):
        for name in ("a", "b", "alpha", "margin"):
            if not hasattr(loss, name):
                raise ValueError(f"loss must be a MIDAM loss (with a, b, alpha, margin), got {type(loss).__name__}")
        check_number(lr, "lr", low=0.0)
        check_number(momentum, "momentum", low=0.0, high=1.0)
        check_number(weight_decay, "weight_decay", low=0.0)
        self.loss = loss
        super().__init__(list(params) + [loss.a, loss.b], dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        value = None
        if closure is not None:
            with torch.enable_grad():
                value = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad
                if group["momentum"]:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = d.clone()
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(d, alpha=1 - group["momentum"])
                    d = state["momentum_buffer"]
                p.add_(d, alpha=-group["lr"])
            loss = self.loss
            step = loss.margin + loss.b - loss.a - loss.alpha
            loss.alpha.copy_((loss.alpha + group["lr"] * step).clamp(min=0))
        return value


def sample_instances(mask: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Up to ``k`` real instances of every bag, uniformly without replacement (LibAUC ``MIL_sampling``:
    ``min(bag_size, instance_batch_size)`` of them): a ``[B, N]`` mask inside ``mask``."""
    check_int(k, "k", low=1)
    out = torch.zeros_like(mask)
    for b in range(mask.shape[0]):
        real = mask[b].nonzero().flatten()
        out[b, real[torch.randperm(len(real), generator=generator)[:k].to(real.device)]] = True
    return out


def fit_midam(model: nn.Module, data, *, loss: nn.Module | None = None, epochs: int = 10, lr: float = 0.1,
              batch_size: int = 16, seed: int = 0, instances: int = 4, pooling: str = "softmax",
              optimizer: str = "midam", momentum: float = 0.1, weight_decay: float = 0.0,
              metrics: Callable | None = None, device: str | torch.device = "cpu", verbose: bool = True) -> History:
    r"""MIDAM (Zhu et al., ICML 2023): maximise bag AUC with stochastic smoothed-max pooling.

    ``model`` scores instances (:class:`workbench.models.MILModel` with ``pooling="instance"``: its
    ``instance_scores`` are :math:`\phi`). Each step takes ``batch_size`` bags, samples ``instances`` of each
    (official ``instance_batch_size`` 4), and feeds their smoothed max (:func:`workbench.losses.smoothed_max`
    with the loss's ``tau``) and the bag ids to ``loss`` (default ``losses.get("midam")``), whose moving
    average per bag stands in for the whole bag. ``optimizer="midam"``: :class:`MIDAMOptimizer` (LibAUC's,
    lr 0.1 and momentum 0.1 as its README example; our choice for digits), or ``"adam"`` (Adam at ``lr``
    on the model, a, b and alpha through its reversed gradient; ``momentum`` unused). LibAUC also samples
    batches with a positive ratio (``DualSampler``) and decays lr and gamma by epoch; here batches are plain
    shuffles. The bag score at evaluation is the smoothed max over all instances (LibAUC ``MIL_aggregation``).

    ``pooling="attention"`` (MIDAM-att): ``model`` is an attention :class:`workbench.models.MILModel` (one
    branch); per bag the loss (default :class:`workbench.losses.MIDAMAttention`) gets the means over the sampled
    instances of :math:`e^{g}\delta` and :math:`e^{g}` (attention logits g, instance scores
    :math:`\delta = w^\top h + b` from the bag classifier), whose ratio is the model's bag logit.
    """
    _check_schedule(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, weight_decay=weight_decay)
    check_int(instances, "instances", low=1)
    check_choice(optimizer, "optimizer", ("midam", "adam"))
    check_choice(pooling, "pooling", ("softmax", "attention"))
    if pooling == "attention" and (getattr(model, "pooling", None) not in ("attention", "gated")
                                   or getattr(model, "branches", 1) != 1 or getattr(model, "num_classes", 1) != 1):
        raise ValueError("pooling='attention' needs a one-branch, one-logit attention MILModel")
    check_flag(verbose, "verbose")
    if loss is None:
        loss = MIDAMAttention(num_samples=data.n_train) if pooling == "attention" else get_loss(
            "midam", num_samples=data.n_train)
    generator, _, adam = _start(model, loss, seed=seed, device=device, lr=lr, weight_decay=weight_decay)
    opt = adam if optimizer == "adam" else MIDAMOptimizer(model.parameters(), loss, lr=lr, momentum=momentum,
                                                          weight_decay=weight_decay)

    def step(idx, epoch, progress):
        X, mask, y, _ = data.padded("train", idx)
        X, mask, y = X.to(device), mask.to(device), y.to(device)
        sampled = sample_instances(mask, instances, generator)
        if pooling == "softmax":
            scores = model(X, sampled).instance_scores
            return loss(smoothed_max(scores, sampled, tau=loss.tau), y, index=idx.to(device))
        H = model.encoder(X.flatten(0, 1)).view(*mask.shape, -1)
        weights = model.pool(H, sampled, generator).attention_logits[:, 0].exp()  # 0 off the sample
        delta = model.classifier(H)[..., 0]
        n = sampled.sum(1).to(H.dtype)
        sn, sd = (weights * delta).sum(1) / n, weights.sum(1) / n
        return loss(sn, sd, y, index=idx.to(device))

    return _loop(model, data, epochs, batch_size, data.n_train, generator, opt, step, lambda t: None, metrics,
                 "fit_midam", verbose, device)
