"""health, store level: the store file itself (store.*)."""

from __future__ import annotations

from sessionctl.context import RunContext
from sessionctl.errors import PERMISSION_HINT
from sessionctl.findings import Finding, fix_cmd
from sessionctl.snapshot import AgentSnapshot
from sessionctl.store import TOO_DEEP
from sessionctl.thresholds import HealthThresholds
from sessionctl.units import bytes_h

# a store OpenClaw would read as empty and overwrite: status -> (check id, message)
_DAMAGED = {
    "empty": (
        "store.empty_file",
        "sessions.json is empty: {error}; OpenClaw would read it as no sessions and overwrite it",
    ),
    "unparseable": (
        "store.unparseable",
        "sessions.json is not valid JSON ({error}); OpenClaw would load it as {{}} and overwrite it",
    ),
    "not_object": (
        "store.not_object",
        "sessions.json is not a JSON object ({error}); OpenClaw would treat it as empty",
    ),
}


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
    damaged = _DAMAGED.get(load.status)
    if damaged is not None:
        check, message = damaged
        out.append(
            Finding(
                check,
                "critical",
                agent,
                message.format(error=load.error),
                path=path,
                fix=fix_cmd("store", agent),
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
