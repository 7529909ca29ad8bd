"""Shared builders for the gc / runs / undo tests (no tests here).

`plan_for` runs the real planner on a real state dir, in-process: make_context →
resolve_policy → snapshots → collect_transcript_locks → plan_gc, with the suite's
fixed clock. `gc_state` builds the standard state of the end-to-end tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sessionctl.context import make_context
from sessionctl.policy import GcPlan, PolicyOverrides, collect_transcript_locks, plan_gc, resolve_policy
from sessionctl.snapshot import snapshot_agent
from support.helpers import (
    DAY_MS,
    HOUR_MS,
    NOW_ISO,
    NOW_MS,
    StateDir,
    header_line,
    iso,
    live_paths,
    message_line,
)


def plan_for(state: StateDir, *, now_ms: int = NOW_MS, **overrides: Any) -> GcPlan:
    ctx = make_context(state_dir=str(state.root), now=NOW_ISO)
    policy = resolve_policy(ctx, PolicyOverrides(**overrides))
    snaps = [
        snapshot_agent(s, ctx.state_dir, main_key=ctx.openclaw.main_key)
        for s in ctx.discovery.stores
        if s.layout == "file"
    ]
    return plan_gc(snaps, policy, now_ms, transcript_locks=collect_transcript_locks(snaps))


def decision(plan: GcPlan, key: str) -> Any:
    for ap in plan.agents:
        for d in ap.decisions:
            if d.key == key:
                return d
    raise AssertionError(f"no decision for {key}")


def transcript(sid: str, *, start_ms: int, last_ms: int | None = None) -> bytes:
    """Header at start_ms and one message at last_ms (default: start + 1 min)."""
    last = last_ms if last_ms is not None else start_ms + 60_000
    return header_line(sid, start_ms) + message_line("00000001", None, last)


def untimed_transcript(sid: str) -> bytes:
    """A valid transcript whose lines carry no timestamp at all."""
    head = {"type": "session", "version": 3, "id": sid, "cwd": "/home/user"}
    msg = {"type": "message", "id": "00000001", "parentId": None, "message": {"role": "user", "content": []}}
    return (json.dumps(head) + "\n" + json.dumps(msg) + "\n").encode()


def live_lock(path: Path) -> Path:
    """A gateway-style lock file `<path>.lock` held by this (live) test process."""
    from sessionctl.locks import proc_starttime

    lock = path.with_name(path.name + ".lock")
    body: dict[str, Any] = {"pid": os.getpid(), "createdAt": iso(_wall_ms())}
    st = proc_starttime(os.getpid())
    if st is not None:
        body["starttime"] = st
    lock.write_text(json.dumps(body))
    return lock


def _wall_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


# ------------------------------------------------------------------ the e2e state

OLD_DM = "agent:main:telegram:direct:111"
RECENT_DM = "agent:main:telegram:direct:222"
CRON_JOB = "agent:main:cron:nightly"
CRON_RUN = "agent:main:cron:nightly:run:r1"
OLD_TOPIC = "agent:main:telegram:group:-100:topic:7"
MAIN = "agent:main:main"
OPS_MAIN = "agent:ops:main"
OPS_HOOK = "agent:ops:hook:0b9e"


def gc_state(state: StateDir) -> dict[str, str]:
    """Two agents with sessions on both sides of `--max-age 120h` at NOW:

    main: MAIN (old, protected), OLD_DM (8 days, unknown fields, trajectory sidecar,
    compaction checkpoint, acp stream log), RECENT_DM (1 day), CRON_JOB (recent) and
    CRON_RUN (8 days) sharing one transcript, OLD_TOPIC (8 days, topic transcript), a
    skills prompt blob referenced by OLD_DM, and an unrelated old archive.
    ops: OPS_MAIN (old), OPS_HOOK (10 days).
    Returns the session ids by name.
    """
    old = NOW_MS - 8 * DAY_MS
    sids: dict[str, str] = {}
    state.write_config({"agents": {"list": [{"id": "main", "default": True}, {"id": "ops"}]}})
    sids["main"] = state.add_session("main", MAIN, updated_at=NOW_MS - 20 * DAY_MS, sessionStartedAt=old)
    blob_hash = "ab" + "c" * 62
    sids["old_dm"] = sid = state.add_session(
        "main",
        OLD_DM,
        updated_at=old,
        sessionStartedAt=old - HOUR_MS,
        channel="telegram",
        futureField={"kept": ["as", "is"], "n": 1.5},
        skillsSnapshot={"promptRef": {"hash": blob_hash, "bytes": 5}},
    )
    sdir = state.sessions_dir("main")
    # a compaction checkpoint, referenced by absolute path like OpenClaw writes it
    store = state.read_store("main")
    cp_name = f"{sid}.checkpoint.2222aaaa.jsonl"
    store[OLD_DM]["compactionCheckpoints"] = [{"preCompaction": {"sessionFile": str(sdir / cp_name)}}]
    state.write_store("main", store)
    state.write_transcript("main", cp_name, transcript(sid, start_ms=old - 2 * HOUR_MS))
    state.write_transcript("main", f"{sid}.jsonl.trajectory.jsonl", b'{"t":1}\n')
    state.write_transcript("main", f"{sid}.acp-stream.jsonl", b'{"a":1}\n')
    blob = sdir / "skills-prompts" / "sha256" / "ab" / f"{blob_hash}.txt"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"hello")
    sids["recent_dm"] = state.add_session(
        "main", RECENT_DM, updated_at=NOW_MS - DAY_MS, sessionStartedAt=NOW_MS - DAY_MS
    )
    sids["cron"] = shared = state.add_session(
        "main", CRON_JOB, updated_at=NOW_MS - HOUR_MS, sessionStartedAt=NOW_MS - 2 * HOUR_MS
    )
    state.add_session(
        "main", CRON_RUN, session_id=shared, updated_at=old, sessionStartedAt=old, transcript=False
    )
    sids["topic"] = tsid = state.add_session(
        "main", OLD_TOPIC, updated_at=old, sessionStartedAt=old, transcript=False
    )
    store = state.read_store("main")
    store[OLD_TOPIC]["sessionFile"] = str(sdir / f"{tsid}-topic-7.jsonl")
    state.write_store("main", store)
    state.write_transcript("main", f"{tsid}-topic-7.jsonl", transcript(tsid, start_ms=old))
    state.write_transcript("main", "gone.jsonl.deleted.2026-03-01T00-00-00.000Z", b'{"old":1}\n')
    sids["ops_main"] = state.add_session("ops", OPS_MAIN, updated_at=NOW_MS - 30 * DAY_MS)
    sids["ops_hook"] = state.add_session(
        "ops", OPS_HOOK, updated_at=NOW_MS - 10 * DAY_MS, sessionStartedAt=NOW_MS - 10 * DAY_MS
    )
    return sids


def live_tree(root: Path) -> dict[str, bytes]:
    """rel path → bytes of every regular file, without sessionctl's own folder."""
    return {rel: p.read_bytes() for rel, p in live_paths(root)}
