"""health: validate every store and transcript and report findings. Read-only.

Every check is a function of (snapshot, thresholds, now) that returns Findings; the
check ids are a public contract (docs/health.md). Nothing here writes, prints or exits.

Clocks: entry ages, idle times, binding expiry and spawn storms use the run's clock
(`ctx.now_ms`, `--now`). Lock ages, temp-file ages and leftovers use the wall clock:
they are about processes and files that exist *now*, whatever `--now` says.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessionctl.bindings import dangling, expired, load_bindings, target_agent
from sessionctl.context import RunContext
from sessionctl.errors import PERMISSION_HINT, SessionctlError
from sessionctl.findings import SEVERITY_RANK, Finding, Severity, fix_cmd
from sessionctl.gateway import find_gateways
from sessionctl.locks import STORE_LOCK_STALE_MS, TRANSCRIPT_LOCK_STALE_MS, inspect_lock
from sessionctl.peers import IdentityLinks, expected_route, route_bindings, session_peer
from sessionctl.policy import collect_transcript_locks, plan_gc, refusal_findings, resolve_policy
from sessionctl.resume import detect_era, file_resume_finding
from sessionctl.runs import RUNS_WARN_BYTES, runs_report
from sessionctl.snapshot import AgentSnapshot, EntryView, ReadMode, session_agent, snapshot_agent
from sessionctl.store import TOO_DEEP, num
from sessionctl.thresholds import HealthThresholds, thresholds_for, token_check
from sessionctl.timeutil import format_duration, iso_ms, max_in_window
from sessionctl.timeutil import now_ms as wall_now
from sessionctl.transcripts import FileInfo, TranscriptFacts
from sessionctl.units import bytes_h

if TYPE_CHECKING:
    from sessionctl.policy import Policy

# file kinds that belong to a session and are orphaned when nothing references them
TRANSCRIPT_KINDS = frozenset({"transcript", "topic", "fork"})
SESSION_FILE_KINDS = frozenset({"transcript", "topic", "fork", "checkpoint", "trajectory", "acp_stream"})
ARCHIVE_KINDS = frozenset({"archive", "store_bak"})
MAX_LINES_LISTED = 10


@dataclass
class AgentStats:
    agent: str
    layout: str
    store_path: str
    store_status: str
    store_bytes: int = 0
    entries: int = 0
    entries_by_kind: dict[str, int] = field(default_factory=dict)
    transcripts: int = 0
    transcript_bytes: int = 0
    archives: int = 0
    archive_bytes: int = 0
    oldest_idle_ms: int | None = None
    findings: dict[str, int] = field(default_factory=lambda: {"critical": 0, "warning": 0, "info": 0})
    # sessions the next gateway start resumes (sessionctl/resume.py); None where not computed
    resume_on_start: int | None = None
    sqlite: dict[str, Any] | None = None  # SQLite-era agents: sessionctl/sqlite/health.py sqlite_stats

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["entries_by_kind"] = dict(sorted(self.entries_by_kind.items()))
        return d


@dataclass
class HealthReport:
    agents: list[AgentStats]
    findings: list[Finding]
    snapshots: list[AgentSnapshot]
    thresholds: HealthThresholds
    stale_policy: dict[str, Any] | None = None

    def counts(self) -> dict[str, int]:
        c = Counter(f.severity for f in self.findings)
        return {s: c.get(s, 0) for s in ("critical", "warning", "info")}

    def unknown_agents(self) -> list[str]:
        """Agents whose store health could not judge at all (store_status 'unknown')."""
        return [a.agent for a in self.agents if a.store_status == "unknown"]

    def by_check(self) -> dict[str, int]:
        return dict(sorted(Counter(f.check for f in self.findings).items()))


# ---------------------------------------------------------------- store level


def store_checks(snap: AgentSnapshot, ctx: RunContext | None = None) -> list[Finding]:
    """Store-level checks: unparseable / empty / non-object / legacy pending migration."""
    out: list[Finding] = []
    st = snap.store
    load = snap.load
    agent = st.agent_id
    path = str(st.store_path)
    if st.legacy_pending:
        out.append(
            Finding(
                "store.legacy_pending_migration",
                "critical",
                agent,
                "SQLite-era agent still has a legacy sessions.json; OpenClaw 2026.8+ refuses to start "
                "until it is imported — run `openclaw doctor --fix` (sessionctl never modifies it)",
                path=path,
                fix="openclaw doctor --fix",
            )
        )
    repair = fix_cmd("store", agent)
    if load.status == "empty":
        out.append(
            Finding(
                "store.empty_file",
                "critical",
                agent,
                f"sessions.json is empty: {load.error}; OpenClaw would read it as no sessions and overwrite it",
                path=path,
                fix=repair,
            )
        )
    elif load.status == "unparseable":
        out.append(
            Finding(
                "store.unparseable",
                "critical",
                agent,
                f"sessions.json is not valid JSON ({load.error}); OpenClaw would load it as {{}} and overwrite it",
                path=path,
                fix=repair,
            )
        )
    elif load.status == "not_object":
        out.append(
            Finding(
                "store.not_object",
                "critical",
                agent,
                f"sessions.json is not a JSON object ({load.error}); OpenClaw would treat it as empty",
                path=path,
                fix=repair,
            )
        )
    elif load.status == "unreadable" and load.error == TOO_DEEP:
        # valid for JSON.parse: OpenClaw reads it with every entry; sessionctl leaves it alone
        out.append(Finding("store.unreadable", "warning", agent, f"sessions.json: {load.error}", path=path))
    elif load.status == "unreadable":
        msg = f"{load.error}; {PERMISSION_HINT}" if load.denied else str(load.error)
        out.append(Finding("store.unreadable", "critical", agent, msg, path=path))
    for note in load.notes:
        # valid for OpenClaw (Node decodes invalid UTF-8 to U+FFFD): a warning, never "damaged"
        out.append(Finding("store.invalid_utf8", "warning", agent, f"sessions.json is {note}", path=path))
    if snap.inventory.error and load.status != "missing":
        out.append(
            Finding(
                "store.unreadable",
                "critical",
                agent,
                f"{snap.inventory.error}: transcripts cannot be checked",
                path=str(st.sessions_dir),
            )
        )
    return out


def size_checks(snap: AgentSnapshot, thr: HealthThresholds) -> list[Finding]:

    out: list[Finding] = []
    agent = snap.agent_id
    path = str(snap.store.store_path)
    if snap.load.size > thr.store_max_bytes:
        out.append(
            Finding(
                "store.oversized",
                "warning",
                agent,
                f"sessions.json is {bytes_h(snap.load.size)} (threshold {bytes_h(thr.store_max_bytes)}); "
                "every gateway write rewrites the whole file",
                path=path,
                fix=fix_cmd("gc", agent),
                data={"bytes": snap.load.size, "threshold": thr.store_max_bytes},
            )
        )
    n = len(snap.entries)
    if snap.load.data is not None and n > thr.max_entries:
        src = {
            "openclaw.json": " (session.maintenance.maxEntries)",
            "default": " (OpenClaw's default maxEntries)",
        }
        out.append(
            Finding(
                "store.too_many_entries",
                "warning",
                agent,
                f"{n} entries, over the threshold of {thr.max_entries}{src.get(thr.max_entries_source, '')}",
                path=path,
                fix=fix_cmd("gc", agent),
                data={"entries": n, "threshold": thr.max_entries, "source": thr.max_entries_source},
            )
        )
    return out


# ---------------------------------------------------------------- entries


def _entry_age_ref(ev: EntryView) -> int | None:
    """When the entry was created, for the missing-transcript grace: sessionStartedAt,
    else updatedAt."""
    o = ev.obj
    v = num(o.get("sessionStartedAt"))
    return v if v is not None else num(o.get("updatedAt"))


def entry_checks(snap: AgentSnapshot, thr: HealthThresholds, now_ms: int) -> list[Finding]:
    out: list[Finding] = []
    agent = snap.agent_id
    store_path = str(snap.store.store_path)
    lowered: dict[str, list[str]] = defaultdict(list)
    for ev in snap.entries:
        lowered[ev.key.strip().lower()].append(ev.key)
    inv = snap.inventory.by_name
    sdir = snap.store.sessions_dir
    for ev in snap.entries:
        key = ev.key
        if ev.shape_problem:
            # repair removes non-object entries and unsafe sessionIds; a bad updatedAt has no fix
            removable = not isinstance(ev.entry, dict) or "sessionId" in ev.shape_problem
            out.append(
                Finding(
                    "entry.invalid_shape",
                    "warning",
                    agent,
                    f"{ev.shape_problem}; OpenClaw drops or misreads this entry",
                    key=key,
                    path=store_path,
                    fix=fix_cmd("entries", agent) if removable else None,
                )
            )
        canon = key.strip().lower()
        if key != canon:
            twins = [k for k in lowered[canon] if k != key]
            msg = "key is not trimmed lowercase; OpenClaw normalises keys"
            if twins:
                msg += f" and would merge it with {twins[0]!r} (highest updatedAt wins, the other is deleted)"
            out.append(
                Finding(
                    "entry.key_not_lowercase",
                    "warning",
                    agent,
                    msg,
                    key=key,
                    path=store_path,
                    fix=fix_cmd("merge_case", agent),
                    data={"canonical": canon, "collides_with": twins},
                )
            )
        if ev.ref.outside is not None:
            out.append(
                Finding(
                    "entry.session_file_outside",
                    "critical",
                    agent,
                    f"sessionFile {ev.ref.outside!r} resolves outside the sessions folder "
                    "(never followed; OpenClaw ignores it)",
                    key=key,
                    path=store_path,
                    fix=fix_cmd("entries", agent),
                    data={"session_file": ev.ref.outside},
                )
            )
        if not ev.shape_problem and isinstance(ev.entry, dict):
            out.extend(_missing_check(ev, agent, thr, now_ms, inv, sdir))
            out.extend(token_check(ev, agent, thr))
    return out


def _missing_check(
    ev: EntryView, agent: str, thr: HealthThresholds, now_ms: int, inv: dict[str, FileInfo], sdir: Path
) -> list[Finding]:
    p = ev.ref.path
    if p is not None and ev.facts is not None:
        return []
    # a symlink (even one pointing outside, which resolves to no path at all) or a directory
    # where the transcript should be is not "missing": it is there and never followed
    name = f"{ev.session_id}.jsonl" if p is None else p.name if p.parent == sdir else None
    fi = inv.get(name) if name is not None else None
    if fi is not None and fi.kind in ("symlink", "directory"):
        what = "a symbolic link (not followed)" if fi.kind == "symlink" else "a directory"
        return [
            Finding(
                "transcript.unreadable",
                "warning",
                agent,
                f"the transcript is {what}",
                key=ev.key,
                path=str(fi.path),
            )
        ]
    created = _entry_age_ref(ev)
    age = now_ms - created if created is not None else None
    young = age is not None and age < thr.missing_transcript_grace_ms
    sev: Severity = "info" if young else "warning"
    if young:
        msg = (
            f"no transcript yet (entry is {format_duration(max(age or 0, 0))} old; OpenClaw writes it lazily)"
        )
    else:
        aged = f" for an entry {format_duration(age)} old" if age is not None else ""
        msg = f"transcript missing{aged}; its history is gone (OpenClaw starts a new one on the next message)"
    return [
        Finding(
            "entry.transcript_missing",
            sev,
            agent,
            msg,
            key=ev.key,
            path=str(p) if p is not None else None,
            data={"age_ms": age, "grace_ms": thr.missing_transcript_grace_ms},
        )
    ]


# ---------------------------------------------------------------- transcripts


def transcript_checks(snap: AgentSnapshot, thr: HealthThresholds, deep: bool) -> list[Finding]:
    """Checks of every referenced transcript, each file once (several keys may share one)."""

    out: list[Finding] = []
    agent = snap.agent_id
    seen: set[Path] = set()
    mismatch_seen: set[tuple[Path, str]] = set()
    for ev in snap.entries:
        f = ev.facts
        p = ev.ref.path
        if f is None or p is None:
            continue
        sid = ev.session_id
        if f.header_ok and sid and f.header_id != sid and (p, sid) not in mismatch_seen:
            mismatch_seen.add((p, sid))
            out.append(
                Finding(
                    "transcript.id_mismatch",
                    "warning",
                    agent,
                    f"transcript header id {f.header_id!r} differs from the entry's sessionId {sid!r}",
                    key=ev.key,
                    path=str(p),
                    data={"header_id": f.header_id, "session_id": sid},
                )
            )
        if p in seen:
            continue
        seen.add(p)
        out.extend(_file_checks(agent, ev.key, p, f, thr, deep, bytes_h))
    return out


def _lines_text(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:MAX_LINES_LISTED])
    return shown + (f" … (+{len(lines) - MAX_LINES_LISTED})" if len(lines) > MAX_LINES_LISTED else "")


def _file_checks(
    agent: str,
    key: str,
    p: Path,
    f: TranscriptFacts,
    thr: HealthThresholds,
    deep: bool,
    bytes_h: Callable[[int | None], str],
) -> list[Finding]:
    out: list[Finding] = []
    path = str(p)
    repair = fix_cmd("transcripts", agent)
    if f.error:
        return [Finding("transcript.unreadable", "warning", agent, f.error, key=key, path=path)]
    if f.size == 0:
        return [
            Finding(
                "transcript.empty",
                "info",
                agent,
                "transcript is empty (0 bytes); OpenClaw writes a fresh header, no history is lost",
                key=key,
                path=path,
            )
        ]
    if not f.header_ok:
        out.append(
            Finding(
                "transcript.header_invalid",
                "critical",
                agent,
                f"{f.header_problem}; OpenClaw would replace the whole file with a fresh header",
                key=key,
                path=path,
                fix=repair,
            )
        )
    if not f.ends_with_newline:
        out.append(
            Finding(
                "transcript.truncated_tail",
                "warning",
                agent,
                f"last line is incomplete ({f.tail_bytes_cut} bytes after the last newline); "
                "the next append would be glued onto it",
                key=key,
                path=path,
                fix=repair,
                data={"bytes_after_last_newline": f.tail_bytes_cut},
            )
        )
    if f.size > thr.transcript_max_bytes:
        out.append(
            Finding(
                "transcript.oversized",
                "warning",
                agent,
                f"transcript is {bytes_h(f.size)} (threshold {bytes_h(thr.transcript_max_bytes)}); "
                "compact or /reset the session",
                key=key,
                path=path,
                data={"bytes": f.size, "threshold": thr.transcript_max_bytes},
            )
        )
    if deep and f.bad_lines:
        out.append(
            Finding(
                "transcript.bad_line",
                "warning",
                agent,
                f"{len(f.bad_lines)} line(s) do not parse (line {_lines_text(f.bad_lines)}); "
                "OpenClaw skips them silently",
                key=key,
                path=path,
                fix=fix_cmd("bad_lines", agent),
                data={"count": len(f.bad_lines), "lines": f.bad_lines[:MAX_LINES_LISTED]},
            )
        )
    if deep and f.broken_parents:
        out.append(
            Finding(
                "transcript.broken_parent",
                "warning",
                agent,
                f"{len(f.broken_parents)} line(s) have a parentId that refers to no earlier id "
                f"(line {_lines_text(f.broken_parents)})",
                key=key,
                path=path,
                data={"count": len(f.broken_parents), "lines": f.broken_parents[:MAX_LINES_LISTED]},
            )
        )
    return out


# ---------------------------------------------------------------- the folder


def external_references(snaps: list[AgentSnapshot]) -> set[tuple[str, str]]:
    """(sessions folder, file name) of transcripts that entries of *another* folder use
    (OpenClaw accepts a sibling agent's `sessionFile`, format doc §3)."""
    out: set[tuple[str, str]] = set()
    for snap in snaps:
        own = str(snap.store.sessions_dir)
        for ev in snap.entries:
            p = ev.ref.path
            if p is not None and str(p.parent) != own:
                out.add((str(p.parent), p.name))
    return out


def orphan_checks(snap: AgentSnapshot, external: AbstractSet[tuple[str, str]] = frozenset()) -> list[Finding]:
    """transcript.orphan: session files no entry references (only when the store parses:
    with no entries to go by, everything would look orphaned)."""

    if snap.load.data is None:
        return []
    out: list[Finding] = []
    agent = snap.agent_id
    sdir = str(snap.store.sessions_dir)
    names = {"transcript": "transcript", "topic": "topic transcript", "fork": "forked transcript"}
    for fi in sorted(snap.inventory.files, key=lambda x: x.name):
        kind = fi.kind
        if kind not in SESSION_FILE_KINDS or snap.is_referenced(fi):
            continue
        if (sdir, fi.name) in external or (fi.owner is not None and (sdir, fi.owner) in external):
            continue
        out.append(
            Finding(
                "transcript.orphan",
                "warning",
                agent,
                f"{names.get(kind, kind.replace('_', ' '))} {fi.name} ({bytes_h(fi.size)}) "
                "is referenced by no entry",
                path=fi.path_str,
                fix=fix_cmd("archive", agent),
                data={"kind": kind, "bytes": fi.size},
            )
        )
    return out


def folder_checks(snap: AgentSnapshot, thr: HealthThresholds, wall_ms: int) -> list[Finding]:
    """Locks, temp files and leftovers, archives (one listing, stat only)."""

    out: list[Finding] = []
    agent = snap.agent_id
    archives: list[FileInfo] = []
    for fi in sorted(snap.inventory.files, key=lambda x: x.name):
        kind = fi.kind
        if kind in ("store_lock", "lock"):
            stale_ms = STORE_LOCK_STALE_MS if kind == "store_lock" else TRANSCRIPT_LOCK_STALE_MS
            ls = inspect_lock(fi.path, stale_ms=stale_ms)  # wall clock, on purpose
            if not ls.exists:
                continue
            data = {
                "pid": ls.pid,
                "alive": ls.alive,
                "age_ms": ls.age_ms,
                "stale_after_ms": stale_ms,
                "reason": ls.reason,
            }
            if ls.stale:
                note = " (OpenClaw's doctor never checks this one)" if kind == "store_lock" else ""
                out.append(
                    Finding(
                        "lock.stale",
                        "warning",
                        agent,
                        f"stale lock {fi.name}: {ls.reason}{note}",
                        path=str(fi.path),
                        fix=fix_cmd("locks", agent),
                        data=data,
                    )
                )
            else:
                out.append(
                    Finding(
                        "lock.held", "info", agent, f"{fi.name} is {ls.reason}", path=str(fi.path), data=data
                    )
                )
        elif kind in ("store_tmp", "repair_leftover"):
            age = wall_ms - fi.mtime_ms
            if age > thr.tmp_stale_ms:
                what = (
                    "store temp file" if kind == "store_tmp" else "leftover of OpenClaw's transcript repair"
                )
                out.append(
                    Finding(
                        "tmp.stale",
                        "info",
                        agent,
                        f"{what} {fi.name} ({bytes_h(fi.size)}), last modified {iso_ms(fi.mtime_ms)}",
                        path=str(fi.path),
                        fix=fix_cmd("leftovers", agent),
                        data={"kind": kind, "bytes": fi.size, "mtime": iso_ms(fi.mtime_ms), "age_ms": age},
                    )
                )
        elif kind in ARCHIVE_KINDS:
            archives.append(fi)
    if archives:
        total = sum(a.size for a in archives)
        reasons = Counter(a.archive_reason or "bak" for a in archives)
        stamps = [a.archive_ts_ms for a in archives if a.archive_ts_ms is not None]
        oldest = min(stamps) if stamps else None
        parts = ", ".join(f"{n} .{r}" for r, n in sorted(reasons.items()))
        since = f", oldest {iso_ms(oldest)}" if oldest is not None else ""
        out.append(
            Finding(
                "archive.accumulated",
                "info",
                agent,
                f"{len(archives)} archives ({parts}) hold {bytes_h(total)}{since}",
                path=str(snap.store.sessions_dir),
                data={
                    "count": len(archives),
                    "bytes": total,
                    "by_reason": dict(sorted(reasons.items())),
                    "oldest": iso_ms(oldest) if oldest is not None else None,
                },
            )
        )
    return out


# ---------------------------------------------------------------- spawn storms


def key_prefix(key: str) -> str | None:
    """The key minus its last `:`-segment (the uuid / timestamp / counter that makes
    machine-made keys unique). None for keys with fewer than two segments."""
    k = key.strip().lower()
    i = k.rfind(":")
    return k[:i] if i > 0 else None


def storm_checks(snap: AgentSnapshot, thr: HealthThresholds) -> list[Finding]:
    """Many sessions sharing a key prefix created within a short window."""
    groups: dict[str, list[int]] = defaultdict(list)
    excluded = set(thr.storm_exclude_kinds)
    for ev in snap.entries:
        if ev.parsed.kind in excluded or ev.parsed.kind == "main":
            continue
        prefix = key_prefix(ev.key)
        started, _src = ev.started_ms()
        if prefix is None or started is None:
            continue
        groups[prefix].append(started)
    out: list[Finding] = []
    agent = snap.agent_id
    for prefix in sorted(groups):
        times = sorted(groups[prefix])
        if len(times) < min(thr.storm_warning, thr.storm_critical):
            continue
        n_crit, crit_at = max_in_window(times, thr.storm_critical_window_ms)
        n_warn, warn_at = max_in_window(times, thr.storm_window_ms)
        if n_crit >= thr.storm_critical:
            sev: Severity = "critical"
            n, at, win = n_crit, crit_at, thr.storm_critical_window_ms
        elif n_warn >= thr.storm_warning:
            sev, n, at, win = "warning", n_warn, warn_at, thr.storm_window_ms
        else:
            continue
        out.append(
            Finding(
                "sessions.spawn_storm",
                sev,
                agent,
                f"{n} sessions under {prefix}:* were created within {format_duration(win)} "
                f"(from {iso_ms(at or 0)}; {len(times)} in total)",
                path=str(snap.store.store_path),
                fix=fix_cmd("storms", agent),
                data={
                    "prefix": prefix,
                    "count": n,
                    "window_ms": win,
                    "window_start": iso_ms(at or 0),
                    "total": len(times),
                    "in_1h_window": n_warn,
                    "in_24h_window": n_crit,
                },
            )
        )
    return out


# ---------------------------------------------------------------- entry.stale


def _rule_source(policy: Any, kind: str, rule: str | None) -> str | None:
    r = policy.rule_for(kind)
    if rule == "max-age" and r.max_age is not None:
        return str(r.max_age.source)
    if rule == "idle" and r.idle is not None:
        return str(r.idle.source)
    if rule == "cap":
        cap = r.cap or policy.cap
        return str(cap.source) if cap is not None else None
    return None


def resume_checks(
    ctx: RunContext, snaps: list[AgentSnapshot], stats: list[AgentStats], thr: HealthThresholds, now_ms: int
) -> list[Finding]:
    """sessions.resume_on_start of the file-era agents: the resume set of the release that
    will start (sessionctl/resume.py: a running gateway's version, else the installed
    openclaw's, else the widest file-era rule)."""

    file_snaps = [s for s in snaps if s.store.layout == "file" and s.load.data is not None]
    if not file_snaps:
        return []
    info = detect_era(ctx.state_dir)
    by_agent = {s.agent: s for s in stats if s.layout == "file"}
    out: list[Finding] = []
    for snap in file_snaps:
        n, f = file_resume_finding(snap, info, thr, now_ms)
        st = by_agent.get(snap.agent_id)
        if st is not None:
            st.resume_on_start = n
        if f is not None:
            out.append(f)
    return out


def stale_checks(snaps: list[AgentSnapshot], policy: Any, now_ms: int) -> list[Finding]:
    """entry.stale: the sessions the configured gc policy would expire, from gc's own
    pure planner (sessionctl.policy.plan_gc) — the same decision `gc --dry-run` shows."""

    if not policy.has_expiry:
        return []
    locks = collect_transcript_locks(snaps)  # gc keeps sessions whose transcript is locked
    plan = plan_gc(snaps, policy, now_ms, transcript_locks=locks)

    out: list[Finding] = refusal_findings(plan, "info")
    for ap in plan.agents:
        refused = (
            " (gc leaves this agent untouched: it would expire every session of the agent)"
            if ap.refused
            else ""
        )
        for d in ap.would_expire:
            src = _rule_source(policy, d.kind, d.rule)
            out.append(
                Finding(
                    "entry.stale",
                    "info",
                    ap.agent,
                    f"gc would expire it: {d.reason}" + (f" ({src})" if src else "") + refused,
                    key=d.key,
                    fix=fix_cmd("gc", ap.agent),
                    data={
                        "rule": d.rule,
                        "reasons": d.reasons,
                        "source": src,
                        "age_ms": d.age_ms,
                        "idle_ms": d.idle_ms,
                        "gc_refuses": bool(ap.refused),
                    },
                )
            )
    return out


# ---------------------------------------------------------------- cross-agent


def peer_checks(snaps: list[AgentSnapshot], ctx: RunContext) -> list[Finding]:

    links = IdentityLinks(ctx.openclaw.identity_links)
    bindings = route_bindings(ctx.openclaw)
    out: list[Finding] = []
    by_ident: dict[tuple[str, ...], list[tuple[str, str, Any]]] = defaultdict(list)
    for snap in snaps:
        for ev in snap.entries:
            if ev.shape_problem:
                continue
            sp = session_peer(ev.parsed, ev.entry, links)
            if sp is None:
                continue
            agent = session_agent(snap, ev)
            by_ident[sp.identity.key].append((agent, ev.key, sp))
            if not bindings or sp.thread is not None:
                continue
            route = expected_route(sp, bindings, ctx.openclaw)
            # only a binding makes a session stray: peers that fall through to the default
            # agent may have sessions elsewhere on purpose (`openclaw agent --agent X --to …`)
            if route is None or route.matched_by == "default" or route.agent == agent:
                continue
            how = {
                "binding.peer": "a peer binding",
                "binding.parent_peer": "a parent-peer binding",
                "binding.account": "an account binding",
                "binding.channel": "a channel binding",
            }[route.matched_by]
            where = f" (bindings[{route.binding}])" if route.binding is not None else ""
            out.append(
                Finding(
                    "peer.stray",
                    "warning",
                    agent,
                    f"session for {sp.identity.describe()} lives in {agent!r}, but {how}{where} "
                    f"routes this peer to {route.agent!r}",
                    key=ev.key,
                    path=str(snap.store.store_path),
                    fix=fix_cmd("dedupe", None),
                    data={
                        "peer": sp.identity.to_json(),
                        "expected_agent": route.agent,
                        "matched_by": route.matched_by,
                        "binding_index": route.binding,
                    },
                )
            )
    for _ident, sessions in sorted(by_ident.items()):
        agents = sorted({a for a, _k, _sp in sessions})
        if len(agents) < 2:
            continue
        sp0 = sessions[0][2]
        listed = sorted((a, k) for a, k, _sp in sessions)
        out.append(
            Finding(
                "peer.duplicate_across_agents",
                "warning",
                None,
                f"{sp0.identity.describe()} has sessions in {len(agents)} agents: {', '.join(agents)}",
                key=listed[0][1],
                fix=fix_cmd("dedupe", None),
                data={
                    "peer": sp0.identity.to_json(),
                    "agents": agents,
                    "sessions": [{"agent": a, "key": k} for a, k in listed],
                },
            )
        )
    return out


def binding_checks(
    ctx: RunContext, snaps: list[AgentSnapshot], now_ms: int, wanted: set[str] | None
) -> list[Finding]:

    files = load_bindings(ctx.state_dir)
    if not files:
        return []
    keys: dict[str, set[str] | None] = {}
    for snap in snaps:
        if snap.store.legacy_pending or snap.load.data is None:
            keys.setdefault(snap.agent_id, None)
            continue
        for ev in snap.entries:
            agent = session_agent(snap, ev)
            bucket = keys.setdefault(agent, set())
            if bucket is not None:
                bucket.add(ev.key.strip().lower())
        keys.setdefault(snap.agent_id, set())
    default = ctx.openclaw.default_agent
    out: list[Finding] = []
    for bf in files:
        if bf.error:
            if wanted is None:
                out.append(
                    Finding(
                        "binding.file_invalid",
                        "warning",
                        None,
                        f"{bf.channel} thread-binding file: {bf.error}",
                        path=str(bf.path),
                    )
                )
            continue
        for b in bf.bindings:
            agent = target_agent(b, default)
            if wanted is not None and agent not in wanted:
                continue
            data = b.to_json()
            what = f"{bf.channel} thread {b.conversation_id or b.ident}"
            why = expired(b, now_ms)
            if why is not None:
                out.append(
                    Finding(
                        "binding.expired",
                        "info",
                        agent,
                        f"{what} binding is expired ({why}); only a running gateway sweeps it",
                        key=b.target_session_key,
                        path=str(bf.path),
                        fix=fix_cmd("gc", agent),
                        data=data,
                    )
                )
            elif dangling(b, keys, default):
                target = b.target_session_key or "(none)"
                out.append(
                    Finding(
                        "binding.dangling",
                        "warning",
                        agent,
                        f"{what} is bound to session {target}, which no longer exists in agent {agent!r}",
                        key=b.target_session_key,
                        path=str(bf.path),
                        fix=fix_cmd("gc", agent),
                        data=data,
                    )
                )
    return out


# ---------------------------------------------------------------- stats & driver


def stats_for(snap: AgentSnapshot, now_ms: int) -> AgentStats:
    st = snap.store
    s = AgentStats(st.agent_id, st.layout, str(st.store_path), snap.load.status, store_bytes=snap.load.size)
    s.entries = len(snap.entries)
    s.entries_by_kind = dict(Counter(e.parsed.kind for e in snap.entries))
    for fi in snap.inventory.files:
        if fi.kind in TRANSCRIPT_KINDS:
            s.transcripts += 1
            s.transcript_bytes += fi.size
        elif fi.kind in ARCHIVE_KINDS:
            s.archives += 1
            s.archive_bytes += fi.size
    idles = [t for e in snap.entries if (t := e.last_active_ms()[0]) is not None]
    if idles:
        s.oldest_idle_ms = max(0, now_ms - min(idles))
    return s


def sort_findings(findings: Iterable[Finding], agent_order: list[str]) -> list[Finding]:
    order = {a: i for i, a in enumerate(agent_order)}

    def k(f: Finding) -> tuple[Any, ...]:
        return (
            -SEVERITY_RANK[f.severity],
            order.get(f.agent or "", -1) if f.agent is not None else -1,
            f.agent or "",
            f.check,
            f.key or "",
            f.path or "",
            f.message,
        )

    return sorted(findings, key=k)


class SqliteHealth:
    """The narrow bridge to sessionctl.sqlite: read each SQLite-era agent once, turn it into
    the snapshots the era-neutral checks use, its own findings and its statistics."""

    def __init__(self, ctx: RunContext, thr: HealthThresholds, *, deep: bool) -> None:
        from sessionctl.sqlite.reader import read_state_db

        self.ctx, self.thr = ctx, thr
        self.state = read_state_db(ctx.state_dir)
        # integrity_check reads everything in one transaction: only with --deep and no
        # gateway (spec §8.2); quick_check otherwise
        self.integrity = "integrity_check" if deep and not find_gateways(ctx.state_dir) else "quick_check"
        self.dbs: list[Any] = []

    def agent(
        self, store: Any, now: int
    ) -> tuple[AgentSnapshot | None, AgentSnapshot | None, AgentStats, list[Finding]]:
        from sessionctl.sqlite.health import agent_checks, sqlite_stats
        from sessionctl.sqlite.reader import read_agent_db
        from sessionctl.sqlite.snapshot import sqlite_snapshot

        assert store.sqlite_path is not None
        adb = read_agent_db(store.agent_id, store.sqlite_path, store.sessions_dir, integrity=self.integrity)
        self.dbs.append(adb)
        maint = self.ctx.openclaw.maintenance
        status = adb.status
        s = AgentStats(store.agent_id, "sqlite", str(store.sqlite_path), status, store_bytes=adb.db_bytes)
        snap = gc_snap = None
        if adb.ok:
            mk = self.ctx.openclaw.main_key
            snap = sqlite_snapshot(store, adb, main_key=mk)
            gc_snap = sqlite_snapshot(store, adb, main_key=mk, include="gc")
            s.entries = len(snap.entries)
            s.entries_by_kind = dict(Counter(e.parsed.kind for e in snap.entries))
            s.transcripts = sum(1 for t in adb.transcripts.values() if t.events)
            s.transcript_bytes = sum(t.bytes for t in adb.transcripts.values())
            s.archives = len(adb.archives)
            s.archive_bytes = sum(a.bytes for a in adb.archives)
            idles = [t for e in snap.entries if (t := e.last_active_ms()[0]) is not None]
            if idles:
                s.oldest_idle_ms = max(0, now - min(idles))
        found = agent_checks(adb, snap, self.thr, now, maint)
        s.resume_on_start = (
            next((f.data["count"] for f in found if f.check == "sessions.resume_on_start"), 0)
            if adb.ok
            else None
        )
        s.sqlite = sqlite_stats(adb, snap, maint)
        return snap, gc_snap, s, found

    def state_findings(self, now: int, wanted: set[str] | None) -> list[Finding]:
        from sessionctl.sqlite.health import state_checks

        return state_checks(self.state, self.dbs, now, wanted)


def runs_checks(ctx: RunContext) -> list[Finding]:
    """`runs.large`: this state dir's run folders (`<state>/sessionctl/runs`) hold more
    than runs.RUNS_WARN_BYTES. Each gc, backup, repair or prestart step keeps one; the
    retention options (`--keep-runs`, `--keep-within`) bound them."""

    try:
        use = runs_report(ctx.state_dir)
    except (OSError, SessionctlError):
        return []  # an unusable sessionctl folder is reported by the commands that need it
    if use["bytes"] <= RUNS_WARN_BYTES:
        return []
    gib = use["bytes"] / (1 << 30)
    largest = use["largest"] or {}
    return [
        Finding(
            "runs.large",
            "warning",
            None,
            f"{use['runs']} run folders hold {gib:.1f} GiB (more than {RUNS_WARN_BYTES >> 30} GiB); "
            f"the largest is {largest.get('run_id')}, the oldest {use['oldest']}",
            path=use["path"],
            fix="sessionctl backup --keep-runs 10",
            data=use,
        )
    ]


def run_health(
    ctx: RunContext,
    *,
    deep: bool = False,
    thresholds: HealthThresholds | None = None,
    stale_policy: Policy | None = None,
    wall_ms: int | None = None,
) -> HealthReport:
    """Run every check on every selected agent. Read-only."""

    thr = thresholds if thresholds is not None else thresholds_for(ctx)
    wall = wall_now() if wall_ms is None else wall_ms
    now = ctx.now_ms
    read: ReadMode = "deep" if deep else "cheap"
    findings: list[Finding] = []
    stats: list[AgentStats] = []
    snaps: list[AgentSnapshot] = []
    for skipped in ctx.discovery.skipped:
        findings.append(
            Finding(
                "discovery.skipped", "warning", None, f"{skipped.what} {skipped.reason}", path=skipped.path
            )
        )
    if ctx.openclaw.error:
        findings.append(
            Finding("config.unparseable", "warning", None, ctx.openclaw.error, path=str(ctx.openclaw.path))
        )
    stores = ctx.discovery.stores
    if stale_policy is None:
        # gc's own policy: a bad [gc] is a ConfigError; an openclaw.json value it cannot
        # read is a config.unparseable warning, and OpenClaw's default is used instead
        stale_policy = resolve_policy(ctx, lenient_openclaw=True)
    policy = stale_policy
    for prob in policy.problems:
        findings.append(Finding("config.unparseable", "warning", None, prob.message, path=prob.path))
    policy_info = {"source": policy.source, "description": policy.describe(), "notes": list(policy.notes)}
    from sessionctl.sqlite.health import pending_import, sqlite_era_state

    in_sqlite_era = sqlite_era_state(ctx.state_dir, stores)
    era = SqliteHealth(ctx, thr, deep=deep) if in_sqlite_era else None
    gc_snaps: list[AgentSnapshot] = []  # what gc plans from: entry.stale is gc's own decision
    for i, store in enumerate(stores):
        ctx.tick(f"agent {store.agent_id}", i, len(stores))
        ctx.checkpoint()  # a safe point (read-only)
        if store.layout == "missing":
            stats.append(AgentStats(store.agent_id, store.layout, str(store.store_path), "missing"))
            continue
        if store.legacy_pending:
            # the legacy sessions.json is never modified and no longer read by the runtime:
            # report it, check nothing inside it (the agent's database is checked below)
            snap = snapshot_agent(
                store,
                ctx.state_dir,
                main_key=ctx.openclaw.main_key,
                read="none",
                slim=True,
                report_denied=True,
            )
            findings.extend(store_checks(snap, ctx))
        if store.layout == "sqlite" and era is not None:
            s_snap, gc_snap, s_stats, s_findings = era.agent(store, now)
            stats.append(s_stats)
            findings.extend(s_findings)
            if s_snap is not None and gc_snap is not None:
                snaps.append(s_snap)
                if not policy.openclaw_only:  # as gc plans them (sessionctl/sqlite/gc.py)
                    gc_snaps.append(gc_snap)
                findings.extend(storm_checks(s_snap, thr))
            continue
        snap = snapshot_agent(
            store, ctx.state_dir, main_key=ctx.openclaw.main_key, read=read, slim=True, report_denied=True
        )
        snaps.append(snap)
        stats.append(stats_for(snap, now))
        if in_sqlite_era and snap.load.status != "missing":
            findings.append(pending_import(store))
        findings.extend(store_checks(snap, ctx))
        findings.extend(size_checks(snap, thr))
        findings.extend(entry_checks(snap, thr, now))
        findings.extend(transcript_checks(snap, thr, deep))
        findings.extend(folder_checks(snap, thr, wall))
        findings.extend(storm_checks(snap, thr))
        gc_snaps.append(snap)
    ctx.tick("cross-agent checks", len(stores), len(stores))
    findings.extend(resume_checks(ctx, snaps, stats, thr, now))
    findings.extend(stale_checks(gc_snaps, policy, now))
    file_snaps = [s for s in snaps if s.store.layout == "file"]
    external = external_references(file_snaps)
    for snap in file_snaps:
        findings.extend(orphan_checks(snap, external))
    findings.extend(peer_checks(snaps, ctx))
    wanted = {s.agent_id for s in stores} if ctx.agents else None
    findings.extend(binding_checks(ctx, snaps, now, wanted))
    if era is not None:
        findings.extend(era.state_findings(now, wanted))
    findings.extend(runs_checks(ctx))
    by_agent: dict[str, Counter[str]] = defaultdict(Counter)
    for f in findings:
        if f.agent is not None:
            by_agent[f.agent][f.severity] += 1
    for s in stats:
        s.findings = {sev: by_agent[s.agent].get(sev, 0) for sev in ("critical", "warning", "info")}
    agent_order = [s.agent for s in stats]
    return HealthReport(stats, sort_findings(findings, agent_order), snaps, thr, policy_info)
