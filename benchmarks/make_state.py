#!/usr/bin/env python3
"""Generate a production-scale OpenClaw state dir for benchmarks (deterministic, seeded).

    python benchmarks/make_state.py OUT --agents 3 --entries 10000 --transcripts 100000 [--seed 1]

--entries is the TOTAL number of session entries over all agents (split evenly; the
first agent takes the remainder). --transcripts is the TOTAL number of transcript files
(`*.jsonl` primaries and topics, orphans and `.deleted`/`.reset` archives). Entries get
a transcript first (except the few planted "missing" and "fresh" ones and cron job rows,
which share their newest run's); what is left over becomes orphans (55 %), `.deleted`
archives (35 %) and `.reset` archives (10 %). With fewer transcripts than entries, the
entries without one are reported as missing.

Shapes come from fixtures/shapes.py (the builders the demo uses): entries ~15 KB, most
of it systemPromptReport and skillsSnapshot (OpenClaw 2026.5.28 era: skills prompts in
`skills-prompts/` blobs); a busy gateway's key mix (cron runs, subagents, hooks, DMs,
groups, channels, threads, topics, ACP, dashboard, explicit, heartbeats) and a spawn
storm; updatedAt ages from minutes to 120 days so gc has real work; a stale store lock,
stale store temp files, a stale transcript lock, Discord thread bindings (some expired,
some dangling) and the same peers in several agents.

Transcript sizes have a long tail: log-normal around a 50 KB median plus a few files
over 20 MB (one per 25,000 transcripts, at least one from 10 transcripts on; sized
20 MB … --max-transcript-mb, or 80-100 % of it when that is below 20).
--total-transcript-gb caps the disk used: when the planned sizes exceed it, the ordinary
transcripts are scaled down (the big ones are kept) and the summary says by how much.
The default cap of 2 GB fits a laptop; 100,000 transcripts at the real 50 KB median need
about --total-transcript-gb 9. Bodies are written by repeating pre-built turn blocks
(format-string templates), not by JSON-encoding every line, and stores are streamed entry
by entry: 10,000 entries + 100,000 transcripts (2 GB) cost ~40 s of CPU; the wall time
is whatever the disk needs for 100,000 files.

Everything is a function of the arguments: same arguments, same OUT path → identical
files (contents, modes, mtimes). Absolute `sessionFile` paths in the stores name OUT.
Timestamps are relative to --now (default 2026-05-01T12:00:00.000Z); pass the same
--now to sessionctl. OUT must not exist, be empty, or be a state dir this script made.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))

from shapes import (
    DAY,
    HOUR,
    MINUTE,
    EntrySpec,
    Rand,
    Route,
    archive_stamp,
    build_entry,
    iso,
    iter_body,
    iter_store_chunks,
    jline,
    parse_iso,
    pretty_json_bytes,
    prompt_blob_ref,
    session_header,
    skills_prompt,
    turn_block,
    write_file,
)

DEFAULT_NOW = "2026-05-01T12:00:00.000Z"
MARKER = "// sessionctl benchmark state"
AGENT_NAMES = ("main", "ops", "sales", "research", "support", "assistant", "finance", "dev")
IMPOSSIBLE_PID = 4_194_305  # above Linux's pid limit: never alive
MIN_TRANSCRIPT = 1536
MEDIAN_TRANSCRIPT = 50 * 1024
BIG_TRANSCRIPT = 20 * 1024 * 1024
SIGMA = 1.0
SKILLS_ROOT = "/usr/lib/node_modules/openclaw/skills"

# a busy gateway's key mix (weights), main and heartbeat rows are added per agent
KIND_WEIGHTS = (
    ("cron-run", 28),
    ("subagent", 24),
    ("direct", 14),
    ("hook", 8),
    ("group", 6),
    ("thread", 6),
    ("channel", 3),
    ("topic", 3),
    ("explicit", 3),
    ("acp", 2),
    ("dashboard", 2),
    ("heartbeat", 1),
)
CRON_JOBS = (
    "daily-digest",
    "inbox-triage",
    "backup-check",
    "weekly-report",
    "price-watch",
    "standup-notes",
    "rss-brief",
    "calendar-sync",
    "uptime-probe",
    "invoice-sweep",
    "social-queue",
    "memory-compact",
)
LONG_LIVED = frozenset({"main", "direct", "group", "channel", "thread", "topic", "explicit", "heartbeat"})


@dataclass
class Planned:
    spec: EntrySpec
    kind: str
    file_name: str | None = None  # transcript file in the sessions folder
    size: int = 0
    start: int = 0
    end: int = 0
    missing: bool = False


@dataclass
class Loose:
    """A transcript no entry references: an orphan or an archive."""

    agent: str
    name: str
    session_id: str
    start: int
    end: int
    size: int = 0


@dataclass
class Plan:
    now: int
    out: Path
    agents: list[str]
    entries: dict[str, list[Planned]] = field(default_factory=dict)
    loose: list[Loose] = field(default_factory=list)
    scale: float = 1.0
    bindings: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- planning


def pick_kind(r: Rand, cum: list[int], names: list[str]) -> str:
    return names[bisect.bisect_right(cum, r.randrange(cum[-1]))]


def age_ms(r: Rand, kind: str) -> int:
    """How long ago updatedAt was: a spread from minutes to 120 days."""
    if kind == "cron-run":
        return r.randrange(5 * MINUTE, 45 * DAY)
    u = r.random()
    if u < 0.35:
        return r.randrange(MINUTE, DAY)
    if u < 0.60:
        return r.randrange(DAY, 7 * DAY)
    if u < 0.80:
        return r.randrange(7 * DAY, 30 * DAY)
    return r.randrange(30 * DAY, 120 * DAY)


def route_for(r: Rand, kind: str, peers: list[str], acct: str) -> tuple[str, Route | None, dict[str, Any]]:
    """(key rest, route, extra entry fields) for a conversational kind. `acct` is the bot
    account this agent owns (its bindings route that account to it); a peer from the
    shared pool keeps the default account: the same person moved between agents."""
    if kind == "direct":
        u = r.random()
        if u < 0.15 and peers:
            peer = r.choice(peers)
            return f"telegram:direct:{peer}", Route("telegram", "direct", "default", peer), {}
        if u < 0.55:
            peer = r.digits(10)
            peers.append(peer)
            return f"telegram:direct:{peer}", Route("telegram", "direct", acct, peer), {}
        if u < 0.70:  # the per-account key form
            peer, a2 = r.digits(10), "work" if acct == "default" else acct
            return f"telegram:{a2}:direct:{peer}", Route("telegram", "direct", a2, peer), {}
        if u < 0.85:
            peer = "+49" + r.digits(11)
            return f"whatsapp:direct:{peer}", Route("whatsapp", "direct", acct, peer), {}
        peer = r.digits(18)
        return f"discord:direct:{peer}", Route("discord", "direct", acct, peer), {}
    if kind == "group":
        if r.random() < 0.6:
            g = "-100" + r.digits(10)
            return f"telegram:group:{g}", Route("telegram", "group", acct, g, r.digits(10), "Group"), {}
        g = r.digits(18) + "@g.us"
        rt = Route("whatsapp", "group", acct, g, "+49" + r.digits(11), "Team")
        return f"whatsapp:group:{g}", rt, {}
    if kind == "channel":
        if r.random() < 0.6:
            c = r.digits(19)
            return f"discord:channel:{c}", Route("discord", "channel", acct, c, r.digits(18), "#ops"), {}
        c = "c0" + r.base36(9)
        return f"slack:channel:{c}", Route("slack", "channel", acct, c, "u0" + r.base36(9), "#sales"), {}
    if kind == "thread":
        c, t = r.digits(19), r.digits(19)
        rt = Route("discord", "channel", acct, c, thread=t, sender=r.digits(18), subject="#ops")
        return f"discord:channel:{c}:thread:{t}", rt, {"forkedFromParent": True}
    if kind == "topic":
        g, t = "-100" + r.digits(10), str(r.randrange(2, 900))
        rt = Route("telegram", "group", acct, g, thread=t, sender=r.digits(10), subject="Forum")
        return f"telegram:group:{g}:topic:{t}", rt, {}
    raise AssertionError(kind)


def bot_account(agents: list[str], agent: str) -> str:
    """The default agent answers on the default accounts; every other agent has its own bots."""
    return "default" if agent == agents[0] else f"{agent}-bot"


def plan_agent(r: Rand, plan: Plan, agent: str, n: int, peers: list[str], storm: int) -> list[Planned]:
    now = plan.now
    names = [k for k, _w in KIND_WEIGHTS]
    cum: list[int] = []
    acc = 0
    for _k, w in KIND_WEIGHTS:
        acc += w
        cum.append(acc)
    jobs = list(CRON_JOBS[: max(1, min(len(CRON_JOBS), n // 300))]) if n >= 10 else []
    out: list[Planned] = []
    kinds: list[str] = (["main"] + (["heartbeat"] if n >= 10 else []))[:n]
    kinds += ["explicit-storm"] * min(storm, max(0, n - len(kinds) - len(jobs)))
    while len(kinds) < n - len(jobs):
        kinds.append(pick_kind(r, cum, names))
    storm_t0 = now - r.randrange(DAY, 5 * DAY)
    runs_by_job: dict[str, list[Planned]] = {j: [] for j in jobs}
    used: set[str] = set()
    model_of = {
        "main": ("anthropic", "claude-sonnet-4-5", 200_000),
        "subagent": ("anthropic", "claude-haiku-4-5", 200_000),
        "cron-run": ("anthropic", "claude-haiku-4-5", 200_000),
        "acp": ("openai", "gpt-5.1", 400_000),
        "explicit-storm": ("anthropic", "claude-opus-4-1", 200_000),
    }
    for i, kind in enumerate(kinds):
        sid = r.uuid4()
        route: Route | None = None
        extra: dict[str, Any] = {}
        label = display = None
        interaction = True
        ran = True
        real_kind = kind
        if kind == "main":
            rest, age = "main", r.randrange(MINUTE, 2 * HOUR)
            route = Route("webchat", "direct", "default", "operator")
        elif kind == "heartbeat":
            base = "main" if i == 1 else f"telegram:direct:{r.digits(10)}"
            rest, age = f"{base}:heartbeat", r.randrange(MINUTE, HOUR)
            extra = {"heartbeatIsolatedBaseSessionKey": f"agent:{agent}:{base}"}
            interaction = False
        elif kind == "explicit-storm":
            real_kind = "explicit"
            start = storm_t0 + i * (HOUR // max(1, storm + 2))
            rest = f"explicit:dyad-coord-{start}-{r.base36(6)}"
            age = now - start - r.randrange(5000, 30_000)
            label = "dyad coordination"
        elif kind == "explicit":
            rest, age = (
                f"explicit:{r.choice(('incident', 'project', 'notes', 'plan'))}-{r.base36(5)}",
                age_ms(r, kind),
            )
        elif kind in ("direct", "group", "channel", "thread", "topic"):
            acct = bot_account(plan.agents, agent)
            rest, route, extra = route_for(r, kind, peers, acct)
            while f"agent:{agent}:{rest}" in used:  # e.g. a shared peer this agent already has
                rest, route, extra = route_for(r, kind, [], acct)
            age = age_ms(r, kind)
            if kind == "thread":
                extra = {"parentSessionKey": f"agent:{agent}:{rest.rsplit(':thread:', 1)[0]}", **extra}
            if kind == "direct":
                display = r.choice(("Anya K.", "Jonas", "Petra", "Sam", "Lena", "Marco", "Юлия", "Client"))
        elif kind == "cron-run":
            job = r.choice(jobs or CRON_JOBS[:1])  # a tiny agent: runs whose job row is gone
            rest, age = f"cron:{job}:run:{sid}", age_ms(r, kind)
            label = f"Cron: {job}"
            interaction = False
        elif kind == "subagent":
            u = r.uuid4()
            depth = 2 if r.random() < 0.1 else 1
            rest = f"subagent:{r.uuid4()}:subagent:{u}" if depth == 2 else f"subagent:{u}"
            status = r.choices(("done", "failed", "killed", "timeout", "running"), (80, 8, 3, 4, 5))[0]
            age = r.randrange(30_000, 30 * MINUTE) if status == "running" else age_ms(r, kind)
            extra = {
                "spawnedBy": f"agent:{agent}:main",
                "spawnDepth": depth,
                "subagentRole": "leaf",
                "status": status,
            }
            label = r.choice(("research: pricing", "summarize: thread", "draft: reply", "check: logs"))
            interaction = False
        elif kind in ("acp", "hook", "dashboard"):
            rest, age = f"{kind}:{r.uuid4()}", age_ms(r, kind)
            interaction = kind == "dashboard"
            if kind == "hook":
                label = r.choice(("Hook: gmail", "Hook: github", "Hook: stripe"))
        else:
            raise AssertionError(kind)
        updated = now - age
        if kind == "explicit-storm":
            duration = updated - start  # created inside the storm hour
        elif real_kind in LONG_LIVED:
            duration = r.randrange(HOUR, 60 * DAY)
        else:
            duration = r.randrange(20_000, 12 * MINUTE)
        started = updated - duration
        if real_kind == "subagent":
            extra["startedAt"] = started
            if extra["status"] != "running":
                extra["endedAt"] = updated - 500
                extra["runtimeMs"] = updated - 500 - started
        if real_kind == "acp":
            extra = {
                "acp": {
                    "backend": "acpx",
                    "agent": "codex",
                    "runtimeSessionName": f"oc-{sid[:8]}",
                    "mode": "persistent",
                    "state": "idle",
                    "lastActivityAt": updated,
                }
            }
        prov, model, ctx = model_of.get(kind, ("anthropic", "claude-sonnet-4-5", 200_000))
        key = f"agent:{agent}:{rest}"
        if key in used:  # an explicit slug or a heartbeat base drawn twice
            key = f"{key}-{r.base36(4)}"
        used.add(key)
        u = r.random()
        missing = False
        if real_kind in ("direct", "dashboard", "explicit") and updated > now - 10 * MINUTE and u < 0.5:
            ran = False  # fresh: first turn not run yet, no transcript
        elif u < 0.02 and real_kind not in ("main", "heartbeat"):
            missing = True  # transcript lost
        n_tools = 28 if real_kind not in ("subagent", "cron-run", "hook") else r.randrange(16, 26)
        spec = EntrySpec(
            key=key,
            agent=agent,
            session_id=sid,
            started_ms=started,
            updated_ms=updated,
            interaction_ms=updated if interaction else None,
            route=route,
            label=label,
            display_name=display,
            provider=prov,
            model=model,
            context_tokens=ctx,
            workspace=f"/srv/openclaw/workspace-{agent}",
            skills_root=SKILLS_ROOT,
            n_tools=n_tools,
            n_skills=15 if n_tools == 28 else 9,
            inline_prompt=False,
            ran=ran,
            extra=extra,
        )
        p = Planned(spec, real_kind, start=started, end=updated, missing=missing or not ran)
        out.append(p)
        if real_kind == "cron-run":
            runs_by_job.setdefault(rest.split(":")[1], []).append(p)
    keys = [p.spec.key for p in out]
    assert len(set(keys)) == len(keys), "duplicate session keys planned"
    for job in jobs:
        runs = runs_by_job[job]
        newest = max(runs, key=lambda p: p.end) if runs else None
        sid = newest.spec.session_id if newest else r.uuid4()
        updated = newest.end if newest else now - r.randrange(HOUR, 5 * DAY)
        spec = EntrySpec(
            key=f"agent:{agent}:cron:{job}",
            agent=agent,
            session_id=sid,
            started_ms=now - 90 * DAY + r.randrange(DAY),
            updated_ms=updated,
            interaction_ms=None,
            label=f"Cron: {job}",
            provider="anthropic",
            model="claude-haiku-4-5",
            workspace=f"/srv/openclaw/workspace-{agent}",
            skills_root=SKILLS_ROOT,
            n_tools=20,
            n_skills=9,
            inline_prompt=False,
        )
        # shares the newest run's transcript (same sessionId): no file of its own
        out.append(Planned(spec, "cron-job", start=spec.started_ms, end=updated, missing=newest is None))
    return out


def plan_sizes(r: Rand, count: int, args: argparse.Namespace) -> tuple[list[int], list[int], float]:
    """Sizes for `count` transcripts: (sizes, indexes of the big ones, scale factor)."""
    max_bytes = int(args.max_transcript_mb * 1024 * 1024)
    cap = int(args.total_transcript_gb * 1024**3)
    mu = math.log(MEDIAN_TRANSCRIPT)
    sizes = [max(MIN_TRANSCRIPT, min(max_bytes, int(r.lognormvariate(mu, SIGMA)))) for _ in range(count)]
    n_big = 0 if count < 10 else max(1, round(count / 25_000))
    big_idx = sorted(r.sample(range(count), n_big)) if n_big else []
    lo = min(BIG_TRANSCRIPT, int(max_bytes * 0.8))
    for i in big_idx:
        sizes[i] = r.randrange(lo, max_bytes + 1)
    big_total = sum(sizes[i] for i in big_idx)
    if big_total > cap // 2 and big_idx:  # the tail alone may not eat the budget
        each = max(MIN_TRANSCRIPT, cap // 2 // len(big_idx))
        for i in big_idx:
            sizes[i] = min(sizes[i], each)
        big_total = sum(sizes[i] for i in big_idx)
    bulk_total = sum(sizes) - big_total
    scale = 1.0
    if bulk_total + big_total > cap and bulk_total:
        scale = max(0.0, (cap - big_total) / bulk_total)
        big = set(big_idx)
        sizes = [s if i in big else max(MIN_TRANSCRIPT, int(s * scale)) for i, s in enumerate(sizes)]
    return sizes, big_idx, scale


def make_plan(args: argparse.Namespace, out: Path) -> Plan:
    r = Rand(args.seed)
    now = parse_iso(args.now)
    agents = [AGENT_NAMES[i] if i < len(AGENT_NAMES) else f"agent-{i}" for i in range(args.agents)]
    plan = Plan(now, out, agents)
    per, rest = divmod(args.entries, args.agents)
    peers: list[str] = []
    storm = min(200, args.entries // 50) if args.entries >= 100 else 0
    for i, agent in enumerate(agents):
        n = per + (rest if i == 0 else 0)
        plan.entries[agent] = plan_agent(r, plan, agent, n, peers, storm if i == len(agents) - 1 else 0)
    # transcripts: entries first, then orphans and archives
    wanting = [p for a in agents for p in plan.entries[a] if not p.missing and p.kind != "cron-job"]
    total = args.transcripts
    if total < len(wanting):
        keep = set(r.sample(range(len(wanting)), total))
        for i, p in enumerate(wanting):
            if i not in keep:
                p.missing = True
        wanting = [p for i, p in enumerate(wanting) if i in keep]
    extra = total - len(wanting)
    for k in range(extra):
        agent = agents[k % len(agents)]
        sid = r.uuid4()
        end = now - r.randrange(DAY, 90 * DAY)
        start = end - r.randrange(HOUR, 20 * DAY)
        u = r.random()
        if u < 0.55:
            name = f"{sid}.jsonl"
        else:
            reason = "deleted" if u < 0.90 else "reset"
            stamp = end + r.randrange(MINUTE, 10 * DAY)
            name = f"{sid}.jsonl.{reason}.{archive_stamp(min(stamp, now - MINUTE))}"
        plan.loose.append(Loose(agent, name, sid, start, end))
    sizes, big_idx, plan.scale = plan_sizes(r, total, args)
    # the big transcripts belong to long-lived conversations when there are any
    order = sorted(range(len(wanting)), key=lambda i: (wanting[i].kind not in LONG_LIVED, i))
    big_set = set(big_idx)
    big_sizes = [sizes[i] for i in big_idx]
    small_sizes = [s for i, s in enumerate(sizes) if i not in big_set]
    big_slots = set(order[: len(big_sizes)])
    big_slots |= set(range(len(wanting), len(wanting) + len(big_sizes) - len(big_slots)))
    slots: list[int] = []
    for j in range(total):
        slots.append(big_sizes.pop() if j in big_slots else small_sizes.pop())
    for j, p in enumerate(wanting):
        p.size = slots[j]
        sid = p.spec.session_id
        if p.kind == "topic":
            topic = p.spec.key.rsplit(":", 1)[-1]
            p.file_name = f"{sid}-topic-{topic}.jsonl"
        else:
            p.file_name = f"{sid}.jsonl"
        sessions = out / "agents" / p.spec.agent / "sessions"
        if p.kind == "topic" or r.random() < 0.7:
            p.spec.session_file = str(sessions / p.file_name)
        # tokens follow the transcript: ~3.5 bytes per token on top of the system prompt
        total_tokens = min(int(p.spec.context_tokens * 0.97), 9000 + p.size * 2 // 7)
        p.spec.total_tokens = total_tokens
        p.spec.input_tokens = r.randrange(20, 3000)
        p.spec.output_tokens = r.randrange(12, 1200)
        p.spec.cache_read = max(0, total_tokens - p.spec.input_tokens)
        p.spec.cache_write = p.spec.input_tokens
    for j, lo in enumerate(plan.loose):
        lo.size = slots[len(wanting) + j]
    # thread bindings: a few live, a few expired, a few dangling
    threads = [p for a in agents for p in plan.entries[a] if p.kind in ("thread", "subagent")][:12]
    for k, p in enumerate(threads):
        dangling = k % 4 == 3  # target key in no store; recently active, so not expired
        bound = now - 3 * HOUR if dangling else p.start
        last = now - r.randrange(MINUTE, 2 * HOUR) if dangling else p.end
        plan.bindings.append(
            {
                "accountId": "default",
                "channelId": r.digits(19),
                "threadId": r.digits(19),
                "targetKind": "subagent" if p.kind == "subagent" else "acp",
                "targetSessionKey": f"agent:{p.spec.agent}:subagent:{r.uuid4()}" if dangling else p.spec.key,
                "agentId": p.spec.agent,
                "label": p.spec.label or "thread",
                "webhookId": r.digits(19),
                "webhookToken": r.token(68),
                "boundBy": r.digits(18),
                "boundAt": bound,
                "lastActivityAt": last,
                "idleTimeoutMs": 24 * HOUR,
                "maxAgeMs": 0 if k % 3 else 7 * DAY,
            }
        )
    return plan


# --------------------------------------------------------------------------- writing


class Blocks:
    """Pre-built turn templates per model (chat-only, light tools, heavy tools)."""

    def __init__(self, r: Rand) -> None:
        self.r = r
        self.cache: dict[tuple[str, str], list[list[str]]] = {}

    def get(self, provider: str, model: str) -> list[list[str]]:
        k = (provider, model)
        if k not in self.cache:
            self.cache[k] = [
                turn_block(self.r, provider, model, chars) for chars in (0, 1800, 0, 6000, 0, 900, 14_000, 0)
            ]
        return self.cache[k]


def write_transcript(
    path: Path,
    r: Rand,
    blocks: list[list[str]],
    *,
    sid: str,
    start: int,
    end: int,
    size: int,
    cwd: str,
    provider: str,
    model: str,
) -> int:
    """Header + opening lines + a body of repeated turn blocks up to about `size` bytes."""
    ids = [r.hex(8) for _ in range(3)]
    head = [
        session_header(sid, start, cwd),
        jline(
            {
                "type": "model_change",
                "id": ids[0],
                "parentId": None,
                "timestamp": iso(start + 10),
                "provider": provider,
                "modelId": model,
            }
        ),
        jline(
            {
                "type": "thinking_level_change",
                "id": ids[1],
                "parentId": ids[0],
                "timestamp": iso(start + 10),
                "thinkingLevel": "off",
            }
        ),
        jline(
            {
                "type": "custom",
                "customType": "model-snapshot",
                "data": {"timestamp": start + 300, "provider": provider, "modelId": model},
                "id": ids[2],
                "parentId": ids[1],
                "timestamp": iso(start + 300),
            }
        ),
    ]
    text = "".join(line + "\n" for line in head)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    written = 0
    try:
        buf = [text]
        n = len(text)
        for line in iter_body(
            blocks,
            id_seed=r.getrandbits(32),
            start_ms=start + 1000,
            end_ms=end,
            target_bytes=max(0, size - len(text)),
            first_parent=ids[2],
        ):
            buf.append(line)
            n += len(line)
            if n >= 1 << 20:
                written += _write_all(fd, "".join(buf).encode())
                buf, n = [], 0
        written += _write_all(fd, "".join(buf).encode())
    finally:
        os.close(fd)
    os.chmod(path, 0o644)
    os.utime(path, ns=(end * 1_000_000, end * 1_000_000))
    return written


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    return len(data)


def config_text(plan: Plan) -> str:
    agents = ",\n".join(
        f'      {{ id: "{a}"{", default: true" if i == 0 else ""} }}' for i, a in enumerate(plan.agents)
    )
    bindings = "".join(
        f'    {{ agentId: "{a}", match: {{ channel: "{ch}", accountId: "{bot_account(plan.agents, a)}" }} }},\n'
        for a in plan.agents[1:]
        for ch in ("telegram", "whatsapp", "discord", "slack")
    )
    return f"""{MARKER} (benchmarks/make_state.py). No secrets.
// A busy gateway whose maintenance only warns (so its stores grew past maxEntries).
{{
  agents: {{
    defaults: {{ model: {{ primary: "anthropic/claude-sonnet-4-5" }} }},
    list: [
{agents},
    ],
  }},
  bindings: [
{bindings}  ],
  session: {{
    dmScope: "per-channel-peer",
    maintenance: {{ mode: "warn", pruneAfter: "30d", maxEntries: 500 }},
  }},
  cron: {{ sessionRetention: "24h" }},
}}
"""


def prepare_out(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise SystemExit(f"make_state: {out} exists and is not a folder")
        cfg = out / "openclaw.json"
        if any(out.iterdir()):
            if not (cfg.is_file() and cfg.read_text(errors="replace").startswith(MARKER)):
                raise SystemExit(f"make_state: {out} is not empty and not a benchmark state dir; refusing")
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)


def write_plan(plan: Plan, r: Rand) -> dict[str, Any]:
    out, now = plan.out, plan.now
    stats: dict[str, Any] = {"store_bytes": 0, "transcript_bytes": 0, "sizes": []}
    blocks = Blocks(Rand(r.getrandbits(64)))
    write_file(str(out / "openclaw.json"), config_text(plan).encode(), 0o600)
    os.utime(out / "openclaw.json", ns=((now - 40 * DAY) * 1_000_000,) * 2)
    for ai, agent in enumerate(plan.agents):
        sessions = out / "agents" / agent / "sessions"
        sessions.mkdir(parents=True, mode=0o700)
        planned = plan.entries[agent]
        for p in planned:
            if p.file_name is None:
                continue
            s = p.spec
            n = write_transcript(
                sessions / p.file_name,
                r,
                blocks.get(s.provider, s.model),
                sid=s.session_id,
                start=p.start,
                end=p.end,
                size=p.size,
                cwd=s.workspace,
                provider=s.provider,
                model=s.model,
            )
            stats["transcript_bytes"] += n
            stats["sizes"].append(n)
        for lo in (x for x in plan.loose if x.agent == agent):
            n = write_transcript(
                sessions / lo.name,
                r,
                blocks.get("anthropic", "claude-sonnet-4-5"),
                sid=lo.session_id,
                start=lo.start,
                end=lo.end,
                size=lo.size,
                cwd=f"/srv/openclaw/workspace-{agent}",
                provider="anthropic",
                model="claude-sonnet-4-5",
            )
            stats["transcript_bytes"] += n
            stats["sizes"].append(n)
        # skills prompt blobs referenced by the entries (2026.5.28+)
        for n_skills in sorted({p.spec.n_skills for p in planned}):
            digest, _size = prompt_blob_ref(n_skills, SKILLS_ROOT)
            blob_dir = sessions / "skills-prompts" / "sha256" / digest[:2]
            blob_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            blob = blob_dir / f"{digest}.txt"
            write_file(str(blob), skills_prompt(n_skills, SKILLS_ROOT).encode(), 0o600)
            os.utime(blob, ns=((now - DAY) * 1_000_000,) * 2)
        # the store, in creation order, written entry by entry
        ordered = sorted(planned, key=lambda p: (p.spec.started_ms, p.spec.key))
        store = sessions / "sessions.json"
        fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for chunk in iter_store_chunks((p.spec.key, build_entry(r, p.spec)) for p in ordered):
                stats["store_bytes"] += _write_all(fd, chunk)
        finally:
            os.close(fd)
        newest = max((p.end for p in planned), default=now - DAY)
        os.utime(store, ns=(newest * 1_000_000,) * 2)
        # leftovers: a stale store lock (first agent), stale temp files, a stale transcript lock
        if ai == 0:
            created = now - 9 * DAY - 3 * HOUR
            lock = {"pid": IMPOSSIBLE_PID, "createdAt": iso(created), "starttime": 1}
            write_file(str(sessions / "sessions.json.lock"), pretty_json_bytes(lock, newline=False))
            os.utime(sessions / "sessions.json.lock", ns=(created * 1_000_000,) * 2)
            with_file = [p for p in planned if p.file_name]
            if with_file:
                victim = with_file[len(with_file) // 2]
                tl = sessions / f"{victim.file_name}.lock"
                tcreated = now - 3 * DAY
                payload = {"pid": IMPOSSIBLE_PID - 1, "createdAt": iso(tcreated), "starttime": 1}
                write_file(str(tl), pretty_json_bytes(payload, newline=False))
                os.utime(tl, ns=(tcreated * 1_000_000,) * 2)
        if ai < 2:
            tmp = sessions / f"sessions.json.{r.randrange(1000, 99999)}.{r.uuid4()}.tmp"
            write_file(str(tmp), b'{\n  "agent:' + agent.encode() + b':main": {\n    "sessionId": "', 0o600)
            t = now - (ai + 2) * DAY
            os.utime(tmp, ns=(t * 1_000_000,) * 2)
    if plan.bindings:
        (out / "discord").mkdir(mode=0o700, exist_ok=True)
        data = {"version": 1, "bindings": {f"default:{b['threadId']}": b for b in plan.bindings}}
        write_file(
            str(out / "discord" / "thread-bindings.json"), pretty_json_bytes(data, newline=True), 0o600
        )
        os.utime(out / "discord" / "thread-bindings.json", ns=((now - 5 * MINUTE) * 1_000_000,) * 2)
    for dirpath, _dirs, _files in os.walk(out):
        os.chmod(dirpath, 0o700)
    return stats


# --------------------------------------------------------------------------- main


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"


def summary(plan: Plan, stats: dict[str, Any], args: argparse.Namespace, took: float) -> str:
    from collections import Counter

    all_entries = [p for a in plan.agents for p in plan.entries[a]]
    kinds = Counter(p.kind for p in all_entries)
    sizes = sorted(stats["sizes"])
    n = len(sizes)
    ages = Counter(
        "<1d"
        if plan.now - p.end < DAY
        else "1-7d"
        if plan.now - p.end < 7 * DAY
        else "7-30d"
        if plan.now - p.end < 30 * DAY
        else ">30d"
        for p in all_entries
    )
    loose = Counter(
        "orphan" if x.name.endswith(".jsonl") else x.name.split(".jsonl.")[1].split(".")[0]
        for x in plan.loose
    )
    lines = [
        f"state dir   {plan.out}",
        f"clock       {iso(plan.now)}  (pass --now {iso(plan.now)} to sessionctl)",
        f"agents      {len(plan.agents)}: " + ", ".join(f"{a} {len(plan.entries[a])}" for a in plan.agents),
        f"entries     {len(all_entries)}; by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()),
        "            updatedAt age: "
        + ", ".join(f"{k} {ages.get(k, 0)}" for k in ("<1d", "1-7d", "7-30d", ">30d")),
        f"            {sum(1 for p in all_entries if p.missing and p.kind != 'cron-job')} without a transcript "
        "(missing or fresh)",
        f"stores      {human(stats['store_bytes'])} (avg entry {human(stats['store_bytes'] / max(1, len(all_entries)))})",
    ]
    if n:
        lines.append(
            f"transcripts {n} files, {human(stats['transcript_bytes'])}; median {human(sizes[n // 2])}, "
            f"p99 {human(sizes[min(n - 1, n * 99 // 100)])}, max {human(sizes[-1])}, "
            f"{sum(1 for s in sizes if s > 20 * 1024 * 1024)} over 20 MB"
        )
        lines.append(
            f"            referenced {n - len(plan.loose)}, orphans {loose.get('orphan', 0)}, "
            f".deleted {loose.get('deleted', 0)}, .reset {loose.get('reset', 0)}"
        )
        if plan.scale < 1.0:
            lines.append(
                f"            ordinary transcripts scaled by {plan.scale:.2f} to fit "
                f"--total-transcript-gb {args.total_transcript_gb:g}"
            )
    lines.append(
        f"leftovers   1 stale sessions.json.lock, 1 stale transcript lock, {min(2, len(plan.agents))} stale "
        f"store temp files, {len(plan.bindings)} discord thread bindings"
    )
    lines.append(f"took        {took:.1f} s")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="make_state.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out", type=Path, help="state dir to create")
    ap.add_argument("--agents", type=int, default=3, help="number of agents (default %(default)s)")
    ap.add_argument(
        "--entries", type=int, default=10_000, help="TOTAL entries over all agents (default %(default)s)"
    )
    ap.add_argument(
        "--transcripts",
        type=int,
        default=20_000,
        help="TOTAL transcript files incl. orphans/archives (default %(default)s)",
    )
    ap.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    ap.add_argument(
        "--max-transcript-mb", type=float, default=25.0, help="largest transcript in MB (default %(default)s)"
    )
    ap.add_argument(
        "--total-transcript-gb",
        type=float,
        default=2.0,
        help="cap on all transcript bytes in GB; ordinary transcripts are scaled down to fit (default %(default)s)",
    )
    ap.add_argument(
        "--now", default=DEFAULT_NOW, help="the clock every timestamp is relative to (default %(default)s)"
    )
    args = ap.parse_args(argv)
    if args.agents < 1 or args.entries < 0 or args.transcripts < 0:
        ap.error("--agents must be ≥ 1, --entries and --transcripts ≥ 0")
    if args.max_transcript_mb <= 0 or args.total_transcript_gb <= 0:
        ap.error("--max-transcript-mb and --total-transcript-gb must be > 0")
    try:
        parse_iso(args.now)
    except ValueError:
        ap.error(f"--now {args.now!r} is not an ISO-8601 instant")
    return args


def main(argv: list[str] | None = None) -> int:
    t0 = time.monotonic()
    args = parse_args(argv)
    out = Path(os.path.abspath(args.out))
    prepare_out(out)
    out = Path(os.path.realpath(out))
    plan = make_plan(args, out)
    planned_bytes = sum(p.size for a in plan.agents for p in plan.entries[a]) + sum(
        x.size for x in plan.loose
    )
    free = shutil.disk_usage(out).free
    need = planned_bytes + args.entries * 20_000
    if need > free * 0.95:
        raise SystemExit(
            f"make_state: needs about {human(need)} but {out} has {human(free)} free; "
            "lower --total-transcript-gb or --entries"
        )
    stats = write_plan(plan, Rand(args.seed + 1))
    print(summary(plan, stats, args, time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
