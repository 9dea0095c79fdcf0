"""Run each notebook top to bottom in a fresh kernel; report its wall time and peak memory.

What is measured, per notebook (``notebooks/*.ipynb`` by default, or the paths given):

    seconds  wall time of the whole run: kernel start, every cell, kernel shutdown (what a user of
             "Restart & Run All" or a headless test waits for)
    peak MB  the highest RSS summed over the kernel process and all its children (e.g. DataLoader
             workers), sampled every ``--interval`` seconds (0.05) by a background thread with psutil.
             A bare kernel already takes about 50 MB; a spike shorter than the interval
             can be missed.

The notebook runs with nbclient in the ``python3`` kernel of the Python running this script, with
its working directory set to the notebook's folder, ``--timeout`` seconds per cell (600). It is
executed as an in-memory copy: nothing is written back.

Reading the output: one row per notebook with ``ok`` when it ran without error within the targets
(``--max-seconds`` 60, ``--max-mb`` 1500 — a notebook should run in about a minute on a laptop),
otherwise what was missed. The exit status is 0 unless ``--strict`` is given, in which case it is 1
when any notebook failed or missed a target.

    python benchmarks/notebooks.py [notebooks/01_x.ipynb ...] [--max-seconds 60] [--max-mb 1500] [--strict]
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parent.parent


class PeakRSS(threading.Thread):
    """Samples the RSS of a process tree until stopped and keeps the maximum (in bytes)."""

    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.done = threading.Event()

    def sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:  # kernel already gone (shutdown, crash)
            return
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # a child can exit between listing and reading
                pass
        self.peak = max(self.peak, total)

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)

    def stop(self) -> int:
        self.sample()
        self.done.set()
        self.join()
        return self.peak


def kernel_pid(km) -> int:
    """The kernel's process id (jupyter_client >= 7 keeps it on the provisioner; older on ``km.kernel``)."""
    provisioner = getattr(km, "provisioner", None)
    process = getattr(provisioner, "process", None) or getattr(km, "kernel", None)
    return process.pid


def run_notebook(path: Path, timeout: int, interval: float) -> tuple[float, float, str | None, str]:
    """(seconds, peak MB, error or None, kernel executable) of one run in a fresh kernel."""
    nb = nbformat.read(path, as_version=4)  # in memory only: the executed copy is dropped
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    state = {}

    def start_sampling(**_):  # nbclient calls this once the kernel is up, before the first cell
        pid = kernel_pid(client.km)
        state["exe"] = psutil.Process(pid).cmdline()[0]  # not .exe(): that resolves a venv's symlink
        state["sampler"] = PeakRSS(pid, interval)
        state["sampler"].start()

    client.on_notebook_start = start_sampling
    error = None
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        # The last line ("ValueError: ...") is enough for a table; drop the traceback's colour codes.
        last = (re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines() or [""])[-1]
        error = f"{type(exc).__name__}: {last}"[:100]
    except Exception as exc:  # kernel died or failed to start: report it, go on with the next notebook
        error = f"{type(exc).__name__}: {exc}"[:100]
    seconds = time.perf_counter() - start
    sampler = state.get("sampler")
    peak = sampler.stop() / 2**20 if sampler else float("nan")
    return seconds, peak, error, state.get("exe", "?")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="target wall time per notebook")
    parser.add_argument("--max-mb", type=float, default=1500.0, help="target peak RSS per notebook (MB)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between memory samples")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any target is missed")
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        print("no notebooks found")
        return 0
    print(f"targets: <= {args.max_seconds:g} s, <= {args.max_mb:g} MB peak RSS (kernel + children, "
          f"sampled every {args.interval:g} s)")

    rows = []
    for path in paths:
        seconds, peak, error, exe = run_notebook(path.resolve(), args.timeout, args.interval)
        missed = [error] if error else []
        missed += [f"> {args.max_seconds:g} s"] if seconds > args.max_seconds else []
        missed += [f"> {args.max_mb:g} MB"] if not peak <= args.max_mb else []  # NaN (no sample) misses too
        rows.append((path.name, seconds, peak, "; ".join(missed) or "ok"))
        print(f"ran {path.name} in kernel {exe}", flush=True)

    width = max(len("notebook"), *(len(r[0]) for r in rows))
    print()
    print(f"{'notebook':<{width}}  {'seconds':>8}  {'peak MB':>8}  check")
    for name, seconds, peak, check in rows:
        print(f"{name:<{width}}  {seconds:>8.1f}  {peak:>8.0f}  {check}")
    failed = sum(check != "ok" for *_, check in rows)
    print()
    print(f"{len(rows) - failed}/{len(rows)} notebooks within targets")
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
