"""`undo`: exact restoration, never clobbering what changed since, itself a run; and the
key-order merge it relies on (runs.restore_order)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.gc import CRON_RUN, OLD_DM, OLD_TOPIC, gc_state, live_tree
from support.helpers import (
    NOW_ISO,
    NOW_MS,
    StateDir,
    clean_env,
    fake_gateway,
    run_cli,
    run_json,
    store_bytes,
    tree_snapshot,
)

from sessionctl.action_types import JournalAction
from sessionctl.actions import apply_actions
from sessionctl.runs import Run, restore_order


def sd(state: StateDir) -> list[str]:
    return ["--state-dir", str(state.root)]


def _gc(state: StateDir) -> dict[str, Any]:
    rc, env, err = run_json("gc", *sd(state), "--now", NOW_ISO, "--max-age", "120h")
    assert rc == 0, err
    return env


def test_undo_dry_run_changes_nothing(state: StateDir) -> None:
    gc_state(state)
    env = _gc(state)
    snap = tree_snapshot(state.root)
    rc, dry, err = run_json("undo", env["run_id"], *sd(state), "--dry-run")
    assert rc == 0, err
    assert tree_snapshot(state.root) == snap
    assert dry["run_id"] is None and dry["dry_run"] is True
    assert {a["type"] for a in dry["actions"]} == {"store.insert", "file.rename"}
    assert all(a["state"] == "planned" for a in dry["actions"])
    assert all("entry" not in a for a in dry["actions"])


def test_undo_never_clobbers_an_entry_recreated_since(state: StateDir) -> None:
    sids = gc_state(state)
    env = _gc(state)
    # the gateway starts a new session under the same key, writing a new transcript
    store = state.read_store("main")
    store[OLD_DM] = {"sessionId": "fresh", "updatedAt": NOW_MS}
    state.write_store("main", store)
    state.write_transcript("main", f"{sids['old_dm']}.jsonl", b"new content\n")
    res = run_cli("undo", env["run_id"], *sd(state))
    assert res.rc == 0, res.stderr
    assert "not undone/restored: store.insert" in res.stderr and "key exists again" in res.stderr
    after = state.read_store("main")
    assert after[OLD_DM] == {"sessionId": "fresh", "updatedAt": NOW_MS}
    assert CRON_RUN in after and OLD_TOPIC in after  # the rest came back
    assert (state.sessions_dir("main") / f"{sids['old_dm']}.jsonl").read_bytes() == b"new content\n"
    # the archive of the old transcript stays where it is
    assert any(
        n.startswith(f"{sids['old_dm']}.jsonl.deleted.")
        for n in (x.name for x in state.sessions_dir("main").iterdir())
    )
    rc, env2, _ = run_json("undo", env["run_id"], *sd(state))
    assert rc == 0 and env2["status"] == "warning"


def test_undo_twice_changes_nothing_the_second_time(state: StateDir) -> None:
    gc_state(state)
    env = _gc(state)
    rc, _u, err = run_json("undo", env["run_id"], *sd(state))
    assert rc == 0, err
    restored = live_tree(state.root)
    rc, u2, err = run_json("undo", env["run_id"], *sd(state))
    assert rc == 0, err
    assert live_tree(state.root) == restored
    assert u2["summary"]["applied"] == 0 and u2["status"] == "warning"


def test_undo_of_undo_is_the_original_run_again(state: StateDir) -> None:
    gc_state(state)
    env = _gc(state)
    after_gc = live_tree(state.root)
    rc, u, err = run_json("undo", env["run_id"], *sd(state))
    assert rc == 0, err
    rc, _u2, err = run_json("undo", u["run_id"], *sd(state))
    assert rc == 0, err
    assert live_tree(state.root) == after_gc


def test_undo_restores_key_order_among_new_entries(state: StateDir) -> None:
    gc_state(state)
    original = state.read_store("main")
    env = _gc(state)
    store = state.read_store("main")
    store["agent:main:telegram:direct:zzz"] = {"sessionId": "z", "updatedAt": NOW_MS}
    state.write_store("main", store)
    rc, _u, err = run_json("undo", env["run_id"], *sd(state))
    assert rc == 0, err
    expected = dict(original)
    expected["agent:main:telegram:direct:zzz"] = {"sessionId": "z", "updatedAt": NOW_MS}
    assert state.store_path("main").read_bytes() == store_bytes(expected)


def test_undo_into_a_store_not_in_openclaws_formatting_parses_the_entries_it_puts_back(
    state: StateDir,
) -> None:
    """undo keeps the entries it re-inserts as their bytes in the backup and splices them
    into a store in OpenClaw's own formatting; a store someone rewrote in another layout
    (here: compact JSON, which JSON.parse reads the same) cannot be spliced, so those
    entries are parsed and the store written whole — with every entry exactly as it was,
    in its place, and the store in OpenClaw's formatting again."""
    gc_state(state)
    original = state.read_store("main")
    env = _gc(state)
    after_gc = state.read_store("main")
    compact = json.dumps(after_gc, separators=(",", ":"), ensure_ascii=False).encode()
    state.store_path("main").write_bytes(compact)
    rc, u, err = run_json("undo", env["run_id"], *sd(state))
    assert rc == 0, err
    assert u["summary"]["applied"] == u["summary"]["actions"] > 0 and u["summary"]["skipped"] == 0
    assert state.read_store("main") == original
    assert state.store_path("main").read_bytes() == store_bytes(original)


def test_undo_is_refused_under_a_running_gateway(state: StateDir) -> None:
    gc_state(state)
    env = _gc(state)
    before = live_tree(state.root)
    gw = fake_gateway(state.root)
    try:
        rc, u, _ = run_json("undo", env["run_id"], *sd(state))
    finally:
        gw.kill()
        gw.wait()
    assert rc == 75 and f"pid {gw.pid}" in u["errors"][0]["message"]
    assert live_tree(state.root) == before


def test_undo_journal_names_the_target(state: StateDir) -> None:
    gc_state(state)
    env = _gc(state)
    rc, u, err = run_json("undo", env["run_id"], *sd(state))
    assert rc == 0, err
    journal = json.loads((state.root / "sessionctl/runs" / u["run_id"] / "journal.json").read_bytes())
    assert journal["command"] == "undo"
    assert {a["undoes"] for a in journal["actions"]} == {env["run_id"]}
    assert journal["argv"][:2] == ["undo", env["run_id"]]
    assert sorted((b["kind"], b["path"]) for b in journal["backups"]) == [
        # the gc run's store backups, linked in: the entries it re-inserts are found there
        ("entries", "agents/main/sessions/sessions.json"),
        ("entries", "agents/ops/sessions/sessions.json"),
        ("store", "agents/main/sessions/sessions.json"),
        ("store", "agents/ops/sessions/sessions.json"),
    ]
    inserts = [a for a in journal["actions"] if a["type"] == "store.insert"]
    assert inserts and all("entry" not in a and a["entry_in"].endswith(".zst") for a in inserts)


# ------------------------------------------------------------------ restore_order


@given(
    n=st.integers(min_value=1, max_value=30),
    data=st.data(),
)
def test_restore_order_puts_removed_keys_back_in_place(n: int, data: st.DataObject) -> None:
    keys = [f"k{i}" for i in range(n)]
    removed = data.draw(st.sets(st.sampled_from(keys)))
    current = {k: i for i, k in enumerate(keys) if k not in removed}
    restored = {k: keys.index(k) for k in removed}
    merged = restore_order(current, restored, keys)
    assert list(merged) == keys
    assert merged == {k: i for i, k in enumerate(keys)}


@given(
    n=st.integers(min_value=1, max_value=20),
    data=st.data(),
)
def test_restore_order_keeps_entries_added_since(n: int, data: st.DataObject) -> None:
    keys = [f"k{i}" for i in range(n)]
    removed = data.draw(st.sets(st.sampled_from(keys)))
    current: dict[str, int] = {k: 0 for k in keys if k not in removed}
    new_keys = data.draw(st.lists(st.sampled_from(["n1", "n2", "n3"]), unique=True))
    for k in new_keys:
        current[k] = 1
    merged = restore_order(current, {k: 2 for k in removed}, keys)
    assert set(merged) == set(keys) | set(new_keys)
    # original keys keep their relative order; new keys keep theirs
    assert [k for k in merged if k in keys] == keys
    assert [k for k in merged if k in new_keys] == new_keys


# ------------------------------------------------------------------ human output


def test_undo_prints_counts_and_the_first_few_and_every_action_only_with_verbose(state: StateDir) -> None:
    for i in range(14):
        state.add_session("main", f"agent:main:direct:old{i:02d}", updated_at=NOW_MS - 30 * 86_400_000)
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - 60_000)
    env = _gc(state)
    undo = env["run_id"]
    res = run_cli("undo", undo, "--dry-run", *sd(state), env=clean_env())
    assert res.rc == 0, res.stderr
    lines = res.stdout.splitlines()
    # 14 entries and 14 transcripts: a count per action type, then the first 10 only
    assert any("14 × put back entry [planned]" in line for line in lines), res.stdout
    assert any("14 × rename back [planned]" in line for line in lines), res.stdout
    listed = [
        line for line in lines if line.startswith("  put back entry:") or line.startswith("  rename back:")
    ]
    assert len(listed) == 10
    assert "18 more (every one: -v, or --json)" in res.stdout
    res = run_cli("undo", undo, "--dry-run", "-v", *sd(state), env=clean_env())
    assert res.rc == 0, res.stderr
    listed = [
        line for line in res.stdout.splitlines() if line.startswith(("  put back entry:", "  rename back:"))
    ]
    assert len(listed) == 28 and "more (every one" not in res.stdout


def test_renames_in_one_batch_keep_each_actions_outcome(tmp_path: Path) -> None:
    """Consecutive file.rename actions are applied as one batch (one folder fsync, not one
    per rename — undo of a 10,000-session gc renames ~28,000 files back), yet each keeps
    its own outcome: a source that is gone is skipped, a missing target folder is made,
    and a destination that exists stops the run with the renames before it done and
    `applied`, the ones after it untouched and `planned`."""
    state = tmp_path / "state"
    sdir = state / "agents" / "main" / "sessions"
    sdir.mkdir(parents=True)
    for name in ("a.jsonl", "c.jsonl", "d.jsonl", "d.jsonl.x", "e.jsonl"):
        (sdir / name).write_text(name)
    rel = "agents/main/sessions/"
    run = Run.start(state, "test", policy_now_ms=0, argv=[])
    acts: list[JournalAction] = [
        {"type": "file.rename", "from": rel + "a.jsonl", "to": rel + "a.jsonl.x"},
        {"type": "file.rename", "from": rel + "b.jsonl", "to": rel + "b.jsonl.x"},
        {"type": "file.rename", "from": rel + "c.jsonl", "to": "agents/main/moved/c.jsonl"},
        {"type": "file.rename", "from": rel + "d.jsonl", "to": rel + "d.jsonl.x"},
        {"type": "file.rename", "from": rel + "e.jsonl", "to": rel + "e.jsonl.x"},
    ]
    with pytest.raises(FileExistsError):
        apply_actions(run, acts)
    assert [a.get("state", "planned") for a in acts] == [
        "applied",
        "skipped",
        "applied",
        "planned",
        "planned",
    ]
    assert acts[1]["note"] == "source no longer exists"
    assert sorted(p.name for p in sdir.iterdir()) == ["a.jsonl.x", "d.jsonl", "d.jsonl.x", "e.jsonl"]
    assert (state / "agents" / "main" / "moved" / "c.jsonl").read_text() == "c.jsonl"
    assert (sdir / "d.jsonl.x").read_text() == "d.jsonl.x"  # never overwritten


def test_undo_whose_folder_fsync_fails_never_says_its_renames_are_applied(state: StateDir) -> None:
    """The renames of a batch are `applied` only once their folder is durable: when the
    folder's fsync after the batch fails (here ENOSPC), undo stops with an I/O error
    naming the folder, and the journal's status records none of those renames as applied
    (they stay `planned`, and an undo of that run checks each one on disk)."""
    gc_state(state)
    env = _gc(state)
    res = run_cli(
        "undo", env["run_id"], *sd(state), "--json", env=clean_env(SESSIONCTL_FAULT="enospc:rename.fsync_dir")
    )
    assert res.rc == 74, res.stderr
    assert "No space left on device" in res.stderr and "sessions" in res.stderr
    runs = state.root / "sessionctl" / "runs"
    (undo_run,) = [d for d in runs.iterdir() if d.is_dir() and d.name != env["run_id"]]
    status = json.loads((undo_run / "status.json").read_bytes())
    assert status["status"] == "failed"
    journal = json.loads((undo_run / "journal.json").read_bytes())
    renames = {a["id"] for a in journal["actions"] if a["type"] == "file.rename"}
    states = {r["id"]: r["state"] for r in status["results"]}
    assert renames and {states[i] for i in renames} == {"planned"}, states
