"""archive: collect orphaned session files, purge old archives, move archives away.

- Orphans — primary transcripts, topic/fork transcripts, compaction checkpoints,
  trajectory sidecars and ACP stream logs that no entry of any agent references
  (snapshot.is_referenced, plus every resolved transcript path of every store, so a
  sibling agent's `sessionFile` counts) — are renamed to `<name>.deleted.<stamp>`, the
  way OpenClaw archives (its memory search still reads them). Conservative: a folder
  whose store is missing or damaged is skipped (its references are unknown); a file
  modified less than `--older-than` ago (wall clock, default 1h) or with a `.lock` beside
  it is spared, because a running gateway may be about to reference it. A file of a live
  entry is never touched (stale or corrupt transcripts of entries are `repair`'s and
  `gc`'s business).
- `--retention DURATION`: `.deleted`/`.reset` archives whose name stamp is older than
  DURATION (run clock, `--now`) are moved into the run folder, or, with `--no-backup`,
  deleted for good (journaled; undo cannot bring those back). `.bak` archives are
  quarantines and are never purged.
- `--to DIR`: archives (`.deleted`, `.reset`, `.bak`, and the orphans of this run) are
  moved out of the sessions folders to `DIR/<path relative to the state dir>` (plus
  `.gz`/`.zst` with `--compress`): copy, fsync, verify, then the original is removed.
  The run journal is the manifest undo uses to bring them back; a readable copy of it is
  written to `DIR/sessionctl-manifest-<run_id>.json`.

Every action, problem and kept item carries `finding`: the health check id it resolves
or concerns (ARCHIVE_TO_HEALTH, as repair's REPAIR_TO_HEALTH; docs/archive.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessionctl.actions import compression_module, move_into_run
from sessionctl.context import RunContext, check_path_option
from sessionctl.discovery import discover
from sessionctl.execute import DEFAULT_LOCK_TIMEOUT_S, Outcome, Plan, run_plan, tag_findings
from sessionctl.fsio import atomic_write, makedirs, sha256_file, state_rel
from sessionctl.snapshot import AgentSnapshot, snapshot_agent
from sessionctl.timeutil import archive_stamp, format_duration, iso_ms, now_ms
from sessionctl.transcripts import FileInfo, unique_archive_path

ORPHAN_KINDS = ("transcript", "topic", "fork", "checkpoint", "trajectory", "acp_stream")
PURGE_REASONS = ("deleted", "reset")
EXPORT_REASONS = ("deleted", "reset", "bak")
DEFAULT_OLDER_THAN_MS = 3_600_000
SUFFIX = {None: "", "gzip": ".gz", "zstd": ".zst"}

# archive's `check` ids → the health check id (docs/health.md) of the finding each item
# resolves (actions) or concerns (problems, kept); None where no health finding is
# resolved or concerned. Like repair's REPAIR_TO_HEALTH: both vocabularies are public
# contracts and never renamed; this is where they meet for archive (`finding` next to
# `check`; documented in docs/archive.md).
ARCHIVE_TO_HEALTH: dict[str, str | None] = {
    # actions
    "orphan": "transcript.orphan",
    "archive.expired": None,  # health's archive.accumulated counts archives (info, no fix): not resolved
    "archive.export": None,  # likewise
    # problems
    "archive.references_unknown": None,  # the store's own finding depends on its status; no orphan check
    # kept
    "orphan.young": "transcript.orphan",  # health reports orphans whatever their age
    "orphan.locked": "transcript.orphan",  # ... and whatever lock sits beside them
    "orphan.references_unknown": "transcript.orphan",  # another agent's store cannot be read
    "export.exists": None,  # with --to: an orphan or an archive alike
}


@dataclass
class ArchiveOptions:
    orphans: bool = True
    older_than_ms: int = DEFAULT_OLDER_THAN_MS
    retention_ms: int | None = None
    no_backup: bool = False
    to_dir: Path | None = None
    compress: str | None = None
    backup_dir: str | None = None
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S  # --lock-timeout


def check_to_dir(ctx: RunContext, to: str) -> Path:
    """`--to DIR`: the one path check (fsio.check_output_path): no symlink in it,
    outside every sessions folder and the state dir's live data, holding none of them
    (exports under DIR/<path relative to the state dir> would land in one)."""
    out: Path = check_path_option(ctx, to, "--to", "dir")
    return out


def all_snapshots(ctx: RunContext) -> list[AgentSnapshot]:
    """Every file-layout agent of the state dir (not only --agent ones): references can
    cross agents."""

    out: list[AgentSnapshot] = []
    stores = discover(ctx.state_dir, ctx.openclaw, None).stores
    for i, st in enumerate(stores):
        ctx.tick(f"reading agent {st.agent_id}", i, len(stores))
        if st.layout != "file" or st.legacy_pending or not st.sessions_dir.is_dir():
            continue
        out.append(snapshot_agent(st, ctx.state_dir, main_key=ctx.openclaw.main_key, read="none"))
    return out


def referenced_paths(snaps: list[AgentSnapshot]) -> set[str]:
    """Every transcript path any entry of any agent resolves to."""
    refs: set[str] = set()
    for snap in snaps:
        for ev in snap.entries:
            if ev.ref.path is not None:
                refs.add(str(ev.ref.path))
    return refs


def _in_use(fi: FileInfo, snap: AgentSnapshot, refs: set[str]) -> bool:
    if snap.is_referenced(fi) or str(fi.path) in refs:
        return True
    return fi.owner is not None and str(fi.path.parent / fi.owner) in refs


def _export_action(
    ctx: RunContext,
    opts: ArchiveOptions,
    snap: AgentSnapshot,
    fi: FileInfo,
    dst_name: str,
    check: str,
    why: str,
) -> dict[str, Any] | None:
    assert opts.to_dir is not None
    rel_src = state_rel(ctx.state_dir, fi.path)
    rel_dst = str(Path(rel_src).parent / dst_name) + SUFFIX[opts.compress]
    to = opts.to_dir / rel_dst
    if os.path.lexists(to):
        return None
    return {
        "type": "file.export",
        "agent": snap.agent_id,
        "from": rel_src,
        "to": str(to),
        "compress": opts.compress,
        "sha256": sha256_file(fi.path),
        "bytes": fi.size,
        "check": check,
        "what": f"move {fi.name} to {to}",
        "reason": why,
    }


def plan_archive(ctx: RunContext, opts: ArchiveOptions) -> Plan:
    """The archive plan (pure: reads, never writes)."""
    plan = Plan("archive")
    wall = now_ms()
    snaps = all_snapshots(ctx)
    refs = referenced_paths(snaps)
    selected = {str(s.store_path) for s in ctx.discovery.stores}
    # agents whose store cannot be read: an entry of theirs may use a file of any folder
    # (an absolute sessionFile), so no file is an orphan while one is unknown (as in gc)
    unknown = sorted({s.agent_id for s in snaps if s.load.data is None})
    taken: set[str] = set()
    stamp_ms = wall
    for snap in snaps:
        if str(snap.store.store_path) not in selected:
            continue
        agent = snap.agent_id
        sdir = snap.store.sessions_dir
        if snap.load.data is None:
            plan.problem(
                "archive.references_unknown",
                "warning",
                agent,
                f"sessions.json is {snap.load.status}: which files are in use is unknown, nothing in "
                f"{sdir} is archived",
                path=str(snap.store.store_path),
                fix=f"sessionctl repair --only store --agent {agent}",
            )
            continue
        locked = {fi.owner for fi in snap.inventory.of_kind("lock") if fi.owner}
        for fi in sorted(snap.inventory.files, key=lambda f: f.name):
            rel = state_rel(ctx.state_dir, fi.path)
            if fi.kind in ORPHAN_KINDS and opts.orphans:
                if _in_use(fi, snap, refs):
                    continue
                age = wall - fi.mtime_ms
                if age < opts.older_than_ms:
                    plan.keep(
                        "orphan.young",
                        agent,
                        rel,
                        f"referenced by no entry, but modified {format_duration(max(age, 0))} ago "
                        f"(< --older-than {format_duration(opts.older_than_ms)})",
                    )
                    continue
                if fi.name in locked or (fi.owner is not None and fi.owner in locked):
                    plan.keep(
                        "orphan.locked", agent, rel, "referenced by no entry, but a .lock sits beside it"
                    )
                    continue
                others = [a for a in unknown if a != agent]
                if others:
                    plan.keep(
                        "orphan.references_unknown",
                        agent,
                        rel,
                        f"referenced by no entry sessionctl can read, but the store of {', '.join(others)} "
                        "cannot be read: one of its entries may use it (sessionFile)",
                    )
                    continue
                why = f"{fi.kind} referenced by no entry of any agent, untouched for {format_duration(age)}"
                dst = Path(unique_archive_path(sdir / fi.name, "deleted", stamp_ms, taken)).name
                if opts.to_dir is not None:
                    act = _export_action(ctx, opts, snap, fi, dst, "orphan", why)
                    if act is None:
                        plan.keep("export.exists", agent, rel, "its export target exists already")
                        continue
                    plan.add(act)
                else:
                    plan.add(
                        {
                            "type": "file.rename",
                            "agent": agent,
                            "from": rel,
                            "to": state_rel(ctx.state_dir, sdir / dst),
                            "bytes": fi.size,
                            "check": "orphan",
                            "what": f"archive {fi.name} as {dst}",
                            "reason": why,
                        }
                    )
            elif fi.kind == "archive":
                if str(fi.path) in refs:
                    continue
                ts = fi.archive_ts_ms
                if (
                    opts.retention_ms is not None
                    and fi.archive_reason in PURGE_REASONS
                    and ts is not None
                    and ctx.now_ms - ts > opts.retention_ms
                ):
                    why = (
                        f".{fi.archive_reason} archive from {iso_ms(ts)}, older than --retention "
                        f"{format_duration(opts.retention_ms)}"
                    )
                    if opts.no_backup:
                        plan.add(
                            {
                                "type": "file.delete",
                                "agent": agent,
                                "path": rel,
                                "bytes": fi.size,
                                "sha256": sha256_file(fi.path),
                                "check": "archive.expired",
                                "what": f"delete {fi.name} for good (--no-backup)",
                                "reason": why,
                            }
                        )
                    else:
                        plan.add(
                            move_into_run(
                                agent,
                                rel,
                                fi.path,
                                fi.size,
                                check="archive.expired",
                                what=f"move {fi.name} into the run",
                                reason=why,
                            )
                        )
                    continue
                if opts.to_dir is not None and fi.archive_reason in EXPORT_REASONS:
                    act = _export_action(
                        ctx, opts, snap, fi, fi.name, "archive.export", f".{fi.archive_reason} archive"
                    )
                    if act is None:
                        plan.keep("export.exists", agent, rel, "its export target exists already")
                    else:
                        plan.add(act)
    plan.details["archive"] = {
        "older_than_ms": opts.older_than_ms,
        "retention_ms": opts.retention_ms,
        "no_backup": opts.no_backup,
        "to": str(opts.to_dir) if opts.to_dir else None,
        "compress": opts.compress,
        "stamp": archive_stamp(stamp_ms),
    }
    return tag_findings(plan, ARCHIVE_TO_HEALTH)


def write_manifest(out: Outcome, to_dir: Path) -> str | None:
    """A readable copy of what was exported, beside the exports (the run journal is the
    manifest undo uses)."""
    import orjson

    exports = [a for a in out.plan.actions if a["type"] == "file.export"]
    if not exports or out.run_id is None:
        return None
    body = {
        "run_id": out.run_id,
        "run_dir": out.run_dir,
        "undo": f"sessionctl undo {out.run_id}",
        "files": [
            {
                "from": a["from"],
                "to": a["to"],
                "compress": a.get("compress"),
                "sha256": a.get("sha256"),
                "bytes": a.get("bytes"),
                "state": a.get("state"),
            }
            for a in exports
        ],
    }
    path = to_dir / f"sessionctl-manifest-{out.run_id}.json"
    makedirs(to_dir)
    atomic_write(path, orjson.dumps(body, option=orjson.OPT_INDENT_2), mode=0o600)
    return str(path)


def run_archive(ctx: RunContext, opts: ArchiveOptions, *, dry_run: bool, force_online: bool) -> Outcome:
    if opts.compress is not None:
        compression_module(opts.compress)  # a clear error now, not half-way through a run
    out = run_plan(
        ctx,
        lambda: plan_archive(ctx, opts),
        dry_run=dry_run,
        force_online=force_online,
        backup_dir=opts.backup_dir,
        lock_timeout_s=opts.lock_timeout_s,
    )
    if not dry_run and opts.to_dir is not None:
        manifest = write_manifest(out, opts.to_dir)
        if manifest:
            out.plan.details["archive"]["manifest"] = manifest
    return out
