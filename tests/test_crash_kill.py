"""Crash safety: every mutating command, run as a real subprocess, is SIGKILLed at every
write boundary it reaches (each fault point, each hit index: `SESSIONCTL_FAULT=kill:*:N`
for N = 1 … the number of points an uninterrupted run reaches — in CI without the
write/fsync/fsync_dir sub-steps of run-folder bookkeeping writes, whose outcome equals a
kill at that write's atomic.replace; SESSIONCTL_CRASH_FULL=1 kills there too) and at
seeded random times. After every kill (tests/support/reliability.py):

- every sessions.json parses; every entry is in its store or verbatim in a durable journal;
- every file's bytes are live, archived next to it, in the run folder or exported;
- nothing is left in the live folders but archives and temp files named with the dead pid;
- `sessionctl undo` of the interrupted run (and of the runs a killed prestart finished
  before) gives back every file byte for byte — stores with their key order and mode;
- the same command then runs to completion (exit 0): no lock or temp file blocks it (a
  kill before the journal must leave the live folders byte-identical, with no new lock
  or temp file: there is nothing a next run could trip over).
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.reliability import (
    BUILDERS,
    CaseResult,
    Scenario,
    cached_points,
    cached_scenario,
    crash_case,
    fast_folder,
    kill_indices,
    write_span,
)

pytestmark = pytest.mark.slow  # the crash suite: deselected by default, run with --slow (CI does)

WORKERS = (os.cpu_count() or 2) + 1  # CLI start-ups are CPU-bound; one extra hides the waits

# The fault points each scenario must reach (a change that stops reaching one weakens the
# proof: update the scenario, not this table).
MUST_REACH = {
    "gc": {"backup.copy", "journal.write", "gc.before_apply", "lock.break", "store.locked", "atomic.replace",
           "store.unlock", "gc.archive", "rename"},
    "repair": {"backup.copy", "journal.write", "store.locked", "rewrite.write", "rename", "atomic.replace"},
    "archive": {"journal.write", "rename"},
    "archive-export": {"journal.write", "export.unlink", "rename"},
    "dedupe": {"backup.copy", "journal.write", "store.locked", "rename"},
    "undo": {"backup.copy", "journal.write", "undo.before_apply", "store.locked", "rename", "copy.write"},
    "restore": {"backup.copy", "journal.write", "restore.before_apply", "store.locked"},
    "prestart": {"backup.copy", "journal.write", "rewrite.write", "gc.before_apply", "store.locked",
                 "gc.archive"},
}  # fmt: skip

# Lower bounds of the kills each scenario yields in CI (kill_indices).
MIN_KILLS = {
    "gc": 35,
    "repair": 29,
    "archive": 8,
    "archive-export": 10,
    "dedupe": 14,
    "undo": 32,
    "restore": 20,
    "prestart": 30,
}
TIMER_KILLS_PER_SCENARIO = 3  # at least; 4 timers are drawn per scenario
TIMERS_PER_SCENARIO = 4
SEED = int(os.environ.get("SESSIONCTL_CRASH_SEED", "8"))
# SESSIONCTL_CRASH_FULL=1 (and benchmarks/soak.py) also kills at the write/fsync/fsync_dir
# sub-steps of run-folder bookkeeping writes (see support.reliability.kill_indices).
FULL = os.environ.get("SESSIONCTL_CRASH_FULL") == "1"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with fast_folder(tmp_path_factory.mktemp("crash")) as folder:
        yield folder


@pytest.fixture(scope="module")
def scenarios(work: Path) -> dict[str, Scenario]:
    return {name: cached_scenario(name) for name in BUILDERS}


@pytest.fixture
def cases(work: Path, request: pytest.FixtureRequest) -> Path:
    """A folder for one test's cases on the fast scratch disk."""
    folder = work / re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    folder.mkdir()
    return folder


def test_ci_kills_at_least_200_times() -> None:
    assert sum(MIN_KILLS.values()) + TIMER_KILLS_PER_SCENARIO * len(BUILDERS) >= 200
    assert set(MIN_KILLS) == set(MUST_REACH) == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_sigkill_at_every_write_boundary(name: str, scenarios: dict[str, Scenario], cases: Path) -> None:
    sc = scenarios[name]
    points = cached_points(name)
    missing = MUST_REACH[name] - {p.name for p in points}
    assert not missing, f"{name} no longer reaches {missing}: {Counter(map(str, points))}"
    indices = kill_indices(points, full=FULL)
    assert len(indices) >= MIN_KILLS[name], Counter(map(str, points))

    def case(n: int) -> CaseResult:
        label = f"kill:*:{n} = {points[n - 1]}#{points[:n].count(points[n - 1])}"
        return crash_case(sc, cases / f"k{n}", fault=f"kill:*:{n}", label=label)

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(case, indices))
    not_killed = [r.how for r in results if not r.killed]
    assert not_killed == [], f"these points were not reached again: {not_killed}"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_sigkill_at_random_times(name: str, scenarios: dict[str, Scenario], cases: Path) -> None:
    """Timer kills, seeded (SESSIONCTL_CRASH_SEED): each timer starts when the command
    reaches its first fault point and fires after a delay drawn from the length of an
    uninterrupted run's write phase (first to last fault point), so the kills land
    anywhere in it — mostly between two fault points, where no hook is."""
    sc = scenarios[name]
    span = write_span(sc, cases)
    rand = random.Random(f"{SEED}-{name}")
    delays = [rand.uniform(0, span) for _ in range(TIMERS_PER_SCENARIO)]

    def case(i: int) -> CaseResult:
        return crash_case(sc, cases / f"t{i}", kill_after=delays[i], label=f"timer {delays[i]:.3f}s")

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(case, range(len(delays))))
    killed = sum(r.killed for r in results)
    # a run that finished before its timer is checked as a normal run (exit 0)
    assert killed >= TIMER_KILLS_PER_SCENARIO, f"only {killed} of {len(delays)} timers hit a running process"


def test_the_invariant_checks_catch_a_loss(scenarios: dict[str, Scenario], cases: Path) -> None:
    """The checks after each kill would prove nothing if they could not fail: a removed
    entry, a deleted transcript, a stray file and a reordered store are each caught."""
    import json

    from support.reliability import Baseline, check_nothing_lost, check_restored

    sc = scenarios["gc"]
    root = sc.copy(cases / "c")
    base = Baseline.capture(root)
    store = root / "agents" / "main" / "sessions" / "sessions.json"
    data = json.loads(store.read_bytes())
    key = next(iter(data))
    # an entry gone without a journal
    store.write_text(json.dumps({k: v for k, v in data.items() if k != key}, indent=2))
    with pytest.raises(AssertionError, match="neither in the store nor in a durable journal"):
        check_nothing_lost(base, allowed_pids=set())
    # the same entries in another order: not what undo promises
    store.write_text(json.dumps(dict(reversed(list(data.items()))), indent=2))
    with pytest.raises(AssertionError, match="key order differs"):
        check_restored(base, allowed_pids=set())
    store.write_bytes(base.files[str(store.relative_to(root))])
    # a transcript's bytes gone
    victim = next(p for p in store.parent.iterdir() if p.name.endswith(".jsonl"))
    victim.unlink()
    with pytest.raises(AssertionError, match="are nowhere"):
        check_nothing_lost(base, allowed_pids=set())
    victim.write_bytes(base.files[str(victim.relative_to(root))])
    # a stray file, and a temp file of a pid that was not killed
    (store.parent / "stray.jsonl").write_bytes(b"{}\n")
    with pytest.raises(AssertionError, match="unexpected new file"):
        check_nothing_lost(base, allowed_pids=set())
    (store.parent / "stray.jsonl").unlink()
    (store.parent / "sessions.json.4242.0f0f0f0f-0000-4000-8000-000000000000.tmp").write_bytes(b"{")
    with pytest.raises(AssertionError, match="not of a killed run"):
        check_nothing_lost(base, allowed_pids={1})
    check_nothing_lost(base, allowed_pids={4242})
