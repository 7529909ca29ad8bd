"""The restart resume set of file-era agents (sessionctl/resume.py): which sessions a
start of each OpenClaw release resumes, and how prestart / `gc --defuse-resume` defuse the
rest exactly as OpenClaw's markSessionFailed does — journaled, undone byte for byte."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from support.gc import live_tree
from support.helpers import DAY_MS, HOUR_MS, NOW_ISO, NOW_MS, StateDir, run_json

from sessionctl.resume import (
    DefusePolicy,
    ResumeEra,
    defused_entry,
    era_for_version,
    file_resumes_on_start,
    plan_defuse,
)

MIN = 60_000


@pytest.mark.parametrize(
    ("version", "era"),
    [
        ("2026.4.15", ResumeEra.NONE),
        ("2026.4.23", ResumeEra.NONE),
        ("2026.4.24", ResumeEra.ABORTED),
        ("2026.5.28", ResumeEra.ABORTED),
        ("2026.6.5", ResumeEra.ABORTED),
        ("2026.6.6", ResumeEra.RUNNING),
        ("2026.7.1", ResumeEra.RUNNING),
        ("2026.7.1-2", ResumeEra.RUNNING),
        ("2026.7.2", ResumeEra.SQLITE),
        ("2026.9.6", ResumeEra.SQLITE),
        (None, ResumeEra.RUNNING),  # unknown: the widest file-era set
        ("dev", ResumeEra.RUNNING),
    ],
)
def test_the_era_of_a_release(version: str | None, era: ResumeEra) -> None:
    assert era_for_version(version) is era


RA = {"status": "running", "abortedLastRun": True}
R = {"status": "running"}


@pytest.mark.parametrize(
    ("key", "entry", "locked", "none", "aborted", "running"),
    [
        ("agent:main:telegram:direct:1", RA, False, False, True, True),
        ("agent:main:telegram:direct:1", R, False, False, False, True),
        ("agent:main:telegram:direct:1", R, True, False, True, True),  # stale lock → marked
        (
            "agent:main:telegram:direct:1",
            {"status": "failed", "abortedLastRun": True},
            False,
            False,
            False,
            False,
        ),
        (
            "agent:main:telegram:direct:1",
            {"status": "killed", "abortedLastRun": True},
            False,
            False,
            False,
            False,
        ),
        ("agent:main:cron:job1", RA, False, False, False, False),
        ("agent:main:subagent:x", RA, False, False, False, False),
        ("subagent:x", RA, False, False, False, False),
        ("agent:main:acp:x", RA, False, False, False, False),
        ("cron:legacy", RA, False, False, True, True),  # un-prefixed cron: is not excluded
        ("agent:main:explicit:d", {**RA, "spawnDepth": 1}, False, False, False, False),
        ("agent:main:explicit:r", {**RA, "subagentRole": "orchestrator"}, False, False, False, False),
        ("agent:main:explicit:b", {**RA, "spawnDepth": True}, False, False, True, True),  # not a number
        ("agent:main:main", RA, False, False, True, True),
    ],
)
def test_who_a_start_resumes_per_era(
    key: str, entry: dict[str, Any], locked: bool, none: bool, aborted: bool, running: bool
) -> None:
    got = [
        file_resumes_on_start(key, entry, era, transcript_locked=locked)
        for era in (ResumeEra.NONE, ResumeEra.ABORTED, ResumeEra.RUNNING)
    ]
    assert got == [none, aborted, running]


def test_the_defuse_is_exactly_markSessionFailed() -> None:
    entry = {
        "sessionId": "s",
        "updatedAt": 1,
        "status": "running",
        "abortedLastRun": False,
        "pendingFinalDelivery": True,
        "pendingFinalDeliveryText": "t",
        "pendingFinalDeliveryIntentId": "intent-1",
        "restartRecoveryDeliveryRunId": "r",
        "sessionFile": "/x.jsonl",
    }
    out = defused_entry(entry, 42)
    assert list(out) == [
        "sessionId",
        "updatedAt",
        "status",
        "abortedLastRun",
        "pendingFinalDeliveryIntentId",
        "sessionFile",
        "endedAt",
    ]
    assert out["status"] == "failed" and out["abortedLastRun"] is True
    assert out["endedAt"] == out["updatedAt"] == 42
    assert entry["status"] == "running"  # the input is not changed


def test_plan_defuse_keeps_the_n_most_recent_within_the_window() -> None:
    now = NOW_MS
    cands: list[tuple[str, str, Mapping[str, Any]]] = [
        ("main", "a", {"lastInteractionAt": now - 5 * MIN, "updatedAt": now - 3 * DAY_MS}),
        ("ops", "b", {"updatedAt": now - 10 * MIN}),
        ("main", "c", {"lastInteractionAt": now - 2 * HOUR_MS, "updatedAt": now}),  # updatedAt ignored
        ("main", "d", {}),
    ]
    got = {r.key: (r.action, r.reason) for r in plan_defuse(cands, DefusePolicy(1, HOUR_MS, "1h", "t"), now)}
    assert got["a"] == ("keep", "within the resume budget")
    assert got["b"] == ("defuse", "resume budget: 2 > 1 most recently active")
    assert got["c"] == ("defuse", "idle 2h > resume window 1h")
    assert got["d"][0] == "defuse"


def _resume_state(state: StateDir) -> dict[str, str]:
    state.write_config({"agents": {"list": [{"id": "main", "default": True}, {"id": "ops"}]}})
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - 2 * MIN)
    keys = {
        "fresh": ("main", "agent:main:telegram:direct:1", NOW_MS - 5 * MIN),
        "recent": ("ops", "agent:ops:telegram:direct:2", NOW_MS - 20 * MIN),
        "old": ("main", "agent:main:telegram:direct:3", NOW_MS - 3 * DAY_MS),
    }
    for _name, (agent, key, t) in keys.items():
        state.add_session(
            agent,
            key,
            updated_at=t,
            lastInteractionAt=t,
            status="running",
            abortedLastRun=True,
            pendingFinalDeliveryText="x",
            pendingFinalDeliveryIntentId="intent",
        )
    state.add_session(
        "main", "agent:main:cron:j", updated_at=NOW_MS - 3 * DAY_MS, status="running", abortedLastRun=True
    )
    return {n: k for n, (_a, k, _t) in keys.items()}


def test_prestart_defuses_all_but_the_kept_and_undo_restores_every_byte(state: StateDir) -> None:
    keys = _resume_state(state)
    stores = {a: state.store_path(a).read_bytes() for a in ("main", "ops")}
    # health and list see the set (the widest rule: no openclaw on PATH in the tests)
    rc, env, _err = run_json("health", "--state-dir", str(state.root), "--now", NOW_ISO)
    found = [f for f in env["findings"] if f["check"] == "sessions.resume_on_start"]
    assert {f["agent"]: f["data"]["count"] for f in found} == {"main": 2, "ops": 1}
    assert {a["agent"]: a["resume_on_start"] for a in env["agents"]} == {"main": 2, "ops": 1}
    rc, env, _err = run_json("list", "--state-dir", str(state.root), "--now", NOW_ISO)
    flagged = {r["key"] for r in env["sessions"] if "resume-on-start" in r["flags"]}
    assert flagged == set(keys.values())

    rc, env, err = run_json(
        "prestart",
        "--state-dir",
        str(state.root),
        "--now",
        NOW_ISO,
        "--max-resume",
        "1",
        "--resume-within",
        "1h",
    )
    assert rc == 0, err
    gc_step = next(s for s in env["steps"] if s["name"] == "gc")
    assert gc_step["detail"]["defused"] == 2
    acts = {r["key"]: r["action"] for r in gc_step["detail"]["resume"]}
    assert acts == {keys["fresh"]: "keep", keys["recent"]: "defuse", keys["old"]: "defuse"}
    main = json.loads(state.store_path("main").read_bytes())
    ops = json.loads(state.store_path("ops").read_bytes())
    assert main[keys["fresh"]]["status"] == "running"
    for e in (main[keys["old"]], ops[keys["recent"]]):
        assert e["status"] == "failed" and e["abortedLastRun"] is True
        assert e["endedAt"] == e["updatedAt"]
        assert "pendingFinalDeliveryText" not in e and e["pendingFinalDeliveryIntentId"] == "intent"
    assert main["agent:main:cron:j"]["status"] == "running"  # cron keys are never resumed
    rc, _u, err = run_json("undo", gc_step["run_id"], "--state-dir", str(state.root))
    assert rc == 0, err
    assert {a: state.store_path(a).read_bytes() for a in ("main", "ops")} == stores


def test_gc_defuse_resume_alone_is_a_valid_gc_and_dry_run_changes_nothing(state: StateDir) -> None:
    keys = _resume_state(state)
    before = live_tree(state.root)
    args = ("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--defuse-resume", "--max-resume", "2")
    rc, env, err = run_json(*args, "--dry-run")
    assert rc == 0, err
    assert live_tree(state.root) == before
    assert [a["key"] for a in env["actions"] if a["type"] == "store.set"] == [keys["old"]]
    rc, env, err = run_json(*args)
    assert rc == 0, err
    (act,) = [a for a in env["actions"] if a["type"] == "store.set"]
    assert act["check"] == "resume.defuse" and act["state"] == "applied"
    assert env["summary"]["total"]["defused"] == 1
    assert json.loads(state.store_path("main").read_bytes())[keys["old"]]["status"] == "failed"
    rc, env, _err = run_json("gc", "--state-dir", str(state.root), "--max-resume", "2")
    assert rc == 64 and "--defuse-resume" in env["errors"][0]["message"]


def test_prestart_resume_limits_from_sessionctl_toml(state: StateDir, tmp_path: Path) -> None:
    keys = _resume_state(state)
    (state.root / "sessionctl.toml").write_text('[prestart]\nmax-resume = 0\nresume-within = "30d"\n')
    rc, env, err = run_json("prestart", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert rc == 0, err
    gc_step = next(s for s in env["steps"] if s["name"] == "gc")
    assert {r["action"] for r in gc_step["detail"]["resume"]} == {"defuse"}
    assert len(gc_step["detail"]["resume"]) == len(keys)
