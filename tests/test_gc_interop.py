"""gc on a state dir written by the real OpenClaw (interop/sample-state-2026.5.28, a
moved state dir: absolute sessionFile paths point at its old location).

The first tests always run on the committed sample: gc removes exactly the planned
keys, the rest of the store stays byte-identical to what OpenClaw wrote, the
transcripts and their trajectory sidecars are archived, and undo gives back every
byte. The `interop` test asks the real OpenClaw afterwards (`openclaw sessions --json
--store ...`) and checks it lists exactly the kept keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from support.gc import live_tree
from support.helpers import REPO, iso, run_json, store_bytes
from support.sample import copy_sample, newest_activity

DAY = 86_400_000


def _gc(state: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    # ages shifted into the past: "now" is 3 days after the newest activity, so every
    # session is ~3 days idle; the main keys and (by --protect) the ops cron job stay
    now = iso(newest_activity(state) + 3 * DAY)
    return run_json(
        "gc", "--state-dir", str(state), "--now", now, "--idle", "2d", "--protect", "agent:ops:cron:*", *extra
    )


def test_gc_on_a_real_openclaw_store_keeps_its_bytes_and_undoes_exactly(tmp_path: Path) -> None:
    state = copy_sample(tmp_path)
    before = live_tree(state)
    stores = {
        a: json.loads((state / f"agents/{a}/sessions/sessions.json").read_bytes()) for a in ("main", "ops")
    }
    # OpenClaw's own bytes are what sessionctl writes for the same data
    for a, data in stores.items():
        assert (state / f"agents/{a}/sessions/sessions.json").read_bytes() == store_bytes(data)
    rc, env, err = _gc(state)
    assert rc == 0, err
    removed = {(a["agent"], a["key"]) for a in env["actions"] if a["type"] == "store.remove"}
    assert removed and all(a["state"] == "applied" for a in env["actions"])
    assert ("main", "agent:main:main") not in removed
    for a, data in stores.items():
        kept = {k: v for k, v in data.items() if (a, k) not in removed}
        assert (state / f"agents/{a}/sessions/sessions.json").read_bytes() == store_bytes(kept)
    # the relocated transcripts and their trajectory sidecars were archived
    archived = {Path(a["from"]).name for a in env["actions"] if a["type"] == "file.rename"}
    for agent, key in removed:
        sid = stores[agent][key]["sessionId"]
        assert f"{sid}.jsonl" in archived
        assert {f"{sid}.trajectory.jsonl", f"{sid}.trajectory-path.json"} <= archived
    rc, _u, err = run_json("undo", env["run_id"], "--state-dir", str(state))
    assert rc == 0, err
    assert live_tree(state) == before


def test_an_idle_agent_without_a_main_key_is_left_alone_and_the_other_is_cleaned(tmp_path: Path) -> None:
    """The store OpenClaw 2026.5.28 wrote itself: agent ops has no main key and only old
    sessions, agent main some stale ones. gc cleans main, leaves ops byte-identical, and
    exits 10 (done, with a refused agent)."""
    state = copy_sample(tmp_path)
    ops_store = state / "agents/ops/sessions/sessions.json"
    ops_before = ops_store.read_bytes()
    ops_files = sorted(p.name for p in ops_store.parent.rglob("*"))
    main_before = json.loads((state / "agents/main/sessions/sessions.json").read_bytes())
    now = iso(newest_activity(state) + 3 * DAY)
    rc, env, err = run_json("gc", "--state-dir", str(state), "--now", now, "--idle", "2d")
    assert rc == 10, err
    assert env["exit_code"] == 10 and env["status"] == "warning"
    assert env["refused_agents"] == ["ops"]
    assert [f["check"] for f in env["findings"]] == ["gc.agent_refused"]
    assert ops_store.read_bytes() == ops_before
    assert sorted(p.name for p in ops_store.parent.rglob("*")) == ops_files
    main_after = json.loads((state / "agents/main/sessions/sessions.json").read_bytes())
    assert set(main_after) == {"agent:main:main"} and len(main_before) > 1
    assert {a["agent"] for a in env["actions"]} == {"main"}
    assert all(a["state"] == "applied" for a in env["actions"])
    rc, _env, _err = run_json("undo", env["run_id"], "--state-dir", str(state))
    assert rc == 0


@pytest.mark.interop
def test_openclaw_lists_exactly_the_kept_keys_after_gc(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    from interop import harness as h

    h.install(h.DEFAULT_VERSION)
    state = copy_sample(tmp_path)
    rc, env, err = _gc(state)
    assert rc == 0, err
    kept: dict[str, set[str]] = {}
    for agent in ("main", "ops"):
        store = state / f"agents/{agent}/sessions/sessions.json"
        kept[agent] = set(json.loads(store.read_bytes()))
        planned_gone = {
            a["key"] for a in env["actions"] if a["type"] == "store.remove" and a["agent"] == agent
        }
        listing = h.openclaw_sessions_json(state, store)
        assert {s["key"] for s in listing["sessions"]} == kept[agent]
        assert not kept[agent] & planned_gone
    assert kept == {"main": {"agent:main:main"}, "ops": {"agent:ops:cron:nightly"}}
