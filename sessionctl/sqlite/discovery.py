"""SQLite-era discovery (spec §8.1): OpenClaw finds an agent database at
`<state>/agents/<id>/agent/openclaw-agent.sqlite` for every agent of the roster
(`agents.entries` keys or `agents.list[].id`, sessionctl.config) and records each database it
opened in `state/openclaw.sqlite` `agent_databases` (path relative to the state dir).
sessionctl.discovery finds the databases on disk; this adds what only the registry knows: a
registered database that is not where OpenClaw keeps agent databases, or no longer exists."""

from __future__ import annotations

import os
from pathlib import Path

from sessionctl.sqlite import AGENT_DB_NAME, STATE_DB_REL
from sessionctl.sqlite.reader import read_state_db


def registry_problems(state_dir: Path, agent_ids: set[str]) -> list[tuple[str, str, str]]:
    """(what, path, reason) for registered databases sessionctl will not read."""
    if not os.path.lexists(state_dir.joinpath(*STATE_DB_REL)):
        return []

    st = read_state_db(state_dir)
    out: list[tuple[str, str, str]] = []
    for agent, rel in st.registry:
        expected = f"agents/{agent}/agent/{AGENT_DB_NAME}"
        path = state_dir / rel
        if rel != expected:
            out.append(
                (
                    "agent database",
                    str(path),
                    f"is registered for agent {agent!r} but is not {expected}; not read",
                )
            )
        elif agent not in agent_ids and not path.exists():
            out.append(("agent database", str(path), f"is registered for agent {agent!r} but does not exist"))
    return out
