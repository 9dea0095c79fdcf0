"""The project's promises about itself: set-up files agree, the README's commands exist, notebooks are
committed run and small, JupyterLab keeps its authentication."""

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from PIL import Image

from workbench import widgets

ROOT = Path(__file__).resolve().parents[1]


def runtime_dependencies() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"]


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower()


def test_every_runtime_dependency_is_in_environment_yml():
    env = (ROOT / "environment.yml").read_text().lower()
    listed = {requirement_name(line.strip(" -")) for line in env.splitlines() if line.strip().startswith("- ")}
    missing = [r for r in runtime_dependencies() if requirement_name(r) not in listed]
    assert not missing, f"environment.yml lacks {missing}"
    assert "python=3.11" in env and "- -e ." in env


def test_pyproject_has_lower_bounds_and_no_exact_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    everything = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    assert all(">=" in r for r in everything), everything
    assert not [r for r in everything if "==" in r]
    dev = {requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval", "hypothesis", "ruff", "pytorch-metric-learning"} <= dev


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z_][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))


def test_readme_commands_exist_in_the_makefile():
    readme = (ROOT / "README.md").read_text()
    commands = set(re.findall(r"\bmake ([a-z][\w-]*)", readme))
    assert {"lab", "test"} <= commands
    assert commands <= makefile_targets(), f"README names {commands - makefile_targets()} missing in Makefile"


def test_setup_pins_torch_to_the_cpu_build_only_in_the_makefile():
    makefile = (ROOT / "Makefile").read_text()
    assert "torch==2.13.0" in makefile
    assert makefile.index("torch==2.13.0") < makefile.index('-e ".[lab,dev]"')  # torch first, then the rest


def test_lab_binds_localhost_and_keeps_the_token():
    makefile = (ROOT / "Makefile").read_text()
    # the server's flags live in LAB_SERVER_ARGS (the browser tests start JupyterLab with them too)
    server_args = re.search(r"^LAB_SERVER_ARGS\s*:?=(.*)$", makefile, flags=re.M).group(1)
    lab_recipe = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0].replace("$(LAB_SERVER_ARGS)", server_args)
    assert "--ServerApp.ip=127.0.0.1" in lab_recipe and "$(LAB_ARGS)" in lab_recipe
    assert not re.search(r"token\s*=\s*['\"]{0,2}\s*(\s|$)", lab_recipe), "authentication must stay on"
    assert "password" not in lab_recipe and "disable_check_xsrf" not in lab_recipe


def test_ci_runs_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, flags=re.M)


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_exist_and_are_numbered():
    assert NOTEBOOKS, "no notebooks"
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name) for p in NOTEBOOKS)
    readme = (ROOT / "README.md").read_text()
    for p in NOTEBOOKS:
        assert p.name in readme, f"{p.name} is not in the README's notebook index"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_run_without_errors_and_small(path):
    assert path.stat().st_size < 2_000_000
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert all(c["execution_count"] is not None for c in code), "commit notebooks run top to bottom"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "run in order in a fresh kernel"
    assert not [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"]


def test_ruff_is_clean():
    pytest.importorskip("ruff")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "workbench", "tests", "benchmarks"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def written_text(path: Path) -> str:
    """What a person wrote in ``path``: a notebook's cell sources (its JSON escapes them), a file's text."""
    if path.suffix == ".ipynb":
        return "".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
    return path.read_text()


def test_no_control_characters_in_sources():
    # A "\a" in a non-raw string once turned a notebook's "\approx" into a bell character and "pprox" (MathJax
    # then shows broken text): no character below U+0020 other than tab and newline in what we write.
    files = [p for pattern in ("workbench/**/*.py", "tests/**/*.py", "benchmarks/*.py", "notebooks/*.py",
                               "notebooks/*.ipynb", "*.md") for p in ROOT.glob(pattern)]
    assert len(files) > 50
    bad = {str(p.relative_to(ROOT)): sorted({hex(ord(c)) for c in written_text(p) if ord(c) < 0x20 and c not in "\t\n"})
           for p in files}
    assert not {k: v for k, v in bad.items() if v}


def saved_widgets(path: Path) -> dict:
    """The widget models a notebook saved with its outputs (JupyterLab shows them without a kernel)."""
    metadata = json.loads(path.read_text())["metadata"]
    return metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saved_widgets_are_what_the_current_explorers_draw(path):
    # A notebook committed before the explorers changed shows the old widgets when opened without running it:
    # blurry images with no natural size, a loss list missing the newer losses. Committed runs must be current.
    state = saved_widgets(path)
    for model in state.values():
        if model["model_name"] == "ImageModel":
            layout = state[model["state"]["layout"].removeprefix("IPY_MODEL_")]["state"]
            size = (layout["width"], layout["height"])
            assert all(str(side).endswith("px") for side in size), (path.name, size)
            png = next(base64.b64decode(b["data"]) for b in model["buffers"] if b["path"] == ["value"])
            css = (float(layout["width"][:-2]), float(layout["height"][:-2]))
            assert Image.open(io.BytesIO(png)).size == tuple(widgets.PIXEL_RATIO * c for c in css), path.name
        if model["model_name"] == "DropdownModel" and model["state"].get("description") == "loss":
            assert model["state"]["_options_labels"] == widgets.explorable_losses(), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_links_the_series_index_next_to_it(path):
    # notebooks/README.md is the series index; ../README.md (the project's) once took its place in five notebooks
    links = re.findall(r"\[[^\]]*series index[^\]]*\]\(([^)]*)\)", written_text(path))
    assert links and set(links) == {"README.md"}, (path.name, links)
