"""dedupe: one peer, one agent — and collapsing spawn storms.

Peers (sessionctl.peers): a session's peer is channel + account + peer kind + peer id,
from the key and, where the key leaves them out (`dmScope` forms differ), from
`deliveryContext` / `origin` / `lastTo`; with `session.identityLinks` a linked identity.
Sessions of one peer (and one thread) that live in several agents are duplicates. The
agent that should own the peer is what OpenClaw's routing picks from `bindings[]`
(peer → parent peer → account → channel → default agent; peers.expected_route).

- `--keep bound` (default): keep the sessions in the agent a *binding* routes the peer
  to; remove the others. A peer that no binding routes (it falls to the default agent),
  whose route cannot be told from the rows, or whose bound agent holds none of its
  sessions is reported and left alone.
- `--keep newest`: keep the agent of the most recently active session; remove the
  sessions of that peer in every other agent.
- A lone session that a binding routes to another agent (a stray) is reported only:
  removing it would leave the peer with no session at all.

Removed entries go through store.remove (the journal keeps them verbatim); their
files — transcript, topic transcripts, checkpoints, trajectory and ACP sidecars, found as
gc finds them (snapshot.session_files) — are archived by rename to `.deleted.<stamp>` when
no remaining entry of any agent references them, so no orphan is left behind.

Storms (`--storms`): machine-made sessions (subagent, acp, hook, dashboard, explicit,
node, other shapes; never DMs, groups, threads, main, cron) sharing a key family — the
key up to its first variable token, e.g. `agent:marketer:explicit:dyad-coord-*` — or a
`--match` glob. Sessions of a family are chained into bursts (each started within
`--window` of the previous one); a burst with at least `--min` sessions inside one
window keeps its `--keep N` most recently active sessions (and any still `running`),
the rest are removed like duplicates.

Every action, problem and kept item carries `finding`: the health check id it resolves
or concerns (DEDUPE_TO_HEALTH, as repair's REPAIR_TO_HEALTH; docs/dedupe.md).
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sessionctl.archive import AgentFacts, all_agent_facts
from sessionctl.config import OpenClawConfig
from sessionctl.context import RunContext
from sessionctl.execute import DEFAULT_LOCK_TIMEOUT_S, ENGINE_TO_HEALTH, Outcome, Plan, run_plan, tag_findings
from sessionctl.keys import KINDS, STORM_KINDS
from sessionctl.peers import IdentityLinks, SessionPeer, entry_peers, expected_route, route_bindings
from sessionctl.snapshot import AgentSnapshot, EntryView, build_references, session_agent, session_files
from sessionctl.timeutil import format_duration, iso_ms, max_in_window, now_ms
from sessionctl.transcripts import unique_archive_path

STORM_EXCLUDED_KINDS = frozenset(KINDS) - STORM_KINDS
_SPLIT = re.compile(r"([-_.])")
_HEXISH = re.compile(r"^[0-9a-f]{6,}$")

# dedupe's `check` ids → the health check id (docs/health.md) of the finding each item
# resolves (actions) or concerns (problems, kept); None where health has no such check.
# Like repair's REPAIR_TO_HEALTH: both vocabularies are public contracts and never renamed;
# this is where they meet for dedupe (`finding` next to `check`; docs/dedupe.md).
DEDUPE_TO_HEALTH: dict[str, str | None] = {
    # actions; a removed session that a binding routes elsewhere (every removal of
    # --keep bound) also resolves its own peer.stray: `finding` names the peer's finding
    "peer.duplicate": "peer.duplicate_across_agents",
    "peer.duplicate.transcript": "peer.duplicate_across_agents",
    "storm": "sessions.spawn_storm",
    "storm.transcript": "sessions.spawn_storm",
    # problems
    "peer.duplicate_unbound": "peer.duplicate_across_agents",
    "peer.bound_agent_missing": "peer.duplicate_across_agents",
    "peer.stray": "peer.stray",
    "dedupe.store_unreadable": None,  # the store's own finding depends on its status
    "store.would_be_empty": ENGINE_TO_HEALTH["store.would_be_empty"],  # Plan.guard_nonempty's
    # kept
    "peer.not_selected": "peer.duplicate_across_agents",
    "transcript.references_unknown": None,  # a removed session's transcript: another store is unreadable
}


@dataclass
class DedupeOptions:
    keep: str = "bound"  # bound | newest
    storms: bool = False
    storm_keep: int = 3
    storm_window_ms: int = 3_600_000
    storm_min: int = 20
    match: list[str] = field(default_factory=list)
    backup_dir: str | None = None
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S  # --lock-timeout


def storm_family(key: str) -> str | None:
    """`agent:marketer:explicit:dyad-coord-1714400000000-k3j9x2` → `agent:marketer:explicit:dyad-coord-*`:
    the key up to the first token of its last segment that varies (has a digit or looks
    like hex); None for keys with fewer than two segments."""
    k = key.strip().lower()
    i = k.rfind(":")
    if i <= 0:
        return None
    head, last = k[: i + 1], k[i + 1 :]
    stable = ""
    for tok in _SPLIT.split(last):
        if tok in ("-", "_", "."):
            stable += tok
            continue
        if not tok or any(c.isdigit() for c in tok) or _HEXISH.match(tok):
            break
        stable += tok
    return f"{head}{stable}*"


# ---------------------------------------------------------------- shared removal


@dataclass
class _Removal:
    af: AgentFacts
    ev: EntryView
    check: str
    reason: str


def _last_active(ev: EntryView) -> int:
    t = ev.last_active_ms()[0]
    return t if t is not None else -(2**62)


def _add_removals(plan: Plan, facts: DedupeFacts, removals: list[_Removal]) -> None:
    """store.remove for each, then archive each transcript no remaining entry references."""
    snaps = [af.snap for af in facts.agents]
    removed: set[tuple[str, str]] = {(str(r.af.snap.store.store_path), r.ev.key) for r in removals}
    unknown = sorted({s.agent_id for s in snaps if s.load.data is None})
    # every (path → keys) reference that remains after the removals, across all agents
    # names in each folder that a remaining entry of ANOTHER folder resolves to (sibling sessionFile)
    remaining_names: dict[str, set[str]] = {}
    for snap in snaps:
        sp = str(snap.store.store_path)
        own = str(snap.store.sessions_dir)
        for ev in snap.entries:
            p = ev.ref.path
            if (sp, ev.key) in removed or p is None or str(p.parent) == own:
                continue
            remaining_names.setdefault(str(p.parent), set()).add(p.name)
    wall = facts.wall_ms
    taken: set[str] = set()
    for r in removals:
        snap, ev = r.af.snap, r.ev
        plan.add(
            {
                "type": "store.remove",
                "agent": snap.agent_id,
                "store": r.af.store(),
                "key": ev.key,
                "entry": ev.entry,
                "check": r.check,
                "what": f"remove {ev.key!r} from {snap.agent_id}'s store",
                "reason": r.reason,
            }
        )
    # the files of the removed sessions (snapshot.session_files: transcript, topics,
    # checkpoints, trajectory and ACP sidecars), per folder, that nothing left uses
    by_snap: dict[str, tuple[AgentFacts, list[_Removal]]] = {}
    for r in removals:
        by_snap.setdefault(str(r.af.snap.store.store_path), (r.af, []))[1].append(r)
    for sp, (af, rs) in by_snap.items():
        snap = af.snap
        sdir = snap.store.sessions_dir
        remaining_refs = build_references([ev for ev in snap.entries if (sp, ev.key) not in removed], sdir)
        for name in remaining_names.get(str(sdir), ()):
            remaining_refs.setdefault(name, []).append("(another store)")
        files, _kept = session_files(snap, [r.ev for r in rs], remaining_refs)
        if not files:
            continue
        others = [a for a in unknown if a != snap.agent_id]
        store_rel = af.store()
        check_of = {r.ev.key: r.check for r in rs}
        for name, owners in files.items():
            fi = snap.inventory.by_name[name]
            if fi.kind in ("directory", "symlink"):
                continue
            rel = af.rel(fi.name)
            if others:  # an entry of theirs may use it (an absolute sessionFile): as in gc
                plan.keep(
                    "transcript.references_unknown",
                    snap.agent_id,
                    rel,
                    f"{name} of the removed {owners[0]!r} stays: the store of {', '.join(others)} cannot be "
                    "read, so whether one of its entries uses it is unknown",
                )
                continue
            dst = Path(unique_archive_path(sdir / name, "deleted", wall, taken, af.free)).name
            what = "transcript" if fi.kind in ("transcript", "topic", "fork") else fi.kind.replace("_", " ")
            plan.add(
                {
                    "type": "file.rename",
                    "agent": snap.agent_id,
                    "from": rel,
                    "to": af.rel(dst),
                    "bytes": fi.size,
                    "offline": True,
                    "requires": [[store_rel, k] for k in owners],
                    "check": f"{check_of[owners[0]]}.transcript",
                    "what": f"archive {name} as {dst}",
                    "reason": f"{what} of the removed {owners[0]!r}; no remaining entry references it",
                }
            )


@dataclass(frozen=True)
class DedupeFacts:
    """Everything dedupe decides from, read before it decides."""

    agents: tuple[AgentFacts, ...]  # every file-layout agent; `selected` marks --agent ones
    config: OpenClawConfig  # openclaw.json: bindings, identity links, agents
    wall_ms: int  # the wall clock when read: archive name stamps


def read_dedupe_facts(ctx: RunContext) -> DedupeFacts:
    """Snapshots of every agent (store and folder listing), openclaw.json, the clock."""
    return DedupeFacts(tuple(all_agent_facts(ctx)), ctx.openclaw, now_ms())


# ---------------------------------------------------------------- peers


def plan_peers(ctx: RunContext, opts: DedupeOptions) -> Plan:
    """The peers plan: read the facts, then decide (decide_peers, pure)."""
    return decide_peers(read_dedupe_facts(ctx), opts)


def decide_peers(facts: DedupeFacts, opts: DedupeOptions) -> Plan:
    """Which duplicate sessions of a peer go, and which stay (pure: no file access, no
    clock): from the snapshots, bindings and identity links of `facts` and `opts.keep`."""
    plan = Plan("dedupe")
    cfg = facts.config
    links = IdentityLinks(cfg.identity_links)
    bindings = route_bindings(cfg)
    groups: dict[tuple[str | None, ...], list[tuple[AgentSnapshot, EntryView, SessionPeer, str]]] = (
        defaultdict(list)
    )
    af_of = {str(af.snap.store.store_path): af for af in facts.agents}
    for af in facts.agents:
        snap = af.snap
        if snap.load.data is None:
            if af.selected:
                plan.problem(
                    "dedupe.store_unreadable",
                    "warning",
                    snap.agent_id,
                    f"sessions.json is {snap.load.status}: its sessions are not considered",
                    path=str(snap.store.store_path),
                    fix=f"sessionctl repair --only store --agent {snap.agent_id}",
                )
            continue
        plan.note_store(af.store(), [ev.key for ev in snap.entries])
        for ev, sp in entry_peers(snap.entries, links):
            groups[(*sp.identity.key, sp.thread)].append((snap, ev, sp, session_agent(snap, ev)))
    removals: list[_Removal] = []
    report: list[dict[str, object]] = []
    for gkey in sorted(groups, key=lambda k: tuple(str(x) for x in k)):
        members = groups[gkey]
        agents = sorted({m[3] for m in members})
        sp0 = members[0][2]
        routes = (
            {r for m in members if (r := expected_route(m[2], bindings, cfg)) is not None}
            if bindings
            else set()
        )
        bound = {r.agent for r in routes if r.matched_by != "default"}
        route_agent = next(iter(bound)) if len(bound) == 1 else None
        route = next((r for r in routes if r.agent == route_agent), None) if route_agent else None
        entry: dict[str, object] = {
            "peer": sp0.identity.to_json(),
            "thread": sp0.thread,
            "agents": agents,
            "bound_agent": route_agent,
            "matched_by": route.matched_by if route else None,
            "binding_index": route.binding if route else None,
            "sessions": [
                {
                    "agent": a,
                    "key": ev.key,
                    "last_active": iso_ms(t) if (t := ev.last_active_ms()[0]) is not None else None,
                }
                for _s, ev, _sp, a in members
            ],
            "decision": None,
        }
        desc = sp0.identity.describe() + (f" thread {sp0.thread}" if sp0.thread else "")
        if len(agents) < 2:
            snap, ev, _sp, agent = members[0]
            if route_agent is not None and route_agent != agent and len(members) == 1:
                plan.problem(
                    "peer.stray",
                    "warning",
                    agent,
                    f"the only session of {desc} lives in {agent!r}, but bindings route this peer to "
                    f"{route_agent!r}; left alone (removing it would leave the peer with no session)",
                    key=ev.key,
                    path=str(snap.store.store_path),
                )
                entry["decision"] = "stray: reported"
                report.append(entry)
            continue
        keep_agent: str | None = None
        if opts.keep == "bound":
            if route_agent is None:
                why = (
                    "no binding routes this peer (it falls to the default agent)"
                    if routes and not bound
                    else "its route cannot be told from the session rows"
                    if bindings
                    else "openclaw.json has no bindings"
                )
                if len(bound) > 1:
                    why = f"its sessions route to different agents ({', '.join(sorted(bound))})"
                plan.problem(
                    "peer.duplicate_unbound",
                    "warning",
                    None,
                    f"{desc} has sessions in {', '.join(agents)}; {why}: left alone "
                    "(use --keep newest to keep the most recently active)",
                    key=members[0][1].key,
                )
                entry["decision"] = "unbound: reported"
                report.append(entry)
                continue
            if route_agent not in agents:
                plan.problem(
                    "peer.bound_agent_missing",
                    "warning",
                    None,
                    f"{desc} is bound to {route_agent!r}, which has none of its sessions "
                    f"({', '.join(agents)}); left alone",
                    key=members[0][1].key,
                )
                entry["decision"] = "bound agent has no session: reported"
                report.append(entry)
                continue
            keep_agent = route_agent
            why_keep = (
                f"bindings route this peer to {route_agent!r} ({route.matched_by if route else 'binding'})"
            )
        else:
            best = max(members, key=lambda m: (_last_active(m[1]), m[3] == route_agent, m[3]))
            keep_agent = best[3]
            why_keep = f"{keep_agent!r} holds the most recently active session ({best[1].key!r})"
        entry["decision"] = f"keep {keep_agent}"
        report.append(entry)
        for snap, ev, _sp, agent in members:
            af = af_of[str(snap.store.store_path)]
            if agent == keep_agent:
                continue
            if not af.selected:
                plan.keep(
                    "peer.not_selected", agent, None, "duplicate in an agent outside --agent", key=ev.key
                )
                continue
            removals.append(
                _Removal(af, ev, "peer.duplicate", f"{desc} also has a session in {keep_agent!r}: {why_keep}")
            )
    _add_removals(plan, facts, removals)
    plan.details["peers"] = report
    plan.details["keep"] = opts.keep
    plan.guard_nonempty()
    return tag_findings(plan, DEDUPE_TO_HEALTH)


# ---------------------------------------------------------------- storms


def plan_storms(ctx: RunContext, opts: DedupeOptions) -> Plan:
    """The storms plan: read the facts, then decide (decide_storms, pure)."""
    return decide_storms(read_dedupe_facts(ctx), opts)


def decide_storms(facts: DedupeFacts, opts: DedupeOptions) -> Plan:
    """Which sessions of each spawn storm go (pure: no file access, no clock)."""
    plan = Plan("dedupe")
    removals: list[_Removal] = []
    report: list[dict[str, object]] = []
    globs = [m.strip().lower() for m in opts.match]
    for af in facts.agents:
        snap = af.snap
        if snap.load.data is None:
            continue
        plan.note_store(af.store(), [ev.key for ev in snap.entries])
        if not af.selected:
            continue
        fams: dict[str, list[EntryView]] = defaultdict(list)
        for ev in snap.entries:
            if ev.shape_problem:
                continue
            k = ev.key.strip().lower()
            if globs:
                fam = next((g for g in globs if fnmatch.fnmatchcase(k, g)), None)
            elif ev.parsed.kind in STORM_EXCLUDED_KINDS:
                fam = None
            else:
                fam = storm_family(ev.key)
            if fam is not None:
                fams[fam].append(ev)
        for fam in sorted(fams):
            evs = fams[fam]
            if len(evs) < opts.storm_min:
                continue
            dated = sorted(
                ((t, ev) for ev in evs if (t := ev.started_ms()[0]) is not None),
                key=lambda x: (x[0], x[1].key),
            )
            bursts: list[list[tuple[int, EntryView]]] = []
            for t, ev in dated:
                if bursts and t - bursts[-1][-1][0] <= opts.storm_window_ms:
                    bursts[-1].append((t, ev))
                else:
                    bursts.append([(t, ev)])
            for burst in bursts:
                peak, _ = max_in_window([t for t, _ev in burst], opts.storm_window_ms)
                if peak < opts.storm_min:
                    continue
                by_activity = sorted(
                    (ev for _t, ev in burst), key=lambda e: (_last_active(e), e.key), reverse=True
                )
                keep = by_activity[: opts.storm_keep]
                running = [e for e in by_activity[opts.storm_keep :] if e.obj.get("status") == "running"]
                gone = [e for e in by_activity[opts.storm_keep :] if e.obj.get("status") != "running"]
                first, last = burst[0][0], burst[-1][0]
                why = (
                    f"one of {len(burst)} sessions of {fam} started within {format_duration(last - first)} "
                    f"({iso_ms(first)} …); the {len(keep)} most recently active are kept"
                )
                for ev in gone:
                    removals.append(_Removal(af, ev, "storm", why))
                report.append(
                    {
                        "agent": snap.agent_id,
                        "family": fam,
                        "sessions": len(burst),
                        "peak_in_window": peak,
                        "first_started": iso_ms(first),
                        "last_started": iso_ms(last),
                        "kept": [e.key for e in keep] + [e.key for e in running],
                        "removed": len(gone),
                    }
                )
    _add_removals(plan, facts, removals)
    plan.details["storms"] = report
    plan.details["storm_policy"] = {
        "keep": opts.storm_keep,
        "window_ms": opts.storm_window_ms,
        "min": opts.storm_min,
        "match": opts.match,
    }
    plan.guard_nonempty()
    return tag_findings(plan, DEDUPE_TO_HEALTH)


def run_dedupe(ctx: RunContext, opts: DedupeOptions, *, dry_run: bool, force_online: bool) -> Outcome:
    return run_plan(
        ctx,
        (lambda: plan_storms(ctx, opts)) if opts.storms else (lambda: plan_peers(ctx, opts)),
        dry_run=dry_run,
        force_online=force_online,
        backup_dir=opts.backup_dir,
        lock_timeout_s=opts.lock_timeout_s,
    )
