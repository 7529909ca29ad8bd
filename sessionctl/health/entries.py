"""health, entries: each entry of a store (entry.*, entry.transcript_missing)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from sessionctl.findings import Finding, Severity, fix_cmd
from sessionctl.snapshot import AgentSnapshot, EntryView
from sessionctl.store import num
from sessionctl.thresholds import HealthThresholds, token_check
from sessionctl.timeutil import format_duration
from sessionctl.transcripts import FileInfo


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
