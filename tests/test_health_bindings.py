"""sessionctl.bindings: reading Discord/Telegram thread-binding files (format doc §10),
expiry and dangling rules, redaction of webhookToken, and the faithful rewrite API gc uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.helpers import DAY_MS, HOUR_MS, NOW_MS, StateDir

from sessionctl.bindings import (
    REDACTED,
    ThreadBinding,
    binding_file_paths,
    dangling,
    expired,
    load_binding_file,
    load_bindings,
    redact,
    serialize,
    target_agent,
    without,
)

TOKEN = "super-secret-webhook-token"


def b(**raw: Any) -> ThreadBinding:
    from sessionctl.bindings import _binding

    return _binding("discord", Path("/x"), "acct:t", raw, None)


@pytest.mark.parametrize(
    ("raw", "is_expired"),
    [
        (
            {
                "boundAt": NOW_MS - 2 * DAY_MS,
                "lastActivityAt": NOW_MS - 2 * HOUR_MS,
                "idleTimeoutMs": HOUR_MS,
            },
            True,
        ),
        (
            {
                "boundAt": NOW_MS - 2 * DAY_MS,
                "lastActivityAt": NOW_MS - 30 * 60_000,
                "idleTimeoutMs": HOUR_MS,
            },
            False,
        ),
        ({"boundAt": NOW_MS - 2 * DAY_MS, "lastActivityAt": NOW_MS - 60_000, "maxAgeMs": DAY_MS}, True),
        ({"boundAt": NOW_MS - 2 * DAY_MS, "lastActivityAt": NOW_MS - 60_000, "maxAgeMs": 3 * DAY_MS}, False),
        # 0 or absent = no limit
        (
            {"boundAt": NOW_MS - 90 * DAY_MS, "lastActivityAt": NOW_MS - 90 * DAY_MS, "idleTimeoutMs": 0},
            False,
        ),
        ({"boundAt": NOW_MS - 90 * DAY_MS, "lastActivityAt": NOW_MS - 90 * DAY_MS}, False),
        # exactly at the limit is not yet expired (strictly greater)
        ({"boundAt": NOW_MS - DAY_MS, "lastActivityAt": NOW_MS - HOUR_MS, "idleTimeoutMs": HOUR_MS}, False),
        # legacy expiresAt = a max age from boundAt
        ({"boundAt": NOW_MS - 2 * DAY_MS, "expiresAt": NOW_MS - 1}, True),
        ({"boundAt": NOW_MS - 2 * DAY_MS, "expiresAt": NOW_MS + HOUR_MS}, False),
        # no lastActivityAt: idle counts from boundAt
        ({"boundAt": NOW_MS - 2 * HOUR_MS, "idleTimeoutMs": HOUR_MS}, True),
    ],
)
def test_expiry_rules(raw: dict[str, Any], is_expired: bool) -> None:
    assert (expired(b(**raw), NOW_MS) is not None) is is_expired


def test_dangling_needs_a_known_store() -> None:
    x = b(targetSessionKey="agent:main:subagent:1", agentId="main")
    assert dangling(x, {"main": {"agent:main:subagent:2"}})
    assert not dangling(x, {"main": {"agent:main:subagent:1"}})
    assert not dangling(x, {"main": None})  # unreadable store: cannot tell
    assert not dangling(x, {})  # agent not looked at: cannot tell
    # keys compare lowercased, like OpenClaw's store
    assert not dangling(b(targetSessionKey="Agent:Main:Subagent:1"), {"main": {"agent:main:subagent:1"}})
    # no agentId: the agent comes from the key, else the default agent
    assert target_agent(b(targetSessionKey="agent:work:acp:1")) == "work"
    assert target_agent(b(targetSessionKey="weird"), "boss") == "boss"
    assert dangling(b(), {"main": set()})  # no target at all


def test_redact_replaces_every_webhook_token() -> None:
    data: dict[str, Any] = {
        "version": 1,
        "bindings": {"a:1": {"webhookToken": TOKEN, "x": [{"webhookToken": TOKEN}]}},
    }
    out = redact(data)
    assert TOKEN not in json.dumps(out)
    assert out["bindings"]["a:1"]["webhookToken"] == REDACTED
    assert data["bindings"]["a:1"]["webhookToken"] == TOKEN  # the original is untouched


def _discord(state: StateDir, bindings: dict[str, Any], newline: bool = True) -> Path:
    p = state.root / "discord" / "thread-bindings.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(
        json.dumps({"version": 1, "extra": "kept", "bindings": bindings}, indent=2)
        + ("\n" if newline else "")
    )
    return p


def test_discord_file_loads_and_rewrites_faithfully(state: StateDir) -> None:
    one = {
        "threadId": "1",
        "accountId": "default",
        "targetSessionKey": "agent:main:acp:1",
        "webhookToken": TOKEN,
    }
    two = {
        "threadId": "2",
        "accountId": "default",
        "targetSessionKey": "agent:main:acp:2",
        "unknown": {"k": 1},
    }
    path = _discord(state, {"default:1": one, "default:2": two})
    bf = load_binding_file(path, "discord")
    assert bf.error is None and [x.ident for x in bf.bindings] == ["default:1", "default:2"]
    assert all(TOKEN not in json.dumps(x.to_json()) for x in bf.bindings)
    # unchanged → same bytes
    assert serialize(bf, without(bf, [])) == path.read_bytes()
    data = without(bf, [bf.bindings[0]])
    assert data == {"version": 1, "extra": "kept", "bindings": {"default:2": two}}
    assert bf.data["bindings"]["default:1"]["webhookToken"] == TOKEN  # original kept for the backup


def test_telegram_files_take_the_account_from_the_name(state: StateDir) -> None:
    tdir = state.root / "telegram"
    tdir.mkdir()
    items = [{"conversationId": "-1:topic:1", "boundAt": 1}, {"conversationId": "-1:topic:2", "boundAt": 2}]
    (tdir / "thread-bindings-work.json").write_text(json.dumps({"version": 1, "bindings": items}))
    (tdir / "thread-bindings-home.json").write_text("{not json")
    (tdir / "unrelated.json").write_text("{}")
    files = load_bindings(state.root)
    assert [(f.channel, f.path.name) for f in files] == [
        ("telegram", "thread-bindings-home.json"),
        ("telegram", "thread-bindings-work.json"),
    ]
    bad, good = files
    assert bad.error is not None and "not valid JSON" in bad.error
    assert [(x.account_id, x.conversation_id, x.index) for x in good.bindings] == [
        ("work", "-1:topic:1", 0),
        ("work", "-1:topic:2", 1),
    ]
    assert without(good, [good.bindings[0]]) == {"version": 1, "bindings": [items[1]]}
    assert serialize(good, without(good, [])).endswith(b"]\n}")  # the original had no final newline
    with pytest.raises(ValueError):
        without(bad, [])


def test_wrong_shapes_and_symlinks(state: StateDir, tmp_path: Path) -> None:
    p = state.root / "discord" / "thread-bindings.json"
    p.parent.mkdir()
    p.write_text('{"version": 1, "bindings": []}')
    assert load_binding_file(p, "discord").error is not None
    p.unlink()
    target = tmp_path / "elsewhere.json"
    target.write_text('{"version": 1, "bindings": {}}')
    p.symlink_to(target)
    assert binding_file_paths(state.root) == [("discord", p)]
    assert "symbolic link" in (load_binding_file(p, "discord").error or "")
