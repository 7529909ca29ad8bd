"""health, transcripts: each referenced transcript file (transcript.*)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sessionctl.findings import Finding, fix_cmd
from sessionctl.snapshot import AgentSnapshot
from sessionctl.thresholds import HealthThresholds
from sessionctl.transcripts import TranscriptFacts
from sessionctl.units import bytes_h

MAX_LINES_LISTED = 10


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
