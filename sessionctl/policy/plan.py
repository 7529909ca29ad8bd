"""gc policy, what the limits expire: `plan_gc`.

`plan_gc` is a pure function of (snapshots, policy, now, transcript-lock facts): no file
access, no clock. Everything it needs was read before (the snapshot's store, inventory
and transcript facts; the live transcript locks via `collect_transcript_locks`). The
same planner backs `gc --dry-run`, `gc` and health's staleness check.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sessionctl.findings import Finding, Severity
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.locks import TRANSCRIPT_LOCK_STALE_MS, inspect_lock
from sessionctl.policy.model import Policy
from sessionctl.resume import DefusePolicy, ResumeDecision, ResumeEra, file_resumes_on_start, plan_defuse
from sessionctl.snapshot import build_references, session_files
from sessionctl.store import num
from sessionctl.timeutil import format_duration

if TYPE_CHECKING:
    from sessionctl.snapshot import AgentSnapshot, EntryView
    from sessionctl.transcripts import FileInfo


# ---------------------------------------------------------------- planning


# what gc's planner decides for one session: a verdict, not a journaled action (those
# are action_types.JournalAction, made from the expired sessions when gc runs)
Verdict = Literal["expire", "keep"]


@dataclass
class Decision:
    """What the planner decided for one session, and why."""

    agent: str
    key: str
    kind: str
    action: Verdict
    reason: str  # the first reason: "max-age 6d3h > 120h", "protected: main key", "within policy"
    reasons: list[str] = field(default_factory=list)  # every limit the session exceeds
    rule: str | None = None  # which rule expired it: max-age | idle | failed-idle | cap
    protected: bool = False
    refused: bool = False  # it exceeds a limit, but its agent would be emptied: kept
    in_scope: bool = True
    age_ms: int | None = None
    age_from: str = "none"
    idle_ms: int | None = None
    idle_from: str = "none"
    last_active_ms: int | None = None
    size: int | None = None
    transcript: str | None = None
    notes: list[str] = field(default_factory=list)  # timestamp anomalies

    @property
    def notable(self) -> bool:
        """Worth a row in a non-verbose plan table."""
        return self.action == "expire" or self.protected or self.refused or bool(self.notes)

    def removal_fields(self) -> JsonObj:
        """What the journal records of this decision with a removal (file or SQLite era):
        kind, why, by which rule, age, idle time and transcript size."""
        return {
            "kind": self.kind,
            "reason": self.reason,
            "rule": self.rule,
            "age_ms": self.age_ms,
            "idle_ms": self.idle_ms,
            "transcript_bytes": self.size,
        }

    def to_json(self) -> JsonObj:
        return {
            "agent": self.agent,
            "key": self.key,
            "kind": self.kind,
            "decision": self.action,
            "reason": self.reason,
            "reasons": self.reasons,
            "rule": self.rule,
            "protected": self.protected,
            "refused": self.refused,
            "in_scope": self.in_scope,
            "age_ms": self.age_ms,
            "age_from": self.age_from,
            "idle_ms": self.idle_ms,
            "idle_from": self.idle_from,
            "transcript": self.transcript,
            "transcript_bytes": self.size,
            "notes": self.notes,
        }


@dataclass
class FileArchive:
    """A file that goes with expired sessions and no remaining entry references."""

    agent: str
    path: Path
    kind: str
    size: int
    keys: list[str]
    lock_target: Path  # the transcript whose lock guards this file

    def to_json(self) -> JsonObj:
        return {
            "agent": self.agent,
            "path": str(self.path),
            "kind": self.kind,
            "bytes": self.size,
            "keys": self.keys,
        }


@dataclass
class ArchivePurge:
    """A `.deleted`/`.reset` archive older than the archive retention."""

    agent: str
    path: Path
    reason: str  # deleted | reset
    archived_at_ms: int
    size: int


@dataclass
class AgentPlan:
    agent: str
    store_path: Path
    decisions: list[Decision] = field(default_factory=list)
    files: list[FileArchive] = field(default_factory=list)
    kept_referenced: list[str] = field(default_factory=list)  # files of expired keys still in use
    purges: list[ArchivePurge] = field(default_factory=list)
    refused: str | None = None  # would expire every session of the agent: left untouched
    defuse: list[ResumeDecision] = field(default_factory=list)  # the resume set (--defuse-resume)

    @property
    def expired(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "expire"]

    @property
    def would_expire(self) -> list[Decision]:
        """What the policy expires, the sessions of a refused agent included."""
        return [d for d in self.decisions if d.action == "expire" or d.refused]

    @property
    def defused(self) -> list[ResumeDecision]:
        return [r for r in self.defuse if r.action == "defuse"]


@dataclass
class GcPlan:
    policy: Policy
    now_ms: int
    agents: list[AgentPlan] = field(default_factory=list)

    @property
    def refusals(self) -> list[str]:
        return [a.refused for a in self.agents if a.refused]

    @property
    def empty(self) -> bool:
        return not any(a.expired or a.files or a.purges or a.defused for a in self.agents)


@dataclass
class Times:
    age_ms: int | None
    age_from: str
    idle_ms: int | None
    idle_from: str
    last_active_ms: int | None
    notes: list[str]


def session_times(ev: EntryView, now_ms: int) -> Times:
    """Age and idle time of one session at `now_ms`, with the documented fallbacks.

    Age: now − sessionStartedAt, else the transcript header timestamp, else the earliest
    evidence (startedAt, updatedAt, lastInteractionAt, transcript mtime).
    Idle: now − the latest of lastInteractionAt, updatedAt and the last transcript line's
    timestamp; when none exists, the transcript's mtime.
    A timestamp in the future counts as now (never expired because of clock skew) and is
    reported; a session with no evidence at all has no age/idle and is never expired by them.
    """
    notes: list[str] = []
    o = ev.obj
    ua = o.get("updatedAt")
    if ua is None:
        notes.append("updatedAt missing")
    elif isinstance(ua, bool) or not isinstance(ua, int | float) or ua != ua:
        notes.append(f"updatedAt not a number ({type(ua).__name__})")
    started, started_src = ev.started_ms()
    active, active_src = ev.last_active_ms()
    if active is None and ev.facts is not None and ev.facts.error is None and ev.facts.size:
        active, active_src = ev.facts.mtime_ms, "transcript mtime"
    age = _since(now_ms, started, ("start", started_src, "age counted as 0"), notes)
    idle = _since(now_ms, active, ("activity", active_src, "counted as now"), notes)
    if active is not None:
        active = min(active, now_ms)  # activity in the future: now
    if started is None and active is None:
        notes.append("no usable timestamp")
    return Times(age, started_src, idle, active_src, active, notes)


def _since(now_ms: int, at: int | None, note: tuple[str, str, str], notes: list[str]) -> int | None:
    """now − `at` (None without `at`). `at` in the future counts as now (0) and is noted:
    `note` is (what, where it came from, how it is counted)."""
    if at is None:
        return None
    since = now_ms - at
    if since < 0:
        what, src, counted = note
        notes.append(f"{what} in the future ({src} +{format_duration(-since)}): {counted}")
        return 0
    return since


def _is_main(ev: EntryView) -> bool:
    kind = ev.parsed.kind
    if kind in ("main", "global"):
        return True
    # un-prefixed legacy `main` key (format doc §4)
    return kind == "legacy" and ev.key.strip().lower() == "main"


def _running(ev: EntryView) -> bool:
    o = ev.obj
    if o.get("status") == "running":
        return True
    acp = o.get("acp")
    return isinstance(acp, dict) and acp.get("state") == "running"


def _running_recency(ev: EntryView, times: Times) -> int | None:
    """Latest evidence that a running session is really running."""

    o = ev.obj
    cands = [times.last_active_ms, num(o.get("startedAt"))]
    acp = o.get("acp")
    if isinstance(acp, dict):
        cands.append(num(acp.get("lastActivityAt")))
    vals = [c for c in cands if c is not None]
    return max(vals) if vals else None


def _protection(
    ev: EntryView, times: Times, policy: Policy, now_ms: int, locks: Mapping[str, str]
) -> str | None:
    if _is_main(ev):
        return "protected: main key"
    k = ev.key.lower()
    for g, src in policy.protect:
        if fnmatch.fnmatchcase(k, g):
            return f"protected: matches {src} {g}"
    rule = policy.rule_for(ev.parsed.kind)
    if rule.protected:
        return f"protected: kind {ev.parsed.kind} ({rule.protected})"
    if ev.ref.path is not None:
        holder = locks.get(str(ev.ref.path))
        if holder is not None:
            return f"protected: transcript lock held by {holder}"
    if _running(ev):
        rec = _running_recency(ev, times)
        if rec is not None:
            since = max(0, now_ms - rec)
            if since <= policy.running_grace_ms:
                return f"protected: running (active {format_duration(since)} ago)"
    return None


def ended_in_error(o: Mapping[str, JsonValue]) -> str | None:
    """Why a session's last run ended in error (None: it did not, or it is running):
    status failed / killed / timeout, or abortedLastRun with a status other than running."""
    st = o.get("status")
    acp = o.get("acp")
    if st == "running" or (isinstance(acp, dict) and acp.get("state") == "running"):
        return None
    if st in ("failed", "killed", "timeout"):
        return f"status {st}"
    if o.get("abortedLastRun") is True:
        return "aborted" + (f", status {st}" if isinstance(st, str) and st else "")
    return None


def _file_group(fi: FileInfo) -> str:
    """The transcript name a file belongs to (its lock guards the file)."""
    if fi.kind in ("trajectory", "checkpoint", "acp_stream") and fi.owner:
        return fi.owner
    return fi.name


def plan_gc(
    snapshots: Iterable[AgentSnapshot],
    policy: Policy,
    now_ms: int,
    *,
    transcript_locks: Mapping[str, str] | None = None,
    foreign_refs: Mapping[str, Mapping[str, list[str]]] | None = None,
    resume_era: ResumeEra | None = None,
    files: bool = True,
) -> GcPlan:
    """Decide, per session, expire or keep — and which files go with the expired ones
    (`files=False`: the sessions alone, as health's entry.stale needs them).

    Pure: reads only the snapshots (store, inventory, transcript facts), the policy,
    `now_ms`, `transcript_locks` (absolute transcript path → "pid N (...)" for locks
    held by a live process, collected beforehand by `collect_transcript_locks`) and
    `foreign_refs` (sessions folder → file name → keys: what the entries of the stores
    NOT snapshotted — other agents than `--agent` ones — keep in use in other folders,
    snapshot.sibling_references): a file any agent's live entry references is never
    archived, whatever the scope of the command.

    An agent the plan would empty is left untouched (`AgentPlan.refused`, its decisions
    `refused`), unless `policy.allow_empty`; the other agents are planned as usual.
    With `policy.defuse`, the restart resume set of the file-era stores under
    `resume_era` (sessionctl.resume) is limited: `AgentPlan.defuse`.
    """
    locks = transcript_locks or {}
    snaps = list(snapshots)
    plan = GcPlan(policy, now_ms)
    for snap in snaps:
        ap = AgentPlan(snap.agent_id, snap.store.store_path)
        plan.agents.append(ap)
        if snap.load.data is None:
            continue
        _plan_agent(ap, snap, policy, now_ms, locks)
    if files:
        _plan_files(plan, snaps, foreign_refs or {})
        _plan_purges(plan, snaps, policy, now_ms)
    if policy.defuse is not None and resume_era is not None:
        _plan_defuse(plan, snaps, policy.defuse, resume_era, now_ms, locks)
    return plan


def _plan_defuse(
    plan: GcPlan,
    snaps: list[AgentSnapshot],
    dp: DefusePolicy,
    era: ResumeEra,
    now_ms: int,
    locks: Mapping[str, str],
) -> None:
    """The resume set of every file-era store (minus what this plan expires, and minus a
    session whose transcript lock a live process holds: it is running now), limited by
    `dp` across all agents (resume.plan_defuse)."""

    cands: list[tuple[str, str, Mapping[str, JsonValue]]] = []
    for ap, snap in zip(plan.agents, snaps, strict=True):
        if snap.load.data is None or snap.store.layout != "file":
            continue
        gone = {d.key for d in ap.expired}
        locked = {fi.owner for fi in snap.inventory.of_kind("lock") if fi.owner}
        for ev in snap.entries:
            if ev.key in gone or not isinstance(ev.entry, dict):
                continue
            p = ev.ref.path
            if p is not None and str(p) in locks:
                continue
            if file_resumes_on_start(
                ev.key, ev.obj, era, transcript_locked=p is not None and p.name in locked
            ):
                cands.append((ap.agent, ev.key, ev.obj))
    by_agent = {ap.agent: ap for ap in plan.agents}
    for r in plan_defuse(cands, dp, now_ms):
        by_agent[r.agent].defuse.append(r)


def _plan_agent(
    ap: AgentPlan, snap: AgentSnapshot, policy: Policy, now_ms: int, locks: Mapping[str, str]
) -> None:
    survivors: list[tuple[Decision, EntryView]] = []
    for ev in snap.entries:
        kind = ev.parsed.kind
        t = session_times(ev, now_ms)
        facts = ev.facts
        d = Decision(
            agent=snap.agent_id,
            key=ev.key,
            kind=kind,
            action="keep",
            reason="within policy",
            age_ms=t.age_ms,
            age_from=t.age_from,
            idle_ms=t.idle_ms,
            idle_from=t.idle_from,
            last_active_ms=t.last_active_ms,
            size=facts.size if facts is not None and facts.error is None else None,
            transcript=str(ev.ref.path) if ev.ref.path is not None else None,
            notes=t.notes,
        )
        ap.decisions.append(d)
        if not policy.in_scope(ev.key, kind):
            d.in_scope, d.reason = False, "out of scope"
            continue
        prot = _protection(ev, t, policy, now_ms, locks)
        rule = policy.rule_for(kind)
        reasons: list[tuple[str, str]] = []
        if rule.max_age and t.age_ms is not None and t.age_ms > rule.max_age.ms:
            reasons.append(("max-age", f"max-age {format_duration(t.age_ms)} > {rule.max_age.text}"))
        if rule.idle and t.idle_ms is not None and t.idle_ms > rule.idle.ms:
            reasons.append(("idle", f"idle {format_duration(t.idle_ms)} > {rule.idle.text}"))
        if rule.failed_idle and t.idle_ms is not None and t.idle_ms > rule.failed_idle.ms:
            why = ended_in_error(ev.obj)
            if why is not None:
                reasons.append(
                    (
                        "failed-idle",
                        f"failed-idle {format_duration(t.idle_ms)} > {rule.failed_idle.text} ({why})",
                    )
                )
        if prot is not None:
            d.protected, d.reason = True, prot
            d.reasons = [r for _, r in reasons]
        elif reasons:
            d.action, d.rule, d.reason = "expire", reasons[0][0], reasons[0][1]
            d.reasons = [r for _, r in reasons]
            continue
        elif t.age_ms is None and t.idle_ms is None:
            d.reason = "no usable timestamp: kept"
        survivors.append((d, ev))

    # caps: after age/idle, keep the N most recently active (protected ones count, stay)
    def newest_first(item: tuple[Decision, EntryView]) -> tuple[int, str]:
        la = item[0].last_active_ms
        return (-(la if la is not None else 1 << 62), item[0].key)

    survivors.sort(key=newest_first)
    by_kind: dict[str, list[Decision]] = {}
    for d, _ev in survivors:
        by_kind.setdefault(d.kind, []).append(d)
    for kind, ds in by_kind.items():
        cap = policy.rule_for(kind).cap
        if cap is None:
            continue
        for i, d in enumerate(ds, start=1):
            if i > cap.n and not d.protected and d.last_active_ms is not None:
                d.action, d.rule = "expire", "cap"
                d.reason = f"cap {kind} {i} > {cap.n}"
                d.reasons = [d.reason]
    if policy.cap is not None:
        i = 0
        for d, _ev in survivors:
            if d.action == "expire":
                continue
            i += 1
            if i > policy.cap.n and not d.protected and d.last_active_ms is not None:
                d.action, d.rule = "expire", "cap"
                d.reason = f"cap {i} > {policy.cap.n}"
                d.reasons = [d.reason]

    n_exp = sum(1 for d in ap.decisions if d.action == "expire")
    if n_exp and n_exp == len(ap.decisions) and not policy.allow_empty:
        ap.refused = (
            f"agent {ap.agent}: the policy would expire all {n_exp} of its sessions; "
            "the agent is left untouched (pass --allow-empty to allow it)"
        )
        for d in ap.decisions:
            if d.action == "expire":
                d.action, d.refused = "keep", True
                d.reason = f"kept: it would empty agent {ap.agent} ({d.reason})"


def _plan_files(
    plan: GcPlan, snaps: list[AgentSnapshot], foreign_refs: Mapping[str, Mapping[str, list[str]]]
) -> None:
    """Files of expired sessions that no remaining entry (of any agent) references."""

    expired_by_agent = {a.agent: {d.key for d in a.expired} for a in plan.agents}
    # references of every remaining entry, per sessions folder (sibling references count),
    # those of the agents outside the command's scope included
    remaining_refs: dict[str, dict[str, list[str]]] = {
        folder: {name: list(keys) for name, keys in names.items()} for folder, names in foreign_refs.items()
    }
    for snap in snaps:
        gone = expired_by_agent.get(snap.agent_id, set())
        remaining = [ev for ev in snap.entries if ev.key not in gone]
        sdir = str(snap.store.sessions_dir)
        refs = remaining_refs.setdefault(sdir, {})
        for name, keys in build_references(remaining, snap.store.sessions_dir).items():
            refs.setdefault(name, []).extend(keys)
        for ev in remaining:
            p = ev.ref.path
            if p is not None and str(p.parent) != sdir:
                remaining_refs.setdefault(str(p.parent), {}).setdefault(p.name, []).append(ev.key)

    for ap, snap in zip(plan.agents, snaps, strict=True):
        gone = expired_by_agent.get(snap.agent_id, set())
        if not gone:
            continue
        folder = snap.store.sessions_dir
        inv = snap.inventory
        # the files of each expired session (snapshot.session_files, by name, no I/O)
        files, kept = session_files(
            snap, [ev for ev in snap.entries if ev.key in gone], remaining_refs.get(str(folder), {})
        )
        ap.kept_referenced.extend(kept)
        for name, owners in files.items():
            fi = inv.by_name[name]
            ap.files.append(
                FileArchive(ap.agent, fi.path, fi.kind, fi.size, owners, folder / _file_group(fi))
            )


def _plan_purges(plan: GcPlan, snaps: list[AgentSnapshot], policy: Policy, now_ms: int) -> None:
    ret = policy.archive_retention
    if ret is None:
        return
    for ap, snap in zip(plan.agents, snaps, strict=True):
        for fi in snap.inventory.of_kind("archive"):
            if fi.archive_reason not in ("deleted", "reset") or fi.archive_ts_ms is None:
                continue
            if now_ms - fi.archive_ts_ms > ret.ms:
                ap.purges.append(
                    ArchivePurge(ap.agent, fi.path, fi.archive_reason, fi.archive_ts_ms, fi.size)
                )


# ---------------------------------------------------------------- facts (I/O, before planning)


def collect_transcript_locks(snapshots: Iterable[AgentSnapshot]) -> dict[str, str]:
    """Transcript locks held by a live process, judged by the gateway's own staleness
    rules (format doc §6): absolute transcript path → holder description. I/O: call it
    before `plan_gc` and pass the result in."""

    out: dict[str, str] = {}
    for snap in snapshots:
        for fi in snap.inventory.of_kind("lock"):
            if not fi.owner:
                continue
            st = inspect_lock(fi.path, stale_ms=TRANSCRIPT_LOCK_STALE_MS)
            if st.exists and not st.stale:
                out[str(snap.store.sessions_dir / fi.owner)] = st.describe()
    return out


def refusal_findings(plan: GcPlan, severity: Severity) -> list[Finding]:
    """One `gc.agent_refused` finding per agent the plan would have emptied (left
    untouched): what gc shows, and what health reports (as info)."""

    out: list[Finding] = []
    for ap in plan.agents:
        if not ap.refused:
            continue
        n = len(ap.would_expire)
        out.append(
            Finding(
                "gc.agent_refused",
                severity,
                ap.agent,
                f"gc leaves agent {ap.agent} untouched: its policy would expire all {n} of its sessions "
                "(the other agents are cleaned)",
                path=str(ap.store_path),
                fix=f"sessionctl gc --agent {ap.agent} --allow-empty (if emptying it is intended), or a "
                "longer limit / a protect glob for it in sessionctl.toml",
                data={"would_expire": n, "keys": sorted(d.key for d in ap.would_expire)[:20]},
            )
        )
    return out
