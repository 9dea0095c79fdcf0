"""Keep the notebooks presentable and readable in diffs (``make notebooks-sync``).

For every ``notebooks/NN_name.ipynb``, in place and only where something changes (so a second run writes
nothing):

- the kernel metadata: ``kernelspec`` is the one ipykernel installs (``python3``, "Python 3 (ipykernel)"), so
  JupyterLab does not mark a notebook modified on open for a differing kernel name; ``language_info`` says
  Python; the per-cell execution timestamps nbconvert writes are dropped (noise in every diff);
- slide metadata for RISE (jupyterlab-rise) on every cell that has none (:func:`slide_type`); a teacher's
  own choice on a cell is kept;
- its text twin ``notebooks/NN_name.py`` in jupytext's percent format (the pairing is declared in
  ``notebooks/jupytext.toml``), written from the notebook.

The reverse, a notebook rebuilt from its edited text (outputs kept where the code is unchanged)::

    python workbench/notebook_sync.py --from-text notebooks/00_tour.py     # or: make notebook-from-text NB=00_tour

Needs ``jupytext`` (the ``lab`` and ``dev`` extras).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TEXT_FORMAT = "py:percent"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                 "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3"}
# RISE's settings for the whole deck: long cells scroll inside their slide instead of running off it.
RISE = {"scroll": True}

SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
LONG_CODE_LINES = 25
_SETUP_LINE = re.compile(r"^\s*(import |from \S+ import |%|#|$)")


def slide_type(cell: dict) -> str:
    """The RISE slide type a cell gets when it has none: one idea per slide.

    - markdown opening with a ``#`` or ``##`` heading: a new slide; with a deeper heading: a sub-slide;
    - other markdown: a fragment (revealed on the same slide);
    - code that shows a widget (an explorer): a sub-slide of its own, so the widget fits;
    - code made only of imports, magics and comments (set-up): skipped in the show (it still runs);
    - other code, long or short: a fragment (RISE scrolls a long one, ``RISE["scroll"]``).
    """
    source = "".join(cell.get("source", ""))
    stripped = source.lstrip()
    if cell["cell_type"] == "markdown":
        if re.match(r"#{1,2}\s", stripped):
            return "slide"
        if re.match(r"#{3,6}\s", stripped):
            return "subslide"
        return "fragment"
    if cell["cell_type"] != "code":
        return "skip"
    if re.search(r"\bExplorer\(|\bwidgets\.\w+\(|\bipywidgets\b", source):
        return "subslide"
    if all(_SETUP_LINE.match(line) for line in source.splitlines()):
        return "skip"
    return "fragment"


def tidy(notebook: dict) -> dict:
    """The notebook with its kernel metadata, RISE settings and slide metadata set and nbconvert's cell
    timestamps dropped (in place; returned for chaining). Content (sources, outputs) is untouched."""
    metadata = notebook.setdefault("metadata", {})
    metadata["kernelspec"] = dict(KERNELSPEC)
    language_info = metadata.get("language_info", {})
    metadata["language_info"] = {**language_info, **LANGUAGE_INFO}  # keep the version the notebook ran with
    metadata["rise"] = {**RISE, **metadata.get("rise", {})}
    for cell in notebook.get("cells", []):
        cell_metadata = cell.setdefault("metadata", {})
        cell_metadata.pop("execution", None)
        slideshow = cell_metadata.setdefault("slideshow", {})
        if slideshow.get("slide_type") not in SLIDE_TYPES:
            slideshow["slide_type"] = slide_type(cell)
    return notebook


def text_twin(path: Path) -> Path:
    return path.with_suffix(".py")


def _config():
    from jupytext.config import load_jupytext_config
    return load_jupytext_config(str(NOTEBOOKS))


def _write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def notebook_text(notebook: dict) -> str:
    """The ``.ipynb`` file's text as Jupyter writes it (1-space indent, a final newline)."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def sync(path: Path) -> list[Path]:
    """Tidy one notebook and write its text twin; the files that changed."""
    import jupytext
    import nbformat

    path = Path(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    changed = []
    if _write_if_changed(path, notebook_text(tidy(raw))):
        changed.append(path)
    notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    if _write_if_changed(text_twin(path), jupytext.writes(notebook, fmt=TEXT_FORMAT, config=_config())):
        changed.append(text_twin(path))
    return changed


def from_text(text_path: Path) -> Path:
    """Rebuild ``NN_name.ipynb`` from its edited text twin: sources and cell metadata from the text, the
    outputs of unchanged code cells from the existing notebook (``jupytext --update``), then tidied."""
    import jupytext
    from jupytext.combine import combine_inputs_with_outputs

    text_path = Path(text_path)
    path = text_path.with_suffix(".ipynb")
    notebook = jupytext.read(text_path, fmt=TEXT_FORMAT, config=_config())
    if path.exists():
        notebook = combine_inputs_with_outputs(notebook, jupytext.read(path), fmt=TEXT_FORMAT)
    import nbformat
    path.write_text(notebook_text(tidy(json.loads(nbformat.writes(notebook)))), encoding="utf-8")
    return path


def notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python workbench/notebook_sync.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks to sync (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--from-text", type=Path, metavar="NN_name.py", help="rebuild a notebook from its text twin")
    args = parser.parse_args(argv)
    if args.from_text:
        print(f"rebuilt {from_text(args.from_text.resolve()).relative_to(ROOT)}")
        return 0
    paths = args.paths or notebooks()
    changed = [p for path in paths for p in sync(path)]
    print(f"{len(paths)} notebooks in sync; rewrote {len(changed)} files" +
          "".join(f"\n  {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}" for p in changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
