"""gc, undo, restore and prestart for SQLite-era agents, without Node: databases built from
OpenClaw 2026.9.6's own schema (tests/support/sqlite_fixture.py), every command run through the real
CLI. `openclaw` here is a stand-in that records its arguments and answers as the real CLI
does (--json); tests/interop/test_interop_sqlite.py runs the same against the real release
and its gateway, and checks what OpenClaw really did.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.helpers import DAY_MS, HOUR_MS, NOW_ISO, NOW_MS, StateDir, clean_env, run_json
from support.sqlite_fixture import AgentDbBuilder, DbHolders, connect_rw


def db(state: StateDir, agent: str, **kw: Any) -> AgentDbBuilder:
    return AgentDbBuilder(state.root, agent, now_ms=NOW_MS, **kw)


def health(state: StateDir, *args: str) -> tuple[int, dict[str, Any]]:
    rc, env_, _err = run_json("health", "--state-dir", str(state.root), "--now", NOW_ISO, *args)
    assert env_["exit_code"] == rc
    return rc, env_


def findings(env: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in env["findings"] if f["check"] == check]


@pytest.fixture
def holder() -> Iterator[DbHolders]:
    """Another process keeping a database open, started on demand."""
    holders = DbHolders()
    yield holders
    holders.stop()


# ---------------------------------------------------------------- gc


def aged_agent(state: StateDir) -> AgentDbBuilder:
    b = db(state, "main")
    b.add_session("agent:main:main", updated_at=NOW_MS - 10 * DAY_MS)
    b.add_session("agent:main:cron:job:run:1", updated_at=NOW_MS - 10 * DAY_MS)
    b.add_session("agent:main:telegram:direct:5", updated_at=NOW_MS - 10 * DAY_MS)
    b.add_session(
        "agent:main:explicit:done", updated_at=NOW_MS - 10 * DAY_MS, archived_at=NOW_MS - 9 * DAY_MS
    )
    b.add_session("agent:main:telegram:direct:6", updated_at=NOW_MS - HOUR_MS)
    b.close()
    return b


def test_gc_plans_delete_for_machine_made_and_archive_for_the_rest(state: StateDir) -> None:
    aged_agent(state)
    rc, env, _ = run_json("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "2d", "--dry-run")
    assert rc == 0
    plan = {a["key"]: a["type"] for a in env["actions"]}
    assert plan == {
        "agent:main:cron:job:run:1": "sqlite.delete",
        "agent:main:telegram:direct:5": "sqlite.archive",
    }
    assert all("entry" not in a for a in env["actions"])
    assert env["summary"]["agents"]["main"]["openclaw"] == {"delete": 1, "archive": 1}
    rc, env, _ = run_json(
        "gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "2d", "--dry-run", "--sqlite-delete"
    )
    plan = {a["key"]: a["type"] for a in env["actions"]}
    assert plan == {
        "agent:main:cron:job:run:1": "sqlite.delete",
        "agent:main:telegram:direct:5": "sqlite.delete",
        "agent:main:explicit:done": "sqlite.delete",
    }
    # health's entry.stale is gc's decision
    rc, henv = health(state, "--config", str(_toml(state, '[gc]\nidle = "2d"\n')))
    assert sorted(f["key"] for f in findings(henv, "entry.stale")) == sorted(
        ["agent:main:cron:job:run:1", "agent:main:telegram:direct:5"]
    )


def _toml(state: StateDir, text: str) -> Path:
    p = state.root.parent / "extra.toml"
    p.write_text(text)
    return p


def test_gc_without_openclaw_refuses_sqlite_and_still_cleans_the_file_era(state: StateDir) -> None:
    b = aged_agent(state)
    state.add_session("sales", "agent:sales:main")
    state.add_session("sales", "agent:sales:telegram:direct:1", updated_at=NOW_MS - 10 * DAY_MS)
    db_before = b.path.read_bytes()
    env_no_oc = clean_env(
        PATH=os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "openclaw").exists()
        )
    )
    rc, env, _err = run_json(
        "gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "2d", env=env_no_oc
    )
    assert rc == 69, env
    assert "`openclaw` executable was not found" in env["errors"][0]["message"]
    assert list(state.read_store("sales")) == ["agent:sales:main"]  # the file era was done
    assert b.path.read_bytes() == db_before
    states = {a["key"]: a["state"] for a in env["actions"] if "key" in a}
    assert states["agent:sales:telegram:direct:1"] == "applied"
    assert states["agent:main:cron:job:run:1"] == "skipped"
    # only SQLite work, still no openclaw: refused before any run folder exists
    state.store_path("sales").unlink()
    rc, env, _ = run_json(
        "gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "2d", env=env_no_oc
    )
    assert rc == 69 and "run_id" not in env  # the error envelope: nothing was run


# a stand-in for OpenClaw's CLI (the real one is exercised by the interop tests): records its
# arguments and answers as `openclaw sessions delete|archive --json` does
STUB = """#!{python}
import json, os, sys
log = os.environ["STUB_LOG"]
with open(log, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if args[:2] == ["gateway", "call"]:
    params = json.loads(args[4])
    key = params["key"]
    if "expectedSessionId" not in params:  # as the 2026.9.6 gateway answers a lifecycle call without it
        print(json.dumps({{"ok": False, "error": {{"code": "INVALID_REQUEST", "message": "expectedSessionId required"}}}}))
        sys.exit(1)
    extra = {{"deleted": True, "archived": ["/x/" + key + ".zst"]}} if args[2] == "sessions.delete" else {{}}
    if args[2] == "sessions.patch":
        extra = {{"entry": {{"sessionId": params["expectedSessionId"]}}}}  # archivedAt gone
    print(json.dumps({{"ok": True, "key": key, **extra}}))
    sys.exit(0)
op = args[1]
keys = [a for a in args[2:] if a.startswith("agent:")]
status = {{"delete": "deleted", "archive": "archived"}}[op]
print(json.dumps({{"ok": True, "operation": op, "dryRun": False, "results": [
    {{"key": k, "ok": True, "status": status, **({{"archived": ["/x/" + k + ".zst"]}} if op == "delete" else {{}})}}
    for k in keys]}}))
"""


@pytest.fixture
def fake_gateway(state: StateDir, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process that looks like a 2026.9.6 gateway of this state dir to sessionctl's
    detection (its command line names an openclaw package of that version)."""
    pkg = tmp_path / "lib" / "node_modules" / "openclaw"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text('{"name": "openclaw", "version": "2026.9.6"}')
    p = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", str(pkg / "openclaw.mjs"), "gateway", "run"],
        env={**os.environ, "OPENCLAW_STATE_DIR": str(state.root)},
    )
    time.sleep(0.2)
    yield p
    p.kill()
    p.wait()


def stub_openclaw(tmp_path: Path) -> tuple[Path, Path]:
    exe = tmp_path / "bin" / "openclaw"
    exe.parent.mkdir()
    exe.write_text(STUB.format(python=sys.executable))
    exe.chmod(0o755)
    return exe, tmp_path / "stub.log"


def gc_through_stub(state: StateDir, exe: Path, log: Path) -> tuple[int, dict[str, Any], str]:
    """`gc --idle 2d` with the stub as `--openclaw`, logging its calls to `log`."""
    return run_json(
        "gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "2d", "--openclaw", str(exe),
        env=clean_env(STUB_LOG=str(log)),
    )  # fmt: skip


def test_gc_needs_a_running_gateway_for_sqlite_agents(state: StateDir, tmp_path: Path) -> None:
    aged_agent(state)
    exe, log = stub_openclaw(tmp_path)
    rc, env, _ = gc_through_stub(state, exe, log)
    assert rc == 69 and "no running OpenClaw gateway" in env["errors"][0]["message"]
    assert not log.exists()
    rc, env, _ = run_json(
        "gc", "--state-dir", str(state.root), "--idle", "2d", "--openclaw", str(tmp_path / "nope")
    )
    assert rc == 64


def test_gc_applies_through_openclaw_after_a_backup_and_undo_says_what_it_can(
    state: StateDir, tmp_path: Path, fake_gateway: Any
) -> None:
    b = aged_agent(state)
    exe, log = stub_openclaw(tmp_path)
    env_ = clean_env(STUB_LOG=str(log))
    rc, env, err = gc_through_stub(state, exe, log)
    assert rc == 0, (env, err)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    # a cron run: the gateway's sessions.list never lists one, so `openclaw sessions delete`
    # cannot look it up: the gateway's sessions.delete, with the planned session id
    sid = next(a["session_id"] for a in env["actions"] if a["key"] == "agent:main:cron:job:run:1")
    assert calls[0][:3] == ["gateway", "call", "sessions.delete"] and calls[0][-1] == "--json"
    assert json.loads(calls[0][4]) == {
        "key": "agent:main:cron:job:run:1",
        "agentId": "main",
        "expectedSessionId": sid,
        "deleteTranscript": True,
    }
    assert calls[1:] == [
        [
            "sessions",
            "archive",
            "agent:main:telegram:direct:5",
            "--agent",
            "main",
            "--timeout",
            "120000",
            "--json",
        ]
    ]
    acts = {a["key"]: a for a in env["actions"]}
    assert {k: a["state"] for k, a in acts.items()} == {
        "agent:main:cron:job:run:1": "applied",
        "agent:main:telegram:direct:5": "applied",
    }
    # the stand-in changed nothing: sessionctl does not take OpenClaw's word for it
    assert acts["agent:main:cron:job:run:1"]["confirmed"] is False
    run_dir = Path(env["backup"]["path"])
    (rec,) = [f for f in env["backup"]["files"] if f["kind"] == "sqlite"]
    backup = run_dir / rec["backup"]
    conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    assert conn.execute("SELECT count(*) FROM session_nodes").fetchone() == (5,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()
    journal = json.loads((run_dir / "journal.json").read_text())
    jacts = {a["key"]: a for a in journal["actions"]}
    assert (
        jacts["agent:main:cron:job:run:1"]["entry"]["sessionId"]
        == acts["agent:main:cron:job:run:1"]["session_id"]
    )
    assert jacts["agent:main:cron:job:run:1"]["result"] == {
        "status": "deleted",
        "archived": ["/x/agent:main:cron:job:run:1.zst"],
    }

    rc, uenv, _ = run_json(
        "undo", env["run_id"], "--state-dir", str(state.root), "--openclaw", str(exe), env=env_
    )
    assert rc == 0, uenv
    by_type = {a["type"]: a for a in uenv["actions"]}
    assert by_type["sqlite.unarchive"]["state"] == "applied"
    patch = json.loads(log.read_text().splitlines()[-1])
    assert patch[:3] == ["gateway", "call", "sessions.patch"]
    assert json.loads(patch[4]) == {
        "key": "agent:main:telegram:direct:5",
        "agentId": "main",
        "expectedSessionId": acts["agent:main:telegram:direct:5"]["session_id"],
        "archived": False,
    }
    conflict = by_type["conflict"]
    assert conflict["key"] == "agent:main:cron:job:run:1"
    assert f"sessionctl restore {env['run_id']} --agent main" in conflict["note"]
    assert "/x/agent:main:cron:job:run:1.zst" in conflict["note"]
    assert b.path.exists()


def test_restore_puts_the_database_back_only_with_the_gateway_stopped(
    state: StateDir, tmp_path: Path, fake_gateway: Any
) -> None:
    b = aged_agent(state)
    exe, log = stub_openclaw(tmp_path)
    rc, env, _ = gc_through_stub(state, exe, log)
    assert rc == 0
    run_id = env["run_id"]
    # what OpenClaw would have done, and more written afterwards
    conn = connect_rw(b.path)
    conn.execute("DELETE FROM session_nodes WHERE session_key = 'agent:main:cron:job:run:1'")
    conn.close()
    ino = b.path.stat().st_ino
    rc, renv, _ = run_json("restore", run_id, "--state-dir", str(state.root))
    assert rc == 75 and "restored only with the gateway stopped" in renv["errors"][0]["message"]
    fake_gateway.kill()
    fake_gateway.wait()
    rc, renv, _ = run_json("restore", run_id, "--state-dir", str(state.root), "--dry-run")
    assert [a["type"] for a in renv["actions"]] == ["sqlite.restore"]
    rc, renv, _ = run_json("restore", run_id, "--state-dir", str(state.root))
    assert rc == 0, renv
    assert sorted(os.listdir(b.path.parent)) == ["openclaw-agent.sqlite"]  # checkpointed, no -wal left
    conn = sqlite3.connect(f"file:{b.path}?mode=ro", uri=True)
    keys = {r[0] for r in conn.execute("SELECT session_key FROM session_nodes")}
    conn.close()
    assert "agent:main:cron:job:run:1" in keys and len(keys) == 5
    assert b.path.stat().st_ino == ino  # the same file: OpenClaw's identity of the database
    # the restore is a run of its own: undoing it brings back the state it replaced
    rc, uenv, _ = run_json("undo", renv["run_id"], "--state-dir", str(state.root))
    assert rc == 0 and [a["state"] for a in uenv["actions"]] == ["applied"]
    conn = sqlite3.connect(f"file:{b.path}?mode=ro", uri=True)
    assert conn.execute("SELECT count(*) FROM session_nodes").fetchone() == (4,)
    conn.close()


def test_restore_refuses_while_a_process_holds_the_database(
    state: StateDir, tmp_path: Path, fake_gateway: Any, holder: Any
) -> None:
    b = aged_agent(state)
    exe, log = stub_openclaw(tmp_path)
    rc, env, _ = gc_through_stub(state, exe, log)
    fake_gateway.kill()
    fake_gateway.wait()
    p = holder(b.path)
    before = b.path.read_bytes()
    rc, renv, _ = run_json("restore", env["run_id"], "--state-dir", str(state.root))
    assert rc == 75 and str(p.pid) in renv["errors"][0]["message"]
    assert b.path.read_bytes() == before


# ---------------------------------------------------------------- prestart


def test_prestart_reports_sqlite_agents_and_never_writes_a_sessions_json(state: StateDir) -> None:
    b = aged_agent(state)
    b2 = AgentDbBuilder(state.root, "ops", now_ms=NOW_MS)
    b2.add_session("agent:ops:main", status="running", aborted=True, updated_at=NOW_MS - 2 * DAY_MS)
    b2.close()
    state.add_session("sales", "agent:sales:telegram:direct:1", updated_at=NOW_MS - 10 * DAY_MS)
    state.add_session("sales", "agent:sales:main")
    dbs_before = {p: p.read_bytes() for p in (b.path, b2.path)}
    rc, env, err = run_json("prestart", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "2d")
    assert rc == 0, (env, err)
    assert {p: p.read_bytes() for p in dbs_before} == dbs_before
    assert not state.store_path("main").exists() and not state.store_path("ops").exists()
    sq = {a["agent"]: a for a in env["sqlite"]["agents"]}
    assert [r["key"] for r in sq["ops"]["resume_on_start"]] == ["agent:ops:main"]
    assert sq["ops"]["resume_on_start"][0]["stale"] is True
    assert sq["main"]["gc"] == {
        "delete": ["agent:main:cron:job:run:1"],
        "archive": ["agent:main:telegram:direct:5"],
    }
    assert "gateway" in env["sqlite"]["not_done"]
    assert list(state.read_store("sales")) == ["agent:sales:main"]  # the file era is cleaned as before
    stores = {s["agent"]: s for s in env["stores"]}
    assert stores["main"]["status"] == "sqlite" and stores["main"]["valid"] is True
    assert "will be resumed when the gateway starts" in err


def test_backup_copies_the_databases_and_restore_puts_one_back(state: StateDir) -> None:
    b = aged_agent(state)
    rc, env, err = run_json("backup", "--state-dir", str(state.root))
    assert rc == 0, err
    (rec,) = [f for f in env["backup"]["files"] if f["kind"] == "sqlite"]
    assert rec["path"] == "agents/main/agent/openclaw-agent.sqlite" and rec["quick_check"] == "ok"
    assert sorted(os.listdir(b.path.parent)) == ["openclaw-agent.sqlite"]  # nothing left behind
    conn = connect_rw(b.path)
    conn.execute("DELETE FROM session_nodes")
    conn.close()
    rc, renv, _ = run_json("restore", env["run_id"], "--state-dir", str(state.root))
    assert rc == 0, renv
    conn = sqlite3.connect(f"file:{b.path}?mode=ro", uri=True)
    assert conn.execute("SELECT count(*) FROM session_nodes").fetchone() == (5,)
    conn.close()


HOLD = textwrap.dedent(
    """
    import sqlite3, sys, time
    if sys.argv[1] != "-":
        c = sqlite3.connect(sys.argv[1], isolation_level=None)
        c.execute("SELECT count(*) FROM session_nodes").fetchall()
    print("up", flush=True)
    time.sleep(120)
    """
)


def titled_gateway(state: StateDir, db_path: str) -> subprocess.Popen[str]:
    """A process titled `openclaw-gateway` (as 2026.9 retitles its gateway: no version on its
    command line), holding `db_path` open unless it is "-"."""
    p = subprocess.Popen(
        ["bash", "-c", 'exec -a openclaw-gateway "$0" -c "$1" "$2"', sys.executable, HOLD, db_path],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENCLAW_STATE_DIR": str(state.root)},
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "up"
    return p


def test_a_gateway_holding_the_databases_is_sqlite_era_and_file_stores_are_edited_under_it(
    state: StateDir,
) -> None:
    b = db(state, "main")
    b.add_session("agent:main:main")
    b.close()
    state.add_session("sales", "agent:sales:main")
    state.add_session("sales", "agent:sales:telegram:direct:1", updated_at=NOW_MS - 10 * DAY_MS)
    gc = ["gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "2d", "--agent", "sales"]
    unknown = titled_gateway(state, "-")  # a gateway of unknown release: never edited under
    try:
        rc, env, _ = run_json(*gc)
        assert rc == 75 and "is running for" in env["errors"][0]["message"]
    finally:
        unknown.kill()
        unknown.wait()
    sqlite_gw = titled_gateway(state, str(b.path))
    try:
        rc, env, err = run_json(*gc)
        assert rc == 0, (env, err)
        assert list(state.read_store("sales")) == ["agent:sales:main"]
    finally:
        sqlite_gw.kill()
        sqlite_gw.wait()


def test_undo_of_an_interrupted_run_says_what_it_cannot_know(
    state: StateDir, tmp_path: Path, fake_gateway: Any
) -> None:
    aged_agent(state)
    exe, log = stub_openclaw(tmp_path)
    res = subprocess.run(
        [sys.executable, "-m", "sessionctl", "gc", "--state-dir", str(state.root), "--now", NOW_ISO,
         "--idle", "2d", "--openclaw", str(exe), "--json"],
        env=clean_env(STUB_LOG=str(log), SESSIONCTL_FAULT="kill:gc.before_apply"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == -9 and not log.exists()  # killed before OpenClaw was asked
    (run_id,) = os.listdir(state.root / "sessionctl" / "runs")
    rc, env, _ = run_json("undo", run_id, "--state-dir", str(state.root), "--dry-run")
    assert rc == 0
    notes = {a["key"]: a["note"] for a in env["actions"] if a["type"] == "conflict"}
    assert set(notes) == {"agent:main:cron:job:run:1", "agent:main:telegram:direct:5"}
    assert "may or may not be deleted" in notes["agent:main:cron:job:run:1"]
    assert f"sessionctl restore {run_id} --agent main" in notes["agent:main:telegram:direct:5"]


def test_openclaws_own_policy_is_left_to_openclaw_for_sqlite_agents(state: StateDir) -> None:
    aged_agent(state)
    state.write_config({"session": {"maintenance": {"pruneAfter": "2d"}}})
    state.add_session("sales", "agent:sales:main")
    state.add_session("sales", "agent:sales:telegram:direct:1", updated_at=NOW_MS - 10 * DAY_MS)
    rc, env, _ = run_json("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--dry-run")
    assert rc == 0
    assert [a["key"] for a in env["actions"] if "key" in a] == ["agent:sales:telegram:direct:1"]
    (skip,) = [s for s in env["skipped_agents"] if s["agent"] == "main"]
    assert "OpenClaw applies its own session.maintenance itself" in skip["reason"]
    _rc, henv = health(state)
    assert {f["agent"] for f in findings(henv, "entry.stale")} == {"sales"}
    # a policy of sessionctl's own plans them
    rc, env, _ = run_json("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--dry-run", "--idle", "2d")
    assert {a["key"] for a in env["actions"] if a["type"].startswith("sqlite.")} == {
        "agent:main:cron:job:run:1",
        "agent:main:telegram:direct:5",
    }
