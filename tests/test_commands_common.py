"""What every command reading agents says the same way (commands/common.py), run as a
user would: an --agent that names no agent, or an agent folder discovery leaves out, is
a warning on stderr — the wording gc has always used — and the command otherwise exits
as documented (docs/exit-codes.md: 0 for a list and for a dry run) without changing a
byte."""

from __future__ import annotations

import os
import time

import pytest
from support.helpers import (
    DAY_MS,
    NOW_ISO,
    NOW_MS,
    CliResult,
    StateDir,
    assert_envelope,
    header_line,
    parse_envelope,
    run_clis,
    tree_snapshot,
)
from support.repair import storm

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


@pytest.fixture
def busy_agent(one_agent: StateDir) -> StateDir:
    """one_agent where `--agent main` gives each mutating reader work, so that selecting
    nothing can be told from ignoring --agent: an expired session (gc), an unsafe
    sessionId (repair), an old orphan transcript (archive), a spawn storm (dedupe
    --storms). The plain dedupe has none: its duplicates need a second agent."""
    one_agent.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - 40 * DAY_MS)
    one_agent.add_session("main", "agent:main:explicit:bad", session_id="a/b", transcript=False)
    sid = "11111111-2222-4333-8444-000000000000"
    orphan = one_agent.write_transcript("main", f"{sid}.jsonl", header_line(sid, NOW_MS - 40 * DAY_MS))
    old = time.time() - 2 * 86_400  # archive's --older-than is wall clock
    os.utime(orphan, (old, old))
    storm(one_agent, "main")
    return one_agent


# the READERS with work for `--agent main` in busy_agent (all but list and the plain dedupe)
HAS_WORK = [(["repair", "--dry-run"], "repair"), (["archive", "--dry-run"], "archive")]
HAS_WORK += [(["dedupe", "--dry-run", "--storms"], "dedupe"), (["gc", "--dry-run", "--max-age", "1d"], "gc")]


def _planned(args: list[str], res: CliResult, *, json: bool) -> bool:
    """Whether a mutating reader's run planned any action."""
    if json:
        return bool(parse_envelope(res)["actions"])
    lines = res.stdout.splitlines()
    if args[0] == "gc":
        return "plan:" in lines  # the line above the plan table
    assert ("nothing to do" in lines) != any(ln.startswith("would do (") for ln in lines), res.stdout
    return "nothing to do" not in lines


def _common(state: StateDir, *agents: str, json: bool) -> list[str]:
    common = [a for agent in agents for a in ("--agent", agent)]
    return common + ["--state-dir", str(state.root), "--now", NOW_ISO] + (["--json"] if json else [])


def _runs(state: StateDir, *agents: str, json: bool) -> list[list[str]]:
    common = _common(state, *agents, json=json)
    return [[*args, *common] for args, _ in READERS]


@pytest.mark.parametrize("json", [False, True], ids=["human", "json"])
def test_an_unknown_agent_is_a_warning_and_the_exit_code_stays(busy_agent: StateDir, json: bool) -> None:
    before = tree_snapshot(busy_agent.root)
    results = run_clis(*_runs(busy_agent, "nosuch", json=json))
    for (args, command), res in zip(READERS, results, strict=True):
        assert res.rc == 0, (args, res.stderr)
        assert res.stderr.splitlines().count(NOSUCH) == 1, (args, res.stderr)
        assert "Traceback" not in res.stderr
        if json:
            env = parse_envelope(res)
            assert_envelope(env, command=command, exit_code=0)
            assert env["errors"] == [], args
            if command != "list":
                assert env["actions"] == [], (args, env["actions"])  # the unknown agent selects nothing
        else:
            assert res.stdout, args  # the human view is still shown
        if command != "list":
            assert not _planned(args, res, json=json), (args, res.stdout)
    lst = results[0]
    if json:
        assert parse_envelope(lst)["sessions"] == []
    else:
        assert lst.stdout.splitlines() == [lst.stdout.splitlines()[0]]  # the header, no session
        assert lst.stdout.split()[:2] == ["agent", "key"]
    # the control: the same state has work for main, so --agent nosuch did select nothing
    common = _common(busy_agent, "main", json=json)
    controls = run_clis(*[[*args, *common] for args, _ in HAS_WORK])
    for (args, _), res in zip(HAS_WORK, controls, strict=True):
        assert res.rc == 0, (args, res.stderr)
        assert _planned(args, res, json=json), (args, res.stdout)
    assert tree_snapshot(busy_agent.root) == before


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
    assert backup.rc == 0, backup.stderr
    run_id = parse_envelope(backup)["run_id"]
    assert [f["path"] for f in parse_envelope(backup)["backup"]["files"]] == [
        "agents/main/sessions/sessions.json"
    ]
    # main's store changes after the backup, so restoring main has something to do
    one_agent.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - 40 * DAY_MS)
    bk, rs, rs_nosuch = run_clis(
        ["backup", "--agent", "nosuch", *common],
        ["restore", run_id, "--dry-run", "--agent", "main", "--agent", "nosuch", *common],
        ["restore", run_id, "--dry-run", "--agent", "nosuch", *common],
    )
    for res in (bk, rs, rs_nosuch):
        assert res.rc == 0, res.stderr
        assert res.stderr.splitlines().count(NOSUCH) == 1, res.stderr
    # the unknown agent selects nothing: no file backed up, no restore planned for it
    assert parse_envelope(bk)["backup"]["files"] == []
    assert parse_envelope(rs_nosuch)["actions"] == []
    actions = parse_envelope(rs)["actions"]
    assert [(a["type"], a["agent"], a["path"]) for a in actions] == [
        ("file.restore", "main", "agents/main/sessions/sessions.json")
    ], actions


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
