"""Notebooks as a teacher opens and presents them, and their text twins (workbench/notebook_sync.py,
`make notebooks-sync`): the kernel metadata JupyterLab will not rewrite on open, slide metadata on every cell,
and each NN_name.ipynb paired with an NN_name.py that holds the same cells."""

import json
import re
import shutil
from pathlib import Path

import pytest
import tomllib

from workbench import notebook_sync

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def test_there_are_notebooks_to_check():
    assert len(NOTEBOOKS) >= 9
    assert notebook_sync.notebooks() == NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernel_metadata_is_the_installed_python3(path):
    # JupyterLab rewrites a kernelspec that differs from the running kernel's and marks the notebook modified.
    # ipykernel installs "python3" with the display name "Python 3 (ipykernel)".
    metadata = load(path)["metadata"]
    assert metadata["kernelspec"] == {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    info = metadata["language_info"]
    assert info["name"] == "python" and info["file_extension"] == ".py" and info["pygments_lexer"] == "ipython3"


def test_the_kernelspec_is_what_ipykernel_installs():
    kernelspec = pytest.importorskip("jupyter_client.kernelspec")
    try:
        spec = kernelspec.KernelSpecManager().get_kernel_spec("python3")
    except kernelspec.NoSuchKernel:
        pytest.skip("no python3 kernel installed here")
    assert (spec.display_name, spec.language) == (notebook_sync.KERNELSPEC["display_name"], "python")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_slide_metadata(path):
    notebook = load(path)
    types = [cell["metadata"].get("slideshow", {}).get("slide_type") for cell in notebook["cells"]]
    assert all(t in notebook_sync.SLIDE_TYPES for t in types), types
    assert types[0] == "slide", "the title opens the show"
    assert notebook["metadata"]["rise"]["scroll"] is True  # long cells scroll inside their slide
    assert not [c for c in notebook["cells"] if "execution" in c["metadata"]], "nbconvert's timestamps are dropped"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_its_text_twin_in_sync(path):
    jupytext = pytest.importorskip("jupytext")
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{twin.name} missing: run `make notebooks-sync`"
    text = jupytext.read(twin)
    notebook = load(path)
    in_text = [(c.cell_type, c.source, c.metadata.get("slideshow")) for c in text.cells]
    in_notebook = [(c["cell_type"], "".join(c["source"]), c["metadata"].get("slideshow")) for c in notebook["cells"]]
    assert in_text == in_notebook, f"{twin.name} is stale: run `make notebooks-sync`"
    assert "# %%" in twin.read_text(encoding="utf-8")  # percent format


def test_pairing_is_declared_for_jupyterlab():
    config = tomllib.loads((ROOT / "notebooks" / "jupytext.toml").read_text())
    assert set(config["formats"].split(",")) == {"ipynb", "py:percent"}


def markdown(source):
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def code(source):
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}


@pytest.mark.parametrize("cell, expected", [
    (markdown("# 03 · Title\n\ntext"), "slide"),
    (markdown("## 1 · A section"), "slide"),
    (markdown("### A detail"), "subslide"),
    (markdown("Some prose after a heading."), "fragment"),
    (markdown("#hashtag is not a heading"), "fragment"),
    (code("explorer = widgets.LossExplorer('ntxent')\nexplorer"), "subslide"),
    (code("import torch\nfrom workbench import losses\n%matplotlib inline\n"), "skip"),
    (code("fig = viz.loss_curves(curves, 'margin')"), "fragment"),
    (code("\n".join(f"x{i} = {i}" for i in range(40))), "fragment"),
])
def test_slide_type_rules(cell, expected):
    assert notebook_sync.slide_type(cell) == expected


def test_tidy_changes_metadata_only_and_keeps_a_teachers_choice():
    notebook = {"cells": [markdown("# Title"), code("x = 1"),
                          {**code("y = 2"), "metadata": {"slideshow": {"slide_type": "notes"},
                                                         "execution": {"iopub.status.idle": "2026"}}}],
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "venv"},
                             "language_info": {"name": "python", "version": "3.11.7"}}}
    sources = [c["source"] for c in notebook["cells"]]
    tidied = notebook_sync.tidy(notebook)
    assert [c["source"] for c in tidied["cells"]] == sources
    assert tidied["metadata"]["kernelspec"]["name"] == "python3"
    assert tidied["metadata"]["language_info"]["version"] == "3.11.7"  # the version it ran with is kept
    assert [c["metadata"]["slideshow"]["slide_type"] for c in tidied["cells"]] == ["slide", "fragment", "notes"]
    assert "execution" not in tidied["cells"][2]["metadata"]


@pytest.fixture
def copy_of_a_notebook(tmp_path):
    pytest.importorskip("jupytext")
    path = tmp_path / NOTEBOOKS[2].name
    shutil.copy(NOTEBOOKS[2], path)
    return path


def test_sync_is_idempotent(copy_of_a_notebook):
    path = copy_of_a_notebook
    notebook_sync.sync(path)
    before = path.read_bytes(), path.with_suffix(".py").read_bytes()
    assert notebook_sync.sync(path) == []  # nothing rewritten the second time
    assert (path.read_bytes(), path.with_suffix(".py").read_bytes()) == before
    # and the committed notebook is what the sync writes (the lead runs it after every content change)
    assert path.read_bytes() == NOTEBOOKS[2].read_bytes()
    assert path.with_suffix(".py").read_bytes() == NOTEBOOKS[2].with_suffix(".py").read_bytes()


def test_a_notebook_is_rebuilt_from_its_edited_text(copy_of_a_notebook):
    path = copy_of_a_notebook
    notebook_sync.sync(path)
    original = load(path)
    twin = path.with_suffix(".py")
    text = twin.read_text(encoding="utf-8")
    first_markdown = next(c for c in original["cells"] if c["cell_type"] == "markdown")
    heading = first_markdown["source"][0].rstrip("\n")
    assert f"# {heading}" in text
    twin.write_text(text.replace(f"# {heading}", f"# {heading} (edited)", 1), encoding="utf-8")

    notebook_sync.from_text(twin)

    rebuilt = load(path)
    assert rebuilt["cells"][original["cells"].index(first_markdown)]["source"][0].startswith(f"{heading} (edited)")
    # the code did not change: its outputs are kept
    code_cells = [(c["source"], c["outputs"]) for c in original["cells"] if c["cell_type"] == "code"]
    assert code_cells
    assert [(c["source"], c["outputs"]) for c in rebuilt["cells"] if c["cell_type"] == "code"] == code_cells
    assert rebuilt["metadata"]["kernelspec"]["name"] == "python3"


def test_make_targets_and_requirements():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^notebooks-sync: .*\n\t\$\(PY\) workbench/notebook_sync.py$", makefile, flags=re.M)
    assert re.search(r"^notebook-from-text: .*\n(\t.*\n)*\t.*--from-text", makefile, flags=re.M)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {extra: {re.split(r"[<>=]", r)[0] for r in reqs} for extra, reqs in project.items()}
    assert {"jupyterlab-rise", "jupytext", "umap-learn"} <= names["lab"]  # make lab and make test install lab
    assert {"jupytext", "umap-learn"} <= names["dev"]
    env = (ROOT / "environment.yml").read_text()
    assert all(f"- {name}>=" in env for name in ("jupyterlab-rise", "jupytext", "umap-learn"))
