"""The gc planner (policy.plan_gc) with a fixed `now`, on real state dirs: age, idle,
cap, kinds, globs, protections, the timestamp fallbacks, future and missing timestamps,
and the refusal to empty an agent."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.gc import decision, live_lock, plan_for, transcript, untimed_transcript
from support.helpers import DAY_MS, HOUR_MS, NOW_MS, StateDir

MIN_MS = 60_000
KEY = "agent:main:telegram:direct:42"


@dataclass
class Case:
    id: str
    fields: dict[str, Any]
    overrides: dict[str, Any]
    action: str
    reason: str  # expected reason (exact) or, with a trailing "*", prefix
    key: str = KEY
    transcript: str = (
        "default"  # default | none | header:<ms offset>,<last ms offset> | untimed:<mtime offset>
    )
    updated_at: Any = NOW_MS - HOUR_MS
    notes: list[str] = field(default_factory=list)  # substrings expected in notes
    age_from: str | None = None
    idle_from: str | None = None


def _t(h: float = 0, d: float = 0, m: float = 0) -> int:
    return NOW_MS - int(d * DAY_MS + h * HOUR_MS + m * MIN_MS)


CASES = [
    Case(
        "max-age from sessionStartedAt",
        {"sessionStartedAt": _t(d=6, h=3)},
        {"max_age": "120h"},
        "expire",
        "max-age 6d3h > 120h",
        age_from="sessionStartedAt",
    ),
    Case("max-age not reached", {"sessionStartedAt": _t(d=4)}, {"max_age": "120h"}, "keep", "within policy"),
    Case(
        "age falls back to the transcript header",
        {},
        {"max_age": "120h"},
        "expire",
        "max-age 6d3h > 120h",
        transcript=f"header:{_t(d=6, h=3)},{_t(h=1)}",
        age_from="transcript header",
    ),
    Case(
        "age falls back to the earliest evidence",
        {"lastInteractionAt": _t(d=7)},
        {"max_age": "120h"},
        "expire",
        "max-age 7d > 120h",
        transcript="none",
        updated_at=_t(d=6),
        age_from="lastInteractionAt",
    ),
    Case(
        "idle from updatedAt",
        {"sessionStartedAt": _t(d=3)},
        {"idle": "24h"},
        "expire",
        "idle 3d > 24h",
        transcript=f"header:{_t(d=3)},{_t(d=3)}",
        updated_at=_t(d=3),
        idle_from="updatedAt",
    ),
    Case(
        "a recent lastInteractionAt keeps an old row",
        {"lastInteractionAt": _t(h=1)},
        {"idle": "24h"},
        "keep",
        "within policy",
        transcript=f"header:{_t(d=3)},{_t(d=3)}",
        updated_at=_t(d=3),
        idle_from="lastInteractionAt",
    ),
    Case(
        "a recent transcript line keeps an old row",
        {},
        {"idle": "24h"},
        "keep",
        "within policy",
        transcript=f"header:{_t(d=3)},{_t(h=2)}",
        updated_at=_t(d=3),
        idle_from="transcript",
    ),
    Case(
        "idle falls back to the transcript mtime",
        {},
        {"idle": "24h"},
        "expire",
        "idle 3d > 24h",
        transcript=f"untimed:{_t(d=3)}",
        updated_at=None,
        notes=["updatedAt missing"],
        idle_from="transcript mtime",
    ),
    Case(
        "updatedAt in the future counts as now",
        {},
        {"idle": "24h"},
        "keep",
        "within policy",
        transcript="none",
        updated_at=NOW_MS + 2 * DAY_MS,
        notes=["activity in the future (updatedAt +2d): counted as now"],
    ),
    Case(
        "sessionStartedAt in the future: age 0",
        {"sessionStartedAt": NOW_MS + DAY_MS},
        {"max_age": "1h"},
        "keep",
        "within policy",
        transcript="none",
        notes=["start in the future (sessionStartedAt +1d): age counted as 0"],
    ),
    Case(
        "missing updatedAt uses the other evidence",
        {"lastInteractionAt": _t(d=3)},
        {"idle": "24h"},
        "expire",
        "idle 3d > 24h",
        transcript="none",
        updated_at=None,
        notes=["updatedAt missing"],
    ),
    Case(
        "unparseable updatedAt and no other evidence: kept",
        {},
        {"idle": "1h", "max_age": "1h"},
        "keep",
        "no usable timestamp: kept",
        transcript="none",
        updated_at="2026-01-01T00:00:00Z",
        notes=["updatedAt not a number (str)", "no usable timestamp"],
    ),
    Case(
        "the main key is protected",
        {"sessionStartedAt": _t(d=30)},
        {"max_age": "1h"},
        "keep",
        "protected: main key",
        key="agent:main:main",
    ),
    Case(
        "--protect glob",
        {"sessionStartedAt": _t(d=30)},
        {"max_age": "1h", "protect": ["agent:*:explicit:keep-*"]},
        "keep",
        "protected: matches --protect agent:*:explicit:keep-*",
        key="agent:main:explicit:keep-me",
    ),
    Case(
        "a recently active running session is protected",
        {"status": "running", "sessionStartedAt": _t(d=10)},
        {"max_age": "120h"},
        "keep",
        "protected: running (active 10min ago)",
        key="agent:main:subagent:aa",
        transcript="none",
        updated_at=_t(m=10),
    ),
    Case(
        "a running status idle past the grace is not protected",
        {"status": "running", "sessionStartedAt": _t(d=10)},
        {"max_age": "120h"},
        "expire",
        "max-age 10d > 120h",
        key="agent:main:subagent:aa",
        transcript="none",
        updated_at=_t(h=3),
    ),
    Case(
        "acp state running with recent activity is protected",
        {"acp": {"state": "running", "lastActivityAt": _t(m=5)}},
        {"idle": "24h"},
        "keep",
        "protected: running (active 5min ago)",
        key="agent:main:acp:bb",
        transcript="none",
        updated_at=_t(d=3),
    ),
    Case(
        "--kind keeps other kinds out of scope",
        {"sessionStartedAt": _t(d=9)},
        {"max_age": "120h", "kinds": ["subagent"]},
        "keep",
        "out of scope",
        key="agent:main:cron:j:run:1",
    ),
    Case(
        "--kind selects its kind",
        {"sessionStartedAt": _t(d=9)},
        {"max_age": "120h", "kinds": ["cron-run"]},
        "expire",
        "max-age 9d > 120h",
        key="agent:main:cron:j:run:1",
    ),
    Case(
        "--match selects matching keys",
        {"sessionStartedAt": _t(d=9)},
        {"max_age": "120h", "match": ["agent:*:explicit:dyad-coord-*"]},
        "expire",
        "max-age 9d > 120h",
        key="agent:main:explicit:dyad-coord-7",
    ),
    Case(
        "--match leaves other keys out of scope",
        {"sessionStartedAt": _t(d=9)},
        {"max_age": "120h", "match": ["agent:*:explicit:dyad-coord-*"]},
        "keep",
        "out of scope",
        key="agent:main:explicit:notes",
    ),
    Case(
        "failed-idle: status failed, idle past the limit",
        {"status": "failed"},
        {"failed_idle": "1d"},
        "expire",
        "failed-idle 3d > 1d (status failed)",
        transcript="none",
        updated_at=_t(d=3),
    ),
    Case(
        "failed-idle: status killed",
        {"status": "killed"},
        {"failed_idle": "1d"},
        "expire",
        "failed-idle 3d > 1d (status killed)",
        transcript="none",
        updated_at=_t(d=3),
    ),
    Case(
        "failed-idle: status timeout",
        {"status": "timeout"},
        {"failed_idle": "1d"},
        "expire",
        "failed-idle 3d > 1d (status timeout)",
        transcript="none",
        updated_at=_t(d=3),
    ),
    Case(
        "failed-idle: aborted with status done",
        {"status": "done", "abortedLastRun": True},
        {"failed_idle": "1d"},
        "expire",
        "failed-idle 3d > 1d (aborted, status done)",
        transcript="none",
        updated_at=_t(d=3),
    ),
    Case(
        "failed-idle: aborted without a status",
        {"abortedLastRun": True},
        {"failed_idle": "1d"},
        "expire",
        "failed-idle 3d > 1d (aborted)",
        transcript="none",
        updated_at=_t(d=3),
    ),
    Case(
        "failed-idle: the defused state (failed + aborted)",
        {"status": "failed", "abortedLastRun": True, "endedAt": _t(d=3)},
        {"failed_idle": "1d"},
        "expire",
        "failed-idle 3d > 1d (status failed)",
        transcript="none",
        updated_at=_t(d=3),
    ),
    Case(
        "failed-idle: failed but idle less than the limit",
        {"status": "failed"},
        {"failed_idle": "1d"},
        "keep",
        "within policy",
        transcript="none",
        updated_at=_t(h=12),
    ),
    Case(
        "failed-idle: a clean finish is not an error",
        {"status": "done", "abortedLastRun": False},
        {"failed_idle": "1d"},
        "keep",
        "within policy",
        transcript="none",
        updated_at=_t(d=3),
    ),
    Case(
        "failed-idle: never a running one, aborted or not",
        {"status": "running", "abortedLastRun": True},
        {"failed_idle": "1d"},
        "keep",
        "within policy",
        transcript="none",
        updated_at=_t(d=3),
    ),
    Case(
        "failed-idle: never an ACP session that is running",
        {"status": "failed", "acp": {"state": "running"}},
        {"failed_idle": "1d"},
        "keep",
        "within policy",
        transcript="none",
        updated_at=_t(d=3),
    ),
]


def _build(state: StateDir, case: Case) -> None:
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - HOUR_MS, transcript=False)
    if case.key == "agent:main:main":
        store = state.read_store("main")
        del store["agent:main:main"]
        state.write_store("main", store)
    sid = f"sid-{abs(hash(case.id)) % 10**8}"
    spec = case.transcript
    data: bytes | bool
    if spec == "none":
        data = False
    elif spec == "default":
        data = True
    elif spec.startswith("header:"):
        start, last = (int(x) for x in spec[len("header:") :].split(","))
        data = transcript(sid, start_ms=start, last_ms=last)
    else:
        data = untimed_transcript(sid)
    state.add_session(
        "main", case.key, session_id=sid, updated_at=NOW_MS - HOUR_MS, transcript=data, **case.fields
    )
    store = state.read_store("main")
    if case.updated_at is None:
        del store[case.key]["updatedAt"]
    else:
        store[case.key]["updatedAt"] = case.updated_at
    state.write_store("main", store)
    if spec.startswith("untimed:"):
        mtime = int(spec[len("untimed:") :]) / 1000
        os.utime(state.sessions_dir("main") / f"{sid}.jsonl", (mtime, mtime))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_planner_decides(state: StateDir, case: Case) -> None:
    _build(state, case)
    d = decision(plan_for(state, **case.overrides), case.key)
    assert d.action == case.action, d
    assert d.reason == case.reason, d
    for n in case.notes:
        assert any(n in x for x in d.notes), (n, d.notes)
    if case.age_from:
        assert d.age_from == case.age_from
    if case.idle_from:
        assert d.idle_from == case.idle_from


def test_every_exceeded_limit_is_listed_first_one_is_the_reason(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", transcript=False)
    state.add_session("main", KEY, updated_at=_t(d=3), sessionStartedAt=_t(d=9), transcript=False)
    d = decision(plan_for(state, max_age="120h", idle="24h"), KEY)
    assert (d.action, d.rule, d.reason) == ("expire", "max-age", "max-age 9d > 120h")
    assert d.reasons == ["max-age 9d > 120h", "idle 3d > 24h"]


# ------------------------------------------------------------------ cap


def test_cap_keeps_the_most_recently_active_and_counts_protected(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", updated_at=_t(m=1), transcript=False)
    for i in range(5):  # direct:0 is the most recent of them
        state.add_session("main", f"agent:main:direct:{i}", updated_at=_t(h=i + 1), transcript=False)
    plan = plan_for(state, max_entries=4)
    got = {d.key: (d.action, d.reason) for d in plan.agents[0].decisions}
    assert got["agent:main:main"] == ("keep", "protected: main key")  # rank 1: counts toward the cap
    assert got["agent:main:direct:3"] == ("expire", "cap 5 > 4")
    assert got["agent:main:direct:4"] == ("expire", "cap 6 > 4")
    assert [k for k, (a, _) in got.items() if a == "keep"] == [
        "agent:main:main",
        "agent:main:direct:0",
        "agent:main:direct:1",
        "agent:main:direct:2",
    ]


def test_a_protected_session_beyond_the_cap_stays_and_the_next_one_goes(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", updated_at=_t(d=50), transcript=False)
    for i in range(3):
        state.add_session("main", f"agent:main:direct:{i}", updated_at=_t(h=i + 1), transcript=False)
    plan = plan_for(state, max_entries=2)
    got = {d.key: (d.action, d.reason) for d in plan.agents[0].decisions}
    assert got["agent:main:direct:2"] == ("expire", "cap 3 > 2")
    assert got["agent:main:main"] == ("keep", "protected: main key")  # rank 4, protected: stays


def test_cap_applies_after_age_and_idle(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", updated_at=_t(m=1), transcript=False)
    state.add_session("main", "agent:main:direct:old", updated_at=_t(d=9), transcript=False)
    for i in range(3):
        state.add_session("main", f"agent:main:direct:{i}", updated_at=_t(h=i + 1), transcript=False)
    plan = plan_for(state, idle="7d", max_entries=3)
    got = {d.key: d.reason for d in plan.agents[0].expired}
    # the idle one is gone first; the cap then counts the 4 left: main, 0, 1, 2
    assert got == {"agent:main:direct:old": "idle 9d > 7d", "agent:main:direct:2": "cap 4 > 3"}


def test_cap_with_kind_scope_counts_only_that_kind(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", transcript=False)
    for i in range(4):
        state.add_session("main", f"agent:main:cron:j:run:{i}", updated_at=_t(h=i + 1), transcript=False)
        state.add_session("main", f"agent:main:direct:{i}", updated_at=_t(d=i + 1), transcript=False)
    plan = plan_for(state, kinds=["cron-run"], max_entries=2)
    assert sorted(d.key for d in plan.agents[0].expired) == [
        "agent:main:cron:j:run:2",
        "agent:main:cron:j:run:3",
    ]


# ------------------------------------------------------------------ protections with facts


def test_a_live_transcript_lock_protects_its_session(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", transcript=False)
    sid = state.add_session("main", KEY, updated_at=_t(d=9), sessionStartedAt=_t(d=9))
    live_lock(state.sessions_dir("main") / f"{sid}.jsonl")
    d = decision(plan_for(state, max_age="120h"), KEY)
    assert d.action == "keep"
    assert d.reason.startswith(f"protected: transcript lock held by pid {os.getpid()} (alive")


def test_a_stale_transcript_lock_does_not_protect(state: StateDir) -> None:
    from support.helpers import dead_pid

    state.add_session("main", "agent:main:main", transcript=False)
    sid = state.add_session("main", KEY, updated_at=_t(d=9), sessionStartedAt=_t(d=9))
    lock = state.sessions_dir("main") / f"{sid}.jsonl.lock"
    lock.write_text(f'{{"pid": {dead_pid()}, "createdAt": "2026-04-01T00:00:00.000Z"}}')
    assert decision(plan_for(state, max_age="120h"), KEY).action == "expire"


# ------------------------------------------------------------------ refusal


def test_a_plan_that_empties_an_agent_leaves_that_agent_alone_and_plans_the_others(state: StateDir) -> None:
    state.add_session("ops", "agent:ops:hook:1", updated_at=_t(d=9), transcript=False)
    state.add_session("ops", "agent:ops:hook:2", updated_at=_t(d=8), transcript=False)
    state.add_session("main", "agent:main:main", updated_at=_t(d=9), transcript=False)
    state.add_session("main", "agent:main:hook:3", updated_at=_t(d=9), transcript=False)
    plan = plan_for(state, idle="1d")
    assert plan.refusals == [
        "agent ops: the policy would expire all 2 of its sessions; the agent is left untouched "
        "(pass --allow-empty to allow it)"
    ]
    ops = next(ap for ap in plan.agents if ap.agent == "ops")
    assert ops.expired == [] and ops.files == []
    assert [d.key for d in ops.would_expire] == ["agent:ops:hook:1", "agent:ops:hook:2"]
    d = decision(plan, "agent:ops:hook:1")
    assert (d.action, d.refused) == ("keep", True)
    assert d.reason == "kept: it would empty agent ops (idle 9d > 1d)" and d.reasons == ["idle 9d > 1d"]
    # the other agent is planned as if ops were not there
    assert decision(plan, "agent:main:hook:3").action == "expire"
    assert plan_for(state, idle="1d", allow_empty=True).refusals == []
    assert decision(plan_for(state, idle="1d", allow_empty=True), "agent:ops:hook:1").action == "expire"


def test_keeping_one_session_is_not_a_refusal(state: StateDir) -> None:
    state.add_session("ops", "agent:ops:hook:1", updated_at=_t(d=9), transcript=False)
    state.add_session("ops", "agent:ops:hook:2", updated_at=_t(h=1), transcript=False)
    plan = plan_for(state, idle="1d")
    assert plan.refusals == []
    assert [d.key for d in plan.agents[0].expired] == ["agent:ops:hook:1"]


# ------------------------------------------------------------------ files and archives


def test_files_of_expired_sessions_unless_still_referenced(state: StateDir) -> None:
    from support.gc import CRON_RUN, OLD_DM, OLD_TOPIC, gc_state

    sids = gc_state(state)
    plan = plan_for(state, max_age="120h")
    main = next(a for a in plan.agents if a.agent == "main")
    assert sorted(d.key for d in main.expired) == sorted([OLD_DM, CRON_RUN, OLD_TOPIC])
    sid, tsid = sids["old_dm"], sids["topic"]
    assert sorted(f.path.name for f in main.files) == sorted(
        [
            f"{sid}.jsonl",
            f"{sid}.jsonl.trajectory.jsonl",
            f"{sid}.checkpoint.2222aaaa.jsonl",
            f"{sid}.acp-stream.jsonl",
            f"{tsid}-topic-7.jsonl",
        ]
    )
    # the cron run's transcript is shared with the kept cron job
    assert main.kept_referenced == [f"{sids['cron']}.jsonl"]
    sidecar = next(f for f in main.files if f.path.name.endswith(".trajectory.jsonl"))
    assert sidecar.lock_target.name == f"{sid}.jsonl"


def test_archive_retention_by_the_stamp_in_the_name(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", transcript=False)
    sdir = state.sessions_dir("main")
    for name in (
        "a.jsonl.deleted.2026-03-01T00-00-00.000Z",  # 61 days
        "b.jsonl.reset.2026-04-20T00-00-00.000Z",  # 11 days
        "c.jsonl.bak.2026-01-01T00-00-00.000Z",  # .bak is not OpenClaw's archive of a session
        "d.jsonl.deleted.2026-04-29T12-00-00.000Z",  # 2 days
    ):
        (sdir / name).write_bytes(b"x\n")
    plan = plan_for(state, archive_retention="10d")
    assert sorted(p.path.name for p in plan.agents[0].purges) == [
        "a.jsonl.deleted.2026-03-01T00-00-00.000Z",
        "b.jsonl.reset.2026-04-20T00-00-00.000Z",
    ]
    assert plan.agents[0].expired == []


def test_the_planner_does_not_touch_the_disk(state: StateDir) -> None:
    from support.gc import gc_state
    from support.helpers import tree_snapshot

    gc_state(state)
    before = tree_snapshot(state.root)
    plan_for(state, max_age="1h", idle="1h", max_entries=1, archive_retention="1d")
    assert tree_snapshot(state.root) == before


def test_failed_idle_per_kind_from_sessionctl_toml(state: StateDir) -> None:
    state.add_session("main", "agent:main:main", updated_at=_t(h=1), transcript=False)
    state.add_session(
        "main", "agent:main:cron:j:run:1", updated_at=_t(h=3), status="failed", transcript=False
    )
    state.add_session("main", "agent:main:hook:1", updated_at=_t(h=3), status="failed", transcript=False)
    state.add_session("main", "agent:main:hook:2", updated_at=_t(d=3), status="killed", transcript=False)
    (state.root / "sessionctl.toml").write_text(
        '[gc]\nfailed-idle = "2d"\n[gc.kinds.cron-run]\nfailed-idle = "1h"\n'
    )
    plan = plan_for(state)
    assert decision(plan, "agent:main:cron:j:run:1").reason == "failed-idle 3h > 1h (status failed)"
    assert decision(plan, "agent:main:hook:1").action == "keep"
    d = decision(plan, "agent:main:hook:2")
    assert (d.action, d.rule) == ("expire", "failed-idle")
    assert "failed-idle 2d ([gc])" in plan.policy.describe()
    # the command line replaces it for every kind
    plan = plan_for(state, failed_idle="2h")
    assert decision(plan, "agent:main:hook:1").action == "expire"
    assert decision(plan, "agent:main:cron:j:run:1").action == "expire"
