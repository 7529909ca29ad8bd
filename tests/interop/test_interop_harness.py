"""Pure-Python parts of interop/harness.py (no OpenClaw needed)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from interop import harness as h


def test_make_state_dir_config(tmp_path: Path) -> None:
    state = h.make_state_dir(tmp_path, ["main", "ops"], 4321, session={"dmScope": "per-peer"})
    cfg = json.loads((state / "openclaw.json").read_text())
    assert cfg["agents"]["list"] == [{"id": "main", "default": True}, {"id": "ops"}]
    assert cfg["agents"]["defaults"]["model"]["primary"] == "fake/fake-model"
    prov = cfg["models"]["providers"]["fake"]
    assert prov["baseUrl"] == "http://127.0.0.1:4321/v1"
    assert prov["api"] == "openai-completions"
    assert cfg["session"] == {"dmScope": "per-peer"}
    assert h.home_for(state).is_dir()
    env = h.openclaw_env(state)
    assert env["OPENCLAW_STATE_DIR"] == str(state.resolve())
    assert env["HOME"] == str(h.home_for(state.resolve()))
    h.set_model_port(state, 999)
    cfg = json.loads((state / "openclaw.json").read_text())
    assert cfg["models"]["providers"]["fake"]["baseUrl"] == "http://127.0.0.1:999/v1"


@pytest.mark.parametrize(
    ("agent", "key", "expected"),
    [
        ("main", "agent:main:main", ["--agent", "main"]),
        ("ops", "agent:ops:main", ["--agent", "ops"]),
        ("main", "agent:main:explicit:foo", ["--session-id", "foo"]),
        ("main", "agent:main:discord:group:999", ["--to", "discord:group:999"]),
        ("main", "agent:main:slack:channel:c1", ["--to", "slack:channel:c1"]),
    ],
)
def test_legacy_args_direct_forms(tmp_path: Path, agent: str, key: str, expected: list[str]) -> None:
    state = h.make_state_dir(tmp_path, ["main", "ops"], 1)
    assert h.legacy_agent_args(state, agent, key) == (expected, False)
    assert not h.store_path(state, agent).exists()


def test_legacy_args_seed_other_keys(tmp_path: Path) -> None:
    state = h.make_state_dir(tmp_path, ["main", "ops"], 1)
    args, seeded = h.legacy_agent_args(state, "ops", "agent:ops:cron:nightly")
    assert seeded and args[0] == "--session-id"
    p = h.store_path(state, "ops")
    raw = p.read_bytes()
    assert not raw.endswith(b"\n")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    store = json.loads(raw)
    assert store["agent:ops:cron:nightly"]["sessionId"] == args[1]
    # second call reuses the seeded id
    assert h.legacy_agent_args(state, "ops", "agent:ops:cron:nightly") == (args, False)
    assert list(p.parent.glob("*.tmp")) == []
    with pytest.raises(ValueError):
        h.legacy_agent_args(state, "main", "agent:ops:main")
    with pytest.raises(ValueError):
        h.legacy_agent_args(state, "main", "main")


def test_extract_json_from_noisy_stderr() -> None:
    noisy = '[plugins] loaded 3\nwarning: x\n{\n  "payloads": [{"text": "hi"}],\n  "meta": {}\n}\n'
    assert h.extract_json("", noisy) == {"payloads": [{"text": "hi"}], "meta": {}}
    assert h.extract_json('{"a": 1}', noisy) == {"a": 1}
    assert h.extract_json("", "no json here") is None


def test_copy_sample_redacts_api_key(tmp_path: Path) -> None:
    state = h.make_state_dir(tmp_path, ["main"], 1)
    sess = h.sessions_dir(state, "main")
    sess.mkdir(parents=True)
    (sess / "sessions.json").write_bytes(b"{}")
    (state / "workspace").mkdir()
    (state / "workspace" / "AGENTS.md").write_text("x")
    dest = h.copy_sample(state, tmp_path / "sample")
    cfg = json.loads((dest / "openclaw.json").read_text())
    assert cfg["models"]["providers"]["fake"]["apiKey"] == "REDACTED"
    assert (dest / "agents/main/sessions/sessions.json").read_bytes() == b"{}"
    assert not (dest / "workspace").exists()
