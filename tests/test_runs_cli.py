"""`backup`, `runs` and `restore` end to end (the CLI in-process, real files)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from support.gc import OLD_DM, OPS_HOOK, RECENT_DM, gc_state, live_tree
from support.helpers import (
    NOW_ISO,
    NOW_MS,
    StateDir,
    assert_envelope,
    backup_bytes,
    backup_runs,
    make_entry,
    run_cli,
    run_json,
    store_bytes,
    tree_snapshot,
    write_backup_bytes,
)
from support.repair import Sleeper, lock_payload


def sd(state: StateDir) -> list[str]:
    return ["--state-dir", str(state.root)]


def _bindings(state: StateDir) -> Path:
    p = state.root / "telegram" / "thread-bindings-default.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"version": 1, "bindings": []}))
    return p


# ------------------------------------------------------------------ backup + runs


def test_backup_copies_stores_blobs_and_bindings_and_changes_nothing_else(state: StateDir) -> None:
    gc_state(state)
    bfile = _bindings(state)
    before = live_tree(state.root)
    rc, env, err = run_json("backup", *sd(state))
    assert rc == 0, err
    assert_envelope(env, command="backup", exit_code=0)
    assert live_tree(state.root) == before
    files = {b["path"]: b for b in env["backup"]["files"]}
    blob = next(p for p in files if "skills-prompts" in p)
    assert files[blob]["kind"] == "prompt_blob"
    assert files["agents/main/sessions/sessions.json"]["kind"] == "store"
    assert files["agents/ops/sessions/sessions.json"]["kind"] == "store"
    assert files[str(bfile.relative_to(state.root))]["kind"] == "binding"
    rd = Path(env["backup"]["path"])
    for rel, b in files.items():
        copy = backup_bytes(rd / b["backup"])
        assert (b.get("compression") == "zstd") == (b["kind"] == "store")
        assert copy == (state.root / rel).read_bytes()
        assert hashlib.sha256(copy).hexdigest() == b["sha256"]
        assert oct((rd / b["backup"]).stat().st_mode & 0o777) == "0o600"
    journal = json.loads((rd / "journal.json").read_bytes())
    assert journal["command"] == "backup" and journal["actions"] == []
    rc, runs, _ = run_json("runs", *sd(state))
    assert rc == 0
    (row,) = runs["runs"]
    assert (row["run_id"], row["command"], row["state"], row["actions"]) == (
        env["run_id"],
        "backup",
        "done",
        0,
    )
    assert row["bytes"] > 0 and row["started_at"].endswith("Z")


def test_backup_of_one_agent_leaves_out_the_others_and_the_bindings(state: StateDir) -> None:
    gc_state(state)
    _bindings(state)
    rc, env, err = run_json("backup", *sd(state), "--agent", "ops")
    assert rc == 0, err
    assert [b["path"] for b in env["backup"]["files"]] == ["agents/ops/sessions/sessions.json"]


def test_backup_copies_a_store_that_does_not_parse_and_warns(state: StateDir) -> None:
    gc_state(state)
    state.store_path("ops").write_bytes(b'{"agent:ops:main": ')
    rc, env, err = run_json("backup", *sd(state))
    assert rc == 0
    assert "agent ops: store copied as it is, but it does not parse" in err
    assert "agents/ops/sessions/sessions.json" in [b["path"] for b in env["backup"]["files"]]


def test_runs_human_list_and_errors_for_unknown_runs(state: StateDir) -> None:
    gc_state(state)
    res = run_cli("runs", *sd(state))
    assert res.rc == 0 and "no runs in" in res.stdout
    rc, env, _ = run_json("backup", *sd(state))
    res = run_cli("runs", *sd(state))
    assert env["run_id"] in res.stdout and "backup" in res.stdout
    rc, env, _ = run_json("undo", "20260101T000000.000Z-000000", *sd(state))
    assert rc == 66 and "no run 20260101T000000.000Z-000000" in env["errors"][0]["message"]
    for command in ("restore", "undo"):  # the message names the argument, as usage errors do
        rc, env, _ = run_json(command, "../etc", *sd(state))
        assert rc == 64
        assert env["errors"][0]["message"].startswith("RUN_ID '../etc': not a run id")
    state.write_store("main", b"{")  # repair --from looks for the run only for a damaged store
    rc, env, _ = run_json("repair", "--only", "store", "--from", "../etc", *sd(state))
    assert rc == 64 and env["errors"][0]["message"].startswith("--from '../etc': not a run id")


def test_backup_dir_elsewhere_and_never_inside_a_sessions_folder(state: StateDir, tmp_path: Path) -> None:
    gc_state(state)
    other = tmp_path / "backups"
    rc, env, err = run_json(
        "gc", *sd(state), "--now", NOW_ISO, "--max-age", "120h", "--backup-dir", str(other)
    )
    assert rc == 0, err
    assert (other / env["run_id"] / "journal.json").is_file()
    assert not (state.root / "sessionctl" / "runs").exists()
    rc, runs, _ = run_json("runs", *sd(state), "--backup-dir", str(other))
    assert [r["run_id"] for r in runs["runs"]] == [env["run_id"]]
    rc, _u, err = run_json("undo", env["run_id"], *sd(state), "--backup-dir", str(other))
    assert rc == 0, err
    assert OLD_DM in state.read_store("main")
    inside = state.sessions_dir("main") / "bk"
    rc, env, _ = run_json("backup", *sd(state), "--backup-dir", str(inside))
    assert rc == 64 and "inside the sessions folder" in env["errors"][0]["message"]


def test_backup_keep_runs(state: StateDir) -> None:
    gc_state(state)
    ids = backup_runs(state, 3)
    rc, env, _ = run_json("backup", *sd(state), "--keep-runs", "2")
    assert rc == 0
    assert sorted(env["pruned_runs"]) == ids[:2]
    assert sorted(os.listdir(state.root / "sessionctl" / "runs")) == [ids[2], env["run_id"]]


@pytest.mark.parametrize("interrupted", [False, True], ids=["finished", "interrupted"])
@pytest.mark.parametrize("second", [["backup"], ["gc", "--max-age", "120h"]], ids=["backup", "gc"])
def test_a_run_of_an_earlier_call_in_the_same_process_is_pruned(
    state: StateDir, second: list[str], interrupted: bool
) -> None:
    """Two calls of main() in one process share its pid: the second call's retention
    prunes the first call's run all the same (finished, or left without status.json by a
    call that ended), only the runs of the call running now are its own."""
    gc_state(state)
    root = state.root / "sessionctl" / "runs"
    rc, first, err = run_json("backup", *sd(state), "--keep-runs", "1")
    assert rc == 0, err
    if interrupted:
        (root / first["run_id"] / "status.json").unlink()
    rc, env, err = run_json(*second, *sd(state), "--keep-runs", "1")
    assert rc == 0, err
    pruned = env["pruned_runs"] if second[0] == "backup" else env["summary"]["pruned_runs"]
    assert pruned == [first["run_id"]]
    assert os.listdir(root) == [env["run_id"]]


def test_a_run_in_progress_in_another_live_process_is_kept(state: StateDir) -> None:
    """Retention never deletes a run another process is still making (no status.json,
    its pid alive), however many newer runs there are; that process's finished run goes."""
    gc_state(state)
    root = state.root / "sessionctl" / "runs"
    ids = backup_runs(state, 2)
    other = Sleeper()
    try:
        for rid in ids:
            meta = json.loads((root / rid / "meta.json").read_bytes())
            (root / rid / "meta.json").write_text(json.dumps({**meta, "pid": other.pid}))
        (root / ids[0] / "status.json").unlink()  # ids[0] is still being made by `other`
        rc, env, err = run_json("backup", *sd(state), "--keep-runs", "1")
        assert rc == 0, err
        assert env["pruned_runs"] == [ids[1]]
        assert sorted(os.listdir(root)) == sorted([ids[0], env["run_id"]])
        assert (root / ids[0] / "journal.json").is_file()
    finally:
        other.stop()


# ------------------------------------------------------------------ restore


def _gateway_writes(state: StateDir) -> None:
    store = state.read_store("main")
    store[RECENT_DM]["updatedAt"] = NOW_MS
    store["agent:main:telegram:direct:777"] = {"sessionId": "n1", "updatedAt": NOW_MS}
    state.write_store("main", store)


def test_restore_puts_whole_stores_back_and_can_be_undone(state: StateDir) -> None:
    gc_state(state)
    rc, bk, _ = run_json("backup", *sd(state))
    backed_up = state.store_path("main").read_bytes()
    ops_before = state.store_path("ops").read_bytes()
    rc, _g, err = run_json("gc", *sd(state), "--now", NOW_ISO, "--max-age", "120h")
    assert rc == 0, err
    _gateway_writes(state)
    modified = state.store_path("main").read_bytes()
    ops_after_gc = state.store_path("ops").read_bytes()
    snap = tree_snapshot(state.root)
    # dry run: the diff, nothing changed
    rc, dry, err = run_json("restore", bk["run_id"], *sd(state), "--dry-run")
    assert rc == 0, err
    assert tree_snapshot(state.root) == snap
    diffs = {a["agent"]: a["diff"] for a in dry["actions"] if a["type"] == "file.restore"}
    assert diffs["main"] == {"entries_now": 4, "entries_after": 6, "come_back": 3, "go_away": 1, "change": 1}
    # apply: byte-identical to the backup
    rc, env, err = run_json("restore", bk["run_id"], *sd(state), "--agent", "main")
    assert rc == 0, err
    assert state.store_path("main").read_bytes() == backed_up
    assert state.store_path("ops").read_bytes() == ops_after_gc != ops_before  # not selected
    assert oct(state.store_path("main").stat().st_mode & 0o777) == "0o600"
    assert env["run_id"] and env["summary"]["applied"] == 1
    # the store it replaced is in the restore run's backup; undo puts it back
    rc, _u, err = run_json("undo", env["run_id"], *sd(state))
    assert rc == 0, err
    assert state.store_path("main").read_bytes() == modified


def test_restore_of_identical_stores_does_nothing(state: StateDir) -> None:
    gc_state(state)
    rc, bk, _ = run_json("backup", *sd(state))
    rc, env, err = run_json("restore", bk["run_id"], *sd(state))
    assert rc == 0, err
    assert env["run_id"] is None and env["actions"] == []


def test_restore_refuses_a_backup_that_does_not_parse_or_was_altered(state: StateDir) -> None:
    gc_state(state)
    state.store_path("ops").write_bytes(b'{"agent:ops:main": ')
    rc, bk, _ = run_json("backup", *sd(state))
    state.write_store("ops", {OPS_HOOK: {"sessionId": "h1", "updatedAt": NOW_MS}})  # a good store again
    before = live_tree(state.root)
    rc, env, _ = run_json("restore", bk["run_id"], *sd(state))
    assert rc == 65
    assert "does not parse" in env["errors"][0]["message"]
    assert live_tree(state.root) == before
    # the main store's copy is fine, but tampering is noticed
    rc, bk2, _ = run_json("backup", *sd(state), "--agent", "main")
    copy = Path(bk2["backup"]["path"]) / "backup/agents/main/sessions/sessions.json.zst"
    write_backup_bytes(copy, backup_bytes(copy).replace(b"telegram", b"TELEGRAM"))
    state.add_session("main", "agent:main:direct:new")
    rc, env, _ = run_json("restore", bk2["run_id"], *sd(state))
    assert rc == 65 and "does not match its recorded checksum" in env["errors"][0]["message"]


# ------------------------------------------------------------------ undo/restore: backups are checked


def _restored_then_undo_source(state: StateDir) -> tuple[dict[str, Any], Path, bytes]:
    """backup, gc, a gateway write, restore: returns the restore run's envelope, its backup
    of the store it overwrote (what undo would write back) and the store as restored."""
    gc_state(state)
    rc, bk, err = run_json("backup", *sd(state))
    assert rc == 0, err
    rc, _g, err = run_json("gc", *sd(state), "--now", NOW_ISO, "--max-age", "120h")
    assert rc == 0, err
    _gateway_writes(state)
    rc, env, err = run_json("restore", bk["run_id"], *sd(state), "--agent", "main")
    assert rc == 0, err
    copy = (
        state.root / "sessionctl" / "runs" / env["run_id"] / "backup/agents/main/sessions/sessions.json.zst"
    )
    return env, copy, state.store_path("main").read_bytes()


def _undo_skips(state: StateDir, run_id: str, restored: bytes, note: str) -> None:
    before = live_tree(state.root)
    rc, u, err = run_json("undo", run_id, *sd(state))
    assert rc == 0, err
    assert u["status"] == "warning" and u["summary"]["applied"] == 0
    (act,) = [a for a in u["actions"] if a["type"] == "file.restore"]
    assert act["state"] == "skipped" and note in act["note"] and "nothing was changed" in act["note"]
    assert state.store_path("main").read_bytes() == restored
    assert live_tree(state.root) == before


def test_undo_never_writes_a_store_backup_that_no_longer_matches_its_checksum(state: StateDir) -> None:
    env, copy, restored = _restored_then_undo_source(state)
    write_backup_bytes(copy, backup_bytes(copy).replace(b"telegram", b"TELEGRAM"))  # bit rot, tampering
    _undo_skips(state, env["run_id"], restored, "does not match the checksum its run recorded")


def test_undo_never_writes_a_store_backup_that_does_not_parse(state: StateDir) -> None:
    env, copy, restored = _restored_then_undo_source(state)
    write_backup_bytes(copy, b'{"agent:main:main": {"sessionId": ')
    # a journal without the backup's checksum: only the parse check stands in the way
    jpath = copy.parents[4] / "journal.json"
    journal = json.loads(jpath.read_bytes())
    for b in journal["backups"]:
        b.pop("sha256", None)
    jpath.write_text(json.dumps(journal))
    _undo_skips(state, env["run_id"], restored, "is not a readable store")


def test_restore_and_undo_of_a_store_with_a_custom_name_use_its_lock_and_mode(state: StateDir) -> None:
    state.write_config(
        {"agents": {"list": [{"id": "main"}]}, "session": {"store": "stores/{agentId}/store.json"}}
    )
    store = state.root / "stores" / "main" / "store.json"
    store.parent.mkdir(parents=True)
    backed_up = store_bytes({"agent:main:main": make_entry("s1"), "agent:main:direct:1": make_entry("s2")})
    store.write_bytes(backed_up)
    store.chmod(0o600)
    rc, bk, err = run_json("backup", *sd(state))
    assert rc == 0, err
    later = store_bytes({"agent:main:main": make_entry("s3", NOW_MS)})
    store.write_bytes(later)
    store.chmod(0o644)
    # a live writer holds the store's own lock (store.json.lock): restore waits, then gives up
    sleeper = Sleeper()
    lock = store.parent / "store.json.lock"
    try:
        lock.write_bytes(lock_payload(sleeper.pid, starttime=sleeper.starttime()))
        rc, env, err = run_json("restore", bk["run_id"], *sd(state), "--lock-timeout", "1s")
        assert rc == 75, (rc, err)
        assert store.read_bytes() == later
    finally:
        sleeper.stop()
        lock.unlink()
    rc, env, err = run_json("restore", bk["run_id"], *sd(state))
    assert rc == 0, err
    assert store.read_bytes() == backed_up
    assert oct(store.stat().st_mode & 0o777) == "0o600"  # a store is always written 0600
    journal = json.loads((state.root / "sessionctl" / "runs" / env["run_id"] / "journal.json").read_bytes())
    assert [(b["path"], b["kind"]) for b in journal["backups"]] == [("stores/main/store.json", "store")]
    rc, _u, err = run_json("undo", env["run_id"], *sd(state))
    assert rc == 0, err
    assert store.read_bytes() == later and oct(store.stat().st_mode & 0o777) == "0o600"


def test_runs_reports_the_bytes_of_all_run_folders_and_health_warns_when_they_grow(state: StateDir) -> None:
    gc_state(state)
    rc, bk, err = run_json("backup", *sd(state))
    assert rc == 0, err
    rc, runs, _ = run_json("runs", *sd(state))
    assert rc == 0 and runs["total_bytes"] == sum(r["bytes"] for r in runs["runs"]) > 0
    rc, health, _ = run_json("health", *sd(state))
    assert "runs.large" not in {f["check"] for f in health["findings"]}
    # a run folder of 6 GiB (a sparse file: its size counts, it costs no disk)
    with open(Path(bk["backup"]["path"]) / "backup" / "big", "wb") as f:
        f.truncate(6 << 30)
    rc, runs, _ = run_json("runs", *sd(state))
    assert runs["total_bytes"] > 6 << 30
    rc, health, _ = run_json("health", *sd(state))
    (f,) = [f for f in health["findings"] if f["check"] == "runs.large"]
    assert f["severity"] == "warning" and f["data"]["largest"]["run_id"] == bk["run_id"]
    assert f["data"]["bytes"] == runs["total_bytes"] and "GiB" in f["message"]
    # health's JSON always carries the total, the largest and the oldest run folder
    rc, bk2, err = run_json("backup", *sd(state))
    assert rc == 0, err
    rc, health, _ = run_json("health", *sd(state))
    assert health["runs"]["count"] == 2 and health["runs"]["bytes"] > 6 << 30
    assert health["runs"]["largest"]["run_id"] == bk["run_id"]
    assert health["runs"]["largest"]["bytes"] > 6 << 30
    assert health["runs"]["oldest"] == bk["run_id"] < bk2["run_id"]
