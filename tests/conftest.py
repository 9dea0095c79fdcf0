"""Shared test helpers: inputs for every loss from its kind (``workbench.kinds``), so every standard is checked
on every loss."""

from __future__ import annotations

import copy
import importlib.util
import inspect
import math
import os
import re
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from workbench import data, kinds, losses, models, train  # noqa: E402

# One thread per pool in every process the tests start (nbval's kernels, the browser tests' JupyterLab and its
# kernels): the two test workers share 2 cores, and two notebooks running side by side each with a pool of 2
# threads took 64 and 69 s where one thread each took 47 and 48 s (notebooks 05 and 13, measured). The workers
# themselves get one thread from the fixture below. A value already set (a bigger machine) is kept.
for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")


def make_inputs(name: str, *, batch: int = 6, classes: int = 3, dim: int = 4, dtype=torch.float64, seed: int = 0,
                scale: float = 1.0):
    """A loss built with defaults and valid inputs for its kind: ``(loss, args)`` with ``loss(*args)`` working.

    The inputs are the kind's example inputs (``workbench.kinds``); a loss with its own parameters (a margin
    head's class weights, AUC-M's a and b) is cast to ``dtype`` like its inputs."""
    kind = kinds.get(losses.info(name).kind)
    args = kind.example_inputs(batch=batch, classes=classes, dim=dim, dtype=dtype, seed=seed, scale=scale)
    loss = _loss(name, **kind.loss_args(classes=classes, dim=dim))
    if any(True for _ in loss.parameters()):
        loss = loss.to(dtype)
    if name == "bias_loss":  # its weights come from features; fixed ones make it a function of the logits
        g = torch.Generator().manual_seed(seed + 1)
        loss = WithExtra(loss, features=torch.randn(batch, 8, generator=g, dtype=dtype))
    if kind.name == "distill":  # the teacher's outputs are held fixed: the loss is a function of the student's
        student, teacher, target = args
        loss, args = WithTeacher(loss, teacher), (student, target)
    return loss, args


class WithExtra(torch.nn.Module):
    """``loss(x, target, **extra)`` as a two-argument loss, for losses that take one more input."""

    def __init__(self, loss: torch.nn.Module, **extra):
        super().__init__()
        self.loss, self.extra = loss, extra

    def forward(self, x, target):
        return self.loss(x, target, **self.extra)


class WithTeacher(torch.nn.Module):
    """A distill loss ``loss(student, teacher, target)`` as the two-argument ``loss(student, target)`` with the
    teacher's outputs fixed, so every standard of a two-argument loss checks distillation losses too."""

    def __init__(self, loss: torch.nn.Module, teacher: torch.Tensor):
        super().__init__()
        self.loss, self.teacher = loss, teacher

    def forward(self, student, target):
        return self.loss(student, self.teacher.to(student.dtype), target)


# Random losses draw from their own generator; restarting it at every call makes value and gradient
# checks exact.
RANDOM = {"metrix", "elasticface_arc", "elasticface_cos", "supremix"}


class Reseeded(torch.nn.Module):
    """Wraps a loss that draws from ``loss.generator``: every call restarts the generator at ``seed``."""

    def __init__(self, loss, seed: int = 0):
        super().__init__()
        self.loss, self.seed = loss, seed

    def forward(self, *args):
        self.loss.generator.manual_seed(self.seed)
        return self.loss(*args)


def _loss(name: str, **kwargs) -> torch.nn.Module:
    """The registered loss built with defaults (random ones wrapped in :class:`Reseeded`)."""
    if name in RANDOM:
        return Reseeded(losses.get(name, generator=torch.Generator(), **kwargs))
    return losses.get(name, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _one_thread_per_worker():
    # The suite runs on 2 cores with 2 xdist workers; tiny models and t-SNE only contend with more
    # threads (seconds become minutes when torch's and OpenMP's pools spin against each other).
    from threadpoolctl import threadpool_limits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


def clusters(classes=4, per=10, dim=6, spread=0.05, seed=0):
    """``(points, labels)``: ``per`` points around each of ``classes`` random unit centres, Gaussian spread."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(classes, dim, generator=g), dim=1)
    y = torch.arange(classes).repeat_interleave(per)
    return centres[y] + spread * torch.randn(len(y), dim, generator=g), y


def unit(*degrees):
    """Unit vectors in the plane at the given angles (degrees), float64 ``[N, 2]``."""
    t = torch.tensor(degrees, dtype=torch.float64).deg2rad()
    return torch.stack([t.cos(), t.sin()], dim=1)


def cosines(x):
    """The cosine-similarity matrix of the rows of ``x``, written out (not the losses' helper)."""
    z = x / x.norm(dim=1, keepdim=True)
    return z @ z.T


# --- MIL training on digit bags (tests/train/test_mil_hard_fit.py, test_mil_v2_midam_fit.py) ---------------------

@pytest.fixture(scope="module")
def bags():
    """80 training and 40 test bags of digits, positive when they hold a 1 or a 3 (seed 0)."""
    return data.digit_bags(positive_fraction=0.5, keys=(1, 3), n_train=80, n_test=40, seed=0)


def mhim_first_batch(bags, **fit_kwargs):
    """``(X, keep, mask, teacher)``: one epoch of ``fit_mhim`` on every bag in one batch with a teacher that never
    moves (momentum 1) and masks the top 1 % of instances (at least one per bag): the first batch the student
    received, ``X`` with the mask ``keep`` it got, the bags' own ``mask``, and the teacher, in eval mode."""
    student = models.MILModel(64, seed=0)
    teacher = copy.deepcopy(student)
    seen = []
    forward = student.forward

    def spy(X, mask=None, generator=None):
        seen.append((X, mask))
        return forward(X, mask, generator)

    student.forward = spy
    train.fit_mhim(student, bags, teacher=teacher, epochs=1, batch_size=bags.n_train, high=0.01, high_random=1.0,
                   momentum=1.0, verbose=False, **fit_kwargs)
    X, keep = seen[0]
    order = torch.randperm(bags.n_train, generator=torch.Generator().manual_seed(0))  # the first batch = every bag
    _, mask, _, _ = bags.padded("train", order)
    return X, keep, mask, teacher.eval()


# --- public functions name a bad argument ---------------------------------------------------------------------
# tests/analysis/test_analysis_arguments.py and tests/train/test_recipe_arguments.py: each lists its public functions
# with a valid call, and every numeric keyword (a number by default, or None where the annotation says a number may
# go) and every flag (a bool by default) gets bad values, which must raise a ValueError naming the keyword.

BAD_NUMBERS = {"bool": True, "nan": math.nan, "str": "1"}
BAD_FLAGS = {"int": 1, "str": "yes", "none": None}


NUMBER_OR_NONE = re.compile(r"(float|int)( \| (float|int))* \| None")  # "float | None", a number or the default


def numeric_keywords(function) -> list[str]:
    return [p.name for p in inspect.signature(function).parameters.values()
            if (isinstance(p.default, (int, float)) and not isinstance(p.default, bool))
            or (p.default is None and NUMBER_OR_NONE.fullmatch(str(p.annotation)))]


def flag_keywords(function) -> list[str]:
    return [p.name for p in inspect.signature(function).parameters.values() if isinstance(p.default, bool)]


def bad_argument_cases(calls: dict) -> list:
    """pytest params ``(name, keyword, bad value)`` for every numeric keyword and flag of each function in ``calls``
    (``{name: lambda: (function, args, kwargs)}``)."""
    cases = []
    for name, make in calls.items():
        function = make()[0]
        for keyword, bads in [*((k, BAD_NUMBERS) for k in numeric_keywords(function)),
                              *((k, BAD_FLAGS) for k in flag_keywords(function))]:
            cases += [pytest.param(name, keyword, bad, id=f"{name}-{keyword}-{label}") for label, bad in bads.items()]
    return cases


def seed_cases(calls: dict) -> list[str]:
    """The functions of ``calls`` that take a ``seed``."""
    return sorted(name for name, make in calls.items() if "seed" in numeric_keywords(make()[0]))


def assert_names_the_bad_argument(make, keyword: str, bad) -> None:
    function, args, kwargs = make()
    with pytest.raises(ValueError, match=rf"\b{keyword}\b"):  # the word itself: "XXlrXX" does not name lr
        function(*args, **{**kwargs, keyword: bad})


# --- each notebook runs once per test run -------------------------------------------------------------------
# When the browser tests will run, they execute every notebook with widgets top to bottom in JupyterLab and fail on
# any error output, which is what nbval checks under --nbval-lax; nbval then leaves those notebooks to them. When
# the browser tests cannot run here (they skip), nbval runs every notebook.

BROWSER_NOTEBOOK_TEST = "test_notebook_runs_and_its_widgets_work"


def _labdriver():
    path = Path(__file__).parent / "browser" / "labdriver.py"
    spec = importlib.util.spec_from_file_location("labdriver", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.hookimpl(trylast=True)  # after -m / -k have deselected what they deselect
def pytest_collection_modifyitems(config, items):
    in_browser = {item.callspec.params["name"] for item in items
                  if getattr(item, "originalname", None) == BROWSER_NOTEBOOK_TEST and hasattr(item, "callspec")}
    if not in_browser:
        return
    labdriver = _labdriver()
    if labdriver.missing() is not None and not labdriver.required():
        return
    folder = (labdriver.ROOT / "notebooks").resolve()
    moved = [item for item in items if Path(item.path).suffix == ".ipynb"
             and Path(item.path).resolve().parent == folder and Path(item.path).name in in_browser]
    if moved:
        config.hook.pytest_deselected(items=moved)
        gone = set(moved)
        items[:] = [item for item in items if item not in gone]
