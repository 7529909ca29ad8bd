"""Who a session talks to (its channel peer), and which agent OpenClaw routes that peer to.

Peer identity (format doc §4): channel, account, peer kind and peer id, taken from the
session key; what the key leaves out (channel, account) comes from the entry:
`deliveryContext`, `origin`, `lastChannel`/`lastAccountId`/`lastTo`. With
`session.identityLinks`, a direct peer that is linked to a canonical name is identified
by that name, so the same person seen on two channels is one identity.

Routing mirrors OpenClaw's resolve-route: bindings are filtered by channel and account
(no `accountId` → only the `default` account; `"*"` → any account), then the first
match in config order wins by tier: peer → (parent peer, for threads) → account →
channel (`accountId: "*"`) → the default agent. Bindings scoped by guild, team or roles
cannot be evaluated from a session row; when one could apply, the route is unknown
(None) rather than guessed. A binding to an agent that is not configured routes to the
default agent, like OpenClaw's pickFirstExistingAgentId.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sessionctl.config import OpenClawConfig, normalize_agent_id
from sessionctl.jsonjs import dig
from sessionctl.keys import ParsedKey

DEFAULT_ACCOUNT = "default"
PEER_KINDS = frozenset({"direct", "group", "channel"})
# session kinds that belong to one channel peer
PEER_SESSION_KINDS = frozenset({"direct", "group", "channel", "thread", "topic", "legacy"})
_TARGET_PREFIXES = ("user:", "channel:", "group:", "chat:", "dm:", "direct:")


def _tok(v: object) -> str | None:
    if isinstance(v, str) and v.strip():
        return v.strip().lower()
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def _norm_kind(kind: str | None) -> str | None:
    if kind is None:
        return None
    k = kind.strip().lower()
    return "direct" if k == "dm" else k


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    channel: str  # "" when unknown (then only a linked identity can match across channels)
    account: str  # DEFAULT_ACCOUNT when neither the key nor the entry names one
    kind: str  # direct | group | channel
    peer: str  # lowercased; for a Telegram topic "<chat>:topic:<topic>"
    linked: str | None = None  # canonical name from session.identityLinks

    @property
    def key(self) -> tuple[str, ...]:
        """What two sessions must share to be the same peer."""
        if self.linked is not None:
            return ("link", self.linked)
        return (self.channel, self.account, self.kind, self.peer)

    def describe(self) -> str:
        if self.linked is not None:
            return f"linked identity {self.linked!r}"
        acct = "" if self.account == DEFAULT_ACCOUNT else f" (account {self.account})"
        return f"{self.channel or '?'} {self.kind} {self.peer}{acct}"

    def to_json(self) -> dict[str, str | bool | None]:
        return {
            "channel": self.channel or None,
            "account": self.account,
            "kind": self.kind,
            "peer": self.peer,
            "linked": self.linked,
        }


@dataclass(frozen=True, slots=True)
class SessionPeer:
    identity: PeerIdentity
    account_known: bool  # the account came from the key or the entry (not the default guess)
    thread: str | None = None  # thread id for `…:thread:<id>` sessions (identity = parent peer)
    raw_peer: str | None = None  # the peer id before identity linking


class IdentityLinks:
    """`session.identityLinks`: canonical name → ["<channel>:<id>", "<id>", ...]."""

    def __init__(self, links: Mapping[str, object] | None) -> None:
        self._ids: dict[str, str] = {}
        self._canonical: set[str] = set()
        for canonical, ids in (links or {}).items():
            name = str(canonical).strip().lower()
            if not name or not isinstance(ids, list):
                continue
            self._canonical.add(name)
            for i in ids:
                t = _tok(i)
                if t is not None and t not in self._ids:
                    self._ids[t] = name

    def __bool__(self) -> bool:
        return bool(self._canonical)

    def resolve(self, channel: str | None, peer: str) -> str | None:
        """The canonical name for a direct peer, like OpenClaw's resolveLinkedPeerId:
        the bare id or `<channel>:<id>` listed under a name. A peer segment that already
        is a canonical name (how linked DM keys are written) resolves to itself."""
        p = peer.strip().lower()
        if channel and (hit := self._ids.get(f"{channel}:{p}")):
            return hit
        if hit := self._ids.get(p):
            return hit
        return p if p in self._canonical else None


def _first(*vals: object) -> str | None:
    for v in vals:
        t = _tok(v)
        if t is not None:
            return t
    return None


def entry_channel(entry: Mapping[str, object]) -> str | None:
    return _first(
        dig(entry, "deliveryContext", "channel"),
        dig(entry, "origin", "provider"),
        entry.get("lastChannel"),
        entry.get("channel"),
        entry.get("provider"),
        entry.get("lastProvider"),
    )


def entry_account(entry: Mapping[str, object]) -> str | None:
    return _first(
        dig(entry, "deliveryContext", "accountId"),
        dig(entry, "origin", "accountId"),
        entry.get("lastAccountId"),
    )


def _strip_target(target: str, channel: str | None) -> str:
    t = target.strip().lower()
    if channel and t.startswith(channel + ":"):
        t = t[len(channel) + 1 :]
    for p in _TARGET_PREFIXES:
        if t.startswith(p):
            return t[len(p) :]
    return t


def entry_peer(entry: Mapping[str, object], channel: str | None) -> tuple[str, str] | None:
    """(kind, peer) from the entry alone, for keys that carry no peer (legacy keys)."""
    kind = _norm_kind(_first(entry.get("chatType"), dig(entry, "origin", "chatType")))
    if kind not in PEER_KINDS:
        return None
    target = _first(
        dig(entry, "origin", "from") if kind == "direct" else dig(entry, "origin", "to"),
        dig(entry, "deliveryContext", "to"),
        entry.get("lastTo"),
    )
    if target is None:
        return None
    peer = _strip_target(target, channel)
    return (kind, peer) if peer else None


def session_peer(parsed: ParsedKey, entry: object, links: IdentityLinks | None = None) -> SessionPeer | None:
    """The channel peer a session belongs to, or None (main, synthetic and other sessions)."""
    if parsed.kind not in PEER_SESSION_KINDS:
        return None
    obj: Mapping[str, object] = entry if isinstance(entry, dict) else {}
    channel = parsed.channel or entry_channel(obj)
    kind = _norm_kind(parsed.peer_kind)
    peer = parsed.peer
    if parsed.kind == "topic" and peer is not None and parsed.topic is not None:
        peer = f"{peer}:topic:{parsed.topic}"
    if peer is None or kind not in PEER_KINDS:
        if parsed.kind != "legacy":
            return None
        found = entry_peer(obj, channel)
        if found is None:
            return None
        kind, peer = found
    assert kind is not None
    account = parsed.account or entry_account(obj)
    linked = None
    if kind == "direct" and links:
        linked = links.resolve(channel, peer)
    ident = PeerIdentity(channel or "", account or DEFAULT_ACCOUNT, kind, peer.lower(), linked)
    return SessionPeer(ident, account is not None, parsed.thread if parsed.kind == "thread" else None, peer)


class PeerEntry(Protocol):
    """What entry_peers reads of an entry (snapshot.EntryView has it)."""

    @property
    def parsed(self) -> ParsedKey: ...
    @property
    def entry(self) -> object: ...
    @property
    def shape_problem(self) -> str | None: ...


E = TypeVar("E", bound=PeerEntry)


def entry_peers(entries: Iterable[E], links: IdentityLinks | None = None) -> Iterator[tuple[E, SessionPeer]]:
    """The entries that belong to a channel peer, each with its peer (health's peer checks
    and dedupe group sessions by it); an entry of a bad shape belongs to none."""
    for ev in entries:
        if ev.shape_problem:
            continue
        sp = session_peer(ev.parsed, ev.entry, links)
        if sp is None:
            continue
        yield ev, sp


# ---------------------------------------------------------------- routing


@dataclass(frozen=True, slots=True)
class RouteBinding:
    """One `bindings[]` rule of openclaw.json, as routing sees it."""

    index: int
    agent_id: str
    channel: str | None
    account: str | None  # None = no accountId (default account only); "*" = any
    peer_kind: str | None
    peer_id: str | None
    scoped: bool = False  # guildId / teamId / roles: not decidable from a session row

    def matches_account(self, account: str) -> bool:
        if self.account is None:
            return account == DEFAULT_ACCOUNT
        return self.account == "*" or self.account == account


@dataclass(frozen=True, slots=True)
class Route:
    agent: str
    matched_by: str  # binding.peer | binding.parent_peer | binding.account | binding.channel | default
    binding: int | None = None  # index into openclaw.json bindings[]


def route_bindings(cfg: OpenClawConfig) -> list[RouteBinding]:
    """The routing rules of openclaw.json in config order (non-route bindings such as
    `type: "acp"` ones are skipped)."""
    raw = cfg.raw.get("bindings") if isinstance(cfg.raw, dict) else None
    out: list[RouteBinding] = []
    if not isinstance(raw, list):
        return out
    for i, b in enumerate(raw):
        if not isinstance(b, dict) or b.get("agentId") is None:
            continue
        if b.get("type") not in (None, "route"):
            continue
        m = b.get("match") if isinstance(b.get("match"), dict) else {}
        assert isinstance(m, dict)
        peer = m.get("peer") if isinstance(m.get("peer"), dict) else None
        acct = m.get("accountId")
        acct_s = str(acct).strip() if acct is not None else ""
        out.append(
            RouteBinding(
                index=i,
                agent_id=normalize_agent_id(b.get("agentId")),
                channel=_tok(m.get("channel")),
                account=(acct_s.lower() or None) if acct_s != "*" else "*",
                peer_kind=_norm_kind(_tok(peer.get("kind"))) if peer else None,
                peer_id=_tok(peer.get("id")) if peer else None,
                scoped=any(m.get(k) not in (None, "", []) for k in ("guildId", "teamId", "roles")),
            )
        )
    return out


def _pick_agent(agent: str, cfg_agents: list[str], default_agent: str) -> str:
    if not cfg_agents or agent in cfg_agents:
        return agent
    return default_agent


def resolve_route(
    bindings: Iterable[RouteBinding],
    *,
    channel: str,
    account: str,
    peer_kind: str | None,
    peer_id: str | None,
    parent_peer_id: str | None = None,
    default_agent: str = "main",
    agents: list[str] | None = None,
) -> Route | None:
    """OpenClaw's agent for a message from this peer; None when a guild/team/role-scoped
    binding could decide and we cannot tell."""
    cands = [b for b in bindings if b.channel == channel and b.matches_account(account)]
    cfg_agents = agents or []

    def choose(b: RouteBinding | None, how: str) -> Route:
        if b is None:
            return Route(default_agent, how)
        return Route(_pick_agent(b.agent_id, cfg_agents, default_agent), how, b.index)

    def peer_hit(pid: str | None) -> RouteBinding | None:
        if pid is None or peer_kind is None:
            return None
        return next((b for b in cands if b.peer_kind == peer_kind and b.peer_id == pid), None)

    if (hit := peer_hit(peer_id)) is not None:
        return choose(hit, "binding.peer")
    if parent_peer_id is not None and (hit := peer_hit(parent_peer_id)) is not None:
        return choose(hit, "binding.parent_peer")
    if any(b.scoped and b.peer_kind is None for b in cands):
        return None
    plain = [b for b in cands if b.peer_kind is None and not b.scoped]
    acct = next((b for b in plain if b.account != "*"), None)
    if acct is not None:
        return choose(acct, "binding.account")
    anyacct = next((b for b in plain if b.account == "*"), None)
    if anyacct is not None:
        return choose(anyacct, "binding.channel")
    return choose(None, "default")


def expected_route(sp: SessionPeer, bindings: list[RouteBinding], cfg: OpenClawConfig) -> Route | None:
    """The agent OpenClaw would route this session's peer to, or None when it cannot be
    told from the row (unknown channel, linked identity without a raw id, scoped
    bindings, or an unknown account whose candidates disagree)."""
    ident = sp.identity
    if not ident.channel or sp.raw_peer is None:
        return None
    peer_id = sp.raw_peer.lower()
    parent: str | None = None
    if sp.thread is not None:
        peer_id, parent = sp.thread.lower(), peer_id
    elif ident.kind == "group" and ":topic:" in peer_id:
        parent = peer_id.split(":topic:")[0]
    if ident.linked is not None and ident.linked == peer_id:
        return None  # the key holds the canonical name, not the channel's peer id
    accounts = [ident.account]
    if not sp.account_known:
        accounts += sorted(
            {b.account for b in bindings if b.channel == ident.channel and b.account not in (None, "*")}
            - {ident.account}
        )
    routes = set()
    for acct in accounts:
        kind = "channel" if sp.thread is not None and ident.kind == "channel" else ident.kind
        r = resolve_route(
            bindings,
            channel=ident.channel,
            account=acct,
            peer_kind=kind,
            peer_id=peer_id,
            parent_peer_id=parent,
            default_agent=cfg.default_agent,
            agents=cfg.agents,
        )
        if r is None:
            return None
        routes.add(r)
    agents = {r.agent for r in routes}
    if len(agents) != 1:
        return None
    return min(routes, key=lambda r: (r.binding is None, r.binding or 0))
