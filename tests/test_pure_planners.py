"""The pure planners of archive, dedupe and repair, in-process, from facts built in memory (no
file on disk, no clock): for each case, which actions, kept items and problems a user
would see, and why. tests/test_archive.py, tests/test_dedupe.py and tests/test_repair.py run the same
commands on real files; these tables pin the decisions themselves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.helpers import DAY_MS, HOUR_MS, NOW_MS
from support.planners import STATE, entry, mem_facts, mem_snapshot

from sessionctl.archive import AgentFacts, ArchiveFacts, ArchiveOptions, decide_archive
from sessionctl.config import OpenClawConfig
from sessionctl.dedupe import DedupeFacts, DedupeOptions, decide_peers, decide_storms
from sessionctl.discovery import AgentStore
from sessionctl.execute import Plan
from sessionctl.locks import LockStatus
from sessionctl.repair import (
    BackupCandidate,
    RepairAgentFacts,
    RepairFacts,
    RepairOptions,
    RewriteFacts,
    decide_repair,
    rewrite_facts,
)
from sessionctl.transcripts import TranscriptFacts

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


# ---------------------------------------------------------------- repair

LOCK_PID = b'{"pid": 4242, "createdAt": "2026-05-01T10:00:00.000Z"}'


def repair_agent(
    files: dict[str, tuple[int, int]] | None = None,
    *,
    entries: dict[str, Any] | None = None,
    status: Any = "ok",
    raw: bytes | None = None,
    transcripts: dict[str, TranscriptFacts] | None = None,
    contents: dict[str, bytes | str] | None = None,
    locks: dict[str, LockStatus] | None = None,
    backups: tuple[BackupCandidate, ...] = (),
    drop_bad_lines: bool = False,
) -> RepairAgentFacts:
    """The `main` agent with two live sessions, as read_repair_agent would read it
    (`contents`: the bytes of the transcripts it reads whole, or why it could not)."""
    if entries is None and status == "ok":
        entries = {"agent:main:main": entry(SID, OLD), "agent:main:telegram:direct:5": entry(S2, OLD)}
    listing = {f"{SID}.jsonl": (10, OLD), f"{S2}.jsonl": (10, OLD), **(files or {})}
    snap = mem_snapshot(
        "main", entries, listing, status=status, raw=raw, error=None if status == "ok" else status
    )
    af = mem_facts(snap)
    by_file: dict[str, list[Any]] = {}
    for ev in snap.entries:
        if ev.ref.path is not None:
            by_file.setdefault(ev.ref.path.name, []).append(ev)
    scanned = tuple((snap.inventory.by_name[name], tf) for name, tf in sorted((transcripts or {}).items()))
    lock_facts = tuple((snap.inventory.by_name[name], st) for name, st in sorted((locks or {}).items()))
    rewrites: dict[str, RewriteFacts | str] = {}
    for name, data in (contents or {}).items():
        bad = (transcripts or {})[name].bad_lines if drop_bad_lines else None
        rewrites[name] = data if isinstance(data, str) else rewrite_facts(data, bad or [])
    return RepairAgentFacts(snap.store, af, backups, (), scanned, by_file, rewrites, lock_facts)


def tf(name: str, **kw: Any) -> TranscriptFacts:
    base: dict[str, Any] = {"size": 10, "header_ok": True, "ends_with_newline": True}
    return TranscriptFacts(STATE / FOLDER / name, **{**base, **kw})


HEADER = b'{"type":"session","version":3,"id":"x","timestamp":"2026-05-01T10:00:00.000Z"}\n'


@dataclass
class RepairCase:
    id: str
    agent: RepairAgentFacts
    expect: list[tuple[str, str, str | None]]
    opts: RepairOptions = field(default_factory=RepairOptions)
    refused: int = 0
    what: list[str] | None = None  # the `what` of each action


REPAIR_CASES = [
    RepairCase(
        "a healthy agent: nothing to do", repair_agent(transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl")}), []
    ),
    RepairCase(
        "a complete last line without its newline is terminated, not cut",
        repair_agent(
            transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", ends_with_newline=False)},
            contents={f"{SID}.jsonl": HEADER + b'{"a":1}'},
        ),
        [("file.rewrite", "transcript.truncated_tail", f"{FOLDER}/{SID}.jsonl")],
        what=[f"{SID}.jsonl: terminate its last line (original kept in the run)"],
    ),
    RepairCase(
        "a truncated last line is cut back to the last complete line",
        repair_agent(
            transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", ends_with_newline=False)},
            contents={f"{SID}.jsonl": HEADER + b'{"a":'},
        ),
        [("file.rewrite", "transcript.truncated_tail", f"{FOLDER}/{SID}.jsonl")],
        what=[f"{SID}.jsonl: cut the 5-byte unterminated tail (original kept in the run)"],
    ),
    RepairCase(
        "a file that repairing would empty is left alone, reported",
        repair_agent(
            transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", ends_with_newline=False)},
            contents={f"{SID}.jsonl": b'{"type":"sess'},
        ),
        [("problem", "transcript.unrepairable", f"{FOLDER}/{SID}.jsonl")],
    ),
    RepairCase(
        "a transcript that could not be read when its bytes were needed: reported",
        repair_agent(
            transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", ends_with_newline=False)},
            contents={f"{SID}.jsonl": "Permission denied"},
        ),
        [("problem", "transcript.unreadable", f"{FOLDER}/{SID}.jsonl")],
    ),
    RepairCase(
        "bad middle lines are dropped only with --drop-bad-lines",
        repair_agent(transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", bad_lines=[2])}),
        [],
    ),
    RepairCase(
        "--drop-bad-lines drops them",
        repair_agent(
            transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", bad_lines=[2])},
            contents={f"{SID}.jsonl": HEADER + b"{oops\n" + b'{"a":1}\n'},
            drop_bad_lines=True,
        ),
        [("file.rewrite", "transcript.bad_lines", f"{FOLDER}/{SID}.jsonl")],
        opts=RepairOptions(drop_bad_lines=True),
        what=[f"{SID}.jsonl: drop 1 unparseable line(s) (2) (original kept in the run)"],
    ),
    RepairCase(
        "an invalid header: quarantined as .bak, its entry reported",
        repair_agent(
            transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", header_ok=False, header_problem="no header")}
        ),
        [
            ("file.rename", "transcript.bad_header", f"{FOLDER}/{SID}.jsonl"),
            ("problem", "transcript.quarantined_entry", f"{FOLDER}/{SID}.jsonl"),
        ],
        what=[f"quarantine {SID}.jsonl as {SID}.jsonl.bak.{STAMP}"],
    ),
    RepairCase(
        "--reset-entries removes the entry of a quarantined transcript",
        repair_agent(
            transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", header_ok=False, header_problem="no header")}
        ),
        [
            ("file.rename", "transcript.bad_header", f"{FOLDER}/{SID}.jsonl"),
            ("store.remove", "entry.reset", "agent:main:main"),
        ],
        opts=RepairOptions(reset_entries=True),
    ),
    RepairCase(
        "an empty transcript is kept (OpenClaw writes a fresh header)",
        repair_agent(transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", size=0)}),
        [("kept", "transcript.empty", f"{FOLDER}/{SID}.jsonl")],
    ),
    RepairCase(
        "a stale lock is moved into the run, a live one kept",
        repair_agent(
            {"sessions.json.lock": (40, OLD), f"{SID}.jsonl.lock": (40, WALL)},
            locks={
                "sessions.json.lock": LockStatus(
                    STATE / FOLDER / "sessions.json.lock",
                    True,
                    stale=True,
                    reason="pid 4242 not running",
                    raw=LOCK_PID,
                ),
                f"{SID}.jsonl.lock": LockStatus(
                    STATE / FOLDER / f"{SID}.jsonl.lock", True, stale=False, reason="pid 1 alive", pid=1
                ),
            },
        ),
        [
            ("file.move", "lock.stale", f"{FOLDER}/sessions.json.lock"),
            ("kept", "lock.held", f"{FOLDER}/{SID}.jsonl.lock"),
        ],
    ),
    RepairCase(
        "leftovers: moved after 5 minutes, kept before",
        repair_agent(
            {
                "sessions.json.1234.0b5f3c1e-7a52.tmp": (5, WALL - 10 * 60_000),
                f"{SID}.jsonl.bak-77-1777636000000": (5, WALL - 60_000),
            }
        ),
        [
            ("file.move", "leftover.store_tmp", f"{FOLDER}/sessions.json.1234.0b5f3c1e-7a52.tmp"),
            ("kept", "leftover.young", f"{FOLDER}/{SID}.jsonl.bak-77-1777636000000"),
        ],
    ),
    RepairCase(
        "unsafe entries are removed; --merge-case merges keys differing by case",
        repair_agent(
            entries={
                "agent:main:main": entry(SID, OLD),
                "agent:main:bad": entry("../../etc/passwd", OLD),
                "agent:main:Telegram:direct:5": entry(S2, OLD + 5),
                "agent:main:telegram:direct:5": entry(S2, OLD),
            }
        ),
        [
            ("store.remove", "entry.unsafe_session_id", "agent:main:bad"),
            ("store.set", "entry.mixed_case_key", "agent:main:telegram:direct:5"),
            ("store.remove", "entry.mixed_case_key", "agent:main:Telegram:direct:5"),
        ],
        opts=RepairOptions(merge_case=True),
    ),
    RepairCase(
        "no run leaves a store empty: removing its only entry is refused",
        repair_agent(entries={"agent:main:bad": entry("../../etc/passwd", OLD)}),
        [("problem", "store.would_be_empty", f"{FOLDER}/sessions.json")],
        refused=1,
    ),
    RepairCase(
        "a damaged store with a run backup: restored from it",
        repair_agent(
            status="unparseable",
            raw=b'{"agent:main:main": {',
            backups=(BackupCandidate("20260501T100000Z-repair-1", None, STATE / "b", b'{"k": {}}', 1),),
        ),
        [("store.replace", "store.unparseable", None)],
        what=[f"restore {FOLDER}/sessions.json from the backup of run 20260501T100000Z-repair-1 (1 entries)"],
    ),
    RepairCase(
        "a damaged store with neither backup nor --salvage: refused, never replaced by {}",
        repair_agent(status="unparseable", raw=b'{"agent:main:main": {'),
        [],
        refused=1,
    ),
    RepairCase(
        "--salvage rebuilds it from the complete entries in the damaged text",
        repair_agent(
            status="unparseable",
            raw=b'{\n  "agent:main:main": {\n    "sessionId": "'
            + SID.encode()
            + b'",\n    "updatedAt": 1\n  },\n  "agent:main:x": {\n    "sess',
        ),
        [("store.replace", "store.unparseable", None)],
        opts=RepairOptions(salvage=True),
        what=[f"rebuild {FOLDER}/sessions.json from 1 salvaged entries (1 lost)"],
    ),
]


@pytest.mark.parametrize("case", REPAIR_CASES, ids=lambda c: c.id)
def test_decide_repair(case: RepairCase) -> None:
    decided = decide_repair(RepairFacts((case.agent,), WALL), case.opts)
    plan = decided.plan
    assert sorted(outcome(plan)) == sorted(case.expect)
    assert len(plan.refusals) == case.refused, [r.message for r in plan.refusals]
    if case.what is not None:
        assert [a["what"] for a in plan.actions] == case.what


def test_decide_repair_reports_sqlite_era_agents_and_leaves_them_alone() -> None:
    store = AgentStore(
        "ops", STATE / "agents/ops/sessions/sessions.json", STATE / "agents/ops/sessions", "sqlite"
    )
    plan = decide_repair(RepairFacts((RepairAgentFacts(store),), WALL), RepairOptions()).plan
    assert outcome(plan) == [("kept", "store.sqlite_era", str(store.store_path))]


def test_decide_repair_stale_leftover_checksum_is_read_after_deciding() -> None:
    agent = repair_agent({"sessions.json.1234.0b5f3c1e-7a52.tmp": (5, WALL - 10 * 60_000)})
    decided = decide_repair(RepairFacts((agent,), WALL), RepairOptions(only=("leftovers",)))
    assert [(k, str(p.relative_to(STATE))) for _a, k, p in decided.to_hash] == [
        ("before_sha256", f"{FOLDER}/sessions.json.1234.0b5f3c1e-7a52.tmp")
    ]
    # the same leftover, read 4 minutes earlier, is young: kept, nothing to hash
    young = decide_repair(RepairFacts((agent,), WALL - 6 * 60_000), RepairOptions(only=("leftovers",)))
    assert young.to_hash == [] and [k["check"] for k in young.plan.kept] == ["leftover.young"]


def test_decide_repair_rewrite_records_what_apply_checks() -> None:
    """The rewrite names the bytes it starts from and ends with, and what it cuts."""
    data = HEADER + b'{"a":'
    agent = repair_agent(
        transcripts={f"{SID}.jsonl": tf(f"{SID}.jsonl", ends_with_newline=False)},
        contents={f"{SID}.jsonl": data},
    )
    (a,) = decide_repair(RepairFacts((agent,), WALL), RepairOptions(only=("transcripts",))).plan.actions
    assert a["edit"] == {"tail": "cut"}
    assert a["before_sha256"] == hashlib.sha256(data).hexdigest()
    assert a["after_sha256"] == hashlib.sha256(HEADER).hexdigest()
    assert a["bytes_cut"] == 5 and a["keys"] == ["agent:main:main"] and a["offline"] is True


def test_decide_storms_keeps_the_most_recently_active_of_a_burst() -> None:
    """24 explicit sessions of one family started a minute apart: the 3 most recently
    active stay, so does a running one, the other 20 go (with their transcripts)."""
    entries: dict[str, Any] = {"agent:main:main": entry(SID, OLD)}
    files: dict[str, tuple[int, int]] = {f"{SID}.jsonl": (1, OLD)}
    for i in range(24):
        sid = f"44444444-4444-4444-8444-{i:012d}"
        extra = {"status": "running"} if i == 0 else {}
        started = OLD + i * 60_000
        entries[f"agent:main:explicit:dyad-coord-{1714400000000 + i}"] = entry(
            sid, started + 1000, sessionStartedAt=started, **extra
        )
        files[f"{sid}.jsonl"] = (1, OLD)
    facts = DedupeFacts((mem_facts(mem_snapshot("main", entries, files)),), config([]), WALL)
    plan = decide_storms(facts, DedupeOptions(storms=True))
    (report,) = plan.details["storms"]
    assert report["family"] == "agent:main:explicit:dyad-coord-*" and report["removed"] == 20
    assert report["kept"][:3] == [f"agent:main:explicit:dyad-coord-{1714400000000 + i}" for i in (23, 22, 21)]
    assert "agent:main:explicit:dyad-coord-1714400000000" in report["kept"]  # running
    checks = sorted({a["check"] for a in plan.actions})
    assert checks == ["storm", "storm.transcript"]
    assert sum(a["type"] == "store.remove" for a in plan.actions) == 20
