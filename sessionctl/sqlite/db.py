"""Read-only access to OpenClaw's SQLite databases, safe while a gateway runs (spec §6.3).

Every connection sessionctl opens to read is `file:<db>?mode=ro` with `PRAGMA query_only=ON`
and `trusted_schema=OFF`, read in short transactions, and never `immutable=1` (which would
turn off locking and change detection, so a read could be torn by a concurrent writer).

Sidecars. A WAL reader takes part in the `-shm` locking protocol, and SQLite creates `-wal`
and `-shm` when a reader opens a database that has none (a database OpenClaw closed
cleanly). So that reading changes no byte anywhere:

- when both sidecars exist (a gateway or another OpenClaw process has the database open,
  or left them), the reader opens the `-shm` read-only (`readonly_shm=1`): SQLite then reads
  the WAL index without writing its read marks, and the snapshot is still consistent;
- when neither exists, SQLite creates an empty `-wal` and a `-shm` for the read. sessionctl
  does this only as the database's owner (sidecars of another user would lock the gateway
  out), and afterwards lets SQLite itself remove them again: a connection opened only for
  that (`query_only`, reads one row of `sqlite_master`) is the last to close, so SQLite
  takes its exclusive lock, finds the empty WAL and deletes both — exactly what it does
  when any last connection closes, and nothing when another process has the database
  open by then (the sidecars are that process's and stay).

The only bytes any of this writes are those two empty sidecar files, and only while sessionctl
reads; the database file itself is never opened for writing by a reader.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from sessionctl.jsonjs import JsonObj
from sessionctl.sqlite import MIN_SQLITE

# a column value as sqlite3 returns it (TEXT, BLOB, INTEGER, REAL, NULL)
SqlValue: TypeAlias = str | bytes | int | float | None

BUSY_TIMEOUT_S = 5.0  # OpenClaw's own busy timeout (OPENCLAW_SQLITE_BUSY_TIMEOUT_MS = 5e3)


class DbError(Exception):
    """A database that cannot be read. `status` is what health reports for the agent:
    'unreadable' (cannot be opened or read), 'unknown' (read, but not a schema sessionctl
    knows: nothing in it is judged)."""

    def __init__(self, message: str, status: str = "unreadable") -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def sqlite_too_old() -> str | None:
    """Why this Python's SQLite cannot read OpenClaw's databases, or None."""
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        need = ".".join(map(str, MIN_SQLITE))
        return (
            f"this Python's SQLite is {sqlite3.sqlite_version}; OpenClaw's STRICT tables need {need} "
            "or newer (install sessionctl with a Python built against a newer SQLite)"
        )
    return None


def uri(path: Path, *params: str) -> str:
    return "file:" + urllib.parse.quote(str(path), safe="/") + ("?" + "&".join(params) if params else "")


def sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _connect(db: Path, params: tuple[str, ...], busy_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        uri(db, *params), uri=True, timeout=busy_s, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA trusted_schema=OFF")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _describe(exc: sqlite3.Error) -> str:
    text = str(exc) or type(exc).__name__
    if "unable to open" in text:
        text += " (the folder must be writable by this user when the database has no -wal/-shm)"
    return text


@contextlib.contextmanager
def open_ro(db: Path, *, busy_s: float = BUSY_TIMEOUT_S) -> Iterator[sqlite3.Connection]:
    """A read-only connection to `db` (see the module doc). Raises DbError."""
    too_old = sqlite_too_old()
    if too_old is not None:
        raise DbError(too_old, "unknown")
    try:
        st = os.stat(db, follow_symlinks=False)
    except OSError as exc:
        raise DbError(f"cannot stat {db}: {exc.strerror or exc}") from None
    import stat as stat_mod

    if not stat_mod.S_ISREG(st.st_mode):
        raise DbError(f"{db} is not a regular file (never followed)")
    had_wal = os.path.lexists(sidecar(db, "-wal"))
    had_shm = os.path.lexists(sidecar(db, "-shm"))
    creates = not had_wal or not had_shm
    if creates and hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise DbError(
            f"{db} belongs to uid {st.st_uid} and has no -wal/-shm: reading it as uid {os.geteuid()} "
            "would create sidecars the gateway's user cannot write; run sessionctl as the gateway's user"
        )
    params: tuple[str, ...] = ("mode=ro",) if creates else ("mode=ro", "readonly_shm=1")
    try:
        conn = _connect(db, params, busy_s)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        if creates:
            _release_sidecars(db, had_wal, had_shm)
            raise DbError(f"cannot open {db}: {_describe(exc)}") from None
        # a -shm SQLite cannot use read-only (e.g. it needs recovery): read as every
        # SQLite reader does, which may update a read mark in the -shm
        try:
            conn = _connect(db, ("mode=ro",), busy_s)
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        except sqlite3.Error as exc2:
            raise DbError(f"cannot open {db}: {_describe(exc2)}") from None
    try:
        yield conn
    finally:
        conn.close()
        if creates:
            _release_sidecars(db, had_wal, had_shm)


def _release_sidecars(db: Path, had_wal: bool, had_shm: bool) -> None:
    """Let SQLite remove the empty -wal/-shm a reader created (see the module doc). Only
    when neither existed before and the WAL is still empty; a failure leaves them, which is
    harmless (OpenClaw uses existing sidecars)."""
    if had_wal or had_shm:
        return
    wal = sidecar(db, "-wal")
    try:
        if os.stat(wal, follow_symlinks=False).st_size != 0:
            return  # someone wrote since: the sidecars are in use
    except OSError:
        return
    try:
        conn = sqlite3.connect(uri(db, "mode=rw"), uri=True, timeout=0.05, isolation_level=None)
    except sqlite3.Error:
        return
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error:
        pass
    finally:
        conn.close()


@contextlib.contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One short read transaction: every query inside sees the same snapshot."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("COMMIT")


# ---------------------------------------------------------------- schema


@dataclass
class Schema:
    user_version: int
    role: str | None = None
    owner: str | None = None
    schema_version: int | None = None
    app_version: str | None = None
    has_meta: bool = False

    def to_json(self) -> JsonObj:
        return dict(self.__dict__)


def read_schema(conn: sqlite3.Connection) -> Schema:
    """user_version and the `schema_meta` primary row (role, owner, schema_version)."""
    uv = int(conn.execute("PRAGMA user_version").fetchone()[0])
    schema = Schema(uv)
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_meta'").fetchone()
    if not has:
        return schema
    row = conn.execute(
        "SELECT role, agent_id, schema_version, app_version FROM schema_meta WHERE meta_key='primary'"
    ).fetchone()
    if row is not None:
        schema.has_meta = True
        schema.role, schema.owner, schema.schema_version, schema.app_version = (
            row[0] if isinstance(row[0], str) else None,
            row[1] if isinstance(row[1], str) else None,
            row[2] if isinstance(row[2], int) else None,
            row[3] if isinstance(row[3], str) else None,
        )
    return schema


def schema_problem(
    schema: Schema, *, role: str, supported: frozenset[int], owner: str | None = None
) -> tuple[str, str] | None:
    """(check, message) when the database is not one sessionctl can judge: an unknown
    version or a wrong role ('sqlite.schema_unsupported'), or an owner other than the folder's
    agent ('sqlite.owner_mismatch': OpenClaw refuses to open it). None when it is fine."""
    versions = ", ".join(str(v) for v in sorted(supported))
    if schema.user_version not in supported:
        return (
            "sqlite.schema_unsupported",
            f"schema version {schema.user_version} is not one sessionctl knows ({versions}); "
            "nothing in this database was checked",
        )
    if not schema.has_meta or schema.role != role or schema.schema_version != schema.user_version:
        return (
            "sqlite.schema_unsupported",
            f"schema_meta does not describe an OpenClaw {role} database of version {schema.user_version} "
            f"(role {schema.role!r}, schema_version {schema.schema_version!r}); nothing in it was checked",
        )
    if owner is not None and schema.owner != owner:
        return (
            "sqlite.owner_mismatch",
            f"schema_meta.agent_id is {schema.owner!r}, not {owner!r}: OpenClaw refuses to open an agent "
            "database in another agent's folder (a misplaced copy)",
        )
    return None
