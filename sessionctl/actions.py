"""The journaled actions every mutating command is made of, how each is applied,
and how each is undone.

Action types (all paths relative to the state dir; `backup`/`moved` paths relative to
the run folder):

| type | fields | applied as | undone as (only when the state shows it applied) |
|---|---|---|---|
| store.remove | agent, store, key, entry | entry deleted under sessions.json.lock, if still identical | entry re-inserted if the key is absent |
| store.insert | agent, store, key, entry | entry added if the key is absent | entry removed if still identical |
| store.set | agent, store, key, before, after | entry replaced if still `before` | `before` put back if still `after` |
| store.replace | store, backup, source, before_sha256, after_sha256 | under sessions.json.lock, only while the store is still `before`: replaced by `source` (a file in the run folder; never an empty store) | backup restored if the store is still `after` |
| file.rename | from, to | durable rename (archive, quarantine) | renamed back if `to` exists and `from` does not |
| file.move | from, moved, before_sha256? | moved into the run folder (skipped, or put back, if the content is no longer `before`) | copied back if `from` does not exist |
| file.rewrite | path, backup, edit, before_sha256, after_sha256 | under the file's `.lock` (transcript rules), only while the file is still `before`: atomic rewrite with `edit` = {drop_lines: [n…], tail: "cut" or "newline"} | backup restored if the file is still `after` |
| file.copy_in | path, source | file copied from another run's folder | moved into this run's folder if unchanged |
| file.export | from, to, compress, sha256, bytes | copied (gzip/zstd) to `to` outside the sessions folders, fsynced, verified, then the original removed | file.import |
| file.import | path, source, compress, sha256 | `source` decompressed to `path` if absent, verified (source kept) | — |
| file.delete | path, bytes, sha256? | unlinked (only with an explicit no-backup flag; skipped if its size or content changed) | cannot be undone: reported as a conflict |
| file.restore | path, source, kind, before_sha256?, source_sha256? | whole file put back from a backup, only if the backup still has the checksum its run recorded and (kind store) parses as a store; a store under its `<name>.lock`, mode 0600 | the overwritten file's backup restored if still `after` |

| sqlite.delete | agent, db, key, session_id, entry, ... | `openclaw sessions delete` through the gateway (sessionctl/sqlite/gc.py) | sqlite/gc.py `undo_actions` (see its module doc) |
| sqlite.archive | agent, db, key, session_id, entry, ... | `openclaw sessions archive` (sessionctl/sqlite/gc.py) | `sqlite.unarchive` (nothing if it was archived already) |
| sqlite.unarchive | agent, db, key, session_id | `openclaw sessions unarchive` | a conflict: archive it again with openclaw |
| sqlite.restore | agent, path, source, source_sha256 | the whole database put back, every gateway stopped (sessionctl/sqlite/backup.py) | the database it replaced, from its backup |

`conflict` entries (type, path, note) are produced by `plan_undo` for actions whose
current state does not allow a safe reversal; they are journaled as skipped.

This table is the prose of the registry at the end of this module (ACTION_TYPES): each
type's payload (sessionctl/action_types.py), its apply, its undo and its backup rule.
tests/test_action_types.py keeps the two, and the journals written before, in step.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, Literal, Protocol, cast

from sessionctl import action_types as at
from sessionctl.action_types import BackupRecord, JournalAction, skip
from sessionctl.errors import BusyError, DataError, UsageError
from sessionctl.fsio import (
    atomic_write,
    commit_temp,
    durable_rename,
    fault_point,
    in_dir,
    lexists_in,
    lstat_in,
    makedirs,
    named,
    open_dir,
    open_regular,
    read_bytes,
    remove_temp,
    rename_at,
    sha256_bytes,
    sha256_file,
    store_tmp_name,
    unlink,
    write_temp,
)
from sessionctl.jsonjs import JsonObj, gc_paused
from sessionctl.locks import STORE_LOCK_TIMEOUT_S, TRANSCRIPT_LOCK_STALE_MS, HeldLock, acquire, store_lock
from sessionctl.runs import (
    BACKUP_SUFFIX,
    Run,
    RunInfo,
    entries_equal,
    read_backup,
    read_run,
    restore_order,
    runs_root,
    validate_journal,
)
from sessionctl.sqlite.gc import undo_actions
from sessionctl.store import (
    RawMember,
    member_spans,
    parse_store_bytes,
    parse_store_slim,
    raw_members,
    serialize_store,
    spliced_store,
    write_store,
)


@contextlib.contextmanager
def locked_store(
    path: Path, *, timeout_s: float = STORE_LOCK_TIMEOUT_S
) -> Iterator[tuple[HeldLock, bytes | None]]:
    """The critical section of a store edit: sessions.json.lock held (waited for up to
    `timeout_s`; the fault point `store.locked` first), and the store's bytes as they
    are under it (None: there is no store)."""
    with store_lock(path, timeout_s=timeout_s) as held:
        fault_point("store.locked")
        try:
            cur = read_bytes(path)
        except FileNotFoundError:
            cur = None
        yield held, cur


def apply_store_actions(
    run: Run,
    store_path: Path,
    actions: list[JournalAction],
    *,
    base: tuple[bytes, JsonObj | None, bool] | None = None,
    lock_timeout_s: float = 10.0,
) -> int:
    """Apply the store.* actions of one store in a single critical section. Each is
    re-validated against the store as re-read under the lock: an entry changed since
    planning is skipped, never overwritten. Returns ms the lock was held.

    The critical section stays short on big stores: the edit is computed, serialised
    and written to a temp file BEFORE the lock, from `base` (the store's bytes and
    parsed data as planned, and whether they are in OpenClaw's own formatting — the dict is consumed;
    no data: nothing is prepared, the edit is made under the lock) or from the bytes on disk now. Under
    sessions.json.lock the store is re-read; when its bytes are still exactly those, the
    temp file is renamed over it. Otherwise (the gateway wrote meanwhile) the store is
    parsed and edited again under the lock, entry by entry, as before.

    An action becomes `applied` only once the store holding it is durable (renamed and
    its folder fsynced): a run that fails on the way leaves its actions `planned`, and
    undo state-checks them."""

    original_order: list[str] = []
    verdicts: list[tuple[JournalAction, str, str | None]] = []
    rel = actions[0].get("store") if actions else None
    run.at(f"editing the store {rel or store_path}", store_path)

    def edit(data: JsonObj) -> JsonObj | None:
        changed = False
        original_order.clear()
        original_order.extend(data.keys())
        verdicts.clear()
        restored: JsonObj = {}
        for a in actions:
            key = a["key"]
            t = a["type"]
            cur = data.get(key, _MISSING)
            if t == "store.remove":
                if cur is not _MISSING and (cur is a["entry"] or entries_equal(cur, a["entry"])):
                    del data[key]
                    verdicts.append((a, "applied", None))
                    changed = True
                else:
                    verdicts.append((a, "skipped", "entry changed or removed since planning"))
            elif t == "store.insert":
                if cur is _MISSING:
                    restored[key] = a["entry"]
                    verdicts.append((a, "applied", None))
                    changed = True
                else:
                    verdicts.append((a, "skipped", "key exists again (not overwritten)"))
            elif t == "store.set":
                before = a.get("before", _MISSING_JSON)
                if (cur is _MISSING and before is None) or (
                    cur is not _MISSING and entries_equal(cur, before)
                ):
                    if a.get("after") is None:
                        data.pop(key, None)
                    else:
                        data[key] = a["after"]
                    verdicts.append((a, "applied", None))
                    changed = True
                else:
                    verdicts.append((a, "skipped", "entry changed since planning"))
        if restored:
            order = run.orders.get(rel) if isinstance(rel, str) else None
            data = restore_order(data, restored, order or a_order(actions, original_order))
        return data if changed else None

    def settle() -> None:
        """The store is durable (or nothing had to change): record each verdict."""
        for a, state, note in verdicts:
            a.pop("note", None)
            a["state"] = state
            if note:
                a["note"] = note

    # ---- outside the lock: compute, serialise, write the temp file
    expect: bytes | None = None
    tmp: Path | None = None
    data: JsonObj | None
    try:
        if base is not None:
            expect, data, canonical = base
        else:
            expect = read_bytes(store_path)
            with gc_paused():
                _status, data, _err = parse_store_bytes(expect)
            canonical = data is not None and _is_canonical(data, expect)
        if data is not None:
            # a store in OpenClaw's own formatting is written as slices of its old bytes
            # with only the inserted or replaced members serialised (store.spliced_store):
            # neither the whole serialisation nor a second copy of the store is made
            spans = member_spans(expect, list(data)) if canonical else None
            before = dict(data) if spans is not None else {}
            if spans is None:
                _materialize(actions)
            new = edit(data)
            if new is not None:
                payload = (
                    spliced_store(expect, spans, before, new) if spans is not None else serialize_store(new)
                )
                tmp = write_temp(store_path, payload, mode=0o600, tmp_name=store_tmp_name(store_path))
            del before, spans
        else:
            expect = None
    except (OSError, DataError):
        expect, tmp = None, None  # the slow path under the lock decides (and reports)
    # ---- the critical section
    try:
        with locked_store(store_path, timeout_s=lock_timeout_s) as (held, cur):
            if expect is not None and cur == expect:
                if tmp is not None:
                    commit_temp(tmp, store_path)
                    tmp = None
                settle()
                return held.held_ms()
            # the store changed since the edit was prepared: edit what is there now
            _materialize(actions)
            with gc_paused():
                status, now_data, err = parse_store_bytes(cur) if cur is not None else ("missing", None, None)
            if now_data is None:
                raise DataError(
                    f"{store_path} became unreadable ({err or status}) before it could be changed; "
                    "nothing was written",
                    path=str(store_path),
                    hint="run `sessionctl health` and `sessionctl repair --only store`",
                )
            new = edit(now_data)
            if new is not None:
                write_store(store_path, new)
            settle()
            return held.held_ms()
    finally:
        if tmp is not None:
            remove_temp(tmp)


def _is_canonical(data: JsonObj, raw: bytes) -> bool:

    try:
        return serialize_store(data) == raw
    except DataError:
        return False


_MISSING: Any = object()
_MISSING_JSON: Any = object()


def a_order(actions: list[JournalAction], current_order: list[str]) -> list[str]:
    """The pre-run key order when an action carries it (journals of format 1 gave each
    store.insert the whole order; format 2 keeps it once per store: Run.orders), else
    the current order."""
    for a in actions:
        if a.get("order"):
            return list(a["order"])
    return current_order


def apply_renames(run: Run, actions: list[JournalAction]) -> None:
    """A batch of file.rename actions (consecutive in the journal): each renamed through
    its folders' fds (no symbolic link anywhere on the way, never over an existing file:
    FileExistsError; a source that is gone is skipped; a missing target folder is made),
    then every folder the batch touched fsynced once — not once per rename (undo of a
    10,000-session gc puts back ~28,000 transcripts). The actions become `applied` only
    once their folders are durable: a crash before leaves them `planned`, and undo
    checks each one on disk (_undo_rename)."""
    sd = str(run.state_dir)
    fds: dict[str, int] = {}  # each folder opened once for the batch
    done: list[tuple[JournalAction, str, str]] = []

    def folder(path: str, *, create: bool = False) -> int:
        fd = fds.get(path)
        if fd is None:
            fd = fds[path] = open_dir(path, create=create)
        return fd

    try:
        for a in actions:
            src, dst = os.path.join(sd, a["from"]), os.path.join(sd, a["to"])
            run.at(f"renaming {a['from']} to {a['to']}", src)
            src_dir, src_name = os.path.split(src)
            dst_dir = os.path.dirname(dst)
            try:
                sfd = folder(src_dir)
                os.stat(src_name, dir_fd=sfd, follow_symlinks=False)
            except FileNotFoundError:
                skip(a, "source no longer exists")
                continue
            rename_at(sfd, src, folder(dst_dir, create=True), dst)
            done.append((a, src_dir, dst_dir))
    finally:
        try:
            synced: set[str] = set()
            for a, src_dir, dst_dir in done:
                for f in (dst_dir, src_dir):
                    if f not in synced:
                        try:
                            fault_point("rename.fsync_dir", f)
                            os.fsync(fds[f])
                        except OSError as exc:
                            raise named(exc, Path(f)) from None
                        synced.add(f)
                a["state"] = "applied"
        finally:
            for fd in fds.values():
                os.close(fd)


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def move_into_run(
    agent: str, rel: str, path: Path, size: int, *, check: str, what: str, reason: str
) -> JournalAction:
    """A planned `file.move` of the file at `rel` (state-relative; `path` on disk, `size`
    bytes) into the run folder, with the hash apply and undo check it against."""
    return {
        "type": "file.move",
        "agent": agent,
        "from": rel,
        "before_sha256": sha256_file(path),
        "bytes": size,
        "check": check,
        "what": what,
        "reason": reason,
    }


def apply_move(run: Run, action: JournalAction) -> None:

    src = run.state_dir / action["from"]
    run.at(f"moving {action['from']} into the run", src)
    if not lexists_in(src):
        skip(action, "file no longer exists")
        return
    expected = action.get("before_sha256")
    before = lstat_in(src)
    if expected is not None and sha256_file(src) != expected:
        skip(action, "file changed since planning")
        return
    run.move_into_run(src, action)
    if expected is not None:
        moved = run.dir / action.get("moved", "moved/" + action["from"])
        # the very file checked, untouched, needs no second read; anything else (replaced
        # or written between the check and the rename, or copied across filesystems) does
        if _identity(lstat_in(moved)) != _identity(before) and sha256_file(moved) != expected:
            # replaced between the check and the rename (e.g. a lock re-taken): put it back
            if not lexists_in(src):
                durable_rename(moved, src)
            skip(action, "file changed during the move (put back)")


def apply_delete(run: Run, action: JournalAction) -> None:
    """Unlink a file without a backup. Only for explicit no-backup requests
    (gc --no-archive-backup, archive --no-backup); journaled, and skipped when the file
    changed size or (when the plan recorded one) content since planning: a file
    replaced by other content of the same size is never deleted."""

    path = run.state_dir / action["path"]
    run.at(f"deleting {action['path']}", path)
    try:
        st = lstat_in(path)
    except FileNotFoundError:
        skip(action, "file no longer exists")
        return
    if action.get("bytes") is not None and st.st_size != action["bytes"]:
        skip(action, "file changed since planning")
        return
    if action.get("sha256") is not None and sha256_file(path) != action["sha256"]:
        skip(action, "file changed since planning")
        return
    unlink(path)
    action["state"] = "applied"


def apply_rewrite(run: Run, action: JournalAction, data: bytes) -> None:
    """Atomically rewrite a file whose backup is already in the run (mode kept)."""

    path = run.state_dir / action["path"]
    run.at(f"rewriting {action['path']}", path)
    expected = action.get("before_sha256")
    if expected is not None and sha256_file(path) != expected:
        skip(action, "file changed since planning")
        return
    mode = lstat_in(path).st_mode & 0o777
    atomic_write(path, data, mode=mode)
    action["state"] = "applied"


# ---------------------------------------------------------------- undo


def plan_undo(run: Run, target_run_id: str, backup_dir: str | None = None) -> list[JournalAction]:
    """Turn the applied actions of `target_run_id` into this run's reverse actions,
    newest first. Actions of an interrupted run are all considered (state-checked).
    The pre-run key order of each store goes into `run.orders` (once per store)."""
    actions, orders = plan_undo_full(run.state_dir, target_run_id, backup_dir)
    run.orders.update(orders)
    return actions


def plan_undo_at(state_dir: Path, target_run_id: str, backup_dir: str | None = None) -> list[JournalAction]:
    """plan_undo without a run (for dry runs): the reverse actions of `target_run_id`."""
    return plan_undo_full(state_dir, target_run_id, backup_dir)[0]


def plan_undo_full(
    state_dir: Path, target_run_id: str, backup_dir: str | None = None
) -> tuple[list[JournalAction], dict[str, list[str]]]:
    """The reverse actions of `target_run_id`, and the pre-run key order of each store
    they re-insert entries into. Reads journals of every format (runs.JOURNAL_SCHEMA);
    validates every path in the journal first (validate_journal): nothing is planned —
    let alone touched — from a journal that names a path outside its place."""

    info = read_run(state_dir, target_run_id, backup_dir)
    if info.journal is None:
        raise DataError(f"run {target_run_id} has no journal: nothing to undo", hint="see `sessionctl runs`")
    validate_journal(info, state_dir, runs_root(state_dir, backup_dir))
    results = {r["id"]: r["state"] for r in (info.status or {}).get("results", [])}
    interrupted = info.status is None
    # a run that failed: the action it was doing when the error struck is still "planned"
    # but may have reached the disk (e.g. an fsync after the rename failed): state-check it
    failed = not interrupted and (info.status or {}).get("status") == "failed"
    out: list[JournalAction] = []
    order_by_store: dict[str, list[str]] = {}
    backup_recs = {b.get("backup"): b for b in info.journal.get("backups", [])}
    entries = _BackupEntries(info, backup_recs)
    removes = {a.get("store") for a in info.journal.get("actions", []) if a.get("type") == "store.remove"}
    for b in info.journal.get("backups", []):
        if b.get("kind") == "store" and b.get("path") in removes:
            with contextlib.suppress(OSError, ValueError, DataError):
                order_by_store[b["path"]] = entries.keys(b["backup"])
    u = _UndoContext(state_dir, target_run_id, info, backup_recs, entries)
    for a in reversed(info.journal.get("actions", [])):
        state = results.get(a.get("id"))
        if not interrupted and state != "applied" and not (failed and state == "planned"):
            continue
        spec = ACTION_TYPES.get(a.get("type"))
        if spec is not None:
            out.extend(spec.undo(a, state, u))
    used = {a["store"] for a in out if a["type"] == "store.insert"}
    return out, {k: v for k, v in order_by_store.items() if k in used}


# ---------------------------------------------------------------- undo, per action type


@dataclass
class _UndoContext:
    """What undoing one action of run `target` may look at: the live state dir and the
    run as read once (its journal's backups, and the entries held in them)."""

    state_dir: Path
    target: str
    info: RunInfo
    backup_recs: dict[object, BackupRecord]  # by their `backup` (the file in the run folder)
    entries: _BackupEntries


def _conflict(path: object, note: str, **extra: object) -> JournalAction:
    return {"type": "conflict", "path": path, "note": note, **extra}


def _undo_store_entry(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    rev: JournalAction = {
        "type": "store.insert" if a["type"] == "store.remove" else "store.remove",
        "agent": a.get("agent"),
        "store": a["store"],
        "key": a["key"],
    }
    if isinstance(a.get("entry_in"), str):
        # the entry is the one of that key in a backup of the run (checksummed): checked
        # to be there now, read only when its store is edited (resolve_entries), so that
        # undo holds one backup's entries at a time, never all of them
        u.entries.check(a["entry_in"], a["key"])
        rev[ENTRY_SOURCE] = (str(u.info.dir / a["entry_in"]), u.backup_recs[a["entry_in"]])
    else:
        rev["entry"] = a["entry"]
    return [rev]


def _undo_store_set(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    return [
        {
            "type": "store.set",
            "agent": a.get("agent"),
            "store": a["store"],
            "key": a["key"],
            "before": a.get("after"),
            "after": a.get("before"),
        }
    ]


def _undo_rename(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    sd = str(u.state_dir)  # strings: a gc's undo checks ~28,000 of these
    there = os.path.lexists(os.path.join(sd, a["from"]))
    if not there and os.path.lexists(os.path.join(sd, a["to"])):
        return [{"type": "file.rename", "agent": a.get("agent"), "from": a["to"], "to": a["from"]}]
    why = "a file exists at the original name again" if there else "the renamed file no longer exists"
    return [_conflict(a["from"], f"not renamed back: {why}")]


def _undo_move(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    sd = u.state_dir
    src = u.info.dir / a.get("moved", "moved/" + a["from"])
    if src.exists() and not os.path.lexists(sd / a["from"]):
        back: JournalAction = {
            "type": "file.copy_in",
            "agent": a.get("agent"),
            "path": a["from"],
            "source": str(src),
        }
        if isinstance(a.get("mode"), int):
            back["mode"] = a["mode"]
        return [back]
    why = "a file exists there again" if os.path.lexists(sd / a["from"]) else "its copy is gone"
    return [_conflict(a["from"], f"not copied back: {why}")]


def _undo_copy_in(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    path = u.state_dir / a["path"]
    src_sha = _backup_sha(Path(a["source"]))
    if src_sha is not None and sha256_file(path) == src_sha:
        return [{"type": "file.move", "from": a["path"], "before_sha256": src_sha}]
    return [_conflict(a["path"], "changed since it was copied back")]


def _undo_delete(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    if state != "applied" and os.path.lexists(u.state_dir / a["path"]):
        return []  # never deleted (interrupted or failed before it)
    return [_conflict(a["path"], "was deleted without a backup; cannot be restored")]


def _undo_export(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    sd = u.state_dir
    if os.path.exists(a["to"]) and not os.path.lexists(sd / a["from"]):
        return [
            {
                "type": "file.import",
                "agent": a.get("agent"),
                "path": a["from"],
                "source": a["to"],
                "compress": a.get("compress"),
                "sha256": a.get("sha256"),
            }
        ]
    why = "a file exists there again" if os.path.lexists(sd / a["from"]) else "its export is gone"
    return [_conflict(a["from"], f"not brought back: {why}")]


def _undo_sqlite_change(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    return list(undo_actions(u.target, a, state))


def _undo_sqlite_restore(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    if a.get("backup"):  # put back the database as it was before that restore
        return [
            {
                "type": "sqlite.restore",
                "agent": a.get("agent"),
                "path": a["path"],
                "source": str(u.info.dir / a["backup"]),
                "source_sha256": (u.backup_recs.get(a["backup"]) or {}).get("sha256"),
                "from_run": u.target,
            }
        ]
    return [_conflict(a["path"], "no backup of the database it replaced")]


def _undo_sqlite_unarchive(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    return [
        {
            "type": "conflict",
            "agent": a.get("agent"),
            "path": a.get("db"),
            "key": a.get("key"),
            "note": "unarchived through OpenClaw; archive it again with `openclaw sessions archive`",
        }
    ]


def _undo_from_backup(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    """file.rewrite, store.replace, file.restore: the backup put back while the file is
    still what the action left."""
    t = a["type"]
    rel = a["store"] if t == "store.replace" else a["path"]
    path = u.state_dir / rel
    rec = u.backup_recs.get(a.get("backup")) or {}
    now_sha = sha256_file(path)
    if state != "applied" and now_sha is not None and now_sha == a.get("before_sha256"):
        return []  # never applied (interrupted or failed before it): nothing to undo
    source = str(u.info.dir / a["backup"]) if a.get("backup") else None
    if now_sha == a.get("after_sha256") or (a.get("after_sha256") is None and not os.path.lexists(path)):
        return [
            {
                "type": "file.restore",
                "path": rel,
                "source": source,
                "before_sha256": a.get("after_sha256"),
                "source_sha256": rec.get("sha256"),
                "kind": "store" if _is_store_action(t, a, rec) else "file",
                # a store repair's backup is the damaged store itself: put back as it was
                "source_may_not_parse": t == "store.replace",
            }
        ]
    return [
        _conflict(
            a.get("path") or a.get("store"),
            "changed since the run; its backup stays in the run folder",
            source=source,
        )
    ]


def _undo_nothing(a: JournalAction, state: str | None, u: _UndoContext) -> list[JournalAction]:
    return []


def _is_store_action(t: str, a: JournalAction, rec: BackupRecord) -> bool:
    """Whether the file an action changed is a session store (whatever its file name:
    `session.store` can name it anything): the action says so (store.replace, a restore
    of `kind` store), or the run backed it up as a store. The literal name is only the
    fallback for journals that recorded neither."""
    if t == "store.replace" or a.get("kind") == "store" or rec.get("kind") == "store":
        return True
    return t == "file.restore" and a.get("kind") is None and Path(str(a.get("path"))).name == "sessions.json"


# an undo action's in-memory note of the backup file its entry came from (the path and
# the backup's record); attach_entry_sources turns it into the undo run's own `entry_in`
ENTRY_SOURCE = "_entry_source"


class _BackupEntries:
    """The stores backed up by a run, as undo's plan needs them: each read (compressed
    or plain), checked against the checksum its run recorded and parsed ONCE, however
    many entries of it undo needs — journals refer to the entries a run removed
    (`entry_in`) instead of holding them. The plan keeps only each backup's keys, in
    order (one parsed backup at a time); the entries themselves are read again store by
    store when that store is edited (resolve_entries). A backup that is missing,
    damaged or lacks the entry refuses the undo (DataError, 65) before anything is
    changed."""

    def __init__(self, info: RunInfo, recs: Mapping[object, BackupRecord]) -> None:
        self.info = info
        self.recs = recs
        self.order: dict[str, list[str]] = {}
        self.known: dict[str, set[str]] = {}

    def keys(self, rel: str) -> list[str]:
        got = self.order.get(rel)
        if got is None:
            # slim: the keys and whether it parses are those of the whole parse, without
            # building the entries' big diagnostic objects
            data = load_backup_entries(self.info.dir / rel, self.recs.get(rel), self.info.run_id, slim=True)
            got = self.order[rel] = list(data)
            self.known[rel] = set(got)
            del data
        return got

    def check(self, rel: str, key: str) -> None:
        self.keys(rel)
        if key not in self.known[rel]:
            raise DataError(
                f"run {self.info.run_id}: the backup {self.info.dir / rel} has no entry {key!r}, "
                "which its journal refers to; nothing was changed",
                path=str(self.info.dir / rel),
            )


def load_backup_entries(path: Path, rec: BackupRecord | None, run_id: str, *, slim: bool = False) -> JsonObj:
    """A store backup of run `run_id`, read (compressed or plain), checked against the
    checksum its run recorded (`rec`) and parsed (`slim`: store.parse_store_slim, whose
    keys and verdict are the whole parse's); DataError (65) when any of it fails."""
    raw = read_verified_backup(path, rec, run_id)
    with gc_paused():
        _status, data, err = (parse_store_slim if slim else parse_store_bytes)(raw)
    del raw
    if data is None:
        raise DataError(
            f"run {run_id}: the backup {path} does not parse ({err}); nothing was changed",
            path=str(path),
        )
    return data


def read_verified_backup(path: Path, rec: BackupRecord | None, run_id: str) -> bytes:
    """The bytes of a backup of run `run_id` (decompressed), checked against the
    checksum its run recorded (`rec`); DataError (65) otherwise."""
    try:
        raw = read_backup(path)
    except OSError as exc:
        raise DataError(
            f"run {run_id}: cannot read the backup {path} its journal refers to "
            f"({exc.strerror or exc}); nothing was changed",
            path=str(path),
        ) from None
    if rec is None or (rec.get("sha256") and sha256_bytes(raw) != rec["sha256"]):
        raise DataError(
            f"run {run_id}: the backup {path} does not match the checksum its run "
            "recorded; nothing was changed",
            path=str(path),
            hint="the run folder was damaged; its files stay for use by hand",
        )
    return raw


def _materialize(actions: list[JournalAction]) -> None:
    """Parse the entries kept as bytes (store.RawMember) for an edit that cannot splice."""
    for a in actions:
        e = a.get("entry")
        if type(e) is RawMember:
            a["entry"] = e.value()


def resolve_entries(run: Run, actions: list[JournalAction]) -> list[JournalAction]:
    """Give each store action that refers to its entry (`entry_in`, or the in-memory
    ENTRY_SOURCE of an undo plan not yet recorded) and does not hold it the entry, read
    from that backup — one backup at a time, just before its store is edited. Returns
    the actions filled, whose entries the caller drops once the store is written."""
    wanted: dict[str, tuple[Path, BackupRecord | None, list[JournalAction]]] = {}
    recs: dict[object, BackupRecord] | None = None
    for a in actions:
        if "entry" in a or a["type"] not in ("store.insert", "store.remove"):
            continue
        src = a.get(ENTRY_SOURCE)
        if src is not None:
            path, rec = Path(src[0]), src[1]
        elif isinstance(a.get("entry_in"), str):
            if recs is None:
                recs = {b.get("backup"): b for b in run.backups}
            path, rec = run.dir / a["entry_in"], recs.get(a["entry_in"])
        else:
            continue
        wanted.setdefault(str(path), (path, rec, []))[2].append(a)
    filled: list[JournalAction] = []
    for path, rec, acts in wanted.values():
        data: JsonObj | None = None
        if all(a["type"] == "store.insert" for a in acts):
            # re-inserted entries of a backup in OpenClaw's own formatting stay its bytes
            # (store.RawMember): spliced into the store as they are, parsed only if the
            # edit has to take the general way (_materialize)
            with gc_paused():
                data = raw_members(read_verified_backup(path, rec, run.run_id))
        if data is None:
            data = load_backup_entries(path, rec, run.run_id)
        for a in acts:
            if a["key"] not in data:
                raise DataError(
                    f"run {run.run_id}: the backup {path} has no entry {a['key']!r}, which its "
                    "journal refers to; nothing more was changed",
                    path=str(path),
                )
            a["entry"] = data[a["key"]]
            filled.append(a)
        del data
    return filled


def attach_entry_sources(run: Run, actions: list[JournalAction], target: str) -> None:
    """Give the undo run its own reference for every entry taken from a backup of the
    run it reverses: that backup file is hard-linked into this run's folder (kind
    `entries`), and the action's `entry_in` names the link — so the undo of this undo
    finds the entries even after the other run was pruned, and this journal stays small."""
    for a in actions:
        src = a.pop(ENTRY_SOURCE, None)
        if src is not None:
            a["entry_in"] = run.link_backup(Path(src[0]), src[1], f"from-{target}")


def drop_entry_sources(actions: list[JournalAction]) -> None:
    for a in actions:
        a.pop(ENTRY_SOURCE, None)


def prepare(run: Run, actions: list[JournalAction], *, planned: Mapping[str, bytes] | None = None) -> None:
    """Back up everything the actions will change (before the journal is committed):
    each touched store, and each file a restore will overwrite. Records `backup` and
    `after_sha256` on restore actions so the undo of an undo works too.

    `planned` maps a store (relative path) to the bytes its plan was made from: when
    the backup is exactly those bytes, each store.remove of it refers to the backup for
    its entry (`entry_in`) instead of the journal holding the entry verbatim."""
    stores_done: dict[str, str | None] = {}  # gc removes thousands of keys from one store: back it up once
    for a in actions:
        t = a["type"]
        spec = ACTION_TYPES.get(t)
        rule = spec.backup if spec is not None else None
        if rule == "store":
            if a["store"] not in stores_done:
                stores_done[a["store"]] = run.backup_file(
                    run.state_dir / a["store"], kind="store", expect=(planned or {}).get(a["store"])
                )
            out = stores_done[a["store"]]
            if t == "store.remove" and out is not None and out in run.same_as_planned:
                a["entry_in"] = out
        elif rule == "verified" and not a.get("backup"):
            rel = a["store"] if t == "store.replace" else a["path"]
            a["backup"] = _backup_verified(run, rel, a.get("before_sha256"), t)
        elif rule == "overwritten" and a.get("source"):
            path = run.state_dir / a["path"]
            if os.path.lexists(path):
                a["backup"] = run.backup_file(path, kind="store" if a.get("kind") == "store" else "file")
            a["after_sha256"] = a.get("source_sha256") or _backup_sha(Path(a["source"]))


def apply_actions(
    run: Run,
    actions: list[JournalAction],
    *,
    base: Mapping[str, tuple[bytes, JsonObj, bool]] | None = None,
    lock_timeout_s: float = 10.0,
) -> dict[str, int]:
    """Apply journaled actions: store edits grouped per store (one critical section
    each), then file operations in order. Returns {"lock_held_ms": max}. `base` maps a
    store (relative path) to its bytes, parsed data (consumed) and canonical flag as planned, which
    lets the edit be prepared before the lock (see apply_store_actions)."""
    by_store: dict[str, list[JournalAction]] = defaultdict(list)
    for a in actions:
        if a["type"].startswith("store.") and a["type"] != "store.replace":
            by_store[a["store"]].append(a)
    held_max = 0
    for store_rel, acts in by_store.items():
        # entries kept in a backup (undo) are read for this store only, and dropped after
        filled = resolve_entries(run, acts)
        held_max = max(
            held_max,
            apply_store_actions(
                run,
                run.state_dir / store_rel,
                acts,
                base=(base or {}).get(store_rel),
                lock_timeout_s=lock_timeout_s,
            ),
        )
        for a in filled:
            if "entry_in" in a:  # the journal finds it in the backup; nothing else reads it
                a.pop("entry", None)
        del filled

    i = 0
    while i < len(actions):
        a = actions[i]
        t = a["type"]
        spec = ACTION_TYPES.get(t)
        if spec is not None and spec.batch is not None:
            j = i + 1
            while j < len(actions) and actions[j]["type"] == t:
                j += 1
            spec.batch(run, actions[i:j])
            i = j
            continue
        i += 1
        rel = a.get("path") or a.get("from") or a.get("store")
        run.at(f"{t} {rel or ''}".rstrip(), run.state_dir / rel if isinstance(rel, str) else None)
        if spec is None or spec.apply is None:
            continue  # applied in batches above (store edits) or elsewhere (the SQLite era's)
        held_max = max(held_max, spec.apply(run, a, lock_timeout_s) or 0)
    return {"lock_held_ms": held_max}


def apply_copy_in(run: Run, a: JournalAction) -> None:
    dst = run.state_dir / a["path"]
    if lexists_in(dst):
        skip(a, "a file exists there again (not overwritten)")
        return
    makedirs(dst.parent)
    src = Path(a["source"])
    # temp + link: a kill mid-copy never leaves a truncated file at the live path;
    # the file gets its own mode again (recorded when it was moved, else the copy's)
    _write_new(dst, lambda fd: _copy_to_fd(src, fd), mode=_copy_mode(a, src))
    a["state"] = "applied"


def apply_restore(run: Run, a: JournalAction, lock_timeout_s: float) -> int:
    """A whole file put back from a backup; a store under its lock. Returns ms the lock
    was held."""
    path = run.state_dir / a["path"]
    if a.get("source") is None:
        skip(a, "no backup to restore from")
        return 0
    bad = _bad_restore_source(a)
    if isinstance(bad, str):
        skip(a, bad)
        return 0
    data = bad
    expected = a.get("before_sha256")
    if a.get("kind") == "store":
        with store_lock(path, timeout_s=lock_timeout_s) as held:
            fault_point("store.locked")
            if expected is not None and sha256_file(path) != expected:
                skip(a, "the store changed since planning")
            else:
                atomic_write(path, data, mode=0o600, tmp_name=store_tmp_name(path))
                a["state"] = "applied"
            return held.held_ms()
    if expected is not None and sha256_file(path) != expected:
        skip(a, "file changed since planning")
        return 0
    apply_rewrite_new(path, data)
    a["state"] = "applied"
    return 0


def _apply_conflict(run: Run, a: JournalAction) -> None:
    a["state"] = "skipped"  # not an action: its note says why it is not undone


def _bad_restore_source(a: JournalAction) -> bytes | str:
    """The bytes of a file.restore's backup, or why they must not be written: unreadable,
    not the content the journal recorded for that backup, or (a store) not a store
    OpenClaw can load — it would read it as {} and overwrite it. Nothing is changed."""

    src = Path(a["source"])
    try:
        data = read_backup(src)
    except OSError as exc:
        return f"cannot read the backup {src} ({exc.strerror or exc}); nothing was changed"
    want = a.get("source_sha256")
    if want is not None and sha256_bytes(data) != want:
        return f"the backup {src} does not match the checksum its run recorded; nothing was changed"
    if a.get("kind") == "store" and not a.get("source_may_not_parse"):
        _status, parsed, err = parse_store_bytes(data)
        if parsed is None:
            return f"the backup {src} is not a readable store ({err}); nothing was changed"
    return data


def apply_rewrite_new(path: Path, data: bytes) -> None:

    mode = 0o600
    with contextlib.suppress(FileNotFoundError):
        mode = lstat_in(path).st_mode & 0o777
    atomic_write(path, data, mode=mode)


def _copy_mode(a: JournalAction, src: Path) -> int:
    """The mode a file copied back gets: the one recorded when it was moved into the run
    (or backed up), else the mode of the run's copy itself (a rename into the run kept
    it), at most 0o777 — and never group- or world-writable beyond what it was."""
    mode = a.get("mode")
    if isinstance(mode, int) and not isinstance(mode, bool) and 0 <= mode <= 0o7777:
        return mode & 0o777
    try:
        return os.lstat(src).st_mode & 0o777
    except OSError:
        return 0o600


# ---------------------------------------------------------------- repair / archive types


def _backup_verified(run: Run, rel: str, expected: str | None, what: str) -> str | None:
    """Back up a file that is about to be replaced and check the copy is exactly the
    content the plan was made from (else nothing has changed yet: refuse)."""

    out = run.backup_file(run.state_dir / rel, kind="store" if what == "store.replace" else "file")
    rec = next((b for b in run.backups if b["backup"] == out), None)
    if out is None or (expected is not None and (rec is None or rec["sha256"] != expected)):
        raise BusyError(
            f"{rel} changed while sessionctl was preparing the run; nothing was changed",
            path=rel,
            hint="run the command again",
        )
    return out


def rewrite_edit(data: bytes, edit: JsonObj) -> bytes:
    """Apply a line edit to JSONL bytes: drop the 1-based `drop_lines` (complete lines
    only), then fix the unterminated tail: `cut` drops it, `newline` terminates it."""
    drop = {int(n) for n in edit.get("drop_lines") or []}
    tail = edit.get("tail")
    last_nl = data.rfind(b"\n")
    body, partial = data[: last_nl + 1], data[last_nl + 1 :]
    if drop:
        lines = body.split(b"\n")[:-1]
        body = b"".join(line + b"\n" for i, line in enumerate(lines, 1) if i not in drop)
    if partial and tail == "newline":
        partial += b"\n"
    elif tail == "cut":
        partial = b""
    return body + partial


def _backup_sha(path: Path) -> str | None:
    """sha256 of a backup's content (decompressed when it was stored compressed)."""

    if not str(path).endswith(BACKUP_SUFFIX):
        return sha256_file(path)
    try:
        return sha256_bytes(read_backup(path))
    except OSError:
        return None


def apply_store_replace(run: Run, a: JournalAction) -> int:
    """The dedicated critical section of a store repair: the damaged store cannot be
    re-read as JSON, so under sessions.json.lock we check it is still byte-identical to
    what was planned on, then atomically replace it. Returns ms the lock was held."""

    path = run.state_dir / a["store"]
    new = read_bytes(run.dir / a["source"])
    status, data, _err = parse_store_bytes(new)
    if status != "ok" or not data or sha256_bytes(new) != a.get("after_sha256"):
        skip(a, "the replacement is not a non-empty store (never written)")
        return 0
    with locked_store(path) as (held, cur):
        if cur is None or sha256_bytes(cur) != a.get("before_sha256"):
            skip(a, "the store changed since planning (not replaced)")
            return held.held_ms()
        atomic_write(path, new, mode=0o600, tmp_name=store_tmp_name(path))
        a["state"] = "applied"
        return held.held_ms()


def apply_file_rewrite(run: Run, a: JournalAction) -> None:
    """Rewrite a transcript under its own lock (gateway protocol, 30 min staleness),
    only while it is still the content the plan was made from."""

    path = run.state_dir / a["path"]
    try:
        held = acquire(path, stale_ms=TRANSCRIPT_LOCK_STALE_MS, timeout_s=float(a.get("lock_timeout_s", 10)))
    except BusyError as exc:
        skip(a, exc.message)
        return
    try:
        try:
            cur = read_bytes(path)
        except FileNotFoundError:
            skip(a, "file no longer exists")
            return
        if sha256_bytes(cur) != a.get("before_sha256"):
            skip(a, "file changed since planning")
            return
        new = rewrite_edit(cur, a.get("edit") or {})
        if (cur and not new) or sha256_bytes(new) != a.get("after_sha256"):
            skip(a, "the edit would not give the planned content (not written)")
            return
        mode = os.lstat(path).st_mode & 0o777
        fault_point("rewrite.write")
        atomic_write(path, new, mode=mode)
        a["state"] = "applied"
    finally:
        held.release()


def compression_module(kind: str | None) -> ModuleType | None:
    """The module for `--compress` (gzip: stdlib; zstd: the optional `zstandard`)."""

    if kind in (None, "none"):
        return None
    if kind == "gzip":
        import gzip

        return gzip
    if kind == "zstd":
        try:
            import zstandard  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            raise UsageError(
                "--compress zstd needs the Python module `zstandard`, which is not installed",
                hint="install it (pip install zstandard) or use --compress gzip",
            ) from None
        return zstandard
    raise UsageError(f"unknown compression {kind!r}: use gzip or zstd")


def _stream_out(src: Path, dst_fd: int, kind: str | None) -> str:
    """Copy src into an open fd, compressed as asked. Returns sha256 of the source."""

    h = hashlib.sha256()
    mod = compression_module(kind)
    with open_regular(src) as rfd, os.fdopen(os.dup(dst_fd), "wb") as raw_out:
        out: _Sink
        if mod is None:
            out = raw_out
        elif kind == "gzip":
            out = mod.GzipFile(fileobj=raw_out, mode="wb", mtime=0)
        else:  # zstd
            out = mod.ZstdCompressor().stream_writer(raw_out, closefd=False)
        while chunk := os.read(rfd, 1 << 20):
            h.update(chunk)
            out.write(chunk)
        if out is not raw_out:
            out.close()
        raw_out.flush()
    return h.hexdigest()


class _Sink(Protocol):
    """A file written by _stream_out (plain, gzip or zstd)."""

    def write(self, data: bytes, /) -> object: ...
    def close(self) -> None: ...


class _Source(Protocol):
    """A file read by _open_decompressed's callers (plain, gzip or zstd)."""

    def read(self, size: int = -1, /) -> bytes: ...


def _open_decompressed(f: BinaryIO, kind: str | None) -> _Source:
    mod = compression_module(kind)
    if mod is None:
        return f
    if kind == "gzip":
        return cast(_Source, mod.GzipFile(fileobj=f, mode="rb"))
    return cast(_Source, mod.ZstdDecompressor().stream_reader(f))


def _stream_sha(path: Path, kind: str | None) -> str:
    """sha256 of a (possibly compressed) file's decompressed content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        inp = _open_decompressed(f, kind)
        while chunk := inp.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _write_new(dst: Path, fill: Callable[[int], object], *, mode: int = 0o600) -> None:
    """Create dst without clobbering: temp in the same folder, fill(fd), fsync, link —
    all through the folder's fd (never through a symlinked folder)."""
    import uuid

    tmp = f".{dst.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    with in_dir(dst.parent) as d:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=d)
        try:
            try:
                fill(fd)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, dst.name, src_dir_fd=d, dst_dir_fd=d, follow_symlinks=False)  # never clobbers
            os.fsync(d)
        except OSError as exc:
            raise named(exc, dst) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=d)


def _copy_to_fd(src: Path, fd: int) -> None:
    """Copy a regular file (no symlink, no FIFO) into an open fd."""

    with open_regular(src) as rfd:
        while chunk := os.read(rfd, 1 << 20):
            fault_point("copy.write")
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]


def apply_export(run: Run, a: JournalAction) -> None:
    """Copy a file out of the sessions folders (optionally compressed), fsync, verify
    the copy decompresses to the planned content, then remove the original."""

    src = run.state_dir / a["from"]
    dst = Path(a["to"])
    if not lexists_in(src):
        skip(a, "file no longer exists")
        return
    makedirs(dst.parent)
    if lexists_in(dst):
        skip(a, f"{dst} already exists (not overwritten)")
        return
    before = lstat_in(src)
    got: list[str] = []
    _write_new(dst, lambda fd: got.append(_stream_out(src, fd, a.get("compress"))))
    if got[0] != a.get("sha256") or _stream_sha(dst, a.get("compress")) != a.get("sha256"):
        unlink(dst)
        skip(a, "file changed since planning, or the copy did not verify (kept)")
        return
    fault_point("export.unlink")
    # untouched since before the copy read it (same inode, size, mtime): no second read
    if _identity(lstat_in(src)) != _identity(before) and sha256_file(src) != a.get("sha256"):
        unlink(dst)
        skip(a, "file changed while it was copied (kept)")
        return
    unlink(src)
    a["state"] = "applied"


def apply_import(run: Run, a: JournalAction) -> None:
    """Bring an exported file back: decompress to its old path (if still absent), verify."""

    dst = run.state_dir / a["path"]
    src = Path(a["source"])
    if lexists_in(dst):
        skip(a, "a file exists there again (not overwritten)")
        return
    if not src.exists():
        skip(a, f"the exported copy {src} is gone")
        return
    kind = a.get("compress")

    def fill(fd: int) -> None:
        with open(src, "rb") as f, os.fdopen(os.dup(fd), "wb") as out:
            inp = _open_decompressed(f, kind)
            while chunk := inp.read(1 << 20):
                out.write(chunk)

    makedirs(dst.parent)
    _write_new(dst, fill)
    if a.get("sha256") and sha256_file(dst) != a["sha256"]:
        a["note"] = "restored, but its content differs from the journal's checksum"
    a["state"] = "applied"


# ---------------------------------------------------------------- the registry

ApplyFn = Callable[[Run, JournalAction, float], int | None]  # → ms a store lock was held
UndoFn = Callable[[JournalAction, str | None, _UndoContext], list[JournalAction]]
BatchFn = Callable[[Run, list[JournalAction]], None]
# what `prepare` backs up before the journal: the whole store (once per store), the file
# as planned (checksum verified), the file a restore overwrites; None: nothing
BackupRule = Literal["store", "verified", "overwritten"] | None


@dataclass(frozen=True)
class ActionType:
    """One action type: its journal payload, how it is applied (None: in a batch — the
    store edits, one critical section per store — or by another module: the SQLite era's
    changes), how an applied one is undone (the reverse actions, or a conflict), and
    what is backed up for it before the journal is committed."""

    payload: type
    apply: ApplyFn | None
    undo: UndoFn
    backup: BackupRule = None
    # applies a run of consecutive actions of this type at once (instead of `apply`)
    batch: BatchFn | None = None


def _no_lock(fn: Callable[[Run, JournalAction], None]) -> ApplyFn:
    def apply(run: Run, a: JournalAction, lock_timeout_s: float) -> int:
        fn(run, a)
        return 0

    return apply


def _store_replace(run: Run, a: JournalAction, lock_timeout_s: float) -> int:
    return apply_store_replace(run, a)


ACTION_TYPES: dict[str, ActionType] = {
    "store.remove": ActionType(at.StoreRemove, None, _undo_store_entry, "store"),
    "store.insert": ActionType(at.StoreInsert, None, _undo_store_entry, "store"),
    "store.set": ActionType(at.StoreSet, None, _undo_store_set, "store"),
    "store.replace": ActionType(at.StoreReplace, _store_replace, _undo_from_backup, "verified"),
    "file.rename": ActionType(at.FileRename, None, _undo_rename, batch=apply_renames),
    "file.move": ActionType(at.FileMove, _no_lock(apply_move), _undo_move),
    "file.rewrite": ActionType(at.FileRewrite, _no_lock(apply_file_rewrite), _undo_from_backup, "verified"),
    "file.copy_in": ActionType(at.FileCopyIn, _no_lock(apply_copy_in), _undo_copy_in),
    "file.export": ActionType(at.FileExport, _no_lock(apply_export), _undo_export),
    "file.import": ActionType(at.FileImport, _no_lock(apply_import), _undo_nothing),
    "file.delete": ActionType(at.FileDelete, _no_lock(apply_delete), _undo_delete),
    "file.restore": ActionType(at.FileRestore, apply_restore, _undo_from_backup, "overwritten"),
    "conflict": ActionType(at.Conflict, _no_lock(_apply_conflict), _undo_nothing),
    # the SQLite era: applied by `openclaw` (sqlite/gc.py) or a whole-database restore
    # (sqlite/backup.py), undone from their journal entries there
    "sqlite.delete": ActionType(at.SqliteAction, None, _undo_sqlite_change),
    "sqlite.archive": ActionType(at.SqliteAction, None, _undo_sqlite_change),
    "sqlite.unarchive": ActionType(at.SqliteAction, None, _undo_sqlite_unarchive),
    "sqlite.restore": ActionType(at.SqliteAction, None, _undo_sqlite_restore),
}
