"""Mutation testing on a seeded sample: how many small changes to the losses, analysis and training code do the
unit tests catch?

    python benchmarks/mutation.py                        # 80 mutants drawn with seed 0 (what `make mutation` runs)
    python benchmarks/mutation.py --sample 200 --seed 1
    python benchmarks/mutation.py --only workbench/losses --sample 60 --time-limit 3600
    python benchmarks/mutation.py --sample 0             # every mutant (hours on 2 cores)

The mutants are mutmut's (PyPI ``mutmut``, configured under ``[tool.mutmut]`` in pyproject.toml): this script
lists them for the files under ``--only`` (each path may be a module ``x.py`` or a package ``x/``, so it keeps
working when a module becomes a package), draws ``--sample`` of them with ``--seed``, and has ``mutmut run``
test exactly those (mutmut runs, for each mutant, the tests that reach the mutated function). It prints each
survivor's diff and ``caught/total``. A mutant counts as caught when a test fails or it times out; one that no
selected test reaches counts as survived (the tests do not see that code at all).

mutmut works in ./mutants (a copy of the package with every mutant behind a switch, plus its cache of which
test reaches which function); delete that folder to start afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ONLY = ("workbench/losses", "workbench/analysis", "workbench/train")


def source_files(roots: list[str]) -> list[Path]:
    """The .py files of each root, whether it is a package folder or a single module (``x`` -> ``x.py``)."""
    files = []
    for root in roots:
        root = root.rstrip("/")
        folder, module = ROOT / root, ROOT / f"{root}.py"
        if folder.is_dir():
            files += sorted(p.relative_to(ROOT) for p in folder.rglob("*.py"))
        elif module.is_file():
            files.append(module.relative_to(ROOT))
        elif (ROOT / root).is_file():
            files.append(Path(root))
        else:
            raise SystemExit(f"--only: {root} is neither a package folder nor a module")
    return files


def mutant_names(files: list[Path]) -> list[str]:
    """Every mutant mutmut makes of ``files``, by the names ``mutmut run`` takes (deterministic)."""
    from mutmut.mutation.file_mutation import mutate_file_contents
    from mutmut.utils.format_utils import get_mutant_name

    names = []
    for path in files:
        mutated = mutate_file_contents(str(path), (ROOT / path).read_text())
        names += [get_mutant_name(path, name) for name in mutated.mutant_names]
    return names


def results(names: list[str]) -> dict[str, str]:
    """Status of each mutant from mutmut's record in ./mutants (killed, survived, timeout, no tests, ...)."""
    from mutmut.stats import status_by_exit_code

    codes = {}
    for meta in (ROOT / "mutants").rglob("*.py.meta"):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return {name: status_by_exit_code[codes.get(name)] for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(DEFAULT_ONLY),
                        help="comma-separated modules or packages to mutate (default: %(default)s)")
    parser.add_argument("--sample", type=int, default=80, help="mutants to draw; 0 = all (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default: %(default)s)")
    parser.add_argument("--time-limit", type=float, default=3600.0,
                        help="seconds before the run is stopped; mutants not reached count as not checked")
    parser.add_argument("--max-children", type=int, default=2, help="parallel test processes (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="do not print the survivors' diffs")
    args = parser.parse_args(argv)
    if args.sample < 0 or args.time_limit <= 0 or args.max_children < 1:
        parser.error("--sample must be >= 0, --time-limit > 0 and --max-children >= 1")

    os.chdir(ROOT)
    names = mutant_names(source_files(args.only.split(",")))
    drawn = sorted(random.Random(args.seed).sample(names, min(args.sample, len(names)))) if args.sample else names
    print(f"{len(drawn)} of {len(names)} mutants (seed {args.seed}) from {args.only}", flush=True)

    env = dict(os.environ, MPLBACKEND="Agg")
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children), *drawn]
    start = time.monotonic()
    log = ROOT / "mutants" / "mutation-run.log"
    log.parent.mkdir(exist_ok=True)
    with open(log, "w") as out:
        try:
            subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=args.time_limit,
                           check=False)
        except subprocess.TimeoutExpired:
            print(f"stopped after the time limit of {args.time_limit:.0f} s", flush=True)
    elapsed = time.monotonic() - start

    status = results(drawn)
    counts: dict[str, int] = {}
    for value in status.values():
        counts[value] = counts.get(value, 0) + 1
    checked = {n: s for n, s in status.items() if s != "not checked"}
    caught = sum(s in ("killed", "timeout") for s in checked.values())
    survivors = sorted(n for n, s in checked.items() if s not in ("killed", "timeout"))
    if not checked:
        print(f"no mutant was checked: see {log.relative_to(ROOT)}")
        return 1
    if not args.quiet:
        for name in survivors:
            print(f"\n--- {status[name]}: {name}")
            shown = subprocess.run([sys.executable, "-m", "mutmut", "show", name], env=env, capture_output=True,
                                   text=True)
            print(shown.stdout.strip())
    print(f"\nstatus counts: {counts}")
    print(f"caught {caught}/{len(checked)} = {100 * caught / len(checked):.1f} % of the checked mutants "
          f"({len(drawn) - len(checked)} not reached in time) in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
