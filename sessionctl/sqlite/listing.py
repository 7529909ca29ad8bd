"""list rows for SQLite-era agents: exactly the rows `openclaw sessions --all-agents` shows
(every `session_nodes` row whose entry is an object with a string sessionId and a finite
updatedAt, internal-effects keys left out, archived ones included), in the same row shape
as the file era."""

from __future__ import annotations

from sessionctl.discovery import AgentStore
from sessionctl.jsonjs import JsonObj
from sessionctl.listing import identity_columns
from sessionctl.resume import sqlite_resumes_on_start
from sessionctl.sqlite.reader import AgentDb, read_agent_db
from sessionctl.sqlite.snapshot import sqlite_snapshot


def read_for_list(store: AgentStore) -> AgentDb:
    assert store.sqlite_path is not None
    return read_agent_db(store.agent_id, store.sqlite_path, store.sessions_dir, integrity=None)


def sqlite_rows(
    store: AgentStore, adb: AgentDb, now_ms: int, main_key: str, kinds: set[str] | None
) -> list[JsonObj]:
    snap = sqlite_snapshot(store, adb, main_key=main_key)
    nodes = {n.key: n for n in adb.nodes}
    rows: list[JsonObj] = []
    for ev in snap.entries:
        if kinds is not None and ev.parsed.kind not in kinds:
            continue
        n = nodes[ev.key]
        started, started_src = ev.started_ms()
        active, active_src = ev.last_active_ms()
        t = adb.transcripts.get(n.session_id)
        flags: list[str] = []
        if n.archived:
            flags.append("archived")
        if n.entry_valid != 1:
            flags.append("entry-not-valid")
        if t is None or not t.events:
            flags.append("missing-transcript")
        if sqlite_resumes_on_start(ev.key, ev.obj, n.status):
            flags.append("resume-on-start")
        rows.append(
            {
                "agent": store.agent_id,
                **identity_columns(ev),
                "started_at": started,
                "started_from": "first transcript event"
                if started_src == "transcript header"
                else started_src,
                "last_active_at": active,
                "last_active_from": "last transcript event" if active_src == "transcript" else active_src,
                "age_ms": now_ms - started if started is not None else None,
                "idle_ms": now_ms - active if active is not None else None,
                "transcript": None,
                "transcript_bytes": t.bytes if t is not None and t.events else None,
                "tokens": ev.total_tokens(),
                "flags": flags,
                "layout": "sqlite",
                "store": str(adb.path),
                "archived_at": n.archived_at,
            }
        )
    return rows
