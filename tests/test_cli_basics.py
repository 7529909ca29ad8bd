"""The CLI as a user meets it: version, missing/broken state, exit codes of
docs/exit-codes.md, the JSON envelope (also for usage errors), --now, and that read-only
commands change nothing on disk. The tests call the CLI in-process (support.helpers.run_cli);
`test_the_console_script_and_in_process_calls_agree` runs the installed console script on
the same command lines and checks it gives the same exit code, stdout and stderr."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.helpers import (
    NOW_ISO,
    NOW_MS,
    REPO,
    StateDir,
    assert_envelope,
    clean_env,
    parse_envelope,
    run_cli,
    run_clis,
    run_json,
    store_bytes,
    tree_snapshot,
)

from sessionctl import __version__

# ------------------------------------------------------------ version


def test_version() -> None:
    """`python -m sessionctl --version` and the installed `sessionctl` script."""
    script = Path(sys.executable).with_name("sessionctl")
    assert script.exists(), "sessionctl is not installed next to the interpreter (pip install -e .)"
    proc = subprocess.Popen([str(script), "--version"], stdout=subprocess.PIPE, text=True, env=clean_env())
    res = run_cli("--version")
    assert (res.rc, res.stdout, res.stderr) == (0, f"sessionctl {__version__}\n", "")
    out, _ = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, f"sessionctl {__version__}\n")


# ------------------------------------------------------------ in-process = the console script


def test_the_console_script_and_in_process_calls_agree(tmp_path: Path) -> None:
    """What the in-process tests see is what the installed `sessionctl` gives a user: the
    same exit code, stdout and stderr for each kind of outcome (ok, a view on a terminal-
    less pipe, JSON, warnings on stderr, usage errors with and without --json, a missing
    state dir for list (66) and health (3), --help) — and the calls in one process leave
    nothing to the next (each line runs twice in-process, in a different order)."""
    script = Path(sys.executable).with_name("sessionctl")
    assert script.exists(), "sessionctl is not installed next to the interpreter (pip install -e .)"
    demo = tmp_path / "demo"
    shutil.copytree(REPO / "fixtures" / "demo-state", demo, symlinks=True)
    missing = tmp_path / "missing"
    now = ["--now", NOW_ISO]
    lines = [
        ["--version"],
        ["health", "--state-dir", str(demo), *now],
        ["health", "--state-dir", str(demo), *now, "--json"],
        ["list", "--state-dir", str(demo), *now, "--agent", "main", "--agent", "nosuch"],
        ["gc", "--state-dir", str(demo), *now, "--dry-run", "--max-age", "120h", "--quiet"],
        ["list", "--state-dir", str(missing), "--json"],
        ["health", "--state-dir", str(missing)],
        ["bogus"],
        ["list", "--bogus", "--json"],
        ["gc", "--help"],
    ]
    env = clean_env()
    first = [run_cli(*args, env=env) for args in lines]
    again = [run_cli(*args, env=env) for args in reversed(lines)][::-1]

    def same(res: tuple[int, str, str]) -> tuple[int, str, str]:
        """Lock and temp-file ages come from the wall clock (docs/health.md), not --now."""
        rc, out, err = res
        return rc, re.sub(r'"age_ms": \d+', '"age_ms": 0', out), err

    for args, inproc, inproc2 in zip(lines, first, again, strict=True):
        proc = subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=60)
        assert same((proc.returncode, proc.stdout, proc.stderr)) == same(inproc), args
        assert same(inproc2) == same(inproc), args
    codes = [r.rc for r in first]
    assert codes == [0, 2, 2, 0, 0, 66, 3, 64, 64, 0], codes  # every kind of outcome is here


# ------------------------------------------------------------ missing state dir


def test_missing_state_dir_list_66_health_3(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    lst, health = run_clis(
        ["list", "--state-dir", str(missing)], ["health", "--state-dir", str(missing), "--json"]
    )
    assert lst.rc == 66
    assert lst.stdout == ""
    lines = lst.stderr.splitlines()
    assert lines[0] == f"sessionctl: error: state dir {missing} does not exist"
    assert lines[1].strip().startswith("hint: pass --state-dir PATH or set OPENCLAW_STATE_DIR")
    assert len(lines) == 2

    env = parse_envelope(health)
    assert health.rc == 3
    assert_envelope(env, command="health", exit_code=3)
    assert env["status"] == "unknown"
    assert env["errors"][0]["code"] == "not_found"
    assert env["errors"][0]["message"] == f"state dir {missing} does not exist"
    assert "Traceback" not in health.stderr
    assert not missing.exists()


def test_default_state_dir_comes_from_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".clawdbot" / "agents" / "main" / "sessions").mkdir(parents=True)
    rc, env, _ = run_json("list", env=clean_env(home=home))
    assert rc == 0
    assert env["state_dir"] == str((home / ".clawdbot").resolve())
    rc, env, _ = run_json("list", env=clean_env(home=home, OPENCLAW_STATE_DIR=str(tmp_path / "elsewhere")))
    assert rc == 66 and env["errors"][0]["path"] == str(tmp_path / "elsewhere")


# ------------------------------------------------------------ broken stores

BAD_STORES: dict[str, tuple[bytes | None, str]] = {
    # name: (sessions.json bytes or None for a directory, load status); the other byte-level
    # shapes (whitespace, BOM, NaN, deep nesting, …) are classified in test_store.py
    "empty": (b"", "empty"),
    "truncated": (b'{\n  "agent:main:main": {\n    "sessionId": "ab', "unparseable"),
    # (an invalid byte inside a string is valid for OpenClaw, U+FFFD: tests/test_jsonjs.py)
    "not-utf8": (b'{"agent:main:main": {"sessionId": "a", "updatedAt": 1, "label": \xff}}', "unparseable"),
    "array-root": (b"[]", "not_object"),
    "directory": (None, "unreadable"),
}


@pytest.mark.parametrize("name", list(BAD_STORES))
def test_broken_store_list_65_health_2_nothing_changed(state: StateDir, name: str) -> None:
    raw, status = BAD_STORES[name]
    path = state.store_path("main")
    if raw is None:
        path.mkdir(parents=True)
    else:
        state.write_store("main", raw)
    state.add_session("work", "agent:work:main", updated_at=NOW_MS - 1000)
    before = tree_snapshot(state.root)
    common = ["--state-dir", str(state.root), "--now", NOW_ISO, "--json"]
    lst, health = run_clis(["list", *common], ["health", *common])

    # list: the readable agent is listed, the broken store is named, exit 65 (DATA)
    env = parse_envelope(lst)
    assert lst.rc == 65, lst.stderr
    assert_envelope(env, command="list", exit_code=65)
    assert env["status"] == "error"
    (problem,) = env["unreadable_stores"]
    assert (problem["agent"], problem["path"], problem["status"]) == ("main", str(path), status)
    assert [s["key"] for s in env["sessions"]] == ["agent:work:main"]
    warning = [line for line in lst.stderr.splitlines() if line.startswith("warning: main: cannot list")]
    assert len(warning) == 1 and warning[0].endswith("(run: sessionctl health)")

    # health: a critical finding on that store, exit 2 (CRITICAL)
    env = parse_envelope(health)
    assert health.rc == 2, health.stderr
    assert_envelope(env, command="health", exit_code=2)
    assert env["status"] == "critical"
    assert [f for f in env["findings"] if f["path"] == str(path) and f["severity"] == "critical"], env[
        "findings"
    ]
    assert all("\n" not in f["message"] for f in env["findings"])

    for res in (lst, health):
        assert "Traceback" not in res.stderr
    assert tree_snapshot(state.root) == before


def test_human_output_of_a_broken_store(state: StateDir) -> None:
    state.write_store("main", BAD_STORES["truncated"][0] or b"")
    common = ["--state-dir", str(state.root), "--now", NOW_ISO]
    health, lst = run_clis(["health", *common], ["list", *common])
    assert health.rc == 2
    assert "sessions.json is not valid JSON" in health.stdout
    assert "status: CRITICAL" in health.stdout
    assert lst.rc == 65
    assert "cannot list" in lst.stderr
    assert "Traceback" not in health.stderr + lst.stderr


def test_entries_of_the_wrong_type(state: StateDir) -> None:
    raw = store_bytes(
        {
            "agent:main:main": [],
            "agent:main:telegram:direct:1": {"sessionId": "abc", "updatedAt": "1777000000000"},
            "agent:main:telegram:direct:2": {"sessionId": "def", "updatedAt": NOW_MS - 5000},
        }
    )
    state.write_store("main", raw)
    before = tree_snapshot(state.root)
    rc, env, err = run_json("list", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert rc == 0, err
    flags = {s["key"]: s["flags"] for s in env["sessions"]}
    assert "invalid" in flags["agent:main:main"]
    assert "invalid" in flags["agent:main:telegram:direct:1"]
    assert "invalid" not in flags["agent:main:telegram:direct:2"]
    rc, env, err = run_json("health", "--state-dir", str(state.root), "--now", NOW_ISO)
    bad_keys = {f["key"] for f in env["findings"] if f["severity"] in ("warning", "critical")}
    assert {"agent:main:main", "agent:main:telegram:direct:1"} <= bad_keys
    assert rc == {"warning": 1, "critical": 2}[env["status"]]
    assert "Traceback" not in err
    assert tree_snapshot(state.root) == before
    assert state.store_path("main").read_bytes() == raw


def test_absurd_values_never_break_the_json_output(state: StateDir) -> None:
    """Numbers JSON.parse accepts but no clock writes, wrong types in optional fields: the
    envelope is still valid JSON, never a traceback."""
    raw = (
        b'{\n  "agent:main:main": {\n    "sessionId": "abc",\n    "updatedAt": 1e300,\n'
        b'    "sessionStartedAt": -1e300,\n    "totalTokens": 1e400,\n    "sessionFile": 5,\n'
        b'    "compactionCheckpoints": [5, {"preCompaction": 3}, {"postCompaction": {"sessionFile": 7}}]'
        b'\n  },\n  "agent:main:x": {"sessionId": "def", "updatedAt": 12345678901234567890123,'
        b' "inputTokens": 99999999999999999999}\n}'
    )
    state.write_store("main", raw)
    common = ["--state-dir", str(state.root), "--now", NOW_ISO, "--json"]
    lst, health = run_clis(["list", *common], ["health", *common])
    for res in (lst, health):
        assert "Traceback" not in res.stderr, res.stderr
        env = parse_envelope(res)
        assert env["exit_code"] == res.rc
    rows = {r["key"]: r for r in parse_envelope(lst)["sessions"]}
    assert lst.rc == 0
    assert rows["agent:main:main"]["last_active_at"] is None  # 1e300 is not a time
    assert rows["agent:main:x"]["tokens"] is None
    assert health.rc in (0, 1, 2)
    assert state.store_path("main").read_bytes() == raw


def test_store_content_that_looks_like_markup_is_shown_verbatim(state: StateDir) -> None:
    keys = ["agent:main:telegram:direct:[/]", "agent:main:telegram:direct:[bold red]boom[/bold red]"]
    state.write_store(
        "main", store_bytes({k: {"sessionId": f"s{i}", "updatedAt": NOW_MS} for i, k in enumerate(keys)})
    )
    env = clean_env(COLUMNS="400")
    lst, health = run_clis(
        ["list", "--state-dir", str(state.root), "--now", NOW_ISO],
        ["health", "--state-dir", str(state.root), "--now", NOW_ISO, "-v"],
        env=env,
    )
    assert lst.rc == 0, lst.stderr
    header = "agent key kind channel/peer age idle transcript tokens flags"
    assert lst.stdout.splitlines()[0].split() == header.split()  # the table, not the JSON fallback
    assert "cannot show the human view" not in lst.stderr
    for key in keys:
        assert key in lst.stdout
    assert health.rc in (0, 1, 2)
    for res in (lst, health):
        assert "Traceback" not in res.stderr and "MarkupError" not in res.stderr


def test_render_json_never_fails_on_values_orjson_cannot_write() -> None:
    import json

    from sessionctl.render import render_json
    from sessionctl.result import Result

    out = render_json(Result("list", data={"huge": 10**30, "keys": {1: "a"}, "odd": {3}}))
    env = json.loads(out)
    assert (env["huge"], env["keys"], env["odd"]) == (1e30, {"1": "a"}, "{3}")
    assert list(env)[-1] == "errors"


# ------------------------------------------------------------ usage errors → 64 + envelope


USAGE_ERRORS: list[tuple[list[str], str | None]] = [
    (["list", "--no-such-option"], "list"),
    (["list", "--kind", "nonsense"], "list"),
    (["health", "--fail-on", "sometimes"], "health"),
    (["health", "--now", "tomorrow"], "health"),  # health maps errors to 3 — but not usage errors
    # json.md: `command` is null when the command line could not be parsed — an unknown
    # command is not a command that ran
    (["no-such-command"], None),
    (["bogus", "list"], None),
]


def test_usage_errors_exit_64_with_a_json_envelope(state: StateDir) -> None:
    results = run_clis(*[[*args, "--state-dir", str(state.root), "--json"] for args, _ in USAGE_ERRORS])
    for (args, command), res in zip(USAGE_ERRORS, results, strict=True):
        env = parse_envelope(res)
        assert res.rc == 64, (args, res.stderr)
        assert_envelope(env, command=command, exit_code=64)
        assert env["status"] == "error", args
        assert env["errors"] and env["errors"][0]["code"] == "usage", args
        assert "Traceback" not in res.stderr, args


def test_usage_error_without_json(state: StateDir) -> None:
    kind, option = run_clis(
        ["list", "--kind", "nonsense", "--state-dir", str(state.root)], ["list", "--no-such-option"]
    )
    assert kind.rc == 64
    assert kind.stdout == ""
    assert kind.stderr.startswith(
        "sessionctl: error: --kind 'nonsense': unknown kind; kinds are: main, direct"
    )
    assert option.rc == 64
    assert "No such option" in option.stderr and "Traceback" not in option.stderr


# ------------------------------------------------------------ reproducible output


def test_now_makes_json_output_reproducible(state: StateDir) -> None:
    state.write_config({"agents": {"list": [{"id": "main"}]}})
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - 3 * 3_600_000)
    state.add_session("main", "agent:main:telegram:direct:42", updated_at=NOW_MS - 26 * 3_600_000)
    state.add_session("main", "agent:main:cron:nightly", updated_at=NOW_MS - 50 * 3_600_000, transcript=False)
    before = tree_snapshot(state.root)
    common = ["--state-dir", str(state.root), "--now", NOW_ISO, "--json"]
    list1, list2, health1, health2 = run_clis(
        ["list", *common], ["list", *common], ["health", *common], ["health", *common]
    )
    assert list1.stdout == list2.stdout
    assert health1.stdout == health2.stdout
    env = parse_envelope(list1)
    assert list1.rc == 0 and env["now"] == "2026-05-01T12:00:00.000Z"
    assert parse_envelope(health1)["now"] == "2026-05-01T12:00:00.000Z"
    rows = {s["key"]: s for s in env["sessions"]}
    assert rows["agent:main:main"]["idle_ms"] == 3 * 3_600_000
    assert rows["agent:main:telegram:direct:42"]["idle_ms"] == 26 * 3_600_000
    assert rows["agent:main:cron:nightly"]["kind"] == "cron-job"
    assert "missing-transcript" in rows["agent:main:cron:nightly"]["flags"]
    assert tree_snapshot(state.root) == before


def test_list_of_an_empty_state_dir(state: StateDir) -> None:
    rc, env, err = run_json("list", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert (rc, env["sessions"], env["unreadable_stores"]) == (0, [], [])
    assert_envelope(env, command="list", exit_code=0)
    assert env["state_dir"] == str(state.root)
    assert err == ""
