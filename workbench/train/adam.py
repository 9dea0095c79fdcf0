"""``Adam``: the optimiser of every training loop here, computed as ``torch.optim.Adam`` computes it by default.

Why not ``torch.optim.Adam`` itself: the networks trained here are tiny (a 64-128-64-D MLP on digits), so the
optimiser's Python dispatch was a third of every step (0.72 ms against 1.1 ms for forward and backward, measured on
2 cores), and the first step of any ``torch.optim`` optimiser imports TorchDynamo (about 2.5 s per process, for
every notebook kernel). This one does the same arithmetic in a few ``torch._foreach_*`` calls over all parameters
(0.23 ms a step) and never imports TorchDynamo. ``tests/train/test_adam.py`` checks that the parameters it gives
are bit for bit those of ``torch.optim.Adam`` (L2 weight decay, parameters without a gradient on some steps).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from .._checks import check_number


class Adam:
    r"""Adam (Kingma & Ba, ICLR 2015) with L2 weight decay, as ``torch.optim.Adam(params, lr, betas, eps,
    weight_decay)`` with its defaults (not AMSGrad, not decoupled):

    .. math::
        g \leftarrow \nabla\theta + \lambda\theta,\quad m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        \theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,\frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

    with :math:`t` counted per parameter (a parameter without a gradient is skipped, its :math:`t` unchanged).
    Only ``step()`` and ``zero_grad()``; for schedulers or other optimisers use ``torch.optim`` directly.

    Example::

        opt = Adam(model.parameters(), lr=3e-3)
        loss(model(x), y).backward(); opt.step(); opt.zero_grad()
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.params = list(params)
        if not self.params:
            raise ValueError("params must hold at least one tensor, got none")
        if any(not isinstance(p, Tensor) or not p.is_leaf or p.is_complex() for p in self.params):
            raise ValueError("params must be real leaf tensors (model.parameters()); use torch.optim.Adam for "
                             "complex parameters or parameter groups")
        self.lr = check_number(lr, "lr", low=0.0, low_open=True)
        self.beta1, self.beta2 = (check_number(b, f"betas[{i}]", low=0.0, high=1.0, high_open=True)
                                  for i, b in enumerate(betas))
        self.eps = check_number(eps, "eps", low=0.0)
        self.weight_decay = check_number(weight_decay, "weight_decay", low=0.0)
        self.state: dict[Tensor, list] = {}  # parameter -> [t, m, v]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.detach_().zero_()

    @torch.no_grad()
    def step(self) -> None:
        # Parameters are updated together when their step counts agree (always, unless some had no gradient).
        groups: dict[int, list[tuple[Tensor, list]]] = {}
        for p in self.params:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise ValueError("Adam does not take sparse gradients; use torch.optim.SparseAdam")
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = [0, torch.zeros_like(p, memory_format=torch.preserve_format),
                                         torch.zeros_like(p, memory_format=torch.preserve_format)]
            state[0] += 1
            groups.setdefault(state[0], []).append((p, state))
        for t, members in groups.items():
            params = [p for p, _ in members]
            grads = [p.grad for p in params]
            m, v = [s[1] for _, s in members], [s[2] for _, s in members]
            if self.weight_decay != 0:
                grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
            torch._foreach_lerp_(m, grads, 1 - self.beta1)
            torch._foreach_mul_(v, self.beta2)
            torch._foreach_addcmul_(v, grads, grads, 1 - self.beta2)
            # torch.optim.Adam's own order of operations, so that the result is the same to the last bit
            step_size = self.lr / (1 - self.beta1 ** t)
            denom = torch._foreach_sqrt(v)
            torch._foreach_div_(denom, (1 - self.beta2 ** t) ** 0.5)
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(params, m, denom, -step_size)
