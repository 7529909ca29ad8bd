"""Discovery of agent stores (format doc §1, §9) and state-dir resolution (OpenClaw's rules),
with explicit `environ` dicts — never the real HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.helpers import StateDir

from sessionctl.config import OpenClawConfig, load_openclaw_config, normalize_agent_id, resolve_state_dir
from sessionctl.discovery import AgentStore, Discovery, discover
from sessionctl.errors import NotFoundError


def _discover(state: StateDir, only: list[str] | None = None) -> Discovery:
    return discover(state.root, load_openclaw_config(state.root, environ={}), only)


def _by_agent(d: Discovery) -> dict[str, AgentStore]:
    return {s.agent_id: s for s in d.stores}


# ------------------------------------------------------------ openclaw.json (JSON5)

JSON5_CONFIG = """
// OpenClaw config, hand-edited
{
  agents: {
    list: [
      { id: "Main", default: true, },   // normalised to "main"
      { id: 'Work Bot!' },              /* → "work-bot" */
      { id: "ops" },
    ],
  },
  bindings: [
    { agentId: "ops",
      match: { channel: "Telegram", accountId: "Alerts", peer: { kind: "group", id: -100123 } } },
    { match: { channel: "slack" } },     // no agentId: ignored
  ],
  session: {
    dmScope: "per-channel-peer",
    mainKey: " Home ",
    maintenance: { mode: "enforce", pruneAfter: "30d", maxEntries: 500, },
    identityLinks: { alice: ["telegram:1", "discord:2"] },
  },
  cron: { sessionRetention: "24h" },
}
"""


def test_json5_config_with_comments_trailing_commas_unquoted_keys(state: StateDir) -> None:
    state.write_config(JSON5_CONFIG)
    cfg = load_openclaw_config(state.root, environ={})
    assert cfg.error is None
    assert cfg.agents == ["main", "work-bot", "ops"]
    assert cfg.default_agent == "main"
    assert cfg.main_key == "home"
    assert cfg.dm_scope == "per-channel-peer"
    assert cfg.maintenance == {"mode": "enforce", "pruneAfter": "30d", "maxEntries": 500}
    assert cfg.identity_links == {"alice": ["telegram:1", "discord:2"]}
    assert cfg.cron_session_retention == "24h"
    assert len(cfg.bindings) == 1
    b = cfg.bindings[0]
    assert (b.agent_id, b.channel, b.account_id, b.peer_kind, b.peer_id) == (
        "ops",
        "telegram",
        "alerts",
        "group",
        "-100123",
    )


def test_default_agent_is_the_first_when_none_is_marked(state: StateDir) -> None:
    state.write_config('{agents: {list: [{id: "b"}, {id: "a"}]}}')
    assert load_openclaw_config(state.root, environ={}).default_agent == "b"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{agents: [", "not valid JSON5"),
        ("[1, 2]", "the top level is not an object"),
        (b"\xff\xfe{}", "not valid UTF-8"),
    ],
)
def test_broken_config_is_reported_not_raised(state: StateDir, text: str | bytes, needle: str) -> None:
    path = state.root / "openclaw.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    cfg = load_openclaw_config(state.root, environ={})
    assert cfg.exists
    assert cfg.error is not None and needle in cfg.error
    assert cfg.agents == []


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("{bindings: true}", ["`bindings` is a boolean, not an array"]),
        (
            "{bindings: 5, agents: 5, session: [], cron: 5}",
            [
                "`agents` is a number, not an object",
                "`bindings` is a number, not an array",
                "`session` is an array",
            ],
        ),
        (
            "{agents: {list: {id: 'x'}}, session: {store: 5, mainKey: 7, maintenance: [], identityLinks: 'x'}}",
            [
                "`agents.list` is an object, not an array",
                "`session.store` is a number, not a string",
                "`session.mainKey` is a number",
                "`session.maintenance` is an array, not an object",
                "`session.identityLinks` is a string, not an object",
            ],
        ),
        # wrong items inside the right containers are skipped one by one, not an error
        ("{agents: {list: [5, null, 'x', {id: null}, {}]}, bindings: ['x', {agentId: 'a', match: 5}]}", []),
    ],
)
def test_config_with_wrong_types_falls_back_to_defaults(state: StateDir, text: str, wrong: list[str]) -> None:
    """Wrongly typed fields are named in `error` (health reports it, real changes refuse:
    context.require_openclaw_config); what is read falls back to the defaults."""
    state.write_config(text)
    cfg = load_openclaw_config(state.root, environ={})
    if wrong:
        assert cfg.error is not None
        for w in wrong:
            assert w in cfg.error, (w, cfg.error)
    else:
        assert cfg.error is None
    assert (cfg.default_agent, cfg.session_store, cfg.main_key, cfg.maintenance, cfg.identity_links) == (
        "main",
        None,
        "main",
        {},
        {},
    )
    assert all(b.agent_id == "a" for b in cfg.bindings)


def test_missing_config_is_empty(state: StateDir) -> None:
    cfg = load_openclaw_config(state.root, environ={})
    assert (cfg.exists, cfg.error, cfg.agents, cfg.default_agent) == (False, None, [], "main")


def test_config_path_override(state: StateDir, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.json5"
    other.write_text("{agents: {list: [{id: 'x'}]}}")
    cfg = load_openclaw_config(state.root, environ={"OPENCLAW_CONFIG_PATH": str(other)})
    assert cfg.path == other and cfg.agents == ["x"]


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("main", "main"),
        ("  Work  ", "work"),
        ("", "main"),
        (None, "main"),
        ("Work Bot!", "work-bot"),
        ("--weird__id--", "weird__id"),
        ("ü", "main"),
        ("a" * 80, "a" * 64),
        ("_x", "_x"),  # OpenClaw only strips leading/trailing "-"
    ],
)
def test_normalize_agent_id(raw: object, norm: str) -> None:
    assert normalize_agent_id(raw) == norm


# ------------------------------------------------------------ agents ∪ on disk


def test_configured_agents_union_agents_on_disk(state: StateDir) -> None:
    state.write_config({"agents": {"list": [{"id": "main", "default": True}, {"id": "work"}]}})
    state.write_store("main", {})
    state.write_store("deleted", {})  # not in config any more, still on disk
    state.agent_dir("emptyish").mkdir()  # a folder without a store or agent/: not an agent
    d = _discover(state)
    stores = _by_agent(d)
    assert list(stores) == ["main", "work", "deleted"]
    assert (stores["main"].configured, stores["main"].on_disk, stores["main"].layout) == (True, True, "file")
    assert (stores["work"].configured, stores["work"].on_disk, stores["work"].layout) == (
        True,
        False,
        "missing",
    )
    assert (stores["deleted"].configured, stores["deleted"].on_disk) == (False, True)
    assert stores["main"].store_path == state.store_path("main")
    assert stores["main"].sessions_dir == state.sessions_dir("main")
    assert all(s.mutable for s in d.stores if s.layout == "file")
    assert d.skipped == []


def test_no_config_and_no_agents_is_empty(state: StateDir) -> None:
    assert _discover(state).stores == []


def test_agent_narrowing(state: StateDir) -> None:
    for a in ("main", "work", "ops"):
        state.write_store(a, {})
    d = _discover(state, only=["WORK", "ops", "nosuch"])
    assert sorted(_by_agent(d)) == ["ops", "work"]
    assert [(s.what, s.path) for s in d.skipped] == [("agent", "nosuch")]
    assert "no such agent" in d.skipped[0].reason


# ------------------------------------------------------------ session.store


def test_session_store_template_with_agent_id(state: StateDir) -> None:
    state.write_config(
        {
            "agents": {"list": [{"id": "main"}, {"id": "work"}]},
            "session": {"store": "stores/{agentId}/sessions.json"},
        }
    )
    (state.root / "stores" / "main").mkdir(parents=True)
    (state.root / "stores" / "main" / "sessions.json").write_text("{}")
    (state.root / "stores" / "work").mkdir(parents=True)
    stores = _by_agent(_discover(state))
    assert stores["main"].store_path == state.root / "stores" / "main" / "sessions.json"
    assert stores["main"].sessions_dir == state.root / "stores" / "main"
    assert (stores["main"].layout, stores["work"].layout) == ("file", "missing")
    assert not stores["main"].shared


def test_session_store_absolute_template_inside_state_dir(state: StateDir) -> None:
    state.write_config(
        {
            "agents": {"list": [{"id": "main"}]},
            "session": {"store": str(state.root / "s-{agentId}" / "sessions.json")},
        }
    )
    (state.root / "s-main").mkdir()
    (state.root / "s-main" / "sessions.json").write_text("{}")
    (s,) = _discover(state).stores
    assert s.store_path == state.root / "s-main" / "sessions.json"


def test_single_shared_store(state: StateDir) -> None:
    state.write_config(
        {
            "agents": {"list": [{"id": "main"}, {"id": "work", "default": True}]},
            "session": {"store": "shared/sessions.json"},
        }
    )
    (state.root / "shared").mkdir()
    (state.root / "shared" / "sessions.json").write_text("{}")
    d = _discover(state)
    assert len(d.stores) == 1
    (s,) = d.stores
    assert (s.agent_id, s.shared, s.layout) == ("work", True, "file")
    assert s.store_path == state.root / "shared" / "sessions.json"


def test_shared_store_with_agent_narrowing(state: StateDir) -> None:
    state.write_config(
        {"agents": {"list": [{"id": "main"}, {"id": "work"}]}, "session": {"store": "shared/sessions.json"}}
    )
    (state.root / "shared").mkdir()
    (state.root / "shared" / "sessions.json").write_text("{}")
    d = _discover(state, only=["work"])
    assert [s.store_path for s in d.stores] == [state.root / "shared" / "sessions.json"]
    assert d.skipped == []  # the shared store serves "work": it is not an unknown agent


def test_shared_store_without_any_agent(state: StateDir) -> None:
    state.write_config({"session": {"store": "shared.json"}})
    (state.root / "shared.json").write_text("{}")
    (s,) = _discover(state).stores
    assert (s.agent_id, s.shared, s.store_path) == ("main", True, state.root / "shared.json")


def test_session_store_outside_the_state_dir_is_skipped(state: StateDir, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "sessions.json").write_text("{}")
    state.write_config(
        {"agents": {"list": [{"id": "main"}]}, "session": {"store": str(outside / "sessions.json")}}
    )
    d = _discover(state)
    assert d.stores == []
    assert [s.reason for s in d.skipped] == ["resolves outside the state dir (not managed by sessionctl)"]


# ------------------------------------------------------------ SQLite era, missing


def test_sqlite_layout(state: StateDir) -> None:
    (state.agent_dir("main") / "agent").mkdir(parents=True)
    (state.agent_dir("main") / "agent" / "openclaw-agent.sqlite").write_bytes(b"SQLite format 3\x00")
    (s,) = _discover(state).stores
    assert (s.layout, s.legacy_pending, s.mutable) == ("sqlite", False, False)
    assert s.sqlite_path == state.agent_dir("main") / "agent" / "openclaw-agent.sqlite"


def test_sqlite_with_leftover_sessions_json_is_legacy_pending(state: StateDir) -> None:
    (state.agent_dir("main") / "agent").mkdir(parents=True)
    (state.agent_dir("main") / "agent" / "openclaw-agent.sqlite").write_bytes(b"SQLite format 3\x00")
    state.write_store("main", {})
    (s,) = _discover(state).stores
    assert (s.layout, s.legacy_pending, s.mutable) == ("sqlite", True, False)


def test_configured_agent_without_files_is_missing(state: StateDir) -> None:
    state.write_config({"agents": {"list": [{"id": "fresh"}]}})
    (s,) = _discover(state).stores
    assert (s.agent_id, s.layout, s.mutable) == ("fresh", "missing", False)


# ------------------------------------------------------------ symlinks


def test_symlinked_agent_dir_is_skipped(state: StateDir, tmp_path: Path) -> None:
    elsewhere = StateDir(tmp_path / "other-state")
    elsewhere.write_store("main", {})
    os.symlink(elsewhere.agent_dir("main"), state.agent_dir("linked"))
    d = _discover(state)
    assert d.stores == []
    assert [(s.what, s.reason) for s in d.skipped] == [("agent", "is a symbolic link (not followed)")]


def test_configured_agent_whose_dir_is_a_symlink_is_skipped(state: StateDir) -> None:
    state.write_config({"agents": {"list": [{"id": "main"}, {"id": "alias"}]}})
    state.write_store("main", {})
    os.symlink(state.agent_dir("main"), state.agent_dir("alias"))  # points inside the state dir
    d = _discover(state)
    assert [s.agent_id for s in d.stores] == ["main"]  # never the same store twice
    assert [s.path for s in d.skipped] == [str(state.agent_dir("alias"))]


def test_symlinked_sessions_folder_is_skipped(state: StateDir, tmp_path: Path) -> None:
    target = tmp_path / "real-sessions"
    target.mkdir()
    (target / "sessions.json").write_text("{}")
    state.agent_dir("main").mkdir()
    os.symlink(target, state.sessions_dir("main"))
    d = _discover(state)
    assert d.stores == []
    assert [s.what for s in d.skipped] == ["sessions folder"]


def test_symlinked_store_file_is_skipped(state: StateDir, tmp_path: Path) -> None:
    state.write_config({"agents": {"list": [{"id": "main"}]}})
    target = tmp_path / "real.json"
    target.write_text("{}")
    state.sessions_dir("main").mkdir(parents=True)
    os.symlink(target, state.store_path("main"))
    d = _discover(state)
    assert d.stores == []
    assert [(s.what, s.reason) for s in d.skipped] == [("store", "is a symbolic link (not followed)")]


# ------------------------------------------------------------ state dir resolution


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return Path(os.path.realpath(h))


def test_explicit_state_dir_wins(home: Path, tmp_path: Path) -> None:
    (home / ".openclaw").mkdir()
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    env = {"HOME": str(home), "OPENCLAW_STATE_DIR": str(home / ".openclaw")}
    assert resolve_state_dir(str(explicit), environ=env) == Path(os.path.realpath(explicit))


def test_explicit_state_dir_with_tilde(home: Path) -> None:
    (home / "oc").mkdir()
    assert resolve_state_dir("~/oc", environ={"HOME": str(home)}) == home / "oc"


def test_relative_state_dir_is_relative_to_cwd(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "rel").mkdir()
    monkeypatch.chdir(home)
    assert resolve_state_dir("rel", environ={"HOME": str(home)}) == home / "rel"


def test_env_state_dir_trimmed_and_tilde_expanded(home: Path) -> None:
    (home / "custom").mkdir()
    env = {"HOME": str(home), "OPENCLAW_STATE_DIR": "  ~/custom \n"}
    assert resolve_state_dir(None, environ=env) == home / "custom"


@pytest.mark.parametrize("unset", ["undefined", "null", "", "   "])
def test_env_state_dir_undefined_null_empty_count_as_unset(home: Path, unset: str) -> None:
    (home / ".openclaw").mkdir()
    env = {"HOME": str(home), "OPENCLAW_STATE_DIR": unset}
    assert resolve_state_dir(None, environ=env) == home / ".openclaw"


def test_openclaw_home_before_home(home: Path, tmp_path: Path) -> None:
    oc_home = tmp_path / "oc-home"
    (oc_home / ".openclaw").mkdir(parents=True)
    (home / ".openclaw").mkdir()
    env = {"HOME": str(home), "OPENCLAW_HOME": str(oc_home)}
    assert resolve_state_dir(None, environ=env) == Path(os.path.realpath(oc_home / ".openclaw"))
    env["OPENCLAW_HOME"] = "undefined"
    assert resolve_state_dir(None, environ=env) == home / ".openclaw"


@pytest.mark.parametrize("legacy", [".clawdbot", ".moltbot", ".moldbot"])
def test_legacy_state_dir_fallback(home: Path, legacy: str) -> None:
    (home / legacy).mkdir()
    assert resolve_state_dir(None, environ={"HOME": str(home)}) == home / legacy


def test_openclaw_dir_preferred_over_legacy(home: Path) -> None:
    (home / ".clawdbot").mkdir()
    (home / ".openclaw").mkdir()
    assert resolve_state_dir(None, environ={"HOME": str(home)}) == home / ".openclaw"


def test_missing_state_dir_raises_not_found_with_hint(home: Path) -> None:
    with pytest.raises(NotFoundError) as ei:
        resolve_state_dir(None, environ={"HOME": str(home)})
    assert ei.value.message == f"state dir {home / '.openclaw'} does not exist"
    assert ei.value.hint is not None and "--state-dir" in ei.value.hint


def test_state_dir_that_is_a_file(home: Path) -> None:
    (home / "file").write_text("x")
    with pytest.raises(NotFoundError, match="is not a directory"):
        resolve_state_dir(str(home / "file"), environ={"HOME": str(home)})


def test_state_dir_symlink_is_resolved(home: Path, tmp_path: Path) -> None:
    real = tmp_path / "real-state"
    real.mkdir()
    (home / ".openclaw").symlink_to(real)
    assert resolve_state_dir(None, environ={"HOME": str(home)}) == Path(os.path.realpath(real))


def test_discover_accepts_a_config_object_directly(state: StateDir) -> None:
    state.write_store("main", {})
    d = discover(state.root, OpenClawConfig())
    assert [s.agent_id for s in d.stores] == ["main"]
