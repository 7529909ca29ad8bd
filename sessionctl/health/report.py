"""health's driver: run every check on every selected agent (run_health) into a
HealthReport; SqliteHealth is the narrow bridge to sessionctl.sqlite."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sessionctl.context import RunContext
from sessionctl.findings import SEVERITY_RANK, Finding
from sessionctl.gateway import find_gateways
from sessionctl.health.cross_agent import binding_checks, peer_checks
from sessionctl.health.entries import entry_checks
from sessionctl.health.folder import external_references, folder_checks, orphan_checks
from sessionctl.health.runs import runs_checks
from sessionctl.health.stale import resume_checks, stale_checks
from sessionctl.health.stats import AgentStats, stats_for
from sessionctl.health.store import size_checks, store_checks
from sessionctl.health.storms import storm_checks
from sessionctl.health.transcripts import transcript_checks
from sessionctl.jsonjs import JsonObj
from sessionctl.policy.sources import resolve_policy
from sessionctl.snapshot import (
    AgentSnapshot,
    FactsPrefetch,
    ReadMode,
    last_third,
    prefetch_facts,
    read_entry_facts,
    snapshot_agent,
    wanted_paths,
)
from sessionctl.thresholds import HealthThresholds, thresholds_for
from sessionctl.timeutil import now_ms as wall_now

if TYPE_CHECKING:
    from pathlib import Path

    from sessionctl.discovery import AgentStore
    from sessionctl.policy.model import Policy
    from sessionctl.sqlite.reader import AgentDb
    from sessionctl.store import StoreLoad


@dataclass
class HealthReport:
    agents: list[AgentStats]
    findings: list[Finding]
    snapshots: list[AgentSnapshot]
    thresholds: HealthThresholds
    stale_policy: JsonObj | None = None

    def counts(self) -> dict[str, int]:
        c = Counter(f.severity for f in self.findings)
        return {s: c.get(s, 0) for s in ("critical", "warning", "info")}

    def unknown_agents(self) -> list[str]:
        """Agents whose store health could not judge at all (store_status 'unknown')."""
        return [a.agent for a in self.agents if a.store_status == "unknown"]

    def by_check(self) -> dict[str, int]:
        return dict(sorted(Counter(f.check for f in self.findings).items()))


def sort_findings(findings: Iterable[Finding], agent_order: list[str]) -> list[Finding]:
    order = {a: i for i, a in enumerate(agent_order)}

    def k(f: Finding) -> tuple[int, int, str, str, str, str, str]:
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
        self.dbs: list[AgentDb] = []

    def agent(
        self, store: AgentStore, now: int
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


def _snapshot(
    ctx: RunContext, store: AgentStore, read: ReadMode, load: StoreLoad | None = None
) -> AgentSnapshot:
    """One agent's snapshot as every check reads it (slim; a denied read is reported)."""
    return snapshot_agent(
        store,
        ctx.state_dir,
        main_key=ctx.openclaw.main_key,
        read=read,
        slim=True,
        report_denied=True,
        load=load,
    )


def _file_store_checks(
    ctx: RunContext,
    snap: AgentSnapshot,
    store: AgentStore,
    found: list[Finding],
    thr: HealthThresholds,
    now: int,
    wall: int,
    deep: bool,
    in_sqlite_era: bool,
) -> None:
    """The checks of one file-era store, once its transcripts' facts are read."""
    if in_sqlite_era and snap.load.status != "missing":
        from sessionctl.sqlite.health import pending_import

        found.append(pending_import(store))
    found.extend(store_checks(snap, ctx))
    found.extend(size_checks(snap, thr))
    found.extend(entry_checks(snap, thr, now))
    found.extend(transcript_checks(snap, thr, deep))
    found.extend(folder_checks(snap, thr, wall))
    found.extend(storm_checks(snap, thr))


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
    from sessionctl.sqlite.health import sqlite_era_state

    in_sqlite_era = sqlite_era_state(ctx.state_dir, stores)
    era = SqliteHealth(ctx, thr, deep=deep) if in_sqlite_era else None
    gc_snaps: list[AgentSnapshot] = []  # what gc plans from: entry.stale is gc's own decision
    # outside the SQLite era, a cheap read has a child read the transcripts' facts (and
    # load the last third of the stores) while this process parses the others
    # (snapshot.FactsPrefetch, as gc does); each file-era store's checks then wait for
    # the facts, in the same order as without it
    ahead: FactsPrefetch | None = None
    ahead_paths: list[Path] = []
    if not deep and era is None:
        file_stores = [st for st in stores if st.layout == "file"]
        ahead_paths = last_third([st.store_path for st in file_stores])
        ahead = prefetch_facts(file_stores, load=ahead_paths, slim=True)
    # findings in store order: a file-era store's are filled in once its facts are read
    per_store: list[list[Finding]] = []
    waiting: list[tuple[int, AgentSnapshot, AgentStore]] = []
    try:
        for i, store in enumerate(stores):
            ctx.tick(f"agent {store.agent_id}", i, len(stores))
            ctx.checkpoint()  # a safe point (read-only)
            found: list[Finding] = []
            per_store.append(found)
            if store.layout == "missing":
                stats.append(AgentStats(store.agent_id, store.layout, str(store.store_path), "missing"))
                continue
            if store.legacy_pending:
                # the legacy sessions.json is never modified and no longer read by the runtime:
                # report it, check nothing inside it (the agent's database is checked below)
                snap = _snapshot(ctx, store, "none")
                found.extend(store_checks(snap, ctx))
            if store.layout == "sqlite" and era is not None:
                s_snap, gc_snap, s_stats, s_findings = era.agent(store, now)
                stats.append(s_stats)
                found.extend(s_findings)
                if s_snap is not None and gc_snap is not None:
                    snaps.append(s_snap)
                    if not policy.openclaw_only:  # as gc plans them (sessionctl/sqlite/gc.py)
                        gc_snaps.append(gc_snap)
                    found.extend(storm_checks(s_snap, thr))
                continue
            if ahead is None:
                snap = _snapshot(ctx, store, read)
                stats.append(stats_for(snap, now))
                _file_store_checks(ctx, snap, store, found, thr, now, wall, deep, in_sqlite_era)
            else:
                load = ahead.store(store.store_path) if store.store_path in ahead_paths else None
                snap = _snapshot(ctx, store, "none", load)
                waiting.append((len(stats), snap, store))
                stats.append(AgentStats(store.agent_id, store.layout, str(store.store_path), "missing"))
            snaps.append(snap)
            gc_snaps.append(snap)
        if ahead is not None:
            cache = ahead.collect(wanted_paths(snap for _slot, snap, _store in waiting))
            for slot, snap, store in waiting:
                read_entry_facts(snap, cache=cache)
                stats[slot] = stats_for(snap, now)
                _file_store_checks(ctx, snap, store, per_store[slot], thr, now, wall, deep, in_sqlite_era)
    finally:
        if ahead is not None:
            ahead.close()
    for found in per_store:
        findings.extend(found)
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
