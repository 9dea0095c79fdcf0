"""LaSO (models.LaSO, train.LaSOObjective) against a transcription of the official code, leokarlin/LaSO@eea81de:
``oneshot/setops_models/res_setops.py`` (SetOpsResModule with SetopResBlock_v1 / SetopResBasicBlock) and the loss
part of ``create_setops_trainer._update`` in ``scripts_coco/train_setops_stripped.py`` (CUDA byte tensors replaced
by CPU ones; criterion1 = MultiLabelSoftMarginLoss, criterion2 = MSELoss, every weight 1 and toggle on)."""

import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from workbench import models, train

# --- transcription of the official modules ---------------------------------------------------------------------


class SetopResBasicBlock(nn.Module):
    def __init__(self, latent_dim):
        super().__init__()
        self.fc = nn.Linear(latent_dim, latent_dim)
        self.bn = nn.BatchNorm1d(latent_dim)
        self.relu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x, residual):
        out = self.fc(x)
        out = self.bn(out)
        out += residual
        out = self.relu(out)
        return out


class SetopResBlock_v1(nn.Module):  # noqa: N801 (the official name)
    def __init__(self, input_dim, layers_num, arithm_op, basic_block_cls=SetopResBasicBlock, **kwargs):
        super().__init__()
        self.net_ab = nn.Sequential(nn.Linear(2 * input_dim, input_dim), nn.BatchNorm1d(input_dim),
                                    nn.LeakyReLU(0.2, inplace=True))
        self.res_layers = []
        for i in range(layers_num):
            layer_name = f"res_layer{i}"
            setattr(self, layer_name, basic_block_cls(input_dim))
            self.res_layers.append(layer_name)
        self.fc_out = nn.Linear(input_dim, input_dim)
        self.relu = nn.ReLU(inplace=True)
        self.arithm_op = arithm_op

    def forward(self, a, b):
        out = torch.cat((a, b), dim=1)
        out = self.net_ab(out)
        res = self.arithm_op(a, b)
        for layer_name in self.res_layers:
            layer = getattr(self, layer_name)
            out = layer(out, res)
        out = self.relu(self.fc_out(out))
        return out


def subrelu(x, y):
    return F.relu(x - y)


class SetOpsResModule(nn.Module):
    def __init__(self, input_dim, S_layers_num, I_layers_num, U_layers_num, block_cls_name="SetopResBlock_v1",
                 basic_block_cls_name="SetopResBasicBlock", dropout_ratio=0.5, **kwargs):
        super().__init__()
        block_cls = getattr(sys.modules[__name__], block_cls_name)
        basic_block_cls = getattr(sys.modules[__name__], basic_block_cls_name)
        self.subtract_op = block_cls(input_dim=input_dim, layers_num=S_layers_num, arithm_op=subrelu,
                                     basic_block_cls=basic_block_cls, dropout_ratio=dropout_ratio, **kwargs)
        self.intersect_op = block_cls(input_dim=input_dim, layers_num=I_layers_num, arithm_op=torch.min,
                                      basic_block_cls=basic_block_cls, dropout_ratio=dropout_ratio, **kwargs)
        self.union_op = block_cls(input_dim=input_dim, layers_num=U_layers_num, arithm_op=torch.add,
                                  basic_block_cls=basic_block_cls, dropout_ratio=dropout_ratio, **kwargs)

    def forward(self, a, b):
        a = a.view(a.size(0), -1)
        b = b.view(b.size(0), -1)
        a_S_b = self.subtract_op(a, b)
        b_S_a = self.subtract_op(b, a)
        a_S_b_b = self.subtract_op(a_S_b, b)
        b_S_a_a = self.subtract_op(b_S_a, a)
        a_I_b = self.intersect_op(a, b)
        b_I_a = self.intersect_op(b, a)
        a_S_b_I_a = self.subtract_op(a, b_I_a)
        b_S_a_I_b = self.subtract_op(b, a_I_b)
        a_S_a_I_b = self.subtract_op(a, a_I_b)
        b_S_b_I_a = self.subtract_op(b, b_I_a)
        a_I_b_b = self.intersect_op(a_I_b, b)
        b_I_a_a = self.intersect_op(b_I_a, a)
        a_U_b = self.union_op(a, b)
        b_U_a = self.union_op(b, a)
        a_U_b_b = self.union_op(a_U_b, b)
        b_U_a_a = self.union_op(b_U_a, a)
        out_a = self.union_op(a_S_b_I_a, a_I_b)
        out_b = self.union_op(b_S_a_I_b, b_I_a)
        return out_a, out_b, a_S_b, b_S_a, a_U_b, b_U_a, a_I_b, b_I_a, \
            a_S_b_b, b_S_a_a, a_I_b_b, b_I_a_a, a_U_b_b, b_U_a_a, \
            a_S_b_I_a, b_S_a_I_b, a_S_a_I_b, b_S_b_I_a


def official_loss(classifier, outputs_setopt, embed_a, embed_b, target_a, target_b, p):
    """The loss lines of ``create_setops_trainer._update`` (train_base=False: embeddings given)."""
    criterion1, criterion2 = nn.MultiLabelSoftMarginLoss(), nn.MSELoss()
    output_a, output_b = classifier(embed_a), classifier(embed_b)
    fake_a, fake_b, a_S_b, b_S_a, a_U_b, b_U_a, a_I_b, b_I_a, \
        a_S_b_b, b_S_a_a, a_I_b_b, b_I_a_a, a_U_b_b, b_U_a_a, \
        a_S_b_I_a, b_S_a_I_b, a_S_a_I_b, b_S_b_I_a = [classifier(o) for o in outputs_setopt]
    fake_a_em, fake_b_em, a_S_b_em, b_S_a_em, a_U_b_em, b_U_a_em, a_I_b_em, b_I_a_em, \
        a_S_b_b_em, b_S_a_a_em, a_I_b_b_em, b_I_a_a_em, a_U_b_b_em, b_U_a_a_em, \
        a_S_b_I_a_em, b_S_a_I_b_em, a_S_a_I_b_em, b_S_b_I_a_em = outputs_setopt
    loss_class = criterion1(output_a, target_a) + criterion1(output_b, target_b)
    loss_class_out = criterion1(fake_a, target_a) + criterion1(fake_b, target_b)
    loss_recon = criterion2(embed_a, fake_a_em) + criterion2(embed_b, fake_b_em) if p.mc_toggle else 0
    target_a, target_b = target_a.byte(), target_b.byte()
    target_a_I_b = target_a & target_b
    target_a_U_b = target_a | target_b
    target_a_S_b = target_a & ~target_a_I_b
    target_b_S_a = target_b & ~target_a_I_b
    target_a_I_b, target_a_U_b = target_a_I_b.float(), target_a_U_b.float()
    target_a_S_b, target_b_S_a = target_a_S_b.float(), target_b_S_a.float()
    loss_class_S = criterion1(a_S_b, target_a_S_b) + criterion1(b_S_a, target_b_S_a)
    loss_class_U = criterion1(a_U_b, target_a_U_b)
    loss_class_I = criterion1(a_I_b, target_a_I_b)
    if p.tautology_class_toggle:
        loss_class_S += criterion1(a_S_b_b, target_a_S_b) + criterion1(b_S_a_a, target_b_S_a)
        loss_class_S += criterion1(a_S_a_I_b, target_a_S_b) + criterion1(b_S_a_I_b, target_b_S_a) + \
            criterion1(b_S_b_I_a, target_b_S_a) + criterion1(a_S_b_I_a, target_a_S_b)
        loss_class_U += criterion1(a_U_b_b, target_a_U_b) + criterion1(b_U_a_a, target_a_U_b)
        loss_class_I += criterion1(a_I_b_b, target_a_I_b) + criterion1(b_I_a_a, target_a_I_b)
    if p.tautology_recon_toggle:
        loss_recon_S = criterion2(a_S_b_em, a_S_b_b_em) + criterion2(a_S_b_em, a_S_a_I_b_em) + \
            criterion2(a_S_b_em, a_S_b_I_a_em)
        loss_recon_S += criterion2(b_S_a_em, b_S_a_a_em) + criterion2(b_S_a_em, b_S_a_I_b_em) + \
            criterion2(b_S_a_em, b_S_b_I_a_em)
    else:
        loss_recon_S = 0
    if p.sym_class_toggle:
        loss_class_U += criterion1(b_U_a, target_a_U_b)
        loss_class_I += criterion1(b_I_a, target_a_I_b)
    if p.sym_recon_toggle:
        loss_recon_U = criterion2(a_U_b_em, b_U_a_em)
        loss_recon_I = criterion2(a_I_b_em, b_I_a_em)
    else:
        loss_recon_U = 0
        loss_recon_I = 0
    loss = loss_class
    loss += 0 if p.class_fake_loss_weight == 0 else p.class_fake_loss_weight * loss_class_out
    loss += 0 if (p.recon_loss_weight == 0) or (not loss_recon) else p.recon_loss_weight * loss_recon
    loss += 0 if p.class_S_loss_weight == 0 else p.class_S_loss_weight * loss_class_S
    loss += 0 if (p.recon_loss_weight == 0) or (not loss_recon_I) else p.recon_loss_weight * loss_recon_S
    loss += 0 if p.class_U_loss_weight == 0 else p.class_U_loss_weight * loss_class_U
    loss += 0 if (p.recon_loss_weight == 0) or (not loss_recon_U) else p.recon_loss_weight * loss_recon_U
    loss += 0 if p.class_I_loss_weight == 0 else p.class_I_loss_weight * loss_class_I
    loss += 0 if (p.recon_loss_weight == 0) or (not loss_recon_I) else p.recon_loss_weight * loss_recon_I
    return loss


DEFAULTS = dict(class_fake_loss_weight=1.0, recon_loss_weight=1.0, class_S_loss_weight=1.0, class_U_loss_weight=1.0,
                class_I_loss_weight=1.0, sym_class_toggle=True, sym_recon_toggle=True, mc_toggle=True,
                tautology_recon_toggle=True, tautology_class_toggle=True)


def _pair(dim=6, classes=5, batch=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.relu(torch.randn(batch, dim, generator=g, dtype=torch.float64))
    b = torch.relu(torch.randn(batch, dim, generator=g, dtype=torch.float64))
    ya = (torch.rand(batch, classes, generator=g) < 0.4).double()
    yb = (torch.rand(batch, classes, generator=g) < 0.4).double()
    return a, b, ya, yb


def _twins(dim, layers, seed):
    ours = models.LaSO(dim, layers=layers, seed=seed).double()
    theirs = SetOpsResModule(dim, layers, layers, layers).double()
    mapped = {}
    for key, value in ours.state_dict().items():  # res_layers.0.0 (Linear) / .1 (BN) -> res_layer0.fc / .bn
        parts = key.split(".")
        if parts[1] == "res_layers":
            key = ".".join([parts[0], f"res_layer{parts[2]}", {"0": "fc", "1": "bn"}[parts[3]], *parts[4:]])
        mapped[key] = value
    theirs.load_state_dict(mapped)
    return ours, theirs


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_laso_outputs_equal_the_official_module(layers, mode):
    ours, theirs = _twins(6, layers, seed=1)
    getattr(ours, mode)()
    getattr(theirs, mode)()
    a, b, _, _ = _pair()
    mine = ours(a, b)
    official = theirs(a, b)
    assert tuple(mine) == models.laso.OUTPUTS
    for name, value in zip(models.laso.OUTPUTS, official):
        assert torch.allclose(mine[name], value, atol=1e-12), name


@pytest.mark.parametrize("settings", [{}, {"sym_recon_toggle": False}, {"tautology_class_toggle": False,
                                                                         "mc_toggle": False},
                                      {"class_S_loss_weight": 0.5, "recon_loss_weight": 2.0}])
def test_objective_equals_the_official_loss_and_gradient(settings):
    params = {**DEFAULTS, **settings}
    ours, theirs = _twins(6, 1, seed=2)
    torch.manual_seed(0)
    classifier = nn.Linear(6, 5).double()
    a, b, ya, yb = _pair(seed=3)
    keys = {"class_fake_loss_weight": "class_fake", "recon_loss_weight": "recon", "class_S_loss_weight": "class_S",
            "class_U_loss_weight": "class_U", "class_I_loss_weight": "class_I", "sym_class_toggle": "sym_class",
            "sym_recon_toggle": "sym_recon", "mc_toggle": "mc", "tautology_recon_toggle": "tautology_recon",
            "tautology_class_toggle": "tautology_class"}
    objective = train.LaSOObjective(**{keys[k]: v for k, v in params.items()})
    mine = objective(ours(a, b), classifier, a, b, ya, yb)
    official = official_loss(classifier, theirs(a, b), a, b, ya, yb, SimpleNamespace(**params))
    assert mine.item() == pytest.approx(official.item(), rel=1e-12)
    g_mine = torch.autograd.grad(mine, ours.union_op.fc_out.weight)[0]
    g_official = torch.autograd.grad(official, theirs.union_op.fc_out.weight)[0]
    assert torch.allclose(g_mine, g_official, atol=1e-12)


def test_label_set_targets_and_sharing_pairs():
    ya = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 0]])
    yb = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 1]])
    t = train.label_set_targets(ya, yb)
    assert t["a_I_b"].tolist() == [[0, 1, 0, 0], [0, 1, 1, 0]]
    assert t["a_U_b"].tolist() == [[1, 1, 1, 0], [0, 1, 1, 1]]
    assert t["a_S_b"].tolist() == [[1, 0, 0, 0], [0, 0, 0, 0]]
    assert t["b_S_a"].tolist() == [[0, 0, 1, 0], [0, 0, 0, 1]]
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(50, 6, generator=g) < 0.3).long()
    y[:, 0] |= (y.sum(1) == 0).long()  # every row holds a label
    i, j = train.label_sharing_pairs(y, 200, g)
    assert ((y[i] & y[j]).sum(1) > 0).all()  # the official pairs always intersect
    with pytest.raises(ValueError, match="targets"):
        train.label_sharing_pairs(torch.zeros(3, 4, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="target_a"):
        train.label_set_targets(ya, yb[:, :3])


def test_feature_arithmetic_and_argument_checks():
    a = torch.tensor([[1.0, 0.0, 2.0]])
    b = torch.tensor([[0.5, 1.0, 3.0]])
    ops = models.LaSO.feature_arithmetic(a, b)
    assert ops["union"].tolist() == [[1.5, 1.0, 5.0]]
    assert ops["intersection"].tolist() == [[0.5, 0.0, 2.0]]
    assert ops["subtraction"].tolist() == [[0.5, 0.0, 0.0]]
    with pytest.raises(ValueError, match="dim"):
        models.LaSO(0)
    with pytest.raises(ValueError, match="a and b"):
        models.LaSO(3)(a, b[:, :2])
    with pytest.raises(ValueError, match="recon_loss"):
        train.LaSOObjective(recon_loss="huber")
    with pytest.raises(ValueError, match="class_S"):
        train.LaSOObjective(class_S=-1.0)


def test_fit_laso_lowers_the_loss_and_leaves_the_classifier_alone():
    g = torch.Generator().manual_seed(0)
    centres = torch.relu(torch.randn(4, 8, generator=g)) * 3
    y = (torch.rand(120, 4, generator=g) < 0.4).long()
    y[:, 0] |= (y.sum(1) == 0).long()
    features = y.float() @ centres + 0.1 * torch.rand(120, 8, generator=g)
    classifier = nn.Linear(8, 4)
    before = [p.detach().clone() for p in classifier.parameters()]
    laso = models.LaSO(8, seed=0)
    history = train.fit_laso(laso, classifier, features, y, pairs=256, epochs=8, lr=3e-3, batch_size=64)
    assert history[-1] < history[0]
    assert all(torch.equal(p, q) for p, q in zip(before, classifier.parameters()))
    assert all(p.requires_grad for p in classifier.parameters()) and not laso.training
