"""How long every explorer in the notebooks takes to redraw, in the notebook's own kernel.

For each notebook (``notebooks/*.ipynb`` by default, or the paths given), run it top to bottom with nbclient
in a fresh kernel (working directory: the notebook's folder), then, in the same kernel, find every
``workbench.widgets.Explorer`` it built and move each of its sliders to five places across the slider's
range (a selection slider: five of its options). ``explorer.last_update_s`` is the time from the change to
the new PNG in the image widget, the Python side of what a browser user waits for (the browser tests,
``tests/browser``, add the round trip and fail above 1 s).

Prints one row per slider: the notebook, the explorer's class, the slider, the median and worst update in
ms, and ``ok`` or ``over`` against ``--target-ms`` (300: a third of the browser bar, so that a loaded
2-core machine, which takes two to three times as long, still meets it). Run it on a quiet machine.

    python benchmarks/notebook_explorers.py [notebooks/11_x.ipynb ...] [--target-ms 300]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
FRACTIONS = (0.3, 0.6, 0.45, 0.8, 0.2)  # across the range, in an order that moves up and down

# Run in the notebook's kernel after its last cell; prints one JSON line.
PROBE = """
import gc as _gc, json as _json, math as _math, statistics as _statistics
from workbench import widgets as _widgets

def _positions(slider, fractions):
    if hasattr(slider, "options"):  # a selection slider: options, or (label, value) pairs
        values = [o[1] if isinstance(o, tuple) else o for o in slider.options]
        return [values[int(f * (len(values) - 1))] for f in fractions]
    low, high = slider.min, slider.max
    if type(slider).__name__ == "FloatLogSlider":
        return [slider.base ** (low + f * (high - low)) for f in fractions]
    values = [low + f * (high - low) for f in fractions]
    return [int(round(v)) for v in values] if type(slider).__name__ == "IntSlider" else values

_rows = []
for _explorer in [o for o in _gc.get_objects() if isinstance(o, _widgets.Explorer)]:
    for _name, _slider in _explorer.sliders.items():
        if type(_slider).__name__ == "Checkbox":
            continue
        _times = []
        for _value in _positions(_slider, FRACTIONS):
            _slider.value = _value
            _times.append(1000 * _explorer.last_update_s)
        _rows.append([type(_explorer).__name__, _name, _statistics.median(_times), max(_times)])
print("EXPLORERS" + _json.dumps(_rows))
"""


def explorer_times(path: Path) -> list[list]:
    """``[class, slider, median ms, worst ms]`` for every slider of every explorer ``path`` builds."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(f"FRACTIONS = {FRACTIONS!r}\n{PROBE}"))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    text = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    return json.loads(text.split("EXPLORERS", 1)[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--target-ms", type=float, default=300.0)
    args = parser.parse_args()
    paths = args.paths or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    print(f"{'notebook':<44} {'explorer':<20} {'slider':<12} {'median':>7} {'worst':>7}")
    for path in paths:
        for cls, slider, median, worst in explorer_times(path):
            verdict = "ok" if median <= args.target_ms else "over"
            print(f"{path.name:<44} {cls:<20} {slider:<12} {median:>5.0f}ms {worst:>5.0f}ms  {verdict}", flush=True)


if __name__ == "__main__":
    main()
