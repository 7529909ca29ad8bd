"""Golden test: `health --json` of the demo state (fixtures/demo-state) is pinned in
tests/golden/health-demo.json.

What is normalised, and why:
- the state dir path (the test runs on a copy, and checkouts live anywhere) → "<STATE>";
- file mtimes: git does not keep them, so the copy gets one fixed mtime for every file
  (DEMO_MTIME). Only `tmp.stale` looks at mtimes (wall clock − mtime > 5 min), and with
  the fixed, old mtime its verdict no longer depends on when the tree was checked out;
- `data.age_ms` of `lock.*` and `tmp.stale` findings: lock and temp-file ages are
  measured on the wall clock on purpose (docs/health.md), so they grow every run.
Everything else depends only on the files' bytes and on --now.

Regenerate after an intended change: UPDATE_GOLDEN=1 pytest tests/test_health_golden.py
(then review the diff of tests/golden/health-demo.json).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from support.helpers import REPO, run_json

DEMO = REPO / "fixtures" / "demo-state"
GOLDEN = REPO / "tests" / "golden" / "health-demo.json"
DEMO_NOW = "2026-05-01T12:00:00Z"
DEMO_MTIME = 1_777_327_831  # 2026-04-27T22:10:31Z: days before DEMO_NOW, long before any real run
WALL_CLOCK_FIELDS = {"lock.stale", "lock.held", "tmp.stale"}


def _copy_demo(dst: Path) -> Path:
    shutil.copytree(DEMO, dst, symlinks=True)
    for dirpath, _dirs, files in os.walk(dst):
        for name in files:
            os.utime(Path(dirpath) / name, (DEMO_MTIME, DEMO_MTIME), follow_symlinks=False)
    return dst


def normalise(env: dict[str, Any], state_dir: str) -> dict[str, Any]:
    text = json.dumps(env).replace(state_dir, "<STATE>")
    out: dict[str, Any] = json.loads(text)
    for f in out["findings"]:
        if f["check"] in WALL_CLOCK_FIELDS and "age_ms" in f["data"]:
            f["data"]["age_ms"] = "<wall clock>"
    return out


def test_health_json_of_the_demo_state_is_pinned(tmp_path: Path) -> None:
    state = _copy_demo(tmp_path / "demo-state")
    rc, env, err = run_json("health", "--now", DEMO_NOW, "--state-dir", str(state))
    got = normalise(env, str(state))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got == want, "health --json of the demo changed; see the module docstring to regenerate"
    assert rc == env["exit_code"] == 2 and err == ""


def test_demo_shows_every_seeded_problem(tmp_path: Path) -> None:
    """What the demo is for, stated independently of the golden file."""
    state = _copy_demo(tmp_path / "demo-state")
    _rc, env, _ = run_json("health", "--now", DEMO_NOW, "--state-dir", str(state))
    got = {(f["check"], f["agent"]) for f in env["findings"]}
    for expected in [
        ("entry.session_file_outside", "main"),
        ("entry.key_not_lowercase", "main"),
        ("entry.transcript_missing", "main"),
        ("peer.stray", "main"),
        ("peer.duplicate_across_agents", None),
        ("entry.tokens_high", "illarion"),
        ("transcript.oversized", "illarion"),
        ("transcript.header_invalid", "illarion"),
        ("transcript.truncated_tail", "illarion"),
        ("lock.stale", "illarion"),
        ("sessions.spawn_storm", "marketer"),
        ("transcript.orphan", "marketer"),
        ("tmp.stale", "marketer"),
        ("archive.accumulated", "main"),
        ("binding.expired", "main"),
        ("binding.dangling", "main"),
    ]:
        assert expected in got, expected
