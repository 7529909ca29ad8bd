"""sessionctl as an operator meets it (issue: installs the way operators install it, and
prints what they can use): a folder that is not a state dir is UNKNOWN, tables survive
pipes and narrow terminals, `--quiet` is one line, permission errors are 77 with one hint,
a crash is one line, help reads as words, completion works, sessionctl.toml mistakes
name their table and key, and contrib/sessionctl.toml covers every key."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.helpers import (
    NOW_ISO,
    REPO,
    StateDir,
    clean_env,
    parse_envelope,
    run_cli,
    run_clis,
    tree_snapshot,
)

DEMO = REPO / "fixtures" / "demo-state"
COMMANDS = [
    "list",
    "health",
    "gc",
    "backup",
    "runs",
    "undo",
    "restore",
    "prestart",
    "repair",
    "archive",
    "dedupe",
]


def demo_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "demo"
    shutil.copytree(DEMO, dst, symlinks=True)
    return Path(os.path.realpath(dst))


def demo_keys() -> list[str]:
    keys = []
    for store in sorted((DEMO / "agents").glob("*/sessions/sessions.json")):
        keys.extend(json.loads(store.read_bytes()))
    return keys


# ------------------------------------------------------------ not a state dir


def test_health_is_unknown_on_a_folder_that_is_not_a_state_dir(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    demo = demo_copy(tmp_path)
    sessions_folder = demo / "agents" / "main" / "sessions"  # a classic wrong OPENCLAW_STATE_DIR
    prom = tmp_path / "health.prom"
    runs = run_clis(
        ["health", "--state-dir", str(empty), "--json"],
        ["health", "--state-dir", str(sessions_folder), "--json"],
        ["health", "--state-dir", str(empty), "--format", "prometheus"],
        ["health", "--state-dir", str(empty), "--format", "prometheus", "--output", str(prom)],
        ["health", "--state-dir", str(empty)],
    )
    for res, where in zip(runs[:2], (empty, sessions_folder), strict=True):
        env = parse_envelope(res)
        assert res.rc == 3 and env["status"] == "unknown", res
        msg = env["errors"][0]["message"]
        assert f"{where} is not an OpenClaw state dir" in msg
        assert "openclaw.json" in msg and "agents/<id>/sessions/" in msg and "agents/<id>/agent/" in msg
    unknown = f'sessionctl_health_status{{state_dir="{empty}"}} 3'
    assert runs[2].rc == 3 and unknown in runs[2].stdout.splitlines()
    assert runs[3].rc == 3 and unknown in prom.read_text().splitlines()
    assert runs[4].rc == 3 and runs[4].stdout == "" and "not an OpenClaw state dir" in runs[4].stderr


def test_a_state_dir_with_no_sessions_or_only_sqlite_agents_is_not_unknown(tmp_path: Path) -> None:
    only_config = tmp_path / "only-config"
    only_config.mkdir()
    (only_config / "openclaw.json").write_text('{"agents": {"list": [{"id": "main"}]}}')
    empty_agent = tmp_path / "empty-agent"
    (empty_agent / "agents" / "main" / "sessions").mkdir(parents=True)
    # SQLite era (OpenClaw 2026.7.2+): agents/<id>/agent/openclaw-agent.sqlite, no sessions.json
    sqlite_era = tmp_path / "sqlite-era"
    (sqlite_era / "agents" / "main" / "agent").mkdir(parents=True)
    (sqlite_era / "agents" / "main" / "agent" / "openclaw-agent.sqlite").write_bytes(b"SQLite format 3\0")
    results = run_clis(
        *[["health", "--state-dir", str(d), "--json"] for d in (only_config, empty_agent, sqlite_era)]
    )
    for d, res in zip((only_config, empty_agent, sqlite_era), results, strict=True):
        env = parse_envelope(res)
        assert "not an OpenClaw state dir" not in res.stderr, (d, res.stderr)
        if d is not sqlite_era:  # zero sessions: OK
            assert (res.rc, env["status"]) == (0, "ok"), (d, env)
        else:
            assert res.rc != 3 and env["status"] != "unknown", env


# ------------------------------------------------------------ pipes and narrow terminals


def test_piped_list_at_80_columns_has_every_key_of_the_demo_on_its_own_line(tmp_path: Path) -> None:
    demo = demo_copy(tmp_path)
    env = clean_env(COLUMNS="80")
    res = run_cli("list", "--state-dir", str(demo), "--now", NOW_ISO, env=env)
    assert res.rc == 0, res.stderr
    lines = res.stdout.splitlines()
    keys = demo_keys()
    assert len(lines) == 1 + len(keys)  # a header and one line per session: nothing folded
    assert lines[0].split()[:3] == ["agent", "key", "kind"]
    for key in keys:
        hits = [ln for ln in lines if re.search(rf"(^|\s){re.escape(key)}(\s|$)", ln)]
        assert len(hits) == 1, (key, hits)
    # and literally through a shell pipe, as an operator types it
    key = max(keys, key=len)
    shell = subprocess.run(
        f"{sys.executable} -m sessionctl list --state-dir {demo} | grep -F -- '{key}'",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert shell.returncode == 0 and key in shell.stdout, shell


def test_gc_plan_runs_and_undo_lines_are_never_split_when_piped(tmp_path: Path) -> None:
    demo = demo_copy(tmp_path)
    env = clean_env(COLUMNS="60")
    sd = ["--state-dir", str(demo), "--now", NOW_ISO]
    plan = run_cli("gc", *sd, "--max-age", "30d", "--dry-run", env=env)
    assert plan.rc == 0, plan.stderr
    expired = [ln for ln in plan.stdout.splitlines() if ln.startswith("expire ")]
    assert expired and all(len(ln.split()) >= 3 and ln.split()[2].startswith("agent:") for ln in expired)
    gc = run_cli("gc", *sd, "--max-age", "30d", env=env)
    run_id = next(
        ln.split()[-1] for ln in gc.stdout.splitlines() if ln.startswith("undo with: sessionctl undo ")
    )
    runs = run_cli("runs", "--state-dir", str(demo), env=env)
    assert any(ln.split()[0] == run_id for ln in runs.stdout.splitlines()), runs.stdout
    undo = run_cli("undo", run_id, "--state-dir", str(demo), env=env)
    assert undo.rc == 0, undo.stderr
    last = undo.stdout.splitlines()[-1]
    assert (
        last.startswith("run ") and last.split()[-1] != run_id and " undo it with: sessionctl undo " in last
    )


def _run_on_a_terminal(args: list[str], columns: int) -> str:
    """Run the CLI with stdout on a pseudo-terminal `columns` wide; return what it printed."""
    master, slave = pty.openpty()
    env = clean_env(COLUMNS=str(columns), LINES="50", TERM="dumb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sessionctl", *args], stdout=slave, stderr=subprocess.DEVNULL, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_on_a_narrow_terminal_the_key_column_keeps_priority(tmp_path: Path) -> None:
    demo = demo_copy(tmp_path)
    out = _run_on_a_terminal(["list", "--state-dir", str(demo), "--now", NOW_ISO], 70)
    lines = out.splitlines()
    header = lines[0].split()
    assert "key" in header and "channel/peer" not in header and "tokens" not in header  # lesser ones dropped
    keys = demo_keys()
    for key in keys:  # every key whole, on the line of its record
        assert sum(1 for ln in lines if key in ln.split()) == 1, key
    assert lines[-1] == f"{len(keys)} sessions in 3 agent(s)"
    wide = _run_on_a_terminal(["list", "--state-dir", str(demo), "--now", NOW_ISO], 250)
    assert wide.splitlines()[0].split()[-3:] == ["transcript", "tokens", "flags"]


def test_list_formats(tmp_path: Path) -> None:
    demo = demo_copy(tmp_path)
    sd = ["--state-dir", str(demo), "--now", NOW_ISO]
    tsv, js, both = run_clis(
        ["list", *sd, "--format", "tsv"], ["list", *sd, "--format", "json"], ["list", *sd, "--json"]
    )
    rows = [ln.split("\t") for ln in tsv.stdout.splitlines()]
    assert rows[0][:3] == ["agent", "key", "kind"] and all(len(r) == len(rows[0]) for r in rows)
    assert sorted(r[1] for r in rows[1:]) == sorted(demo_keys())
    assert json.loads(js.stdout)["sessions"] == json.loads(both.stdout)["sessions"]
    bad = run_cli("list", *sd, "--format", "yaml")
    assert bad.rc == 64 and "--format 'yaml'" in bad.stderr


# ------------------------------------------------------------ --quiet


def test_quiet_prints_exactly_one_line_for_every_command(tmp_path: Path) -> None:
    demo = demo_copy(tmp_path)
    sd = ["--state-dir", str(demo)]
    gc = run_cli("gc", *sd, "--now", NOW_ISO, "--max-age", "30d", "-q")
    assert gc.rc == 0, gc.stderr
    run_id = re.search(r"run (\S+) \(undo", gc.stdout)
    assert run_id, gc.stdout
    outputs = {"gc": gc}
    argv = {
        "list": ["list", *sd, "--now", NOW_ISO],
        "health": ["health", *sd, "--now", NOW_ISO, "--fail-on", "critical"],
        "backup": ["backup", *sd],
        "runs": ["runs", *sd],
        "restore": ["restore", run_id.group(1), *sd, "--dry-run"],
        "repair": ["repair", *sd, "--now", NOW_ISO],
        "archive": ["archive", *sd, "--now", NOW_ISO],
        "dedupe": ["dedupe", *sd, "--now", NOW_ISO],
    }
    for cmd, res in zip(argv, run_clis(*[[*a, "--quiet"] for a in argv.values()]), strict=True):
        outputs[cmd] = res
    outputs["undo"] = run_cli("undo", run_id.group(1), *sd, "-q")
    outputs["prestart"] = run_cli("prestart", *sd, "--now", NOW_ISO, "-q")
    assert set(outputs) == set(COMMANDS)
    for cmd, res in outputs.items():
        text = res.stdout + res.stderr
        assert text.count("\n") == 1 and text.endswith("\n"), (cmd, text)
        assert text.startswith(f"sessionctl {cmd}: "), (cmd, text)
        assert "Traceback" not in text
    assert outputs["health"].rc == 2 and "CRITICAL" in outputs["health"].stdout
    # an error is one line too (on stderr), and --json --quiet is the envelope on one line
    err = run_cli("gc", "--state-dir", str(tmp_path / "nope"), "-q")
    assert err.rc == 66 and err.stdout == "" and err.stderr.count("\n") == 1, err
    js = run_cli("health", *sd, "--now", NOW_ISO, "--json", "-q")
    assert js.stdout.count("\n") == 1 and json.loads(js.stdout)["command"] == "health" and js.stderr == ""


def test_shipped_timers_and_cron_lines_are_quiet() -> None:
    units = [
        *sorted((REPO / "contrib" / "systemd").glob("*/sessionctl-*.service")),
        REPO / "contrib" / "cron" / "sessionctl.crontab",
    ]
    for path in units:
        lines = [ln for ln in path.read_text().splitlines() if "sessionctl" in ln and not ln.startswith("#")]
        calls = [ln for ln in lines if re.search(r"/sessionctl\"? (health|gc)\b", ln)]
        assert calls, path
        for ln in calls:
            assert " -q" in ln or "--quiet" in ln, (path, ln)


# ------------------------------------------------------------ permission errors: 77


def _unprivileged(cmd: list[str]) -> list[str]:
    """As root, run without any capability (CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
    gone): the kernel then applies mode bits to root as to anyone, so a 0600 file of
    another user is unreadable — exactly an operator's run as the wrong user. (Switching
    to `nobody` is no option here: the interpreter and the checkout may live under a
    0700 home.) Not root: mode bits apply already.

    As root the run also gets a PID namespace of its own: without capabilities it may
    not read the environment of another root process, so a real gateway running
    elsewhere on the machine (another state dir's) could not be excluded and the
    command would rightly refuse with 75 — not what these tests are about."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run as root without capabilities"
    unprivileged = [setpriv, "--inh-caps=-all", "--bounding-set=-all", *cmd]
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "true"]).returncode == 0:
        return [unshare, "--pid", "--fork", "--mount-proc", *unprivileged]
    return unprivileged


def _deny(store: Path) -> None:
    """Make `store` unreadable to the unprivileged run: as root, hand it to another user
    (nobody, mode 0600); otherwise mode 000."""
    if os.geteuid() == 0:
        os.chown(store, 65534, 65534)
        store.chmod(0o600)
    else:
        store.chmod(0o000)


def test_a_backup_that_fails_with_77_leaves_no_run_folder(tmp_path: Path) -> None:
    """backup copies every store before it writes its journal: when one of them may not be
    read (77), the run folder it had started — copies of the other stores only — is
    removed, not left behind as an empty run for `runs` to list and retention to count."""
    demo = demo_copy(tmp_path)
    store = demo / "agents" / "main" / "sessions" / "sessions.json"
    _deny(store)
    try:
        proc = subprocess.run(
            _unprivileged([sys.executable, "-m", "sessionctl", "backup", "--state-dir", str(demo), "--json"]),
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=120,
        )
        assert proc.returncode == 77, (proc.returncode, proc.stdout, proc.stderr)
        runs = demo / "sessionctl" / "runs"
        assert not runs.exists() or os.listdir(runs) == [], os.listdir(runs)
        assert "(nothing was changed)" in proc.stderr and "permission denied" in proc.stderr.lower(), (
            proc.stderr
        )
        assert "hint: run sessionctl as the user that owns the OpenClaw state dir" in proc.stderr
    finally:
        store.chmod(0o600)


@pytest.mark.parametrize(
    "args",
    [
        ["gc", "--max-age", "30d"],
        ["repair"],
        ["archive"],
        ["dedupe"],
        ["prestart"],
        ["list"],
    ],
    ids=lambda a: a[0],
)
def test_an_unreadable_store_is_77_with_one_hint(tmp_path: Path, args: list[str]) -> None:
    demo = demo_copy(tmp_path)
    store = demo / "agents" / "main" / "sessions" / "sessions.json"
    _deny(store)
    try:
        before = tree_snapshot(demo)
        proc = subprocess.run(
            _unprivileged(
                [sys.executable, "-m", "sessionctl", *args, "--state-dir", str(demo), "--now", NOW_ISO]
            ),
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=120,
        )
        assert proc.returncode == 77, (proc.returncode, proc.stdout, proc.stderr)
        assert f"agent main: cannot read {store}: permission denied" in proc.stderr
        assert "hint: run sessionctl as the user that owns the OpenClaw state dir" in proc.stderr
        assert "repair --only store" not in proc.stderr  # not damage: no repair advice
        after = tree_snapshot(demo)
        for own in ("sessionctl", "sessionctl/.lock"):  # sessionctl's private lock may be taken
            after.pop(own, None)
        assert after == before  # nothing changed, no run folder
    finally:
        store.chmod(0o600)


@pytest.mark.parametrize("name", ["sessionctl.toml", "openclaw.json"])
def test_an_unreadable_config_file_is_77_for_gc_too(tmp_path: Path, name: str) -> None:
    demo = demo_copy(tmp_path)
    conf = demo / name
    if not conf.exists():
        conf.write_text('[gc]\nidle = "5d"\n')
    _deny(conf)
    try:
        proc = subprocess.run(
            _unprivileged(
                [sys.executable, "-m", "sessionctl", "gc", "--state-dir", str(demo), "--now", NOW_ISO]
            ),
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=120,
        )
        assert proc.returncode == 77, (proc.returncode, proc.stderr)
        assert f"cannot read {'config ' if name == 'sessionctl.toml' else ''}{conf}" in proc.stderr
        assert "hint: run sessionctl as the user that owns the OpenClaw state dir" in proc.stderr
        assert not (demo / "sessionctl" / "runs").exists()
    finally:
        conf.chmod(0o600)


# ------------------------------------------------------------ one line for a bug


@pytest.mark.parametrize(("command", "code"), [("gc", 70), ("health", 3)])
def test_a_broken_install_is_one_line_not_a_traceback(state: StateDir, command: str, code: int) -> None:
    """What a wheel without a subpackage did: an import inside the command fails."""
    program = (
        f"import sys; sys.modules['sessionctl.commands.{command}'] = None\n"
        "from sessionctl.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for extra in ([], ["--json"]):
        proc = subprocess.run(
            [sys.executable, "-c", program, command, "--state-dir", str(state.root), *extra],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
        )
        assert proc.returncode == code, proc
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith("sessionctl: error: internal error: ModuleNotFoundError")
        if extra:
            assert json.loads(proc.stdout)["exit_code"] == code


# ------------------------------------------------------------ help, completion


def test_help_shows_words_and_choices() -> None:
    helps = run_clis(*[[c, "--help"] for c in COMMANDS])
    for cmd, res in zip(COMMANDS, helps, strict=True):
        assert res.rc == 0, cmd
        assert not re.search(r"<(str|int|float|bool|list\[str\])>", res.stdout), (cmd, res.stdout)
        assert "-q, --quiet" in res.stdout, cmd
    text = dict(zip(COMMANDS, (r.stdout for r in helps), strict=True))
    assert "--fail-on [warning|critical]" in text["health"]
    assert "--format [human|json|prometheus]" in text["health"]
    assert "--format [table|tsv|json]" in text["list"]
    assert "--state-dir DIR" in text["gc"] and "--agent ID" in text["gc"] and "--protect GLOB" in text["gc"]
    assert "--deadline DURATION" in text["prestart"] and "--idle DURATION" in text["prestart"]


def test_shell_completion() -> None:
    env = clean_env(_SESSIONCTL_COMPLETE="complete_bash", COMP_WORDS="sessionctl hea", COMP_CWORD="1")
    proc = subprocess.run(
        [sys.executable, "-m", "sessionctl"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.stdout.split() == ["health"], proc
    env.update(COMP_WORDS="sessionctl health --fail", COMP_CWORD="2")
    proc = subprocess.run(
        [sys.executable, "-m", "sessionctl"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "--fail-on" in proc.stdout.split(), proc
    shown = run_cli("--show-completion", "bash")
    assert shown.rc == 0 and "_SESSIONCTL_COMPLETE" in shown.stdout


# ------------------------------------------------------------ configuration messages


def test_an_unquoted_duration_in_sessionctl_toml_names_table_and_key(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    (state.root / "sessionctl.toml").write_text('[gc]\nmax-age = "30d"\nidle = 5d\n')
    gc, lst = run_clis(
        ["gc", "--state-dir", str(state.root), "--dry-run"], ["list", "--state-dir", str(state.root)]
    )
    assert gc.rc == 78
    assert "sessionctl.toml: [gc] idle: not valid TOML" in gc.stderr
    assert 'durations are quoted strings: write idle = "5d"' in gc.stderr
    assert lst.rc == 0  # list uses no sessionctl.toml


@pytest.mark.parametrize(("value", "says"), [("60", "has no unit"), ("5m", "'m' is ambiguous")])
def test_a_bad_deadline_names_the_option(state: StateDir, value: str, says: str) -> None:
    res = run_cli("prestart", "--deadline", value, "--state-dir", str(state.root))
    assert res.rc == 64 and res.stderr.startswith("sessionctl: error: --deadline: ") and says in res.stderr


def test_gc_max_age_off_says_what_turned_the_limits_off(tmp_path: Path) -> None:
    demo = demo_copy(tmp_path)  # its openclaw.json has a session.maintenance
    res = run_cli("gc", "--state-dir", str(demo), "--max-age", "off", "--now", NOW_ISO)
    assert res.rc == 64
    assert "the command line turned every limit off" in res.stderr
    assert "no session.maintenance" not in res.stderr


def test_contrib_sessionctl_toml_loads_and_covers_every_key(tmp_path: Path) -> None:
    from sessionctl.config import load_sessionctl_config
    from sessionctl.context import make_context
    from sessionctl.policy.sources import _GC_KEYS, _KIND_KEYS, resolve_policy
    from sessionctl.thresholds import _STORM_KEYS, _TOP_KEYS, DEFAULT_TOKENS, thresholds_for

    example = REPO / "contrib" / "sessionctl.toml"
    cfg = load_sessionctl_config(str(example), None)
    assert cfg.error is None
    gc = {k.replace("_", "-") for k in cfg.data["gc"]}
    assert gc == set(_GC_KEYS), set(_GC_KEYS) ^ gc
    kind_keys = {k for t in cfg.data["gc"]["kinds"].values() for k in t}
    assert kind_keys == set(_KIND_KEYS), set(_KIND_KEYS) ^ kind_keys
    health = cfg.data["health"]
    assert set(health) == set(_TOP_KEYS), set(_TOP_KEYS) ^ set(health)
    assert set(health["spawn_storm"]) == set(_STORM_KEYS)
    assert set(health["tokens"]) == set(DEFAULT_TOKENS)
    # every key has its comment: the line itself or the comment lines right above it
    lines = example.read_text().splitlines()
    for i, ln in enumerate(lines):
        m = re.match(r"^([a-z_-]+) = ", ln)
        if m and not re.match(r"^(warning|critical)$", m.group(1)):
            above = lines[i - 1] if i else ""
            assert above.startswith("#") or "#" in ln or lines[i - 2].startswith("#"), ln
    # and it is accepted by the readers themselves
    sd = tmp_path / "state"
    (sd / "agents").mkdir(parents=True)
    ctx = make_context(state_dir=str(sd), config=str(example), now=NOW_ISO)
    pol = resolve_policy(ctx, require_expiry=True)
    assert pol.default.idle is not None and pol.per_kind["group"].protected
    thresholds_for(ctx)


# ------------------------------------------------------------ progress


def test_the_core_reports_progress_through_the_hook_only(tmp_path: Path) -> None:
    from sessionctl.context import make_context
    from sessionctl.listing import list_sessions

    demo = demo_copy(tmp_path)
    ctx = make_context(state_dir=str(demo), now=NOW_ISO)
    seen: list[tuple[str, int, int]] = []
    ctx.progress = lambda what, done, total: seen.append((what, done, total))
    list_sessions(ctx)
    assert seen == [("agent main", 0, 3), ("agent illarion", 1, 3), ("agent marketer", 2, 3)]


def test_the_progress_bar_shows_on_a_terminal_after_a_second_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from sessionctl.views import progress

    master, slave = pty.openpty()
    tty = os.fdopen(slave, "w", buffering=1)
    try:
        monkeypatch.setattr(sys, "stderr", tty)
        with progress.stderr_progress("gc", enabled=True) as hook:
            assert hook is not None
            hook("reading agent main", 0, 3)  # before the first second: nothing
            monkeypatch.setattr(progress, "SHOW_AFTER_S", 0.0)
            hook("reading agent \x1b[2Jmain", 1, 3)
        tty.flush()
        chunks = []
        while select.select([master], [], [], 0.5)[0]:
            chunks.append(os.read(master, 65536))
        shown = b"".join(chunks).decode(errors="replace")
        assert "gc reading agent \\x1b[2Jmain" in shown and "1/3" in shown
        with progress.stderr_progress("gc", enabled=False) as hook:  # --json, --quiet
            assert hook is None
        monkeypatch.setattr(sys, "stderr", io.StringIO())  # piped
        with progress.stderr_progress("gc", enabled=True) as hook:
            assert hook is None
    finally:
        tty.close()
        os.close(master)
