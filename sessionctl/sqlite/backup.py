"""Backing up an agent database before OpenClaw changes it, and putting it back.

Backup: SQLite's online backup API from a read-only connection (what OpenClaw itself does,
`backupNodeSqliteDatabase`; spec §6.3) — a consistent copy even while the gateway writes, in
one step (one read transaction). The copy is then made self-contained (`journal_mode=DELETE`,
no -wal), checked with `quick_check`, fsynced and recorded in the run's journal with its
SHA-256. A plain file copy is never used: committed data may still be in the -wal.

Restore: only with no gateway and no other process holding the database (spec §6.3: never
replace a database or its sidecars under a running gateway). The backup is written into the
live database with the backup API again, as one SQLite write transaction: the file keeps its
inode (OpenClaw's `dev:ino` identity of the database), a crash leaves either the old or the
restored content, and SQLite itself checkpoints and removes the -wal when the connection
closes. The backup must come from the same agent (`schema_meta.agent_id`) and be a schema
sessionctl knows.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sessionctl.action_types import BackupRecord, JournalAction
from sessionctl.context import RunContext
from sessionctl.errors import BusyError, DataError, IOFailure
from sessionctl.fsio import fsync_dir, lexists_in, lstat_in, makedirs, sha256_file, state_rel
from sessionctl.gateway import find_gateways
from sessionctl.runs import Run, RunInfo
from sessionctl.sqlite import SUPPORTED_AGENT_SCHEMAS
from sessionctl.sqlite.db import DbError, open_ro, read_schema, schema_problem, uri
from sessionctl.sqlite.reader import gateway_for


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_db(run: Run, db: Path, agent_id: str) -> BackupRecord:
    """Back `db` up into the run folder (backup/<path relative to the state dir>) and record
    it in `run.backups` (kind "sqlite"). Raises IOFailure / DataError; nothing is changed."""

    rel = state_rel(run.state_dir, db)
    dst = run.dir / "backup" / rel
    run.at(f"backing up the database {rel}", dst)
    makedirs(dst.parent)  # through folder fds from /: no symlinked folder on the way
    if lexists_in(dst):
        raise DataError(f"{dst} exists already; the run folder is not as sessionctl made it", path=str(dst))
    try:
        with open_ro(db) as src:
            schema = read_schema(src)
            problem = schema_problem(schema, role="agent", supported=SUPPORTED_AGENT_SCHEMAS, owner=agent_id)
            if problem is not None:
                raise DataError(
                    f"agent {agent_id}: {problem[1]}; not backed up, nothing was changed", path=str(db)
                )
            out = sqlite3.connect(str(dst), isolation_level=None)
            try:
                src.backup(out)  # all pages in one step: one read transaction, a consistent copy
                out.execute("PRAGMA journal_mode=DELETE")
            finally:
                out.close()
        check = _quick_check_ro(dst)
    except DbError as exc:
        raise IOFailure(f"agent {agent_id}: cannot back up {db}: {exc.message}", path=str(db)) from None
    except sqlite3.Error as exc:
        raise IOFailure(f"agent {agent_id}: cannot back up {db}: {exc}", path=str(db)) from None
    if check != ["ok"]:
        raise DataError(
            f"agent {agent_id}: the backup of {db} fails quick_check ({check[0]}); nothing was changed",
            path=str(dst),
            hint="run `sessionctl health` and `openclaw doctor --session-sqlite inspect`",
        )
    _fsync(dst)
    fsync_dir(dst.parent)
    rec = {
        "path": rel,
        "backup": str(dst.relative_to(run.dir)),
        "kind": "sqlite",
        "agent": agent_id,
        "size": dst.stat().st_size,
        "sha256": sha256_file(dst),
        "user_version": schema.user_version,
        "quick_check": "ok",
    }
    run.backups.append(rec)
    return rec


def _quick_check_ro(path: Path) -> list[str]:
    """quick_check on a read-only connection: on a writable one SQLite also evaluates the
    schema's CHECK constraints, which use octet_length() (SQLite 3.43+)."""
    try:
        with open_ro(path) as conn:  # leaves no sidecars behind (db.py)
            return [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    except DbError as exc:
        raise sqlite3.OperationalError(exc.message) from None


def db_holders(db: Path) -> list[int]:
    """Pids of processes (other than this one) with the database or a sidecar open."""
    targets: set[tuple[int, int]] = set()
    for suffix in ("", "-wal", "-shm"):
        try:
            st = os.stat(str(db) + suffix)
        except OSError:
            continue
        targets.add((st.st_dev, st.st_ino))
    me = os.getpid()
    out: list[int] = []
    try:
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return out
    for pid in pids:
        if pid == me:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in targets:
                out.append(pid)
                break
    return out


def check_backup(source: Path, agent_id: str, sha256: str | None) -> None:
    """Refuse (DataError) a backup that is not the recorded bytes, not a schema sessionctl
    knows, not this agent's, or fails quick_check."""
    if sha256 is not None and sha256_file(source) != sha256:
        raise DataError(f"the backup {source} does not match its recorded checksum; refusing to restore it")
    try:
        conn = sqlite3.connect(uri(source, "mode=ro"), uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise DataError(f"cannot open the backup {source}: {exc}") from None
    try:
        schema = read_schema(conn)
        problem = schema_problem(schema, role="agent", supported=SUPPORTED_AGENT_SCHEMAS, owner=agent_id)
        if problem is not None:
            raise DataError(f"the backup {source}: {problem[1]}; refusing to restore it")
        check = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.Error as exc:
        raise DataError(f"cannot read the backup {source}: {exc}") from None
    finally:
        conn.close()
    if check != ["ok"]:
        raise DataError(f"the backup {source} fails quick_check ({check[0]}); refusing to restore it")


def restore_db(source: Path, db: Path, agent_id: str) -> None:
    """Write the backup `source` into the live database `db` (see the module doc). The
    caller has checked that no gateway runs; this refuses when any process still holds the
    database. Raises BusyError / DataError / IOFailure."""
    holders = db_holders(db)
    if holders:
        raise BusyError(
            f"agent {agent_id}: {db} is open in process(es) {', '.join(map(str, holders))}; "
            "a database is restored only when nothing holds it, nothing was changed",
            path=str(db),
            hint="stop the gateway and every other OpenClaw process of this state dir first",
        )
    try:
        src = sqlite3.connect(uri(source, "mode=ro"), uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise DataError(f"cannot open the backup {source}: {exc}") from None
    try:
        dst = sqlite3.connect(uri(db, "mode=rw"), uri=True, timeout=0.5, isolation_level=None)
    except sqlite3.Error as exc:
        src.close()
        raise IOFailure(f"agent {agent_id}: cannot open {db} to restore it: {exc}", path=str(db)) from None
    try:
        src.backup(dst)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise BusyError(
                f"agent {agent_id}: {db} is in use ({exc}); nothing was changed", path=str(db)
            ) from None
        raise IOFailure(f"agent {agent_id}: restoring {db} failed: {exc}", path=str(db)) from None
    except sqlite3.Error as exc:
        raise IOFailure(f"agent {agent_id}: restoring {db} failed: {exc}", path=str(db)) from None
    finally:
        src.close()
        dst.close()  # the last connection: SQLite checkpoints the restored pages and removes the -wal
    try:
        check = _quick_check_ro(db)
    except sqlite3.Error as exc:
        raise IOFailure(
            f"agent {agent_id}: {db} cannot be read after the restore: {exc}", path=str(db)
        ) from None
    if check != ["ok"]:
        raise IOFailure(
            f"agent {agent_id}: {db} fails quick_check after the restore ({check[0]})", path=str(db)
        )


# ---------------------------------------------------------------- restore / undo actions


def plan_restores(ctx: RunContext, info: RunInfo, target: str) -> list[JournalAction]:
    """sqlite.restore actions for the agent databases run `target` backed up (narrowed to
    the selected agents). Each backup is checked first (checksum, schema, owner, quick_check)."""
    by_db = {
        str(st.sqlite_path.relative_to(ctx.state_dir)): st
        for st in ctx.discovery.stores
        if st.layout == "sqlite" and st.sqlite_path is not None
    }
    out: list[JournalAction] = []
    for b in (info.journal or {}).get("backups", []):
        if b.get("kind") != "sqlite":
            continue
        st = by_db.get(b.get("path"))
        if st is None:
            continue
        source = info.dir / b["backup"]
        check_backup(source, st.agent_id, b.get("sha256"))
        out.append(
            {
                "type": "sqlite.restore",
                "agent": st.agent_id,
                "path": b["path"],
                "source": str(source),
                "source_sha256": b.get("sha256"),
                "from_run": target,
                "note": "the whole database as backed up; everything written to it since is replaced",
            }
        )
    return out


def refuse_unless_stopped(ctx: RunContext) -> None:
    """A database is put back only with no gateway of this state dir running (any era)."""

    gws = find_gateways(ctx.state_dir)
    who = gws[0].describe() if gws else gateway_for(ctx.state_dir)
    if who is not None:
        raise BusyError(
            f"{who} is running for {ctx.state_dir}: an agent database is restored only with the gateway "
            "stopped (it would keep writing to the old one); nothing was changed",
            hint="stop the gateway (systemctl --user stop openclaw-gateway), run the restore, then start it",
        )


def prepare_restores(run: Run, actions: list[JournalAction]) -> None:
    """Back up each database a sqlite.restore will overwrite (so the restore can be undone)."""
    for a in actions:
        if a["type"] == "sqlite.restore" and a.get("state", "planned") == "planned":
            db = run.state_dir / a["path"]
            if db.exists():
                a["backup"] = backup_db(run, db, a["agent"])["backup"]


def apply_restores(run: Run, actions: list[JournalAction]) -> None:
    for a in actions:
        if a["type"] != "sqlite.restore" or a.get("state", "planned") != "planned":
            continue
        db = run.state_dir / a["path"]
        run.at(f"restoring the database {a['path']}", db)
        _verify_in_place(db)
        restore_db(Path(a["source"]), db, a["agent"])
        a["state"] = "applied"


def _verify_in_place(db: Path) -> None:
    """Right before SQLite opens `db` to write it: no folder on its way is a symbolic link
    (a swap since planning would redirect the write) and it is a regular file of its own
    (fsio.lstat_in walks from / with O_NOFOLLOW). SQLite itself opens by path."""
    import stat

    st = lstat_in(db)  # SymlinkRefused (an OSError) for a symlinked folder: the run's I/O error
    if not stat.S_ISREG(st.st_mode):
        raise DataError(
            f"{db} is no longer a regular file (a symbolic link or something else took its place); "
            "the database was not restored",
            path=str(db),
        )
