"""health, the folder: orphans, locks, temp files, leftovers and archives of a sessions
folder (one listing, stat only). Lock and temp-file ages use the wall clock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Set as AbstractSet

from sessionctl.findings import Finding, fix_cmd
from sessionctl.health.stats import ARCHIVE_KINDS, SESSION_FILE_KINDS
from sessionctl.locks import STORE_LOCK_STALE_MS, TRANSCRIPT_LOCK_STALE_MS, inspect_lock
from sessionctl.snapshot import AgentSnapshot
from sessionctl.thresholds import HealthThresholds
from sessionctl.timeutil import iso_ms
from sessionctl.transcripts import FileInfo
from sessionctl.units import bytes_h


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
