"""`sessionctl prestart` end to end: the demo state cleaned the way the gateway unit's
ExecStartPre= would clean it, the refusal while a gateway runs, the deadline, the exit
policy (0 unless a store is left that OpenClaw would wipe) and the log format."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from support.helpers import (
    DAY_MS,
    HOUR_MS,
    NOW_ISO,
    NOW_MS,
    REPO,
    StateDir,
    assert_envelope,
    backup_bytes,
    clean_env,
    make_entry,
    run_cli,
    run_json,
    store_bytes,
    transcript_bytes,
    tree_snapshot,
)

DEMO = REPO / "fixtures" / "demo-state"
STEPS = ["backup", "repair", "gc", "bindings", "retention", "health"]


def copy_demo(tmp_path: Path) -> Path:
    """A copy of the demo state whose files all carry an mtime two hours old, as on a box
    where they were written before the restart (a git checkout gives every file the time
    of the checkout, which would make the demo's stale temp file look fresh)."""
    dst = tmp_path / "state"
    shutil.copytree(DEMO, dst, symlinks=True)
    old = time.time() - 2 * 3600
    for p in dst.rglob("*"):
        if not p.is_symlink():
            os.utime(p, (old, old))
    return Path(os.path.realpath(dst))


def stores_of(state: Path) -> dict[str, Path]:
    return {p.parent.parent.name: p for p in sorted(state.glob("agents/*/sessions/sessions.json"))}


def assert_valid_for_openclaw(path: Path) -> dict[str, Any]:
    """What OpenClaw needs to read a store and not wipe it: it parses, the root is an
    object, it is written like JSON.stringify(store, null, 2) (no final newline), 0600."""
    raw = path.read_bytes()
    data = json.loads(raw)
    assert isinstance(data, dict), f"{path}: root is {type(data).__name__}"
    assert raw == store_bytes(data), f"{path} is not in OpenClaw's 2-space format"
    assert not raw.endswith(b"\n")
    assert (path.stat().st_mode & 0o777) == 0o600, oct(path.stat().st_mode)
    return data


def last_line_ts(path: Path) -> int | None:
    """Timestamp (epoch ms) of the last complete line of a transcript, read independently."""
    from datetime import datetime

    try:
        lines = path.read_bytes().split(b"\n")[:-1]
    except OSError:
        return None
    for line in reversed(lines):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        ts = obj.get("timestamp") if isinstance(obj, dict) else None
        if isinstance(ts, str):
            return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
    return None


def idle_ms(entry: dict[str, Any], sessions_dir: Path) -> int | None:
    """now − the latest of lastInteractionAt, updatedAt and the transcript's last line."""
    cands = [entry.get(f) for f in ("lastInteractionAt", "updatedAt")]
    sid = entry.get("sessionId")
    if isinstance(sid, str):
        cands.append(last_line_ts(sessions_dir / f"{sid}.jsonl"))
    vals = [int(c) for c in cands if isinstance(c, int | float) and not isinstance(c, bool)]
    return NOW_MS - max(vals) if vals else None


def step(env: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in env["steps"] if s["name"] == name)


def run_dir(state: Path, run_id: str) -> Path:
    return state / "sessionctl" / "runs" / run_id


# ---------------------------------------------------------------- the demo, end to end


def test_prestart_on_the_demo_state_removes_only_stale_sessions_and_leaves_valid_stores(
    tmp_path: Path,
) -> None:
    state = copy_demo(tmp_path)
    before = {a: (p.read_bytes(), json.loads(p.read_bytes())) for a, p in stores_of(state).items()}
    limit = 72 * HOUR_MS
    stale: dict[str, set[str]] = {}
    fresh: dict[str, set[str]] = {}
    for agent, (_raw, data) in before.items():
        sdir = state / "agents" / agent / "sessions"
        for key, entry in data.items():
            idle = idle_ms(entry, sdir)
            if idle is None:
                continue
            if idle > limit + HOUR_MS:
                stale.setdefault(agent, set()).add(key)
            elif idle < limit - HOUR_MS:
                fresh.setdefault(agent, set()).add(key)
    truncated = state / "agents/illarion/sessions"
    tail_file = next(p for p in truncated.glob("*.jsonl") if not p.read_bytes().endswith(b"\n"))

    rc, env, err = run_json("prestart", "--state-dir", str(state), "--now", NOW_ISO, "--idle", "72h")

    assert_envelope(env, command="prestart", exit_code=0)
    assert rc == 0, err
    assert [s["name"] for s in env["steps"]] == STEPS
    assert env["store_valid"] is True
    assert env["skipped"] == [], env["steps"]
    for s in env["steps"]:
        assert s["status"] in ("done", "nothing_to_do"), s

    # only stale sessions are gone; every fresh one is still there
    removed: dict[str, set[str]] = {}
    for agent, path in stores_of(state).items():
        after = assert_valid_for_openclaw(path)
        removed[agent] = set(before[agent][1]) - set(after)
        assert removed[agent] <= stale.get(agent, set()), f"{agent}: removed fresh sessions"
        assert fresh.get(agent, set()) <= set(after), f"{agent}: lost {fresh[agent] - set(after)}"
        assert not set(after) - set(before[agent][1])  # nothing invented
    # the reported stale ones of the demo are gone (fixtures/README.md)
    assert "agent:main:hook:f06cf984-ed90-468c-bd1e-3546361098a4" in removed["main"]
    assert "agent:marketer:whatsapp:direct:+4915112345678" in removed["marketer"]
    assert "agent:illarion:telegram:group:-1009876543210" in removed["illarion"]
    assert sum(len(v) for v in removed.values()) == step(env, "gc")["detail"]["expired"]

    # the backup run holds every store byte for byte, with its journal
    bdir = run_dir(state, step(env, "backup")["run_id"])
    journal = json.loads((bdir / "journal.json").read_bytes())
    backed = {b["path"] for b in journal["backups"] if b["kind"] == "store"}
    for agent, (raw, _data) in before.items():
        rel = f"agents/{agent}/sessions/sessions.json"
        assert rel in backed
        assert backup_bytes(bdir / "backup" / (rel + ".zst")) == raw
    # every removed entry is in the gc run: named in its journal, the entry itself in
    # the (checksummed, compressed) store backup the journal refers to (`entry_in`)
    gc_dir = run_dir(state, step(env, "gc")["run_id"])
    gc_journal = json.loads((gc_dir / "journal.json").read_bytes())
    removed_in_journal = {
        (a["agent"], a["key"]): a["entry"]
        if "entry" in a
        else json.loads(backup_bytes(gc_dir / a["entry_in"]))[a["key"]]
        for a in gc_journal["actions"]
        if a["type"] == "store.remove"
    }
    for agent, keys in removed.items():
        for key in keys:
            assert removed_in_journal[(agent, key)] == before[agent][1][key]

    # the safe repairs: the stale store lock and the stale temp file are moved into the
    # repair run, the truncated tail is cut back to a complete line, the transcript with
    # a bad header is renamed aside (OpenClaw would replace it), not deleted
    assert not (state / "agents/illarion/sessions/sessions.json.lock").exists()
    assert not list((state / "agents/marketer/sessions").glob("sessions.json.*.tmp"))
    assert tail_file.read_bytes().endswith(b"\n")
    rdir = run_dir(state, step(env, "repair")["run_id"])
    assert list(rdir.rglob("sessions.json.lock"))
    bad = state / "agents/illarion/sessions"
    quarantined = [p for p in bad.iterdir() if ".jsonl.bak." in p.name]
    assert len(quarantined) == 1
    assert not quarantined[0].read_bytes().startswith(b'{"type":"session"')

    # a one-screen health summary is part of the report; no store is damaged any more,
    # no lock, leftover or truncated tail is left (what remains is for a human to decide)
    h = env["health"]
    assert set(h["summary"]) == {"critical", "warning", "info"}
    assert len(h["top"]) <= 8
    left = set(h["by_check"])
    assert not {c for c in left if c.startswith(("store.", "lock.", "leftover."))}, left
    assert "transcript.truncated_tail" not in left and "transcript.header_invalid" not in left


def test_prestart_human_output_fits_one_screen(tmp_path: Path) -> None:
    state = copy_demo(tmp_path)
    res = run_cli("prestart", "--state-dir", str(state), "--now", NOW_ISO, "--idle", "72h")
    assert res.rc == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) <= 24, res.stdout
    assert lines[0].startswith("sessionctl prestart")
    for name in STEPS:
        assert any(line.strip().startswith(name) for line in lines), name
    assert any(line.startswith("health:") for line in lines)
    assert "stores: valid" in res.stdout
    assert "sessionctl undo" in res.stdout


# ---------------------------------------------------------------- refusal under a gateway


@pytest.fixture
def fake_gateway(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(state: Path) -> subprocess.Popen[bytes]:
        env = clean_env(OPENCLAW_STATE_DIR=str(state))
        p = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)", "openclaw", "gateway"], env=env
        )
        procs.append(p)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the child has exec'd
            try:
                if b"openclaw" in Path(f"/proc/{p.pid}/cmdline").read_bytes():
                    return p
            except OSError:
                pass
            time.sleep(0.01)
        raise AssertionError("fake gateway did not start")

    yield start
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()


def test_prestart_does_nothing_while_a_gateway_runs_for_the_state_dir(
    tmp_path: Path, fake_gateway: Any
) -> None:
    state = copy_demo(tmp_path)
    gw = fake_gateway(state)
    snap = tree_snapshot(state)

    rc, env, err = run_json("prestart", "--state-dir", str(state), "--now", NOW_ISO, "--idle", "72h")

    assert rc == 0, err  # not a failure of the store: the unit goes on
    assert_envelope(env, command="prestart", exit_code=0)
    assert env["status"] == "warning"
    assert env["refused"]["reason"] == "gateway_running"
    assert [g["pid"] for g in env["refused"]["gateways"]] == [gw.pid]
    assert env["skipped"] == STEPS
    assert "gateway" in err and str(gw.pid) in err
    assert tree_snapshot(state) == snap  # nothing changed, not even a run folder


def test_a_bad_flag_is_a_usage_error_even_while_a_gateway_runs(tmp_path: Path, fake_gateway: Any) -> None:
    state = copy_demo(tmp_path)
    fake_gateway(state)
    rc, env, _err = run_json("prestart", "--state-dir", str(state), "--idle", "3")
    assert rc == 64
    assert env["status"] == "error"


def test_a_state_dir_without_sessions_is_ok_and_makes_no_run(state: StateDir) -> None:
    rc, env, err = run_json("prestart", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "72h")
    assert rc == 0, err
    assert step(env, "backup")["status"] == "nothing_to_do"
    assert env["store_valid"] is True
    assert not (state.root / "sessionctl" / "runs").exists()


def test_a_gateway_of_another_state_dir_does_not_stop_prestart(tmp_path: Path, fake_gateway: Any) -> None:
    state = copy_demo(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    fake_gateway(other)
    rc, env, err = run_json("prestart", "--state-dir", str(state), "--now", NOW_ISO, "--idle", "72h")
    assert rc == 0, err
    assert env["refused"] is None
    assert step(env, "gc")["status"] == "done"


# ---------------------------------------------------------------- the deadline


def large_state(state: StateDir, n: int = 20_000) -> None:
    store = {
        f"agent:main:explicit:s{i:05d}": make_entry(f"sid-{i:05d}", NOW_MS - (i % 30) * DAY_MS, label=f"s{i}")
        for i in range(n)
    }
    state.write_store("main", orjson.dumps(store, option=orjson.OPT_INDENT_2))


def test_a_tiny_deadline_on_a_large_store_exits_0_with_a_valid_store_and_reports_what_it_skipped(
    state: StateDir,
) -> None:
    large_state(state)
    snap = tree_snapshot(state.root)
    rc, env, err = run_json(
        "prestart", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "72h", "--deadline", "1ms"
    )
    assert rc == 0, err
    assert env["status"] == "warning"
    assert env["store_valid"] is True
    assert env["stopped_at"] == "backup"
    assert env["skipped"] == STEPS
    for s in env["steps"]:
        assert s["status"] == "skipped" and "deadline" in s["reason"], s
    assert "deadline" in err and "skipped: backup, repair, gc, bindings, retention, health" in err
    assert_valid_for_openclaw(state.store_path("main"))
    assert tree_snapshot(state.root) == snap  # stopped before the first write


class TickingClock:
    """A monotonic clock that advances one second every time it is read."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def small_state(root: Path) -> StateDir:
    st = StateDir(root)
    (root / "agents").mkdir(parents=True)
    st.add_session("main", "agent:main:main", updated_at=NOW_MS - HOUR_MS)
    st.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - 2 * HOUR_MS)
    st.add_session("main", "agent:main:telegram:direct:2", updated_at=NOW_MS - 9 * DAY_MS)
    st.add_session("main", "agent:main:cron:job:run:x", updated_at=NOW_MS - 5 * DAY_MS)
    return st


def test_whatever_the_budget_prestart_stops_only_between_steps_or_at_safe_points(tmp_path: Path) -> None:
    """For every budget, with a clock that ticks on every read: exit 0, a valid store,
    every step before the stop ran to its end, the stop is either skipped or stopped at a
    safe point (nothing half-done: the store is valid), everything after it is skipped
    for the deadline. Some budget stops in the middle, some finishes."""
    from sessionctl.policy import PolicyOverrides
    from sessionctl.prestart import Deadline, PrestartOptions, run_prestart

    stops: set[str | None] = set()
    for budget_s in range(1, 61, 3):
        st = small_state(tmp_path / f"b{budget_s}" / "state")
        opts = PrestartOptions(
            state_dir=str(st.root), now=NOW_ISO, overrides=PolicyOverrides(idle="72h"), argv=["prestart"]
        )
        logs: list[tuple[str, str]] = []

        def log(level: str, msg: str, logs: list[tuple[str, str]] = logs) -> None:
            logs.append((level, msg))

        rep = run_prestart(opts, Deadline(budget_s * 1000, clock=TickingClock()), log)
        assert rep.exit_code == 0 and rep.valid, (budget_s, rep.errors)
        stops.add(rep.stopped_at)
        names = [s.name for s in rep.steps]
        cut = names.index(rep.stopped_at) if rep.stopped_at else len(names)
        for s in rep.steps[:cut]:
            assert s.status in ("done", "nothing_to_do"), (budget_s, s)
        for s in rep.steps[cut:]:
            assert s.status in ("skipped", "stopped") and "deadline" in (s.reason or ""), (budget_s, s)
        assert all(s.status == "skipped" for s in rep.steps[cut + 1 :]), budget_s
        if rep.stopped_at and rep.step(rep.stopped_at).status == "skipped":
            want = f"prestart: stopping before {rep.stopped_at} "
            assert any(lv == "warning" and m.startswith(want) for lv, m in logs), logs
        elif rep.stopped_at:
            want = f"prestart: {rep.stopped_at}: deadline: "
            assert any(lv == "warning" and m.startswith(want) for lv, m in logs), logs
        keys = set(json.loads(st.store_path("main").read_bytes()))
        assert "agent:main:telegram:direct:1" in keys and "agent:main:main" in keys
        gc_done = rep.step("gc").status == "done"
        assert ("agent:main:telegram:direct:2" not in keys) == gc_done
    assert None in stops  # a budget large enough for everything
    assert stops & {"repair", "gc", "bindings", "retention", "health"}  # and stops in the middle


# ---------------------------------------------------------------- the exit policy


def test_a_damaged_store_without_any_backup_exits_65_and_is_left_byte_for_byte(state: StateDir) -> None:
    state.add_session("ops", "agent:ops:main")
    damaged = b'{\n  "agent:ops:main": {\n    "sessionId": "abc'
    state.write_store("ops", damaged)
    state.add_session("main", "agent:main:main")
    rc, env, err = run_json("prestart", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "72h")
    assert rc == 65, err
    assert_envelope(env, command="prestart", exit_code=65)
    assert env["status"] == "error"
    assert env["store_valid"] is False
    bad = [s for s in env["stores"] if not s["valid"]]
    assert [s["agent"] for s in bad] == ["ops"]
    assert state.store_path("ops").read_bytes() == damaged  # never replaced by {} or a guess
    assert "ExecStartPre=-" in err
    # the other agent was still handled
    assert_valid_for_openclaw(state.store_path("main"))
    assert step(env, "gc")["status"] in ("done", "nothing_to_do")


def test_a_damaged_store_is_restored_from_the_newest_backup_and_prestart_exits_0(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    state.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - 2 * HOUR_MS)
    good = state.store_path("main").read_bytes()
    rc, _env, err = run_json("backup", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert rc == 0, err
    state.write_store("main", good[: len(good) // 2])  # a torn write

    rc, env, err = run_json("prestart", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "72h")

    assert rc == 0, err
    assert step(env, "repair")["status"] == "done"
    assert env["store_valid"] is True
    assert assert_valid_for_openclaw(state.store_path("main")) == json.loads(good)


def test_a_broken_sessionctl_toml_skips_gc_but_the_rest_runs_and_exit_is_0(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    state.add_session("main", "agent:main:telegram:direct:2", updated_at=NOW_MS - 9 * DAY_MS)
    (state.root / "sessionctl.toml").write_text("[gc\nidle = 3d\n")
    rc, env, err = run_json("prestart", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert rc == 0, err
    assert env["status"] == "warning"
    assert step(env, "backup")["status"] == "done"
    assert step(env, "gc")["status"] == "failed"
    assert "sessionctl.toml" in step(env, "gc")["reason"]
    assert step(env, "health")["status"] == "done"
    assert step(env, "retention")["status"] == "skipped"  # its keep-runs are in the broken file
    assert any(e["code"] == "bad_config" for e in env["errors"])
    assert "agent:main:telegram:direct:2" in state.read_store("main")  # gc did not run


def test_a_state_dir_that_does_not_exist_yet_is_nothing_to_do(tmp_path: Path) -> None:
    rc, env, err = run_json("prestart", "--state-dir", str(tmp_path / "nope"))
    assert rc == 0, err
    assert env["skipped"] == STEPS
    assert "does not exist" in env["note"]
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--deadline", "30"],
        ["--deadline", "5m"],
        ["--idle", "3"],
        ["--kind", "nonsense"],
        ["--now", "yesterday"],
    ],
)
def test_a_bad_command_line_is_a_usage_error_and_changes_nothing(state: StateDir, args: list[str]) -> None:
    state.add_session("main", "agent:main:main")
    snap = tree_snapshot(state.root)
    rc, env, _err = run_json("prestart", "--state-dir", str(state.root), *args)
    assert rc == 64
    assert env["status"] == "error"
    assert tree_snapshot(state.root) == snap


# ---------------------------------------------------------------- logs


def test_logs_carry_journald_level_prefixes_under_systemd_and_are_plain_otherwise(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    state.add_session("main", "agent:main:telegram:direct:2", updated_at=NOW_MS - 9 * DAY_MS)
    args = (
        "prestart",
        "--state-dir",
        str(state.root),
        "--now",
        NOW_ISO,
        "--idle",
        "72h",
        "--deadline",
        "1ms",
    )
    under = run_cli(*args, env=clean_env(JOURNAL_STREAM="8:12345"))
    assert under.rc == 0
    lines = under.stderr.splitlines()
    assert lines and all(line[:1] == "<" and line[2:3] == ">" and line[1].isdigit() for line in lines), lines
    assert any(line.startswith("<4>") and "deadline" in line for line in lines)
    plain = run_cli(*args)
    assert plain.rc == 0
    assert not any(line.startswith("<") for line in plain.stderr.splitlines())
    assert any(
        line.startswith("warning: prestart: stopping before backup") for line in plain.stderr.splitlines()
    )


def test_json_output_is_one_envelope_with_every_step(tmp_path: Path) -> None:
    state = copy_demo(tmp_path)
    rc, env, _err = run_json("prestart", "--state-dir", str(state), "--now", NOW_ISO, "--idle", "72h")
    assert rc == 0
    for s in env["steps"]:
        assert set(s) >= {"name", "status", "reason", "estimate_ms", "elapsed_ms", "run_id", "changes"}
    assert env["deadline_ms"] == 30_000
    assert isinstance(env["elapsed_ms"], int)
    assert "webhookToken" not in json.dumps(env)
    assert [s["agent"] for s in env["stores"]] == ["main", "illarion", "marketer"]


def test_transcripts_and_entries_of_fresh_sessions_are_untouched(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - HOUR_MS)
    old = state.add_session("main", "agent:main:telegram:direct:2", updated_at=NOW_MS - 9 * DAY_MS)
    state.add_session("main", "agent:main:main")
    fresh_bytes = (state.sessions_dir("main") / f"{sid}.jsonl").read_bytes()
    assert fresh_bytes == transcript_bytes(sid, start_ms=NOW_MS - 2 * HOUR_MS)
    rc, _env, err = run_json("prestart", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "72h")
    assert rc == 0, err
    assert (state.sessions_dir("main") / f"{sid}.jsonl").read_bytes() == fresh_bytes
    assert not (state.sessions_dir("main") / f"{old}.jsonl").exists()
    archived = list(state.sessions_dir("main").glob(f"{old}.jsonl.deleted.*"))
    assert len(archived) == 1  # archived by rename, not deleted


def test_flags_override_the_config_file_and_kind_narrows_gc(state: StateDir) -> None:
    (state.root / "sessionctl.toml").write_text('[gc]\nidle = "30d"\n')
    state.add_session("main", "agent:main:main")
    state.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - 9 * DAY_MS)
    state.add_session("main", "agent:main:cron:job:run:a", updated_at=NOW_MS - 9 * DAY_MS)
    state.add_session("main", "agent:main:cron:job:run:b", updated_at=NOW_MS - HOUR_MS)
    base = ("prestart", "--state-dir", str(state.root), "--now", NOW_ISO)

    rc, env, err = run_json(*base)  # the file alone: 30d idle, nothing is that old
    assert rc == 0, err
    assert step(env, "gc")["status"] == "nothing_to_do"
    assert len(state.read_store("main")) == 4

    rc, env, err = run_json(*base, "--idle", "72h", "--kind", "cron-run")  # the flag wins, for cron runs only
    assert rc == 0, err
    assert "72h" in step(env, "gc")["detail"]["policy"]
    assert set(state.read_store("main")) == {
        "agent:main:main",
        "agent:main:telegram:direct:1",
        "agent:main:cron:job:run:b",
    }


def test_a_store_held_by_a_live_writer_makes_the_gc_step_fail_visibly_and_changes_no_store(
    state: StateDir,
) -> None:
    """One agent's sessions.json.lock is held by a live process for the whole run: gc
    checks every store's lock before it starts and does nothing. prestart must say so
    (step failed, holder named), never remove the live lock, and exit 0 because every
    store is left valid."""
    old = NOW_MS - 10 * DAY_MS
    for agent in ("main", "ops"):
        state.add_session(agent, f"agent:{agent}:main")
        state.add_session(agent, f"agent:{agent}:hook:old", updated_at=old)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        from sessionctl.locks import proc_starttime
        from sessionctl.timeutil import iso_ms, now_ms

        lock = state.sessions_dir("main") / "sessions.json.lock"
        payload = {"pid": holder.pid, "createdAt": iso_ms(now_ms()), "starttime": proc_starttime(holder.pid)}
        lock.write_bytes(json.dumps(payload).encode())
        before_main = state.store_path("main").read_bytes()
        rc, env, _err = run_json(
            "prestart", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "5d", "--deadline", "60s"
        )
    finally:
        holder.kill()
        holder.wait()
    assert rc == 0, env
    gc = next(s for s in env["steps"] if s["name"] == "gc")
    assert gc["status"] == "failed", gc
    assert "sessions.json.lock" in gc["reason"] and str(holder.pid) in gc["reason"], gc["reason"]
    assert state.store_path("main").read_bytes() == before_main
    assert lock.exists(), "a live writer's lock must never be removed"
    assert set(state.read_store("ops")) == {"agent:ops:main", "agent:ops:hook:old"}


@pytest.mark.parametrize(
    ("process_age_s", "since_call_s", "counted_ms"),
    [
        (0.4, 0.1, 400),  # the console script: the interpreter's start-up counts
        (3.0, 0.2, 3000),  # a slow start on a loaded box counts too
        (25.0, 24.0, 10_000),  # a long command: capped at 10 s
        (600.0, 0.5, 500),  # in-process (a test, an embedding program): only this call counts
        (600.0, None, 10_000),  # no CLI call on record: the process's age, capped
    ],
)
def test_the_deadline_counts_this_commands_start_up_not_an_older_process(
    process_age_s: float, since_call_s: float | None, counted_ms: int
) -> None:
    from sessionctl.prestart import command_age_ms

    assert command_age_ms(process_age_s, since_call_s) == counted_ms


def test_an_in_process_call_marks_when_it_began() -> None:
    """What process_age_ms relies on: main() records the start of its call, so an
    in-process prestart counts only its own time, not the age of the test process."""
    from sessionctl.cli import main
    from sessionctl.timeutil import since_invocation_s

    assert main(["--version"]) == 0
    since = since_invocation_s()
    assert since is not None and 0 <= since < 60
