"""Putting a run's changes back: `undo` (reverse a run's applied actions, itself a
journaled run) and `restore` (put whole stores back from a run's backup); the backup
command's core is backup.py.

Every mutation follows the same discipline as gc (docs/runs.md): sessionctl's private
lock, refusal under a gateway no lock can exclude, a run folder with backups and a
journal written before the first change, store writes under sessions.json.lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

from sessionctl.action_types import JournalAction
from sessionctl.actions import (
    apply_actions,
    attach_entry_sources,
    drop_entry_sources,
    plan_undo_full,
    prepare,
)
from sessionctl.context import RunContext
from sessionctl.errors import DataError
from sessionctl.execute import (
    RunArgs,
    RunOptions,
    RunOutcome,
    RunSteps,
    exclusive,
    run_journaled,
    touched_stores,
)
from sessionctl.fsio import sha256_bytes, sha256_file, unlink
from sessionctl.gateway import refuse_if_gateway_running
from sessionctl.jsonjs import JsonObj
from sessionctl.locks import (
    STORE_LOCK_STALE_MS,
    TRANSCRIPT_LOCK_STALE_MS,
    inspect_lock,
    lock_path_for,
    pid_alive,
    remove_if_unchanged,
)
from sessionctl.runs import (
    Run,
    entries_equal,
    read_backup,
    read_run,
    runs_root,
    validate_journal,
)
from sessionctl.sqlite.backup import (
    apply_restores,
    plan_restores,
    prepare_restores,
    refuse_unless_stopped,
)
from sessionctl.sqlite.gc import apply_unarchive
from sessionctl.store import load_store, parse_store_bytes

# ---------------------------------------------------------------- undo


@dataclass(kw_only=True)
class ReversalOutcome(RunOutcome):
    """undo's and restore's outcome: the run they act on (`target`)."""

    target: str


def undo_run(
    ctx: RunContext,
    target: str,
    *,
    openclaw: str | None = None,
    **opts: Unpack[RunArgs],
) -> ReversalOutcome:
    """Reverse the applied actions of run `target`, newest first, each only when the
    current state shows it applied and reversing cannot clobber something newer."""

    o = RunOptions(**opts)
    out = ReversalOutcome(command="undo", dry_run=o.dry_run, target=target)
    if o.dry_run:
        out.actions = plan_undo_full(ctx.state_dir, target, o.backup_dir)[0]
        drop_entry_sources(out.actions)
        for a in out.actions:
            a["state"] = "skipped" if a["type"] == "conflict" else "planned"
        return out

    with exclusive(ctx, lock_timeout_s=o.lock_timeout_s):
        # a SQLite-era gateway never touches a sessions.json (and unarchiving needs it running)
        refuse_if_gateway_running(ctx.state_dir, force_online=o.force_online, allow_sqlite_era=True)
        ctx.tick(f"reading run {target}", 0, 3)
        # planned once: the journal and the backups it refers to are read once
        planned, orders = plan_undo_full(ctx.state_dir, target, o.backup_dir)
        if any(a["type"] == "sqlite.restore" for a in planned):
            refuse_unless_stopped(ctx)
        if not planned:
            out.logs.append(("info", f"run {target}: nothing to undo"))
            for left in clean_stale_run_locks(ctx, target, o.backup_dir):
                out.logs.append(("info", f"removed {left}: left behind by the interrupted run {target}"))
            return out

        def record(run: Run) -> None:
            run.orders.update(orders)
            for a in planned:
                a["undoes"] = target
                run.add(a)
            attach_entry_sources(run, planned, target)
            out.actions = run.actions
            ctx.tick(f"backing up for {len(planned)} action(s)", 1, 3)
            prepare(run, planned)
            prepare_restores(run, planned)

        def apply(run: Run) -> None:
            ctx.tick(f"undoing {len(planned)} action(s)", 2, 3)
            out.lock_held_ms = apply_actions(run, planned, lock_timeout_s=o.lock_timeout_s)["lock_held_ms"]
            apply_unarchive(ctx, planned, openclaw)
            apply_restores(run, planned)
            out.backups = list(run.backups)

        _run_reversal(ctx, "undo", planned, out, record, apply, o)
        for lock in clean_stale_run_locks(ctx, target, o.backup_dir):
            out.logs.append(("info", f"removed {lock}: left behind by the interrupted run {target}"))
    return out


def _run_reversal(
    ctx: RunContext,
    command: str,
    planned: list[JournalAction],
    out: ReversalOutcome,
    record: Callable[[Run], None],
    apply: Callable[[Run], None],
    o: RunOptions,
) -> None:
    """undo and restore: `planned` as one journaled run of `command` over the stores it
    touches, with the fault point `<command>.before_apply`; `out` names the run as soon
    as it exists."""
    run_journaled(
        ctx,
        command,
        RunSteps(record, apply, lambda run: _counts(planned), before_apply=f"{command}.before_apply"),
        stores=touched_stores(ctx.state_dir, planned),
        lock_timeout_s=o.lock_timeout_s,
        backup_dir=o.backup_dir,
        argv=o.argv,
        started=out.started,
    )


def clean_stale_run_locks(ctx: RunContext, target: str, backup_dir: str | None) -> list[str]:
    """What an interrupted run (killed mid-way) left behind in the live folders: its
    transcript and store locks, removed only when provably stale by the gateway's rules
    AND still carrying that run's pid; its store temp files
    (`sessions.json.<pid>.<uuid>.tmp`, a prepared edit never renamed into place), only
    while that pid is not running. Session data is never touched."""
    import re

    info = read_run(ctx.state_dir, target, backup_dir)
    journal = info.journal or {}
    pid = journal.get("pid")
    if info.status is not None or not isinstance(pid, int) or isinstance(pid, bool):
        return []
    validate_journal(info, ctx.state_dir, runs_root(ctx.state_dir, backup_dir))
    removed: list[str] = []
    seen: set[str] = set()
    stores: set[str] = set()
    for a in journal.get("actions", []):
        if isinstance(a.get("store"), str):
            stores.add(a["store"])
        # the transcript lock the action took: gc's archives name it; a rewrite (repair)
        # and a quarantine take the lock of the file itself
        rel = a.get("lock")
        if rel is None and a.get("type") == "file.rewrite" and a.get("offline"):
            rel = a.get("path")
        if not isinstance(rel, str) or rel in seen:
            continue
        seen.add(rel)
        path = lock_path_for(ctx.state_dir / rel)
        st = inspect_lock(path, stale_ms=TRANSCRIPT_LOCK_STALE_MS)
        if st.exists and st.stale and st.pid == pid and remove_if_unchanged(st):
            removed.append(str(path.relative_to(ctx.state_dir)))
    dead = pid_alive(pid) is False
    tmp_name = re.compile(rf"^sessions\.json\.{pid}\.[0-9a-fA-F-]{{36}}\.tmp$")
    for rel in sorted(stores):
        store = ctx.state_dir / rel
        lock = lock_path_for(store)
        st = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
        if st.exists and st.stale and st.pid == pid and remove_if_unchanged(st):
            removed.append(str(lock.relative_to(ctx.state_dir)))
        if not dead:
            continue
        try:
            names = os.listdir(store.parent)
        except OSError:
            continue
        for name in names:
            if tmp_name.match(name):
                with contextlib.suppress(FileNotFoundError):
                    unlink(store.parent / name, durable=False)
                    removed.append(str((store.parent / name).relative_to(ctx.state_dir)))
    return removed


def _counts(actions: list[JournalAction]) -> JsonObj:
    from collections import Counter

    return {"actions": len(actions), "by_state": dict(Counter(str(a.get("state")) for a in actions))}


# ---------------------------------------------------------------- restore


def _store_diff(current: JsonObj | None, restored: JsonObj) -> dict[str, int]:

    cur = current or {}
    return {
        "entries_now": len(cur),
        "entries_after": len(restored),
        "come_back": sum(1 for k in restored if k not in cur),
        "go_away": sum(1 for k in cur if k not in restored),
        "change": sum(1 for k, v in restored.items() if k in cur and not entries_equal(cur[k], v)),
    }


def plan_restore(ctx: RunContext, target: str, backup_dir: str | None) -> list[JournalAction]:
    """file.restore actions for the stores backed up by run `target` (narrowed to the
    selected agents), plus file.copy_in for prompt blobs that are missing now.
    Refuses (DataError, exit 65) a backup that does not parse or whose checksum differs."""

    info = read_run(ctx.state_dir, target, backup_dir)
    if info.journal is None:
        raise DataError(f"run {target} has no journal: nothing to restore from", hint="see `sessionctl runs`")
    validate_journal(info, ctx.state_dir, runs_root(ctx.state_dir, backup_dir))

    sqlite_restores = plan_restores(ctx, info, target)
    stores = {str(st.store_path.relative_to(ctx.state_dir)): st for st in ctx.discovery.stores}
    actions: list[JournalAction] = []
    chosen_dirs: list[str] = []
    for b in info.journal.get("backups", []):
        if b.get("kind") != "store":
            continue
        st = stores.get(b["path"])
        if st is None:
            continue  # an agent not selected (--agent) or no longer discovered
        if not st.mutable:
            raise DataError(
                f"agent {st.agent_id}: its sessions live in SQLite now; sessionctl will not restore a legacy store",
                path=str(st.store_path),
            )
        src = info.dir / b["backup"]
        try:
            raw = read_backup(src)
        except OSError as exc:
            raise DataError(
                f"run {target}: cannot read the backup {src}: {exc.strerror or exc}", path=str(src)
            ) from None
        if b.get("sha256") and sha256_bytes(raw) != b["sha256"]:
            raise DataError(
                f"run {target}: the backup {src} does not match its recorded checksum; refusing to restore it",
                path=str(src),
            )
        _status, data, error = parse_store_bytes(raw)
        if data is None:
            raise DataError(
                f"run {target}: the backup of {b['path']} does not parse ({error}); refusing to restore it",
                path=str(src),
                hint="pick another run (`sessionctl runs`)",
            )
        cur_sha = sha256_file(st.store_path)
        if cur_sha == sha256_bytes(raw):
            continue
        cur = load_store(st.store_path)
        actions.append(
            {
                "type": "file.restore",
                "agent": st.agent_id,
                "path": b["path"],
                "source": str(src),
                "kind": "store",
                "source_sha256": sha256_bytes(raw),
                "before_sha256": cur_sha,
                "diff": _store_diff(cur.data, data),
                "from_run": target,
            }
        )
        chosen_dirs.append(str(Path(b["path"]).parent))
    for b in info.journal.get("backups", []):
        if b.get("kind") != "prompt_blob":
            continue
        if not any(b["path"].startswith(d + "/") for d in chosen_dirs):
            continue
        if os.path.lexists(ctx.state_dir / b["path"]):
            continue
        copy: JournalAction = {
            "type": "file.copy_in",
            "path": b["path"],
            "source": str(info.dir / b["backup"]),
            "from_run": target,
        }
        if isinstance(b.get("mode"), int):
            copy["mode"] = b["mode"]  # the blob's own mode (the backup copy is 0600)
        actions.append(copy)
    return actions + sqlite_restores


def restore_run(
    ctx: RunContext,
    target: str,
    **opts: Unpack[RunArgs],
) -> ReversalOutcome:
    """Put back whole store files from run `target`'s backup, as a journaled run (the
    stores it replaces are backed up first, so a restore can be undone)."""

    o = RunOptions(**opts)
    out = ReversalOutcome(command="restore", dry_run=o.dry_run, target=target)
    if o.dry_run:
        out.actions = plan_restore(ctx, target, o.backup_dir)
        for a in out.actions:
            a["state"] = "planned"
        return out

    with exclusive(ctx, lock_timeout_s=o.lock_timeout_s):
        refuse_if_gateway_running(ctx.state_dir, force_online=o.force_online, allow_sqlite_era=True)
        planned = plan_restore(ctx, target, o.backup_dir)
        if any(a["type"] == "sqlite.restore" for a in planned):
            refuse_unless_stopped(ctx)
        if not planned:
            out.logs.append(
                ("info", f"run {target}: the stores are already as backed up; nothing to restore")
            )
            return out

        def record(run: Run) -> None:
            for a in planned:
                run.add(a)
            out.actions = run.actions
            prepare(run, planned)
            prepare_restores(run, planned)

        def apply(run: Run) -> None:
            out.lock_held_ms = apply_actions(run, planned, lock_timeout_s=o.lock_timeout_s)["lock_held_ms"]
            apply_restores(run, planned)
            out.backups = list(run.backups)

        _run_reversal(ctx, "restore", planned, out, record, apply, o)
    return out
