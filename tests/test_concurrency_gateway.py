"""Concurrency with a gateway.

Lock era (OpenClaw v2.17–v5.1): a simulated gateway process (support.reliability.GATEWAY_SIM,
argv `… node_modules/openclaw/openclaw.mjs gateway`, package.json 2026.4.15,
OPENCLAW_STATE_DIR=<state>) takes `sessions.json.lock` exactly as format doc §6 and
re-reads / updates / atomically writes the store in a tight loop, while `sessionctl gc`
runs again and again (and an `undo`). Proven: no update of the gateway is lost except
entries gc was asked to expire and had planned (those are in gc's journals); sessionctl
never removes the gateway's live lock; no two critical sections ever overlap (both sides
log enter/exit with CLOCK_MONOTONIC into one append-only file).

Lockless era (v5.2+): while a process that looks like such a gateway serves the state
dir, every mutating command refuses (exit 75; prestart exits 0 and reports the refusal,
its unit policy) and changes nothing; once it stops, the same command succeeds.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.helpers import StateDir, clean_env
from support.reliability import (
    GATEWAY_SIM,
    FakeGateway,
    Scenario,
    build_scenario,
    cached_scenario,
    intervals,
    live_files,
    overlaps,
    read_runs,
    run,
    run_ids,
)

pytestmark = pytest.mark.slow  # simulated gateways writing concurrently: run with --slow (CI does)

DAY = 86_400_000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _old_entry(i: int) -> dict[str, Any]:
    return {"sessionId": str(uuid.uuid4()), "updatedAt": wall_ms() - 10 * DAY, "initialOld": i}


def test_gc_and_undo_never_lose_a_lock_era_gateway_update(state: StateDir, tmp_path: Path) -> None:
    state.write_config({"agents": {"list": [{"id": "main", "default": True}]}})
    initial: dict[str, Any] = {"agent:main:main": {"sessionId": str(uuid.uuid4()), "updatedAt": wall_ms()}}
    for i in range(6):
        initial[f"agent:main:cron:seed:run:{i}"] = _old_entry(i)
    state.write_store("main", initial)
    store = state.store_path("main")
    log, report_path, stop = tmp_path / "holders.log", tmp_path / "report.json", tmp_path / "stop"
    gw = FakeGateway.start(
        tmp_path / "gw",
        state.root,
        "2026.4.15",
        script=GATEWAY_SIM,
        script_args=[str(store), str(log), str(report_path), str(stop), "8"],
    )
    trace_env = clean_env(SESSIONCTL_FAULT_TRACE=str(log))
    gc_envs: list[dict[str, Any]] = []
    try:
        time.sleep(0.3)  # let the gateway add a few entries of its own
        for _ in range(6):
            p = run(state.root, ["gc", "--max-age", "5d"], env=trace_env, now=None)  # the real clock
            assert p.rc == 0, p.stderr
            gc_envs.append(p.envelope())
            time.sleep(0.1)
        first = next(e["run_id"] for e in gc_envs if e["run_id"])
        p = run(state.root, ["undo", first], env=trace_env, now=None)
        assert p.rc == 0, p.stderr
    finally:
        stop.touch()
        rc = gw.wait(timeout=60)
    assert rc == 0, gw.proc.stderr.read().decode() if gw.proc.stderr else rc
    report = json.loads(report_path.read_text())
    assert report["iterations"] > 50, report["iterations"]
    # the gateway's lock was never taken away from it, and it never waited 10 s
    assert report["thefts"] == [] and report["timeouts"] == 0 and report["broke"] == 0, report
    # at no moment two holders
    spans = intervals(log)
    assert overlaps(spans) == []
    ours = [s for s in spans if s[2].startswith("sessionctl")]
    assert len(ours) >= 2, spans[:5]
    final = json.loads(store.read_bytes())
    # every key the gateway wrote last holds its last counter
    lost = {k: (c, (final.get(k) or {}).get("simCounter")) for k, c in report["last"].items()
            if (final.get(k) or {}).get("simCounter") != c}  # fmt: skip
    assert lost == {}, f"gateway updates lost: {lost}"
    # what gc removed is in its journals, verbatim; everything else old is still there
    runs = read_runs(state.root, run_ids(state.root))
    removed = {
        a["key"]: a["entry"]
        for r in runs
        if r.journal and r.journal["command"] == "gc"
        for a in r.journal["actions"]
        if a["type"] == "store.remove"
        and any(x["id"] == a["id"] and x["state"] == "applied" for x in (r.status or {})["results"])
    }
    olds = {k: v for k, v in initial.items() if k.startswith("agent:main:cron:")} | report["added_old"]
    for key, entry in olds.items():
        assert final.get(key) == entry or removed.get(key) == entry, f"{key} lost"
    assert len(removed) >= 6, f"gc removed only {sorted(removed)}"
    # gc only ever removed old content: never an entry the gateway had refreshed (an entry it
    # refreshed between gc's plan and gc's critical section was re-checked and skipped)
    assert not [k for k, e in removed.items() if "simCounter" in e], "gc removed a refreshed entry"
    # the undo put back the first run's entries (their keys were absent)
    first_removed = [
        a["key"] for r in runs if r.run_id == first for a in (r.journal or {}).get("actions", [])
    ]
    assert first_removed and all(k in final for k in first_removed)


# ---------------------------------------------------------------- lockless era


@pytest.fixture(scope="module")
def templates() -> dict[str, Scenario]:
    names = ["gc", "repair", "archive", "dedupe", "undo", "restore", "prestart"]
    return {n: cached_scenario(n) for n in names}


def _live(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for rel, data in live_files(root).items():
        out[rel] = (data, os.lstat(root / rel).st_mtime_ns)
    return out


@pytest.mark.parametrize(
    ("name", "version"),
    [(n, "2026.5.28") for n in ("gc", "repair", "archive", "dedupe", "undo", "restore", "prestart")]
    + [("gc", None), ("prestart", None)],  # a gateway whose release cannot be told: no lock era either
)
def test_every_mutating_command_refuses_under_a_lockless_gateway(
    name: str, version: str | None, templates: dict[str, Scenario], tmp_path: Path
) -> None:
    sc = templates[name]
    root = sc.copy(tmp_path / "case")
    args = sc.argv(tmp_path / "case")
    before, runs_before = _live(root), run_ids(root)
    gw = FakeGateway.start(tmp_path / "gw", root, version)
    try:
        p = run(root, args)
        env = p.envelope()
        assert "Traceback" not in p.stderr
        if name == "prestart":
            assert p.rc == 0 and env["refused"] is not None, (p.rc, env)
            assert str(gw.pid) in json.dumps(env["refused"])
        else:
            assert p.rc == 75, (p.rc, p.stderr)
            (line,) = [ln for ln in p.stderr.splitlines() if ln.startswith("sessionctl: error:")]
            assert "gateway" in line and f"pid {gw.pid}" in line, line
        assert _live(root) == before
        assert run_ids(root) == runs_before
    finally:
        gw.stop()
    p = run(root, args)
    assert p.rc == 0, p.stderr
    assert set(run_ids(root)) - set(runs_before)  # a new run (gc and prestart may prune an old one)
    assert live_files(root) != {k: v[0] for k, v in before.items()}


def test_transcript_surgery_refuses_under_a_lock_era_gateway_too(tmp_path: Path) -> None:
    """The store lock excludes a v2.17–v5.1 gateway from the store, not from transcripts
    (v5.28+ gateways even treat a foreign transcript lock as stale): repair's transcript
    rewrites and quarantines refuse under any running gateway; gc's store edits do not."""
    sc = build_scenario("repair", tmp_path / "tpl")
    root = sc.copy(tmp_path / "case")
    before = _live(root)
    gw = FakeGateway.start(tmp_path / "gw", root, "2026.4.15")
    try:
        p = run(root, sc.argv(tmp_path / "case"))
        assert p.rc == 75, p.stderr
        # refused because of this gateway, not for any other reason worth 75 (a busy lock)
        (line,) = [ln for ln in p.stderr.splitlines() if ln.startswith("sessionctl: error:")]
        assert "gateway 2026.4.15" in line and f"pid {gw.pid}" in line, line
        assert "will not change anything" in line, line
        # the reason is transcript surgery, not a missing store lock (2026.4.15 takes one)
        assert "transcript surgery" in line and "no cross-process store lock" not in line, line
        assert _live(root) == before
        p = run(root, ["repair", "--only", "entries"])
        assert p.rc == 0, p.stderr  # store edits only: the store lock excludes this gateway
        env = p.envelope()
        assert env["actions"], env  # it did edit the store under the gateway, not just exit 0
        assert all(a["type"].startswith("store.") and a["state"] == "applied" for a in env["actions"]), env
        assert _live(root) != before
    finally:
        gw.stop()


# ---------------------------------------------------------------- the instruments themselves


def test_the_overlap_check_sees_two_holders(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text(
        "enter 1 100\nstore.locked 2 150\nexit 1 200\nstore.unlock 2 300\nenter 1 400\nexit 1 500\n"
    )
    spans = intervals(log)
    assert [s[2] for s in spans] == ["sim:1", "sessionctl:2", "sim:1"]
    assert overlaps(spans) == [((100, 200, "sim:1"), (150, 300, "sessionctl:2"))]


def test_the_gateway_simulator_sees_its_lock_taken(state: StateDir, tmp_path: Path) -> None:
    """A writer that ignores the protocol (deletes the lock whenever it sees one) is
    caught: the simulator records thefts — so `thefts == []` above means something."""
    state.write_store("main", {"agent:main:main": {"sessionId": "m", "updatedAt": wall_ms()}})
    store = state.store_path("main")
    lock = store.with_name("sessions.json.lock")
    log, report_path, stop = tmp_path / "log", tmp_path / "report.json", tmp_path / "stop"
    gw = FakeGateway.start(
        tmp_path / "gw", state.root, "2026.4.15", script=GATEWAY_SIM,
        script_args=[str(store), str(log), str(report_path), str(stop), "1"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)
    finally:
        stop.touch()
        rc = gw.wait(timeout=60)
    assert rc == 0, gw.proc.stderr.read().decode() if gw.proc.stderr else rc
    report = json.loads(report_path.read_text())
    assert report["iterations"] > 0 and report["thefts"], report
