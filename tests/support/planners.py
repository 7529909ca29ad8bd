"""Facts built in memory for the pure planners (archive.decide_archive,
dedupe.decide_peers, repair.decide_repair): an agent's snapshot from a dict of entries
and a listing of file names, with no file on disk.

The paths are under STATE, a folder that does not exist: what the planners decide from
is only what these facts say.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sessionctl.archive import AgentFacts
from sessionctl.discovery import AgentStore
from sessionctl.snapshot import AgentSnapshot, snapshot_agent
from sessionctl.store import StoreLoad, StoreStatus
from sessionctl.transcripts import FileInfo, Inventory, classify

STATE = Path("/nonexistent/sessionctl-planner-state")


def sessions_dir(agent: str) -> Path:
    return STATE / "agents" / agent / "sessions"


def mem_snapshot(
    agent: str,
    entries: Mapping[str, Any] | None,
    files: Mapping[str, tuple[int, int]] = {},
    *,
    status: StoreStatus = "ok",
    raw: bytes | None = None,
    error: str | None = None,
) -> AgentSnapshot:
    """An agent as snapshot_agent reads it: `entries` (None: the store did not load,
    with `status`), `files` name → (size, mtime ms) of its sessions folder."""
    sdir = sessions_dir(agent)
    store = AgentStore(agent, sdir / "sessions.json", sdir, "file", configured=True, on_disk=True)
    inv = Inventory(sdir)
    for name, (size, mtime_ms) in files.items():
        kind, extra = classify(name)
        fi = FileInfo(name, sdir, kind, size, mtime_ms, **extra)
        inv.files.append(fi)
        inv.by_name[name] = fi
    data = dict(entries) if entries is not None else None
    load = StoreLoad(
        sdir / "sessions.json", "ok" if data is not None else status, data=data, raw=raw, error=error
    )
    return snapshot_agent(store, STATE, read="none", load=load, inventory=inv)


def mem_facts(snap: AgentSnapshot, *, selected: bool = True) -> AgentFacts:
    """Where the agent's files are, as agent_facts would find them on a plain state dir."""
    folder = f"agents/{snap.agent_id}/sessions"
    return AgentFacts(snap, STATE, f"{folder}/sessions.json", folder, selected)


def entry(sid: str, updated_at: int, **more: Any) -> dict[str, Any]:
    return {"sessionId": sid, "updatedAt": updated_at, **more}
