"""`sessionctl gc` end to end: the CLI (in-process; a subprocess where it is killed) on real state dirs.

Dry run changes nothing; apply removes exactly the planned keys and archives exactly
their unreferenced files; other entries stay byte-identical; a write between plan and
apply is preserved; undo restores the tree; busy, invalid and refused cases exit with
their codes and change nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.gc import (
    CRON_JOB,
    CRON_RUN,
    MAIN,
    OLD_DM,
    OLD_TOPIC,
    OPS_HOOK,
    OPS_MAIN,
    RECENT_DM,
    gc_state,
    live_tree,
)
from support.helpers import (
    DAY_MS,
    NOW_ISO,
    NOW_MS,
    StateDir,
    assert_envelope,
    backup_bytes,
    backup_runs,
    clean_env,
    fake_gateway,
    parse_envelope,
    run_cli,
    run_cli_subprocess,
    run_clis,
    run_json,
    start_paused,
    store_bytes,
    tree_snapshot,
)


def gc(state: StateDir, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    return run_json("gc", "--state-dir", str(state.root), "--now", NOW_ISO, *args, env=env)


def run_dir(state: StateDir, run_id: str) -> Path:
    return state.root / "sessionctl" / "runs" / run_id


# ------------------------------------------------------------------ dry run


def test_dry_run_changes_nothing_and_shows_the_plan(state: StateDir) -> None:
    gc_state(state)
    before = tree_snapshot(state.root)
    rc, env, _err = gc(state, "--max-age", "120h", "--dry-run")
    assert rc == 0
    assert_envelope(env, command="gc", exit_code=0)
    assert tree_snapshot(state.root) == before  # bytes, mtimes and modes; no sessionctl/ folder
    assert env["dry_run"] is True and env["run_id"] is None and env["backup"] is None
    removes = sorted(a["key"] for a in env["actions"] if a["type"] == "store.remove")
    assert removes == sorted([OLD_DM, CRON_RUN, OLD_TOPIC, OPS_HOOK])
    assert all(a["state"] == "planned" and "entry" not in a for a in env["actions"])
    by_key = {a["key"]: a for a in env["actions"] if a["type"] == "store.remove"}
    assert by_key[OLD_DM]["reason"] == "max-age 8d1h > 120h"
    assert env["policy"]["source"] == "command line"
    assert env["summary"]["agents"]["main"]["expired"] == 3
    assert env["summary"]["agents"]["main"]["expired_by_rule"] == {"max-age": 3}
    protected = [s for s in env["sessions"] if s["protected"]]
    assert {s["key"] for s in protected} == {MAIN, OPS_MAIN}


def test_dry_run_human_table(state: StateDir) -> None:
    gc_state(state)
    res = run_cli("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--max-age", "120h", "--dry-run")
    assert res.rc == 0, res.stderr
    assert "max-age 8d1h > 120h" in res.stdout
    assert "protected: main key" in res.stdout
    assert OLD_DM in res.stdout
    assert "agent main: 6 entries, 3 kept, would expire 3 (max-age 3), 1 protected" in res.stdout
    assert "dry run: nothing was changed" in res.stdout


# ------------------------------------------------------------------ apply


def test_apply_removes_exactly_the_plan_and_archives_unreferenced_files(state: StateDir) -> None:
    sids = gc_state(state)
    original = state.read_store("main")
    ops_before = state.store_path("ops").read_bytes()
    sdir = state.sessions_dir("main")
    files_before = set(os.listdir(sdir))
    rc, env, err = gc(state, "--max-age", "120h", "--agent", "main")
    assert rc == 0, err
    assert env["dry_run"] is False and env["run_id"]
    # exactly the planned keys are gone; every other entry is byte-identical
    expected = {k: v for k, v in original.items() if k not in (OLD_DM, CRON_RUN, OLD_TOPIC)}
    assert state.store_path("main").read_bytes() == store_bytes(expected)
    assert state.store_path("ops").read_bytes() == ops_before  # --agent main
    assert oct(state.store_path("main").stat().st_mode & 0o777) == "0o600"
    # exactly their unreferenced files were archived, OpenClaw's way
    sid, tsid = sids["old_dm"], sids["topic"]
    moved = {
        f"{sid}.jsonl",
        f"{sid}.jsonl.trajectory.jsonl",
        f"{sid}.checkpoint.2222aaaa.jsonl",
        f"{sid}.acp-stream.jsonl",
        f"{tsid}-topic-7.jsonl",
    }
    after = set(os.listdir(sdir))
    assert files_before - after == moved
    new = after - files_before
    assert len(new) == len(moved)
    stamps = {n.rsplit(".deleted.", 1)[1] for n in new}
    assert len(stamps) == 1
    assert {n.rsplit(".deleted.", 1)[0] for n in new} == moved
    assert f"{sids['cron']}.jsonl" in after  # shared with the kept cron job: not archived
    assert not any(n.endswith(".lock") for n in after)
    # the JSON envelope
    assert_envelope(env, command="gc", exit_code=0)
    assert env["summary"]["agents"]["main"]["archived_files"] == 5
    assert isinstance(env["summary"]["lock_held_ms"], int)
    renames = [a for a in env["actions"] if a["type"] == "file.rename"]
    assert all(a["state"] == "applied" for a in env["actions"])
    assert {Path(a["from"]).name for a in renames} == moved
    # backup: the store as it was and the prompt blob of the removed entry
    rd = run_dir(state, env["run_id"])
    assert env["backup"]["path"] == str(rd)
    kinds = sorted(b["kind"] for b in env["backup"]["files"])
    assert kinds == ["prompt_blob", "store"]
    backup = rd / "backup/agents/main/sessions/sessions.json.zst"
    assert json.loads(backup_bytes(backup)) == original
    journal = json.loads((rd / "journal.json").read_bytes())
    # the journal refers to the (compressed, checksummed) backup for each removed entry
    # instead of copying it: the entry there is the original, unknown fields included
    removed = {a["key"]: a for a in journal["actions"] if a["type"] == "store.remove"}
    assert "entry" not in removed[OLD_DM]
    assert removed[OLD_DM]["entry_in"] == "backup/agents/main/sessions/sessions.json.zst"
    (rec,) = [b for b in journal["backups"] if b["backup"] == removed[OLD_DM]["entry_in"]]
    assert rec["compression"] == "zstd" and rec["sha256"] == hashlib.sha256(backup_bytes(backup)).hexdigest()
    assert json.loads(backup_bytes(backup))[OLD_DM] == original[OLD_DM]
    assert rec["stored_bytes"] == backup.stat().st_size < rec["size"]
    status = json.loads((rd / "status.json").read_bytes())
    assert status["status"] == "done"


def test_undo_brings_the_tree_back(state: StateDir) -> None:
    gc_state(state)
    before = live_tree(state.root)
    rc, env, err = gc(state, "--max-age", "120h")
    assert rc == 0, err
    assert live_tree(state.root) != before
    rc, uenv, err = run_json("undo", env["run_id"], "--state-dir", str(state.root))
    assert rc == 0, err
    assert_envelope(uenv, command="undo", exit_code=0)
    assert uenv["summary"]["skipped"] == 0 and uenv["summary"]["applied"] == len(env["actions"])
    assert live_tree(state.root) == before  # every byte, key order included
    # undo is a run itself: undoing it applies the gc again
    rc, u2, err = run_json("undo", uenv["run_id"], "--state-dir", str(state.root))
    assert rc == 0, err
    assert u2["summary"]["applied"] == len(env["actions"])
    assert OLD_DM not in state.read_store("main")


def test_a_write_between_plan_and_apply_is_preserved(state: StateDir, tmp_path: Path) -> None:
    gc_state(state)
    flag = tmp_path / "go"
    proc = _paused_gc(state, flag, "--max-age", "120h")
    try:
        # the gateway writes meanwhile: touches one planned entry, adds a new one
        store = state.read_store("main")
        store[OLD_DM]["updatedAt"] = NOW_MS
        store["agent:main:telegram:direct:999"] = {"sessionId": "new-one", "updatedAt": NOW_MS}
        state.write_store("main", store)
        written = store
    finally:
        flag.write_text("go")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    env_out = json.loads(out)
    after = state.read_store("main")
    assert after[OLD_DM] == written[OLD_DM]  # touched since planning: skipped, not removed
    assert "agent:main:telegram:direct:999" in after
    assert CRON_RUN not in after and OLD_TOPIC not in after
    acts = {a.get("key"): a for a in env_out["actions"] if a["type"] == "store.remove"}
    assert acts[OLD_DM]["state"] == "skipped"
    assert acts[OLD_DM]["note"] == "entry changed or removed since planning"
    # its files stay: the store as written still references them
    skipped_files = [a for a in env_out["actions"] if a["type"] == "file.rename" and a["state"] == "skipped"]
    assert skipped_files and all("still referenced by" in a["note"] for a in skipped_files)
    assert env_out["status"] == "warning"
    assert env_out["summary"]["agents"]["main"]["skipped"] == 1
    # the edit prepared before the lock was not used: its temp file is gone
    assert not [n for n in os.listdir(state.sessions_dir("main")) if n.endswith(".tmp")]


def test_a_write_between_plan_and_backup_is_journaled_as_written(state: StateDir, tmp_path: Path) -> None:
    """gc plans from slim entries and refers to the store's backup for the entries it
    removes; when the gateway writes between the plan and the backup, the backup is
    not what was planned: each removed entry is journaled verbatim as backed up, one
    whose planned fields changed is skipped, one changed only in a field no rule reads
    still goes — and undo brings the store back byte for byte."""
    gc_state(state)
    flag = tmp_path / "go"
    proc = _paused_gc(state, flag, "--max-age", "120h", point="backup.copy")
    try:
        store = state.read_store("main")
        store[OLD_DM]["updatedAt"] = NOW_MS  # a field the plan read: skipped
        store[OLD_TOPIC]["systemPromptReport"] = {"written": "after the plan"}  # none read: removed
        state.write_store("main", store)
        written = state.store_path("main").read_bytes()
    finally:
        flag.write_text("go")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    env_out = json.loads(out)
    after = state.read_store("main")
    assert after[OLD_DM] == store[OLD_DM]
    assert OLD_TOPIC not in after and CRON_RUN not in after
    acts = {a.get("key"): a for a in env_out["actions"] if a["type"] == "store.remove"}
    assert acts[OLD_DM]["state"] == "skipped"
    assert acts[OLD_DM]["note"] == "entry changed or removed since planning"
    assert acts[OLD_TOPIC]["state"] == "applied"
    journal = json.loads((run_dir(state, env_out["run_id"]) / "journal.json").read_bytes())
    jacts = {a["key"]: a for a in journal["actions"] if a["type"] == "store.remove" and a["agent"] == "main"}
    assert jacts[OLD_TOPIC]["entry"] == store[OLD_TOPIC] and "entry_in" not in jacts[OLD_TOPIC]
    rc, _u, err = run_json("undo", env_out["run_id"], "--state-dir", str(state.root))
    assert rc == 0, err
    assert state.store_path("main").read_bytes() == written


def test_a_reused_read_of_a_store_is_checked_before_gc_trusts_it(state: StateDir) -> None:
    """prestart hands gc its plan's read of each store (RunContext.store_loads) while the
    file's size, mtime and inode are unchanged. Bytes changed in place behind an unchanged
    stat are still caught by the checksums: the entry that changed is not removed on the
    stale read's word, the others are, and the journal holds them as they were."""
    from sessionctl.context import make_context
    from sessionctl.gc import run_gc
    from sessionctl.policy import PolicyOverrides, resolve_policy
    from sessionctl.store import load_store

    gc_state(state)
    path = state.store_path("main")
    ctx = make_context(state_dir=str(state.root), now=NOW_ISO)
    ctx.store_loads = {str(path): load_store(path, plan=True)}
    raw = path.read_bytes()
    st = os.stat(path)
    old = state.read_store("main")[OLD_DM]["updatedAt"]
    at = raw.index(f'"updatedAt": {old}'.encode(), raw.index(f'"{OLD_DM}": {{'.encode()))
    with open(path, "r+b") as f:  # same size, same inode; the mtime is put back below
        f.seek(at)
        f.write(f'"updatedAt": {NOW_MS}'.encode())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert len(str(NOW_MS)) == len(str(old)) and ctx.planned_load(path) is not None  # still offered
    written = state.read_store("main")
    out = run_gc(ctx, resolve_policy(ctx, PolicyOverrides(max_age="120h")), dry_run=False)
    after = state.read_store("main")
    assert after[OLD_DM] == written[OLD_DM] and after[OLD_DM]["updatedAt"] == NOW_MS
    assert CRON_RUN not in after and OLD_TOPIC not in after
    acts = {a["key"]: a for a in out.actions if a["type"] == "store.remove" and a["agent"] == "main"}
    assert acts[OLD_DM]["state"] == "skipped" and acts[OLD_TOPIC]["state"] == "applied"
    journal = json.loads((Path(str(out.run_dir)) / "journal.json").read_bytes())
    jacts = {a["key"]: a for a in journal["actions"] if a["type"] == "store.remove" and a["agent"] == "main"}
    assert jacts[OLD_TOPIC]["entry"] == written[OLD_TOPIC]


# ------------------------------------------------------------------ busy, invalid, refused


def test_store_lock_held_by_a_live_process_is_busy(state: StateDir) -> None:
    gc_state(state)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = state.sessions_dir("main") / "sessions.json.lock"
        from support.helpers import iso

        from sessionctl.locks import proc_starttime

        body = {"pid": holder.pid, "createdAt": iso(time.time_ns() // 1_000_000)}
        st = proc_starttime(holder.pid)
        if st is not None:
            body["starttime"] = st
        lock.write_text(json.dumps(body))
        before = live_tree(state.root)
        rc, env, _err = gc(state, "--max-age", "120h", "--lock-timeout", "1s")
    finally:
        holder.kill()
        holder.wait()
    assert rc == 75
    assert env["errors"][0]["code"] == "busy"
    assert f"pid {holder.pid}" in env["errors"][0]["message"]
    assert live_tree(state.root) == before
    assert not (state.root / "sessionctl" / "runs").exists() or not os.listdir(state.root / "sessionctl/runs")


@pytest.fixture
def gateway(state: StateDir) -> Any:
    """A process that looks like a running gateway of this state dir (argv contains
    `openclaw gateway`, OPENCLAW_STATE_DIR points here)."""
    proc = fake_gateway(state.root)
    yield proc
    proc.kill()
    proc.wait()


def test_a_running_gateway_is_refused_and_nothing_changes(state: StateDir, gateway: Any) -> None:
    gc_state(state)
    before = live_tree(state.root)
    rc, env, _err = gc(state, "--max-age", "120h")
    assert rc == 75
    assert f"pid {gateway.pid}" in env["errors"][0]["message"]
    assert "--force-online" in env["errors"][0]["hint"]
    assert live_tree(state.root) == before
    rc, env, err = gc(state, "--max-age", "120h", "--force-online")
    assert rc == 0, err
    assert OLD_DM not in state.read_store("main")


def test_an_unparseable_store_stops_gc_before_any_change(state: StateDir) -> None:
    gc_state(state)
    state.store_path("ops").write_bytes(b'{"agent:ops:main": {')
    before = live_tree(state.root)
    rc, env, _err = gc(state, "--max-age", "120h")
    assert rc == 65
    assert "gc never cleans a store it cannot parse" in env["errors"][0]["message"]
    assert env["errors"][0]["hint"] == "run `sessionctl repair --only store --agent ops` first"
    assert live_tree(state.root) == before


def test_an_agent_gc_would_empty_is_left_alone_and_the_others_are_cleaned(state: StateDir) -> None:
    state.add_session("ops", "agent:ops:hook:1", updated_at=NOW_MS - 9 * DAY_MS)
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - 9 * DAY_MS)
    state.add_session("main", "agent:main:hook:2", updated_at=NOW_MS - 9 * DAY_MS)
    ops_before = state.store_path("ops").read_bytes()
    ops_files = sorted(p.name for p in state.sessions_dir("ops").iterdir())
    rc, env, err = gc(state, "--idle", "1d")
    # done, with a refused agent: neither 0 (all clean) nor 65 (nothing done)
    assert rc == 10, err
    assert env["status"] == "warning" and env["exit_code"] == 10 and env["errors"] == []
    assert env["refused_agents"] == ["ops"]
    assert [(f["check"], f["severity"], f["agent"]) for f in env["findings"]] == [
        ("gc.agent_refused", "warning", "ops")
    ]
    assert "--allow-empty" in env["findings"][0]["fix"]
    assert env["summary"]["agents"]["ops"]["refused"].startswith("agent ops: the policy would expire all 1")
    assert state.store_path("ops").read_bytes() == ops_before
    assert sorted(p.name for p in state.sessions_dir("ops").iterdir()) == ops_files
    assert set(state.read_store("main")) == {"agent:main:main"}
    assert {a["agent"] for a in env["actions"]} == {"main"}
    assert "agent ops: the policy would expire all 1 of its sessions; the agent is left untouched" in err
    # the human view says so too
    r = run_cli("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--idle", "1d", "--dry-run")
    assert r.rc == 10
    assert "ops" in r.stdout and "kept: it would empty agent ops" in r.stdout
    # a dry run plans the same and exits the same
    rc, env, _err = gc(state, "--idle", "1d", "--dry-run")
    assert rc == 10 and env["dry_run"] is True and env["refused_agents"] == ["ops"]
    rc, env, err = gc(state, "--idle", "1d", "--allow-empty")
    assert rc == 0, err
    assert state.read_store("ops") == {}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--max-age", "5"], "has no unit"),
        (["--max-age", "5m"], "'m' is ambiguous; write 'min'"),
        (["--idle", "3 fortnights"], "unknown unit"),
        # every limit off on the command line: the message says so (not "no session.maintenance")
        (["--max-age", "off"], "the command line turned every limit off"),
        (["--max-age", "1d", "--kind", "cron"], "unknown kind"),
        (["--max-age", "1d", "--no-archive-backup"], "only makes sense with --archive-retention"),
        (["--max-age", "1d", "--keep-runs", "0"], "--keep-runs must be at least 1"),
    ],
)
def test_usage_errors_exit_64(state: StateDir, args: list[str], says: str) -> None:
    gc_state(state)
    before = live_tree(state.root)
    rc, env, _err = gc(state, *args)
    assert rc == 64
    assert says in env["errors"][0]["message"]
    assert live_tree(state.root) == before


def test_bad_config_exits_78(state: StateDir) -> None:
    gc_state(state)
    (state.root / "sessionctl.toml").write_text('[gc]\nidle = "5"\n')
    rc, env, _err = gc(state)
    assert rc == 78
    assert "[gc] idle" in env["errors"][0]["message"]


def test_openclaw_maintenance_policy_is_used_and_named(state: StateDir) -> None:
    gc_state(state)
    cfg = json.loads((state.root / "openclaw.json").read_text())
    cfg["session"] = {"maintenance": {"pruneAfter": "5d", "maxEntries": 500}}
    state.write_config(cfg)
    res = run_cli("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--dry-run")
    assert res.rc == 0, res.stderr
    assert "source: openclaw.json session.maintenance (pruneAfter → idle 5d, maxEntries 500)" in res.stdout
    assert "using OpenClaw's own session.maintenance" in res.stderr


# ------------------------------------------------------------------ archives, runs, bindings


def test_archive_retention_moves_old_archives_into_the_run(state: StateDir) -> None:
    gc_state(state)
    old = state.sessions_dir("main") / "gone.jsonl.deleted.2026-03-01T00-00-00.000Z"
    rc, env, err = gc(state, "--max-age", "120h", "--archive-retention", "30d")
    assert rc == 0, err
    assert not old.exists()
    moved = run_dir(state, env["run_id"]) / "moved" / old.relative_to(state.root)
    assert moved.read_bytes() == b'{"old":1}\n'
    assert env["summary"]["agents"]["main"]["archives_purged"] == 1
    rc, _u, err = run_json("undo", env["run_id"], "--state-dir", str(state.root))
    assert rc == 0, err
    assert old.read_bytes() == b'{"old":1}\n'


def test_no_archive_backup_really_deletes_and_undo_says_it_cannot(state: StateDir) -> None:
    gc_state(state)
    old = state.sessions_dir("main") / "gone.jsonl.deleted.2026-03-01T00-00-00.000Z"
    rc, env, err = gc(state, "--max-age", "120h", "--archive-retention", "30d", "--no-archive-backup")
    assert rc == 0, err
    assert not old.exists()
    assert not (run_dir(state, env["run_id"]) / "moved").exists()
    journal = json.loads((run_dir(state, env["run_id"]) / "journal.json").read_bytes())
    deletes = [a for a in journal["actions"] if a["type"] == "file.delete"]
    assert [d["path"] for d in deletes] == [str(old.relative_to(state.root))]
    rc, u, _err = run_json("undo", env["run_id"], "--state-dir", str(state.root))
    assert rc == 0 and u["status"] == "warning"
    conflict = [a for a in u["actions"] if a["type"] == "conflict"]
    assert conflict[0]["note"] == "was deleted without a backup; cannot be restored"
    assert OLD_DM in state.read_store("main")  # the rest was undone


def test_keep_runs_prunes_old_run_folders_but_never_the_newest(state: StateDir) -> None:
    gc_state(state)
    ids = backup_runs(state, 3)
    rc, env, err = gc(state, "--max-age", "120h", "--keep-runs", "2")
    assert rc == 0, err
    assert sorted(env["summary"]["pruned_runs"]) == ids[:2]
    left = sorted(os.listdir(state.root / "sessionctl" / "runs"))
    assert left == [ids[2], env["run_id"]]


def test_gc_and_backup_keep_the_newest_20_runs_unless_told_otherwise(state: StateDir) -> None:
    """Without --keep-runs/--keep-within or their [gc] keys, backup and gc keep the newest
    20 run folders (the default prestart has always had); sessionctl.toml overrides it
    for backup too; runs kept past the default by an explicit option are never counted
    away by a dry run."""
    gc_state(state)
    runs = state.root / "sessionctl" / "runs"
    ids = []
    made = run_clis(*[["backup", "--state-dir", str(state.root), "--keep-runs", "100", "--json"]] * 21)
    for res in made:
        assert res.rc == 0, res.stderr
        ids.append(parse_envelope(res)["run_id"])
    rc, env, err = gc(state, "--max-age", "120h", "--dry-run")
    assert rc == 0, err
    assert len(os.listdir(runs)) == 21  # a dry run prunes nothing
    rc, env, err = run_json("backup", "--state-dir", str(state.root))
    assert rc == 0, err
    assert sorted(env["pruned_runs"]) == ids[:2]  # 22 runs, the newest 20 kept
    assert sorted(os.listdir(runs)) == sorted([*ids[2:], env["run_id"]])
    rc, env, err = gc(state, "--max-age", "120h")
    assert rc == 0, err
    assert env["policy"]["keep_runs"] == 20
    assert env["summary"]["pruned_runs"] == [ids[2]]
    (state.root / "sessionctl.toml").write_text("[gc]\nkeep-runs = 3\n")
    rc, env, err = run_json("backup", "--state-dir", str(state.root))
    assert rc == 0, err
    assert len(env["pruned_runs"]) == 18
    assert len(os.listdir(runs)) == 3


def test_bindings_of_removed_sessions_go_and_tokens_never_show(state: StateDir) -> None:
    gc_state(state)
    token = "SECRET-webhook-token-123"
    bfile = state.write_discord_bindings(
        {
            "default:1": {"threadId": "1", "targetSessionKey": OLD_DM, "agentId": "main", "boundAt": NOW_MS,
                          "lastActivityAt": NOW_MS, "webhookToken": token},
            "default:2": {"threadId": "2", "targetSessionKey": RECENT_DM, "agentId": "main", "boundAt": NOW_MS,
                          "lastActivityAt": NOW_MS, "webhookToken": token},
            "default:3": {"threadId": "3", "targetSessionKey": CRON_JOB, "agentId": "main",
                          "boundAt": NOW_MS - 3 * DAY_MS, "lastActivityAt": NOW_MS - 3 * DAY_MS,
                          "idleTimeoutMs": DAY_MS, "webhookToken": token},
        }
    )  # fmt: skip
    original = bfile.read_bytes()
    rc, env, err = gc(state, "--max-age", "120h")
    assert rc == 0, err
    left = json.loads(bfile.read_bytes())
    assert sorted(left["bindings"]) == ["default:2"]
    assert left["bindings"]["default:2"]["webhookToken"] == token  # kept bindings keep their fields
    res = run_cli("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--max-age", "120h", "-v")
    assert token not in json.dumps(env) and token not in err and token not in res.stdout + res.stderr
    reasons = sorted(
        b["reason"] for a in env["actions"] if a["type"] == "file.rewrite" for b in a["removed_bindings"]
    )
    assert reasons == ["expired: idle for 3d (limit 1d)", "its session is removed by this gc run"]
    rc, _u, err = run_json("undo", env["run_id"], "--state-dir", str(state.root))
    assert rc == 0, err
    assert bfile.read_bytes() == original


def test_nothing_to_do_creates_no_run(state: StateDir) -> None:
    gc_state(state)
    rc, env, err = gc(state, "--max-age", "365d")
    assert rc == 0, err
    assert env["run_id"] is None and env["actions"] == []
    assert not (state.root / "sessionctl" / "runs").exists()


# ------------------------------------------------------------------ crashes


def test_killed_before_the_store_edit_leaves_the_state_intact(state: StateDir) -> None:
    gc_state(state)
    before = live_tree(state.root)
    res = run_cli_subprocess(
        "gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--max-age", "120h",
        env=clean_env(SESSIONCTL_FAULT="kill:gc.before_apply"),
    )  # fmt: skip
    assert res.rc == -9
    assert live_tree(state.root) == before
    rc, runs, _ = run_json("runs", "--state-dir", str(state.root))
    assert rc == 0
    assert [r["state"] for r in runs["runs"]] == ["interrupted"]


def test_killed_between_the_store_edit_and_the_archives_is_undone(state: StateDir) -> None:
    gc_state(state)
    before = live_tree(state.root)
    res = run_cli_subprocess(
        "gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--max-age", "120h",
        env=clean_env(SESSIONCTL_FAULT="kill:gc.archive:2"),
    )  # fmt: skip
    assert res.rc == -9
    assert OLD_DM not in state.read_store("main")  # the store edit happened
    rc, runs, _ = run_json("runs", "--state-dir", str(state.root))
    assert rc == 0
    rid = runs["runs"][0]["run_id"]
    assert runs["runs"][0]["state"] == "interrupted"
    res = run_cli("undo", rid, "--state-dir", str(state.root))
    assert res.rc == 0, res.stderr
    assert f"left behind by the interrupted run {rid}" in res.stderr
    assert live_tree(state.root) == before


# ------------------------------------------------------------------ partial runs


def _paused_gc(
    state: StateDir, flag: Path, *args: str, point: str = "gc.before_apply"
) -> subprocess.Popen[str]:
    return start_paused(["gc", "--state-dir", str(state.root), "--now", NOW_ISO, *args], point, flag)


def _binding_file(state: StateDir, targets: dict[str, str]) -> Path:
    bindings = {
        f"default:{tid}": {"threadId": tid, "targetSessionKey": key, "agentId": key.split(":")[1],
                           "boundAt": NOW_MS, "lastActivityAt": NOW_MS}
        for tid, key in targets.items()
    }  # fmt: skip
    return state.write_discord_bindings(bindings)


def test_a_store_busy_during_apply_keeps_its_sessions_and_their_bindings(
    state: StateDir, tmp_path: Path
) -> None:
    sids = gc_state(state)
    bfile = _binding_file(state, {"1": OLD_DM, "2": OPS_HOOK})
    ops_before = state.store_path("ops").read_bytes()
    flag = tmp_path / "go"
    proc = _paused_gc(state, flag, "--max-age", "120h", "--lock-timeout", "1s")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from support.helpers import iso

        lock = state.sessions_dir("ops") / "sessions.json.lock"
        lock.write_text(json.dumps({"pid": holder.pid, "createdAt": iso(time.time_ns() // 1_000_000)}))
        flag.write_text("go")
        out, err = proc.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 75, err
    env = json.loads(out)
    assert f"pid {holder.pid}" in env["errors"][0]["message"]
    assert state.store_path("ops").read_bytes() == ops_before
    assert (state.sessions_dir("ops") / f"{sids['ops_hook']}.jsonl").exists()
    assert OLD_DM not in state.read_store("main")  # the other store went ahead
    left = json.loads(bfile.read_bytes())["bindings"]
    assert sorted(left) == ["default:2"]  # the binding of the kept ops session stays
    rewrite = next(a for a in env["actions"] if a["type"] == "file.rewrite")
    assert [b["target_session_key"] for b in rewrite["removed_bindings"]] == [OLD_DM]
    journal = json.loads((run_dir(state, env["run_id"]) / "journal.json").read_bytes())
    assert (
        next(a for a in journal["actions"] if a["type"] == "file.rewrite")["after_sha256"]
        == rewrite["after_sha256"]
    )
    rc, _u, uerr = run_json("undo", env["run_id"], "--state-dir", str(state.root))
    assert rc == 0, uerr
    assert sorted(json.loads(bfile.read_bytes())["bindings"]) == ["default:1", "default:2"]


def test_a_binding_stays_when_its_session_changed_since_planning(state: StateDir, tmp_path: Path) -> None:
    gc_state(state)
    bfile = _binding_file(state, {"1": OLD_DM})
    before = bfile.read_bytes()
    flag = tmp_path / "go"
    proc = _paused_gc(state, flag, "--max-age", "120h")
    try:
        store = state.read_store("main")
        store[OLD_DM]["updatedAt"] = NOW_MS
        state.write_store("main", store)
    finally:
        flag.write_text("go")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert bfile.read_bytes() == before
    rewrite = next(a for a in json.loads(out)["actions"] if a["type"] == "file.rewrite")
    assert (rewrite["state"], rewrite["note"]) == ("skipped", "their sessions were not removed")


def test_another_sessionctl_run_is_busy(state: StateDir) -> None:
    gc_state(state)
    (state.root / "sessionctl").mkdir()
    code = (
        "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
        "print('ok', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(state.root / "sessionctl" / ".lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        before = live_tree(state.root)
        rc, env, _err = gc(state, "--max-age", "120h", "--lock-timeout", "1s")
    finally:
        holder.kill()
        holder.wait()
    assert rc == 75 and "another sessionctl run" in env["errors"][0]["message"]
    assert live_tree(state.root) == before


def test_an_unknown_agent_is_reported(state: StateDir) -> None:
    gc_state(state)
    res = run_cli(
        "gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--max-age", "120h", "--agent", "nosuch"
    )
    assert res.rc == 0
    assert "agent nosuch: no such agent in openclaw.json or on disk" in res.stderr
    assert "nothing to do" in res.stdout


def test_killed_inside_the_critical_section_changes_nothing_and_undo_cleans_up(state: StateDir) -> None:
    gc_state(state)
    before = live_tree(state.root)
    res = run_cli_subprocess(
        "gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--max-age", "120h",
        env=clean_env(SESSIONCTL_FAULT="kill:store.locked"),
    )  # fmt: skip
    assert res.rc == -9
    sdir = state.sessions_dir("main")
    assert state.store_path("main").read_bytes() == before["agents/main/sessions/sessions.json"]
    leftovers = sorted(n for n in os.listdir(sdir) if n.endswith((".lock", ".tmp")))
    assert sorted(n.split(".")[-1] for n in leftovers) == ["lock", "tmp"]  # its lock and its prepared edit
    rc, runs, _ = run_json("runs", "--state-dir", str(state.root))
    assert rc == 0
    rid = runs["runs"][0]["run_id"]
    res = run_cli("undo", rid, "--state-dir", str(state.root))
    assert res.rc == 0, res.stderr
    assert live_tree(state.root) == before
    # and gc works again afterwards
    rc, env, err = gc(state, "--max-age", "120h")
    assert rc == 0, err
    assert env["summary"]["agents"]["main"]["expired"] == 3
    assert OLD_DM not in state.read_store("main")
