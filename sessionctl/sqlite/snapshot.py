"""A read SQLite-era agent as an AgentSnapshot.

The planner (`policy.plan_gc`) and the era-neutral health checks (spawn storms, peers,
tokens, `entry.stale`) are pure functions of AgentSnapshots; an agent database read by
`reader.read_agent_db` becomes one here, so both eras are judged by the same code:

- each listed row (what `openclaw sessions` shows) is an EntryView of its `entry_json`;
- its transcript facts are the current transcript generation's: size = SUM(event_utf8_bytes),
  first/last event time from `created_at` (no event content is read);
- the store path is the database, the folder inventory is empty (SQLite-era transcripts are
  rows, not files: nothing for the file-era folder checks to find).
"""

from __future__ import annotations

import dataclasses

from sessionctl.discovery import AgentStore
from sessionctl.keys import parse_key
from sessionctl.snapshot import AgentSnapshot, EntryView
from sessionctl.sqlite.reader import AgentDb, Node
from sessionctl.store import StoreLoad, TranscriptRef
from sessionctl.transcripts import Inventory, TranscriptFacts


def is_synthetic(key: str) -> bool:
    """OpenClaw's `isSyntheticSessionMaintenanceKey` (dist/store-maintenance-*.mjs): the
    machine-made sessions its own maintenance deletes (with an archive) instead of archiving
    in place — model-run probes, subagent, ACP, cron, acp-bridge, hook, node and heartbeat."""
    k = key.strip().lower()
    parts = k.split(":", 2)
    rest = parts[2] if len(parts) == 3 and parts[0] == "agent" and parts[1] else k
    if k.startswith(("subagent:", "acp:")):
        return True
    if rest.startswith(("subagent:", "acp:", "cron:", "acp-bridge:", "hook:", "node:")):
        return True
    if rest.startswith("explicit:model-run-"):
        return True
    return rest == "heartbeat" or rest.endswith(":heartbeat") or ":heartbeat:" in rest


def is_cron_run(key: str) -> bool:
    """OpenClaw's `isCronRunSessionKey`: `agent:<id>:cron:<job>:run:<id>` (the gateway's
    sessions.list never lists these)."""
    import re

    k = key.strip().lower()
    parts = k.split(":", 2)
    rest = parts[2] if len(parts) == 3 and parts[0] == "agent" else ""
    return re.match(r"^cron:[^:]+:run:[^:]+(?::|$)", rest) is not None


def facts_for(adb: AgentDb, node: Node) -> TranscriptFacts:
    t = adb.transcripts.get(node.session_id)
    f = TranscriptFacts(adb.path, header_ok=True)
    if t is not None and t.events:
        f.size = t.bytes
        f.header_ts_ms = t.first_event_at
        f.last_ts_ms = t.last_event_at
        f.mtime_ms = t.last_event_at or 0
        f.lines = t.events
        f.header_id = node.session_id
    return f


def sqlite_snapshot(
    store: AgentStore,
    adb: AgentDb,
    *,
    main_key: str = "main",
    include: str = "listed",
) -> AgentSnapshot:
    """The agent as an AgentSnapshot. `include`: 'listed' (every row OpenClaw lists) or
    'gc' (what sessionctl gc can act on: listed rows, minus ordinary sessions that are
    already archived — gc would only archive them again; synthetic ones are deleted)."""
    st = dataclasses.replace(store, store_path=adb.path)
    nodes = [n for n in adb.nodes if n.listed]
    if include == "gc":
        nodes = [n for n in nodes if not n.archived or is_synthetic(n.key)]
    data = {n.key: n.entry for n in nodes}
    load = StoreLoad(adb.path, "ok", data, None, adb.db_bytes)
    snap = AgentSnapshot(st, load, Inventory(store.sessions_dir))
    for n in nodes:
        ev = EntryView(n.key, parse_key(n.key, main_key), n.entry, None, TranscriptRef(None, "none"))
        ev.facts = facts_for(adb, n)
        snap.entries.append(ev)
    return snap
