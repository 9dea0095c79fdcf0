"""How long the loss explorer takes to redraw after a slider change.

For every loss the explorer offers, build ``widgets.LossExplorer(name)`` headless and change each
slider (setting ``.value`` is what a user's release of the slider does); ``explorer.last_update_s`` is
the time from the change to the new PNG being in the image widget. Two kinds of change:

* ``nudge``: a few single steps of the slider, as when a user moves it a notch; the axes usually stay
  and only the curves are redrawn;
* ``sweep``: jumps across the whole range, which usually rescale the axes (a full redraw).

Prints the median and worst update per loss and kind against the target (default 200 ms).

    python benchmarks/widgets.py [--target-ms 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import statistics

import matplotlib

matplotlib.use("Agg")

from workbench import widgets  # noqa: E402


def is_log(slider) -> bool:
    return type(slider).__name__ == "FloatLogSlider"


def is_switch(slider) -> bool:
    return type(slider).__name__ == "Checkbox"


def toggles(slider, repeats: int) -> list:
    """A flag (a Checkbox) has no range: switch it ``repeats`` times."""
    return [bool(slider.value) ^ (k % 2 == 0) for k in range(repeats)]


def sweep_values(slider, repeats: int) -> list:
    """``repeats`` values spread over the slider's range."""
    if is_switch(slider):
        return toggles(slider, repeats)
    low, high = slider.min, slider.max  # exponents for a log slider
    values = [low + (high - low) * (k + 1) / (repeats + 1) for k in range(repeats)]
    return [10**v for v in values] if is_log(slider) else values


def nudge_values(slider, repeats: int) -> list:
    """``repeats`` successive single steps from the default, towards the larger side of the range."""
    if is_switch(slider):
        return toggles(slider, repeats)
    if is_log(slider):
        exponent = math.log10(slider.value)
        sign = 1 if slider.max - exponent > exponent - slider.min else -1
        return [10 ** (exponent + sign * slider.step * (k + 1)) for k in range(repeats)]
    sign = 1 if slider.max - slider.value > slider.value - slider.min else -1
    return [slider.value + sign * slider.step * (k + 1) for k in range(repeats)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target-ms", type=float, default=200.0)
    parser.add_argument("--repeats", type=int, default=5, help="changes per slider and kind")
    args = parser.parse_args()

    print(f"{'loss':<18}{'change':<8}{'updates':>8}{'full':>6}{'median ms':>11}{'worst ms':>10}  check")
    worst = {"nudge": 0.0, "sweep": 0.0}
    refused: dict[str, int] = {}
    for name in widgets.explorable_losses():
        for kind, values_for in (("nudge", nudge_values), ("sweep", sweep_values)):
            explorer = widgets.LossExplorer(name)
            times = []
            for slider in explorer.sliders.values():
                for value in values_for(slider, args.repeats):
                    explorer.last_update_s = math.nan
                    slider.value = value
                    if not math.isnan(explorer.last_update_s):  # an int slider may round to the value it had
                        times.append(explorer.last_update_s * 1000)
                    if explorer.message.value:  # a combination the loss refuses: say so, time it anyway
                        refused[name] = refused.get(name, 0) + 1
            if not times:  # a loss without hyper-parameters has nothing to move
                print(f"{name:<18}{kind:<8}{0:>8}  ({'no slider value changed' if explorer.sliders else 'no sliders'})")
                continue
            worst[kind] = max(worst[kind], max(times))
            check = "ok" if max(times) <= args.target_ms else f"> {args.target_ms:.0f} ms"
            print(f"{name:<18}{kind:<8}{len(times):>8}{explorer.full_redraws:>6}"
                  f"{statistics.median(times):>11.1f}{max(times):>10.1f}  {check}")
    for name, count in refused.items():
        print(f"{name}: {count} slider values refused by the loss (shown in the explorer's message)")
    print(f"worst update: nudge {worst['nudge']:.1f} ms, sweep {worst['sweep']:.1f} ms "
          f"(target {args.target_ms:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
