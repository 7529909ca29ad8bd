"""Health of SQLite-era agents: the checks only this era has, the checks both eras share
applied to its rows, and the per-agent statistics. Read-only, pure functions of what
`reader` read (plus the thresholds and the run's clock).

Era-neutral checks (spawn storms, duplicate peers, `entry.stale`) run in sessionctl.health on
the AgentSnapshot of each agent (see snapshot.py); this module adds, per agent:

  store.unreadable, sqlite.schema_unsupported, sqlite.owner_mismatch   (can it be read at all)
  sqlite.integrity         quick_check / integrity_check did not say ok
  sqlite.wal_oversized     -wal above max(2 × database, 64 MiB): OpenClaw's own warning level
  sqlite.disk_budget       database + -wal + sessions/ over session.maintenance.highWaterBytes
  sqlite.entry_not_valid   rows whose entry_valid is not 1
  sqlite.archive_unpublished  canonical archives OpenClaw has not published as a file
  entry.tokens_high, transcript.oversized, store.too_many_entries, archive.accumulated,
  sessions.resume_on_start (same ids and meaning as the file era)

and, for the state database: sqlite.lease_stale, binding.expired, binding.dangling.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from sessionctl.discovery import AgentStore
from sessionctl.findings import Finding, Severity, fix_cmd
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.locks import pid_alive, proc_starttime
from sessionctl.resume import ResumeSession, resume_finding, sqlite_resumes_on_start
from sessionctl.snapshot import AgentSnapshot
from sessionctl.sqlite.reader import AgentDb, StateDb, state_db_path
from sessionctl.thresholds import HealthThresholds, token_check
from sessionctl.timeutil import iso_ms
from sessionctl.units import bytes_h

WAL_FLOOR_BYTES = 64 << 20  # OpenClaw warns above max(2 × database, 64 MiB) (spec §6.3)
DEFAULT_MAX_DISK_BYTES = 10 * 1024**3  # session.maintenance.maxDiskBytes default "10gb"
HIGH_WATER_RATIO = 0.8
UNPUBLISHED_GRACE_MS = 10 * 60_000  # OpenClaw publishes right after the commit, then retries
_UNITS = {"b": 1, "kb": 1024, "k": 1024, "mb": 1024**2, "m": 1024**2, "gb": 1024**3, "g": 1024**3}
_UNITS.update({"tb": 1024**4, "t": 1024**4})


def _byte_size(raw: JsonValue) -> int | None:
    """OpenClaw's parseByteSize with defaultUnit b (dist/parse-bytes-*.mjs); None = invalid."""
    import re

    if isinstance(raw, bool):
        return None
    text = (str(raw) if isinstance(raw, int | float) else raw if isinstance(raw, str) else "").strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]+)?", text)
    if not m:
        return None
    mult = _UNITS.get(m.group(2) or "b")
    return round(float(m.group(1)) * mult) if mult else None


def disk_budget(maintenance: JsonObj) -> tuple[int | None, int | None]:
    """(maxDiskBytes, highWaterBytes) as OpenClaw resolves them (resolveMaxDiskBytes /
    resolveHighWaterBytes): unset → 10 GiB and 80 %; `false`, 0 or unreadable → no budget."""
    raw = maintenance.get("maxDiskBytes")
    if raw is False:
        return None, None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        mx: int | None = DEFAULT_MAX_DISK_BYTES
    else:
        mx = _byte_size(raw)
        if mx is None or mx <= 0:
            return None, None
    assert mx is not None
    default_hw = max(1, min(mx, int(mx * HIGH_WATER_RATIO)))
    hw_raw = maintenance.get("highWaterBytes")
    hw = _byte_size(hw_raw) if hw_raw is not None and hw_raw is not False else None
    return mx, min(hw, mx) if hw is not None and hw > 0 else default_hw


# ---------------------------------------------------------------- per agent


def agent_checks(
    adb: AgentDb,
    snap: AgentSnapshot | None,
    thr: HealthThresholds,
    now_ms: int,
    maintenance: JsonObj,
) -> list[Finding]:
    """The findings of one SQLite-era agent database (see the module doc)."""

    agent, path = adb.agent_id, str(adb.path)
    if adb.status == "unreadable":
        return [Finding("store.unreadable", "critical", agent, adb.error or "cannot read", path=path)]
    if adb.status == "unknown":
        check, msg = adb.problem or ("sqlite.schema_unsupported", adb.error or "not checked")
        sev: Severity = "critical" if check == "sqlite.owner_mismatch" else "warning"
        schema = adb.schema.to_json() if adb.schema is not None else None
        return [Finding(check, sev, agent, msg, path=path, data={"schema": schema})]
    out: list[Finding] = []
    if adb.integrity is not None and adb.integrity != ["ok"]:
        out.append(
            Finding(
                "sqlite.integrity",
                "critical",
                agent,
                f"PRAGMA {adb.integrity_mode} reports {len(adb.integrity)} problem(s): {adb.integrity[0]}",
                path=path,
                fix="openclaw doctor --session-sqlite recover",
                data={"mode": adb.integrity_mode, "problems": adb.integrity},
            )
        )
    wal_limit = max(2 * adb.db_bytes, WAL_FLOOR_BYTES)
    if adb.wal_bytes > wal_limit:
        out.append(
            Finding(
                "sqlite.wal_oversized",
                "warning",
                agent,
                f"the -wal is {bytes_h(adb.wal_bytes)}, more than max(2 × the database, 64 MiB) = "
                f"{bytes_h(wal_limit)}: a long-lived reader keeps OpenClaw from checkpointing",
                path=path + "-wal",
                data={"wal_bytes": adb.wal_bytes, "db_bytes": adb.db_bytes, "limit": wal_limit},
            )
        )
    mx, hw = disk_budget(maintenance)
    if mx is not None and hw is not None and adb.disk_bytes > hw:
        over = adb.disk_bytes > mx
        out.append(
            Finding(
                "sqlite.disk_budget",
                "warning",
                agent,
                f"{bytes_h(adb.disk_bytes)} (database, -wal and sessions/) is over "
                + (
                    f"session.maintenance.maxDiskBytes ({bytes_h(mx)}): OpenClaw evicts archives and old "
                    "transcript generations"
                    if over
                    else f"the high-water mark {bytes_h(hw)} of maxDiskBytes {bytes_h(mx)}"
                ),
                path=path,
                data={
                    "bytes": adb.disk_bytes,
                    "max_disk_bytes": mx,
                    "high_water_bytes": hw,
                    "over_max": over,
                },
            )
        )
    bad = [n for n in adb.nodes if n.entry_valid != 1]
    for n in bad:
        pending = n.entry_valid == 0
        out.append(
            Finding(
                "sqlite.entry_not_valid",
                "warning" if pending else "info",
                agent,
                "entry_valid = 0: the row was written outside OpenClaw's entry writer (or that write was "
                "interrupted) and waits for OpenClaw to validate it"
                if pending
                else f"entry_valid = {n.entry_valid}: the session entry was cleared, its transcript kept",
                key=n.key,
                path=path,
                data={"entry_valid": n.entry_valid, "listed": n.listed},
            )
        )
    unpublished = [
        a for a in adb.archives if a.published_at is None and now_ms - a.created_at > UNPUBLISHED_GRACE_MS
    ]
    if unpublished:
        errs = sorted({a.last_publish_error for a in unpublished if a.last_publish_error})
        out.append(
            Finding(
                "sqlite.archive_unpublished",
                "warning",
                agent,
                f"{len(unpublished)} transcript archive(s) exist only as database rows: OpenClaw has not "
                "written their file into sessions/" + (f" (last error: {errs[0]})" if errs else ""),
                path=path,
                data={
                    "count": len(unpublished),
                    "archives": [
                        {"name": a.name, "key": a.session_key, "attempts": a.publish_attempts}
                        for a in unpublished[:10]
                    ],
                    "errors": errs[:5],
                },
            )
        )
    out.extend(_archive_accumulated(adb))
    if snap is not None:
        out.extend(_entry_checks(adb, snap, thr, now_ms, path))
    return out


def _archive_accumulated(adb: AgentDb) -> list[Finding]:

    if not adb.archives and not adb.archive_files:
        return []
    rows = adb.archives
    reasons = Counter(a.reason for a in rows)
    oldest = min((a.created_at for a in rows), default=None)
    file_bytes = sum(s for _n, s in adb.archive_files)
    blob_bytes = sum(a.bytes for a in rows)
    parts = ", ".join(f"{n} .{r}" for r, n in sorted(reasons.items())) or "no rows"
    since = f", oldest {iso_ms(oldest)}" if oldest is not None else ""
    return [
        Finding(
            "archive.accumulated",
            "info",
            adb.agent_id,
            f"{len(rows)} transcript archives ({parts}) hold {bytes_h(blob_bytes)} in the database, "
            f"{len(adb.archive_files)} archive file(s) {bytes_h(file_bytes)} in sessions/{since}",
            path=str(adb.path),
            data={
                "count": len(rows),
                "bytes": blob_bytes,
                "by_reason": dict(sorted(reasons.items())),
                "oldest": iso_ms(oldest) if oldest is not None else None,
                "files": len(adb.archive_files),
                "file_bytes": file_bytes,
            },
        )
    ]


def _entry_checks(
    adb: AgentDb,
    snap: AgentSnapshot,
    thr: HealthThresholds,
    now_ms: int,
    path: str,
) -> list[Finding]:

    out: list[Finding] = []
    agent = adb.agent_id
    nodes = {n.key: n for n in adb.nodes}
    resume: list[ResumeSession] = []
    unarchived = 0
    for ev in snap.entries:
        n = nodes[ev.key]
        if not n.archived:
            unarchived += 1
        out.extend(token_check(ev, agent, thr))
        t = adb.transcripts.get(n.session_id)
        if t is not None and t.bytes > thr.transcript_max_bytes:
            out.append(
                Finding(
                    "transcript.oversized",
                    "warning",
                    agent,
                    f"transcript is {bytes_h(t.bytes)} in {t.events} events (threshold "
                    f"{bytes_h(thr.transcript_max_bytes)}); compact or /reset the session",
                    key=ev.key,
                    path=path,
                    data={
                        "bytes": t.bytes,
                        "threshold": thr.transcript_max_bytes,
                        "events": t.events,
                        "session_id": n.session_id,
                    },
                )
            )
        if ev.entry is not None and sqlite_resumes_on_start(ev.key, ev.obj, n.status):
            active, _src = ev.last_active_ms()
            idle = max(0, now_ms - active) if active is not None else None
            stale = idle is None or idle > thr.resume_window_ms
            resume.append(ResumeSession(agent, ev.key, active, idle, stale))
    limit = thr.max_entries_for("sqlite")
    if unarchived > limit:
        src = {
            "openclaw.json": " (session.maintenance.maxEntries)",
            "default": " (OpenClaw 2026.9's default maxEntries)",
        }
        out.append(
            Finding(
                "store.too_many_entries",
                "warning",
                agent,
                f"{unarchived} unarchived sessions, over the threshold of {limit}{src.get(thr.max_entries_source, '')}",
                path=path,
                fix=fix_cmd("gc", agent),
                data={"entries": unarchived, "threshold": limit, "source": thr.max_entries_source},
            )
        )
    f = resume_finding(agent, resume, budget=thr.resume_budget, window_ms=thr.resume_window_ms, path=path)
    if f is not None:
        out.append(f)
    return out


# ---------------------------------------------------------------- a mixed state


def sqlite_era_state(state_dir: Path, stores: Iterable[AgentStore]) -> bool:
    """True when a SQLite-era release has run on this state dir: it has an agent database or
    the shared `state/openclaw.sqlite` (file-era releases create neither)."""

    return any(s.layout == "sqlite" for s in stores) or state_db_path(state_dir).exists()


def pending_import(store: AgentStore) -> Finding:
    """A file-era sessions.json in a SQLite-era state dir: OpenClaw 2026.8+ checks every
    agent folder's sessions.json at start-up (`assertSessionStoreMigrationComplete`) and
    refuses to start until `openclaw doctor --fix` has imported it."""
    return Finding(
        "store.pending_import",
        "critical",
        store.agent_id,
        "a file-era sessions.json in a state dir OpenClaw already runs in the SQLite era: the gateway "
        "refuses to start until `openclaw doctor --fix` imports it (sessionctl still checks and cleans it "
        "as a file-era store)",
        path=str(store.store_path),
        fix="openclaw doctor --fix",
    )


# ---------------------------------------------------------------- the state database


def state_checks(
    state: StateDb, adbs: Iterable[AgentDb], now_ms: int, wanted: set[str] | None
) -> list[Finding]:
    """Stale leases, expired and dangling thread bindings of `state/openclaw.sqlite`."""

    if not state.exists:
        return []
    path = str(state.path)
    if state.status == "unreadable":
        return [Finding("store.unreadable", "critical", None, state.error or "cannot read", path=path)]
    if state.status == "unknown":
        check, msg = state.problem or ("sqlite.schema_unsupported", state.error or "not checked")
        return [Finding(check, "warning", None, msg, path=path)]
    out: list[Finding] = []
    for lease in state.leases:
        if wanted is not None and lease.agent_id not in wanted:
            continue
        alive = pid_alive(lease.owner_pid)
        start = proc_starttime(lease.owner_pid) if alive is not False else None
        recycled = (
            alive is not False
            and lease.owner_start_time is not None
            and start is not None
            and start != lease.owner_start_time
        )
        if alive is False or recycled:
            why = "is not running" if alive is False else "is a different process now (start time differs)"
            out.append(
                Finding(
                    "sqlite.lease_stale",
                    "info",
                    lease.agent_id,
                    f"database lease of pid {lease.owner_pid} for {lease.path}: the process {why}; "
                    "the next OpenClaw process that opens the database sweeps it",
                    path=path,
                    data={"pid": lease.owner_pid, "lease_id": lease.lease_id, "opened_at": lease.opened_at},
                )
            )
    keys: dict[str, set[str] | None] = {}
    for adb in adbs:
        keys[adb.agent_id] = {n.key.strip().lower() for n in adb.nodes if n.listed} if adb.ok else None
    for b in state.bindings:
        agent = b.target_agent
        if wanted is not None and agent not in wanted:
            continue
        where = b.namespace or b.source
        what = f"{b.channel or 'conversation'} binding {b.conversation_id or b.ident} ({where})"
        data = b.to_json()
        if b.expires_at is not None and b.expires_at < now_ms:
            out.append(
                Finding(
                    "binding.expired",
                    "info",
                    agent,
                    f"{what} expired; only a running gateway sweeps it",
                    key=b.target_session_key,
                    path=path,
                    data=data,
                )
            )
        elif agent is not None and b.target_session_key and agent in keys:
            known = keys[agent]
            if known is not None and b.target_session_key.strip().lower() not in known:
                out.append(
                    Finding(
                        "binding.dangling",
                        "warning",
                        agent,
                        f"{what} is bound to session {b.target_session_key}, which no longer exists in agent {agent!r}",
                        key=b.target_session_key,
                        path=path,
                        data=data,
                    )
                )
    return out


# ---------------------------------------------------------------- statistics


def sqlite_stats(adb: AgentDb, snap: AgentSnapshot | None, maintenance: JsonObj) -> JsonObj:
    """`agents[].sqlite` of health's JSON (docs/health.md)."""
    mx, hw = disk_budget(maintenance)
    listed = [n for n in adb.nodes if n.listed]
    current = {n.session_id for n in adb.nodes}
    historical = [t for sid, t in adb.transcripts.items() if sid not in current]
    return {
        "db_path": str(adb.path),
        "status": adb.status,
        "schema_version": adb.schema.user_version if adb.schema is not None else None,
        "app_version": adb.schema.app_version if adb.schema is not None else None,
        "db_bytes": adb.db_bytes,
        "wal_bytes": adb.wal_bytes,
        "disk_bytes": adb.disk_bytes,
        "max_disk_bytes": mx,
        "high_water_bytes": hw,
        "rows": len(adb.nodes),
        "archived_entries": sum(1 for n in listed if n.archived),
        "unarchived_entries": sum(1 for n in listed if not n.archived),
        "invalid_entries": sum(1 for n in adb.nodes if n.entry_valid != 1),
        "historical_transcripts": len(historical),
        "historical_transcript_bytes": sum(t.bytes for t in historical),
        "unpublished_archives": sum(1 for a in adb.archives if a.published_at is None),
        "integrity": None if adb.integrity is None else ("ok" if adb.integrity == ["ok"] else "failed"),
        "integrity_mode": adb.integrity_mode,
    }
