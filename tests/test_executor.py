"""The one executor of journaled runs (sessionctl/execute.py): every command that changes
files waits for the same locks with the same --lock-timeout, and gives up before any
run folder exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.helpers import StateDir, make_entry
from support.repair import Sleeper, cli, live_files, lock_payload


def _runs(state: StateDir) -> list[str]:
    folder = state.root / "sessionctl" / "runs"
    return sorted(n for n in os.listdir(folder) if not n.startswith(".")) if folder.exists() else []


def _unsafe_store(state: StateDir) -> None:
    """A store repair --only entries changes: one entry it removes, one it keeps."""
    state.write_store(
        "main",
        {
            "agent:main:main": make_entry("11111111-1111-4111-8111-111111111111"),
            "agent:main:explicit:notobj": "just a string",
        },
    )


def test_repair_waits_lock_timeout_for_a_live_store_lock_and_changes_nothing(state: StateDir) -> None:
    """A live holder of sessions.json.lock: repair (journaled first, as its critical
    section re-checks the store under the lock) waits --lock-timeout for it, then exits
    75 naming the holder; nothing live changed and the run is marked failed."""
    _unsafe_store(state)
    lock = state.sessions_dir("main") / "sessions.json.lock"
    holder = Sleeper()
    try:
        lock.write_bytes(lock_payload(holder.pid, starttime=holder.starttime()))
        before = live_files(state.root)
        started = time.monotonic()
        rc, env, err = cli(state, "repair", "--only", "entries", "--lock-timeout", "1s")
        waited = time.monotonic() - started
    finally:
        holder.stop()
    assert rc == 75, (rc, err)
    assert env["errors"][0]["code"] == "busy"
    assert f"pid {holder.pid}" in env["errors"][0]["message"]
    assert 1.0 <= waited < 9.0  # --lock-timeout, not the 10 s default
    assert live_files(state.root) == before
    [failed] = _runs(state)
    status = json.loads((state.root / "sessionctl" / "runs" / failed / "status.json").read_bytes())
    assert status["status"] == "failed"
    # once the holder is gone, the same run goes through
    lock.unlink()
    rc, env, err = cli(state, "repair", "--only", "entries", "--lock-timeout", "1s")
    assert rc == 0, err
    assert list(state.read_store("main")) == ["agent:main:main"]
    assert env["run_id"] in _runs(state)


def test_gc_gives_up_on_a_live_store_lock_before_any_run_folder(state: StateDir) -> None:
    """gc, undo and restore wait for each store lock before the run folder is made."""
    state.write_store(
        "main",
        {
            "agent:main:main": make_entry("11111111-1111-4111-8111-111111111111"),
            "agent:main:explicit:old": make_entry("22222222-2222-4222-8222-222222222222", updatedAt=1),
        },
    )
    lock = state.sessions_dir("main") / "sessions.json.lock"
    holder = Sleeper()
    try:
        lock.write_bytes(lock_payload(holder.pid, starttime=holder.starttime()))
        before = live_files(state.root)
        rc, env, err = cli(state, "gc", "--max-age", "1d", "--lock-timeout", "1s")
    finally:
        holder.stop()
    assert rc == 75, (rc, err)
    assert env["errors"][0]["code"] == "busy"
    assert live_files(state.root) == before
    assert _runs(state) == []


@pytest.mark.parametrize("command", ["repair", "archive", "dedupe", "backup", "gc", "undo", "restore"])
def test_every_mutating_command_takes_lock_timeout(command: str, state: StateDir) -> None:
    """--lock-timeout is the same option everywhere a run is made: a bad value is a usage
    error (64) in each, a good one is accepted."""
    _unsafe_store(state)
    first = ["RUN_ID"] if command in ("undo", "restore") else []
    rc, _env, err = cli(state, command, *first, "--lock-timeout", "soon")
    assert rc == 64, (command, rc, err)
    assert "--lock-timeout" in err


def test_backup_gives_up_on_sessionctls_own_lock_after_lock_timeout(state: StateDir, tmp_path: Path) -> None:
    """backup waits for sessionctl's private lock no longer than --lock-timeout (75)."""
    _unsafe_store(state)
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom sessionctl.locks import private_lock\n"
        "with private_lock(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(state.root)], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        started = time.monotonic()
        rc, _env, err = cli(state, "backup", "--lock-timeout", "1s")
        waited = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    assert rc == 75, (rc, err)
    assert 1.0 <= waited < 30
    assert _runs(state) == []
