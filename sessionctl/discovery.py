"""Finding every agent's store: openclaw.json's agents ∪ agents/*/sessions/sessions.json
on disk, session.store templates, SQLite-era detection (format doc §1, §9)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sessionctl.config import OpenClawConfig, normalize_agent_id
from sessionctl.fsio import is_within

Layout = Literal["file", "sqlite", "missing"]


@dataclass
class AgentStore:
    agent_id: str
    store_path: Path
    sessions_dir: Path
    layout: Layout
    configured: bool = False
    on_disk: bool = False
    shared: bool = False  # one store shared by all agents (session.store without {agentId})
    sqlite_path: Path | None = None
    legacy_pending: bool = False  # sqlite era with a leftover sessions.json (never modified)

    @property
    def mutable(self) -> bool:
        return self.layout == "file" and not self.legacy_pending


@dataclass
class Skipped:
    what: str
    path: str
    reason: str


@dataclass
class Discovery:
    state_dir: Path
    config: OpenClawConfig
    stores: list[AgentStore] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # folders under agents/ (symlinks too), whatever --agent says: with openclaw.json,
    # what tells an OpenClaw state dir from any other folder (SQLite-era agents included)
    agent_folders: int = 0

    @property
    def is_state_dir(self) -> bool:
        """True when this looks like an OpenClaw state dir: an openclaw.json, a folder
        under agents/ (file-era `sessions/` or SQLite-era `agent/`), or a store found
        through session.store. A state dir with no sessions yet is one."""
        return self.config.exists or self.agent_folders > 0 or bool(self.stores)


def _expand_store(template: str, agent_id: str, state_dir: Path) -> Path:
    p = template.replace("{agentId}", agent_id).strip()
    if p == "~" or p.startswith("~/"):
        p = str(Path.home()) + p[1:]
    path = Path(p)
    return path if path.is_absolute() else state_dir / path


def _inside(path: Path, state_dir: Path) -> Path | None:
    """The realpath of `path` when it lies inside the state dir; None otherwise."""
    real = Path(os.path.realpath(path))
    return real if is_within(real, state_dir) else None


def discover(state_dir: Path, config: OpenClawConfig, only: list[str] | None = None) -> Discovery:
    """Every agent store of this state dir, narrowed to `only` agent ids when given."""
    disc = Discovery(state_dir, config)
    agents_root = state_dir / "agents"
    on_disk: set[str] = set()
    all_dirs: set[str] = set()
    try:
        with os.scandir(agents_root) as it:
            for de in it:
                if de.is_symlink() or de.is_dir(follow_symlinks=False):
                    disc.agent_folders += 1
                if de.is_symlink():
                    disc.skipped.append(Skipped("agent", de.path, "is a symbolic link (not followed)"))
                    continue
                if not de.is_dir(follow_symlinks=False):
                    continue
                all_dirs.add(de.name)
                sess = Path(de.path) / "sessions"
                store = sess / "sessions.json"
                if sess.is_symlink():
                    disc.skipped.append(
                        Skipped("sessions folder", str(sess), "is a symbolic link (not followed)")
                    )
                    continue
                if os.path.lexists(store):
                    on_disk.add(de.name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        disc.skipped.append(Skipped("agents folder", str(agents_root), f"cannot list: {exc.strerror}"))

    configured = list(config.agents)
    ids: list[str] = []
    for a in [*configured, *sorted(on_disk), *sorted(all_dirs)]:
        if a not in ids and (a in configured or a in on_disk or (agents_root / a / "agent").is_dir()):
            ids.append(a)
    if not ids and config.session_store and "{agentId}" not in config.session_store:
        ids = [config.default_agent]
    wanted = {normalize_agent_id(a) for a in only} if only else None

    shared_done = False
    matched: set[str] = set()
    seen_paths: set[Path] = set()
    for aid in ids:
        if wanted is not None and aid not in wanted:
            continue
        if os.path.islink(agents_root / aid):
            # a configured agent whose folder is a symlink: skipped like any linked agent dir
            if not any(s.path == str(agents_root / aid) for s in disc.skipped):
                disc.skipped.append(
                    Skipped("agent", str(agents_root / aid), "is a symbolic link (not followed)")
                )
            continue
        sqlite = agents_root / aid / "agent" / "openclaw-agent.sqlite"
        if config.session_store:
            shared = "{agentId}" not in config.session_store
            store_path = _expand_store(config.session_store, aid, state_dir)
            if shared and shared_done:
                matched.add(aid)
                continue
            shared_done = shared_done or shared
        else:
            shared = False
            store_path = agents_root / aid / "sessions" / "sessions.json"
        if os.path.islink(store_path):
            disc.skipped.append(Skipped("store", str(store_path), "is a symbolic link (not followed)"))
            continue
        parent_real = _inside(store_path.parent, state_dir)
        if parent_real is None:
            disc.skipped.append(
                Skipped(
                    "store", str(store_path), "resolves outside the state dir (not managed by sessionctl)"
                )
            )
            continue
        store_path = parent_real / store_path.name
        matched.add(aid)
        if store_path in seen_paths:
            continue  # two agent ids leading to one store: list it once
        seen_paths.add(store_path)
        exists = os.path.lexists(store_path)
        sqlite_exists = sqlite.is_file() and not sqlite.is_symlink()
        layout: Layout = "sqlite" if sqlite_exists else ("file" if exists else "missing")
        disc.stores.append(
            AgentStore(
                agent_id=aid if not shared else config.default_agent,
                store_path=store_path,
                sessions_dir=parent_real,
                layout=layout,
                configured=aid in configured,
                on_disk=aid in on_disk,
                shared=shared,
                sqlite_path=sqlite if sqlite_exists else None,
                legacy_pending=sqlite_exists and exists,
            )
        )
    if (state_dir / "state" / "openclaw.sqlite").exists():
        from sessionctl.sqlite.discovery import registry_problems

        for what, path, reason in registry_problems(state_dir, set(ids)):
            disc.skipped.append(Skipped(what, path, reason))
    if wanted is not None:
        known = matched | {s.agent_id for s in disc.stores}
        for w in sorted(wanted - known):
            disc.skipped.append(Skipped("agent", w, "no such agent in openclaw.json or on disk"))
    return disc
