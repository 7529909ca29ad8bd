"""Against the REAL SQLite-era OpenClaw (2026.9.6), on a state the real releases wrote.

The state (interop/sqlite_state.py: generated once per run by interop/gen_sqlite_state.sh)
holds agents main, illarion, marketer (SQLite era from the start), ops (written by 2026.5.28,
imported by 2026.9.6's `openclaw doctor --fix`) and sales (a file-era store written by
2026.5.28 after the upgrade), with the planted problems made through OpenClaw itself: a spawn
storm (24 sessions created through the gateway's sessions.create), a running + aborted row
(a turn still running when the gateway was restarted, the gateway then killed before it resumed it), an oversized transcript
(one ~560 KB message) and the peer telegram:direct:777000 in sales (file era) and main
(SQLite era). Every test works on its own copy.

Deselected unless SESSIONCTL_INTEROP=1 (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interop import harness as h
from interop import sqlite_state

pytestmark = pytest.mark.interop

NEW = sqlite_state.NEW_VERSION
STORM = [f"agent:main:explicit:storm-{i:02d}" for i in range(1, 25)]
INTERRUPTED = "agent:main:telegram:direct:424242"
OVERSIZED = "agent:main:explicit:quarterly-dump"
PEER = "777000"


def sessionctl(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> tuple[int, Any, str]:
    """`python -m sessionctl ARGS --json` with a clean environment (plus `env`)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SESSIONCTL_"))}
    base.update(env or {})
    res = subprocess.run(
        [sys.executable, "-m", "sessionctl", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=base,
    )
    doc = json.loads(res.stdout) if res.stdout.strip() else None
    return res.returncode, doc, res.stderr


def ro(db: Path) -> sqlite3.Connection:
    """A read-only look for the assertions (never while sessionctl's own reads are measured)."""
    return sqlite3.connect(f"file:{urllib.parse.quote(str(db))}?mode=ro", uri=True)


def agent_db(state: Path, agent: str) -> Path:
    return state / "agents" / agent / "agent" / "openclaw-agent.sqlite"


def files_of(root: Path) -> dict[str, tuple[int, str]]:
    """Every regular file: (size, sha256) — databases, sidecars, archives, config, logs."""
    import hashlib

    out: dict[str, tuple[int, str]] = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            if p.is_symlink() or not p.is_file():
                continue
            out[str(p.relative_to(root))] = (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def openclaw_sessions(state: Path, *args: str) -> list[dict[str, Any]]:
    res = h.run_openclaw(state, ["sessions", *args, "--json", "--limit", "all"], version=NEW)
    doc = h.extract_json(res.stdout, res.stderr)
    assert isinstance(doc, dict) and isinstance(doc.get("sessions"), list), res.stdout[-2000:]
    return list(doc["sessions"])


@pytest.fixture
def copy(sqlite_state_dir: Path, tmp_path: Path) -> Path:
    return sqlite_state.work_copy(sqlite_state_dir, tmp_path)


@pytest.fixture(scope="module")
def model_port() -> Iterator[int]:
    """A fake model for the gateways of this module (the generator's are gone)."""
    with h.fake_model() as port:
        yield port


@pytest.fixture(scope="module")
def upgraded(sqlite_state_dir: Path, tmp_path_factory: pytest.TempPathFactory, model_port: int) -> Path:
    """A copy on which the upgrade is finished: `openclaw doctor --fix` imports the file-era
    agent sales (until then 2026.9.6 refuses to start its gateway); its models answer."""
    state = sqlite_state.work_copy(sqlite_state_dir, tmp_path_factory.mktemp("upgraded"))
    h.run_openclaw(state, ["doctor", "--fix", "--non-interactive"], version=NEW, timeout=900)
    sqlite_state.point_models_at(state, model_port)
    assert not (state / "agents" / "sales" / "sessions" / "sessions.json").exists()
    assert agent_db(state, "sales").exists()
    return state


@pytest.fixture(scope="module")
def gateway(upgraded: Path) -> Iterator[h.RunningGateway]:
    """The 2026.9.6 gateway on the upgraded copy, once it has resumed the interrupted
    session -- what sessions.resume_on_start says a start does (and the busiest part of its
    start, over before the tests measure)."""
    gw = h.start_gateway(upgraded, version=NEW)
    try:
        deadline = time.monotonic() + 300
        done = f"restart recovery terminal: session={INTERRUPTED}"
        while done not in re.sub(r"\x1b\[[0-9;]*m", "", gw.log.read_text("utf-8", "replace")):
            assert time.monotonic() < deadline, f"the gateway never resumed {INTERRUPTED} (log: {gw.log})"
            assert gw.proc.poll() is None, f"the gateway exited (log: {gw.log})"
            time.sleep(1)
        yield gw
    finally:
        h.stop_gateway(gw)


def sessionctl_env(state: Path, gw: h.RunningGateway | None = None) -> dict[str, str]:
    env = {"HOME": str(h.home_for(state))}
    if gw is not None:
        env.update(gw.env())
    return env


# ---------------------------------------------------------------- the state is what we think


def test_the_generated_state_holds_what_the_tests_rely_on(copy: Path) -> None:
    for agent in ("main", "illarion", "marketer", "ops"):
        with ro(agent_db(copy, agent)) as c:
            assert c.execute("PRAGMA user_version").fetchone() == (23,)
            assert c.execute("SELECT agent_id, app_version FROM schema_meta").fetchone() == (agent, NEW)
    assert (copy / "agents" / "ops" / "session-sqlite-import-archive").is_dir()  # the upgrade ran
    assert (copy / "agents" / "sales" / "sessions" / "sessions.json").is_file()
    assert not agent_db(copy, "sales").exists()
    with ro(agent_db(copy, "main")) as c:
        keys = {r[0] for r in c.execute("SELECT session_key FROM session_nodes")}
        assert set(STORM) <= keys
        status, entry = c.execute(
            "SELECT status, entry_json FROM session_nodes WHERE session_key = ?", (INTERRUPTED,)
        ).fetchone()
        assert status == "running" and json.loads(entry)["abortedLastRun"] is True
        (nbytes,) = c.execute(
            "SELECT SUM(event_utf8_bytes) FROM transcript_events e JOIN session_nodes n "
            "ON e.session_id = n.current_session_id WHERE n.session_key = ?",
            (OVERSIZED,),
        ).fetchone()
        assert nbytes > 500 * 1024
        assert (
            c.execute("SELECT COUNT(*) FROM transcript_events WHERE event_zstd IS NOT NULL").fetchone()[0] > 0
        )


# ---------------------------------------------------------------- list and health


def test_list_shows_exactly_the_rows_openclaw_lists(copy: Path) -> None:
    theirs = openclaw_sessions(copy, "--all-agents")
    rc, doc, err = sessionctl("list", "--state-dir", str(copy), env=sessionctl_env(copy))
    assert rc == 0, err
    ours = [r for r in doc["sessions"] if r["layout"] == "sqlite"]
    assert sorted((r["agent"], r["key"], r["session_id"]) for r in ours) == sorted(
        (s["agentId"], s["key"], s["sessionId"]) for s in theirs
    )
    assert len(ours) == len(theirs) > 40
    # and the file-era agent OpenClaw 2026.9.6 no longer reads
    assert {r["key"] for r in doc["sessions"] if r["layout"] == "file"} == {
        f"agent:sales:telegram:direct:{PEER}",
        "agent:sales:main",
    }


def test_each_planted_problem_is_reported(copy: Path) -> None:
    rc, doc, err = sessionctl("health", "--state-dir", str(copy), env=sessionctl_env(copy))
    assert rc == 2, err  # the file-era store keeps 2026.9.6 from starting: critical

    def hits(check: str) -> list[dict[str, Any]]:
        return [f for f in doc["findings"] if f["check"] == check]

    (storm,) = [f for f in hits("sessions.spawn_storm") if f["agent"] == "main"]
    assert storm["data"]["prefix"] == "agent:main:explicit" and storm["data"]["count"] >= 24
    (resume,) = [f for f in hits("sessions.resume_on_start") if f["agent"] == "main"]
    assert [s["key"] for s in resume["data"]["sessions"]] == [INTERRUPTED]
    (big,) = [f for f in hits("transcript.oversized") if f["key"] == OVERSIZED]
    assert big["agent"] == "main" and big["data"]["bytes"] > 500 * 1024
    dup = [f for f in hits("peer.duplicate_across_agents") if PEER in json.dumps(f["data"]["peer"])]
    assert len(dup) == 1
    assert dup[0]["data"]["sessions"] == [
        {"agent": "main", "key": f"agent:main:telegram:direct:{PEER}"},
        {"agent": "sales", "key": f"agent:sales:telegram:direct:{PEER}"},
    ]
    layouts = {a["agent"]: a["layout"] for a in doc["agents"]}
    assert layouts == {
        "main": "sqlite",
        "illarion": "sqlite",
        "marketer": "sqlite",
        "ops": "sqlite",
        "sales": "file",
    }
    assert [f["agent"] for f in hits("store.pending_import")] == ["sales"]
    assert (
        not hits("sqlite.integrity")
        and not hits("sqlite.schema_unsupported")
        and not hits("store.unreadable")
    )
    assert all(a["sqlite"]["integrity"] == "ok" for a in doc["agents"] if a["layout"] == "sqlite")


def test_health_changes_no_byte_with_the_gateway_stopped(copy: Path) -> None:
    before = files_of(copy)
    for args in (("health", "--deep"), ("list",), ("health", "--format", "prometheus")):
        subprocess.run(
            [sys.executable, "-m", "sessionctl", *args, "--state-dir", str(copy)],
            capture_output=True,
            timeout=600,
            env={**os.environ, "HOME": str(h.home_for(copy))},
        )
    assert files_of(copy) == before  # no byte changed, no file (sidecar) left behind


def test_health_changes_no_byte_while_the_gateway_runs(upgraded: Path, gateway: h.RunningGateway) -> None:
    watched = [
        p
        for a in ("main", "illarion", "marketer", "ops", "sales")
        for p in agent_db(upgraded, a).parent.iterdir()
    ]
    watched += list((upgraded / "state").iterdir())
    assert any(p.name.endswith("-shm") for p in watched)  # the gateway holds the databases open

    def sums() -> dict[str, tuple[int, str]]:
        import hashlib

        return {
            str(p): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in watched
            if p.is_file()
        }

    env = {**os.environ, "HOME": str(h.home_for(upgraded))}
    # The gateway writes on its own (lease heartbeats every few seconds, the resume of the
    # interrupted session, WAL checkpoints): measure in a quiet moment -- nothing changed for
    # 2 s before health starts -- and retry when the gateway wrote meanwhile. sessionctl's
    # reads are the same every time, so a health run that wrote would show in every attempt;
    # one attempt with every byte unchanged is the proof.
    deadline = time.monotonic() + 240
    attempts = 0
    while time.monotonic() < deadline:
        quiet = sums()
        time.sleep(2)
        before = sums()
        if before != quiet:
            continue
        attempts += 1
        proc = subprocess.run(
            [sys.executable, "-m", "sessionctl", "health", "--state-dir", str(upgraded), "--json"],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        after = sums()
        assert proc.returncode in (0, 1, 2), proc.stderr
        doc = json.loads(proc.stdout)
        assert {a["agent"]: a["sqlite"]["integrity"] for a in doc["agents"]} == dict.fromkeys(
            ("main", "illarion", "marketer", "ops", "sales"), "ok"
        )
        if after == before:
            break
    else:
        pytest.fail(f"in {attempts} quiet moments health never left every database and sidecar unchanged")
    assert gateway.proc.poll() is None  # it ran all along


# ---------------------------------------------------------------- gc through OpenClaw


DELETE = [
    "agent:main:cron:daily-report",
    "agent:main:cron:daily-report:run:6f1c2d3e-0000-4000-8000-000000000001",
    "agent:main:cron:daily-report:run:6f1c2d3e-0000-4000-8000-000000000002",
    "agent:main:hook:9a8b7c6d-aaaa-4bbb-8ccc-dddddddddddd",
]
ARCHIVE = [f"agent:main:explicit:dyad-coord-{i}" for i in (1, 2, 3)]


def test_gc_removes_exactly_the_planned_keys_and_the_backup_restores(
    upgraded: Path, gateway: h.RunningGateway
) -> None:
    exe = h.install(NEW)
    env = sessionctl_env(upgraded, gateway)
    gc = [
        "gc", "--state-dir", str(upgraded), "--agent", "main", "--max-age", "1s", "--openclaw", str(exe),
        "--match", "agent:main:cron:*", "--match", "agent:main:hook:*", "--match", "agent:main:explicit:dyad-coord-*",
    ]  # fmt: skip
    rc, plan, err = sessionctl(*gc, "--dry-run", env=env)
    assert rc == 0, err
    assert {a["key"]: a["type"] for a in plan["actions"]} == {
        **{k: "sqlite.delete" for k in DELETE},
        **{k: "sqlite.archive" for k in ARCHIVE},
    }
    before = {s["key"] for s in openclaw_sessions(upgraded, "--agent", "main")}
    rc, run, err = sessionctl(*gc, env=env)
    assert rc == 0, (run, err)
    acts = {a["key"]: a for a in run["actions"]}
    bad = [
        (k, a["state"], a.get("note"), a.get("result"), a.get("confirmed"))
        for k, a in acts.items()
        if a["state"] != "applied" or a.get("confirmed") is not True
    ]
    assert not bad, json.dumps(bad)
    after = {s["key"] for s in openclaw_sessions(upgraded, "--agent", "main")}
    assert before - after == set(DELETE)  # exactly the planned deletions, as OpenClaw lists it
    assert set(ARCHIVE) <= after
    for k in DELETE:  # OpenClaw archived each transcript before deleting
        (path,) = acts[k]["result"]["archived"]
        assert Path(path).is_file() and ".jsonl.deleted." in path
    rc, listing, _ = sessionctl("list", "--state-dir", str(upgraded), "--agent", "main", env=env)
    archived = {r["key"] for r in listing["sessions"] if r["archived_at"] is not None}
    assert set(ARCHIVE) <= archived
    (rec,) = [b for b in run["backup"]["files"] if b["kind"] == "sqlite"]
    backup = Path(run["backup"]["path"]) / rec["backup"]
    with ro(backup) as c:
        saved = {r[0] for r in c.execute("SELECT session_key FROM session_nodes")}
    assert set(DELETE) <= saved and before <= saved

    # a database is never put back under a running gateway
    rc, refused, _ = sessionctl(
        "restore", run["run_id"], "--state-dir", str(upgraded), "--agent", "main", env=env
    )
    assert rc == 75, refused

    # undo: OpenClaw unarchives; a deleted session can only come back with the database
    rc, undo, err = sessionctl(
        "undo", run["run_id"], "--state-dir", str(upgraded), "--openclaw", str(exe), env=env
    )
    assert rc == 0, (undo, err)
    states = {(a["type"], a.get("key")): a["state"] for a in undo["actions"]}
    assert all(states[("sqlite.unarchive", k)] == "applied" for k in ARCHIVE)
    notes = [a["note"] for a in undo["actions"] if a["type"] == "conflict"]
    assert len(notes) == len(DELETE) and all(
        f"sessionctl restore {run['run_id']} --agent main" in n for n in notes
    )
    rc, listing, _ = sessionctl("list", "--state-dir", str(upgraded), "--agent", "main", env=env)
    assert not {r["key"] for r in listing["sessions"] if r["archived_at"] is not None} & set(ARCHIVE)

    # with the gateway stopped, the backup restores the database, and OpenClaw uses it
    h.stop_gateway(gateway)
    db = agent_db(upgraded, "main")
    ino = db.stat().st_ino
    rc, restored, err = sessionctl(
        "restore", run["run_id"], "--state-dir", str(upgraded), "--agent", "main", env=env
    )
    assert rc == 0, (restored, err)
    assert db.stat().st_ino == ino
    back = {s["key"] for s in openclaw_sessions(upgraded, "--agent", "main")}
    assert set(DELETE) <= back and before <= back
    rc, health, _ = sessionctl("health", "--state-dir", str(upgraded), "--agent", "main", env=env)
    assert health["agents"][0]["sqlite"]["integrity"] == "ok"
    gw = h.start_gateway(upgraded, version=NEW)  # the restored database opens and serves
    try:
        rows = {s["key"]: s for s in openclaw_sessions(upgraded, "--agent", "main")}
        assert set(DELETE) <= set(rows)
    finally:
        h.stop_gateway(gw)


def test_gc_without_openclaw_leaves_sqlite_agents_and_cleans_the_file_era(copy: Path) -> None:
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 10 * 86400))
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if not (Path(p) / "openclaw").exists()
    )
    main_before = agent_db(copy, "main").read_bytes()
    rc, doc, err = sessionctl(
        "gc", "--state-dir", str(copy), "--now", later, "--idle", "2d", "--kind", "direct", "--kind", "cron-run",
        env={**sessionctl_env(copy), "PATH": path},
    )  # fmt: skip
    assert rc == 69, (doc, err)
    assert "`openclaw` executable was not found" in doc["errors"][0]["message"]
    sales = json.loads((copy / "agents" / "sales" / "sessions" / "sessions.json").read_text())
    assert f"agent:sales:telegram:direct:{PEER}" not in sales  # the file era was done
    assert agent_db(copy, "main").read_bytes() == main_before
    skipped = {
        a["key"] for a in doc["actions"] if a["type"].startswith("sqlite.") and a["state"] == "skipped"
    }
    assert f"agent:main:telegram:direct:{PEER}" in skipped


# ---------------------------------------------------------------- prestart


def test_prestart_reports_the_resume_set_and_writes_no_sessions_json(copy: Path) -> None:
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
    dbs = {a: agent_db(copy, a) for a in ("main", "illarion", "marketer", "ops")}
    before = {a: p.read_bytes() for a, p in dbs.items()}
    rc, doc, err = sessionctl(
        "prestart", "--state-dir", str(copy), "--now", later, "--idle", "2d", env=sessionctl_env(copy)
    )
    assert rc == 0, (doc, err)
    assert {a: p.read_bytes() for a, p in dbs.items()} == before
    for a in dbs:
        assert not (copy / "agents" / a / "sessions" / "sessions.json").exists()
    sq = {a["agent"]: a for a in doc["sqlite"]["agents"]}
    assert [(r["key"], r["stale"]) for r in sq["main"]["resume_on_start"]] == [(INTERRUPTED, True)]
    assert "will be resumed when the gateway starts" in err
    assert doc["health"]["by_check"].get("sessions.resume_on_start", 0) >= 1
