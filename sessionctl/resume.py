"""The restart resume set: the sessions the next gateway start will resume on its own.

One rule, used for every era that has it (health's `sessions.resume_on_start`, list's
`resume-on-start` flag, prestart's report). At start-up OpenClaw scans every agent store for
entries with `status == "running"` and `abortedLastRun == true` and resumes each one — one at
a time, retrying — unless it is a subagent, cron or ACP session or carries `spawnDepth > 0` or
a `subagentRole`, or its `mainRestartRecovery` already holds a reservation, a foreground
claim or a tombstone (exhausted retries). No age limit applies: a session left that way for
weeks is resumed too, which is the stale-session-resume outage.

Sources: 2026.9.6 `isMainRestartRecoveryCandidate` / `isMainSessionRecoveryPending`
(dist/main-session-recovery-state-*.mjs) and `recoverRestartAbortedMainSessions`
(SQLite-era spec §7.2); 2026.5.28 has the same candidate rule (issue 13 models the file-era
releases and extends this module).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


def resumes_on_start(key: str, entry: Mapping[str, Any], status: Any = None) -> bool:
    """True when the next gateway start resumes this session. `status` is the SQLite
    `status` column when there is one (it is a projection of `entry.status`)."""
    st = status if status is not None else entry.get("status")
    if st != "running" or entry.get("abortedLastRun") is not True:
        return False
    depth = entry.get("spawnDepth")
    if isinstance(depth, int | float) and not isinstance(depth, bool) and depth > 0:
        return False
    if entry.get("subagentRole") is not None or not resume_candidate_key(key):
        return False
    state = entry.get("mainRestartRecovery")
    claimed = isinstance(state, dict) and any(
        state.get(k) for k in ("foregroundClaims", "reservation", "tombstone")
    )
    return not claimed


@dataclass
class ResumeSession:
    agent: str
    key: str
    last_active_ms: int | None
    idle_ms: int | None
    stale: bool  # idle longer than the resume window: resuming it is the outage

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def resume_finding(
    agent: str,
    sessions: list[ResumeSession],
    *,
    budget: int,
    window_ms: int,
    path: str | None,
    fix: str | None = None,
) -> Any:
    """The `sessions.resume_on_start` finding of one agent (None when its set is empty).
    warning when the set is larger than `budget` (OpenClaw resumes them one at a time on the
    main lane) or holds a stale session (idle longer than `window_ms`); info otherwise."""
    from sessionctl.findings import Finding
    from sessionctl.timeutil import format_duration

    if not sessions:
        return None
    stale = [s for s in sessions if s.stale]
    over = len(sessions) > budget
    sev = "warning" if over or stale else "info"
    msg = f"{len(sessions)} session(s) will be resumed when the gateway starts (status running + abortedLastRun)"
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
        },
    )
