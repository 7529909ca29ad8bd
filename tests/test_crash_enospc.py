"""Disk full and I/O errors at every write step: `SESSIONCTL_FAULT=enospc:<point>` and
`eio:<point>` make the named write boundary raise OSError(ENOSPC / EIO) the first time
it is reached, for every point each mutating command reaches.

What must hold: exit 74 (prestart: 0 with the step reported failed — its unit policy,
docs/operations.md) with exactly one `sessionctl: error:` line on stderr that says what
failed and why, the JSON envelope's error `io_error`, no traceback, no temp file left
behind (the error path cleans up); when nothing was applied yet the live tree is
byte-identical and no run folder is left; otherwise nothing is lost
(check_nothing_lost) and `undo` of the failed run gives back every byte.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.reliability import (
    BUILDERS,
    Scenario,
    cached_points,
    cached_scenario,
    error_case,
    error_indices,
    fast_folder,
    live_files,
    run,
    run_ids,
)

pytestmark = pytest.mark.slow  # the crash suite: deselected by default, run with --slow (CI does)

WORKERS = (os.cpu_count() or 2) + 1  # CLI start-ups are CPU-bound; one extra hides the waits


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with fast_folder(tmp_path_factory.mktemp("errors")) as folder:
        yield folder


@pytest.fixture(scope="module")
def scenarios(work: Path) -> dict[str, Scenario]:
    return {name: cached_scenario(name) for name in BUILDERS}


EIO_SCENARIOS = ("gc", "repair", "dedupe", "undo")  # the store editors


@pytest.mark.parametrize(
    ("name", "kind"),
    [(n, "enospc") for n in sorted(BUILDERS)] + [(n, "eio") for n in EIO_SCENARIOS],
)
def test_error_at_every_write_step(
    name: str, kind: str, scenarios: dict[str, Scenario], work: Path, request: pytest.FixtureRequest
) -> None:
    sc = scenarios[name]
    folder = work / re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
    folder.mkdir()
    points = cached_points(name)
    if kind == "enospc":  # every point, once per kind of file it writes
        picks = error_indices(points)
    else:  # every point name once (EIO takes the same error path with another message)
        picks = [n for n, p in enumerate(points, 1) if p.name not in {q.name for q in points[: n - 1]}]
    assert len(picks) >= 5, points

    def case(n: int) -> tuple[str, str]:
        label = f"{points[n - 1]}#{points[:n].count(points[n - 1])}"
        return label, error_case(sc, folder / f"e{n}", kind, n, label)

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes: dict[str, Any] = dict(pool.map(case, picks))
    # a write step before the first change always fails the run cleanly
    early = [k for k in outcomes if k.startswith(("backup.copy", "journal.write"))]
    assert early and all(outcomes[k] in ("error", "failed step") for k in early), outcomes
    assert sum(o != "absorbed" for o in outcomes.values()) >= len(picks) // 2, outcomes


def test_disk_full_before_any_change_leaves_no_trace_but_the_message(
    scenarios: dict[str, Scenario], work: Path
) -> None:
    """The journal cannot be written: exit 74, the message says the journal could not be
    written and that nothing was changed; the live tree is byte-identical."""
    sc = scenarios["gc"]
    case = work / "journal-enospc"
    root = sc.copy(case)
    before, runs_before = live_files(root), run_ids(root)
    p = run(root, sc.argv(case), fault="enospc:journal.write")
    assert p.rc == 74
    (line,) = [ln for ln in p.stderr.splitlines() if ln.startswith("sessionctl: error:")]
    assert "cannot write the run journal (nothing was changed)" in line and "No space left on device" in line
    assert "hint: free disk space" in p.stderr
    assert live_files(root) == before
    # the half-made run folder (copies only) is removed; planted foreign folders stay
    assert run_ids(root) == runs_before
