"""SQLite-era OpenClaw (2026.7.2 and later; verified on 2026.9.6): one database per agent.

Since 2026.7.2 OpenClaw keeps an agent's sessions and transcripts in
`<state>/agents/<id>/agent/openclaw-agent.sqlite` (schema 23 in 2026.9.6) and shared state in
`<state>/state/openclaw.sqlite` (schema 18). This subpackage is everything sessionctl does
with them; the rest of sessionctl reaches it through a few narrow calls (discovery, health,
list, Prometheus, gc, prestart, restore/undo):

  db.py        read-only connections (file:…?mode=ro, query_only, short transactions, never
               immutable=1) and the schema check (user_version + schema_meta owner)
  reader.py    one agent database read once: rows, transcript sizes, archives, integrity;
               the state database: registry, leases, thread bindings, gateway ownership
  snapshot.py  the read agent as an AgentSnapshot, so gc's planner and the era-neutral
               health checks (spawn storms, peers, tokens, entry.stale) work unchanged
  health.py    the SQLite-specific checks and the per-agent statistics
  listing.py   list rows (the rows `openclaw sessions --all-agents` shows)
  openclaw.py  finding and running the `openclaw` executable (the only way sessionctl
               changes a SQLite-era session: OpenClaw's own commands, never SQL writes)
  gc.py        plan → backup (SQLite online backup API) → journal → `openclaw sessions
               delete|archive`; what undo can and cannot reverse
  restore.py   putting a whole database back from a run's backup, with the gateway stopped

Facts come from the SQLite-era spec (shared/openclaw-sqlite/openclaw-sqlite-era.md); §
references in docstrings are to it.
"""

from __future__ import annotations

AGENT_DB_NAME = "openclaw-agent.sqlite"
STATE_DB_REL = ("state", "openclaw.sqlite")
# schema versions sessionctl was verified with (2026.9.6: agent 23, state 18). A database
# with any other user_version is reported as UNKNOWN, never read by guesswork.
SUPPORTED_AGENT_SCHEMAS = frozenset({23})
SUPPORTED_STATE_SCHEMAS = frozenset({18})
# STRICT tables (the whole schema) need SQLite 3.37; readonly_shm needs 3.22
MIN_SQLITE = (3, 37, 0)
