"""The public contract of `sessionctl health`: the JSON schema (pinned field by field),
exit codes for cron and monitors, --fail-on, usage errors, the prometheus textfile, the
human view, and that health never changes a byte."""

from __future__ import annotations

import json
import os
import re
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.helpers import (
    DAY_MS,
    NOW_ISO,
    NOW_MS,
    StateDir,
    assert_envelope,
    clean_env,
    dead_pid,
    iso,
    run_cli,
    run_json,
    transcript_bytes,
    tree_snapshot,
)

# ---------------------------------------------------------------- the JSON schema

INT = int
OPT_INT = (int, type(None))
OPT_STR = (str, type(None))

TOP_FIELDS: dict[str, Any] = {
    "schema_version": INT,
    "command": str,
    "status": str,
    "exit_code": INT,
    "state_dir": str,
    "now": str,
    "deep": bool,
    "fail_on": str,
    "thresholds": dict,
    "stale_policy": (dict, type(None)),
    "summary": dict,
    "agents": list,
    "findings": list,
    "runs": dict,
    "errors": list,
}
SUMMARY_FIELDS: dict[str, Any] = {
    "critical": INT,
    "warning": INT,
    "info": INT,
    "total": INT,
    "by_check": dict,
}
AGENT_FIELDS: dict[str, Any] = {
    "agent": str,
    "layout": str,
    "store_path": str,
    "store_status": str,
    "store_bytes": INT,
    "entries": INT,
    "entries_by_kind": dict,
    "transcripts": INT,
    "transcript_bytes": INT,
    "archives": INT,
    "archive_bytes": INT,
    "oldest_idle_ms": OPT_INT,
    "findings": dict,
    "resume_on_start": OPT_INT,
    "sqlite": (dict, type(None)),
}
FINDING_FIELDS: dict[str, Any] = {
    "check": str,
    "severity": str,
    "agent": OPT_STR,
    "key": OPT_STR,
    "path": OPT_STR,
    "message": str,
    "fix": OPT_STR,
    "data": dict,
}
THRESHOLD_FIELDS: dict[str, Any] = {
    "store_max_bytes": INT,
    "max_entries": INT,
    "max_entries_source": str,
    "transcript_max_bytes": INT,
    "tokens": dict,
    "missing_transcript_grace_ms": INT,
    "tmp_stale_ms": INT,
    "spawn_storm": dict,
    "resume_budget": INT,
    "resume_window_ms": INT,
    "sqlite_max_entries": INT,
}


def assert_fields(obj: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    assert list(obj) == list(spec), f"{where}: fields {list(obj)} != {list(spec)}"
    for name, typ in spec.items():
        v = obj[name]
        assert isinstance(v, typ) and not (typ is INT and isinstance(v, bool)), f"{where}.{name} = {v!r}"


def messy_state(state: StateDir) -> None:
    """A state with findings of all three severities in two agents."""
    state.write_config(
        {"agents": {"list": [{"id": "main", "default": True}, {"id": "work"}, {"id": "gone"}]}}
    )
    state.add_session("main", "agent:main:main", totalTokens=250_000)  # critical
    state.add_session("main", "agent:main:telegram:direct:1", transcript=False, updated_at=NOW_MS - DAY_MS)
    state.add_session("work", "agent:work:main")
    state.add_session("work", "agent:work:telegram:direct:1")  # duplicate peer: agent None
    state.write_transcript("work", f"{uuid.uuid4()}.jsonl.deleted.2026-04-01T00-00-00.000Z", b"x")


def test_json_schema_is_pinned(state: StateDir) -> None:
    messy_state(state)
    rc, env, _ = run_json("health", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert_envelope(env, command="health", exit_code=2)
    assert rc == 2
    assert_fields(env, TOP_FIELDS, "envelope")
    assert env["status"] in ("ok", "warning", "critical", "unknown")
    assert env["now"] == "2026-05-01T12:00:00.000Z"
    assert_fields(env["summary"], SUMMARY_FIELDS, "summary")
    assert_fields(env["thresholds"], THRESHOLD_FIELDS, "thresholds")
    assert set(env["thresholds"]["tokens"]) == {"groups", "dms", "main"}
    assert env["summary"]["total"] == len(env["findings"])
    assert sum(env["summary"]["by_check"].values()) == len(env["findings"])
    assert [a["agent"] for a in env["agents"]] == ["main", "work", "gone"]
    for a in env["agents"]:
        assert_fields(a, AGENT_FIELDS, f"agents[{a['agent']}]")
        assert a["layout"] in ("file", "sqlite", "missing")
        assert set(a["findings"]) == {"critical", "warning", "info"}
    assert env["agents"][2]["layout"] == "missing"
    sevs = []
    for f in env["findings"]:
        assert_fields(f, FINDING_FIELDS, f"findings[{f['check']}]")
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", f["check"])
        assert f["severity"] in ("info", "warning", "critical")
        sevs.append(f["severity"])
    # most severe first
    rank = {"critical": 2, "warning": 1, "info": 0}
    assert [rank[s] for s in sevs] == sorted((rank[s] for s in sevs), reverse=True)
    assert {"critical", "warning", "info"} <= set(sevs)
    assert env["runs"] == {
        "path": str(state.root / "sessionctl" / "runs"),
        "count": 0,
        "bytes": 0,
        "largest": None,
        "oldest": None,
    }


def test_format_json_equals_json_flag(state: StateDir) -> None:
    messy_state(state)
    base = ("health", "--state-dir", str(state.root), "--now", NOW_ISO)
    a = run_cli(*base, "--json")
    b = run_cli(*base, "--format", "json")
    assert a.rc == b.rc == 2
    assert json.loads(a.stdout) == json.loads(b.stdout)


# ---------------------------------------------------------------- exit codes


def test_exit_codes_ok_warning_critical_and_fail_on(state: StateDir) -> None:
    base = ("health", "--state-dir", str(state.root), "--now", NOW_ISO)
    state.add_session("main", "agent:main:main")
    assert run_cli(*base).rc == 0
    state.add_session("main", "agent:main:telegram:direct:9", transcript=False, updated_at=NOW_MS - DAY_MS)
    assert run_cli(*base).rc == 1
    assert run_cli(*base, "--fail-on", "warning").rc == 1
    assert run_cli(*base, "--fail-on", "critical").rc == 0
    state.add_session("main", "agent:main:explicit:x", sessionFile="/etc/hostname")
    assert run_cli(*base).rc == 2
    assert run_cli(*base, "--fail-on", "critical").rc == 2


@pytest.mark.parametrize(
    "args",
    [
        ("--fail-on", "sometimes"),
        ("--format", "xml"),
        ("--output", "/tmp/x.prom"),
        ("--json", "--format", "prometheus"),
        ("--no-such-flag",),
        ("--max-entries", "zero"),
        ("--now", "yesterday"),
        ("--store-max-mb", "0"),
    ],
)
def test_usage_errors_exit_64_never_2(state: StateDir, args: tuple[str, ...]) -> None:
    state.add_session("main", "agent:main:main")
    res = run_cli("health", "--state-dir", str(state.root), *args)
    assert res.rc == 64, res
    assert "Traceback" not in res.stderr


def test_missing_state_dir_is_unknown(tmp_path: Path) -> None:
    rc, env, err = run_json("health", "--state-dir", str(tmp_path / "nope"))
    assert rc == 3 and env["status"] == "unknown"
    assert env["errors"][0]["code"] == "not_found"
    assert "does not exist" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "toml",
    [
        "[health\nbroken",
        "[health]\nstore_max_gb = 3\n",
        "[health]\nmax_entries = -5\n",
        '[health]\nmissing_transcript_grace = "10"\n',
        "[health.tokens]\nmain = { warning = 300000, critical = 200000 }\n",
        '[health.spawn_storm]\nexclude_kinds = ["robots"]\n',
        "health = 3\n",
    ],
)
def test_bad_config_is_unknown_with_a_one_line_reason(state: StateDir, toml: str) -> None:
    state.add_session("main", "agent:main:main")
    (state.root / "sessionctl.toml").write_text(toml)
    rc, env, err = run_json("health", "--state-dir", str(state.root))
    assert rc == 3 and env["status"] == "unknown"
    assert env["errors"][0]["code"] == "bad_config"
    assert "sessionctl.toml" in env["errors"][0]["message"]
    assert "Traceback" not in err


def test_config_flag_must_exist(state: StateDir, tmp_path: Path) -> None:
    state.add_session("main", "agent:main:main")
    rc, env, _ = run_json("health", "--state-dir", str(state.root), "--config", str(tmp_path / "no.toml"))
    assert rc == 3 and env["errors"][0]["code"] == "bad_config"
    cfg = tmp_path / "ok.toml"
    cfg.write_text("[health]\nmax_entries = 1\nstore_max_mb = 0.5\n")
    state.add_session("main", "agent:main:explicit:2")
    rc, env, _ = run_json("health", "--state-dir", str(state.root), "--config", str(cfg))
    assert rc == 1 and env["thresholds"]["max_entries"] == 1
    assert env["thresholds"]["max_entries_source"] == "sessionctl.toml"


# ---------------------------------------------------------------- prometheus

_SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+)$')


def parse_prom(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in typed, f"TYPE twice for {name}"
            typed.add(name)
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m.group(1) in typed, f"sample before TYPE: {line}"
        labels = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return out


def test_prometheus_to_stdout(state: StateDir) -> None:
    messy_state(state)
    res = run_cli("health", "--state-dir", str(state.root), "--now", NOW_ISO, "--format", "prometheus")
    assert res.rc == 2
    m = parse_prom(res.stdout)
    sd = {"state_dir": str(state.root)}  # on every series: several gateways on one host never collide
    assert all(lab["state_dir"] == str(state.root) for samples in m.values() for lab, _ in samples)
    assert m["sessionctl_health_status"] == [(sd, 2.0)]
    assert m["sessionctl_health_timestamp_seconds"] == [(sd, NOW_MS / 1000)]
    assert m["sessionctl_runs"] == [(sd, 0.0)] and m["sessionctl_runs_bytes"] == [(sd, 0.0)]
    assert m["sessionctl_resume_on_start_budget"] == [(sd, 4.0)]
    entries = {lab["agent"]: v for lab, v in m["sessionctl_store_entries"]}
    assert entries == {"main": 2, "work": 2, "gone": 0}
    sev = {(lab["agent"], lab["severity"]): v for lab, v in m["sessionctl_health_findings"]}
    assert sev[("main", "critical")] == 1 and sev[("work", "critical")] == 0
    assert sev[("", "warning")] == 1  # the cross-agent duplicate
    by_check = {(lab["agent"], lab["check"]): v for lab, v in m["sessionctl_health_check_findings"]}
    assert by_check[("main", "entry.tokens_high")] == 1
    assert by_check[("", "peer.duplicate_across_agents")] == 1
    assert {lab["agent"] for lab, _ in m["sessionctl_store_bytes"]} == {"main", "work", "gone"}
    assert {lab["agent"]: v for lab, v in m["sessionctl_archives"]}["work"] == 1


def test_prometheus_output_file_is_atomic_and_quiet(state: StateDir, tmp_path: Path) -> None:
    messy_state(state)
    out = tmp_path / "textfile" / "sessionctl.prom"
    out.parent.mkdir()
    out.write_text("old metrics\n")
    res = run_cli(
        "health",
        "--state-dir",
        str(state.root),
        "--now",
        NOW_ISO,
        "--format",
        "prometheus",
        "--output",
        str(out),
    )
    assert res.rc == 2 and res.stdout == ""
    text = out.read_text()
    assert parse_prom(text)["sessionctl_health_status"] == [({"state_dir": str(state.root)}, 2.0)]
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert os.listdir(out.parent) == ["sessionctl.prom"]  # no temp file left


def test_prometheus_output_when_health_cannot_run(tmp_path: Path) -> None:
    out = tmp_path / "sessionctl.prom"
    res = run_cli(
        "health", "--state-dir", str(tmp_path / "nope"), "--format", "prometheus", "--output", str(out)
    )
    assert res.rc == 3 and res.stdout == ""
    # the state dir as given: the UNKNOWN lands on the series of that gateway
    assert parse_prom(out.read_text())["sessionctl_health_status"] == [
        ({"state_dir": str(tmp_path / "nope")}, 3.0)
    ]


def test_prometheus_output_unwritable_is_reported(state: StateDir, tmp_path: Path) -> None:
    state.add_session("main", "agent:main:main")
    res = run_cli(
        "health",
        "--state-dir",
        str(state.root),
        "--format",
        "prometheus",
        "--output",
        str(tmp_path / "no" / "x.prom"),
    )
    assert res.rc == 3 and "cannot write metrics" in res.stderr and "Traceback" not in res.stderr


def test_label_values_are_escaped() -> None:
    from sessionctl.prometheus import health_metrics

    text = health_metrics(
        state_dir='/srv/a "b"',
        status="warning",
        exit_code=1,
        now_ms=NOW_MS,
        agents=[],
        findings=[{"agent": 'a"b\\c\nd', "check": "x.y", "severity": "warning"}],
    )
    assert 'agent="a\\"b\\\\c\\nd"' in text
    assert 'state_dir="/srv/a \\"b\\""' in text
    parse_prom(text)


# ---------------------------------------------------------------- human view


def test_human_view_groups_by_severity_without_colour_in_a_pipe(state: StateDir) -> None:
    messy_state(state)
    env = clean_env()
    env.pop("NO_COLOR")
    res = run_cli("health", "--state-dir", str(state.root), "--now", NOW_ISO, env=env)
    assert res.rc == 2
    assert "\x1b[" not in res.stdout  # not a terminal: no colour
    out = res.stdout
    assert out.index("CRITICAL (1)") < out.index("WARNING (") < out.index("INFO (")
    assert "entry.tokens_high main agent:main:main: 250,000 tokens" in out
    assert re.search(r"main\s+file\s+2\s", out)  # the agents table
    assert "entries by kind:" in out and "main: direct 1, main 1" in out
    assert "status: CRITICAL" in out
    assert res.stderr == ""  # no progress bar off a terminal


def test_long_runs_of_one_check_are_folded_unless_verbose(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    for _ in range(8):
        sid = str(uuid.uuid4())
        state.write_transcript("main", f"{sid}.jsonl", transcript_bytes(sid))
    base = ("health", "--state-dir", str(state.root), "--now", NOW_ISO)
    short = run_cli(*base).stdout
    assert short.count("transcript.orphan") == 6 and "… and 3 more transcript.orphan" in short
    assert run_cli(*base, "-v").stdout.count("transcript.orphan main") == 8


# ---------------------------------------------------------------- read-only


def test_health_never_changes_a_byte(state: StateDir, tmp_path: Path) -> None:
    messy_state(state)
    sid = state.add_session("main", "agent:main:telegram:group:-1", transcript=b'{"bad header"}\n')
    d = state.sessions_dir("main")
    (d / "sessions.json.lock").write_text(json.dumps({"pid": dead_pid(), "createdAt": iso(NOW_MS)}))
    (d / f"{sid}.jsonl.lock").write_text("garbage")
    (d / f"sessions.json.{uuid.uuid4()}.tmp").write_bytes(b"{")
    os.utime(d / "sessions.json.lock", (1, 1))
    (state.root / "discord").mkdir()
    (state.root / "discord" / "thread-bindings.json").write_text('{"version": 1, "bindings": {}}')
    before = tree_snapshot(state.root)
    prom = tmp_path / "out.prom"
    for args in (
        (),
        ("--deep",),
        ("--json",),
        ("--format", "prometheus"),
        ("--format", "prometheus", "-o", str(prom)),
    ):
        res = run_cli("health", "--state-dir", str(state.root), *args)
        assert res.rc == 2, (args, res)
        assert tree_snapshot(state.root) == before, args


def _run_with_stderr_on_a_tty(args: list[str]) -> tuple[int, bytes, bytes]:
    import pty
    import select
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = clean_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sessionctl", *args], stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.wait(timeout=60)
    err = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    return proc.returncode, out, err


def test_progress_bar_only_on_a_terminal_stderr_and_never_on_stdout(state: StateDir) -> None:
    messy_state(state)
    base = ["health", "--state-dir", str(state.root), "--now", NOW_ISO]
    rc, out, err = _run_with_stderr_on_a_tty([*base, "--deep"])
    assert rc == 2
    assert b"health" in err and b"/3" in err  # the bar counts agents
    assert b"status: CRITICAL" in out and b"\x1b[" not in out
    # machine output never gets a bar, even with a terminal on stderr
    rc, out, err = _run_with_stderr_on_a_tty([*base, "--deep", "--json"])
    assert rc == 2 and err == b"" and json.loads(out)["exit_code"] == 2


def test_state_written_by_the_real_openclaw_is_healthy(tmp_path: Path) -> None:
    """interop/sample-state-* were written by the real OpenClaw CLI (interop/generate_sample.py):
    health must not find a single warning or critical problem in them."""
    import shutil

    from support.helpers import REPO

    samples = sorted(p for p in (REPO / "interop").glob("sample-state-*") if p.is_dir())
    assert samples, "no interop/sample-state-* (see interop/README.md)"
    for sample in samples:
        state = tmp_path / sample.name
        shutil.copytree(sample, state, symlinks=True)
        rc, env, err = run_json("health", "--deep", "--state-dir", str(state))
        bad = [f for f in env["findings"] if f["severity"] != "info"]
        assert bad == [] and rc == 0, (sample.name, bad, err)
        assert sum(a["entries"] for a in env["agents"]) > 0
