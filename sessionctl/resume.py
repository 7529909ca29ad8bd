"""The restart resume set: the sessions the next gateway start will resume on its own.

One rule per OpenClaw era, shared by every report of it (health's
`sessions.resume_on_start`, list's `resume-on-start` flag, prestart's report). This module
holds the SQLite era's (2026.7.2-beta.1 and later, verified on 2026.9.6); the file-era
releases (issue 13) differ only in which `running` rows count.

SQLite era, from 2026.9.6's dist:
- candidates (`isMainRestartRecoveryCandidate`, main-session-recovery-state-*.mjs): not a
  subagent, cron or ACP key, no `spawnDepth > 0`, no `subagentRole`;
- at start-up the gateway first marks EVERY `status = 'running'` candidate row it does not
  own as interrupted (`markStartupOrphanedMainSessionsForRecovery`,
  main-session-restart-recovery-marking-*.mjs: `abortedLastRun = true`, `updatedAt = now`;
  a reservation or foreground claim left by the previous process is dropped), then resumes
  the rows `isMainSessionRecoveryPending` accepts (running + abortedLastRun, no
  reservation/claim/tombstone), one at a time, retrying, until a `mainRestartRecovery`
  tombstone (three failed attempts) ends it. So the set is every running candidate row,
  whatever `abortedLastRun` says now (the SQLite spec's §7.2 required the flag; 9.6's
  start-up marking makes it irrelevant), except a row already tombstoned, and a row already
  flagged whose recovery is reserved or claimed (that marking skips flagged rows).
- No age limit: a session left `running` for weeks is resumed too, which is the
  stale-session-resume outage. A row is `running` in the database while its turn is live,
  so under a running gateway the set also holds the turns in progress (they are not idle).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sessionctl.gateway import _version_near, find_gateways
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.timeutil import format_duration

if TYPE_CHECKING:
    from pathlib import Path

    from sessionctl.findings import Finding
    from sessionctl.gateway import Gateway
    from sessionctl.snapshot import AgentSnapshot, EntryView


class ResumeThresholds(Protocol):
    """What the resume finding reads of health's thresholds (thresholds.HealthThresholds)."""

    @property
    def resume_window_ms(self) -> int: ...
    @property
    def resume_budget(self) -> int: ...


# session-key heads OpenClaw never resumes on the main lane (isSubagentSessionKey,
# isCronSessionKey, isAcpSessionKey of dist/session-key-*.mjs)
_NOT_RESUMED_HEADS = ("subagent:", "cron:", "acp:")


def _rest(key: str) -> str:
    k = key.strip().lower()
    if k.startswith("agent:"):
        parts = k.split(":", 2)
        if len(parts) == 3 and parts[1]:
            return parts[2]
    return k


def resume_candidate_key(key: str) -> bool:
    """False for the keys OpenClaw never resumes: subagent, cron and ACP sessions."""
    raw = key.strip().lower()
    if raw.startswith(("subagent:", "acp:")):
        return False
    return not _rest(key).startswith(_NOT_RESUMED_HEADS)


def sqlite_resumes_on_start(key: str, entry: Mapping[str, JsonValue], status: str | None = None) -> bool:
    """True when the next start of a SQLite-era gateway (2026.7.2+) resumes this session.
    `status` is the `status` column (a projection of `entry.status`, and what OpenClaw's
    start-up scan selects on) when there is one."""
    st = status if status is not None else entry.get("status")
    if st != "running":
        return False
    depth = entry.get("spawnDepth")
    if isinstance(depth, int | float) and not isinstance(depth, bool) and depth > 0:
        return False
    if entry.get("subagentRole") is not None or not resume_candidate_key(key):
        return False
    state = entry.get("mainRestartRecovery")
    if not isinstance(state, dict):
        return True
    if state.get("tombstone"):
        return False  # recovery gave up: never resumed again
    if entry.get("abortedLastRun") is True:
        # already flagged: the start-up marking leaves it as it is, so a reservation or a
        # foreground claim still blocks it
        return not (state.get("foregroundClaims") or state.get("reservation"))
    return True  # marked at start-up (which drops a stale reservation or claim), then resumed


@dataclass
class ResumeSession:
    agent: str
    key: str
    last_active_ms: int | None
    idle_ms: int | None
    stale: bool  # idle longer than the resume window: resuming it is the outage

    def to_json(self) -> JsonObj:
        return dict(self.__dict__)


def resume_finding(
    agent: str,
    sessions: list[ResumeSession],
    *,
    budget: int,
    window_ms: int,
    path: str | None,
    fix: str | None = None,
    rule: str = "status running",  # the SQLite era's rule (module docstring)
    era: EraInfo | None = None,
) -> Finding | None:
    """The `sessions.resume_on_start` finding of one agent (None when its set is empty).
    warning when the set is larger than `budget` (OpenClaw resumes them one at a time on the
    main lane) or holds a stale session (idle longer than `window_ms`); info otherwise."""
    from sessionctl.findings import Finding  # `list` imports this module; findings it never needs

    if not sessions:
        return None
    stale = [s for s in sessions if s.stale]
    over = len(sessions) > budget
    sev = "warning" if over or stale else "info"
    msg = f"{len(sessions)} session(s) will be resumed when the gateway starts ({rule})"
    if over:
        msg += f", more than the budget of {budget}"
    if stale:
        msg += f"; {len(stale)} idle for more than {format_duration(window_ms)}"
    return Finding(
        "sessions.resume_on_start",
        sev,  # type: ignore[arg-type]
        agent,
        msg,
        key=sorted(s.key for s in sessions)[0],
        path=path,
        fix=fix,
        data={
            "count": len(sessions),
            "budget": budget,
            "window_ms": window_ms,
            "stale": len(stale),
            "sessions": [s.to_json() for s in sorted(sessions, key=lambda s: s.key)],
            **({"era": era.to_json()} if era is not None else {}),
        },
    )


# ---------------------------------------------------------------- file era (issue 13)
#
# Which release is installed decides which `running` entries a start resumes
# (docs/health.md "The restart resume set"; research of the shipped dist of 2026.4.15,
# 2026.5.28, 2026.7.1 and 2026.7.1-2):
#   <= 2026.4.23   none: no main session is resumed from the store
#   2026.4.24-6.5  status "running" AND abortedLastRun true (plus a running entry whose
#                  transcript lock the start-up lock cleanup removes: it is marked aborted
#                  first)
#   2026.6.6-7.1   every running candidate (the gateway marks them all aborted at start)
# Candidates everywhere: not a subagent, cron or ACP key, no spawnDepth > 0, no
# subagentRole. No age limit. Unknown release: the widest file-era set (RUNNING).

_RELEASE = re.compile(r"^\s*v?(\d{4})\.(\d+)\.(\d+)")


class ResumeEra(enum.Enum):
    NONE = "none"  # <= 2026.4.23: no main-session resume at start
    ABORTED = "aborted"  # 2026.4.24 - 2026.6.5: running AND abortedLastRun
    RUNNING = "running"  # 2026.6.6 - 2026.7.1 (and unknown): every running entry
    SQLITE = "sqlite"  # 2026.7.2+: the SQLite-era rule above (sessionctl only reports)


@dataclass(frozen=True)
class EraInfo:
    era: ResumeEra
    version: str | None  # the OpenClaw release it was decided from (None: unknown)
    source: str  # "running gateway (pid N)", "installed openclaw (PATH)", "unknown"

    def to_json(self) -> JsonObj:
        return {"era": self.era.value, "version": self.version, "source": self.source}


def era_for_version(version: str | None) -> ResumeEra:
    """The resume rule of an OpenClaw release ("2026.5.28", "2026.7.1-2"). A version
    sessionctl cannot read is treated as unknown: the widest file-era set."""
    m = _RELEASE.match(version or "")
    if not m:
        return ResumeEra.RUNNING
    v = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if v <= (2026, 4, 23):
        return ResumeEra.NONE
    if v <= (2026, 6, 5):
        return ResumeEra.ABORTED
    if v <= (2026, 7, 1):
        return ResumeEra.RUNNING
    return ResumeEra.SQLITE


def file_era(info: EraInfo) -> ResumeEra:
    """The rule for an agent that still keeps a sessions.json. A SQLite-era release does not
    read one (it imports it first): the widest file-era rule stands in, in case an older
    gateway is started on it."""
    return ResumeEra.RUNNING if info.era is ResumeEra.SQLITE else info.era


def file_resumes_on_start(
    key: str, entry: Mapping[str, JsonValue], era: ResumeEra, *, transcript_locked: bool = False
) -> bool:
    """True when the next start of a file-era gateway of `era` resumes this session (or
    tries to: OpenClaw itself marks a session failed when its transcript tail cannot be
    resumed — the count is what the start will touch). `transcript_locked`: a
    `<transcript>.lock` file exists, which the start-up lock cleanup removes when stale and
    then marks the entry aborted (2026.4.24+)."""
    if era in (ResumeEra.NONE, ResumeEra.SQLITE) or entry.get("status") != "running":
        return False
    depth = entry.get("spawnDepth")
    if isinstance(depth, int | float) and not isinstance(depth, bool) and depth > 0:
        return False
    if entry.get("subagentRole") is not None or not _file_candidate_key(key):
        return False
    if era is ResumeEra.ABORTED:
        return entry.get("abortedLastRun") is True or transcript_locked
    return True


def _file_candidate_key(key: str) -> bool:
    """isSubagentSessionKey / isCronSessionKey / isAcpSessionKey of 2026.5.28 and 7.1: an
    un-prefixed `subagent:` or `acp:` key is excluded, an un-prefixed `cron:` key is not
    (only `agent:<id>:cron:…` is)."""
    raw = key.strip().lower()
    if raw.startswith(("subagent:", "acp:")):
        return False
    parts = [p for p in raw.split(":") if p]
    if len(parts) >= 3 and parts[0] == "agent":
        return not ":".join(parts[2:]).startswith(_NOT_RESUMED_HEADS)
    return True


def resume_activity_ms(entry: Mapping[str, JsonValue]) -> int | None:
    """Last activity for the resume window: lastInteractionAt, else updatedAt (the start-up
    markers of OpenClaw overwrite updatedAt, never lastInteractionAt)."""
    for k in ("lastInteractionAt", "updatedAt"):
        v = entry.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) != float("inf"):
            return int(v)
    return None


# OpenClaw's markSessionFailed (main-session-restart-recovery-*.js, 2026.5.28 and 2026.7.1):
# the state a start never resumes. pendingFinalDeliveryIntentId is kept, as OpenClaw does.
DEFUSE_REMOVED_FIELDS = (
    "pendingFinalDelivery",
    "pendingFinalDeliveryText",
    "pendingFinalDeliveryCreatedAt",
    "pendingFinalDeliveryLastAttemptAt",
    "pendingFinalDeliveryAttemptCount",
    "pendingFinalDeliveryLastError",
    "pendingFinalDeliveryContext",
    "restartRecoveryDeliveryContext",
    "restartRecoveryDeliveryRunId",
)


def defused_entry(entry: Mapping[str, JsonValue], now_ms: int) -> JsonObj:
    """The entry as OpenClaw's markSessionFailed leaves it: status "failed", abortedLastRun
    true, endedAt = updatedAt = now, the pending-final-delivery and restart-delivery fields
    removed; existing keys keep their place, new ones are appended in OpenClaw's
    assignment order. Nothing else changes."""
    out = dict(entry)
    out["status"] = "failed"
    out["abortedLastRun"] = True
    out["endedAt"] = now_ms
    out["updatedAt"] = now_ms
    for f in DEFUSE_REMOVED_FIELDS:
        out.pop(f, None)
    return out


@dataclass(frozen=True)
class DefusePolicy:
    """prestart's (and `gc --defuse-resume`'s) limit on the resume set: keep at most
    `max_resume` sessions (the most recently active), none idle longer than `within_ms`."""

    max_resume: int
    within_ms: int
    within_text: str
    source: str

    def to_json(self) -> JsonObj:
        return {
            "max_resume": self.max_resume,
            "resume_within_ms": self.within_ms,
            "resume_within": self.within_text,
            "source": self.source,
        }


@dataclass
class ResumeDecision:
    agent: str
    key: str
    last_active_ms: int | None
    idle_ms: int | None
    action: str  # "keep" (resumed at start) | "defuse"
    reason: str

    def to_json(self) -> JsonObj:
        return dict(self.__dict__)


def plan_defuse(
    candidates: list[tuple[str, str, Mapping[str, JsonValue]]], policy: DefusePolicy, now_ms: int
) -> list[ResumeDecision]:
    """Pure: which sessions of the resume set (agent, key, entry) are kept for the start
    and which are defused. Older than the window → defused; of the rest the
    `max_resume` most recently active (lastInteractionAt, else updatedAt) are kept, across
    every agent (the gateway's `main` lane is shared); ties by agent and key."""

    rows: list[ResumeDecision] = []
    for agent, key, entry in candidates:
        active = resume_activity_ms(entry)
        idle = None if active is None else max(0, now_ms - active)
        rows.append(ResumeDecision(agent, key, active, idle, "keep", "within the resume budget"))
    fresh: list[ResumeDecision] = []
    for r in rows:
        if r.idle_ms is None:
            r.action, r.reason = "defuse", "no lastInteractionAt or updatedAt: its age is unknown"
        elif r.idle_ms > policy.within_ms:
            r.action = "defuse"
            r.reason = f"idle {format_duration(r.idle_ms)} > resume window {policy.within_text}"
        else:
            fresh.append(r)
    fresh.sort(key=lambda r: (-(r.last_active_ms or 0), r.agent, r.key))
    for i, r in enumerate(fresh, start=1):
        if i > policy.max_resume:
            r.action, r.reason = "defuse", f"resume budget: {i} > {policy.max_resume} most recently active"
    return sorted(rows, key=lambda r: (r.agent, r.key))


def installed_openclaw_version() -> tuple[str | None, str | None]:
    """(version, path) of the `openclaw` on PATH: the openclaw package.json near the
    program (its real path, e.g. node_modules/openclaw/openclaw.mjs), or near an absolute
    path a small wrapper script execs. (None, path) when it cannot be told."""
    import os
    import shutil
    from pathlib import Path

    found = shutil.which("openclaw")
    if not found:
        return None, None
    real = os.path.realpath(found)
    v = _version_near([real])
    if v is not None:
        return v, found
    try:
        with open(real, "rb") as f:
            head = f.read(8192)
    except OSError:
        return None, found
    if b"\0" in head:
        return None, found
    for m in re.finditer(rb"/[^\s\"'`;|&<>$()]*openclaw[^\s\"'`;|&<>$()]*", head):
        path = m.group(0).decode("utf-8", "replace")
        v = _version_near([os.path.realpath(path)]) if Path(path).exists() else None
        if v is not None:
            return v, found
    return None, found


def detect_era(state_dir: Path, gateways: list[Gateway] | None = None) -> EraInfo:
    """Which OpenClaw release the next start will run, as well as sessionctl can know it:
    a running gateway of this state dir (its version), else the `openclaw` on PATH, else
    unknown — and unknown means the widest file-era set (every running entry)."""

    gws = gateways if gateways is not None else find_gateways(state_dir)
    for g in gws:
        if g.version:
            return EraInfo(era_for_version(g.version), g.version, f"running gateway (pid {g.pid})")
    v, where = installed_openclaw_version()
    if v is not None:
        return EraInfo(era_for_version(v), v, f"installed openclaw ({where})")
    return EraInfo(ResumeEra.RUNNING, None, "unknown (no running gateway, no readable openclaw on PATH)")


RULE_TEXT = {
    ResumeEra.ABORTED: "status running + abortedLastRun",
    ResumeEra.RUNNING: "status running",
}


def locked_transcripts(snap: AgentSnapshot) -> set[str]:
    """Names of the transcripts that have a `.lock` file beside them (snapshot inventory)."""
    return {fi.owner for fi in snap.inventory.of_kind("lock") if fi.owner}


def file_resume_keys(snap: AgentSnapshot, era: ResumeEra) -> list[EntryView]:
    """The entries (EntryView) of one file-era snapshot the next start resumes."""
    if snap.load.data is None:
        return []
    locked = locked_transcripts(snap)
    return [
        ev
        for ev in snap.entries
        if isinstance(ev.entry, dict)
        and file_resumes_on_start(
            ev.key,
            ev.obj,
            era,
            transcript_locked=ev.ref.path is not None and ev.ref.path.name in locked,
        )
    ]


def file_resume_finding(
    snap: AgentSnapshot, info: EraInfo, thr: ResumeThresholds, now_ms: int
) -> tuple[int, Finding | None]:
    """(size of the resume set, its `sessions.resume_on_start` finding or None) of one
    file-era agent, under the release `info` says will start. Idle from lastInteractionAt,
    else updatedAt (what prestart's --resume-within measures)."""
    era = file_era(info)
    out: list[ResumeSession] = []
    for ev in file_resume_keys(snap, era):
        active = resume_activity_ms(ev.obj)
        idle = max(0, now_ms - active) if active is not None else None
        stale = idle is None or idle > thr.resume_window_ms
        out.append(ResumeSession(snap.agent_id, ev.key, active, idle, stale))
    f = resume_finding(
        snap.agent_id,
        out,
        budget=thr.resume_budget,
        window_ms=thr.resume_window_ms,
        path=str(snap.store.store_path),
        fix="sessionctl prestart (before the gateway starts), or sessionctl gc --defuse-resume",
        rule=RULE_TEXT.get(era, "status running"),
        era=info,
    )
    return len(out), f
