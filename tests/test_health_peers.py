"""sessionctl.peers: peer identity of a session and OpenClaw's binding precedence
(peer → parent peer → account → channel → default agent). Pure functions: table tests."""

from __future__ import annotations

from typing import Any

import pytest

from sessionctl.config import OpenClawConfig
from sessionctl.keys import parse_key
from sessionctl.peers import (
    IdentityLinks,
    expected_route,
    resolve_route,
    route_bindings,
    session_peer,
)


def cfg(
    bindings: list[dict[str, Any]], agents: list[str] | None = None, default: str = "main"
) -> OpenClawConfig:
    c = OpenClawConfig(raw={"bindings": bindings})
    c.agents = agents if agents is not None else ["main", "a", "b", "c"]
    c.default_agent = default
    return c


def peer_of(key: str, entry: dict[str, Any] | None = None, links: dict[str, Any] | None = None) -> Any:
    return session_peer(parse_key(key), entry or {"sessionId": "x", "updatedAt": 1}, IdentityLinks(links))


# ---------------------------------------------------------------- identity


@pytest.mark.parametrize(
    ("key", "entry", "expect"),
    [
        ("agent:main:telegram:direct:123", {}, ("telegram", "default", "direct", "123")),
        ("agent:main:telegram:work:direct:123", {}, ("telegram", "work", "direct", "123")),
        ("agent:main:discord:channel:99", {}, ("discord", "default", "channel", "99")),
        ("agent:main:telegram:group:-100:topic:7", {}, ("telegram", "default", "group", "-100:topic:7")),
        # per-peer DMs: the channel and account come from the entry
        (
            "agent:main:direct:+4917",
            {"deliveryContext": {"channel": "whatsapp", "accountId": "Biz"}},
            ("whatsapp", "biz", "direct", "+4917"),
        ),
        ("agent:main:direct:+4917", {"lastChannel": "signal"}, ("signal", "default", "direct", "+4917")),
        ("agent:main:telegram:dm:55", {}, ("telegram", "default", "direct", "55")),  # old DM form
        # a legacy un-prefixed key: everything from the entry
        (
            "+15550001",
            {"chatType": "direct", "origin": {"provider": "whatsapp", "from": "whatsapp:+15550001"}},
            ("whatsapp", "default", "direct", "+15550001"),
        ),
    ],
)
def test_identity(key: str, entry: dict[str, Any], expect: tuple[str, ...]) -> None:
    sp = peer_of(key, {"sessionId": "x", "updatedAt": 1, **entry})
    assert sp is not None
    assert sp.identity.key == expect


@pytest.mark.parametrize(
    "key",
    [
        "agent:main:main",
        "agent:main:subagent:abc",
        "agent:main:cron:job:run:1",
        "agent:main:explicit:x",
        "global",
    ],
)
def test_sessions_without_a_peer(key: str) -> None:
    assert (
        peer_of(key, {"sessionId": "x", "updatedAt": 1, "lastTo": "telegram:5", "lastChannel": "telegram"})
        is None
    )


def test_thread_sessions_belong_to_their_parent_peer() -> None:
    sp = peer_of("agent:main:discord:channel:99:thread:1234")
    assert sp.identity.key == ("discord", "default", "channel", "99") and sp.thread == "1234"


def test_identity_links() -> None:
    links = {"anya": ["telegram:4242", "discord:777"], "bob": ["+1555"]}
    a = peer_of("agent:main:telegram:direct:4242", links=links)
    b = peer_of("agent:main:discord:direct:777", links=links)
    c = peer_of("agent:main:direct:anya", links=links)  # the key holds the canonical name
    d = peer_of("agent:main:whatsapp:direct:+1555", links=links)  # bare id listed
    e = peer_of("agent:main:telegram:direct:777", links=links)  # 777 is linked on discord only
    assert a.identity.key == b.identity.key == c.identity.key == ("link", "anya")
    assert d.identity.key == ("link", "bob")
    assert e.identity.linked is None
    # groups are never linked
    assert peer_of("agent:main:telegram:group:4242", links=links).identity.linked is None


# ---------------------------------------------------------------- routing precedence


def ab(r: Any) -> tuple[str, str] | None:
    return None if r is None else (r.agent, r.matched_by)


def route(
    bindings: list[dict[str, Any]], channel: str, account: str, kind: str | None, peer: str | None, **kw: Any
) -> Any:
    c = cfg(bindings, **kw)
    return resolve_route(
        route_bindings(c),
        channel=channel,
        account=account,
        peer_kind=kind,
        peer_id=peer,
        default_agent=c.default_agent,
        agents=c.agents,
    )


CH_ANY = {"agentId": "c", "match": {"channel": "telegram", "accountId": "*"}}
ACCT = {"agentId": "b", "match": {"channel": "telegram", "accountId": "work"}}
PEER = {"agentId": "a", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "42"}}}
PEER_WORK = {
    "agentId": "a",
    "match": {"channel": "telegram", "accountId": "work", "peer": {"kind": "dm", "id": "42"}},
}


def test_peer_beats_account_beats_channel_beats_default() -> None:
    bs = [CH_ANY, ACCT, PEER_WORK]  # config order must not matter across tiers
    assert ab(route(bs, "telegram", "work", "direct", "42")) == ("a", "binding.peer")
    assert ab(route(bs, "telegram", "work", "direct", "43")) == ("b", "binding.account")
    assert ab(route(bs, "telegram", "other", "direct", "43")) == ("c", "binding.channel")
    assert ab(route(bs, "discord", "work", "direct", "42")) == ("main", "default")


def test_binding_without_account_matches_only_the_default_account() -> None:
    assert ab(route([PEER], "telegram", "default", "direct", "42")) == ("a", "binding.peer")
    assert ab(route([PEER], "telegram", "work", "direct", "42")) == ("main", "default")
    plain = {"agentId": "b", "match": {"channel": "telegram"}}
    assert ab(route([plain], "telegram", "default", "group", "1")) == ("b", "binding.account")
    assert ab(route([plain], "telegram", "work", "group", "1")) == ("main", "default")


def test_first_binding_in_config_order_wins_within_a_tier() -> None:
    first = {"agentId": "b", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "42"}}}
    r = route([first, PEER], "telegram", "default", "direct", "42")
    assert (r.agent, r.binding) == ("b", 0)


def test_peer_kind_must_match_and_ids_compare_case_insensitively() -> None:
    g = {"agentId": "a", "match": {"channel": "whatsapp", "peer": {"kind": "group", "id": "ABC@g.us"}}}
    assert route([g], "whatsapp", "default", "group", "abc@g.us").agent == "a"
    assert route([g], "whatsapp", "default", "direct", "abc@g.us").agent == "main"


def test_binding_to_an_unconfigured_agent_routes_to_the_default() -> None:
    ghost = {"agentId": "Ghost", "match": {"channel": "telegram", "accountId": "*"}}
    assert route([ghost], "telegram", "default", "direct", "1").agent == "main"
    assert route([ghost], "telegram", "default", "direct", "1", agents=[]).agent == "ghost"


def test_guild_scoped_bindings_make_the_route_unknown() -> None:
    guild = {"agentId": "b", "match": {"channel": "discord", "guildId": "G"}}
    assert route([guild], "discord", "default", "channel", "5") is None
    peer = {"agentId": "a", "match": {"channel": "discord", "peer": {"kind": "channel", "id": "5"}}}
    assert route([guild, peer], "discord", "default", "channel", "5").agent == "a"  # peer still decides


def test_non_route_bindings_are_ignored() -> None:
    acp = {"type": "acp", "agentId": "b", "match": {"channel": "telegram", "accountId": "*"}}
    not_routes: list[Any] = [acp, "junk", {"match": {}}]
    assert route_bindings(cfg(not_routes)) == []


def test_expected_route_for_threads_topics_and_unknown_accounts() -> None:
    parent = {"agentId": "a", "match": {"channel": "discord", "peer": {"kind": "channel", "id": "99"}}}
    c = cfg([parent])
    r = expected_route(peer_of("agent:main:discord:channel:99:thread:1"), route_bindings(c), c)
    assert r is not None and (r.agent, r.matched_by) == ("a", "binding.parent_peer")
    topic = {"agentId": "b", "match": {"channel": "telegram", "peer": {"kind": "group", "id": "-100"}}}
    c = cfg([topic])
    r = expected_route(peer_of("agent:main:telegram:group:-100:topic:7"), route_bindings(c), c)
    assert r is not None and (r.agent, r.matched_by) == ("b", "binding.parent_peer")
    # the key names no account and the entry neither: accounts disagree → unknown
    c = cfg([ACCT])
    assert expected_route(peer_of("agent:main:telegram:direct:5"), route_bindings(c), c) is None
    # ... unless the entry says which account
    sp = peer_of("agent:main:telegram:direct:5", {"sessionId": "x", "updatedAt": 1, "lastAccountId": "work"})
    r = expected_route(sp, route_bindings(c), c)
    assert r is not None and r.agent == "b"
    # a canonical (linked) name is not a channel peer id: no route
    c = cfg([PEER])
    sp = peer_of("agent:main:direct:anya", {"lastChannel": "telegram"}, links={"anya": ["telegram:42"]})
    assert expected_route(sp, route_bindings(c), c) is None
