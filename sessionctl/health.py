"""health: validate every store and transcript and report findings. Read-only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sessionctl.context import RunContext
from sessionctl.findings import Finding
from sessionctl.snapshot import AgentSnapshot, ReadMode, snapshot_agent


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

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class HealthReport:
    agents: list[AgentStats]
    findings: list[Finding]
    snapshots: list[AgentSnapshot]


def store_checks(snap: AgentSnapshot, ctx: RunContext) -> list[Finding]:
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
                "until it is imported (sessionctl never modifies it)",
                path=path,
                fix="openclaw doctor --fix",
            )
        )
    repair = f"sessionctl repair --only store --agent {agent}"
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
    elif load.status == "unreadable":
        out.append(Finding("store.unreadable", "critical", agent, str(load.error), path=path))
    return out


def stats_for(snap: AgentSnapshot, now_ms: int) -> AgentStats:
    st = snap.store
    s = AgentStats(st.agent_id, st.layout, str(st.store_path), snap.load.status, store_bytes=snap.load.size)
    s.entries = len(snap.entries)
    s.entries_by_kind = dict(Counter(e.parsed.kind for e in snap.entries))
    for fi in snap.inventory.files:
        if fi.kind in ("transcript", "topic", "fork"):
            s.transcripts += 1
            s.transcript_bytes += fi.size
        elif fi.kind in ("archive", "store_bak"):
            s.archives += 1
            s.archive_bytes += fi.size
    idles = [t for e in snap.entries if (t := e.last_active_ms()[0]) is not None]
    if idles:
        s.oldest_idle_ms = max(0, now_ms - min(idles))
    return s


def run_health(ctx: RunContext, *, deep: bool = False) -> HealthReport:
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
    for store in ctx.discovery.stores:
        if store.layout == "missing":
            stats.append(AgentStats(store.agent_id, "missing", str(store.store_path), "missing"))
            continue
        snap = snapshot_agent(store, ctx.state_dir, main_key=ctx.openclaw.main_key, read=read)
        snaps.append(snap)
        stats.append(stats_for(snap, ctx.now_ms))
        findings.extend(store_checks(snap, ctx))
    return HealthReport(stats, findings, snaps)
