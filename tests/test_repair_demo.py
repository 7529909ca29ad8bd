"""Smoke test on a copy of the demo state (fixtures/demo-state): repair, archive, dedupe
and dedupe --storms fix what health reports about them, and undoing the four runs (newest
first) gives back every file byte for byte. The committed fixtures are never modified."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.helpers import REPO, StateDir
from support.repair import cli, demo_copy, live_files, undo

pytestmark = pytest.mark.slow  # end-to-end on the whole demo state: run with --slow (CI does)

FIXED = {
    "store.unparseable",
    "store.empty_file",
    "store.not_object",
    "transcript.header_invalid",
    "transcript.truncated_tail",
    "entry.session_file_outside",
    "entry.key_not_lowercase",
    "lock.stale",
    "tmp.stale",
    "transcript.orphan",
    "peer.duplicate_across_agents",
    "peer.stray",
    "sessions.spawn_storm",
}


def findings(state: StateDir) -> set[str]:
    _rc, env, _err = cli(state, "health")  # cli() passes --now 2026-05-01T12:00:00Z (the demo clock)
    return {f["check"] for f in env["findings"]}


def test_demo_state_repaired_archived_deduped_and_undone(tmp_path: Path) -> None:
    state = demo_copy(tmp_path)
    before = live_files(state.root)
    assert findings(state) & FIXED >= {
        "transcript.header_invalid",
        "transcript.truncated_tail",
        "entry.session_file_outside",
        "lock.stale",
        "transcript.orphan",
        "peer.stray",
        "sessions.spawn_storm",
    }
    runs = []
    for args in (("repair", "--merge-case"), ("archive",), ("dedupe",), ("dedupe", "--storms")):
        rc, env, err = cli(state, *args)
        assert rc == 0, (args, err, env["errors"])
        assert env["summary"]["applied"] == env["summary"]["planned"] > 0, (args, env["summary"])
        runs.append(env["run_id"])
    left = findings(state) & FIXED
    assert left == set(), left
    for run_id in reversed(runs):
        undo(state, run_id)
    assert live_files(state.root) == before
    # the committed fixtures are untouched
    assert not (REPO / "fixtures" / "demo-state" / "sessionctl").exists()
