"""repair: fix what health finds broken — damaged stores, damaged transcripts, unsafe
entries, stale locks and leftovers.

Repair is (1) a plan made from a snapshot of the state dir, (2) either rendered
(`--dry-run`, nothing changes) or (3) executed as a run by the engine repair, archive
and dedupe share (sessionctl.execute). Undo reverses the run from its journal.

Parts of repair (`--only`):

- store: an empty / unparseable / non-object sessions.json is replaced (store.replace,
  under sessions.json.lock, only while it is still byte-identical to what was planned
  on) by the newest sessionctl run backup of that store that parses and holds at least
  one entry (`--from RUN_ID` to choose), or, with `--salvage`, by every complete entry
  recovered from the damaged text (sessionctl.salvage). Never by `{}`: when neither
  yields an entry, the store is refused (exit 65) and left alone. The damaged bytes are
  backed up into the run first.
- transcripts: a truncated tail is cut back to the last complete line, or, when the
  unterminated last line is a complete JSON object, terminated with "\\n" (nothing is
  lost); `--drop-bad-lines` removes unparseable middle lines; each as one file.rewrite
  under the transcript's lock with the whole original backed up. A transcript whose
  header is invalid (OpenClaw would replace the file) is quarantined by renaming it to
  `<file>.bak.<stamp>`; its entries are reported, and with `--reset-entries` removed.
- entries: non-object entries, unsafe sessionIds and sessionFiles resolving outside the
  sessions folder are removed (store.remove keeps them in the journal); `--merge-case`
  merges keys that differ only by case, as OpenClaw does (highest updatedAt wins).
- locks: `.lock` files stale by the gateway's rules (locks.inspect_lock; 30 s for
  sessions.json.lock, 30 min for transcript locks) are moved into the run; live ones
  are never touched.
- leftovers: store temp files and OpenClaw's own transcript-repair leftovers
  (`.bak-<pid>-<ms>`, `.repair-<pid>-<ms>.tmp`) older than 5 minutes are moved into the
  run.

No run leaves a store with no entries when it had some (OpenClaw cannot tell that from
a lost store): such removals are refused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sessionctl.action_types import StoreRemove
from sessionctl.actions import rewrite_edit
from sessionctl.archive import AgentFacts, Decided, agent_facts, move_file_into_run
from sessionctl.context import RunContext
from sessionctl.discovery import AgentStore
from sessionctl.errors import DataError
from sessionctl.execute import DEFAULT_LOCK_TIMEOUT_S, Outcome, Plan, run_plan
from sessionctl.fsio import read_bytes, sha256_bytes
from sessionctl.locks import STORE_LOCK_STALE_MS, TRANSCRIPT_LOCK_STALE_MS, LockStatus, inspect_lock
from sessionctl.runs import list_runs, read_backup, read_run
from sessionctl.salvage import salvage_store
from sessionctl.snapshot import (
    AgentSnapshot,
    EntryView,
    build_references,
    scan_transcripts,
    session_files,
    snapshot_agent,
)
from sessionctl.store import num, parse_store_bytes, serialize_store, session_id_unsafe
from sessionctl.timeutil import format_duration, now_ms
from sessionctl.transcripts import FileInfo, TranscriptFacts, js_line, read_facts, unique_archive_path

PARTS = ("store", "transcripts", "entries", "locks", "leftovers")
LEFTOVER_AGE_MS = 5 * 60_000
SCAN_CHUNK = 2048  # transcripts scanned between two safe points of the plan
TRANSCRIPT_FILE_KINDS = ("transcript", "topic", "fork")
DAMAGED = ("empty", "unparseable", "not_object")

# repair's `check` ids → the health check id (docs/health.md) of the finding each item
# resolves (actions) or concerns (problems, kept); None where health has no such check.
# Both vocabularies are public contracts and are never renamed; this is the one place
# they meet (reported as `finding` next to `check`; documented in docs/repair.md).
REPAIR_TO_HEALTH: dict[str, str | None] = {
    # actions
    "store.empty": "store.empty_file",
    "store.unparseable": "store.unparseable",
    "store.not_object": "store.not_object",
    "transcript.truncated_tail": "transcript.truncated_tail",
    "transcript.bad_lines": "transcript.bad_line",
    "transcript.bad_header": "transcript.header_invalid",
    "entry.reset": None,  # follows a quarantine; health reports nothing about the entry itself
    "entry.not_object": "entry.invalid_shape",
    "entry.unsafe_session_id": "entry.invalid_shape",
    "entry.session_file_outside": "entry.session_file_outside",
    "entry.mixed_case_key": "entry.key_not_lowercase",
    "lock.stale": "lock.stale",
    "leftover.store_tmp": "tmp.stale",
    "leftover.repair": "tmp.stale",
    # problems (also `store.<status>` above: entries not checked because the store is damaged)
    "transcript.quarantined_entry": None,
    "transcript.unreadable": "transcript.unreadable",
    "transcript.unrepairable": "transcript.truncated_tail",  # only cutting a tail can empty a file
    "store.would_be_empty": None,
    # kept
    "lock.held": "lock.held",
    "leftover.young": None,  # health reports temp files only once they are stale
    "transcript.empty": "transcript.empty",
    "store.sqlite_era": "store.legacy_pending_migration",  # reported while a sessions.json is left
}


# ---------------------------------------------------------------- repair planning


@dataclass
class RepairOptions:
    only: tuple[str, ...] = PARTS
    salvage: bool = False
    from_run: str | None = None
    drop_bad_lines: bool = False
    reset_entries: bool = False
    merge_case: bool = False
    backup_dir: str | None = None
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S  # --lock-timeout


@dataclass
class BackupCandidate:
    run_id: str
    started_at: str | None
    path: Path
    data: bytes
    entries: int

    def to_json(self) -> dict[str, str | int | None]:
        return {"run_id": self.run_id, "started_at": self.started_at, "entries": self.entries}


def store_backups(
    ctx: RunContext, store_rel: str, backup_dir: str | None, only_run: str | None = None
) -> tuple[list[BackupCandidate], list[str]]:
    """sessionctl run backups of one store that parse and hold at least one entry,
    newest first, and notes on the ones that do not qualify."""

    # only this state dir's runs: a shared --backup-dir holds other state dirs' backups too
    runs = (
        [read_run(ctx.state_dir, only_run, backup_dir, arg="--from")]
        if only_run
        else list_runs(ctx.state_dir, backup_dir, own_only=True)
    )
    out: list[BackupCandidate] = []
    notes: list[str] = []
    for info in reversed(runs):
        j = info.journal or {}
        for b in j.get("backups", []):
            if not isinstance(b, dict) or b.get("path") != store_rel or b.get("kind") != "store":
                continue
            rel = b.get("backup")
            parts = rel.split("/") if isinstance(rel, str) else []
            if not isinstance(rel, str) or parts[0] != "backup" or any(p in ("", ".", "..") for p in parts):
                notes.append(f"run {info.run_id}: its journal names a backup outside the run ({rel!r})")
                continue
            path = info.dir / rel
            try:
                data = read_backup(path)  # compressed, or plain (runs made before)
            except OSError as exc:
                notes.append(f"run {info.run_id}: backup unreadable ({exc.strerror or exc})")
                continue
            status, parsed, err = parse_store_bytes(data)
            if status != "ok" or parsed is None:
                notes.append(f"run {info.run_id}: backup does not parse ({err})")
                continue
            if not parsed:
                notes.append(f"run {info.run_id}: backup holds no entries")
                continue
            out.append(BackupCandidate(info.run_id, j.get("started_at"), path, data, len(parsed)))
    return out, notes


def _plan_store(opts: RepairOptions, plan: Plan, facts: RepairAgentFacts, af: AgentFacts) -> None:
    snap = af.snap
    load = snap.load
    agent = snap.agent_id
    if load.status in ("ok", "missing"):
        return
    rel = af.store()
    if load.status == "unreadable" or load.raw is None:
        plan.refusals.append(
            DataError(
                f"{rel}: {load.error}; sessionctl cannot read it, so it will not replace it",
                path=rel,
                hint="fix its type or permissions by hand (it must be a regular file owned by the gateway's user)",
            )
        )
        return
    raw = load.raw
    backups, notes = list(facts.backups), list(facts.backup_notes)
    salvage = salvage_store(raw)
    detail: dict[str, object] = {
        "agent": agent,
        "store": rel,
        "status": load.status,
        "error": load.error,
        "bytes": len(raw),
        "backups": [b.to_json() for b in backups],
        "backup_notes": notes,
        "salvage": salvage.to_json(),
        "chosen": None,
    }
    plan.details.setdefault("stores", []).append(detail)
    fix = f"sessionctl repair --only store --agent {agent}"
    chosen: str | None = None
    new: bytes | None = None
    entries = 0
    origin_run: str | None = None
    if opts.from_run:
        if backups:
            b = backups[0]
            chosen, new, entries, origin_run = "backup", b.data, b.entries, b.run_id
        else:
            why = "; ".join(notes) or f"run {opts.from_run} holds no backup of {rel}"
            plan.refusals.append(
                DataError(
                    f"{rel} is {load.status}: --from {opts.from_run} cannot restore it ({why})",
                    path=rel,
                    hint="list runs with `sessionctl runs`, or try "
                    f"`{fix} --salvage --dry-run` to see what can be recovered from the damaged file",
                )
            )
            return
    elif opts.salvage:
        if salvage.recovered:
            chosen, entries = "salvage", salvage.recovered
            new = serialize_store(salvage.entries)
        else:
            alt = (
                f"; a backup from run {backups[0].run_id} exists: run `{fix}` without --salvage"
                if backups
                else ""
            )
            plan.refusals.append(
                DataError(
                    f"{rel} is {load.status} and no complete entry could be recovered from it{alt}",
                    path=rel,
                    hint=None
                    if backups
                    else "nothing was written; stop the gateway and restore sessions.json from your own backup",
                )
            )
            return
    elif backups:
        b = backups[0]
        chosen, new, entries, origin_run = "backup", b.data, b.entries, b.run_id
    else:
        more = (
            f"; `--salvage` would recover {salvage.recovered} entries ({salvage.lost} lost)"
            if salvage.recovered
            else "; no complete entry can be recovered from it either"
        )
        plan.refusals.append(
            DataError(
                f"{rel} is {load.status} ({load.error}) and sessionctl has no backup of it{more}",
                path=rel,
                hint=f"run `{fix} --salvage`"
                if salvage.recovered
                else "nothing was written; stop the gateway before it overwrites the store and "
                "restore sessions.json from your own backup",
            )
        )
        return
    assert new is not None
    detail["chosen"] = chosen
    what = (
        f"restore {rel} from the backup of run {origin_run} ({entries} entries)"
        if chosen == "backup"
        else f"rebuild {rel} from {salvage.recovered} salvaged entries ({salvage.lost} lost)"
    )
    plan.add(
        {
            "type": "store.replace",
            "agent": agent,
            "store": rel,
            "before_sha256": sha256_bytes(raw),
            "after_sha256": sha256_bytes(new),
            "origin": chosen,
            "from_run": origin_run,
            "entries": entries,
            "check": f"store.{load.status}",
            "what": what,
            "reason": f"sessions.json is {load.status}: {load.error}",
        },
        payload=new,
    )


def _action(a: StoreRemove) -> dict[str, object]:
    """A typed action as the plan holds it (a journal-ready JSON object)."""
    return dict(a)


def _remove_action(
    af: AgentFacts, ev: EntryView, check: str, reason: str, what: str | None = None
) -> StoreRemove:
    snap = af.snap
    return {
        "type": "store.remove",
        "agent": snap.agent_id,
        "store": af.store(),
        "key": ev.key,
        "entry": ev.entry,
        "check": check,
        "what": what or f"remove {ev.key!r} from {snap.agent_id}'s store",
        "reason": reason,
    }


def _plan_entries(opts: RepairOptions, plan: Plan, af: AgentFacts) -> None:
    snap = af.snap
    if snap.load.data is None:
        return
    removed: set[str] = set()
    for ev in snap.entries:
        check: str | None = None
        if not isinstance(ev.entry, dict):
            check, reason = (
                "entry.not_object",
                f"{ev.shape_problem}; OpenClaw drops it when it loads the store",
            )
        elif (why := session_id_unsafe(ev.entry.get("sessionId"))) is not None:
            check, reason = (
                "entry.unsafe_session_id",
                f"{why}; OpenClaw drops it, sessionctl never follows it",
            )
        elif ev.ref.outside is not None:
            check = "entry.session_file_outside"
            reason = f"sessionFile {ev.ref.outside!r} resolves outside the sessions folder (never followed)"
        if check is not None:
            plan.add(_action(_remove_action(af, ev, check, reason)))
            removed.add(ev.key)
    if opts.merge_case:
        _plan_merge_case(plan, af, removed)


def _merge_rank(m: tuple[int, EntryView], canon: str) -> tuple[int, int, int]:
    """Highest updatedAt wins; on a tie the lowercased key, then the first in the file."""
    pos, ev = m
    ua = num(ev.obj.get("updatedAt"))
    return (ua if ua is not None else -(2**62), 1 if ev.key == canon else 0, -pos)


def _plan_merge_case(plan: Plan, af: AgentFacts, removed: set[str]) -> None:
    """Keys differing only by case (or surrounding blanks): OpenClaw keeps the one with
    the highest updatedAt under the lowercased key and deletes the others."""
    snap = af.snap
    groups: dict[str, list[tuple[int, EntryView]]] = {}
    for pos, ev in enumerate(snap.entries):
        if ev.key in removed or not isinstance(ev.entry, dict):
            continue
        groups.setdefault(ev.key.strip().lower(), []).append((pos, ev))
    store_rel = af.store()
    for canon, members in groups.items():
        if len(members) == 1 and members[0][1].key == canon:
            continue

        winner = max(members, key=functools.partial(_merge_rank, canon=canon))[1]
        existing = next((ev for _p, ev in members if ev.key == canon), None)
        keys = [ev.key for _p, ev in members]
        reason = (
            f"keys {', '.join(repr(k) for k in keys)} are one session to OpenClaw; the highest updatedAt wins"
        )
        if winner.key != canon:
            plan.add(
                {
                    "type": "store.set",
                    "agent": snap.agent_id,
                    "store": store_rel,
                    "key": canon,
                    "before": existing.entry if existing is not None else None,
                    "after": winner.entry,
                    "check": "entry.mixed_case_key",
                    "what": f"keep {winner.key!r} as {canon!r}",
                    "reason": reason,
                }
            )
        for _p, ev in members:
            if ev.key == canon:
                continue
            plan.add(
                _action(
                    _remove_action(
                        af,
                        ev,
                        "entry.mixed_case_key",
                        reason,
                        what=f"remove {ev.key!r} (merged into {canon!r})",
                    )
                )
            )


def _tail_fix(data: bytes) -> tuple[str | None, int]:
    """How to fix an unterminated last line: ("newline", 0) when it is a complete JSON
    object, ("cut", n) to drop its n bytes, (None, 0) when the file ends with "\\n"."""
    if not data or data.endswith(b"\n"):
        return None, 0

    partial = data[data.rfind(b"\n") + 1 :]
    # as OpenClaw reads it (JSON.parse semantics): a line it can read is terminated, never cut
    obj = js_line(partial, first=len(partial) == len(data), last=True)
    if isinstance(obj, dict):
        return "newline", 0
    return "cut", len(partial)


def entries_by_file(snap: AgentSnapshot) -> dict[str, list[EntryView]]:
    """File name → the entries whose transcript is that file of the agent's sessions
    folder (one pass over the entries, not one per file)."""
    sdir = str(snap.store.sessions_dir)
    out: dict[str, list[EntryView]] = {}
    for ev in snap.entries:
        p = ev.ref.path
        if p is not None and str(p.parent) == sdir:
            out.setdefault(p.name, []).append(ev)
    return out


def _plan_transcripts(
    opts: RepairOptions, plan: Plan, facts: RepairAgentFacts, af: AgentFacts, wall: int, taken: set[str]
) -> None:
    snap = af.snap
    agent = snap.agent_id
    sdir = snap.store.sessions_dir
    fix = f"sessionctl repair --only transcripts --agent {agent}"
    by_file = facts.by_file
    quarantined: set[str] = set()
    reset: list[EntryView] = []
    for fi, tf in facts.scanned:
        if (
            tf.error is None
            and tf.size
            and tf.header_ok
            and tf.ends_with_newline
            and not (opts.drop_bad_lines and tf.bad_lines)
        ):
            continue  # nothing to repair (most files)
        rel = af.rel(fi.name)
        if tf.error:
            plan.problem("transcript.unreadable", "warning", agent, f"{fi.name}: {tf.error}", path=rel)
            continue
        if tf.size == 0:
            plan.keep(
                "transcript.empty", agent, rel, "empty file: OpenClaw writes a fresh header, nothing to keep"
            )
            continue
        users = by_file.get(fi.name, [])
        if not tf.header_ok:
            dst = Path(unique_archive_path(sdir / fi.name, "bak", wall, taken, af.free)).name
            keys = [ev.key for ev in users]
            plan.add(
                {
                    "type": "file.rename",
                    "agent": agent,
                    "from": rel,
                    "to": af.rel(dst),
                    "keys": keys,
                    "offline": True,
                    "check": "transcript.bad_header",
                    "what": f"quarantine {fi.name} as {dst}",
                    "reason": f"{tf.header_problem}; OpenClaw would replace the file with a fresh header",
                }
            )
            quarantined.add(fi.name)
            for ev in users:
                if opts.reset_entries and snap.load.data is not None:
                    reset.append(ev)
                    plan.add(
                        _action(
                            _remove_action(
                                af,
                                ev,
                                "entry.reset",
                                f"its transcript {fi.name} had an invalid header and was quarantined",
                                what=f"remove {ev.key!r} so its next message starts a clean session",
                            )
                        )
                    )
                else:
                    plan.problem(
                        "transcript.quarantined_entry",
                        "warning",
                        agent,
                        f"the transcript of {ev.key!r} is quarantined as {dst}; OpenClaw starts a new "
                        "transcript for it on the next message (history stays in the quarantined file)",
                        key=ev.key,
                        path=rel,
                        fix=f"{fix} --reset-entries",
                    )
            continue
        need_tail = not tf.ends_with_newline
        bad: list[int] = []
        if opts.drop_bad_lines:
            bad = list(tf.bad_lines or [])
        if not need_tail and not bad:
            continue
        rf = facts.contents.get(fi.name, "not read")
        if isinstance(rf, str):
            plan.problem("transcript.unreadable", "warning", agent, f"{fi.name}: {rf}", path=rel)
            continue
        tail, cut = rf.tail, rf.cut
        if tail is None and not bad:
            continue
        if not rf.after_bytes:
            plan.problem(
                "transcript.unrepairable",
                "warning",
                agent,
                f"{fi.name}: repairing it would leave an empty file; left alone",
                path=rel,
            )
            continue
        parts: list[str] = []
        reasons: list[str] = []
        if tail == "newline":
            parts.append("terminate its last line")
            reasons.append(
                "the last line is complete but lacks its final newline (the next append would be glued on)"
            )
        elif tail == "cut":
            parts.append(f"cut the {cut}-byte unterminated tail")
            reasons.append("the file ends in a truncated line")
        if bad:
            parts.append(f"drop {len(bad)} unparseable line(s) ({', '.join(map(str, bad[:10]))})")
            reasons.append("unparseable middle lines")
        edit: dict[str, object] = {}
        if tail is not None:
            edit["tail"] = tail
        if bad:
            edit["drop_lines"] = bad
        plan.add(
            {
                "type": "file.rewrite",
                "agent": agent,
                "path": rel,
                "edit": edit,
                "before_sha256": rf.before_sha256,
                "after_sha256": rf.after_sha256,
                "bytes_cut": max(rf.before_bytes - rf.after_bytes, 0),
                "lines_dropped": len(bad) or None,
                "keys": [ev.key for ev in users],
                "offline": True,
                "lock": rel,  # taken while rewriting; undo of a killed run removes it if left behind
                "check": "transcript.truncated_tail" if tail else "transcript.bad_lines",
                "what": f"{fi.name}: " + ", ".join(parts) + " (original kept in the run)",
                "reason": "; ".join(reasons),
            }
        )
    if reset:
        _plan_session_files(plan, af, reset, quarantined, wall, taken)


def _plan_session_files(
    plan: Plan,
    af: AgentFacts,
    gone: list[EntryView],
    skip: set[str],
    wall: int,
    taken: set[str],
) -> None:
    """Archive the other files of entries repair removes (their trajectory and ACP
    sidecars, checkpoints, topics: snapshot.session_files, as gc and dedupe do) when no
    remaining entry uses them, so the removal leaves no orphan behind."""

    snap = af.snap
    gone_keys = {ev.key for ev in gone}
    sdir = snap.store.sessions_dir
    remaining = build_references([ev for ev in snap.entries if ev.key not in gone_keys], sdir)
    files, _kept = session_files(snap, gone, remaining)
    store_rel = af.store()
    for name, owners in files.items():
        if name in skip:
            continue
        fi = snap.inventory.by_name[name]
        dst = Path(unique_archive_path(sdir / name, "deleted", wall, taken, af.free)).name
        plan.add(
            {
                "type": "file.rename",
                "agent": snap.agent_id,
                "from": af.rel(name),
                "to": af.rel(dst),
                "bytes": fi.size,
                "offline": True,
                "requires": [[store_rel, k] for k in owners],
                "check": "entry.reset",
                "what": f"archive {name} as {dst}",
                "reason": f"{fi.kind.replace('_', ' ')} of the removed {owners[0]!r}; no remaining entry uses it",
            }
        )


def _lock_stale_ms(fi: FileInfo) -> int:
    return STORE_LOCK_STALE_MS if fi.kind == "store_lock" else TRANSCRIPT_LOCK_STALE_MS


def _plan_locks(plan: Plan, facts: RepairAgentFacts, af: AgentFacts) -> None:
    agent = af.snap.agent_id
    for fi, st in facts.locks:
        stale_ms = _lock_stale_ms(fi)
        rel = af.rel(fi.name)
        if not st.exists:
            continue
        if not st.stale:
            plan.keep("lock.held", agent, rel, st.reason or "held", pid=st.pid)
            continue
        if st.raw is None:
            continue
        plan.add(
            {
                "type": "file.move",
                "agent": agent,
                "from": rel,
                "before_sha256": sha256_bytes(st.raw) if len(st.raw) < (64 << 10) else None,
                "check": "lock.stale",
                "what": f"move the stale lock {fi.name} into the run",
                "reason": f"stale by the gateway's rules ({format_duration(stale_ms)} for this lock): {st.reason}",
            }
        )


def _plan_leftovers(decided: Decided, af: AgentFacts, wall: int) -> None:
    plan = decided.plan
    agent = af.snap.agent_id
    for fi in sorted(af.snap.inventory.of_kind("store_tmp", "repair_leftover"), key=lambda f: f.name):
        rel = af.rel(fi.name)
        age = wall - fi.mtime_ms
        what = "store temp file" if fi.kind == "store_tmp" else "leftover of OpenClaw's transcript repair"
        if age < LEFTOVER_AGE_MS:
            plan.keep(
                "leftover.young",
                agent,
                rel,
                f"{what} modified {format_duration(max(age, 0))} ago (may still be in use; moved after 5min)",
            )
            continue
        check = "leftover.store_tmp" if fi.kind == "store_tmp" else "leftover.repair"
        move_file_into_run(
            decided,
            af,
            fi,
            check=check,
            what=f"move the {what} {fi.name} into the run",
            reason=f"untouched for {format_duration(age)}; OpenClaw never cleans it up",
        )


# ---------------------------------------------------------------- facts (read first)


@dataclass(frozen=True)
class RewriteFacts:
    """What repairing one transcript would make of it, worked out from its bytes when
    they were read (so one file's bytes at a time are in memory, as before): the fix of
    its unterminated last line (_tail_fix) and, after that fix and dropping `drop_lines`,
    the size and checksum of the result."""

    tail: str | None  # "newline" | "cut" | None (the file ends with "\n")
    cut: int  # bytes of the tail a "cut" drops
    before_bytes: int
    after_bytes: int
    before_sha256: str  # "" when there is nothing to rewrite (or nothing would be left)
    after_sha256: str


def rewrite_facts(data: bytes, drop_lines: list[int]) -> RewriteFacts:
    """The RewriteFacts of a transcript whose bytes are `data` (a pure function)."""
    tail, cut = _tail_fix(data)
    edit: dict[str, object] = {}
    if tail is not None:
        edit["tail"] = tail
    if drop_lines:
        edit["drop_lines"] = drop_lines
    if not edit:
        return RewriteFacts(None, 0, len(data), len(data), "", "")
    new = rewrite_edit(data, edit)
    if not new:
        return RewriteFacts(tail, cut, len(data), 0, "", "")
    return RewriteFacts(tail, cut, len(data), len(new), sha256_bytes(data), sha256_bytes(new))


@dataclass(frozen=True)
class RepairAgentFacts:
    """What repair decides one agent from, read before it decides."""

    store: AgentStore
    agent: AgentFacts | None = None  # None: a SQLite-era agent (reported, never touched)
    # the store part, on a damaged store: sessionctl's run backups of it that qualify
    # (newest first), and why the others do not
    backups: tuple[BackupCandidate, ...] = ()
    backup_notes: tuple[str, ...] = ()
    # the transcripts part: each transcript file with what the scanner read of it, the
    # entries that use each file (by name), and what a rewrite would make of each file a
    # repair may rewrite (or why its bytes could not be read)
    scanned: tuple[tuple[FileInfo, TranscriptFacts], ...] = ()
    by_file: Mapping[str, list[EntryView]] = field(default_factory=dict)
    contents: Mapping[str, RewriteFacts | str] = field(default_factory=dict)
    # the locks part: each lock file, judged by the gateway's rules (the wall clock, /proc)
    locks: tuple[tuple[FileInfo, LockStatus], ...] = ()


@dataclass(frozen=True)
class RepairFacts:
    """Everything plan_repair decides from: each agent's facts and the wall clock."""

    agents: tuple[RepairAgentFacts, ...]
    wall_ms: int


def _needs_content(tf: TranscriptFacts, opts: RepairOptions) -> bool:
    """A transcript that a repair may rewrite: readable, with a valid header, and an
    unterminated last line (or, with --drop-bad-lines, unparseable lines)."""
    return (
        tf.error is None
        and bool(tf.size)
        and tf.header_ok
        and (not tf.ends_with_newline or bool(opts.drop_bad_lines and tf.bad_lines))
    )


def _scan(
    ctx: RunContext, opts: RepairOptions, snap: AgentSnapshot, by_file: Mapping[str, list[EntryView]]
) -> tuple[tuple[FileInfo, TranscriptFacts], ...]:
    files = sorted(snap.inventory.of_kind(*TRANSCRIPT_FILE_KINDS), key=lambda f: f.name)
    # the scanner health uses: first line and tail of each file; every line with
    # --drop-bad-lines; in chunks, with a safe point (planning only reads) between them
    # a caller that runs gc next (prestart) keeps the facts: the files entries reference
    # are read with their last line (what gc needs), and gc reads them no more
    cache = ctx.facts_cache if not opts.drop_bad_lines else None
    scanned: list[TranscriptFacts] = []
    for at in range(0, len(files), SCAN_CHUNK):
        if at:
            ctx.checkpoint()
        part = files[at : at + SCAN_CHUNK]
        if cache is None:
            scanned += scan_transcripts(
                [fi.path for fi in part], [fi.size for fi in part], deep=opts.drop_bad_lines, last_line=False
            )
            continue
        for fi in part:
            whole = fi.name in by_file
            facts = read_facts(fi.path, last_line=whole)
            if whole:
                cache[fi.path_str] = facts
            scanned.append(facts)
    return tuple(zip(files, scanned, strict=True))


def read_repair_agent(ctx: RunContext, store: AgentStore, opts: RepairOptions) -> RepairAgentFacts | None:
    """Read what repair decides one agent from (None: no sessions folder, nothing to do):
    only what the parts of `opts.only` need, each file at most once."""
    if store.layout == "sqlite" or store.legacy_pending:
        return RepairAgentFacts(store)
    if not store.sessions_dir.is_dir():
        return None
    # entries are journaled verbatim only by the entries part (and a --reset-entries);
    # without it the slim parse will do — unless the store is damaged, when the store
    # part needs its bytes
    slim = "entries" not in opts.only and not opts.reset_entries
    # (prestart's plan read the store already: its slim load is reused while the file is unchanged)
    load = ctx.planned_load(store.store_path) if slim else None
    snap = snapshot_agent(
        store,
        ctx.state_dir,
        main_key=ctx.openclaw.main_key,
        read="none",
        slim=slim,
        load=load,
        # and its listing of the folder, while no name in it changed since
        inventory=ctx.planned_inventory(store.sessions_dir),
    )
    if slim and snap.load.status not in ("ok", "missing"):
        snap = snapshot_agent(store, ctx.state_dir, main_key=ctx.openclaw.main_key, read="none")
    af = agent_facts(ctx.state_dir, snap)
    locks: tuple[tuple[FileInfo, LockStatus], ...] = ()
    if "locks" in opts.only:
        locks = tuple(
            (fi, inspect_lock(fi.path, stale_ms=_lock_stale_ms(fi)))
            for fi in sorted(snap.inventory.of_kind("store_lock", "lock"), key=lambda f: f.name)
        )
    backups: list[BackupCandidate] = []
    notes: list[str] = []
    if (
        "store" in opts.only
        and snap.load.status not in ("ok", "missing", "unreadable")
        and snap.load.raw is not None
    ):
        backups, notes = store_backups(ctx, af.store(), opts.backup_dir, opts.from_run)
    scanned: tuple[tuple[FileInfo, TranscriptFacts], ...] = ()
    by_file: dict[str, list[EntryView]] = {}
    contents: dict[str, RewriteFacts | str] = {}
    if "transcripts" in opts.only:
        by_file = entries_by_file(snap)
        scanned = _scan(ctx, opts, snap, by_file)
        for fi, tf in scanned:
            if _needs_content(tf, opts):
                try:
                    data = read_bytes(fi.path)
                except OSError as exc:
                    contents[fi.name] = str(exc.strerror or exc)
                    continue
                contents[fi.name] = rewrite_facts(
                    data, list(tf.bad_lines or []) if opts.drop_bad_lines else []
                )
    return RepairAgentFacts(store, af, tuple(backups), tuple(notes), scanned, by_file, contents, locks)


# ---------------------------------------------------------------- deciding (pure)


def decide_agent(
    decided: Decided, facts: RepairAgentFacts, opts: RepairOptions, wall: int, taken: set[str]
) -> None:
    """Add what repair does to one agent to `decided` (pure: from `facts`, `opts`, the
    wall clock `wall` for leftover ages and archive names, and `taken`, the archive
    names the plan gave out already)."""
    plan = decided.plan
    store = facts.store
    agent = store.agent_id
    af = facts.agent
    if af is None:
        plan.keep(
            "store.sqlite_era",
            agent,
            str(store.store_path),
            "SQLite-era agent: its sessions live in SQLite; sessionctl does not modify it",
        )
        return
    snap = af.snap
    if snap.load.data is not None:
        plan.note_store(af.store(), [ev.key for ev in snap.entries])
    elif snap.load.status in DAMAGED and "entries" in opts.only and "store" not in opts.only:
        plan.problem(
            f"store.{snap.load.status}",
            "critical",
            agent,
            f"sessions.json is {snap.load.status} ({snap.load.error}); entries cannot be checked",
            path=str(store.store_path),
            fix=f"sessionctl repair --only store --agent {agent}",
        )
    if "locks" in opts.only:
        _plan_locks(plan, facts, af)
    if "leftovers" in opts.only:
        _plan_leftovers(decided, af, wall)
    if "store" in opts.only:
        _plan_store(opts, plan, facts, af)
    if "entries" in opts.only:
        _plan_entries(opts, plan, af)
    if "transcripts" in opts.only:
        _plan_transcripts(opts, plan, facts, af, wall, taken)


def decide_repair(facts: RepairFacts, opts: RepairOptions) -> Decided:
    """The repair plan from what was read (pure: no file access, no clock)."""
    decided = Decided(Plan("repair", findings=REPAIR_TO_HEALTH))
    taken: set[str] = set()
    for agent in facts.agents:
        decide_agent(decided, agent, opts, facts.wall_ms, taken)
    decided.plan.guard_nonempty()
    return decided


def plan_repair(ctx: RunContext, opts: RepairOptions) -> Plan:
    """The repair plan for every selected agent: for each agent, read its facts
    (read_repair_agent), then decide (decide_agent, pure) — one agent's facts in memory
    at a time; decide_repair is the same over facts read beforehand. The checksums of
    the files acted on are read last. Reads, never writes."""
    decided = Decided(Plan("repair", findings=REPAIR_TO_HEALTH))
    wall = now_ms()
    taken: set[str] = set()
    for i, store in enumerate(ctx.discovery.stores):
        ctx.tick(f"checking agent {store.agent_id}", i, len(ctx.discovery.stores))
        ctx.checkpoint()  # a safe point: planning only reads
        facts = read_repair_agent(ctx, store, opts)
        if facts is not None:
            decide_agent(decided, facts, opts, wall, taken)
    decided.plan.guard_nonempty()
    return decided.identified()


def repair_phases() -> list[Callable[[dict[str, object]], bool]]:
    """Stale locks and leftovers go into the run first (so taking sessions.json.lock
    later never has to break a stale lock unbacked), then everything else."""
    return [lambda a: str(a.get("check", "")).startswith(("lock.", "leftover.")), lambda a: True]


def run_repair(ctx: RunContext, opts: RepairOptions, *, dry_run: bool, force_online: bool) -> Outcome:
    return run_plan(
        ctx,
        lambda: plan_repair(ctx, opts),
        dry_run=dry_run,
        force_online=force_online,
        backup_dir=opts.backup_dir,
        lock_timeout_s=opts.lock_timeout_s,
        phases=repair_phases(),
    )
