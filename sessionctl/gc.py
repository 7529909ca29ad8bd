"""gc: plan with the pure planner (policy.plan_gc), then apply it as a journaled run.

Apply sequence (docs/gc.md):
1. sessionctl's private lock; refuse when a gateway no lock can exclude is running;
2. snapshot every store and the live transcript locks, plan — outside any store lock;
3. Run.start; record the actions (removed entries verbatim, every rename from → to);
   back up each touched store, the prompt blobs of the removed entries and each binding
   file to be rewritten; write the journal durably;
4. per store, ONE short critical section under sessions.json.lock: re-read, remove only
   entries still identical to what was planned, write atomically, release;
5. re-read each edited store and archive (rename to `<file>.deleted.<ts>`) only the files
   no entry of the store as written references, each under its transcript lock;
6. purge old archives (moved into the run folder, or unlinked with --no-archive-backup),
   rewrite binding files; write status.json; prune old run folders.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Unpack

from sessionctl import bindings as bmod
from sessionctl.action_types import JournalAction, skip
from sessionctl.actions import apply_delete, apply_move, apply_rewrite, apply_store_actions, locked_store
from sessionctl.bindings import BindingFile, ThreadBinding
from sessionctl.context import RunContext
from sessionctl.discovery import AgentStore, discover
from sessionctl.errors import BusyError, DataError, SessionctlError
from sessionctl.execute import (
    RunArgs,
    RunOptions,
    RunOutcome,
    RunSteps,
    exclusive,
    run_journaled,
    touched_stores,
)
from sessionctl.fsio import (
    commit_temp,
    fault_point,
    fsync_dir,
    in_dir,
    named,
    read_bytes,
    remove_temp,
    state_rel,
    store_tmp_name,
    write_temp,
)
from sessionctl.fsio import sha256_bytes as _sha
from sessionctl.gateway import Gateway, refuse_if_gateway_running
from sessionctl.jsonjs import JsonObj, gc_paused
from sessionctl.keys import parse_key
from sessionctl.locks import (
    TRANSCRIPT_LOCK_STALE_MS,
    FolderLocks,
    acquire,
)
from sessionctl.policy import (
    AgentPlan,
    GcPlan,
    Policy,
    collect_transcript_locks,
    plan_gc,
)
from sessionctl.resume import EraInfo, defused_entry, detect_era, file_era
from sessionctl.runs import Run, entries_equal, prune_runs, read_backup
from sessionctl.snapshot import (
    AgentSnapshot,
    FactsCache,
    last_third,
    prefetch_facts,
    prompt_ref,
    prompt_ref_paths,
    read_entry_facts,
    sibling_references,
    snapshot_agent,
    wanted_paths,
)
from sessionctl.sqlite.gc import SqliteGc
from sessionctl.store import (
    SLIM_DROPPED,
    StoreLoad,
    load_store,
    member_spans,
    member_values,
    parse_store_bytes,
    parse_store_slim,
    require_access,
    spliced_store,
)
from sessionctl.timeutil import iso_ms, now_ms
from sessionctl.timeutil import now_ms as wall_ms
from sessionctl.transcripts import classify, unique_archive_path


@dataclass(kw_only=True)
class GcOutcome(RunOutcome):
    """gc's outcome: a RunOutcome with gc's plan, what it read to make it, and the parts
    of the run that could not be done (`errors`)."""

    command: str = "gc"
    plan: GcPlan
    skipped_agents: list[dict[str, str]] = field(default_factory=list)
    snaps: list[AgentSnapshot] = field(default_factory=list, repr=False)
    binding_edits: list[BindingEdit] = field(default_factory=list, repr=False)
    errors: list[SessionctlError] = field(default_factory=list)  # what stopped part of the run
    era: EraInfo | None = None  # when the plan limits the resume set
    sqlite: SqliteGc | None = field(default=None, repr=False)  # the SQLite-era agents
    # (agent, key) → whole entry of a defused session; the agents whose store changed
    # between the plan's read and that of these entries (no edit from the planned bytes)
    whole: dict[tuple[str, str], JsonObj] = field(default_factory=dict, repr=False)
    inexact: set[str] = field(default_factory=set)

    def summary(self) -> JsonObj:
        """Per agent: entries, kept, expired by rule, protected, skipped, archived
        files/bytes; the totals, bindings removed, the lock held, runs pruned."""
        applied = not self.dry_run
        agents: dict[str, JsonObj] = {}
        for ap in self.plan.agents:
            agents[ap.agent] = _agent_summary(ap)
        for a in self.actions:
            s = agents.get(a.get("agent") or "")
            done = a.get("state") == "applied" if applied else True
            t = a["type"]
            if t.startswith("sqlite.") and s is not None:
                verb = t.split(".", 1)[1]
                if done:
                    s.setdefault("openclaw", {"delete": 0, "archive": 0})[verb] += 1
                else:
                    s["skipped"] += 1
                    s["expired"] -= 1
                    s["kept"] += 1
                    s["expired_by_rule"][a.get("rule") or "?"] -= 1
            elif t == "store.set" and s is not None:
                s["defused" if done else "defuse_skipped"] += 1
            elif t == "store.remove" and s is not None and not done:
                s["skipped"] += 1
                s["expired"] -= 1
                s["kept"] += 1
                s["expired_by_rule"][a.get("rule") or "?"] -= 1
            elif t == "file.rename" and s is not None and done:
                s["archived_files"] += 1
                s["archived_bytes"] += int(a.get("bytes") or 0)
            elif t == "file.rename" and s is not None:
                s["archive_skipped"] += 1
            elif t in ("file.move", "file.delete") and s is not None and done:
                s["archives_purged"] += 1
                s["archives_purged_bytes"] += int(a.get("bytes") or 0)
        for s in agents.values():
            s["expired_by_rule"] = {k: v for k, v in s["expired_by_rule"].items() if v}
        bindings = sum(
            len(a.get("removed_bindings", []))
            for a in self.actions
            if a["type"] == "file.rewrite" and (not applied or a.get("state") == "applied")
        )
        total = Counter[str]()
        for s in agents.values():
            for k in (
                "entries",
                "kept",
                "expired",
                "protected",
                "skipped",
                "archived_files",
                "archived_bytes",
            ):
                total[k] += int(s.get(k, 0))
        for s in agents.values():
            total["defused"] += int(s.get("defused", 0))
        return {
            "agents": agents,
            "refused_agents": [a for a, s in agents.items() if s.get("refused")],
            "resume_era": self.era.to_json() if self.era is not None else None,
            "total": dict(total),
            "bindings_removed": bindings,
            "lock_held_ms": self.lock_held_ms,
            "pruned_runs": self.pruned_runs,
        }


# ---------------------------------------------------------------- selecting and reading


def select_stores(ctx: RunContext, out: GcOutcome) -> list[AgentStore]:
    """The sessions.json stores gc may edit: file layout only. SQLite-era agents are planned
    by sessionctl.sqlite.gc (through OpenClaw); a legacy sessions.json beside a database is
    never modified."""
    stores: list[AgentStore] = []
    for st in ctx.discovery.stores:
        if st.layout == "missing":
            continue
        if st.legacy_pending:
            out.skipped_agents.append(
                {
                    "agent": st.agent_id,
                    "reason": "legacy sessions.json pending SQLite migration (never modified; "
                    "`openclaw doctor --fix` imports it)",
                }
            )
            continue
        if st.layout != "file":
            continue
        stores.append(st)
    return stores


def read_snapshots(ctx: RunContext, stores: list[AgentStore]) -> list[AgentSnapshot]:
    """Snapshot every store (cheap transcript facts). A store that does not parse stops
    gc before anything changes: gc never "cleans" a store it cannot read.

    Slim (store.load_store(plan=True)): the plan reads no field of the big diagnostic
    objects, so neither they nor the stores' bytes are kept — only each store's
    checksum, whether it is in OpenClaw's own formatting, and the prompt-blob
    references. The whole entries the run journals or edits are read again, one store
    at a time (whole_entries, _apply)."""
    # the transcripts' cheap facts: read by prestart's repair already, or else read ahead
    # by a child process (snapshot.FactsPrefetch), which also loads the last third of the
    # stores prestart did not read, while this process parses the others
    cache: FactsCache | None = ctx.facts_cache
    planned = {st.store_path: ctx.planned_load(st.store_path) for st in stores}
    to_load = [st.store_path for st in stores if planned[st.store_path] is None]
    ahead = last_third(to_load)
    prefetch = prefetch_facts(stores, load=ahead) if not cache else None
    if prefetch is None:
        ahead = []
    try:
        loads: list[tuple[AgentStore, StoreLoad]] = []
        for i, st in enumerate(stores):
            ctx.tick(f"reading agent {st.agent_id}", i, len(stores))
            ctx.checkpoint()  # a safe point: nothing is changed before the journal
            load = planned[st.store_path]  # prestart read it already (unchanged since)
            if (load is None or load.sha256 is None) and prefetch is not None and st.store_path in ahead:
                load = prefetch.store(st.store_path)
            if load is None or load.sha256 is None:
                load = load_store(st.store_path, plan=True)
            require_access(load, st.agent_id)
            if load.status == "missing":
                continue
            if load.data is None:
                raise DataError(
                    f"agent {st.agent_id}: {st.store_path} cannot be read ({load.error}); "
                    "gc never cleans a store it cannot parse, nothing was changed",
                    path=str(st.store_path),
                    hint=f"run `sessionctl repair --only store --agent {st.agent_id}` first",
                )
            loads.append((st, load))
        # the stores' own part of the snapshots (entries, listing, references) while the
        # child still reads; then the transcripts' facts
        snaps = [
            snapshot_agent(st, ctx.state_dir, main_key=ctx.openclaw.main_key, read="none", load=load)
            for st, load in loads
        ]
        if prefetch is not None:
            cache = prefetch.collect(wanted_paths(snaps))
    finally:
        if prefetch is not None:
            prefetch.close()
    for snap in snaps:
        read_entry_facts(snap, cache=cache)
    return snaps


def planned_view(entry: object) -> object:
    """An entry as the slim plan saw it (without store.SLIM_DROPPED)."""
    if type(entry) is not dict:
        return entry
    return {k: v for k, v in entry.items() if k not in SLIM_DROPPED}


def same_as_planned(snap: AgentSnapshot, key: str, whole: object) -> bool:
    """Whether a whole entry read now is the entry the plan decided on: every field the
    plan read (the slim entry) and its prompt-blob reference unchanged."""
    data = snap.load.data or {}
    if key not in data:
        return False
    refs = snap.load.prompt_refs or {}
    return entries_equal(planned_view(whole), data[key]) and entries_equal(prompt_ref(whole), refs.get(key))


def whole_entries(snap: AgentSnapshot, keys: list[str]) -> tuple[JsonObj, bool]:
    """The whole entries of `keys` of a store planned slim, read again from the file:
    when its bytes are still those the plan read (sha256) and in OpenClaw's own
    formatting, only their members are parsed. The bool says whether they are the
    planned ones; otherwise (the store changed since, or another layout) they are the
    entries as they are now, and only those whose planned view is unchanged are given."""
    if not keys:
        return {}, True
    try:
        raw = read_bytes(snap.store.store_path)
    except OSError:
        return {}, False
    if hashlib.sha256(raw).hexdigest() == snap.load.sha256 and snap.load.data is not None:
        if snap.load.canonical:
            got = member_values(raw, list(snap.load.data), keys)
            if got is not None:
                return got, True
        _status, data, _err = parse_store_bytes(raw)
        if data is not None:
            return {k: data[k] for k in keys if k in data}, True
    _status, data, _err = parse_store_bytes(raw)
    del raw
    return {
        k: data[k] for k in keys if data is not None and k in data and same_as_planned(snap, k, data[k])
    }, False


# ---------------------------------------------------------------- bindings


@dataclass
class BindingEdit:
    path: Path
    channel: str
    data: bytes  # the rewritten file
    before_sha256: str
    removed: list[JsonObj]  # each removed binding (to_json) and why
    bf: BindingFile  # as read (holds secrets: never print)
    # (binding, reason, (agent, lowercased key) when dropped because this run removes that session)
    drops: list[tuple[ThreadBinding, str, tuple[str, str] | None]] = field(default_factory=list)


def plan_bindings(
    ctx: RunContext, plan: GcPlan, snaps: list[AgentSnapshot], out: GcOutcome
) -> list[BindingEdit]:
    """Bindings to drop (format doc §10): expired by their own limits, or pointing at a
    session gc removes or that no longer exists. Only bindings whose target session is
    of an agent and a key gc was asked to look at. Never carries webhook tokens out."""

    gone = {a.agent: {d.key.strip().lower() for d in a.expired} for a in plan.agents}
    keys_after: dict[str, set[str]] = {}
    for snap in snaps:
        keys_after[snap.agent_id] = {k.strip().lower() for k in (snap.load.data or {})} - gone.get(
            snap.agent_id, set()
        )
    edits: list[BindingEdit] = []
    for bf in bmod.load_bindings(ctx.state_dir):
        if bf.error is not None:
            if bf.error != "file does not exist":
                out.logs.append(("warning", f"binding file {bf.path}: {bf.error}; left as it is"))
            continue
        drop: list[tuple[ThreadBinding, str, tuple[str, str] | None]] = []
        for b in bf.bindings:
            agent = bmod.target_agent(b, ctx.openclaw.default_agent)
            if agent not in keys_after:
                continue  # not an agent gc looked at
            tkey = (b.target_session_key or "").strip().lower()
            if tkey and tkey in gone.get(agent, set()):
                drop.append((b, "its session is removed by this gc run", (agent, tkey)))
                continue
            if tkey and not plan.policy.in_scope(tkey, parse_key(tkey, ctx.openclaw.main_key).kind):
                continue
            why = bmod.expired(b, plan.now_ms)
            if why is not None:
                drop.append((b, f"expired: {why}", None))
            elif bmod.dangling(b, keys_after, ctx.openclaw.default_agent):
                drop.append((b, "dangling: its session no longer exists", None))
        if not drop or bf.raw is None:
            continue
        new = bmod.serialize(bf, bmod.without(bf, [b for b, _, _ in drop]))
        edits.append(
            BindingEdit(
                bf.path,
                bf.channel,
                new,
                _sha(bf.raw),
                [{**b.to_json(), "reason": why} for b, why, _ in drop],
                bf,
                drop,
            )
        )
    return edits


def _narrow_binding_edit(e: BindingEdit, removed: set[tuple[str, str]]) -> bool:
    """Drop from a planned binding edit the bindings whose session removal did not
    happen (skipped: changed since planning, store busy). True when it changed."""

    keep = [d for d in e.drops if d[2] is None or d[2] in removed]
    if len(keep) == len(e.drops):
        return False
    e.drops = keep
    e.removed = [{**b.to_json(), "reason": why} for b, why, _ in keep]
    e.data = bmod.serialize(e.bf, bmod.without(e.bf, [b for b, _, _ in keep])) if keep else b""
    return True


# ---------------------------------------------------------------- actions


def _rel(ctx: RunContext, p: Path | str) -> str:
    """The snapshot's own paths (no realpath), relative to the state dir: a plain string
    cut when `p` is spelled under it (56,000 actions of a big plan), else state_rel."""
    s = p if isinstance(p, str) else str(p)
    root = str(ctx.state_dir)
    n = len(root)
    if s.startswith(root) and s[n : n + 1] == "/":
        return s[n + 1 :]  # what state_rel(resolve=False) does, without its call
    return state_rel(ctx.state_dir, p, resolve=False)


def build_actions(
    ctx: RunContext,
    plan: GcPlan,
    snaps: list[AgentSnapshot],
    bindings: list[BindingEdit],
    *,
    archive_stamp_ms: int,
    whole: Mapping[tuple[str, str], JsonObj] | None = None,
) -> list[JournalAction]:
    """The journal actions of a plan: store.remove, store.set (a resume-set session
    defused: the whole entry before and after; `whole` maps (agent, key) to it, and a
    defused entry missing there changed since planning: skipped), file.rename
    (archives), file.move / file.delete (purged archives), file.rewrite (bindings).

    A store.remove carries no entry here: the run refers to its store's backup for it
    (`entry_in`), or copies it from there (_apply)."""

    actions: list[JournalAction] = []
    by_agent = {s.agent_id: s for s in snaps}
    taken: set[str] = set()
    for ap in plan.agents:
        snap = by_agent.get(ap.agent)
        if snap is None or snap.load.data is None:
            continue
        store_rel = _rel(ctx, snap.store.store_path)
        for d in ap.expired:
            actions.append(
                {
                    "type": "store.remove",
                    "agent": ap.agent,
                    "store": store_rel,
                    "key": d.key,
                    **d.removal_fields(),
                }
            )
        for r in ap.defused:
            w = whole or {}
            found = (ap.agent, r.key) in w
            act: JournalAction = {
                "type": "store.set",
                "agent": ap.agent,
                "store": store_rel,
                "key": r.key,
                "before": w[ap.agent, r.key] if found else None,
                "after": defused_entry(w[ap.agent, r.key], archive_stamp_ms) if found else None,
                "check": "resume.defuse",
                "reason": f"defused (marked failed as OpenClaw's markSessionFailed does): {r.reason}",
                "idle_ms": r.idle_ms,
            }
            if not found:
                skip(act, "entry changed since planning")
            actions.append(act)
    # an archive name is free when the folder listing of the snapshot does not have it
    # (no lstat per file; the rename refuses to clobber one made since)
    listed = {fi.path_str for s in snaps for fi in s.inventory.files}
    for ap in plan.agents:
        for f in ap.files:
            dst = unique_archive_path(f.path, "deleted", archive_stamp_ms, taken, listed.__contains__)
            actions.append(
                {
                    "type": "file.rename",
                    "agent": ap.agent,
                    "from": _rel(ctx, f.path),
                    "to": _rel(ctx, dst),
                    "file_kind": f.kind,
                    "bytes": f.size,
                    "keys": f.keys,
                    "lock": _rel(ctx, f.lock_target),
                    "reason": "archived: its sessions are removed and no remaining entry references it",
                }
            )
    for ap in plan.agents:
        for p in ap.purges:
            base = {
                "agent": ap.agent,
                "from" if plan.policy.archive_backup else "path": _rel(ctx, p.path),
                "bytes": p.size,
                "archived_at": iso_ms(p.archived_at_ms),
                "reason": f"archive older than {plan.policy.archive_retention.text}"
                if plan.policy.archive_retention
                else "archive retention",
            }
            if plan.policy.archive_backup:
                actions.append({"type": "file.move", **base})
            else:
                actions.append(
                    {"type": "file.delete", **base, "note": "deleted without backup (--no-archive-backup)"}
                )
    for be in bindings:
        actions.append(
            {
                "type": "file.rewrite",
                "path": _rel(ctx, be.path),
                "channel": be.channel,
                "before_sha256": be.before_sha256,
                "after_sha256": _sha(be.data),
                "removed_bindings": be.removed,
                "reason": f"{len(be.removed)} thread binding(s) removed",
            }
        )
    return actions


# ---------------------------------------------------------------- apply helpers


def store_references(ctx: RunContext, snap: AgentSnapshot) -> dict[str, list[str]] | None:
    """File names the store as it is on disk now (re-read after the edit) keeps in use:
    every entry's sessionFile base name, `<sessionId>.jsonl`, `sid:<sessionId>` and its
    compaction checkpoints. Deliberately wider than the resolved references (no path
    resolution: a name is kept even when its sessionFile points elsewhere) — a file it
    keeps is only left in place, never lost. None when the store cannot be read."""

    try:
        raw = read_bytes(snap.store.store_path)
    except OSError:
        return None
    with gc_paused():  # slim: only names matter here, not the big diagnostic objects
        _status, data, _err = parse_store_slim(raw)
    return None if data is None else references_of(data)


def references_of(data: JsonObj) -> dict[str, list[str]]:
    """File names a store's entries keep in use: every entry's sessionFile base name,
    `<sessionId>.jsonl`, `sid:<sessionId>` and its compaction checkpoints. Deliberately
    wider than the resolved references (no path resolution: a name is kept even when
    its sessionFile points elsewhere) — a file it keeps is only left in place, never
    lost."""
    refs: dict[str, list[str]] = {}

    def add(name: str, key: str) -> None:
        refs.setdefault(name, []).append(key)

    for key, e in data.items():
        if not isinstance(e, dict):
            continue
        sf = e.get("sessionFile")
        if isinstance(sf, str) and sf.strip():
            add(os.path.basename(sf.strip()), key)
        sid = e.get("sessionId")
        if isinstance(sid, str) and sid:
            add(f"{sid}.jsonl", key)
            add(f"sid:{sid}", key)
        cps = e.get("compactionCheckpoints")
        for cp in cps if isinstance(cps, list) else []:
            for side in ("preCompaction", "postCompaction"):
                part = cp.get(side) if isinstance(cp, dict) else None
                f = part.get("sessionFile") if isinstance(part, dict) else None
                if isinstance(f, str) and f:
                    add(os.path.basename(f), key)
    return refs


def _store_data(path: Path) -> JsonObj | None:

    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        return {}
    except OSError:
        return None
    with gc_paused():
        _status, data, _err = parse_store_slim(raw)
    return data


def foreign_references(
    ctx: RunContext, exclude: set[str]
) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    """What the file stores of the state dir other than `exclude` (store paths) keep in
    use in other agents' sessions folders (snapshot.sibling_references; keys as
    `<agent> <key>`), and the agents whose store cannot be read (their references are
    unknown). Whatever the scope of the command (--agent), every agent counts."""

    refs: dict[str, dict[str, list[str]]] = {}
    unknown: list[str] = []
    for st in discover(ctx.state_dir, ctx.openclaw, None).stores:
        if st.layout != "file" or st.legacy_pending or str(st.store_path) in exclude:
            continue
        data = _store_data(st.store_path)
        if data is None:
            unknown.append(st.agent_id)
            continue
        for folder, names in sibling_references(data, st.sessions_dir).items():
            into = refs.setdefault(folder, {})
            for name, keys in names.items():
                into.setdefault(name, []).extend(f"{st.agent_id} {k}" for k in keys)
    return refs, unknown


def _in_use(name: str, refs: dict[str, list[str]]) -> list[str] | None:

    _kind, extra = classify(name)
    owner = extra.get("owner")
    sid = extra.get("session_id")
    return refs.get(name) or (refs.get(owner) if owner else None) or (refs.get(f"sid:{sid}") if sid else None)


def apply_renames(
    ctx: RunContext,
    run: Run,
    renames: list[JournalAction],
    snaps: list[AgentSnapshot],
    *,
    lock_timeout_s: float,
) -> None:
    """Archive files by rename, re-checking first that the stores as written no longer
    reference them, each group (a transcript and its sidecars) under its transcript's
    lock. Each folder is fsynced once at the end (the journal already names every
    rename; undo checks each one's state)."""

    by_agent = {s.agent_id: s for s in snaps}
    refs_now: dict[str, dict[str, list[str]] | None] = {}
    foreign: dict[str, dict[str, list[str]]] = {}
    unknown: list[str] = []
    if renames:
        # every store as it is now (the edits are done), each read once: every agent's
        # entries count, and its own entries' names are what keeps a file of its folder
        for snap in snaps:
            data = _store_data(snap.store.store_path)
            if data is None:
                refs_now[snap.agent_id] = None
                continue
            # a store gone since the edit (read as {}) is "cannot be re-read" for its own files
            refs_now[snap.agent_id] = references_of(data) if os.path.lexists(snap.store.store_path) else None
            for fdir, names in sibling_references(data, snap.store.sessions_dir).items():
                for name, keys in names.items():
                    foreign.setdefault(fdir, {}).setdefault(name, []).extend(keys)
            del data
        others, unknown = foreign_references(ctx, {str(s.store.store_path) for s in snaps})
        for fdir, names in others.items():
            for name, keys in names.items():
                foreign.setdefault(fdir, {}).setdefault(name, []).extend(keys)
    for a in renames:
        if a["agent"] not in refs_now:
            refs_now[a["agent"]] = store_references(ctx, by_agent[a["agent"]])
    groups: dict[str, list[JournalAction]] = {}
    sd_s = str(ctx.state_dir)
    for a in renames:
        refs = refs_now[a["agent"]]
        if refs is None or unknown:
            skip(a, "a store could not be re-read after the edit; file left in place")
            continue
        # plain strings: 28,000 files make Path objects cost more than the renames
        src_s = os.path.join(sd_s, a["from"])
        name = os.path.basename(src_s)
        users = _in_use(name, refs) or _in_use(name, foreign.get(os.path.dirname(src_s), {}))
        if users:
            skip(a, f"still referenced by {', '.join(users[:3])}")
            continue
        groups.setdefault(a["lock"], []).append(a)

    folders: dict[Path, list[JournalAction]] = {}  # renamed, not yet durable
    # lock groups by folder: each folder is opened once (through fsio.open_dir: a folder
    # swapped for a symlink since the plan is refused, never followed out of the state
    # dir), each transcript's lock taken and released through that fd
    by_folder: dict[str, list[tuple[str, list[JournalAction]]]] = {}
    for lock_rel, acts in groups.items():
        by_folder.setdefault(os.path.dirname(os.path.join(sd_s, acts[0]["from"])), []).append(
            (lock_rel, acts)
        )
    try:
        stopped: str | None = None
        for folder_s, lock_groups in by_folder.items():
            folder = Path(folder_s)
            if stopped is not None:
                _leave_in_place(lock_groups, stopped)
                continue
            run.at(f"archiving files of {folder}", folder)
            with in_dir(folder) as d, contextlib.closing(FolderLocks(d, folder)) as locks:
                for gi, (lock_rel, acts) in enumerate(lock_groups):
                    if (why := ctx.out_of_time()) is not None:
                        # a safe point between two transcripts: the rest stay in place,
                        # unreferenced (the store edits are done); `sessionctl archive`
                        # collects them later
                        stopped = why
                        _leave_in_place(lock_groups[gi:], why)
                        break
                    target_s = os.path.join(sd_s, lock_rel)
                    own_folder = os.path.dirname(target_s) == folder_s
                    held = locks.try_acquire(os.path.basename(target_s) + ".lock") if own_folder else None
                    fast = held is not None
                    if held is None:  # taken (or elsewhere): the full protocol, waiting, stale checks
                        try:
                            held = acquire(
                                Path(target_s),
                                timeout_s=min(lock_timeout_s, 5.0),
                                stale_ms=TRANSCRIPT_LOCK_STALE_MS,
                            )
                        except SessionctlError as exc:
                            for a in acts:
                                skip(a, f"transcript lock: {exc.message}")
                            continue
                    try:
                        run.at(f"archiving {acts[0]['from']}", os.path.join(sd_s, acts[0]["from"]))
                        for a in acts:
                            fault_point("gc.archive")
                            src, dst = os.path.join(sd_s, a["from"]), os.path.join(sd_s, a["to"])
                            src_dir, src_name = os.path.split(src)
                            dst_dir, dst_name = os.path.split(dst)
                            if src_dir != folder_s or dst_dir != folder_s:
                                skip(a, "not in the folder of its transcript")
                            elif not _exists_at(d, src_name):
                                skip(a, "the file no longer exists")
                            elif _exists_at(d, dst_name):
                                skip(a, "the archive name exists already")
                            else:
                                try:
                                    os.rename(src_name, dst_name, src_dir_fd=d, dst_dir_fd=d)
                                except OSError as exc:
                                    raise named(exc, Path(src)) from None
                                folders.setdefault(folder, []).append(a)
                    finally:
                        if fast:
                            held.release_at(d)
                        else:
                            held.release()
    finally:
        # `applied` once the folder holding the new names is durable (fsynced): one
        # fsync per folder after its batch of renames, before the journal's status says
        # so (a crash before it leaves them `planned`: undo state-checks each one)
        for folder in sorted(folders):
            fsync_dir(folder)
            for a in folders[folder]:
                a["state"] = "applied"


def _leave_in_place(lock_groups: list[tuple[str, list[JournalAction]]], why: str) -> None:
    for _lock_rel, acts in lock_groups:
        for a in acts:
            skip(a, f"{why}; left in place (sessionctl archive collects it)")


def _exists_at(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def apply_purges(run: Run, purges: list[JournalAction]) -> None:

    for a in purges:
        if a["type"] == "file.move":
            apply_move(run, a)
        else:
            apply_delete(run, a)


def apply_binding_edits(
    run: Run, acts: list[JournalAction], edits: list[BindingEdit], removed: set[tuple[str, str]]
) -> None:
    """Rewrite binding files. Bindings planned to go with a session whose removal was
    skipped stay; the journal is re-written with the narrowed edit before any change."""

    by_path = {state_rel(run.state_dir, e.path, resolve=False): e for e in edits}
    narrowed = False
    for a in acts:
        e = by_path[a["path"]]
        if _narrow_binding_edit(e, removed):
            narrowed = True
            a["removed_bindings"] = e.removed
            if e.drops:
                a["after_sha256"] = _sha(e.data)
            else:
                skip(a, "their sessions were not removed")
    if narrowed:
        run.commit_journal()
    for a in acts:
        if a.get("state") == "skipped":
            continue
        e = by_path[a["path"]]
        if not os.path.lexists(e.path):
            skip(a, "file no longer exists")
            continue
        apply_rewrite(run, a, e.data)


# ---------------------------------------------------------------- the command's core


def run_gc(
    ctx: RunContext,
    policy: Policy,
    *,
    openclaw: str | None = None,
    sqlite_delete: bool = False,
    **opts: Unpack[RunArgs],
) -> GcOutcome:
    """Plan (and unless `dry_run`, apply) gc. Raises BusyError (75), DataError (65, incl.
    a store that does not parse), CantCreateError/IOFailure, Unavailable (69: SQLite-era changes that only
    OpenClaw can make, when it cannot); never leaves a half-applied store."""

    sq = SqliteGc(ctx, openclaw=openclaw, delete_all=sqlite_delete)
    o = RunOptions(**opts)
    if o.dry_run:
        with gc_paused():
            return _plan_only(ctx, policy, sq=sq)

    ctx.require_openclaw_config()
    with exclusive(ctx, lock_timeout_s=o.lock_timeout_s):
        # a SQLite-era gateway never reads or writes a sessions.json: file-era stores may be
        # edited under it (and the SQLite part needs it running)
        gws = refuse_if_gateway_running(ctx.state_dir, force_online=o.force_online, allow_sqlite_era=True)
        with gc_paused():
            out = _plan_only(ctx, policy, gateways=[g.describe() for g in gws], sq=sq, gws=gws)
        if not out.actions:
            out.logs.append(("info", "nothing to do: no session exceeds the policy"))
            _prune(ctx, policy, out, o.backup_dir, protect=None)
            return out
        sq_acts = [a for a in out.actions if a["type"].startswith("sqlite.")]
        exe: Path | None = None
        if sq_acts:
            exe, err = sq.preflight()
            if err is not None:
                if len(sq_acts) == len(out.actions):
                    raise err  # nothing else to do: no run folder for a run that changes nothing
                out.errors.append(err)
                for a in sq_acts:
                    skip(a, err.message)
        _apply(ctx, out, o, openclaw=exe)
        return out


def _plan_only(
    ctx: RunContext,
    policy: Policy,
    gateways: list[str] | None = None,
    sq: SqliteGc | None = None,
    gws: list[Gateway] | None = None,
) -> GcOutcome:

    plan = GcPlan(policy, ctx.now_ms)
    out = GcOutcome(plan=plan, dry_run=True, gateways=gateways or [], sqlite=sq)
    stores = select_stores(ctx, out)
    snaps = read_snapshots(ctx, stores)
    sq_snaps = sq.read(out.skipped_agents, policy) if sq is not None else []
    locks = collect_transcript_locks(snaps)
    # what the agents outside the scope (--agent) keep in use in these folders
    foreign, unknown = foreign_references(ctx, {str(s.store.store_path) for s in snaps})
    era = None
    if policy.defuse is not None:
        out.era = detect_era(ctx.state_dir, gws)
        era = file_era(out.era)
    out.plan = plan_gc(
        [*snaps, *sq_snaps],
        policy,
        ctx.now_ms,
        transcript_locks=locks,
        foreign_refs=foreign,
        resume_era=era,
    )
    for ap in out.plan.agents:
        if ap.refused:
            out.logs.append(("warning", ap.refused))
    if unknown:
        for ap in out.plan.agents:
            ap.kept_referenced.extend(f.path.name for f in ap.files)
            ap.files = []
        out.logs.append(
            (
                "warning",
                f"the store of {', '.join(unknown)} cannot be read, so which files its entries use is "
                "unknown: no file is archived this run (the expired entries still go)",
            )
        )
    out.snaps = snaps
    edits = plan_bindings(ctx, out.plan, snaps, out)
    out.binding_edits = edits
    # the whole entries of the defused sessions (the plan read them slim)
    by_agent = {s.agent_id: s for s in snaps}
    for ap in out.plan.agents:
        snap = by_agent.get(ap.agent)
        if snap is None or not ap.defused:
            continue
        got, exact = whole_entries(snap, [r.key for r in ap.defused])
        out.whole.update(((ap.agent, k), v) for k, v in got.items())
        if not exact:
            out.inexact.add(ap.agent)
    out.actions = build_actions(ctx, out.plan, snaps, edits, archive_stamp_ms=now_ms(), whole=out.whole)
    if sq is not None:
        out.actions.extend(sq.build_actions(out.plan))
    for a in out.actions:
        a.setdefault("state", "planned")
    for snap in snaps:
        if snap.load.data is not None and not snap.load.canonical:
            out.logs.append(("info", f"{snap.store.store_path} is not in OpenClaw's own formatting"))
    return out


def _apply(ctx: RunContext, out: GcOutcome, o: RunOptions, *, openclaw: Path | None = None) -> None:
    """The plan of `out` as one journaled run (execute.run_journaled, after a wait for
    each store lock it touches): record (GcRun.record), then the apply phases in order —
    the store edits, the archives, the purges, the binding files, the SQLite-era agents."""
    out.dry_run = False
    gc_run = GcRun(ctx, out, lock_timeout_s=o.lock_timeout_s, openclaw=openclaw)
    run = run_journaled(
        ctx,
        "gc",
        RunSteps(
            gc_run.record, gc_run.apply, summary=lambda run: out.summary(), before_apply="gc.before_apply"
        ),
        stores=touched_stores(ctx.state_dir, out.actions),
        lock_timeout_s=o.lock_timeout_s,
        backup_dir=o.backup_dir,
        argv=o.argv,
        started=out.started,
    )
    _prune(ctx, out.plan.policy, out, o.backup_dir, protect=run.run_id)


class GcRun:
    """gc's steps inside its journaled run. What one phase leaves for the next — the
    actions of each store, each store's backup — lives here for the run only; the
    stores are edited one at a time (the whole entries of one store at most are held)."""

    def __init__(
        self, ctx: RunContext, out: GcOutcome, *, lock_timeout_s: float, openclaw: Path | None
    ) -> None:
        self.ctx, self.out, self.lock_timeout_s, self.openclaw = ctx, out, lock_timeout_s, openclaw
        self.by_agent = {s.agent_id: s for s in out.snaps}
        self.actions: list[JournalAction] = []
        self.by_store: dict[str, list[JournalAction]] = {}
        self.backups: dict[str, str | None] = {}
        self.live_sq: list[JournalAction] = []

    def record(self, run: Run) -> None:
        """The actions (archive names by the wall clock: OpenClaw ages archives by the
        stamp in the name), then what they need before the journal: the SQLite online
        backups, each touched store (a backup with the very bytes the plan read lets
        the journal refer to it for every removed entry, `entry_in` — otherwise the
        entries are copied from it), the prompt blobs of removed entries, the binding
        files to be rewritten."""
        ctx, out = self.ctx, self.out
        actions = build_actions(
            ctx, out.plan, out.snaps, out.binding_edits, archive_stamp_ms=now_ms(), whole=out.whole
        )
        sq_acts = [dict(a) for a in out.actions if a["type"].startswith("sqlite.")]
        actions.extend(sq_acts)
        for a in actions:
            run.add(a)
        self.actions = actions
        self.live_sq = (
            [a for a in sq_acts if a.get("state") == "planned"] if self.openclaw is not None else []
        )
        if self.live_sq and out.sqlite is not None:
            out.sqlite.backup(run, self.live_sq)  # SQLite online backup of each database, first
        out.actions = run.actions
        store_acts = [a for a in actions if a["type"] in ("store.remove", "store.set")]
        for a in store_acts:
            self.by_store.setdefault(a["store"], []).append(a)
        for rel, acts in self.by_store.items():
            snap = self.by_agent[acts[0]["agent"]]
            bk = run.backup_file(ctx.state_dir / rel, kind="store", expect_sha256=snap.load.sha256)
            self.backups[rel] = bk
            if bk is not None and bk in run.same_as_planned:
                for a in acts:
                    if a["type"] == "store.remove":
                        a["entry_in"] = bk
            else:
                _entries_from_backup(run, snap, acts, bk, check=True)
        for agent in sorted({a["agent"] for a in store_acts if a["type"] == "store.remove"}):
            snap = self.by_agent[agent]
            refs = snap.load.prompt_refs or {}
            gone_refs = [
                prompt_ref(a["entry"]) if "entry" in a else refs.get(a["key"])
                for a in store_acts
                if a["agent"] == agent and a["type"] == "store.remove" and a.get("state") == "planned"
            ]
            for blob in prompt_ref_paths(gone_refs, snap.store.sessions_dir):
                run.backup_file(blob, kind="prompt_blob")
        for a in self.of_type("file.rewrite"):
            a["backup"] = run.backup_file(ctx.state_dir / a["path"], kind="binding")
        ctx.checkpoint()  # the last safe point before a change: the half-made run is discarded

    def of_type(self, *types: str) -> list[JournalAction]:
        return [a for a in self.actions if a["type"] in types]

    def apply(self, run: Run) -> None:
        """The phases, in order; the backups the run holds go into the outcome."""
        self.edit_stores(run)
        self.archive(run)
        apply_purges(run, self.of_type("file.move", "file.delete"))
        self.rewrite_bindings(run)
        if self.live_sq and self.out.sqlite is not None and self.openclaw is not None:
            self.out.sqlite.apply(run, self.live_sq, self.openclaw)
        self.out.backups = list(run.backups)

    def edit_stores(self, run: Run) -> None:
        """Each store in one short critical section (_apply_store); a store that stays
        busy is left as it is (its sessions stay, and so do their files), the rest goes on."""
        out, steps = self.out, len(self.by_store) + 1
        for i, (rel, acts) in enumerate(self.by_store.items()):
            self.ctx.tick(f"editing store {rel}", i, steps)
            snap = self.by_agent[acts[0]["agent"]]
            try:
                held = _apply_store(
                    run,
                    snap,
                    acts,
                    self.backups[rel],
                    exact=snap.agent_id not in out.inexact,
                    lock_timeout_s=self.lock_timeout_s,
                )
            except BusyError as exc:
                for a in acts:
                    if a.get("state") == "planned":
                        skip(a, f"store busy: {exc.message}")
                out.errors.append(exc)
                continue
            out.lock_held_ms = max(out.lock_held_ms, held)

    def archive(self, run: Run) -> None:
        renames = self.of_type("file.rename")
        steps = len(self.by_store) + 1
        self.ctx.tick(f"archiving {len(renames)} file(s)", steps - 1, steps)
        apply_renames(self.ctx, run, renames, self.out.snaps, lock_timeout_s=self.lock_timeout_s)

    def rewrite_bindings(self, run: Run) -> None:
        """The binding files, narrowed to the sessions whose removal was applied."""
        removed = {
            (a["agent"], a["key"].strip().lower())
            for acts in self.by_store.values()
            for a in acts
            if a["type"] == "store.remove" and a.get("state") == "applied"
        }
        apply_binding_edits(run, self.of_type("file.rewrite"), self.out.binding_edits, removed)


def _entries_from_backup(
    run: Run, snap: AgentSnapshot, acts: list[JournalAction], bk: str | None, *, check: bool
) -> None:
    """Give each planned store action of one store the whole entry it acts on, from the
    store's backup in this run (parsed whole: this store only). With `check` (the backup
    is not the bytes the plan read — the store changed in between), an entry whose
    planned view changed is skipped, as is every action when the store is gone."""
    live = [a for a in acts if a.get("state") == "planned"]
    if not live:
        return
    data: JsonObj | None = None
    if bk is not None:
        try:
            with gc_paused():
                _status, data, _err = parse_store_bytes(read_backup(run.dir / bk))
        except OSError:
            data = None
    if data is None:
        for a in live:
            skip(a, "the store could not be read again before the edit")
        return
    for a in live:
        present = a["key"] in data
        cur = data.get(a["key"])
        if a["type"] == "store.remove":
            if not present or (check and not same_as_planned(snap, a["key"], cur)):
                skip(a, "entry changed or removed since planning")
            else:
                a["entry"] = cur
        elif check and (not present or not entries_equal(cur, a.get("before"))):
            skip(a, "entry changed since planning")
    del data


def _apply_store(
    run: Run,
    snap: AgentSnapshot,
    acts: list[JournalAction],
    bk: str | None,
    *,
    exact: bool,
    lock_timeout_s: float,
) -> int:
    """One store's edit, in one short critical section; returns ms the lock was held.

    The common case — the store still has the bytes the plan read and backed up, in
    OpenClaw's own formatting — needs no parse at all: the new store is spliced from
    slices of those bytes (store.spliced_store: removed members left out, defused ones
    serialised), written to a temp file before the lock, and renamed over the store
    under sessions.json.lock if its bytes are still exactly those. Anything else (the
    gateway wrote since the backup, another layout) goes the general way
    (actions.apply_store_actions: the store parsed, each action re-validated against
    the whole entry the journal holds, taken from the backup)."""
    live = [a for a in acts if a.get("state") == "planned"]
    if not live:
        return 0
    path = snap.store.store_path
    data = snap.load.data
    base: tuple[bytes, JsonObj | None, bool] | None = None  # the general way prepares its edit
    if exact and snap.load.canonical and data is not None and bk is not None and bk in run.same_as_planned:
        run.at(f"editing the store {acts[0]['store']}", path)
        tmp = None
        try:
            raw = read_bytes(path)
            if hashlib.sha256(raw).hexdigest() == snap.load.sha256:
                spans = member_spans(raw, list(data))
                if spans is not None:
                    new = dict(data)
                    for a in live:
                        if a["type"] == "store.remove":
                            new.pop(a["key"], None)
                        else:
                            new[a["key"]] = a["after"]
                    tmp = write_temp(
                        path, spliced_store(raw, spans, data, new), mode=0o600, tmp_name=store_tmp_name(path)
                    )
                    del new, spans
        except OSError:
            # as the general way does when its prepared write fails: the edit is made
            # (and a failure reported) under the lock, not prepared a second time
            tmp, base = None, (b"", None, False)
        try:
            if tmp is not None:
                with locked_store(path, timeout_s=lock_timeout_s) as (held, cur):
                    if cur == raw:
                        commit_temp(tmp, path)
                        tmp = None
                        for a in live:
                            a.pop("note", None)
                            a["state"] = "applied"
                        return held.held_ms()
                    del cur
                    base = (b"", None, False)  # the gateway wrote since: edit what is there, under the lock
        finally:
            if tmp is not None:
                remove_temp(tmp)
        raw = b""
    # the general way: the whole entries from the backup, the edit re-validated under the lock
    _entries_from_backup(
        run, snap, [a for a in live if "entry" not in a and a["type"] == "store.remove"], bk, check=False
    )
    live = [a for a in live if a.get("state") == "planned"]
    if not live:
        return 0
    return apply_store_actions(run, path, live, base=base, lock_timeout_s=lock_timeout_s)


def _prune(
    ctx: RunContext, policy: Policy, out: GcOutcome, backup_dir: str | None, protect: str | None
) -> None:
    if policy.keep_runs is None and policy.keep_within is None:
        return

    out.pruned_runs = prune_runs(
        ctx.state_dir,
        keep_runs=policy.keep_runs,
        keep_within_ms=policy.keep_within.ms if policy.keep_within else None,
        now=wall_ms(),  # run folders are aged by the wall clock, like their ids
        backup_dir=backup_dir,
        protect=protect,
    )


def _agent_summary(ap: AgentPlan) -> JsonObj:
    exp = ap.expired
    return {
        "entries": len(ap.decisions),
        "in_scope": sum(1 for d in ap.decisions if d.in_scope),
        "kept": len(ap.decisions) - len(exp),
        "expired": len(exp),
        "expired_by_rule": dict(Counter(d.rule or "?" for d in exp)),
        "protected": sum(1 for d in ap.decisions if d.protected),
        "protected_would_expire": sum(1 for d in ap.decisions if d.protected and d.reasons),
        "skipped": 0,
        "archived_files": 0,
        "archived_bytes": 0,
        "archive_skipped": 0,
        "files_still_referenced": len(ap.kept_referenced),
        "archives_purged": 0,
        "archives_purged_bytes": 0,
        "refused": ap.refused,
        "would_expire": len(ap.would_expire),
        "resume_set": len(ap.defuse),
        "defused": 0,
        "defuse_skipped": 0,
    }
