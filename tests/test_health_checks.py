"""Every health check id: the problem is built in real files, the finding (id, severity,
agent, key/path) and the exit code are asserted through the CLI (in-process, support.helpers.run_cli).

The run's clock is fixed with --now (support.helpers.NOW_ISO); lock and temp-file ages use the
wall clock on purpose (docs/health.md), so those tests build them relative to time.time().
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.helpers import (
    DAY_MS,
    HOUR_MS,
    NOW_ISO,
    NOW_MS,
    StateDir,
    dead_pid,
    header_line,
    iso,
    message_line,
    run_json,
    transcript_bytes,
)

MIN_MS = 60_000


def health(state: StateDir, *args: str) -> tuple[int, dict[str, Any]]:
    rc, env, _err = run_json("health", "--state-dir", str(state.root), "--now", NOW_ISO, *args)
    assert env["command"] == "health"
    assert env["exit_code"] == rc, (rc, env)
    return rc, env


def found(env: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in env["findings"] if f["check"] == check]


def only(env: dict[str, Any], check: str) -> dict[str, Any]:
    hits = found(env, check)
    assert len(hits) == 1, (check, env["findings"])
    return hits[0]


def checks(env: dict[str, Any]) -> set[str]:
    return {f["check"] for f in env["findings"]}


def healthy(state: StateDir, agent: str = "main", n: int = 2) -> list[str]:
    """n sane sessions with transcripts."""
    keys = [f"agent:{agent}:main", *(f"agent:{agent}:telegram:direct:{agent}-{i}" for i in range(n - 1))]
    for k in keys:
        state.add_session(agent, k, updated_at=NOW_MS - HOUR_MS)
    return keys


# ---------------------------------------------------------------- the store


@pytest.mark.parametrize(
    ("raw", "check"),
    [
        (b'{\n  "agent:main:main": {\n    "sessionId": "a",', "store.unparseable"),
        (b"", "store.empty_file"),
        (b"[]", "store.not_object"),
    ],
)
def test_broken_store_is_critical(state: StateDir, raw: bytes, check: str) -> None:
    path = state.write_store("main", raw)
    rc, env = health(state)
    f = only(env, check)
    assert (f["severity"], f["agent"], f["path"]) == ("critical", "main", str(path))
    assert f["fix"] == "sessionctl repair --only store --agent main"
    assert rc == 2 and env["status"] == "critical"


def test_invalid_utf8_inside_a_string_is_a_warning_not_a_damaged_store(state: StateDir) -> None:
    """Node reads the invalid byte as U+FFFD and the store loads with every entry: valid
    for OpenClaw, so a warning (store.invalid_utf8), never store.unparseable."""
    raw = b'{\n  "agent:main:main": {\n    "sessionId": "a",\n    "label": "x\xffy",\n    "updatedAt": 1\n  }\n}'
    path = state.write_store("main", raw)
    rc, env = health(state)
    assert found(env, "store.unparseable") == []
    f = only(env, "store.invalid_utf8")
    assert (f["severity"], f["path"]) == ("warning", str(path))
    offset = raw.index(b"\xff")  # the first invalid byte (no backslash in an f-string on 3.11)
    assert re.search(rf"\bat byte {offset}\b", f["message"]), (offset, f["message"])
    assert "reads those bytes as U+FFFD and keeps every entry" in f["message"]
    assert rc == 1
    assert path.read_bytes() == raw


def test_invalid_utf8_that_breaks_the_json_is_critical(state: StateDir) -> None:
    raw = b'{\n  "agent:main:main": \xff\n}'
    path = state.write_store("main", raw)
    rc, env = health(state)
    f = only(env, "store.unparseable")
    assert (f["severity"], f["path"]) == ("critical", str(path))
    offset = raw.index(b"\xff")
    assert f"not valid UTF-8 at byte {offset}" in f["message"]
    assert "OpenClaw would load it as {}" in f["message"]
    assert rc == 2


def test_legacy_store_in_sqlite_era_is_critical_and_names_doctor(state: StateDir) -> None:
    from support.sqlite_fixture import AgentDbBuilder

    healthy(state)
    before = state.store_path("main").read_bytes()
    db = AgentDbBuilder(state.root, "main", now_ms=NOW_MS)
    db.add_session("agent:main:main")
    db.close()
    rc, env = health(state)
    f = only(env, "store.legacy_pending_migration")
    assert (f["severity"], f["agent"]) == ("critical", "main")
    assert f["path"] == str(state.store_path("main"))
    assert "openclaw doctor --fix" in f["message"]
    assert env["agents"][0]["layout"] == "sqlite"
    assert env["agents"][0]["entries"] == 1  # the database is what the runtime reads: checked
    # nothing inside the legacy store (which the runtime no longer reads) is judged, nor changed
    assert checks(env) == {"store.legacy_pending_migration"}
    assert state.store_path("main").read_bytes() == before
    assert rc == 2


def test_a_file_that_is_not_a_database_is_unreadable(state: StateDir) -> None:
    sqlite = state.agent_dir("main") / "agent" / "openclaw-agent.sqlite"
    sqlite.parent.mkdir(parents=True)
    sqlite.write_bytes(b"SQLite format 3\x00")
    rc, env = health(state)
    f = only(env, "store.unreadable")
    assert (f["severity"], f["agent"], f["path"]) == ("critical", "main", str(sqlite))
    assert env["agents"][0]["store_status"] == "unreadable"
    assert rc == 2


def test_store_oversized_by_flag_and_by_config(state: StateDir) -> None:
    healthy(state)
    size = state.store_path("main").stat().st_size
    rc, env = health(state, "--store-max-mb", "0.0001")
    f = only(env, "store.oversized")
    assert (f["severity"], f["agent"], f["path"]) == ("warning", "main", str(state.store_path("main")))
    assert f["data"] == {"bytes": size, "threshold": int(0.0001 * 1024 * 1024)}
    assert rc == 1
    (state.root / "sessionctl.toml").write_text("[health]\nstore_max_mb = 0.0001\n")
    rc, env = health(state)
    assert only(env, "store.oversized")["severity"] == "warning" and rc == 1
    rc, env = health(state, "--store-max-mb", "50")  # the flag beats the file
    assert not found(env, "store.oversized") and rc == 0


def test_too_many_entries_uses_openclaw_max_entries(state: StateDir) -> None:
    healthy(state, n=4)
    rc, env = health(state)
    assert not found(env, "store.too_many_entries") and rc == 0
    state.write_config({"session": {"maintenance": {"maxEntries": 3}}})
    rc, env = health(state)
    f = only(env, "store.too_many_entries")
    assert (f["severity"], f["agent"]) == ("warning", "main")
    assert f["data"] == {"entries": 4, "threshold": 3, "source": "openclaw.json"}
    assert rc == 1
    rc, env = health(state, "--max-entries", "10")
    assert not found(env, "store.too_many_entries") and rc == 0


# ---------------------------------------------------------------- entries


def test_invalid_entries(state: StateDir) -> None:
    good = str(uuid.uuid4())
    state.write_store(
        "main",
        {
            "agent:main:main": {"sessionId": good, "updatedAt": NOW_MS},
            "agent:main:explicit:a": 5,
            "agent:main:explicit:b": {"sessionId": "../../etc/passwd", "updatedAt": NOW_MS},
            "agent:main:explicit:c": {"sessionId": str(uuid.uuid4()), "updatedAt": "yesterday"},
            "agent:main:explicit:d": {"updatedAt": NOW_MS},
        },
    )
    state.write_transcript("main", f"{good}.jsonl", transcript_bytes(good))
    rc, env = health(state)
    hits = found(env, "entry.invalid_shape")
    assert sorted(f["key"] for f in hits) == [f"agent:main:explicit:{x}" for x in "abcd"]
    assert {f["severity"] for f in hits} == {"warning"}
    fixes = {f["key"][-1]: f["fix"] for f in hits}
    assert fixes == {
        "a": "sessionctl repair --only entries --agent main",
        "b": "sessionctl repair --only entries --agent main",
        "c": None,  # a bad updatedAt: repair leaves it, nothing to suggest
        "d": "sessionctl repair --only entries --agent main",
    }
    assert rc == 1


def test_mixed_case_key_names_its_twin(state: StateDir) -> None:
    state.add_session("main", "agent:main:telegram:direct:55")
    state.add_session("main", "agent:main:Telegram:direct:55")
    rc, env = health(state)
    f = only(env, "entry.key_not_lowercase")
    assert (f["severity"], f["agent"], f["key"]) == ("warning", "main", "agent:main:Telegram:direct:55")
    assert f["data"]["collides_with"] == ["agent:main:telegram:direct:55"]
    assert f["fix"] == "sessionctl repair --only entries --merge-case --agent main"
    assert rc == 1


def test_session_file_outside_is_critical_and_never_followed(state: StateDir, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_bytes(b"not a transcript at all\n")
    state.add_session("main", "agent:main:main", sessionFile=str(outside))
    rc, env = health(state, "--deep")
    f = only(env, "entry.session_file_outside")
    assert (f["severity"], f["agent"], f["key"]) == ("critical", "main", "agent:main:main")
    assert f["data"]["session_file"] == str(outside)
    # the outside file was not read: no header finding for it
    assert not any(f["path"] == str(outside) for f in env["findings"])
    assert rc == 2


def test_missing_transcript_grace(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")  # has its transcript
    state.add_session(
        "main", "agent:main:telegram:direct:1", transcript=False, sessionStartedAt=NOW_MS - 2 * MIN_MS
    )
    rc, env = health(state)
    f = only(env, "entry.transcript_missing")
    assert (f["severity"], f["key"]) == ("info", "agent:main:telegram:direct:1")
    assert rc == 0
    state.add_session("main", "agent:main:telegram:direct:2", transcript=False, updated_at=NOW_MS - DAY_MS)
    rc, env = health(state)
    sev = {f["key"]: f["severity"] for f in found(env, "entry.transcript_missing")}
    assert sev == {"agent:main:telegram:direct:1": "info", "agent:main:telegram:direct:2": "warning"}
    assert rc == 1
    rc, env = health(state, "--fail-on", "critical")
    assert rc == 0 and env["status"] == "warning"


def test_tokens_by_session_type(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", totalTokens=149_000)  # main: 150k/200k
    state.add_session("main", "agent:main:telegram:group:-100", totalTokens=60_000)  # groups 50k/150k
    state.add_session("main", "agent:main:telegram:direct:7", totalTokens=160_000)  # DMs 100k/150k
    state.add_session(
        "main", "agent:main:discord:channel:9:thread:5", inputTokens=40_000, outputTokens=20_000
    )
    state.add_session("main", f"agent:main:subagent:{uuid.uuid4()}", totalTokens=900_000)  # no threshold
    rc, env = health(state)
    sev = {f["key"]: (f["severity"], f["data"]["type"]) for f in found(env, "entry.tokens_high")}
    assert sev == {
        "agent:main:telegram:group:-100": ("warning", "groups"),
        "agent:main:telegram:direct:7": ("critical", "dms"),
        "agent:main:discord:channel:9:thread:5": ("warning", "groups"),
    }
    assert rc == 2


def test_token_thresholds_from_config(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", totalTokens=120_000)
    (state.root / "sessionctl.toml").write_text("[health.tokens]\nmain = { warning = 100000 }\n")
    rc, env = health(state)
    f = only(env, "entry.tokens_high")
    assert (f["severity"], f["key"]) == ("warning", "agent:main:main") and rc == 1


def test_stale_entry_follows_the_gc_policy(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - 90 * DAY_MS)  # main: gc protects it
    state.add_session("main", "agent:main:telegram:direct:3", updated_at=NOW_MS - 40 * DAY_MS)
    state.add_session("main", "agent:main:telegram:direct:4", updated_at=NOW_MS - 10 * DAY_MS)
    rc, env = health(state)
    assert not found(env, "entry.stale") and rc == 0  # no policy anywhere: nothing is stale
    assert env["stale_policy"]["source"] == "none"
    # OpenClaw's own maintenance: pruneAfter becomes gc's idle limit
    state.write_config({"session": {"maintenance": {"pruneAfter": "30d"}}})
    rc, env = health(state)
    f = only(env, "entry.stale")
    assert (f["severity"], f["agent"], f["key"]) == ("info", "main", "agent:main:telegram:direct:3")
    assert f["data"]["rule"] == "idle" and "pruneAfter" in f["data"]["source"]
    assert f["fix"] == "sessionctl gc --agent main"
    assert rc == 0
    # sessionctl.toml's [gc] wins over openclaw.json, exactly as for gc itself
    (state.root / "sessionctl.toml").write_text('[gc]\nidle = "7d"\n')
    rc, env = health(state)
    assert sorted(f["key"] for f in found(env, "entry.stale")) == [
        "agent:main:telegram:direct:3",
        "agent:main:telegram:direct:4",
    ]
    assert "sessionctl.toml" in env["stale_policy"]["source"]
    # the same decision `gc --dry-run` shows
    gc = run_json("gc", "--dry-run", "--state-dir", str(state.root), "--now", NOW_ISO)[1]
    removed = sorted(a["key"] for a in gc["actions"] if a["type"] == "store.remove")
    assert removed == sorted(f["key"] for f in found(env, "entry.stale"))


def test_bad_gc_policy_makes_health_unknown(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    (state.root / "sessionctl.toml").write_text('[gc]\nidle = "soon"\n')
    rc, env = health(state)
    assert rc == 3 and env["errors"][0]["code"] == "bad_config"


# ---------------------------------------------------------------- transcripts


def test_header_invalid_is_critical(state: StateDir) -> None:
    sid = str(uuid.uuid4())
    body = message_line("00000001", None, NOW_MS - HOUR_MS)
    state.add_session("main", "agent:main:main", session_id=sid, transcript=body)
    rc, env = health(state)
    f = only(env, "transcript.header_invalid")
    assert (f["severity"], f["key"]) == ("critical", "agent:main:main")
    assert f["path"] == str(state.sessions_dir("main") / f"{sid}.jsonl")
    assert f["fix"] == "sessionctl repair --only transcripts --agent main"
    assert rc == 2


def test_id_mismatch(state: StateDir) -> None:
    sid = str(uuid.uuid4())
    state.add_session("main", "agent:main:main", session_id=sid, transcript=transcript_bytes("other-id"))
    rc, env = health(state)
    f = only(env, "transcript.id_mismatch")
    assert (f["severity"], f["key"]) == ("warning", "agent:main:main")
    assert f["data"] == {"header_id": "other-id", "session_id": sid}
    assert rc == 1


def test_bad_line_and_broken_parent_only_in_deep_mode(state: StateDir) -> None:
    sid = str(uuid.uuid4())
    data = (
        header_line(sid)
        + message_line("00000001", None, NOW_MS - HOUR_MS)
        + b'{"type":"message","id":"00000002",\n'
        + message_line("00000003", "deadbeef", NOW_MS - HOUR_MS + 1)
        + message_line("00000004", "00000003", NOW_MS - HOUR_MS + 2)
    )
    path = state.write_transcript("main", f"{sid}.jsonl", data)
    state.write_store("main", {"agent:main:main": {"sessionId": sid, "updatedAt": NOW_MS}})
    rc, env = health(state)
    assert not found(env, "transcript.bad_line") and not found(env, "transcript.broken_parent")
    assert rc == 0
    rc, env = health(state, "--deep")
    bad = only(env, "transcript.bad_line")
    assert (bad["severity"], bad["path"], bad["data"]["lines"]) == ("warning", str(path), [3])
    assert bad["fix"] == "sessionctl repair --only transcripts --drop-bad-lines --agent main"
    broken = only(env, "transcript.broken_parent")
    assert (broken["severity"], broken["data"]["lines"]) == ("warning", [4])
    assert env["deep"] is True and rc == 1


def test_truncated_tail(state: StateDir) -> None:
    sid = str(uuid.uuid4())
    data = transcript_bytes(sid) + b'{"type":"message","id":"0000000a","parentId":"00000002","mess'
    state.add_session("main", "agent:main:main", session_id=sid, transcript=data)
    rc, env = health(state)
    f = only(env, "transcript.truncated_tail")
    assert (f["severity"], f["key"]) == ("warning", "agent:main:main")
    assert f["data"]["bytes_after_last_newline"] == 61
    assert rc == 1


def test_transcript_oversized(state: StateDir) -> None:
    sid = str(uuid.uuid4())
    data = transcript_bytes(sid, messages=40)
    state.add_session("main", "agent:main:main", session_id=sid, transcript=data)
    rc, env = health(state)
    assert not found(env, "transcript.oversized") and rc == 0
    rc, env = health(state, "--transcript-max-kb", "1")
    f = only(env, "transcript.oversized")
    assert (f["severity"], f["key"], f["data"]["bytes"]) == ("warning", "agent:main:main", len(data))
    assert rc == 1


def test_orphans(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:main")
    state.write_transcript("main", f"{sid}.trajectory.jsonl", b"{}\n")  # belongs to a live transcript
    orphan = str(uuid.uuid4())
    p1 = state.write_transcript("main", f"{orphan}.jsonl", transcript_bytes(orphan))
    p2 = state.write_transcript("main", f"{orphan}.checkpoint.{uuid.uuid4()}.jsonl", transcript_bytes(orphan))
    state.write_transcript("main", f"{orphan}.jsonl.deleted.2026-04-01T00-00-00.000Z", b"x\n")  # an archive
    rc, env = health(state)
    hits = found(env, "transcript.orphan")
    assert sorted(f["path"] for f in hits) == sorted([str(p1), str(p2)])
    assert {(f["severity"], f["agent"], f["fix"]) for f in hits} == {
        ("warning", "main", "sessionctl archive --agent main")
    }
    assert rc == 1


def test_transcript_used_by_a_sibling_agent_is_no_orphan(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    shared = str(uuid.uuid4())
    path = state.write_transcript("main", f"{shared}.jsonl", transcript_bytes(shared))
    # OpenClaw accepts a sessionFile in a sibling agent's sessions folder (format doc §3)
    state.add_session("work", "agent:work:main", session_id=shared, transcript=False, sessionFile=str(path))
    rc, env = health(state)
    assert not found(env, "transcript.orphan") and not found(env, "entry.transcript_missing")
    assert rc == 0


# ---------------------------------------------------------------- locks, temp files, archives


def _lock(path: Path, pid: int, created_ms: int) -> None:
    from sessionctl.locks import proc_starttime

    payload: dict[str, Any] = {"pid": pid, "createdAt": iso(created_ms)}
    st = proc_starttime(pid)
    if st is not None:
        payload["starttime"] = st
    path.write_text(json.dumps(payload))


def test_stale_store_lock_and_stale_transcript_lock(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:main")
    wall = int(time.time() * 1000)
    store_lock = state.sessions_dir("main") / "sessions.json.lock"
    _lock(store_lock, dead_pid(), wall - 1000)
    t_lock = state.sessions_dir("main") / f"{sid}.jsonl.lock"
    _lock(t_lock, os.getpid(), wall - 45 * MIN_MS)  # alive, but older than 30 min
    rc, env = health(state)
    hits = {Path(f["path"]).name: f for f in found(env, "lock.stale")}
    assert set(hits) == {"sessions.json.lock", f"{sid}.jsonl.lock"}
    assert hits["sessions.json.lock"]["severity"] == "warning"
    assert "not running" in hits["sessions.json.lock"]["message"]
    assert hits[f"{sid}.jsonl.lock"]["data"]["pid"] == os.getpid()
    assert {f["fix"] for f in hits.values()} == {"sessionctl repair --only locks --agent main"}
    assert rc == 1


def test_live_lock_is_info_with_holder(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    _lock(state.sessions_dir("main") / "sessions.json.lock", os.getpid(), int(time.time() * 1000))
    rc, env = health(state)
    f = only(env, "lock.held")
    assert (f["severity"], f["agent"], f["data"]["pid"], f["data"]["alive"]) == (
        "info",
        "main",
        os.getpid(),
        True,
    )
    assert f"pid {os.getpid()}" in f["message"]
    assert rc == 0


def test_lock_ages_use_the_wall_clock_even_with_now_in_the_past(state: StateDir) -> None:
    """--now is a year before the lock was taken; the lock is judged on the real clock."""
    state.add_session("main", "agent:main:main")
    _lock(state.sessions_dir("main") / "sessions.json.lock", os.getpid(), int(time.time() * 1000))
    rc, env = run_json("health", "--state-dir", str(state.root), "--now", "2020-01-01T00:00:00Z")[:2]
    assert only(env, "lock.held")["data"]["age_ms"] >= 0 and not found(env, "lock.stale")
    assert rc == 0


def test_stale_temp_files_and_repair_leftovers(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:main")
    d = state.sessions_dir("main")
    old = time.time() - 10 * 60
    stale = [
        d / f"sessions.json.4242.{uuid.uuid4()}.tmp",
        d / f"{sid}.jsonl.bak-4242-1777000000000",
        d / f"{sid}.jsonl.repair-4242-1777000000000.tmp",
    ]
    for p in stale:
        p.write_bytes(b"{}")
        os.utime(p, (old, old))
    fresh = d / f"sessions.json.{uuid.uuid4()}.tmp"
    fresh.write_bytes(b"{}")  # younger than 5 min: a write in progress
    rc, env = health(state)
    hits = found(env, "tmp.stale")
    assert sorted(f["path"] for f in hits) == sorted(str(p) for p in stale)
    assert {(f["severity"], f["fix"]) for f in hits} == {
        ("info", "sessionctl repair --only leftovers --agent main")
    }
    assert rc == 0


def test_archives_accumulated(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:main")
    state.write_transcript("main", f"{uuid.uuid4()}.jsonl.deleted.2026-04-02T03-04-05.678Z", b"a" * 100)
    state.write_transcript("main", f"{sid}.jsonl.reset.2026-04-20T00-00-00.000Z", b"b" * 50)
    state.write_transcript("main", "sessions.json.bak.1776000000000", b"{}")
    rc, env = health(state)
    f = only(env, "archive.accumulated")
    assert (f["severity"], f["agent"], f["path"]) == ("info", "main", str(state.sessions_dir("main")))
    assert f["data"]["count"] == 3 and f["data"]["bytes"] == 152
    assert f["data"]["oldest"] == "2026-04-02T03:04:05.678Z"
    assert f["data"]["by_reason"] == {"bak": 1, "deleted": 1, "reset": 1}
    assert env["agents"][0]["archives"] == 3
    assert rc == 0


# ---------------------------------------------------------------- peers


def test_duplicate_peer_across_agents(state: StateDir) -> None:
    state.write_config({"agents": {"list": [{"id": "main", "default": True}, {"id": "work"}]}})
    state.add_session("main", "agent:main:telegram:direct:4242")
    state.add_session("work", "agent:work:telegram:direct:4242")
    state.add_session("work", "agent:work:telegram:direct:1111")
    rc, env = health(state)
    f = only(env, "peer.duplicate_across_agents")
    assert f["severity"] == "warning" and f["agent"] is None
    assert f["data"]["sessions"] == [
        {"agent": "main", "key": "agent:main:telegram:direct:4242"},
        {"agent": "work", "key": "agent:work:telegram:direct:4242"},
    ]
    assert f["fix"] == "sessionctl dedupe"
    assert not found(env, "peer.stray")  # no bindings: routing says nothing
    assert rc == 1


def test_duplicate_through_identity_links(state: StateDir) -> None:
    state.write_config({"session": {"dmScope": "per-peer", "identityLinks": {"anya": ["telegram:4242"]}}})
    state.add_session("main", "agent:main:direct:anya")
    state.add_session("work", "agent:work:telegram:direct:4242")
    rc, env = health(state)
    f = only(env, "peer.duplicate_across_agents")
    assert f["data"]["peer"]["linked"] == "anya" and f["data"]["agents"] == ["main", "work"]
    assert rc == 1


def test_stray_session_against_a_peer_binding(state: StateDir) -> None:
    state.write_config(
        {
            "agents": {"list": [{"id": "main", "default": True}, {"id": "fast"}]},
            "bindings": [
                {
                    "agentId": "fast",
                    "match": {"channel": "whatsapp", "peer": {"kind": "group", "id": "G1@g.us"}},
                }
            ],
        }
    )
    state.add_session("main", "agent:main:whatsapp:group:g1@g.us")
    state.add_session("main", "agent:main:whatsapp:group:other@g.us")  # falls to the default agent: fine
    rc, env = health(state)
    f = only(env, "peer.stray")
    assert (f["severity"], f["agent"], f["key"]) == ("warning", "main", "agent:main:whatsapp:group:g1@g.us")
    assert f["data"]["expected_agent"] == "fast" and f["data"]["matched_by"] == "binding.peer"
    assert f["data"]["binding_index"] == 0
    assert rc == 1


# ---------------------------------------------------------------- spawn storms


def _burst(state: StateDir, n: int, start: int, step: int, prefix: str = "agent:main:explicit") -> None:
    store: dict[str, Any] = {}
    for i in range(n):
        t = start + i * step
        store[f"{prefix}:dyad-coord-{t}-{i:04x}"] = {
            "sessionId": str(uuid.uuid4()),
            "updatedAt": t + 5000,
            "sessionStartedAt": t,
        }
    state.write_store("main", store)


def test_spawn_storm_warning_within_an_hour(state: StateDir) -> None:
    _burst(state, 25, NOW_MS - 3 * HOUR_MS, 2 * MIN_MS)
    rc, env = health(state)
    f = only(env, "sessions.spawn_storm")
    assert (f["severity"], f["agent"]) == ("warning", "main")
    assert f["data"]["prefix"] == "agent:main:explicit" and f["data"]["count"] == 25
    assert f["fix"] == "sessionctl dedupe --storms --agent main"
    assert rc == 1


def test_491_sessions_in_a_day_is_critical(state: StateDir) -> None:
    _burst(state, 491, NOW_MS - 20 * HOUR_MS, 2 * MIN_MS)
    rc, env = health(state)
    f = only(env, "sessions.spawn_storm")
    assert f["severity"] == "critical" and f["data"]["count"] == 491
    assert rc == 2


def test_slow_steady_sessions_are_no_storm(state: StateDir) -> None:
    _burst(state, 40, NOW_MS - 40 * DAY_MS, DAY_MS)  # one a day
    _rc, env = health(state)
    assert not found(env, "sessions.spawn_storm")
    assert len(found(env, "entry.transcript_missing")) == 40  # the run did look at every entry


def test_storm_thresholds_from_config(state: StateDir) -> None:
    _burst(state, 6, NOW_MS - 3 * HOUR_MS, MIN_MS)
    (state.root / "sessionctl.toml").write_text('[health.spawn_storm]\nwarning = 5\nwindow = "10min"\n')
    rc, env = health(state)
    assert only(env, "sessions.spawn_storm")["severity"] == "warning" and rc == 1


# ---------------------------------------------------------------- thread bindings

SECRET = "wh-SECRET-token-do-not-print"


def _discord_bindings(state: StateDir, bindings: dict[str, Any]) -> Path:
    return state.write_discord_bindings(bindings)


def test_expired_and_dangling_bindings(state: StateDir) -> None:
    sub = f"agent:main:subagent:{uuid.uuid4()}"
    state.add_session("main", sub)
    gone = f"agent:main:subagent:{uuid.uuid4()}"
    common = {"channelId": "c1", "targetKind": "subagent", "accountId": "default", "agentId": "main"}
    path = _discord_bindings(
        state,
        {
            "default:t1": {
                **common,
                "threadId": "t1",
                "targetSessionKey": sub,
                "boundAt": NOW_MS - 3 * DAY_MS,
                "lastActivityAt": NOW_MS - 2 * DAY_MS,
                "idleTimeoutMs": DAY_MS,
                "maxAgeMs": 0,
                "webhookId": "w1",
                "webhookToken": SECRET,
            },
            "default:t2": {
                **common,
                "threadId": "t2",
                "targetSessionKey": gone,
                "boundAt": NOW_MS - HOUR_MS,
                "lastActivityAt": NOW_MS - HOUR_MS,
                "idleTimeoutMs": DAY_MS,
                "maxAgeMs": 0,
                "webhookToken": SECRET,
            },
            "default:t3": {
                **common,
                "threadId": "t3",
                "targetSessionKey": sub,
                "boundAt": NOW_MS - HOUR_MS,
                "lastActivityAt": NOW_MS - HOUR_MS,
                "idleTimeoutMs": DAY_MS,
                "webhookToken": SECRET,
            },
        },
    )
    rc, env = health(state)
    exp = only(env, "binding.expired")
    assert (exp["severity"], exp["agent"], exp["key"], exp["path"]) == ("info", "main", sub, str(path))
    dang = only(env, "binding.dangling")
    assert (dang["severity"], dang["agent"], dang["key"]) == ("warning", "main", gone)
    assert exp["fix"] == dang["fix"] == "sessionctl gc --agent main"
    assert rc == 1
    for args in ((), ("--format", "prometheus")):
        from support.helpers import run_cli

        out = run_cli("health", "--state-dir", str(state.root), "--now", NOW_ISO, "-v", *args)
        assert SECRET not in out.stdout + out.stderr
    assert SECRET not in json.dumps(env)


def test_telegram_binding_with_legacy_expires_at(state: StateDir) -> None:
    state.add_session("main", "agent:main:acp:abc")
    tdir = state.root / "telegram"
    tdir.mkdir()
    (tdir / "thread-bindings-work.json").write_text(
        json.dumps(
            {
                "version": 1,
                "bindings": [
                    {
                        "conversationId": "-100:topic:7",
                        "targetKind": "acp",
                        "targetSessionKey": "agent:main:acp:abc",
                        "agentId": "main",
                        "boundAt": NOW_MS - 2 * DAY_MS,
                        "lastActivityAt": NOW_MS - MIN_MS,
                        "expiresAt": NOW_MS - DAY_MS,
                    }
                ],
            }
        )
    )
    rc, env = health(state)
    f = only(env, "binding.expired")
    assert f["data"]["account_id"] == "work" and f["data"]["max_age_ms"] == DAY_MS
    assert rc == 0


# ---------------------------------------------------------------- clean and read-only


def test_clean_store_has_no_warnings(state: StateDir) -> None:
    state.write_config({"agents": {"list": [{"id": "main", "default": True}, {"id": "work"}]}})
    healthy(state, "main", n=3)
    healthy(state, "work", n=2)
    rc, env = health(state, "--deep")
    assert env["findings"] == [] and rc == 0 and env["status"] == "ok"
    assert env["summary"]["critical"] == env["summary"]["warning"] == env["summary"]["info"] == 0


# ---------------------------------------------------------------- the extra ids of docs/health.md


def test_empty_and_unreadable_transcripts(state: StateDir, tmp_path: Path) -> None:
    empty = state.add_session("main", "agent:main:main", transcript=b"")
    linked = state.add_session("main", "agent:main:telegram:direct:1", transcript=False)
    target = tmp_path / "secret.jsonl"
    target.write_bytes(transcript_bytes(linked))
    (state.sessions_dir("main") / f"{linked}.jsonl").symlink_to(target)
    rc, env = health(state, "--deep")
    e = only(env, "transcript.empty")
    assert (e["severity"], e["key"]) == ("info", "agent:main:main")
    assert e["path"] == str(state.sessions_dir("main") / f"{empty}.jsonl")
    u = only(env, "transcript.unreadable")
    assert (u["severity"], u["key"]) == ("warning", "agent:main:telegram:direct:1")
    assert "symbolic link" in u["message"]
    assert rc == 1


def test_store_that_is_a_directory_is_unreadable(state: StateDir) -> None:
    state.store_path("main").mkdir(parents=True)
    rc, env = health(state)
    f = only(env, "store.unreadable")
    assert (f["severity"], f["agent"]) == ("critical", "main") and rc == 2


def test_state_dir_level_findings(state: StateDir, tmp_path: Path) -> None:
    state.add_session("main", "agent:main:main")
    elsewhere = tmp_path / "elsewhere-agent"
    (elsewhere / "sessions").mkdir(parents=True)
    (state.root / "agents" / "linked").symlink_to(elsewhere)
    (state.root / "openclaw.json").write_text("{ agents: [ }")
    (state.root / "discord").mkdir()
    (state.root / "discord" / "thread-bindings.json").write_text("{}")
    rc, env = health(state)
    skipped = only(env, "discovery.skipped")
    assert (skipped["severity"], skipped["agent"]) == ("warning", None)
    assert skipped["path"] == str(state.root / "agents" / "linked")
    cfg = only(env, "config.unparseable")
    assert (cfg["severity"], cfg["path"]) == ("warning", str(state.root / "openclaw.json"))
    bf = only(env, "binding.file_invalid")
    assert (bf["severity"], bf["path"]) == ("warning", str(state.root / "discord" / "thread-bindings.json"))
    assert rc == 1
