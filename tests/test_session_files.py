"""One routine decides which files go with a removed session (snapshot.session_files):
gc, dedupe and repair archive a session's transcript together with its trajectory
sidecars (and topics, checkpoints, ACP logs), so none of them leaves a new
`transcript.orphan` behind. Checked on a state dir written by the real OpenClaw
2026.5.28 (interop/sample-state-2026.5.28), whose sessions carry
`<id>.trajectory.jsonl` and `<id>.trajectory-path.json` as OpenClaw writes them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from support.gc import live_tree
from support.helpers import iso, run_json, store_bytes
from support.sample import copy_sample, newest_activity

DAY = 86_400_000
DUP_SID = "30858a6d-5c82-43f8-b4e2-f9910cb9fed0"  # main's agent:main:telegram:direct:12345


def _orphans(state: Path, now: str) -> set[str]:
    rc, env, err = run_json("health", "--state-dir", str(state), "--now", now)
    assert rc in (0, 1, 2), err
    return {Path(f["path"]).name for f in env["findings"] if f["check"] == "transcript.orphan"}


def _duplicate_into_ops(state: Path) -> None:
    """The telegram peer 12345 also has a session in `ops` — files copied byte for byte
    from main's (transcript and both trajectory sidecars, as OpenClaw wrote them), the
    entry under ops' key — and a binding routes the peer to main: a duplicate dedupe
    removes from ops."""
    src = state / "agents/main/sessions"
    dst = state / "agents/ops/sessions"
    for suffix in (".jsonl", ".trajectory.jsonl", ".trajectory-path.json"):
        shutil.copy2(src / f"{DUP_SID}{suffix}", dst / f"{DUP_SID}{suffix}")
    main = json.loads((src / "sessions.json").read_bytes())
    ops_path = dst / "sessions.json"
    ops = json.loads(ops_path.read_bytes())
    entry = dict(main["agent:main:telegram:direct:12345"])
    entry["sessionFile"] = str(dst / f"{DUP_SID}.jsonl")
    ops["agent:ops:telegram:direct:12345"] = entry
    ops_path.write_bytes(store_bytes(ops))
    cfg_path = state / "openclaw.json"
    cfg: dict[str, Any] = json.loads(cfg_path.read_text())
    cfg["bindings"] = [
        {"agentId": "main", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "12345"}}}
    ]
    cfg_path.write_text(json.dumps(cfg, indent=2))


def test_dedupe_archives_the_sidecars_with_the_transcript_and_undo_restores_them(tmp_path: Path) -> None:
    state = copy_sample(tmp_path)
    _duplicate_into_ops(state)
    now = iso(newest_activity(state) + DAY)
    orphans_before = _orphans(state, now)
    before = live_tree(state)
    rc, env, err = run_json("dedupe", "--state-dir", str(state), "--now", now)
    assert rc == 0, err
    removed = [(a["agent"], a["key"]) for a in env["actions"] if a["type"] == "store.remove"]
    assert removed == [("ops", "agent:ops:telegram:direct:12345")]
    archived = {Path(a["from"]).name for a in env["actions"] if a["type"] == "file.rename"}
    assert archived == {f"{DUP_SID}.jsonl", f"{DUP_SID}.trajectory.jsonl", f"{DUP_SID}.trajectory-path.json"}
    assert all(a["state"] == "applied" for a in env["actions"])
    ops_dir = state / "agents/ops/sessions"
    assert not list(ops_dir.glob(f"{DUP_SID}.*json*[!Z]"))  # nothing of the session left unarchived
    assert len(list(ops_dir.glob(f"{DUP_SID}*.deleted.*"))) == 3
    # main's copy of the same session is untouched
    assert (state / f"agents/main/sessions/{DUP_SID}.trajectory.jsonl").exists()
    assert _orphans(state, now) <= orphans_before  # no new transcript.orphan
    rc, _u, err = run_json("undo", env["run_id"], "--state-dir", str(state))
    assert rc == 0, err
    assert live_tree(state) == before


def test_gc_leaves_no_new_orphan_on_a_real_store(tmp_path: Path) -> None:
    state = copy_sample(tmp_path)
    now = iso(newest_activity(state) + 3 * DAY)
    orphans_before = _orphans(state, now)
    before = live_tree(state)
    rc, env, err = run_json(
        "gc", "--state-dir", str(state), "--now", now, "--idle", "2d", "--protect", "agent:ops:cron:*"
    )
    assert rc == 0, err
    assert any(a["type"] == "file.rename" and a["from"].endswith(".trajectory.jsonl") for a in env["actions"])
    assert _orphans(state, now) <= orphans_before
    rc, _u, err = run_json("undo", env["run_id"], "--state-dir", str(state))
    assert rc == 0, err
    assert live_tree(state) == before


def test_repair_reset_entries_archives_the_sidecars_of_the_removed_entry(tmp_path: Path) -> None:
    state = copy_sample(tmp_path)
    sessions = state / "agents/main/sessions"
    # a transcript whose first parsed line is no session header (OpenClaw would replace the
    # file): repair quarantines it, and with --reset-entries removes its entry — the
    # entry's trajectory sidecars go with it
    t = sessions / f"{DUP_SID}.jsonl"
    t.write_bytes(b'{"type":"note"}\n' + t.read_bytes())
    now = iso(newest_activity(state) + DAY)
    orphans_before = _orphans(state, now)
    before = live_tree(state)
    rc, env, err = run_json("repair", "--state-dir", str(state), "--now", now, "--reset-entries")
    assert rc == 0, err
    renamed = {Path(a["from"]).name: a for a in env["actions"] if a["type"] == "file.rename"}
    assert set(renamed) == {
        f"{DUP_SID}.jsonl",
        f"{DUP_SID}.trajectory.jsonl",
        f"{DUP_SID}.trajectory-path.json",
    }
    assert ".bak." in renamed[f"{DUP_SID}.jsonl"]["to"]  # the quarantine
    assert all(a["state"] == "applied" for a in env["actions"])
    assert _orphans(state, now) <= orphans_before
    rc, _u, err = run_json("undo", env["run_id"], "--state-dir", str(state))
    assert rc == 0, err
    assert live_tree(state) == before
