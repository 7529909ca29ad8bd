"""The crash soak: the loop of tests/test_crash_kill.py, for as long as you like.

    python benchmarks/soak.py                         # 10 minutes, every scenario
    python benchmarks/soak.py --minutes 60 --workers 4
    python benchmarks/soak.py --only gc,undo --seed 42
    python benchmarks/soak.py --keep-failures out/    # keep the state dir of a failed case

Each round takes every scenario of tests/support/reliability.py (gc, repair, archive,
archive-export, dedupe, undo, restore, prestart) and, in a seeded random order, either
SIGKILLs the command at one of its fault points (every hit index, the bookkeeping
sub-steps the CI run leaves out included — SESSIONCTL_FAULT=kill:*:N), or a random
delay after it reached its first fault point, or makes one write step fail with
ENOSPC/EIO. After every
case the invariants of the CI tests are checked (nothing lost, undo gives back every
byte, the next run completes). Work happens on tmpfs (/dev/shm) when there is room.

The seed of each case is printed with its failure, and `--seed` replays a soak.
Exit status: 0 when every case held, 1 otherwise. Not part of the test suite (it runs
for minutes); the CI runs the same checks once per write boundary.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.reliability import (  # noqa: E402
    BUILDERS,
    Point,
    Scenario,
    build_scenario,
    crash_case,
    error_case,
    fast_folder,
    kill_indices,
    trace_points,
    write_span,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    ap.add_argument("--workers", type=int, default=3, help="cases run at once (default 3)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock; printed)")
    ap.add_argument("--only", default="", help="comma-separated scenarios (default: all)")
    ap.add_argument("--keep-failures", type=Path, default=None, help="copy failed cases' folders here")
    return ap.parse_args(argv)


def run_case(sc: Scenario, points: list[Point], span: float, folder: Path, seed: int) -> str:
    """One random case of scenario `sc`. Returns a label; raises AssertionError on a breach."""
    rand = random.Random(seed)
    what = rand.random()
    if what < 0.6:
        n = rand.choice(kill_indices(points, full=True))
        label = f"kill:*:{n} = {points[n - 1]}"
        crash_case(sc, folder, fault=f"kill:*:{n}", label=label)
    elif what < 0.85:
        delay = rand.uniform(0, span)
        label = f"timer {delay:.3f}s into the write phase"
        crash_case(sc, folder, kill_after=delay, label=label)
    else:
        kind = rand.choice(["enospc", "eio"])
        n = rand.randrange(1, len(points) + 1)
        label = f"{kind}:*:{n} = {points[n - 1]}"
        error_case(sc, folder, kind, n, label)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return label


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    names = [n for n in args.only.split(",") if n] or list(BUILDERS)
    unknown = set(names) - set(BUILDERS)
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(BUILDERS)}")
        return 64
    print(f"soak: {args.minutes:g} min, scenarios {', '.join(names)}, seed {seed}", flush=True)
    rand = random.Random(seed)
    failures: list[str] = []
    counts: dict[str, int] = dict.fromkeys(names, 0)
    with tempfile.TemporaryDirectory(prefix="sessionctl-soak-") as disk, fast_folder(Path(disk)) as work:
        scenarios = {n: build_scenario(n, work / "templates" / n) for n in names}
        points = {n: trace_points(scenarios[n], work / "trace") for n in names}
        spans = {n: write_span(scenarios[n], work / f"span-{n}") for n in names}
        for n in names:
            print(f"  {n}: {len(points[n])} fault points, write phase {spans[n]:.3f}s")
        deadline = time.monotonic() + args.minutes * 60
        started = time.monotonic()
        i = 0
        with ThreadPoolExecutor(args.workers) as pool:
            running: dict[Future[str], tuple[str, int, Path]] = {}
            while time.monotonic() < deadline or running:
                while time.monotonic() < deadline and len(running) < args.workers:
                    name = rand.choice(names)
                    case_seed = rand.randrange(1 << 30)
                    folder = work / "cases" / f"{i:06d}-{name}"
                    i += 1
                    fut = pool.submit(run_case, scenarios[name], points[name], spans[name], folder, case_seed)
                    running[fut] = (name, case_seed, folder)
                done, _ = wait(list(running), timeout=5, return_when=FIRST_COMPLETED)
                for fut in done:
                    name, case_seed, folder = running.pop(fut)
                    try:
                        fut.result()
                        counts[name] += 1
                    except Exception as exc:
                        msg = f"FAIL {name} (case seed {case_seed}): {exc}"
                        failures.append(msg)
                        print(msg, flush=True)
                        traceback.print_exc()
                        if args.keep_failures:
                            import shutil

                            dst = args.keep_failures / folder.name
                            shutil.copytree(folder, dst, symlinks=True, dirs_exist_ok=True)
                            print(f"  kept in {dst}")
                total = sum(counts.values())
                if total and total % 50 == 0 and done:
                    rate = total / (time.monotonic() - started)
                    print(f"  {total} cases ({rate:.1f}/s), {len(failures)} failures", flush=True)
    total = sum(counts.values())
    print(f"soak done: {total} cases held ({counts}), {len(failures)} failed, seed {seed}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
