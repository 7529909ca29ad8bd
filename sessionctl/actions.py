"""The journaled actions every mutating command is made of, how each is applied,
and how each is undone.

Action types (all paths relative to the state dir; `backup`/`moved` paths relative to
the run folder):

| type | fields | applied as | undone as (only when the state shows it applied) |
|---|---|---|---|
| store.remove | agent, store, key, entry | entry deleted under sessions.json.lock, if still identical | entry re-inserted if the key is absent |
| store.insert | agent, store, key, entry | entry added if the key is absent | entry removed if still identical |
| store.set | agent, store, key, before, after | entry replaced if still `before` | `before` put back if still `after` |
| store.replace | store, backup, after_sha256 | whole store replaced (repair) | backup restored if the store is still `after` |
| file.rename | from, to | durable rename (archive, quarantine) | renamed back if `to` exists and `from` does not |
| file.move | from, moved | moved into the run folder | copied back if `from` does not exist |
| file.rewrite | path, backup, after_sha256 | atomic rewrite (tail cut, bad lines) | backup restored if the file is still `after` |
| file.copy_in | path, source | file copied from another run's folder | moved into this run's folder if unchanged |
| file.delete | path, bytes | unlinked (only with an explicit no-backup flag) | cannot be undone: reported as a conflict |
| file.restore | path, source, before_sha256? | whole file put back from a backup (store under its lock) | the overwritten file's backup restored if still `after` |

`conflict` entries (type, path, note) are produced by `plan_undo` for actions whose
current state does not allow a safe reversal; they are journaled as skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from sessionctl.errors import DataError
from sessionctl.fsio import (
    atomic_write,
    copy_durable,
    durable_rename,
    fault_point,
    fsync_dir,
    read_bytes,
    store_tmp_name,
)
from sessionctl.locks import store_lock
from sessionctl.runs import Run, _mkdirs, edit_store, entries_equal, read_run, restore_order


def sha256_file(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def apply_store_actions(run: Run, store_path: Path, actions: list[dict[str, Any]]) -> int:
    """Apply the store.* actions of one store in a single critical section. Each is
    re-validated against the store as re-read under the lock: an entry changed since
    planning is skipped, never overwritten. Returns ms the lock was held."""
    original_order: list[str] = []

    def edit(data: dict[str, Any]) -> dict[str, Any] | None:
        changed = False
        original_order.extend(data.keys())
        restored: dict[str, Any] = {}
        for a in actions:
            key = a["key"]
            t = a["type"]
            cur = data.get(key, _MISSING)
            if t == "store.remove":
                if cur is not _MISSING and entries_equal(cur, a["entry"]):
                    del data[key]
                    a["state"], changed = "applied", True
                else:
                    a["state"], a["note"] = "skipped", "entry changed or removed since planning"
            elif t == "store.insert":
                if cur is _MISSING:
                    restored[key] = a["entry"]
                    a["state"], changed = "applied", True
                else:
                    a["state"], a["note"] = "skipped", "key exists again (not overwritten)"
            elif t == "store.set":
                before = a.get("before", _MISSING_JSON)
                if (cur is _MISSING and before is None) or (
                    cur is not _MISSING and entries_equal(cur, before)
                ):
                    if a.get("after") is None:
                        data.pop(key, None)
                    else:
                        data[key] = a["after"]
                    a["state"], changed = "applied", True
                else:
                    a["state"], a["note"] = "skipped", "entry changed since planning"
        if restored:
            data = restore_order(data, restored, a_order(actions, original_order))
        return data if changed else None

    _new, held = edit_store(store_path, edit)
    return held


_MISSING: Any = object()
_MISSING_JSON: Any = object()


def a_order(actions: list[dict[str, Any]], current_order: list[str]) -> list[str]:
    """The pre-run key order when an action carries it, else the current order."""
    for a in actions:
        if a.get("order"):
            return list(a["order"])
    return current_order


def apply_rename(run: Run, action: dict[str, Any]) -> None:
    src = run.state_dir / action["from"]
    dst = run.state_dir / action["to"]
    if not os.path.lexists(src):
        action["state"], action["note"] = "skipped", "source no longer exists"
        return
    _mkdirs(dst.parent)
    durable_rename(src, dst)
    action["state"] = "applied"


def apply_move(run: Run, action: dict[str, Any]) -> None:
    src = run.state_dir / action["from"]
    if not os.path.lexists(src):
        action["state"], action["note"] = "skipped", "file no longer exists"
        return
    expected = action.get("before_sha256")
    if expected is not None and sha256_file(src) != expected:
        action["state"], action["note"] = "skipped", "file changed since planning"
        return
    run.move_into_run(src, action)


def apply_delete(run: Run, action: dict[str, Any]) -> None:
    """Unlink a file without a backup. Only for explicit no-backup requests
    (gc --no-archive-backup); journaled, and skipped when the file changed size."""
    path = run.state_dir / action["path"]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        action["state"], action["note"] = "skipped", "file no longer exists"
        return
    if action.get("bytes") is not None and st.st_size != action["bytes"]:
        action["state"], action["note"] = "skipped", "file changed since planning"
        return
    os.unlink(path)
    fsync_dir(path.parent)
    action["state"] = "applied"


def apply_rewrite(run: Run, action: dict[str, Any], data: bytes) -> None:
    """Atomically rewrite a file whose backup is already in the run (mode kept)."""
    path = run.state_dir / action["path"]
    expected = action.get("before_sha256")
    if expected is not None and sha256_file(path) != expected:
        action["state"], action["note"] = "skipped", "file changed since planning"
        return
    mode = os.lstat(path).st_mode & 0o777
    atomic_write(path, data, mode=mode)
    action["state"] = "applied"


# ---------------------------------------------------------------- undo


def plan_undo(run: Run, target_run_id: str, backup_dir: str | None = None) -> list[dict[str, Any]]:
    """Turn the applied actions of `target_run_id` into this run's reverse actions,
    newest first. Actions of an interrupted run are all considered (state-checked)."""
    return plan_undo_at(run.state_dir, target_run_id, backup_dir)


def plan_undo_at(state_dir: Path, target_run_id: str, backup_dir: str | None = None) -> list[dict[str, Any]]:
    """plan_undo without a run (for dry runs): the reverse actions of `target_run_id`."""
    info = read_run(state_dir, target_run_id, backup_dir)
    if info.journal is None:
        raise DataError(f"run {target_run_id} has no journal: nothing to undo", hint="see `sessionctl runs`")
    results = {r["id"]: r["state"] for r in (info.status or {}).get("results", [])}
    interrupted = info.status is None
    out: list[dict[str, Any]] = []
    order_by_store: dict[str, list[str]] = {}
    for b in info.journal.get("backups", []):
        if b.get("kind") == "store":
            with contextlib.suppress(OSError, ValueError):
                order_by_store[b["path"]] = list(_store_keys(info.dir / b["backup"]))
    sd = state_dir
    for a in reversed(info.journal.get("actions", [])):
        if not interrupted and results.get(a.get("id")) != "applied":
            continue
        t = a.get("type")
        if t == "store.remove":
            out.append(
                {
                    "type": "store.insert",
                    "agent": a.get("agent"),
                    "store": a["store"],
                    "key": a["key"],
                    "entry": a["entry"],
                    "order": order_by_store.get(a["store"]),
                }
            )
        elif t == "store.insert":
            out.append(
                {
                    "type": "store.remove",
                    "agent": a.get("agent"),
                    "store": a["store"],
                    "key": a["key"],
                    "entry": a["entry"],
                }
            )
        elif t == "store.set":
            out.append(
                {
                    "type": "store.set",
                    "agent": a.get("agent"),
                    "store": a["store"],
                    "key": a["key"],
                    "before": a.get("after"),
                    "after": a.get("before"),
                }
            )
        elif t == "file.rename":
            if os.path.lexists(sd / a["to"]) and not os.path.lexists(sd / a["from"]):
                out.append({"type": "file.rename", "agent": a.get("agent"), "from": a["to"], "to": a["from"]})
            else:
                why = (
                    "a file exists at the original name again"
                    if os.path.lexists(sd / a["from"])
                    else "the renamed file no longer exists"
                )
                out.append({"type": "conflict", "path": a["from"], "note": f"not renamed back: {why}"})
        elif t == "file.move":
            src = info.dir / a.get("moved", "moved/" + a["from"])
            if src.exists() and not os.path.lexists(sd / a["from"]):
                out.append(
                    {"type": "file.copy_in", "agent": a.get("agent"), "path": a["from"], "source": str(src)}
                )
            else:
                why = "a file exists there again" if os.path.lexists(sd / a["from"]) else "its copy is gone"
                out.append({"type": "conflict", "path": a["from"], "note": f"not copied back: {why}"})
        elif t == "file.copy_in":
            path = sd / a["path"]
            src_sha = sha256_file(Path(a["source"]))
            if src_sha is not None and sha256_file(path) == src_sha:
                out.append({"type": "file.move", "from": a["path"], "before_sha256": src_sha})
            else:
                out.append(
                    {"type": "conflict", "path": a["path"], "note": "changed since it was copied back"}
                )
        elif t == "file.delete":
            out.append(
                {
                    "type": "conflict",
                    "path": a["path"],
                    "note": "was deleted without a backup; cannot be restored",
                }
            )
        elif t in ("file.rewrite", "store.replace", "file.restore"):
            path = sd / (a["store"] if t == "store.replace" else a["path"])
            if sha256_file(path) == a.get("after_sha256") or (
                a.get("after_sha256") is None and not os.path.lexists(path)
            ):
                out.append(
                    {
                        "type": "file.restore",
                        "path": a["store"] if t == "store.replace" else a["path"],
                        "source": str(info.dir / a["backup"]) if a.get("backup") else None,
                        "before_sha256": a.get("after_sha256"),
                    }
                )
            else:
                out.append(
                    {
                        "type": "conflict",
                        "path": a.get("path") or a.get("store"),
                        "note": "changed since the run; its backup stays in the run folder",
                        "source": str(info.dir / a["backup"]) if a.get("backup") else None,
                    }
                )
    return out


def _store_keys(path: Path) -> list[str]:
    import orjson

    data = orjson.loads(read_bytes(path))
    return list(data) if isinstance(data, dict) else []


def prepare(run: Run, actions: list[dict[str, Any]]) -> None:
    """Back up everything the actions will change (before the journal is committed):
    each touched store, and each file a restore will overwrite. Records `backup` and
    `after_sha256` on restore actions so the undo of an undo works too."""
    for a in actions:
        t = a["type"]
        if t.startswith("store.") and t != "store.replace":
            run.backup_file(run.state_dir / a["store"], kind="store")
        elif t == "file.restore" and a.get("source"):
            path = run.state_dir / a["path"]
            if os.path.lexists(path):
                a["backup"] = run.backup_file(path, kind="store" if path.name == "sessions.json" else "file")
            a["after_sha256"] = sha256_file(Path(a["source"]))


def apply_actions(run: Run, actions: list[dict[str, Any]]) -> dict[str, int]:
    """Apply journaled actions: store edits grouped per store (one critical section
    each), then file operations in order. Returns {"lock_held_ms": max}."""
    by_store: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in actions:
        if a["type"].startswith("store.") and a["type"] != "store.replace":
            by_store[a["store"]].append(a)
    held_max = 0
    for store_rel, acts in by_store.items():
        held_max = max(held_max, apply_store_actions(run, run.state_dir / store_rel, acts))
    for a in actions:
        t = a["type"]
        if t == "file.rename":
            apply_rename(run, a)
        elif t == "file.move":
            apply_move(run, a)
        elif t == "file.copy_in":
            dst = run.state_dir / a["path"]
            if os.path.lexists(dst):
                a["state"], a["note"] = "skipped", "a file exists there again (not overwritten)"
                continue
            _mkdirs(dst.parent)
            copy_durable(Path(a["source"]), dst)
            fsync_dir(dst.parent)
            a["state"] = "applied"
        elif t == "file.restore":
            path = run.state_dir / a["path"]
            if a.get("source") is None:
                a["state"], a["note"] = "skipped", "no backup to restore from"
                continue
            data = read_bytes(Path(a["source"]))
            expected = a.get("before_sha256")
            if path.name == "sessions.json":
                with store_lock(path) as held:
                    fault_point("store.locked")
                    if expected is not None and sha256_file(path) != expected:
                        a["state"], a["note"] = "skipped", "the store changed since planning"
                    else:
                        atomic_write(path, data, mode=0o600, tmp_name=store_tmp_name(path))
                        a["state"] = "applied"
                    held_max = max(held_max, held.held_ms())
                continue
            if expected is not None and sha256_file(path) != expected:
                a["state"], a["note"] = "skipped", "file changed since planning"
                continue
            apply_rewrite_new(path, data)
            a["state"] = "applied"
        elif t == "file.delete":
            apply_delete(run, a)
        elif t == "conflict":
            a["state"] = "skipped"
    return {"lock_held_ms": held_max}


def apply_rewrite_new(path: Path, data: bytes) -> None:
    mode = 0o600
    with contextlib.suppress(FileNotFoundError):
        mode = os.lstat(path).st_mode & 0o777
    atomic_write(path, data, mode=mode)
