"""The pure planners of archive and dedupe, in-process, from facts built in memory (no
file on disk, no clock): for each case, which actions, kept items and problems a user
would see, and why. tests/test_archive.py and tests/test_dedupe.py run the same
commands on real files; these tables pin the decisions themselves."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.helpers import DAY_MS, HOUR_MS, NOW_MS
from support.planners import STATE, entry, mem_facts, mem_snapshot

from sessionctl.archive import AgentFacts, ArchiveFacts, ArchiveOptions, decide_archive
from sessionctl.config import OpenClawConfig
from sessionctl.dedupe import DedupeFacts, DedupeOptions, decide_peers
from sessionctl.execute import Plan

SID = "11111111-1111-4111-8111-111111111111"
ORPHAN = "99999999-9999-4999-8999-999999999999"
WALL = NOW_MS  # the wall clock the facts were read at
STAMP = "2026-05-01T12-00-00.000Z"  # archive_stamp(WALL)
OLD = WALL - 2 * HOUR_MS
FOLDER = "agents/main/sessions"


def outcome(plan: Plan) -> list[tuple[str, str, str | None]]:
    """What a user sees: (action type | "kept" | "problem", check, path or key)."""
    out: list[tuple[str, str, str | None]] = []
    for a in plan.actions:
        out.append((a["type"], a["check"], a.get("from") or a.get("path") or a.get("key")))
    for k in plan.kept:
        out.append(("kept", k["check"], k["path"]))
    for p in plan.problems:
        out.append(("problem", p.check, p.path or p.key))
    return out


# ---------------------------------------------------------------- archive


def live_main(files: dict[str, tuple[int, int]], **kw: Any) -> AgentFacts:
    return mem_facts(
        mem_snapshot("main", {"agent:main:main": entry(SID, OLD)}, {f"{SID}.jsonl": (10, OLD), **files}), **kw
    )


@dataclass
class ArchiveCase:
    id: str
    agents: list[AgentFacts]
    expect: list[tuple[str, str, str | None]]
    opts: ArchiveOptions = field(default_factory=ArchiveOptions)
    exported: dict[str, frozenset[str]] = field(default_factory=dict)
    to: list[str] | None = None  # the `to` of each action, when it matters
    hashed: list[str] | None = None  # the files whose checksum the actions record


ARCHIVE_CASES = [
    ArchiveCase(
        "an old orphan is archived by rename; the live transcript is not",
        [live_main({f"{ORPHAN}.jsonl": (20, OLD)})],
        [("file.rename", "orphan", f"{FOLDER}/{ORPHAN}.jsonl")],
        to=[f"{FOLDER}/{ORPHAN}.jsonl.deleted.{STAMP}"],
        hashed=[],
    ),
    ArchiveCase(
        "a name taken in the folder moves the stamp on by 1 ms",
        [live_main({f"{ORPHAN}.jsonl": (20, OLD), f"{ORPHAN}.jsonl.deleted.{STAMP}": (5, OLD)})],
        [("file.rename", "orphan", f"{FOLDER}/{ORPHAN}.jsonl")],
        to=[f"{FOLDER}/{ORPHAN}.jsonl.deleted.2026-05-01T12-00-00.001Z"],
    ),
    ArchiveCase(
        "an orphan modified within --older-than is kept",
        [live_main({f"{ORPHAN}.jsonl": (20, WALL - 60_000)})],
        [("kept", "orphan.young", f"{FOLDER}/{ORPHAN}.jsonl")],
    ),
    ArchiveCase(
        "an orphan with a .lock beside it is kept",
        [live_main({f"{ORPHAN}.jsonl": (20, OLD), f"{ORPHAN}.jsonl.lock": (5, OLD)})],
        [("kept", "orphan.locked", f"{FOLDER}/{ORPHAN}.jsonl")],
    ),
    ArchiveCase(
        "an unreadable store elsewhere: no orphan is sure, kept",
        [
            live_main({f"{ORPHAN}.jsonl": (20, OLD)}),
            mem_facts(mem_snapshot("ops", None, status="unparseable", error="bad"), selected=False),
        ],
        [("kept", "orphan.references_unknown", f"{FOLDER}/{ORPHAN}.jsonl")],
    ),
    ArchiveCase(
        "a selected agent's damaged store: its folder is left alone, reported",
        [
            mem_facts(
                mem_snapshot("main", None, {f"{ORPHAN}.jsonl": (20, OLD)}, status="empty", error="empty")
            )
        ],
        [("problem", "archive.references_unknown", str(STATE / FOLDER / "sessions.json"))],
    ),
    ArchiveCase(
        "an agent outside --agent is only read for its references",
        [live_main({f"{ORPHAN}.jsonl": (20, OLD)}, selected=False)],
        [],
    ),
    ArchiveCase(
        "--retention moves an expired .deleted archive into the run, a .bak never",
        [
            live_main(
                {
                    "a.jsonl.deleted.2026-04-01T00-00-00.000Z": (7, OLD),
                    "b.jsonl.bak.2026-04-01T00-00-00.000Z": (7, OLD),
                    "c.jsonl.reset.2026-04-30T23-00-00.000Z": (7, OLD),
                }
            )
        ],
        [("file.move", "archive.expired", f"{FOLDER}/a.jsonl.deleted.2026-04-01T00-00-00.000Z")],
        opts=ArchiveOptions(orphans=False, retention_ms=7 * DAY_MS),
        hashed=[f"{FOLDER}/a.jsonl.deleted.2026-04-01T00-00-00.000Z"],
    ),
    ArchiveCase(
        "--retention with --no-backup deletes for good (checksum journaled)",
        [live_main({"a.jsonl.deleted.2026-04-01T00-00-00.000Z": (7, OLD)})],
        [("file.delete", "archive.expired", f"{FOLDER}/a.jsonl.deleted.2026-04-01T00-00-00.000Z")],
        opts=ArchiveOptions(orphans=False, retention_ms=7 * DAY_MS, no_backup=True),
        hashed=[f"{FOLDER}/a.jsonl.deleted.2026-04-01T00-00-00.000Z"],
    ),
    ArchiveCase(
        "--to: an archive whose export target exists is kept; the other is exported",
        [live_main({"a.jsonl.bak.2026-04-01T00-00-00.000Z": (7, OLD), f"{ORPHAN}.jsonl": (20, OLD)})],
        [
            ("kept", "export.exists", f"{FOLDER}/a.jsonl.bak.2026-04-01T00-00-00.000Z"),
            ("file.export", "orphan", f"{FOLDER}/{ORPHAN}.jsonl"),
        ],
        opts=ArchiveOptions(to_dir=Path("/exports"), compress="gzip"),
        exported={FOLDER: frozenset({"a.jsonl.bak.2026-04-01T00-00-00.000Z.gz"})},
        to=[f"/exports/{FOLDER}/{ORPHAN}.jsonl.deleted.{STAMP}.gz"],
        hashed=[f"{FOLDER}/{ORPHAN}.jsonl"],
    ),
]


@pytest.mark.parametrize("case", ARCHIVE_CASES, ids=lambda c: c.id)
def test_decide_archive(case: ArchiveCase) -> None:
    facts = ArchiveFacts(tuple(case.agents), WALL, case.exported)
    decided = decide_archive(facts, case.opts, NOW_MS)
    assert sorted(outcome(decided.plan)) == sorted(case.expect)
    if case.to is not None:
        assert [a["to"] for a in decided.plan.actions] == case.to
    if case.hashed is not None:
        assert [str(p.relative_to(STATE)) for _a, _k, p in decided.to_hash] == case.hashed
    for a in decided.plan.actions:  # every action names the health finding it resolves
        assert "finding" in a


def test_decide_archive_reads_no_file_and_identified_records_the_checksums(tmp_path: Path) -> None:
    """Deciding never touches the disk (the facts' folder does not exist); the checksums
    are read afterwards, for the acted-on files only."""
    facts = ArchiveFacts((ARCHIVE_CASES[7].agents[0],), WALL)
    decided = decide_archive(facts, ARCHIVE_CASES[7].opts, NOW_MS)
    (action, key, _path) = decided.to_hash[0]
    assert action[key] is None
    plan = decided.identified()
    assert plan.actions[0]["before_sha256"] is None  # the file is not there: no identity
    assert list(plan.actions[0]) == [
        "type", "agent", "from", "before_sha256", "bytes", "check", "what", "reason", "finding"
    ]  # fmt: skip


def test_decide_archive_retention_counts_from_the_run_clock() -> None:
    facts = ArchiveFacts((live_main({"a.jsonl.deleted.2026-04-25T12-00-00.000Z": (7, OLD)}),), WALL)
    opts = ArchiveOptions(orphans=False, retention_ms=7 * DAY_MS)
    assert decide_archive(facts, opts, NOW_MS).plan.actions == []  # 6 days old
    assert len(decide_archive(facts, opts, NOW_MS + 2 * DAY_MS).plan.actions) == 1  # --now 2 days on


# ---------------------------------------------------------------- dedupe: peers

S2 = "22222222-2222-4222-8222-222222222222"
PEER_KEY = "agent:{a}:telegram:direct:42"


def agent_with(agent: str, key: str, sid: str, updated: int, *, selected: bool = True) -> AgentFacts:
    other = "33333333-3333-4333-8333-33333333333" + agent[0]
    entries = {key: entry(sid, updated), f"agent:{agent}:main": entry(other, OLD)}
    files = {f"{sid}.jsonl": (10, OLD), f"{sid}.jsonl.trajectory.jsonl": (3, OLD), f"{other}.jsonl": (5, OLD)}
    return mem_facts(mem_snapshot(agent, entries, files), selected=selected)


def config(bindings: list[dict[str, Any]]) -> OpenClawConfig:
    return OpenClawConfig(agents=["main", "ops", "sales"], raw={"bindings": bindings})


TO_OPS = [{"agentId": "ops", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "42"}}}]


@dataclass
class PeerCase:
    id: str
    agents: list[AgentFacts]
    bindings: list[dict[str, Any]]
    expect: list[tuple[str, str, str | None]]
    keep: str = "bound"
    decision: str | None = None


def main_and_ops(
    main_updated: int = OLD, ops_updated: int = OLD - HOUR_MS, ops_selected: bool = True
) -> list[AgentFacts]:
    return [
        agent_with("main", PEER_KEY.format(a="main"), SID, main_updated),
        agent_with("ops", PEER_KEY.format(a="ops"), S2, ops_updated, selected=ops_selected),
    ]


PEER_CASES = [
    PeerCase(
        "--keep bound: the session outside the bound agent goes, with its files",
        main_and_ops(),
        TO_OPS,
        [
            ("store.remove", "peer.duplicate", "agent:main:telegram:direct:42"),
            ("file.rename", "peer.duplicate.transcript", f"{FOLDER}/{SID}.jsonl"),
            ("file.rename", "peer.duplicate.transcript", f"{FOLDER}/{SID}.jsonl.trajectory.jsonl"),
        ],
        decision="keep ops",
    ),
    PeerCase(
        "--keep bound without a binding: reported, nothing removed",
        main_and_ops(),
        [],
        [("problem", "peer.duplicate_unbound", "agent:main:telegram:direct:42")],
        decision="unbound: reported",
    ),
    PeerCase(
        "--keep bound to an agent with none of the sessions: reported",
        main_and_ops(),
        [{"agentId": "sales", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "42"}}}],
        [("problem", "peer.bound_agent_missing", "agent:main:telegram:direct:42")],
        decision="bound agent has no session: reported",
    ),
    PeerCase(
        "--keep newest keeps the most recently active agent's session",
        main_and_ops(main_updated=OLD - DAY_MS, ops_updated=OLD),
        [],
        [
            ("store.remove", "peer.duplicate", "agent:main:telegram:direct:42"),
            ("file.rename", "peer.duplicate.transcript", f"{FOLDER}/{SID}.jsonl"),
            ("file.rename", "peer.duplicate.transcript", f"{FOLDER}/{SID}.jsonl.trajectory.jsonl"),
        ],
        keep="newest",
        decision="keep ops",
    ),
    PeerCase(
        "a duplicate in an agent outside --agent is kept",
        main_and_ops(ops_selected=False),
        [{"agentId": "main", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "42"}}}],
        [("kept", "peer.not_selected", None)],
        decision="keep main",
    ),
    PeerCase(
        "a lone session routed elsewhere is a stray: reported, never removed",
        main_and_ops()[:1],
        TO_OPS,
        [("problem", "peer.stray", str(STATE / FOLDER / "sessions.json"))],
        decision="stray: reported",
    ),
    PeerCase(
        "an unreadable store elsewhere: the duplicate goes, its files stay",
        [
            *main_and_ops(),
            mem_facts(mem_snapshot("sales", None, status="unparseable", error="bad"), selected=False),
        ],
        TO_OPS,
        [
            ("store.remove", "peer.duplicate", "agent:main:telegram:direct:42"),
            ("kept", "transcript.references_unknown", f"{FOLDER}/{SID}.jsonl"),
            ("kept", "transcript.references_unknown", f"{FOLDER}/{SID}.jsonl.trajectory.jsonl"),
        ],
        decision="keep ops",
    ),
]


@pytest.mark.parametrize("case", PEER_CASES, ids=lambda c: c.id)
def test_decide_peers(case: PeerCase) -> None:
    facts = DedupeFacts(tuple(case.agents), config(case.bindings), WALL)
    plan = decide_peers(facts, DedupeOptions(keep=case.keep))
    assert sorted(outcome(plan)) == sorted(case.expect)
    decisions = [p["decision"] for p in plan.details["peers"]]
    assert decisions == ([case.decision] if case.decision else [])
    for a in plan.actions:
        if a["type"] == "file.rename":
            assert a["to"] == f"{a['from']}.deleted.{STAMP}"  # stamped with the facts' wall clock
            assert a["requires"] == [[f"{FOLDER}/sessions.json", "agent:main:telegram:direct:42"]]


def test_decide_peers_never_empties_a_store() -> None:
    """The only session of an agent is not removed: the store would be left empty."""
    main = mem_facts(
        mem_snapshot("main", {PEER_KEY.format(a="main"): entry(SID, OLD)}, {f"{SID}.jsonl": (1, OLD)})
    )
    ops = agent_with("ops", PEER_KEY.format(a="ops"), S2, OLD)
    plan = decide_peers(DedupeFacts((main, ops), config(TO_OPS), WALL), DedupeOptions())
    assert plan.actions == []
    assert [p.check for p in plan.problems] == ["store.would_be_empty"]
    assert [r.path for r in plan.refusals] == [f"{FOLDER}/sessions.json"]
