"""SQLite-era agent and state databases for the fast tests, built from OpenClaw 2026.9.6's
own schema (tests/data/openclaw-*-schema-*.sql: verbatim `sqlite_master` of databases the real
release created). Rows are written the way OpenClaw's entry writer leaves them (entry_json =
the session entry, promoted columns projected from it, entry_valid = 1, one window and its
events per session); the interop tests check the same code against databases the real
release wrote.

Writes need `octet_length()` (SQLite 3.43) for the schema's CHECK constraints; Python's
bundled SQLite may be older, so the builder registers the same function on its connection.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data"
AGENT_SCHEMA = DATA / "openclaw-agent-schema-v23.sql"
STATE_SCHEMA = DATA / "openclaw-state-schema-v18.sql"


def _octet_length(value: Any) -> int | None:
    if value is None:
        return None
    return len(value.encode("utf-8")) if isinstance(value, str) else len(bytes(value))


def connect_rw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.create_function("octet_length", 1, _octet_length, deterministic=True)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def create_db(path: Path, schema: Path, *, user_version: int | None = None) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect_rw(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(schema.read_text())
    if user_version is not None:
        conn.execute(f"PRAGMA user_version = {int(user_version)}")
    return conn


@dataclass
class AgentDbBuilder:
    """One agent database under `<state>/agents/<agent>/agent/openclaw-agent.sqlite`."""

    state_root: Path
    agent: str
    now_ms: int = 1_800_000_000_000
    user_version: int = 23
    owner: str | None = None
    conn: sqlite3.Connection = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = self.state_root / "agents" / self.agent / "agent" / "openclaw-agent.sqlite"
        self.conn = create_db(self.path, AGENT_SCHEMA, user_version=self.user_version)
        self.conn.execute(
            "INSERT INTO schema_meta VALUES ('primary', 'agent', ?, ?, '2026.9.6', ?, ?)",
            (self.user_version, self.owner or self.agent, self.now_ms, self.now_ms),
        )

    def add_session(
        self,
        key: str,
        *,
        updated_at: int | None = None,
        started_at: int | None = None,
        status: str | None = None,
        aborted: bool | None = None,
        archived_at: int | None = None,
        tokens: int | None = None,
        event_bytes: list[int] | None = None,
        entry_valid: int = 1,
        extra: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> str:
        """A session row, its window and its events (the header plus one event per size in
        `event_bytes`, plain event_json of about that many bytes). Returns the session id."""
        sid = session_id or str(uuid.uuid4())
        ua = updated_at if updated_at is not None else self.now_ms
        started = started_at if started_at is not None else ua
        entry: dict[str, Any] = {"sessionId": sid, "updatedAt": ua, "sessionStartedAt": started}
        if status is not None:
            entry["status"] = status
        if aborted is not None:
            entry["abortedLastRun"] = aborted
        if archived_at is not None:
            entry["archivedAt"] = archived_at
            entry["archiveReason"] = "manual"
        if tokens is not None:
            entry.update(inputTokens=tokens, outputTokens=0, totalTokens=tokens)
        entry.update(extra or {})
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        c.execute(
            "INSERT INTO session_nodes (session_key, current_session_id, entry_json, updated_at, status, "
            "created_at, archived_at, last_interaction_at) VALUES (?,?,?,?,?,?,?,?)",
            (key, sid, json.dumps(entry), ua, status, started, archived_at, ua),
        )
        c.execute("UPDATE session_nodes SET entry_valid = ? WHERE session_key = ?", (entry_valid, key))
        c.execute(
            "INSERT INTO session_windows (session_id, session_key, reason, created_at, updated_at) "
            "VALUES (?,?,?,?,?)",
            (sid, key, "initial", started, ua),
        )
        header = json.dumps({"type": "session", "version": 4, "id": sid, "timestamp": started})
        lines = [header]
        for i, n in enumerate(event_bytes or []):
            stub = json.dumps({"type": "message", "id": f"e{i}", "message": {"role": "user", "content": ""}})
            lines.append(stub[:-3] + "x" * max(0, n - len(stub)) + stub[-3:])
        for seq, line in enumerate(lines):
            c.execute(
                "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_utf8_bytes) "
                "VALUES (?,?,?,?,?)",
                (sid, seq, line, started + seq, len(line.encode())),
            )
        c.execute("COMMIT")
        return sid

    def add_archive(self, key: str, *, published: bool = True, created_at: int | None = None) -> str:
        sid = str(uuid.uuid4())
        gen = uuid.uuid4().hex
        blob = b'{"type":"session"}\n'
        name = f"{sid}.jsonl.deleted.2026-12-03T07-02-57.598Z.{gen}"
        at = created_at if created_at is not None else self.now_ms
        self.conn.execute(
            "INSERT INTO session_transcript_archives (session_id, generation, session_key, reason, encoding, "
            "archive_blob, archive_sha256, archive_name, created_at, published_at, last_publish_error) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                sid,
                gen,
                key,
                "deleted",
                "identity",
                blob,
                "0" * 64,
                name,
                at,
                at if published else None,
                None if published else "EACCES: permission denied",
            ),
        )
        if published:
            folder = self.state_root / "agents" / self.agent / "sessions"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(blob)
        return name

    def close(self) -> Path:
        """Close like OpenClaw does on a clean stop: checkpointed, no -wal/-shm left."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        return self.path


def make_state_db(
    state_root: Path,
    *,
    registry: list[tuple[str, str]] | None = None,
    leases: list[tuple[str, str, int, int | None]] | None = None,
    bindings: list[dict[str, Any]] | None = None,
    conversation_bindings: list[dict[str, Any]] | None = None,
    user_version: int = 18,
    now_ms: int = 1_800_000_000_000,
) -> Path:
    """`<state>/state/openclaw.sqlite` with the given registry rows (agent, path), leases
    (agent, path, pid, start time), Telegram thread bindings (value_json fields) and
    conversation bindings (target_session_key, expires_at)."""
    path = state_root / "state" / "openclaw.sqlite"
    conn = create_db(path, STATE_SCHEMA, user_version=user_version)
    conn.execute(
        "INSERT INTO schema_meta (meta_key, role, schema_version, app_version, created_at, updated_at) "
        "VALUES ('primary', 'global', ?, '2026.9.6', ?, ?)",
        (user_version, now_ms, now_ms),
    )
    for agent, rel in registry or []:
        conn.execute("INSERT INTO agent_databases VALUES (?,?,23,?,0)", (agent, rel, now_ms))
    for i, (agent, rel, pid, start) in enumerate(leases or []):
        conn.execute(
            "INSERT INTO agent_database_leases VALUES (?,?,?,?,?,?)",
            (f"lease-{i}", agent, rel, pid, start, now_ms),
        )
    for i, b in enumerate(bindings or []):
        expires = b.pop("expiresAt", None)
        conn.execute(
            "INSERT INTO plugin_state_entries VALUES ('telegram', 'telegram.thread-bindings', ?, ?, ?, ?)",
            (f"k{i}", json.dumps(b), now_ms, expires),
        )
    for i, b in enumerate(conversation_bindings or []):
        conn.execute(
            "INSERT INTO current_conversation_bindings (binding_key, binding_id, target_session_key, channel, "
            "account_id, conversation_kind, conversation_id, target_kind, status, bound_at, expires_at, "
            "record_json, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                f"b{i}",
                f"id{i}",
                b["target_session_key"],
                "telegram",
                "default",
                "direct",
                f"c{i}",
                "session",
                "active",
                now_ms,
                b.get("expires_at"),
                "{}",
                now_ms,
            ),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


_HOLD = textwrap.dedent(
    """
    import sqlite3, sys, time
    c = sqlite3.connect(sys.argv[1], isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("SELECT count(*) FROM session_nodes").fetchall()
    print("open", flush=True)
    time.sleep(120)
    """
)


class DbHolders:
    """Other processes keeping a database open (as a gateway does), started on demand:
    `holders(path)` starts one and returns it once it has the database open (in WAL
    mode, with its -wal and -shm); `stop()` ends every one started."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def __call__(self, path: Path) -> subprocess.Popen[str]:
        p = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "open"
        return p

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
