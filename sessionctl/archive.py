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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sessionctl.actions import compression_module
from sessionctl.context import RunContext, check_path_option
from sessionctl.discovery import discover
from sessionctl.errors import DataError
from sessionctl.execute import DEFAULT_LOCK_TIMEOUT_S, Outcome, Plan, run_plan, tag_findings
from sessionctl.fsio import atomic_write, is_within, makedirs, sha256_file, state_rel
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
    return check_path_option(ctx, to, "--to", "dir")


# ---------------------------------------------------------------- facts (read first)


@dataclass(frozen=True)
class AgentFacts:
    """One agent as the planners of archive, dedupe and repair see it: its snapshot and
    where its files are relative to the state dir (as journals record them), resolved
    once when the facts are read, so deciding makes no path lookups on disk."""

    snap: AgentSnapshot
    state_dir: Path
    store_rel: str | None  # None: the store resolves outside the state dir
    folder_rel: str | None  # the sessions folder's real path; None: outside the state dir
    selected: bool = True  # an agent of --agent (others only count for references)

    def store(self) -> str:
        """The store as journals name it (fsio.state_rel's refusal when it is outside)."""
        if self.store_rel is None:
            raise _outside(self.snap.store.store_path, self.state_dir)
        return self.store_rel

    def rel(self, name: str) -> str:
        """A file of the sessions folder as journals name it: what fsio.state_rel gives
        for it, without a lookup per file."""
        if self.folder_rel is None:
            raise _outside(self.snap.store.sessions_dir / name, self.state_dir)
        return f"{self.folder_rel}/{name}" if self.folder_rel else name

    def free(self, cand: str) -> bool:
        """Whether a name planned in the sessions folder is taken there (the folder's
        listing: transcripts.unique_archive_path's `exists`)."""
        return cand.rpartition("/")[2] in self.snap.inventory.by_name


def _outside(path: Path, state_dir: Path) -> DataError:
    return DataError(f"refusing to touch {path}: it is outside the state dir {state_dir}", path=str(path))


def _folder_rel(state_dir: Path, folder: Path) -> str | None:
    real = Path(os.path.realpath(folder))
    if real == state_dir:
        return ""
    return str(real.relative_to(state_dir)) if is_within(real, state_dir) else None


def agent_facts(state_dir: Path, snap: AgentSnapshot, *, selected: bool = True) -> AgentFacts:
    """Read where an agent's files are (one realpath per folder)."""
    try:
        store_rel: str | None = state_rel(state_dir, snap.store.store_path)
    except DataError:
        store_rel = None
    return AgentFacts(snap, state_dir, store_rel, _folder_rel(state_dir, snap.store.sessions_dir), selected)


def all_agent_facts(ctx: RunContext) -> list[AgentFacts]:
    """Every file-layout agent of the state dir (not only --agent ones: references can
    cross agents), snapshotted once (store and folder listing; no transcript reads)."""

    out: list[AgentFacts] = []
    selected = {str(s.store_path) for s in ctx.discovery.stores}
    stores = discover(ctx.state_dir, ctx.openclaw, None).stores
    for i, st in enumerate(stores):
        ctx.tick(f"reading agent {st.agent_id}", i, len(stores))
        if st.layout != "file" or st.legacy_pending or not st.sessions_dir.is_dir():
            continue
        snap = snapshot_agent(st, ctx.state_dir, main_key=ctx.openclaw.main_key, read="none")
        out.append(agent_facts(ctx.state_dir, snap, selected=str(st.store_path) in selected))
    return out


@dataclass(frozen=True)
class ArchiveFacts:
    """Everything plan_archive decides from, read before it decides."""

    agents: tuple[AgentFacts, ...]
    wall_ms: int  # the wall clock when read: file ages, archive name stamps
    # with --to: the export folder of each sessions folder (by its rel) → the names in it
    exported: Mapping[str, frozenset[str]] = field(default_factory=dict)


def read_archive_facts(ctx: RunContext, opts: ArchiveOptions) -> ArchiveFacts:
    """Snapshots of every agent, the wall clock and, with --to, what the export folders
    hold already (one listing each)."""
    agents = tuple(all_agent_facts(ctx))
    exported: dict[str, frozenset[str]] = {}
    if opts.to_dir is not None:
        for af in agents:
            if af.selected and af.folder_rel is not None and af.folder_rel not in exported:
                try:
                    exported[af.folder_rel] = frozenset(os.listdir(opts.to_dir / af.folder_rel))
                except OSError:
                    exported[af.folder_rel] = frozenset()
    return ArchiveFacts(agents, now_ms(), exported)


# ---------------------------------------------------------------- deciding (pure)


@dataclass
class Decided:
    """A pure planner's plan, and the files whose identity (sha256) its actions record
    for apply to re-check: read after deciding (`identified`), for exactly the files
    acted on — a planner's decisions never depend on them."""

    plan: Plan
    to_hash: list[tuple[dict[str, object], str, Path]] = field(default_factory=list)

    def hash_later(self, action: dict[str, object], key: str, path: Path) -> dict[str, object]:
        action[key] = None
        self.to_hash.append((action, key, path))
        return action

    def identified(self) -> Plan:
        """The plan, with the checksums of the files its actions (those it still holds:
        guard_nonempty may have dropped some) act on."""
        kept = {id(a) for a in self.plan.actions}
        for action, key, path in self.to_hash:
            if id(action) in kept:
                action[key] = sha256_file(path)
        self.to_hash = []
        return self.plan


def move_file_into_run(
    decided: Decided, af: AgentFacts, fi: FileInfo, *, check: str, what: str, reason: str
) -> None:
    """Plan a `file.move` of a file of the sessions folder into the run folder, with the
    checksum apply and undo check it against."""
    action: dict[str, object] = {"type": "file.move", "agent": af.snap.agent_id, "from": af.rel(fi.name)}
    decided.hash_later(action, "before_sha256", fi.path)
    action.update(bytes=fi.size, check=check, what=what, reason=reason)
    decided.plan.add(action)


def referenced_paths(agents: Iterable[AgentFacts]) -> set[str]:
    """Every transcript path any entry of any agent resolves to."""
    refs: set[str] = set()
    for af in agents:
        for ev in af.snap.entries:
            if ev.ref.path is not None:
                refs.add(str(ev.ref.path))
    return refs


def _in_use(fi: FileInfo, snap: AgentSnapshot, refs: set[str]) -> bool:
    if snap.is_referenced(fi) or str(fi.path) in refs:
        return True
    return fi.owner is not None and str(fi.path.parent / fi.owner) in refs


def _export(
    decided: Decided,
    facts: ArchiveFacts,
    opts: ArchiveOptions,
    af: AgentFacts,
    fi: FileInfo,
    dst_name: str,
    check: str,
    why: str,
) -> None:
    """A `file.export` to --to, or, when its target exists already, a kept item."""
    assert opts.to_dir is not None
    rel_src = af.rel(fi.name)
    folder = str(Path(rel_src).parent)
    name = dst_name + SUFFIX[opts.compress]
    if name in facts.exported.get(af.folder_rel or "", frozenset()):
        decided.plan.keep("export.exists", af.snap.agent_id, rel_src, "its export target exists already")
        return
    to = opts.to_dir / folder / name
    action: dict[str, object] = {
        "type": "file.export",
        "agent": af.snap.agent_id,
        "from": rel_src,
        "to": str(to),
        "compress": opts.compress,
    }
    decided.hash_later(action, "sha256", fi.path)
    action.update(bytes=fi.size, check=check, what=f"move {fi.name} to {to}", reason=why)
    decided.plan.add(action)


def decide_archive(facts: ArchiveFacts, opts: ArchiveOptions, now_ms: int) -> Decided:
    """The archive plan from what was read (pure: no file access, no clock): `facts`
    (snapshots, the wall clock for ages and names, the export folders' names),
    `opts`, and `now_ms`, the run clock (--now) archive retention counts from."""
    decided = Decided(Plan("archive"))
    plan = decided.plan
    wall = facts.wall_ms
    refs = referenced_paths(facts.agents)
    # agents whose store cannot be read: an entry of theirs may use a file of any folder
    # (an absolute sessionFile), so no file is an orphan while one is unknown (as in gc)
    unknown = sorted({af.snap.agent_id for af in facts.agents if af.snap.load.data is None})
    taken: set[str] = set()
    stamp_ms = wall
    for af in facts.agents:
        if not af.selected:
            continue
        snap = af.snap
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
            rel = af.rel(fi.name)
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
                dst = Path(unique_archive_path(sdir / fi.name, "deleted", stamp_ms, taken, af.free)).name
                if opts.to_dir is not None:
                    _export(decided, facts, opts, af, fi, dst, "orphan", why)
                else:
                    plan.add(
                        {
                            "type": "file.rename",
                            "agent": agent,
                            "from": rel,
                            "to": af.rel(dst),
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
                    and now_ms - ts > opts.retention_ms
                ):
                    why = (
                        f".{fi.archive_reason} archive from {iso_ms(ts)}, older than --retention "
                        f"{format_duration(opts.retention_ms)}"
                    )
                    if opts.no_backup:
                        action: dict[str, object] = {
                            "type": "file.delete",
                            "agent": agent,
                            "path": rel,
                            "bytes": fi.size,
                        }
                        decided.hash_later(action, "sha256", fi.path)
                        action.update(
                            check="archive.expired",
                            what=f"delete {fi.name} for good (--no-backup)",
                            reason=why,
                        )
                        plan.add(action)
                    else:
                        move_file_into_run(
                            decided,
                            af,
                            fi,
                            check="archive.expired",
                            what=f"move {fi.name} into the run",
                            reason=why,
                        )
                    continue
                if opts.to_dir is not None and fi.archive_reason in EXPORT_REASONS:
                    _export(
                        decided,
                        facts,
                        opts,
                        af,
                        fi,
                        fi.name,
                        "archive.export",
                        f".{fi.archive_reason} archive",
                    )
    plan.details["archive"] = {
        "older_than_ms": opts.older_than_ms,
        "retention_ms": opts.retention_ms,
        "no_backup": opts.no_backup,
        "to": str(opts.to_dir) if opts.to_dir else None,
        "compress": opts.compress,
        "stamp": archive_stamp(stamp_ms),
    }
    tag_findings(plan, ARCHIVE_TO_HEALTH)
    return decided


def plan_archive(ctx: RunContext, opts: ArchiveOptions) -> Plan:
    """The archive plan: read the facts, decide (decide_archive, pure), then read the
    checksums of the files acted on. Reads, never writes."""
    facts = read_archive_facts(ctx, opts)
    return decide_archive(facts, opts, ctx.now_ms).identified()


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
