"""Nothing is lost, at the edges too: option values, symlinks, shared backup folders,
swaps between plan and apply, crafted journals, far timestamps, disk full after the
journal, killed repairs, modes — each through the real CLI on real files.

One test (or a few) per way live data could be deleted or replaced; docs/reliability.md
(§14) lists them with the guarantee each proves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.gc import OLD_DM, gc_state, live_tree
from support.helpers import (
    NOW_ISO,
    NOW_MS,
    StateDir,
    backup_runs,
    clean_env,
    dead_pid,
    make_entry,
    run_cli,
    run_cli_subprocess,
    run_json,
    run_json_subprocess,
    start_paused,
    tree_snapshot,
)

DAY = 86_400_000


def sd(state: StateDir) -> list[str]:
    return ["--state-dir", str(state.root), "--now", NOW_ISO]


def new_state(tmp_path: Path, name: str) -> StateDir:
    root = tmp_path / name
    (root / "agents").mkdir(parents=True)
    return StateDir(Path(os.path.realpath(root)))


def runs_dir(state: StateDir) -> Path:
    return state.root / "sessionctl" / "runs"


def run_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- 1, 8: the one path check


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("root", "contains the state dir"),
        ("agents", "live data"),
        ("agents/main", "live data"),
        ("parent", "contains the state dir"),
        ("discord", "live data"),
        ("sessionctl/runs/20260101T000000.000Z-abcdef", "runs folder"),
    ],
)
def test_backup_dir_may_not_be_or_hold_live_data(
    state: StateDir, tmp_path: Path, where: str, why: str
) -> None:
    """Item 1: a --backup-dir naming the state dir, agents/ or a folder holding the state
    dir is refused before anything happens (retention there would delete live agents)."""
    gc_state(state)
    (state.root / "discord").mkdir()
    target = {"root": state.root, "parent": state.root.parent}.get(where, state.root / where)
    before = live_tree(state.root)
    for args in (
        ["backup", "--keep-runs", "1"],
        ["gc", "--max-age", "120h", "--keep-runs", "1"],
        ["repair"],
        ["archive"],
        ["dedupe"],
        ["undo", "20260501T120000.000Z-abcdef"],
        ["restore", "20260501T120000.000Z-abcdef"],
        ["runs"],
    ):
        where_args = ["--state-dir", str(state.root)] if args == ["runs"] else sd(state)
        rc, env, err = run_json(*args, *where_args, "--backup-dir", str(target))
        assert rc == 64, (args, rc, err)
        assert why in env["errors"][0]["message"], (args, env["errors"])
    assert live_tree(state.root) == before
    assert not runs_dir(state).exists()


def test_backup_dir_under_sessionctls_own_folder_or_outside_is_fine(state: StateDir, tmp_path: Path) -> None:
    gc_state(state)
    for target in (state.root / "sessionctl" / "elsewhere", tmp_path / "backups"):
        rc, env, err = run_json("backup", *sd(state), "--backup-dir", str(target))
        assert rc == 0, err
        assert (target / env["run_id"] / "meta.json").is_file()


def test_a_symlink_in_a_path_option_is_refused(state: StateDir, tmp_path: Path) -> None:
    gc_state(state)
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    rc, env, _ = run_json("backup", *sd(state), "--backup-dir", str(link / "runs"))
    assert rc == 64 and "symbolic link" in env["errors"][0]["message"]
    rc, env, _ = run_json("archive", *sd(state), "--to", str(link))
    assert rc == 64 and "symbolic link" in env["errors"][0]["message"]
    assert list(real.iterdir()) == []


@pytest.mark.parametrize(
    "where",
    [
        "agents/main/sessions/sessions.json",
        "agents/main/sessions/metrics.prom",
        "openclaw.json",
        "health.prom",
    ],
)
def test_health_output_never_replaces_live_data(state: StateDir, where: str) -> None:
    """Item 8: `health --output` goes through the same path check: metrics never
    replace a store (or anything of the state dir's live data)."""
    gc_state(state)
    before = live_tree(state.root)
    res = run_cli("health", *sd(state), "--format", "prometheus", "--output", str(state.root / where))
    assert res.rc == 64, res  # a usage error (health's own codes are for checks that ran)
    assert "--output" in res.stderr
    assert live_tree(state.root) == before


def test_health_output_in_sessionctls_folder_or_outside_works(state: StateDir, tmp_path: Path) -> None:
    gc_state(state)
    for out in (state.root / "sessionctl" / "health.prom", tmp_path / "textfile" / "sessionctl.prom"):
        out.parent.mkdir(parents=True, exist_ok=True)
        res = run_cli("health", *sd(state), "--format", "prometheus", "--output", str(out))
        assert res.rc in (0, 1, 2), res
        assert b"sessionctl_health_status" in out.read_bytes()


def test_unknown_metrics_are_not_written_over_a_store_either(tmp_path: Path) -> None:
    """health cannot even find its state dir: the UNKNOWN metrics it still writes go
    through the path check too (a sessions folder of a state dir it could not find)."""
    other = new_state(tmp_path, "real")
    other.add_session("main", "agent:main:main")
    store = other.store_path("main")
    raw = store.read_bytes()
    res = run_cli(
        "health", "--state-dir", str(tmp_path / "nope"), "--format", "prometheus", "--output", str(store)
    )
    assert res.rc == 3
    assert store.read_bytes() == raw


# ---------------------------------------------------------------- 2, 3: retention and markers


def test_retention_deletes_only_this_state_dirs_marked_runs(state: StateDir) -> None:
    """Item 2: folders of the runs folder without sessionctl's marker — an operator's
    archive, notes, one named like a run, one that sorts last — are never deleted and
    never count as "the newest run"."""
    gc_state(state)
    ids = backup_runs(state, 3)
    root = runs_dir(state)
    foreign = {
        "2019-family-archive": b"photos",
        "0-notes": b"notes",
        "zzzz-sorts-last": b"last",
        "20200101T000000.000Z-abcdef": b"looks like a run",  # a run id, no marker
        "20200102T000000.000Z-abcdef": b"",  # a run id, meta.json of someone else
    }
    for name, data in foreign.items():
        (root / name).mkdir()
        (root / name / "keep.txt").write_bytes(data)
    (root / "20200102T000000.000Z-abcdef" / "meta.json").write_text('{"run_id": "other"}')
    rc, env, err = run_json("backup", *sd(state), "--keep-runs", "2")
    assert rc == 0, err
    assert sorted(env["pruned_runs"]) == sorted(ids[:2])
    left = run_names(root)
    assert left == sorted([*foreign, ids[2], env["run_id"]])
    for name, data in foreign.items():
        assert (root / name / "keep.txt").read_bytes() == data
    rc, listing, _ = run_json("runs", "--state-dir", str(state.root))
    assert [r["run_id"] for r in listing["runs"]] == [ids[2], env["run_id"]]


@pytest.mark.parametrize("which", ["sessionctl", "sessionctl/runs"])
def test_a_symlinked_sessionctl_folder_is_never_followed(state: StateDir, tmp_path: Path, which: str) -> None:
    """Item 3: `<state>/sessionctl` or `sessionctl/runs` as a symlink: no run folder
    (with its full store copies) is written to the target, retention deletes nothing
    there — prestart included, which runs retention on every gateway start."""
    gc_state(state)
    target = tmp_path / "target"
    (target / "runs" / "precious").mkdir(parents=True)
    (target / "runs" / "precious" / "data.txt").write_bytes(b"keep me")
    (target / "precious").mkdir()
    link = state.root / which
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target if which == "sessionctl" else target / "runs", target_is_directory=True)
    before_target = tree_snapshot(target)
    before = live_tree(state.root)
    for args in (["backup", "--keep-runs", "1"], ["gc", "--max-age", "120h", "--keep-runs", "1"], ["repair"]):
        rc, env, err = run_json(*args, *sd(state))
        assert rc == 65, (args, rc, err)
        assert "symbolic link" in env["errors"][0]["message"], env["errors"]
    rc, env, err = run_json("prestart", *sd(state), "--max-age", "120h", "--keep-runs", "1")
    assert rc == 0, err  # its unit policy: every store is still valid
    assert env["status"] != "ok"
    assert tree_snapshot(target) == before_target
    assert live_tree(state.root) == before


def test_a_run_folder_is_marked_before_it_gets_its_name(state: StateDir) -> None:
    gc_state(state)
    rc, env, err = run_json("backup", *sd(state))
    assert rc == 0, err
    meta = json.loads((runs_dir(state) / env["run_id"] / "meta.json").read_bytes())
    assert meta["format"] == "sessionctl-run" and meta["schema_version"] == 2
    assert meta["run_id"] == env["run_id"] and meta["state_dir"] == str(state.root)
    assert meta["state_id"] == (state.root / "sessionctl" / "state-id").read_text().strip()
    assert not [p for p in runs_dir(state).iterdir() if p.name.startswith(".")]


def test_retention_spares_a_run_in_progress_and_removes_only_dead_partials(state: StateDir) -> None:
    """The suspected case: retention of one process pruning a run another process is
    still writing. A run without status.json whose process lives is kept however old;
    a `.<run-id>.partial` left by a killed Run.start is removed once its process is
    gone, one of a living process and a hidden folder without the marker are not."""
    gc_state(state)
    ids = backup_runs(state, 3)
    root = runs_dir(state)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        running = root / ids[0]
        (running / "status.json").unlink()
        meta = json.loads((running / "meta.json").read_bytes())
        (running / "meta.json").write_text(json.dumps({**meta, "pid": sleeper.pid}))
        partials = {}
        for pid, rid in (
            (dead_pid(), "20200101T000000.000Z-aaaaaa"),
            (sleeper.pid, "20200101T000000.000Z-bbbbbb"),
        ):
            p = root / f".{rid}.partial"
            p.mkdir()
            (p / "meta.json").write_text(json.dumps({**meta, "run_id": rid, "pid": pid}))
            partials[rid] = p
        unmarked = root / ".20200101T000000.000Z-cccccc.partial"
        unmarked.mkdir()
        (unmarked / "keep.txt").write_bytes(b"not sessionctl's")
        rc, env, err = run_json("backup", *sd(state), "--keep-runs", "1")
        assert rc == 0, err
        assert sorted(env["pruned_runs"]) == sorted(ids[1:])
        assert running.is_dir() and (running / "journal.json").is_file()
        assert not partials["20200101T000000.000Z-aaaaaa"].exists()
        assert partials["20200101T000000.000Z-bbbbbb"].is_dir()
        assert (unmarked / "keep.txt").read_bytes() == b"not sessionctl's"
    finally:
        sleeper.kill()
        sleeper.wait()


# ---------------------------------------------------------------- 7: runs bound to their state dir


def test_runs_in_a_shared_backup_dir_stay_with_their_state_dir(tmp_path: Path) -> None:
    """Item 7 and the suspected cross-pruning: two state dirs sharing a --backup-dir.
    B's run is refused for A (undo, restore), A's repair never restores A's store from
    B's backup, and A's retention never deletes B's runs."""
    shared = tmp_path / "shared"
    a, b = new_state(tmp_path, "a"), new_state(tmp_path, "b")
    for st, tag in ((a, "a"), (b, "b")):
        st.write_store(
            "main",
            {
                f"agent:main:telegram:direct:{tag}{i}": make_entry(updated_at=NOW_MS - 9 * DAY)
                for i in range(3)
            },
        )
    bd = ["--backup-dir", str(shared)]
    # B's runs and A's first come from other processes, as they would
    rc, benv, err = run_json_subprocess("backup", *sd(b), *bd)
    assert rc == 0, err
    rc, bgc, err = run_json_subprocess("gc", *sd(b), *bd, "--max-age", "5d", "--allow-empty")
    assert rc == 0, err
    a_before = live_tree(a.root)
    for args in (["undo", bgc["run_id"]], ["restore", benv["run_id"]], ["undo", "--dry-run", bgc["run_id"]]):
        rc, env, err = run_json(*args, *sd(a), *bd)
        assert rc == 65, (args, rc, err)
        assert "belongs to the state dir" in env["errors"][0]["message"]
    assert live_tree(a.root) == a_before
    # A's store breaks: its only backups in the shared folder are B's
    a.write_store("main", b'{\n  "agent:main:telegram:direct:a0": {')
    rc, env, err = run_json("repair", *sd(a), *bd, "--only", "store")
    assert rc == 65, (rc, err)
    assert env["actions"] == [] and "no backup" in env["errors"][0]["message"]
    assert b"direct:b" not in a.store_path("main").read_bytes()
    # A's retention: B's two runs stay
    rc, aenv, err = run_json_subprocess("backup", *sd(a), *bd, "--keep-runs", "1")
    assert rc == 0, err
    rc, aenv2, err = run_json("backup", *sd(a), *bd, "--keep-runs", "1")
    assert rc == 0, err
    assert aenv2["pruned_runs"] == [aenv["run_id"]]
    assert set(run_names(shared)) == {benv["run_id"], bgc["run_id"], aenv2["run_id"]}
    rc, listing, _ = run_json("runs", "--state-dir", str(a.root), *bd)
    states = {r["run_id"]: r["state"] for r in listing["runs"]}
    assert states == {benv["run_id"]: "foreign", bgc["run_id"]: "foreign", aenv2["run_id"]: "done"}
    # and B still undoes its own run
    rc, env, err = run_json("undo", bgc["run_id"], *sd(b), *bd)
    assert rc == 0, err


# ---------------------------------------------------------------- 10: a swap between plan and apply


@pytest.mark.parametrize("command", ["gc", "undo"])
def test_a_sessions_folder_swapped_for_a_symlink_after_planning_is_not_followed(
    state: StateDir, tmp_path: Path, command: str
) -> None:
    """Item 10: between plan and apply the sessions folder becomes a symlink to a copy
    outside the state dir: no store is rewritten and no file renamed there."""
    gc_state(state)
    args = ["gc", *sd(state), "--max-age", "120h"]
    point = "gc.before_apply"
    if command == "undo":
        rc, genv, err = run_json(*args)
        assert rc == 0, err
        args, point = ["undo", genv["run_id"], "--state-dir", str(state.root)], "undo.before_apply"
    flag = tmp_path / "go"
    proc = start_paused(args, point, flag)
    outside = tmp_path / "outside" / "sessions"
    try:
        outside.parent.mkdir()
        shutil.move(str(state.sessions_dir("main")), str(outside))
        state.sessions_dir("main").symlink_to(outside, target_is_directory=True)
        before = tree_snapshot(outside.parent)
    finally:
        flag.write_text("go")
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 65, (proc.returncode, err)
    assert "symbolic link" in err
    assert tree_snapshot(outside.parent) == before, "a write went through the symlink"


# ---------------------------------------------------------------- 11: crafted journals


def _gc_run(state: StateDir) -> tuple[dict[str, Any], Path]:
    gc_state(state)
    rc, env, err = run_json("gc", *sd(state), "--max-age", "120h", "--archive-retention", "30d")
    assert rc == 0, err
    return env, runs_dir(state) / env["run_id"]


def _craft(run: Path, edit: Any) -> None:
    path = run / "journal.json"
    journal = json.loads(path.read_bytes())
    edit(journal)
    path.write_text(json.dumps(journal))


def _first(journal: dict[str, Any], t: str) -> dict[str, Any]:
    return next(a for a in journal["actions"] if a["type"] == t)


CRAFTS = {
    "rename-from-dotdot": lambda j: _first(j, "file.rename").update(
        {"from": "../../../outside/victim.jsonl"}
    ),
    "rename-to-absolute": lambda j: _first(j, "file.rename").update({"to": "/tmp/victim"}),
    "moved-escapes-the-run": lambda j: _first(j, "file.move").update(
        {"moved": "../../../../../../etc/hostname"}
    ),
    "store-in-sessionctl": lambda j: _first(j, "store.remove").update({"store": "sessionctl/state-id"}),
    "backup-escapes-the-run": lambda j: j["backups"][0].update({"backup": "../../../../etc/passwd"}),
    "lock-dotdot": lambda j: _first(j, "file.rename").update({"lock": "agents/main/../../../x"}),
    "unknown-action": lambda j: j["actions"].append({"id": 99, "type": "shell.exec", "path": "x"}),
}


@pytest.mark.parametrize("craft", sorted(CRAFTS))
def test_undo_refuses_a_crafted_journal_before_touching_anything(
    state: StateDir, tmp_path: Path, craft: str
) -> None:
    """Item 11: every journal path is checked against the run's state dir and run
    folder before anything is planned: `../` and absolute paths, a `moved` copy outside
    the run, sessionctl's own files — the undo is refused as a whole (65)."""
    env, run = _gc_run(state)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.jsonl").write_bytes(b"victim")
    _craft(run, CRAFTS[craft])
    before, before_out = live_tree(state.root), tree_snapshot(outside)
    for dry in ([], ["--dry-run"]):
        rc, uenv, err = run_json("undo", *dry, env["run_id"], "--state-dir", str(state.root))
        assert rc == 65, (craft, rc, err)
        assert "its journal is not valid" in uenv["errors"][0]["message"]
    assert live_tree(state.root) == before
    assert tree_snapshot(outside) == before_out
    assert run_names(runs_dir(state)) == [env["run_id"]]  # no undo run was even made


def test_a_crafted_copy_source_outside_the_runs_folder_is_refused(state: StateDir) -> None:
    """An undo run's journal whose copy-back names /etc/hostname: undoing it refuses."""
    env, _run = _gc_run(state)
    rc, uenv, err = run_json("undo", env["run_id"], "--state-dir", str(state.root))
    assert rc == 0, err
    undo_run = runs_dir(state) / uenv["run_id"]
    _craft(undo_run, lambda j: _first(j, "file.copy_in").update({"source": "/etc/hostname"}))
    before = live_tree(state.root)
    rc, env2, err = run_json("undo", uenv["run_id"], "--state-dir", str(state.root))
    assert rc == 65 and "its journal is not valid" in env2["errors"][0]["message"], err
    assert live_tree(state.root) == before


# ---------------------------------------------------------------- 6: cross-agent references


def test_gc_of_one_agent_keeps_a_transcript_another_agents_live_entry_uses(state: StateDir) -> None:
    """Item 6: `gc --agent main` must not archive a transcript that an `ops` entry still
    references through its sessionFile (as gc without --agent already does not)."""
    old = NOW_MS - 9 * DAY
    sid = state.add_session("main", "agent:main:telegram:direct:1", updated_at=old)
    state.add_session("main", "agent:main:main", updated_at=NOW_MS)
    shared = state.sessions_dir("main") / f"{sid}.jsonl"
    state.add_session("ops", "agent:ops:main", updated_at=NOW_MS, transcript=False, sessionFile=str(shared))
    raw = shared.read_bytes()
    for scope in (["--agent", "main"], []):
        rc, env, err = run_json("gc", *sd(state), "--max-age", "5d", *scope, "--dry-run")
        assert rc == 0, err
        assert not [a for a in env["actions"] if a["type"] == "file.rename"], (scope, env["actions"])
    rc, env, err = run_json("gc", *sd(state), "--max-age", "5d", "--agent", "main")
    assert rc == 0, err
    assert [a["key"] for a in env["actions"] if a["type"] == "store.remove"] == [
        "agent:main:telegram:direct:1"
    ]
    assert shared.read_bytes() == raw
    assert not [p for p in state.sessions_dir("main").iterdir() if ".deleted." in p.name]


# ---------------------------------------------------------------- 9: linear journals, bounded output


def test_undo_journal_and_output_grow_linearly(state: StateDir) -> None:
    """Item 9: the undo of a gc of N entries records the store's key order once, not
    once per re-inserted entry; its JSON and human output stay small per action."""
    n = 1500
    store = {f"agent:main:telegram:direct:{i:05d}": make_entry(updated_at=NOW_MS - 9 * DAY) for i in range(n)}
    store["agent:main:main"] = make_entry(updated_at=NOW_MS)
    state.write_store("main", store)
    raw = state.store_path("main").read_bytes()
    rc, env, err = run_json("gc", *sd(state), "--max-age", "5d")
    assert rc == 0, err
    gc_journal = (runs_dir(state) / env["run_id"] / "journal.json").stat().st_size
    res = run_cli("undo", env["run_id"], "--state-dir", str(state.root), "--json")
    assert res.rc == 0, res.stderr
    uenv = json.loads(res.stdout)
    assert state.store_path("main").read_bytes() == raw
    journal_path = runs_dir(state) / uenv["run_id"] / "journal.json"
    assert journal_path.stat().st_size < 2 * gc_journal  # the quadratic one was ~n/3 times bigger
    assert len(res.stdout) < 400 * n
    journal = json.loads(journal_path.read_bytes())
    assert journal["schema_version"] == 2
    assert list(journal["orders"]) == ["agents/main/sessions/sessions.json"]
    assert not [a for a in journal["actions"] if "order" in a]
    human = run_cli("undo", uenv["run_id"], "--state-dir", str(state.root))
    assert human.rc == 0, human.stderr
    assert len(human.stdout.splitlines()) < 60 and "more" in human.stdout


# ---------------------------------------------------------------- 13: timestamps past year 9999


def test_timestamps_beyond_pythons_dates_are_read_as_javascript_reads_them(state: StateDir) -> None:
    """Item 13: a session started after year 9999 (a valid JS date): dedupe and health
    report normally, with JavaScript's extended-year ISO strings."""
    far = 3 * 10**14  # 11476-08-15
    store = {}
    for i in range(25):
        store[f"agent:main:explicit:dyad-coord-{1714400000000 + i}-k{i}"] = make_entry(
            updated_at=far + i, sessionStartedAt=far + i, lastInteractionAt=far + i
        )
    store["agent:main:telegram:direct:1"] = make_entry(updated_at=9 * 10**15, sessionStartedAt=9 * 10**15)
    state.write_store("main", store)
    rc, env, err = run_json("dedupe", *sd(state), "--storms", "--min", "2", "--dry-run")
    assert rc == 0, err
    (storm,) = env["storms"]
    assert storm["first_started"] == "+011476-08-15T05:20:00.000Z"
    rc, env, err = run_json("health", *sd(state))
    assert rc in (1, 2), err
    (f,) = [f for f in env["findings"] if f["check"] == "sessions.spawn_storm"]
    assert f["data"]["window_start"] == "+011476-08-15T05:20:00.000Z"
    rc, env, err = run_json("dedupe", *sd(state), "--storms", "--min", "2")
    assert rc == 0, err


# ---------------------------------------------------------------- 16: disk full after the journal


def _trace_points(state: StateDir, tmp_path: Path, args: list[str]) -> list[tuple[str, str]]:
    copy = tmp_path / "traced"
    shutil.copytree(state.root, copy, symlinks=True)
    trace = tmp_path / "trace.log"
    res = run_cli(*args, "--state-dir", str(copy), env=clean_env(SESSIONCTL_FAULT_TRACE=str(trace)))
    assert res.rc == 0, res.stderr
    shutil.rmtree(copy)
    out = []
    for line in trace.read_text().splitlines():
        parts = line.split(" ", 3)
        out.append((parts[0], parts[3].replace(str(copy), str(state.root)) if len(parts) > 3 else ""))
    return out


def test_disk_full_after_the_journal_never_says_applied_and_names_file_step_and_run(
    state: StateDir, tmp_path: Path
) -> None:
    """Item 16: the store write fails (prepared temp and the write under the lock): the
    run says `failed` with nothing applied, the stores hold every entry, the error names
    the run id, the step and the file, and the envelope keeps state_dir."""
    gc_state(state)
    args = ["gc", "--now", NOW_ISO, "--max-age", "120h"]
    points = _trace_points(state, tmp_path, args)
    writes = [
        i
        for i, (name, path) in enumerate(points)
        if name == "atomic.write" and path.endswith("sessions.json")
    ]
    n_write = [name for name, _ in points[: writes[0] + 1]].count("atomic.write")
    fault = f"enospc:atomic.write:{n_write + 1},enospc:atomic.write:{n_write}"  # both writes of the store
    before = {a: state.read_store(a) for a in ("main", "ops")}
    res = run_cli(*args, "--state-dir", str(state.root), "--json", env=clean_env(SESSIONCTL_FAULT=fault))
    assert res.rc == 74, res.stderr
    envelope = json.loads(res.stdout)
    assert envelope["state_dir"] == str(state.root) and envelope["now"] == NOW_ISO
    (line,) = [ln for ln in res.stderr.splitlines() if ln.startswith("sessionctl: error:")]
    (run_id,) = run_names(runs_dir(state))
    assert f"gc run {run_id}" in line, line
    assert "editing the store agents/" in line and "sessions.json" in line, line
    assert "No space left on device" in line
    assert {a: state.read_store(a) for a in ("main", "ops")} == before
    status = json.loads((runs_dir(state) / run_id / "status.json").read_bytes())
    assert status["status"] == "failed"
    assert not [r for r in status["results"] if r["state"] == "applied"], status["results"]
    _rc, listing, _ = run_json("runs", "--state-dir", str(state.root))
    assert listing["runs"][0]["applied"] == 0


@pytest.mark.parametrize(("command", "point"), [("gc", "backup.copy"), ("backup", "copy.write")])
def test_disk_full_before_the_journal_leaves_no_half_made_run_folder(
    state: StateDir, command: str, point: str
) -> None:
    """The suspected case: ENOSPC while backing up (before the journal) used to leave a
    run folder with half its copies."""
    gc_state(state)
    before = live_tree(state.root)
    args = [command, *sd(state)] + (["--max-age", "120h"] if command == "gc" else [])
    res = run_cli(*args, "--json", env=clean_env(SESSIONCTL_FAULT=f"enospc:{point}:2"))
    assert res.rc == 74, res.stderr
    assert run_names(runs_dir(state)) == []
    assert live_tree(state.root) == before
    assert "(nothing was changed)" in res.stderr, res.stderr


# ---------------------------------------------------------------- 17: a killed repair


def test_undo_of_a_killed_repair_removes_its_lock_and_reports_nothing_false(state: StateDir) -> None:
    """Item 17: repair killed while rewriting a transcript leaves `<transcript>.lock`
    with its dead pid: undo removes it (provably stale, ours), and does not call the
    rewrite that never happened "changed since the run"."""
    sid = state.add_session("main", "agent:main:telegram:direct:1")
    state.add_session("main", "agent:main:main")
    path = state.sessions_dir("main") / f"{sid}.jsonl"
    data = path.read_bytes() + b'{"type":"message","id":"0000009'
    path.write_bytes(data)
    res = run_cli_subprocess(
        "repair", *sd(state), "--only", "transcripts", env=clean_env(SESSIONCTL_FAULT="kill:rewrite.write")
    )
    assert res.rc == -9, res
    lock = path.with_name(path.name + ".lock")
    assert lock.exists()
    (run_id,) = run_names(runs_dir(state))
    rc, env, err = run_json("undo", run_id, "--state-dir", str(state.root))
    assert rc == 0, err
    assert not lock.exists()
    assert "changed since the run" not in err and env["status"] == "ok", (err, env["actions"])
    assert path.read_bytes() == data


# ---------------------------------------------------------------- 18: modes come back


def test_files_moved_into_a_run_come_back_with_their_mode(state: StateDir) -> None:
    """Item 18: an archive (0644) moved into the run by retention, and a prompt blob
    (0640) restored from a backup, come back with their own mode, not 0600."""
    gc_state(state)
    sdir = state.sessions_dir("main")
    archive = next(p for p in sdir.iterdir() if ".deleted." in p.name)
    archive.chmod(0o644)
    rc, env, err = run_json("gc", *sd(state), "--max-age", "120h", "--archive-retention", "30d")
    assert rc == 0, err
    assert not archive.exists()
    rc, _u, err = run_json("undo", env["run_id"], "--state-dir", str(state.root))
    assert rc == 0, err
    assert archive.stat().st_mode & 0o777 == 0o644
    blob = next(sdir.glob("skills-prompts/sha256/*/*.txt"))
    blob.chmod(0o640)
    rc, benv, err = run_json("backup", *sd(state))
    assert rc == 0, err
    blob.unlink()
    store = state.read_store("main")
    store.pop(OLD_DM)
    state.write_store("main", store)
    rc, _r, err = run_json("restore", benv["run_id"], *sd(state))
    assert rc == 0, err
    assert blob.stat().st_mode & 0o777 == 0o640


# ---------------------------------------------------------------- SQLite-era runs: the same rules


def _sqlite_state(tmp_path: Path, name: str, n: int) -> tuple[StateDir, Path]:
    from support.sqlite_fixture import AgentDbBuilder

    st = new_state(tmp_path, name)
    b = AgentDbBuilder(st.root, "main", now_ms=NOW_MS)
    for i in range(n):
        b.add_session(f"agent:main:telegram:direct:{name}{i}", updated_at=NOW_MS - DAY)
    b.conn.close()
    return st, b.path


def _sessions_in(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM session_nodes").fetchone()[0])
    finally:
        conn.close()


def test_sqlite_era_runs_are_marked_bound_and_their_journals_checked(tmp_path: Path) -> None:
    """Run folders holding agent databases (backup, restore) carry the same marker and
    binding: another state dir's database backup in a shared --backup-dir is never
    restored and never pruned; a journal whose database paths leave their place is
    refused before anything is planned."""
    shared = tmp_path / "shared"
    bd = ["--backup-dir", str(shared)]
    a, a_db = _sqlite_state(tmp_path, "a", 2)
    b, _b_db = _sqlite_state(tmp_path, "b", 3)
    # B's run and A's first come from other processes (see above)
    rc, benv, err = run_json_subprocess("backup", *sd(b), *bd)
    assert rc == 0, err
    meta = json.loads((shared / benv["run_id"] / "meta.json").read_bytes())
    assert meta["format"] == "sessionctl-run" and meta["state_dir"] == str(b.root)
    assert meta["state_id"] == (b.root / "sessionctl" / "state-id").read_text().strip()
    assert [f["kind"] for f in benv["backup"]["files"]] == ["sqlite"]
    a_raw = a_db.read_bytes()
    for args in (["restore", benv["run_id"]], ["restore", "--dry-run", benv["run_id"]]):
        rc, env, err = run_json(*args, *sd(a), *bd)
        assert rc == 65 and "belongs to the state dir" in env["errors"][0]["message"], (args, rc, err)
    assert a_db.read_bytes() == a_raw and _sessions_in(a_db) == 2
    rc, aenv, err = run_json_subprocess("backup", *sd(a), *bd, "--keep-runs", "1")
    assert rc == 0, err
    rc, aenv2, err = run_json("backup", *sd(a), *bd, "--keep-runs", "1")
    assert rc == 0, err
    assert aenv2["pruned_runs"] == [aenv["run_id"]]
    assert set(run_names(shared)) == {benv["run_id"], aenv2["run_id"]}
    # A's own restore works, and is itself an undoable run with its own marker
    rc, renv, err = run_json("restore", aenv2["run_id"], *sd(a), *bd)
    assert rc == 0, err
    assert json.loads((shared / renv["run_id"] / "meta.json").read_bytes())["state_dir"] == str(a.root)
    # crafted journals: a database backup record of a live file, a restore whose
    # target or source leaves its place
    backup_crafts = {
        "backup-of-a-store": lambda j: j["backups"][0].update({"path": "agents/main/sessions/sessions.json"}),
        "backup-outside-the-run": lambda j: j["backups"][0].update({"backup": "../../../etc/passwd"}),
    }
    restore_crafts = {
        "restore-path-dotdot": lambda j: _first(j, "sqlite.restore").update(
            {"path": "agents/main/agent/../../../../victim.sqlite"}
        ),
        "restore-path-not-a-database": lambda j: _first(j, "sqlite.restore").update(
            {"path": "openclaw.json"}
        ),
        "restore-source-outside": lambda j: _first(j, "sqlite.restore").update({"source": "/etc/hostname"}),
    }
    for crafts, run_id, command in (
        (backup_crafts, aenv2["run_id"], "restore"),
        (restore_crafts, renv["run_id"], "undo"),
    ):
        path = shared / run_id / "journal.json"
        pristine = path.read_bytes()
        for name, edit in crafts.items():
            _craft(shared / run_id, edit)
            before = live_tree(a.root)
            rc, env, err = run_json(command, run_id, *sd(a), *bd)
            assert rc == 65, (name, rc, err)
            assert "its journal is not valid" in env["errors"][0]["message"], (name, env["errors"])
            assert live_tree(a.root) == before
            path.write_bytes(pristine)


def test_an_agent_folder_swapped_for_a_symlink_before_a_database_restore_is_not_followed(
    state: StateDir, tmp_path: Path
) -> None:
    """SQLite opens a database by path: right before the restore writes it, the path is
    verified from / without following a symlink, so a swap since planning redirects
    nothing (the copy outside keeps its bytes)."""
    from support.sqlite_fixture import AgentDbBuilder

    b = AgentDbBuilder(state.root, "main", now_ms=NOW_MS)
    b.add_session("agent:main:main", updated_at=NOW_MS - DAY)
    b.conn.close()
    rc, benv, err = run_json("backup", *sd(state))
    assert rc == 0, err
    flag = tmp_path / "go"
    proc = start_paused(["restore", benv["run_id"], *sd(state)], "restore.before_apply", flag)
    outside = tmp_path / "outside" / "agent"
    try:
        outside.parent.mkdir()
        shutil.move(str(b.path.parent), str(outside))
        b.path.parent.symlink_to(outside, target_is_directory=True)
        before = tree_snapshot(outside.parent)
    finally:
        flag.write_text("go")
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 65, (proc.returncode, err)
    assert "symbolic link" in err and "restore run" in err
    assert tree_snapshot(outside.parent) == before, "the restore wrote through the symlink"


def test_archive_and_dedupe_keep_files_while_another_agents_references_are_unknown(state: StateDir) -> None:
    """Item 6's class in the other commands that archive by reference: while one
    agent's store cannot be read, one of its entries may use any folder's file through
    an absolute sessionFile — archive finds no orphan and dedupe archives no
    transcript (the duplicate entry itself still goes), as gc does."""
    old = NOW_MS - 9 * DAY
    sid = "0a0a0a0a-0000-4000-8000-000000000001"
    state.add_session("main", "agent:main:main", updated_at=NOW_MS)
    orphan = state.sessions_dir("main") / f"{sid}.jsonl"
    orphan.write_bytes(b'{"type":"session","version":3,"id":"' + sid.encode() + b'"}\n')
    os.utime(orphan, (time.time() - 86_400, time.time() - 86_400))
    state.add_session("ops", "agent:ops:main", updated_at=NOW_MS)
    state.add_session("ops", "agent:ops:telegram:direct:1", updated_at=old)
    ops_store = state.store_path("ops")
    ops_raw = ops_store.read_bytes()
    ops_store.write_bytes(ops_raw[:-40])  # cut: a sessionFile into main's folder may be in it
    rc, env, err = run_json("archive", *sd(state), "--dry-run")
    assert rc == 0, err
    assert not [a for a in env["actions"] if a["check"] == "orphan"], env["actions"]
    assert [k["check"] for k in env["kept"] if k["path"].endswith(orphan.name)] == [
        "orphan.references_unknown"
    ]
    # dedupe: main and qa hold the same peer; ops is unreadable
    dup_sid = state.add_session("qa", "agent:qa:telegram:direct:42", updated_at=old)
    state.add_session("qa", "agent:qa:main", updated_at=NOW_MS)
    state.add_session("main", "agent:main:telegram:direct:42", updated_at=NOW_MS)
    rc, env, err = run_json("dedupe", *sd(state), "--keep", "newest", "--dry-run")
    assert rc == 0, err
    removed = [a["key"] for a in env["actions"] if a["type"] == "store.remove"]
    assert removed == ["agent:qa:telegram:direct:42"], env["actions"]
    assert not [a for a in env["actions"] if a["type"] == "file.rename"], env["actions"]
    kept = [k for k in env["kept"] if k["check"] == "transcript.references_unknown"]
    assert [k["path"] for k in kept] == [f"agents/qa/sessions/{dup_sid}.jsonl"], env["kept"]
    ops_store.write_bytes(ops_raw)  # readable again: both go ahead
    rc, env, err = run_json("archive", *sd(state), "--dry-run")
    assert rc == 0, err
    assert [a["from"] for a in env["actions"] if a["check"] == "orphan"] == [
        f"agents/main/sessions/{orphan.name}"
    ]
