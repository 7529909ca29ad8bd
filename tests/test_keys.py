"""Session-key parser against every shape of format doc §4."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionctl.keys import GROUPLIKE_KINDS, KINDS, is_main_key, parse_key

U1 = "0f8fad5b-d9cb-469f-a165-70867728950e"
U2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

# key → expected attributes (only the ones listed are checked; kind always)
CASES: list[tuple[str, dict[str, Any]]] = [
    ("agent:main:main", {"agent": "main", "kind": "main", "peer": None, "channel": None}),
    # DMs
    ("agent:main:direct:+15551234567", {"kind": "direct", "peer": "+15551234567", "channel": None}),
    ("agent:main:telegram:direct:123456", {"kind": "direct", "channel": "telegram", "peer": "123456"}),
    (
        "agent:work:whatsapp:biz:direct:+4915112345",
        {"agent": "work", "kind": "direct", "channel": "whatsapp", "account": "biz", "peer": "+4915112345"},
    ),
    # old DM form (≤ v2.1)
    (
        "agent:main:telegram:dm:42",
        {"kind": "direct", "channel": "telegram", "peer": "42", "peer_kind": "direct"},
    ),
    ("agent:main:dm:42", {"kind": "direct", "channel": None, "peer": "42"}),
    # ids containing ':'
    ("agent:main:matrix:direct:@alice:example.org", {"kind": "direct", "peer": "@alice:example.org"}),
    ("agent:main:discord:group:guild:123", {"kind": "group", "channel": "discord", "peer": "guild:123"}),
    ("agent:main:slack:channel:C0123", {"kind": "channel", "channel": "slack", "peer": "C0123".lower()}),
    (
        "agent:main:slack:acme:channel:c1",
        {"kind": "channel", "channel": "slack", "account": "acme", "peer": "c1", "peer_kind": "channel"},
    ),
    # telegram topic
    (
        "agent:main:telegram:group:-1001234:topic:77",
        {"kind": "topic", "channel": "telegram", "peer": "-1001234", "topic": "77", "peer_kind": "group"},
    ),
    # threads: the last ':thread:' splits
    (
        "agent:main:discord:channel:123:thread:456",
        {"kind": "thread", "channel": "discord", "peer_kind": "channel", "peer": "123", "thread": "456"},
    ),
    (
        "agent:main:slack:channel:c1:thread:a:thread:b",
        {"kind": "thread", "peer": "c1:thread:a", "thread": "b"},
    ),
    (
        "agent:main:slack:channel:c1:thread:1700000000.123:thread",
        {"kind": "thread", "peer": "c1", "thread": "1700000000.123:thread"},
    ),
    # cron
    ("agent:main:cron:nightly", {"kind": "cron-job", "ident": "nightly", "run_id": None}),
    ("agent:main:cron:nightly:run:" + U1, {"kind": "cron-run", "ident": "nightly", "run_id": U1}),
    ("agent:main:cron:team:nightly:run:" + U1, {"kind": "cron-run", "ident": "team:nightly", "run_id": U1}),
    # subagents, nested
    ("agent:main:subagent:" + U1, {"kind": "subagent", "ident": U1, "depth": 1}),
    ("agent:main:subagent:" + U1 + ":subagent:" + U2, {"kind": "subagent", "ident": U2, "depth": 2}),
    # acp / hook / dashboard / explicit
    ("agent:main:acp:" + U1, {"kind": "acp", "ident": U1}),
    ("agent:main:hook:" + U1, {"kind": "hook", "ident": U1}),
    ("agent:main:dashboard:" + U1, {"kind": "dashboard", "ident": U1}),
    ("agent:main:explicit:my:own:id", {"kind": "explicit", "ident": "my:own:id"}),
    # heartbeat
    ("agent:main:main:heartbeat", {"kind": "heartbeat"}),
    ("agent:main:telegram:direct:99:heartbeat", {"kind": "heartbeat", "channel": "telegram", "peer": "99"}),
    # node host
    ("agent:main:node:build-box", {"kind": "node", "ident": "build-box"}),
    ("agent:main:node", {"kind": "node", "ident": None}),
    # global, legacy
    ("global", {"kind": "global", "agent": None}),
    ("GLOBAL", {"kind": "global", "raw": "GLOBAL"}),
    ("main", {"kind": "legacy", "agent": None}),
    ("+15551234567", {"kind": "legacy", "agent": None, "peer": None}),
    (
        "telegram:group:-100999",
        {"kind": "legacy", "channel": "telegram", "peer_kind": "group", "peer": "-100999"},
    ),
    # mixed case: lowercased for parsing, raw kept
    (
        "Agent:Main:Telegram:Direct:AbC",
        {
            "raw": "Agent:Main:Telegram:Direct:AbC",
            "agent": "main",
            "kind": "direct",
            "channel": "telegram",
            "peer": "abc",
        },
    ),
    # empty parts are dropped
    ("agent::main::main", {"agent": "main", "kind": "main"}),
    ("  agent:main:main  ", {"agent": "main", "kind": "main"}),
    # not a known shape
    ("agent:main:something-else", {"kind": "other", "agent": "main"}),
    ("agent:main", {"kind": "legacy", "agent": None}),
    ("", {"kind": "legacy", "agent": None}),
]


@pytest.mark.parametrize(("key", "expected"), CASES, ids=[c[0] or "<empty>" for c in CASES])
def test_key_shapes(key: str, expected: dict[str, Any]) -> None:
    p = parse_key(key)
    for attr, want in expected.items():
        assert getattr(p, attr) == want, f"{key}: {attr} = {getattr(p, attr)!r}, expected {want!r}"
    assert p.kind in KINDS


SYNTHETIC = [
    "agent:main:subagent:" + U1,
    "agent:main:subagent:" + U1 + ":subagent:" + U2,
    "agent:main:acp:" + U1,
    "agent:main:cron:nightly",
    "agent:main:cron:nightly:run:" + U1,
    "agent:main:hook:" + U1,
    "agent:main:node:box",
    "agent:main:main:heartbeat",
    "agent:main:telegram:direct:1:heartbeat",
    # a machine-made rest stays synthetic even when a thread suffix is parsed off it
    "agent:main:cron:nightly:thread:5",
    "agent:main:subagent:" + U1 + ":thread:9",
]
NOT_SYNTHETIC = [
    "agent:main:main",
    "agent:main:telegram:direct:1",
    "agent:main:discord:group:1",
    "agent:main:discord:channel:1:thread:2",
    "agent:main:telegram:group:-1:topic:3",
    "agent:main:dashboard:" + U1,
    "agent:main:explicit:x",
    "global",
    "main",
]


@pytest.mark.parametrize("key", SYNTHETIC)
def test_synthetic_keys(key: str) -> None:
    assert parse_key(key).synthetic


@pytest.mark.parametrize("key", NOT_SYNTHETIC)
def test_human_keys_are_not_synthetic(key: str) -> None:
    assert not parse_key(key).synthetic


def test_grouplike_kinds_are_the_protected_ones() -> None:
    kinds = {parse_key(k).kind for k in NOT_SYNTHETIC[2:5]}
    assert kinds == {"group", "thread", "topic"}
    assert kinds <= GROUPLIKE_KINDS
    assert parse_key("agent:main:slack:channel:c1").kind in GROUPLIKE_KINDS


def test_custom_main_key() -> None:
    assert parse_key("agent:main:home", main_key="home").kind == "main"
    assert parse_key("agent:main:home").kind == "other"
    assert is_main_key("agent:main:home", "main", main_key="home")
    assert is_main_key("agent:main:main", "main")
    assert not is_main_key("agent:work:main", "main")
    assert not is_main_key("agent:main:telegram:direct:1", "main")


def test_peer_identity_for_duplicate_detection() -> None:
    a = parse_key("agent:main:telegram:direct:42")
    b = parse_key("agent:work:Telegram:Direct:42")
    assert a.peer_identity == b.peer_identity == ("telegram", "", "direct", "42")
    assert parse_key("agent:main:direct:42").peer_identity is None  # no channel in the key
    assert parse_key("agent:main:telegram:acct:direct:42").peer_identity == (
        "telegram",
        "acct",
        "direct",
        "42",
    )


@given(st.text(max_size=200))
def test_parse_key_never_raises_on_arbitrary_text(text: str) -> None:
    p = parse_key(text)
    assert p.kind in KINDS
    assert p.raw == text


@given(
    st.lists(
        st.sampled_from(
            [
                "agent",
                "main",
                "thread",
                "topic",
                "cron",
                "run",
                "subagent",
                "direct",
                "dm",
                "group",
                "channel",
                "heartbeat",
                "node",
                "acp",
                "",
                "x",
                "1",
            ]
        ),
        max_size=12,
    )
)
def test_parse_key_never_raises_on_colon_soup(parts: list[str]) -> None:
    key = ":".join(parts)
    p = parse_key(key)
    assert p.kind in KINDS
    if p.kind == "thread":
        assert p.thread
