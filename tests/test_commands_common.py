"""What every command reading agents says the same way (commands/common.py), run as a
user would: an --agent that names no agent, or an agent folder discovery leaves out, is
a warning on stderr — the wording gc has always used — and the command otherwise exits
as documented (docs/exit-codes.md: 0 for a list and for a dry run) without changing a
byte."""

from __future__ import annotations

import os

import pytest
from helpers import NOW_ISO, StateDir, assert_envelope, parse_envelope, run_clis, tree_snapshot

NOSUCH = "warning: agent nosuch: no such agent in openclaw.json or on disk"

# command line (before --agent/--state-dir/--now), command name in the envelope
READERS = [
    (["list"], "list"),
    (["repair", "--dry-run"], "repair"),
    (["archive", "--dry-run"], "archive"),
    (["dedupe", "--dry-run"], "dedupe"),
    (["dedupe", "--dry-run", "--storms"], "dedupe"),
    (["gc", "--dry-run", "--max-age", "1d"], "gc"),
]


@pytest.fixture
def one_agent(state: StateDir) -> StateDir:
    state.write_config({"agents": {"list": [{"id": "main"}]}})
    state.add_session("main", "agent:main:main")
    return state


def _runs(state: StateDir, *agents: str, json: bool) -> list[list[str]]:
    common = [a for agent in agents for a in ("--agent", agent)]
    common += ["--state-dir", str(state.root), "--now", NOW_ISO] + (["--json"] if json else [])
    return [[*args, *common] for args, _ in READERS]


@pytest.mark.parametrize("json", [False, True], ids=["human", "json"])
def test_an_unknown_agent_is_a_warning_and_the_exit_code_stays(one_agent: StateDir, json: bool) -> None:
    before = tree_snapshot(one_agent.root)
    results = run_clis(*_runs(one_agent, "nosuch", json=json))
    for (args, command), res in zip(READERS, results, strict=True):
        assert res.rc == 0, (args, res.stderr)
        assert res.stderr.splitlines().count(NOSUCH) == 1, (args, res.stderr)
        assert "Traceback" not in res.stderr
        if json:
            env = parse_envelope(res)
            assert_envelope(env, command=command, exit_code=0)
            assert env["errors"] == [], args
        else:
            assert res.stdout, args  # the human view is still shown
    lst = results[0]
    if json:
        assert parse_envelope(lst)["sessions"] == []
    else:
        assert "0 sessions" in lst.stdout
    assert tree_snapshot(one_agent.root) == before


def test_a_known_agent_next_to_an_unknown_one_is_still_handled(one_agent: StateDir) -> None:
    results = run_clis(*_runs(one_agent, "main", "nosuch", json=True))
    for (args, _), res in zip(READERS, results, strict=True):
        assert res.rc == 0, (args, res.stderr)
        assert res.stderr.splitlines().count(NOSUCH) == 1, (args, res.stderr)
    assert [s["key"] for s in parse_envelope(results[0])["sessions"]] == ["agent:main:main"]


def test_known_agents_give_no_warning(one_agent: StateDir) -> None:
    for (args, _), res in zip(READERS, run_clis(*_runs(one_agent, "main", json=True)), strict=True):
        assert res.rc == 0, (args, res.stderr)
        assert "warning:" not in res.stderr, (args, res.stderr)


def test_backup_and_restore_warn_the_same_way(one_agent: StateDir) -> None:
    common = ["--state-dir", str(one_agent.root), "--now", NOW_ISO, "--json"]
    (backup,) = run_clis(["backup", "--agent", "main", *common])
    run_id = parse_envelope(backup)["run_id"]
    bk, rs = run_clis(
        ["backup", "--agent", "nosuch", *common],
        ["restore", run_id, "--dry-run", "--agent", "main", "--agent", "nosuch", *common],
    )
    for res in (bk, rs):
        assert res.rc == 0, res.stderr
        assert res.stderr.splitlines().count(NOSUCH) == 1, res.stderr


def test_every_discovery_skip_is_warned_not_only_unknown_agents(one_agent: StateDir) -> None:
    """A symlinked agent folder is left out by discovery (never followed); list says so."""
    outside = one_agent.root.parent / "elsewhere"
    (outside / "sessions").mkdir(parents=True)
    link = one_agent.root / "agents" / "linked"
    os.symlink(outside, link)
    (lst,) = run_clis(["list", "--state-dir", str(one_agent.root), "--now", NOW_ISO, "--json"])
    assert lst.rc == 0, lst.stderr
    assert f"warning: agent {link}: is a symbolic link (not followed)" in lst.stderr.splitlines()
    assert [s["key"] for s in parse_envelope(lst)["sessions"]] == ["agent:main:main"]
