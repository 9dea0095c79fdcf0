"""Every loss runs on the device of its inputs. There is no GPU here, so the check is indirect but strict: the
default device is set to ``meta`` while the inputs stay on the CPU, so any tensor a loss creates without
``device=`` (or ``like.new_*``) lands on meta, and mixing it with the CPU inputs raises, as a CPU tensor mixed
with CUDA inputs would. Random draws must use their generator's device (a CUDA generator then works too)."""

import pytest
import torch
from conftest import make_inputs

from workbench import losses


@pytest.mark.parametrize("name", losses.available())
def test_loss_creates_its_tensors_on_the_inputs_device(name):
    loss, args = make_inputs(name)
    args = [a.requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
    with torch.device("meta"):
        for mode in ("train", "eval"):  # some losses draw only in training mode
            loss.train(mode == "train")
            value = loss(*args)
            value.sum().backward()
    assert value.device.type == "cpu"
