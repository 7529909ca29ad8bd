"""Read one SQLite-era agent database (and the shared state database) once, read-only.

Everything a check, a list row or gc's planner needs is read here, in one short read
transaction per database (a consistent snapshot), plus the integrity check in a second one.
No event content is decompressed: transcript sizes come from `event_utf8_bytes`, which
OpenClaw fills for every row (spec §4.2), and timestamps from the `created_at` columns.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sessionctl import jsonjs
from sessionctl.gateway import find_gateways
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.locks import pid_alive
from sessionctl.sqlite import AGENT_DB_NAME, STATE_DB_REL, SUPPORTED_AGENT_SCHEMAS, SUPPORTED_STATE_SCHEMAS
from sessionctl.sqlite.db import (
    DbError,
    Schema,
    SqlValue,
    open_ro,
    read_schema,
    read_transaction,
    schema_problem,
)

# OpenClaw's own list projection (session-accessor.sqlite-status, `sessionEntryMetadataJson`):
# entry_json without the two big diagnostic objects, which no check reads
_ENTRY_JSON = """CASE WHEN json_valid(entry_json)
  THEN CASE WHEN json_type(entry_json, '$.sessionId') = 'text'
      AND length(CAST(entry_json AS BLOB)) = length(CAST(printf('%s', entry_json) AS BLOB))
    THEN json_remove(entry_json, '$.skillsSnapshot', '$.systemPromptReport')
    ELSE entry_json END
  ELSE entry_json END"""

# keys OpenClaw never lists (session-accessor.sqlite-entry-list.read: isInternalSessionEffectsKey)
INTERNAL_SEGMENT = "internal-session-effects:"


def agent_db_path(state_dir: Path, agent_id: str) -> Path:
    return state_dir / "agents" / agent_id / "agent" / AGENT_DB_NAME


def state_db_path(state_dir: Path) -> Path:
    return state_dir.joinpath(*STATE_DB_REL)


def parse_entry(text: SqlValue) -> JsonObj | None:
    """entry_json as JSON.parse reads it, when it is an object (else None)."""
    if not isinstance(text, str):
        return None

    try:  # the one reader of what OpenClaw wrote: lone surrogates, 1e400, any depth
        value = jsonjs.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def is_internal_key(key: str) -> bool:
    if not key.startswith("agent:"):
        return False
    end = key.find(":", 6)
    return end >= 0 and key.startswith(INTERNAL_SEGMENT, end + 1)


def _finite(v: JsonValue) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


@dataclass
class Node:
    """One `session_nodes` row (spec §4.1)."""

    key: str
    session_id: str
    entry: JsonObj | None
    entry_valid: int
    updated_at: int
    status: str | None
    created_at: int | None
    created_via: str | None
    parent_session_key: str | None
    spawned_by: str | None
    archived_at: int | None
    pinned_at: int | None
    last_interaction_at: int | None
    last_activity_at: int | None

    @property
    def listed(self) -> bool:
        """A row `openclaw sessions` shows: not an internal-effects key, and entry_json an
        object with a string sessionId and a finite updatedAt (parseSqliteSessionEntryRecord)."""
        e = self.entry
        return (
            not is_internal_key(self.key)
            and e is not None
            and isinstance(e.get("sessionId"), str)
            and _finite(e.get("updatedAt"))
        )

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


@dataclass
class Transcript:
    """One transcript generation: a `session_windows` row and its events (spec §4.2)."""

    session_id: str
    session_key: str
    reason: str | None
    created_at: int | None
    events: int = 0
    bytes: int = 0  # the JSONL size: SUM(event_utf8_bytes)
    first_event_at: int | None = None
    last_event_at: int | None = None


@dataclass
class ArchiveRow:
    """A canonical archive (`session_transcript_archives`, spec §4.4)."""

    session_id: str
    generation: str
    session_key: str
    reason: str
    encoding: str
    bytes: int
    name: str
    created_at: int
    published_at: int | None
    publish_attempts: int
    last_publish_error: str | None


@dataclass
class AgentDb:
    """What one agent database holds, read once. `status`: ok | unreadable | unknown."""

    agent_id: str
    path: Path
    status: str = "ok"
    error: str | None = None
    problem: tuple[str, str] | None = None  # (check, message) from db.schema_problem
    schema: Schema | None = None
    nodes: list[Node] = field(default_factory=list)
    transcripts: dict[str, Transcript] = field(default_factory=dict)
    archives: list[ArchiveRow] = field(default_factory=list)
    db_bytes: int = 0
    wal_bytes: int = 0
    sessions_dir_bytes: int = 0
    sessions_dir_files: int = 0
    archive_files: list[tuple[str, int]] = field(default_factory=list)  # (.deleted/.reset name, bytes)
    integrity: list[str] | None = None  # rows of quick_check / integrity_check ("ok")
    integrity_mode: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def disk_bytes(self) -> int:
        """What OpenClaw measures against session.maintenance.maxDiskBytes: the database,
        its -wal and every file under the agent's sessions/ folder (spec §5.4)."""
        return self.db_bytes + self.wal_bytes + self.sessions_dir_bytes

    def node(self, key: str) -> Node | None:
        for n in self.nodes:
            if n.key == key:
                return n
        return None


def _file_size(path: Path) -> int:
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return 0


# the archive file names of the SQLite era (isSessionArchiveArtifactName, dist/artifacts-*.mjs):
# <base>.<reason>.<YYYY-MM-DDTHH-MM-SS[.mmm]Z>[.<32-hex generation>][.zst]
_ARCHIVE_NAME = re.compile(
    r"^.+\.(?:deleted|reset|bak)\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d{3})?Z(?:\.[0-9a-f]{32})?(?:\.zst)?$"
)


def _scan_sessions_dir(folder: Path) -> tuple[int, int, list[tuple[str, int]]]:
    """Bytes and count of every regular file under sessions/ (symlinks not followed), and
    the derived archive files (`<id>.jsonl.deleted|reset.<stamp>…`) directly in it."""
    total = files = 0
    archives: list[tuple[str, int]] = []
    stack = [folder]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for de in it:
                try:
                    if de.is_symlink():
                        continue
                    if de.is_dir(follow_symlinks=False):
                        stack.append(Path(de.path))
                        continue
                    size = de.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
                total += size
                files += 1
                if d == folder and _ARCHIVE_NAME.match(de.name):
                    archives.append((de.name, size))
    return total, files, archives


def read_agent_db(
    agent_id: str, db: Path, sessions_dir: Path, *, integrity: str | None = "quick_check"
) -> AgentDb:
    """Read one agent database (never raises for its content; see AgentDb.status).
    `integrity`: 'quick_check', 'integrity_check' or None (skip)."""
    out = AgentDb(agent_id, db)
    out.db_bytes = _file_size(db)
    out.wal_bytes = _file_size(db.with_name(db.name + "-wal"))
    out.sessions_dir_bytes, out.sessions_dir_files, out.archive_files = _scan_sessions_dir(sessions_dir)

    def read(conn: sqlite3.Connection) -> None:
        with read_transaction(conn):
            _read_rows(conn, out)
        if integrity is not None:
            with read_transaction(conn):
                rows = conn.execute(f"PRAGMA {integrity}(20)").fetchall()
            out.integrity = [str(r[0]) for r in rows]
            out.integrity_mode = integrity

    _read_db(out, db, read, role="agent", supported=SUPPORTED_AGENT_SCHEMAS, owner=agent_id)
    return out


def _read_db(
    out: AgentDb | StateDb,
    path: Path,
    read: Callable[[sqlite3.Connection], None],
    *,
    role: str,
    supported: frozenset[int],
    owner: str | None = None,
) -> None:
    """Open `path` read-only, check its schema (`out.problem`, status unknown: not read
    further), then `read` it; a database that cannot be read leaves its status and error
    in `out` (never raises for its content)."""
    try:
        with open_ro(path) as conn:
            out.schema = read_schema(conn)
            out.problem = schema_problem(out.schema, role=role, supported=supported, owner=owner)
            if out.problem is not None:
                out.status = "unknown"
                return
            read(conn)
    except DbError as exc:
        out.status, out.error = exc.status, exc.message
    except sqlite3.Error as exc:
        out.status, out.error = "unreadable", f"cannot read {path}: {exc}"


def _read_rows(conn: sqlite3.Connection, out: AgentDb) -> None:
    cur = conn.execute(
        "SELECT session_key, current_session_id, "
        + _ENTRY_JSON
        + ", entry_valid, updated_at, status, created_at, created_via, parent_session_key, spawned_by, "
        "archived_at, pinned_at, last_interaction_at, last_activity_at FROM session_nodes ORDER BY session_key"
    )
    for r in cur:
        out.nodes.append(
            Node(
                key=r[0],
                session_id=r[1],
                entry=parse_entry(r[2]),
                entry_valid=r[3],
                updated_at=r[4],
                status=r[5],
                created_at=r[6],
                created_via=r[7],
                parent_session_key=r[8],
                spawned_by=r[9],
                archived_at=r[10],
                pinned_at=r[11],
                last_interaction_at=r[12],
                last_activity_at=r[13],
            )
        )
    for sid, key, reason, created in conn.execute(
        "SELECT session_id, session_key, reason, created_at FROM session_windows"
    ):
        out.transcripts[sid] = Transcript(sid, key, reason, created)
    for sid, n, nbytes, first, last in conn.execute(
        "SELECT session_id, COUNT(*), "
        "SUM(COALESCE(event_utf8_bytes, length(CAST(event_json AS BLOB)), 0)), MIN(created_at), MAX(created_at) "
        "FROM transcript_events GROUP BY session_id"
    ):
        t = out.transcripts.get(sid)
        if t is None:  # events without a window (a foreign write); still counted
            t = out.transcripts[sid] = Transcript(sid, "", None, None)
        t.events, t.bytes, t.first_event_at, t.last_event_at = n, int(nbytes or 0), first, last
    for r in conn.execute(
        "SELECT session_id, generation, session_key, reason, encoding, length(archive_blob), archive_name, "
        "created_at, published_at, publish_attempts, last_publish_error FROM session_transcript_archives "
        "ORDER BY created_at"
    ):
        out.archives.append(ArchiveRow(*r))


# ---------------------------------------------------------------- the state database


@dataclass
class Lease:
    lease_id: str
    agent_id: str
    path: str
    owner_pid: int
    owner_start_time: int | None
    opened_at: int


@dataclass
class ThreadBinding:
    """A thread/conversation binding in the state database (spec §7.5). Only the fields
    sessionctl reports: value_json may hold secrets and is never kept."""

    source: str  # plugin_state_entries | current_conversation_bindings
    plugin: str | None
    namespace: str | None
    ident: str
    target_session_key: str | None
    target_agent: str | None
    channel: str | None
    conversation_id: str | None
    expires_at: int | None
    status: str | None = None

    def to_json(self) -> JsonObj:
        return dict(self.__dict__)


@dataclass
class StateDb:
    path: Path
    exists: bool = False
    status: str = "ok"
    error: str | None = None
    problem: tuple[str, str] | None = None
    schema: Schema | None = None
    registry: list[tuple[str, str]] = field(default_factory=list)  # agent_databases (agent_id, path)
    leases: list[Lease] = field(default_factory=list)
    gateway_owner: JsonObj | None = None  # state_leases 'gateway-owner' row (no payload secrets)
    bindings: list[ThreadBinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exists and self.status == "ok"


def _target_agent(key: str | None) -> str | None:
    if not key:
        return None
    parts = key.strip().lower().split(":")
    return parts[1] if len(parts) >= 3 and parts[0] == "agent" and parts[1] else None


def read_state_db(state_dir: Path) -> StateDb:
    """Registry, leases, gateway ownership and thread bindings of `state/openclaw.sqlite`."""
    path = state_db_path(state_dir)
    out = StateDb(path)
    if not os.path.lexists(path):
        return out
    out.exists = True

    def read(conn: sqlite3.Connection) -> None:
        with read_transaction(conn):
            _read_state(conn, out)

    _read_db(out, path, read, role="global", supported=SUPPORTED_STATE_SCHEMAS)
    return out


def _read_state(conn: sqlite3.Connection, out: StateDb) -> None:
    out.registry = [(str(a), str(p)) for a, p in conn.execute("SELECT agent_id, path FROM agent_databases")]
    out.leases = [
        Lease(*r)
        for r in conn.execute(
            "SELECT lease_id, agent_id, path, owner_pid, owner_start_time, opened_at FROM agent_database_leases"
        )
    ]
    row = conn.execute(
        "SELECT owner, expires_at, heartbeat_at, payload_json FROM state_leases "
        "WHERE scope='gateway-owner' AND lease_key='global'"
    ).fetchone()
    if row is not None:
        payload = parse_entry(row[3]) or {}
        owner = payload.get("owner") if isinstance(payload.get("owner"), dict) else {}
        pid = owner.get("pid") if isinstance(owner, dict) else None
        out.gateway_owner = {
            "expires_at": row[1],
            "heartbeat_at": row[2],
            "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        }
    for plugin, ns, key, value, expires in conn.execute(
        "SELECT plugin_id, namespace, entry_key, value_json, expires_at FROM plugin_state_entries "
        "WHERE namespace LIKE '%thread-bindings%'"
    ):
        v = parse_entry(value) or {}
        target = v.get("targetSessionKey")
        target = target if isinstance(target, str) else None
        conv = v.get("conversationId") if isinstance(v.get("conversationId"), str) else None
        agent = v.get("agentId") if isinstance(v.get("agentId"), str) else None
        out.bindings.append(
            ThreadBinding(
                "plugin_state_entries",
                str(plugin),
                str(ns),
                str(key),
                target,
                agent.strip().lower() if agent else _target_agent(target),
                str(plugin),
                conv,
                expires,
            )
        )
    for key, target, channel, conv, status, expires in conn.execute(
        "SELECT binding_key, target_session_key, channel, conversation_id, status, expires_at "
        "FROM current_conversation_bindings"
    ):
        out.bindings.append(
            ThreadBinding(
                "current_conversation_bindings",
                None,
                None,
                str(key),
                target,
                _target_agent(target),
                channel,
                conv,
                expires,
                status,
            )
        )


def gateway_for(state_dir: Path) -> str | None:
    """A description of the gateway serving this state dir, or None when none runs: a
    live gateway process (sessionctl.gateway), or the state database's `gateway-owner`
    lease held by a live pid (spec §6.3)."""
    gws = find_gateways(state_dir)
    if gws:
        return gws[0].describe()
    st = read_state_db(state_dir)
    owner = st.gateway_owner or {}
    pid = owner.get("pid")
    if isinstance(pid, int) and pid_alive(pid) is not False:
        return f"OpenClaw gateway (pid {pid}, state database lease)"
    return None
