"""SQLite-era agents without Node, read-only side: databases built from OpenClaw 2026.9.6's
own schema (tests/support/sqlite_fixture.py), every command run through the CLI (in-process).

What the real release writes and lists is checked by tests/interop/test_interop_sqlite.py;
these tests pin sessionctl's side: discovery (the 2026.9 roster, the registry), the
read-only guarantee (no byte changed, no sidecar left, with and without another process
holding the database), unknown schemas, every SQLite health check id, list rows and the
Prometheus metrics. gc, undo, restore and prestart: tests/test_sqlite_gc.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.helpers import DAY_MS, HOUR_MS, NOW_ISO, NOW_MS, StateDir, dead_pid, run_cli, run_json
from support.sqlite_fixture import AgentDbBuilder, DbHolders, connect_rw, make_state_db


def db(state: StateDir, agent: str, **kw: Any) -> AgentDbBuilder:
    return AgentDbBuilder(state.root, agent, now_ms=NOW_MS, **kw)


def health(state: StateDir, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    rc, env_, _err = run_json("health", "--state-dir", str(state.root), "--now", NOW_ISO, *args, env=env)
    assert env_["exit_code"] == rc
    return rc, env_


def findings(env: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in env["findings"] if f["check"] == check]


def one(env: dict[str, Any], check: str) -> dict[str, Any]:
    hits = findings(env, check)
    assert len(hits) == 1, (check, env["findings"])
    return hits[0]


def files_of(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every regular file under root: bytes, mtime, mode (directories are not compared:
    SQLite creating and removing a reader's sidecars changes the folder's mtime)."""
    out: dict[str, tuple[bytes, int, int]] = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            st = os.lstat(p)
            out[str(p.relative_to(root))] = (p.read_bytes(), st.st_mtime_ns, st.st_mode)
    return out


# ---------------------------------------------------------------- discovery and config


def test_agents_entries_roster_and_system_agent(state: StateDir) -> None:
    state.write_config(
        {
            "agents": {
                "defaults": {"systemAgent": {"agentId": "ops"}},
                "entries": {"main": {}, "ops": {"model": "x"}},
                "list": [{"id": "ignored", "default": True}],
            }
        }
    )
    db(state, "ops").close()
    from sessionctl.config import load_openclaw_config
    from sessionctl.discovery import discover

    cfg = load_openclaw_config(state.root, {})
    assert (cfg.agents, cfg.default_agent, cfg.error) == (["main", "ops"], "ops", None)
    stores = {s.agent_id: s for s in discover(state.root, cfg).stores}
    assert (stores["main"].layout, stores["ops"].layout) == ("missing", "sqlite")


def test_registry_names_a_database_sessionctl_will_not_read(state: StateDir) -> None:
    db(state, "main").close()
    make_state_db(
        state.root,
        registry=[
            ("main", "agents/main/agent/openclaw-agent.sqlite"),
            ("gone", "agents/gone/agent/openclaw-agent.sqlite"),
            ("moved", "elsewhere/x.sqlite"),
        ],
    )
    _rc, env = health(state)
    skipped = {f["path"]: f["message"] for f in findings(env, "discovery.skipped")}
    assert skipped == {
        str(
            state.root / "agents/gone/agent/openclaw-agent.sqlite"
        ): "agent database is registered for agent 'gone' but does not exist",
        str(state.root / "elsewhere/x.sqlite"): "agent database is registered for agent 'moved' but is not "
        "agents/moved/agent/openclaw-agent.sqlite; not read",
    }


# ---------------------------------------------------------------- read-only


def test_health_and_list_change_no_file_of_a_closed_database(state: StateDir) -> None:
    b = db(state, "main")
    b.add_session("agent:main:main", event_bytes=[300])
    b.close()
    make_state_db(state.root)
    before = files_of(state.root)
    assert not any(n.endswith(("-wal", "-shm")) for n in before if "agents/" in n)
    health(state, "--deep")
    assert run_json("list", "--state-dir", str(state.root))[0] == 0
    # SQLite made an empty -wal and a -shm for each read and removed them again afterwards
    assert files_of(state.root) == before


@pytest.fixture
def holder() -> Iterator[DbHolders]:
    """Another process keeping a database open (as a gateway does), started on demand."""
    holders = DbHolders()
    yield holders
    holders.stop()


def test_health_changes_no_byte_while_another_process_holds_the_database(
    state: StateDir, holder: Any
) -> None:
    b = db(state, "main")
    b.add_session("agent:main:main", event_bytes=[300])
    path = b.close()
    holder(path)
    assert path.with_name(path.name + "-shm").exists()  # the holder's sidecars
    before = files_of(state.root)
    health(state)
    run_json("list", "--state-dir", str(state.root))
    assert files_of(state.root) == before  # not even a read mark in the -shm


def test_a_database_of_another_user_without_sidecars_is_not_opened(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sessionctl.sqlite.db import DbError, open_ro

    path = db(state, "main").close()
    owner = path.stat().st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)  # sessionctl runs as another user
    with pytest.raises(DbError, match="run sessionctl as the gateway's user"), open_ro(path):
        pass
    assert sorted(os.listdir(path.parent)) == ["openclaw-agent.sqlite"]


# ---------------------------------------------------------------- schema


def test_unknown_schema_is_unknown_for_that_agent_and_the_rest_is_checked(state: StateDir) -> None:
    db(state, "main", user_version=24).close()
    good = db(state, "ops")
    good.add_session("agent:ops:main", tokens=190_000)
    good.close()
    rc, env = health(state)
    f = one(env, "sqlite.schema_unsupported")
    assert (f["agent"], f["severity"]) == ("main", "warning")
    assert "schema version 24" in f["message"]
    agents = {a["agent"]: a for a in env["agents"]}
    assert agents["main"]["store_status"] == "unknown" and agents["ops"]["store_status"] == "ok"
    assert one(env, "entry.tokens_high")["agent"] == "ops"  # warning, the other agent is still judged
    assert (rc, env["status"]) == (3, "unknown")
    rc, list_env, _ = run_json("list", "--state-dir", str(state.root))
    assert rc == 65 and [p["agent"] for p in list_env["unreadable_stores"]] == ["main"]


def test_a_database_in_another_agents_folder_is_critical(state: StateDir) -> None:
    db(state, "main", owner="ops").close()
    rc, env = health(state)
    f = one(env, "sqlite.owner_mismatch")
    assert (f["severity"], f["agent"]) == ("critical", "main") and rc == 2


# ---------------------------------------------------------------- the checks


def test_each_sqlite_health_check(state: StateDir) -> None:
    state.write_config({"session": {"maintenance": {"maxDiskBytes": "100kb"}}})
    b = db(state, "main")
    b.add_session("agent:main:main", tokens=160_000)
    b.add_session("agent:main:explicit:big", event_bytes=[300_000, 300_000])
    b.add_session(
        "agent:main:telegram:direct:1", status="running", aborted=True, updated_at=NOW_MS - 3 * DAY_MS
    )
    b.add_session("agent:main:telegram:direct:2", entry_valid=0)
    b.add_session("agent:main:cron:x:run:1", status="running", aborted=True)  # cron: never resumed
    for i in range(21):
        b.add_session(f"agent:main:explicit:storm-{i:02d}", started_at=NOW_MS - 10 * 60_000 + i)
    b.add_archive("agent:main:cron:old", published=False, created_at=NOW_MS - HOUR_MS)
    b.add_archive("agent:main:hook:h")
    b.close()
    rc, env = health(state)
    assert rc == 1 and env["summary"]["critical"] == 0
    assert one(env, "entry.tokens_high")["key"] == "agent:main:main"
    big = one(env, "transcript.oversized")
    assert big["key"] == "agent:main:explicit:big" and big["data"]["bytes"] > 600_000
    assert big["data"]["events"] == 3
    res = one(env, "sessions.resume_on_start")
    assert res["severity"] == "warning" and res["data"]["count"] == 1 and res["data"]["stale"] == 1
    assert [s["key"] for s in res["data"]["sessions"]] == ["agent:main:telegram:direct:1"]
    bad = one(env, "sqlite.entry_not_valid")
    assert (bad["key"], bad["severity"], bad["data"]["entry_valid"]) == (
        "agent:main:telegram:direct:2",
        "warning",
        0,
    )
    storm = one(env, "sessions.spawn_storm")
    assert storm["data"]["prefix"] == "agent:main:explicit" and storm["data"]["count"] >= 21
    unpub = one(env, "sqlite.archive_unpublished")
    assert unpub["data"]["count"] == 1 and unpub["data"]["errors"] == ["EACCES: permission denied"]
    acc = one(env, "archive.accumulated")
    assert acc["data"]["count"] == 2 and acc["data"]["files"] == 1
    disk = one(env, "sqlite.disk_budget")
    assert disk["data"]["max_disk_bytes"] == 100 * 1024 and disk["data"]["over_max"] is True
    agent = env["agents"][0]
    assert agent["layout"] == "sqlite" and agent["resume_on_start"] == 1
    assert agent["sqlite"]["invalid_entries"] == 1 and agent["sqlite"]["integrity"] == "ok"
    _rc, env = health(state, "--max-entries", "10")
    assert one(env, "store.too_many_entries")["data"] == {"entries": 26, "threshold": 10, "source": "flag"}


def test_resume_set_within_budget_and_window_is_info(state: StateDir) -> None:
    b = db(state, "main")
    b.add_session("agent:main:main", status="running", aborted=True, updated_at=NOW_MS - 60_000)
    b.add_session("agent:main:explicit:x", status="running", aborted=True, extra={"spawnDepth": 1})
    b.close()
    rc, env = health(state)
    f = one(env, "sessions.resume_on_start")
    assert (f["severity"], f["data"]["count"], f["data"]["stale"]) == ("info", 1, 0)
    assert rc == 0
    (state.root / "sessionctl.toml").write_text('[health]\nresume_budget = 0\nresume_window = "30s"\n')
    _rc, env = health(state)
    assert one(env, "sessions.resume_on_start")["severity"] == "warning"
    assert env["thresholds"]["resume_budget"] == 0 and env["thresholds"]["resume_window_ms"] == 30_000


def test_resume_set_is_every_running_row_openclaw_marks_at_start(state: StateDir) -> None:
    """2026.9.6 marks every running candidate row it does not own as interrupted at start-up
    (markStartupOrphanedMainSessionsForRecovery) before resuming: abortedLastRun does not
    decide; a tombstone, or a reservation on a row already flagged, does."""
    b = db(state, "main")
    old = NOW_MS - 3 * DAY_MS
    b.add_session("agent:main:telegram:direct:1", status="running", aborted=True, updated_at=old)
    b.add_session("agent:main:telegram:direct:2", status="running", updated_at=old)  # flag absent
    b.add_session("agent:main:telegram:direct:3", status="running", aborted=False, updated_at=old)
    b.add_session(  # a reservation of the previous process: dropped by the marking
        "agent:main:telegram:direct:4",
        status="running",
        aborted=False,
        extra={"mainRestartRecovery": {"cycleId": "c", "revision": 2, "reservation": {"runId": "r"}}},
    )
    b.add_session(  # already flagged and reserved: isMainSessionRecoveryPending says no
        "agent:main:telegram:direct:5",
        status="running",
        aborted=True,
        extra={"mainRestartRecovery": {"cycleId": "c", "revision": 2, "reservation": {"runId": "r"}}},
    )
    b.add_session(  # recovery gave up
        "agent:main:telegram:direct:6",
        status="running",
        aborted=False,
        extra={"mainRestartRecovery": {"cycleId": "c", "revision": 5, "tombstone": {"reason": "x"}}},
    )
    b.add_session("agent:main:telegram:direct:7", status="done", aborted=True)  # not running
    b.add_session("agent:main:subagent:s1", status="running")  # never on the main lane
    b.add_session("agent:main:explicit:child", status="running", extra={"subagentRole": "worker"})
    b.close()
    _rc, env = health(state)
    f = one(env, "sessions.resume_on_start")
    keys = [s["key"] for s in f["data"]["sessions"]]
    assert keys == [f"agent:main:telegram:direct:{i}" for i in (1, 2, 3, 4)]
    assert f["data"]["stale"] == 3 and "(status running)" in f["message"]
    rc, lenv, _ = run_json("list", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert rc == 0
    flagged = sorted(r["key"] for r in lenv["sessions"] if "resume-on-start" in r["flags"])
    assert flagged == keys


def test_duplicate_peer_across_a_file_era_and_a_sqlite_era_agent(state: StateDir) -> None:
    state.add_session("sales", "agent:sales:telegram:direct:777000")
    b = db(state, "main")
    b.add_session("agent:main:telegram:direct:777000")
    b.close()
    rc, env = health(state)
    f = one(env, "peer.duplicate_across_agents")
    assert f["data"]["sessions"] == [
        {"agent": "main", "key": "agent:main:telegram:direct:777000"},
        {"agent": "sales", "key": "agent:sales:telegram:direct:777000"},
    ]
    layouts = {a["agent"]: a["layout"] for a in env["agents"]}
    assert layouts == {"main": "sqlite", "sales": "file"}
    # OpenClaw 2026.9 will not start while the file-era store is not imported
    pending = one(env, "store.pending_import")
    assert (pending["agent"], pending["severity"], pending["fix"]) == (
        "sales",
        "critical",
        "openclaw doctor --fix",
    )
    assert rc == 2


def test_a_file_era_state_has_no_pending_import(state: StateDir) -> None:
    state.add_session("sales", "agent:sales:main")
    rc, env = health(state)
    assert not findings(env, "store.pending_import") and rc == 0


def test_state_database_leases_and_bindings(state: StateDir) -> None:
    b = db(state, "main")
    b.add_session("agent:main:main")
    b.close()
    rel = "agents/main/agent/openclaw-agent.sqlite"
    make_state_db(
        state.root,
        leases=[("main", rel, dead_pid(), 1), ("main", rel, os.getpid(), None)],
        bindings=[
            {
                "targetSessionKey": "agent:main:telegram:direct:gone",
                "conversationId": "c1",
                "webhookToken": "SECRET",
            },
            {"targetSessionKey": "agent:main:main", "conversationId": "c2", "expiresAt": NOW_MS - 1},
        ],
        conversation_bindings=[{"target_session_key": "agent:main:main"}],
    )
    _rc, env = health(state)
    assert one(env, "sqlite.lease_stale")["severity"] == "info"
    dang = one(env, "binding.dangling")
    assert dang["key"] == "agent:main:telegram:direct:gone" and dang["path"].endswith("state/openclaw.sqlite")
    assert one(env, "binding.expired")["key"] == "agent:main:main"
    assert "SECRET" not in json.dumps(env)


def test_wal_and_integrity_checks_from_what_was_read() -> None:
    from sessionctl.sqlite.health import agent_checks
    from sessionctl.sqlite.reader import AgentDb
    from sessionctl.thresholds import HealthThresholds

    adb = AgentDb(
        "main", Path("/s/agents/main/agent/openclaw-agent.sqlite"), db_bytes=10 << 20, wal_bytes=70 << 20
    )
    adb.integrity, adb.integrity_mode = ["row 3 missing from index x"], "quick_check"
    got = {f.check: f for f in agent_checks(adb, None, HealthThresholds(), NOW_MS, {})}
    assert set(got) == {"sqlite.wal_oversized", "sqlite.integrity"}
    assert got["sqlite.wal_oversized"].data["limit"] == 64 << 20
    assert got["sqlite.integrity"].severity == "critical"
    adb.wal_bytes = 60 << 20
    assert not [
        f
        for f in agent_checks(adb, None, HealthThresholds(), NOW_MS, {})
        if f.check == "sqlite.wal_oversized"
    ]


def test_disk_budget_is_resolved_as_openclaw_resolves_it() -> None:
    from sessionctl.sqlite.health import disk_budget

    assert disk_budget({}) == (10 * 1024**3, 8 * 1024**3)
    assert disk_budget({"maxDiskBytes": "1.5mb"}) == (1_572_864, 1_258_291)
    assert disk_budget({"maxDiskBytes": 2048, "highWaterBytes": "1k"}) == (2048, 1024)
    assert disk_budget({"maxDiskBytes": False}) == (None, None)
    assert disk_budget({"maxDiskBytes": "lots"}) == (None, None)


# ---------------------------------------------------------------- list and Prometheus


def test_list_shows_what_openclaw_lists(state: StateDir) -> None:
    b = db(state, "main")
    b.add_session("agent:main:main", event_bytes=[500])
    b.add_session("agent:main:explicit:old", archived_at=NOW_MS - DAY_MS)
    b.add_session("agent:main:internal-session-effects:run-1")  # OpenClaw never lists these
    b.add_session("agent:main:telegram:direct:9", status="running", aborted=True)
    b.close()
    conn = connect_rw(b.path)  # a row whose entry_json is not an entry (OpenClaw skips it)
    conn.execute(
        "INSERT INTO session_nodes (session_key, current_session_id, entry_json, updated_at) VALUES ('agent:main:x', 's', '{}', 1)"
    )
    conn.close()
    rc, env, _ = run_json("list", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert rc == 0
    rows = {r["key"]: r for r in env["sessions"]}
    assert sorted(rows) == ["agent:main:explicit:old", "agent:main:main", "agent:main:telegram:direct:9"]
    main = rows["agent:main:main"]
    assert (main["layout"], main["transcript_bytes"], main["transcript"]) == (
        "sqlite",
        main["transcript_bytes"],
        None,
    )
    assert main["transcript_bytes"] > 500 and main["store"] == str(b.path)
    assert rows["agent:main:explicit:old"]["flags"] == ["archived"]
    assert rows["agent:main:telegram:direct:9"]["flags"] == ["resume-on-start"]


def test_prometheus_covers_sqlite_agents(state: StateDir) -> None:
    b = db(state, "main")
    b.add_session("agent:main:main", status="running", aborted=True)
    b.close()
    state.add_session("sales", "agent:sales:main")
    res = run_cli("health", "--state-dir", str(state.root), "--now", NOW_ISO, "--format", "prometheus")
    text = res.stdout.replace(f'{{state_dir="{state.root}",', "{")  # every series carries it
    assert 'sessionctl_agent_info{agent="main",layout="sqlite",store_status="ok"} 1' in text
    assert 'sessionctl_agent_info{agent="sales",layout="file",store_status="ok"} 1' in text
    assert 'sessionctl_store_entries{agent="main"} 1' in text
    assert 'sessionctl_resume_on_start_sessions{agent="main"} 1' in text
    assert 'sessionctl_sqlite_schema_version{agent="main"} 23' in text
    assert 'sessionctl_sqlite_integrity_ok{agent="main",mode="quick_check"} 1' in text
    assert f'sessionctl_sqlite_db_bytes{{agent="main"}} {b.path.stat().st_size}' in text
    assert 'sessionctl_sqlite_db_bytes{agent="sales"}' not in text
