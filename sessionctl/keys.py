"""Session-key parser (format doc §4).

`agent:<agentId>:<rest>` → agent, kind, channel, account, peer, thread. Kinds:
main, direct, group, channel, thread, topic, cron-job, cron-run, subagent, acp, hook,
dashboard, explicit, heartbeat, node, global, legacy, other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

KINDS = (
    "main",
    "direct",
    "group",
    "channel",
    "thread",
    "topic",
    "cron-job",
    "cron-run",
    "subagent",
    "acp",
    "hook",
    "dashboard",
    "explicit",
    "heartbeat",
    "node",
    "global",
    "legacy",
    "other",
)
# machine-made kinds whose keys carry a made-up name: what spawn storms are made of
# (dedupe --storms; never DMs, groups, threads, main, cron jobs or heartbeats)
STORM_KINDS = frozenset({"subagent", "acp", "hook", "dashboard", "explicit", "node", "other"})
SYNTHETIC_KINDS = frozenset({"subagent", "acp", "cron-job", "cron-run", "hook", "node", "heartbeat"})
# format doc §4: a rest starting with one of these is machine-made, whatever suffix follows
_SYNTHETIC_HEADS = frozenset({"subagent", "acp", "cron", "hook", "node"})
# OpenClaw v5.28 never auto-evicts these; they grow without bound.
GROUPLIKE_KINDS = frozenset({"group", "channel", "thread", "topic"})
_DM_MARKERS = ("direct", "dm")
_GROUP_MARKERS = ("group", "channel")


@dataclass(frozen=True, slots=True)
class ParsedKey:
    raw: str
    agent: str | None
    kind: str
    rest: str = ""
    channel: str | None = None
    account: str | None = None
    peer_kind: str | None = None  # direct | group | channel
    peer: str | None = None
    thread: str | None = None
    topic: str | None = None
    ident: str | None = None  # uuid / job / explicit id
    run_id: str | None = None  # cron run id
    depth: int = 0  # subagent nesting

    @property
    def synthetic(self) -> bool:
        if self.kind in SYNTHETIC_KINDS:
            return True
        # e.g. `cron:<job>:thread:<id>` parses as a thread but is still machine-made
        return self.agent is not None and self.rest.split(":", 1)[0] in _SYNTHETIC_HEADS

    @property
    def peer_identity(self) -> tuple[str, str, str, str] | None:
        """(channel, account, peer_kind, peer) for cross-agent duplicate detection."""
        if self.peer is None or self.channel is None or self.peer_kind is None:
            return None
        return (self.channel, self.account or "", self.peer_kind, self.peer)


def _last_index(parts: list[str], word: str, lo: int, hi: int) -> int | None:
    """The last i with lo <= i < hi and parts[i] == word."""
    for i in range(min(hi, len(parts)) - 1, lo - 1, -1):
        if parts[i] == word:
            return i
    return None


def _parse_conversation(parts: list[str]) -> dict[str, str | None] | None:
    """DM / group / channel shapes of <rest>; None when not one of them."""
    n = len(parts)
    if n >= 2 and parts[0] in _DM_MARKERS:
        return {"peer_kind": "direct", "peer": ":".join(parts[1:])}
    if n >= 3 and parts[1] in _DM_MARKERS:
        return {"channel": parts[0], "peer_kind": "direct", "peer": ":".join(parts[2:])}
    if n >= 3 and parts[1] in _GROUP_MARKERS:
        return {"channel": parts[0], "peer_kind": parts[1], "peer": ":".join(parts[2:])}
    if n >= 4 and parts[2] in _DM_MARKERS:
        return {"channel": parts[0], "account": parts[1], "peer_kind": "direct", "peer": ":".join(parts[3:])}
    if n >= 4 and parts[2] in _GROUP_MARKERS:
        return {"channel": parts[0], "account": parts[1], "peer_kind": parts[2], "peer": ":".join(parts[3:])}
    return None


def _parse_rest(raw: str, agent: str | None, parts: list[str], main_key: str) -> ParsedKey:
    rest = ":".join(parts)
    head = parts[0] if parts else ""
    # thread: the last ':thread:' (a `thread` part with a base before and an id after) splits
    i = _last_index(parts, "thread", 1, len(parts) - 1)
    if i is not None:
        conv = _parse_conversation(parts[:i]) or {}
        thread = ":".join(parts[i + 1 :])
        return ParsedKey(raw, agent, "thread", rest, thread=thread, **conv)  # type: ignore[arg-type]
    if len(parts) >= 2 and parts[-1] == "heartbeat":
        conv = _parse_conversation(parts[:-1]) or {}
        return ParsedKey(raw, agent, "heartbeat", rest, **conv)  # type: ignore[arg-type]
    if head == "subagent" and len(parts) >= 2:
        return ParsedKey(raw, agent, "subagent", rest, ident=parts[-1], depth=parts.count("subagent"))
    if head in ("acp", "hook", "dashboard", "explicit") and len(parts) >= 2:
        return ParsedKey(raw, agent, head, rest, ident=":".join(parts[1:]))
    if head == "cron" and len(parts) >= 2:
        r = _last_index(parts, "run", 2, len(parts) - 1)
        if r is not None:
            return ParsedKey(
                raw, agent, "cron-run", rest, ident=":".join(parts[1:r]), run_id=":".join(parts[r + 1 :])
            )
        return ParsedKey(raw, agent, "cron-job", rest, ident=":".join(parts[1:]))
    if head == "node":
        return ParsedKey(raw, agent, "node", rest, ident=":".join(parts[1:]) or None)
    if len(parts) == 1 and head in (main_key, "main"):
        return ParsedKey(raw, agent, "main", rest)
    found = _parse_conversation(parts)
    if found is not None:
        conv = found
        kind = str(conv["peer_kind"])
        peer = conv.get("peer") or ""
        if kind == "group" and ":topic:" in f":{peer}:":
            gparts = peer.split(":")
            j = len(gparts) - 1 - gparts[::-1].index("topic")
            if 0 < j < len(gparts) - 1:
                conv = {**conv, "peer": ":".join(gparts[:j])}
                topic = ":".join(gparts[j + 1 :])
                return ParsedKey(raw, agent, "topic", rest, topic=topic, **conv)  # type: ignore[arg-type]
        return ParsedKey(raw, agent, kind, rest, **conv)  # type: ignore[arg-type]
    return ParsedKey(raw, agent, "other", rest)


@lru_cache(maxsize=65536)
def parse_key(key: str, main_key: str = "main") -> ParsedKey:
    """Parse a session key. Never raises."""
    k = key.strip().lower()
    if k == "global":
        return ParsedKey(key, None, "global", "global")
    parts = [p for p in k.split(":") if p]
    if len(parts) >= 3 and parts[0] == "agent":
        return _parse_rest(key, parts[1], parts[2:], main_key)
    # un-prefixed legacy keys: `main`, phone numbers, `<channel>:group:<id>`
    conv = _parse_conversation(parts) if parts else None
    if conv is not None:
        return ParsedKey(key, None, "legacy", k, **conv)  # type: ignore[arg-type]
    return ParsedKey(key, None, "legacy", k)


def is_main_key(key: str, agent: str, main_key: str = "main") -> bool:
    p = parse_key(key, main_key)
    return p.kind == "main" and (p.agent == agent or p.agent is None)
