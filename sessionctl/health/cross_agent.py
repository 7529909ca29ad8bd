"""health, cross-agent: peers with sessions in several agents or in the wrong one
(peer.*), thread bindings (binding.*)."""

from __future__ import annotations

from collections import defaultdict

from sessionctl.bindings import dangling, expired, load_bindings, target_agent
from sessionctl.context import RunContext
from sessionctl.findings import Finding, Severity, fix_cmd
from sessionctl.peers import IdentityLinks, SessionPeer, entry_peers, expected_route, route_bindings
from sessionctl.snapshot import AgentSnapshot, session_agent


def peer_checks(snaps: list[AgentSnapshot], ctx: RunContext) -> list[Finding]:

    links = IdentityLinks(ctx.openclaw.identity_links)
    bindings = route_bindings(ctx.openclaw)
    out: list[Finding] = []
    by_ident: dict[tuple[str, ...], list[tuple[str, str, SessionPeer]]] = defaultdict(list)
    for snap in snaps:
        for ev, sp in entry_peers(snap.entries, links):
            agent = session_agent(snap, ev)
            by_ident[sp.identity.key].append((agent, ev.key, sp))
            if not bindings or sp.thread is not None:
                continue
            route = expected_route(sp, bindings, ctx.openclaw)
            # only a binding makes a session stray: peers that fall through to the default
            # agent may have sessions elsewhere on purpose (`openclaw agent --agent X --to …`)
            if route is None or route.matched_by == "default" or route.agent == agent:
                continue
            how = {
                "binding.peer": "a peer binding",
                "binding.parent_peer": "a parent-peer binding",
                "binding.account": "an account binding",
                "binding.channel": "a channel binding",
            }[route.matched_by]
            where = f" (bindings[{route.binding}])" if route.binding is not None else ""
            out.append(
                Finding(
                    "peer.stray",
                    "warning",
                    agent,
                    f"session for {sp.identity.describe()} lives in {agent!r}, but {how}{where} "
                    f"routes this peer to {route.agent!r}",
                    key=ev.key,
                    path=str(snap.store.store_path),
                    fix=fix_cmd("dedupe", None),
                    data={
                        "peer": sp.identity.to_json(),
                        "expected_agent": route.agent,
                        "matched_by": route.matched_by,
                        "binding_index": route.binding,
                    },
                )
            )
    for _ident, sessions in sorted(by_ident.items()):
        agents = sorted({a for a, _k, _sp in sessions})
        if len(agents) < 2:
            continue
        sp0 = sessions[0][2]
        listed = sorted((a, k) for a, k, _sp in sessions)
        out.append(
            Finding(
                "peer.duplicate_across_agents",
                "warning",
                None,
                f"{sp0.identity.describe()} has sessions in {len(agents)} agents: {', '.join(agents)}",
                key=listed[0][1],
                fix=fix_cmd("dedupe", None),
                data={
                    "peer": sp0.identity.to_json(),
                    "agents": agents,
                    "sessions": [{"agent": a, "key": k} for a, k in listed],
                },
            )
        )
    return out


def binding_checks(
    ctx: RunContext, snaps: list[AgentSnapshot], now_ms: int, wanted: set[str] | None
) -> list[Finding]:

    files = load_bindings(ctx.state_dir)
    if not files:
        return []
    keys: dict[str, set[str] | None] = {}
    for snap in snaps:
        if snap.store.legacy_pending or snap.load.data is None:
            keys.setdefault(snap.agent_id, None)
            continue
        for ev in snap.entries:
            agent = session_agent(snap, ev)
            bucket = keys.setdefault(agent, set())
            if bucket is not None:
                bucket.add(ev.key.strip().lower())
        keys.setdefault(snap.agent_id, set())
    default = ctx.openclaw.default_agent
    out: list[Finding] = []
    for bf in files:
        if bf.error:
            if wanted is None:
                out.append(
                    Finding(
                        "binding.file_invalid",
                        "warning",
                        None,
                        f"{bf.channel} thread-binding file: {bf.error}",
                        path=str(bf.path),
                    )
                )
            continue
        for b in bf.bindings:
            agent = target_agent(b, default)
            if wanted is not None and agent not in wanted:
                continue
            what = f"{bf.channel} thread {b.conversation_id or b.ident}"
            check: str
            severity: Severity
            why = expired(b, now_ms)
            if why is not None:
                check, severity = "binding.expired", "info"
                message = f"{what} binding is expired ({why}); only a running gateway sweeps it"
            elif dangling(b, keys, default):
                check, severity = "binding.dangling", "warning"
                target = b.target_session_key or "(none)"
                message = f"{what} is bound to session {target}, which no longer exists in agent {agent!r}"
            else:
                continue
            out.append(
                Finding(
                    check,
                    severity,
                    agent,
                    message,
                    key=b.target_session_key,
                    path=str(bf.path),
                    fix=fix_cmd("gc", agent),
                    data=b.to_json(),
                )
            )
    return out
