"""Safe points: a long step that must stop (prestart's deadline, RunContext.stop_check)
stops where nothing is half-done. gc stopped while reading changes nothing; gc stopped
between two archive renames keeps its store edits, leaves the other files in place
(reported, skipped) and undo restores everything; repair and health stop while reading."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.gc import live_tree
from support.helpers import DAY_MS, NOW_ISO, NOW_MS, StateDir, run_json

from sessionctl.context import make_context
from sessionctl.errors import StepStopped
from sessionctl.policy import PolicyOverrides, resolve_policy


class StopAfter:
    """stop_check: go on for the first `n` safe points, then stop."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0

    def __call__(self) -> str | None:
        self.calls += 1
        return "deadline: stopped for the test" if self.calls > self.n else None


def _state(state: StateDir) -> list[str]:
    state.write_config({"agents": {"list": [{"id": "main", "default": True}]}})
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - DAY_MS)
    return [
        state.add_session("main", f"agent:main:telegram:direct:{i}", updated_at=NOW_MS - 9 * DAY_MS)
        for i in range(4)
    ]


def test_gc_stopped_while_reading_changes_nothing(state: StateDir) -> None:
    from sessionctl.gc import run_gc

    _state(state)
    before = live_tree(state.root)
    ctx = make_context(state_dir=str(state.root), now=NOW_ISO)
    ctx.stop_check = StopAfter(0)
    with pytest.raises(StepStopped):
        run_gc(ctx, resolve_policy(ctx, PolicyOverrides(idle="72h")), dry_run=False)
    assert live_tree(state.root) == before
    assert not any((state.root / "sessionctl").rglob("journal.json"))  # no run was started


def test_gc_stopped_between_archives_keeps_its_edit_leaves_the_rest_and_undoes(state: StateDir) -> None:
    from sessionctl.gc import run_gc

    sids = _state(state)
    before = live_tree(state.root)
    ctx = make_context(state_dir=str(state.root), now=NOW_ISO)
    # safe points: reading the agent, before the journal, then one per transcript group
    ctx.stop_check = StopAfter(3)
    out = run_gc(ctx, resolve_policy(ctx, PolicyOverrides(idle="72h")), dry_run=False)
    keys = set(state.read_store("main"))
    assert keys == {"agent:main:main"}  # the store edit is whole
    renames = [a for a in out.actions if a["type"] == "file.rename"]
    assert [a["state"] for a in renames].count("applied") == 1
    skipped = [a for a in renames if a["state"] == "skipped"]
    assert len(skipped) == 3 and all("deadline" in a["note"] for a in skipped)
    sdir = state.sessions_dir("main")
    assert sum((sdir / f"{sid}.jsonl").exists() for sid in sids) == 3  # left in place
    rc, _u, err = run_json("undo", str(out.run_id), "--state-dir", str(state.root))
    assert rc == 0, err
    assert live_tree(state.root) == before


def test_repair_and_health_stop_while_reading(state: StateDir) -> None:
    from sessionctl.health import run_health
    from sessionctl.repair import RepairOptions, run_repair

    _state(state)
    (state.sessions_dir("main") / "sessions.json.lock").write_text('{"pid": 4194305}')
    before = live_tree(state.root)
    ctx = make_context(state_dir=str(state.root), now=NOW_ISO)
    ctx.stop_check = StopAfter(0)
    with pytest.raises(StepStopped):
        run_repair(ctx, RepairOptions(), dry_run=False, force_online=False)
    with pytest.raises(StepStopped):
        run_health(ctx)
    assert live_tree(state.root) == before
    assert not any((state.root / "sessionctl").rglob("journal.json"))


def test_prestart_reports_a_step_stopped_at_a_safe_point(tmp_path: Path) -> None:
    """A clock that jumps past the deadline in the middle of gc: gc is `stopped`, what
    follows is skipped for the deadline, the store is valid, exit 0."""
    from sessionctl.prestart import Deadline, PrestartOptions, run_prestart

    st = StateDir(tmp_path / "state")
    (st.root / "agents").mkdir(parents=True)
    _state(st)

    class Clock:
        t = 1000.0

        def __call__(self) -> float:
            return self.t

    clock = Clock()
    logs: list[tuple[str, str]] = []
    opts = PrestartOptions(
        state_dir=str(st.root), now=NOW_ISO, overrides=PolicyOverrides(idle="72h"), argv=["prestart"]
    )
    dl = Deadline(30_000, clock=clock)
    from sessionctl import gc as gc_mod

    real = gc_mod.read_snapshots

    def slow_read(ctx: object, stores: list[object]) -> object:
        clock.t += 60.0  # gc's read takes a minute: past the deadline
        return real(ctx, stores)  # type: ignore[arg-type]

    gc_mod.read_snapshots = slow_read  # type: ignore[assignment]
    try:
        rep = run_prestart(opts, dl, lambda lv, m: logs.append((lv, m)))
    finally:
        gc_mod.read_snapshots = real
    assert rep.exit_code == 0 and rep.valid
    assert rep.step("repair").status in ("done", "nothing_to_do")
    assert rep.step("gc").status == "stopped" and "safe point" in (rep.step("gc").reason or "")
    assert rep.stopped_at == "gc"
    for name in ("bindings", "retention", "health"):
        assert rep.step(name).status == "skipped", rep.step(name)
    assert len(st.read_store("main")) == 5  # gc changed nothing
