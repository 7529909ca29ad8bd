"""The shipped operations files: every systemd unit passes `systemd-analyze verify`
(user units with --user), the units and the cron example call sessionctl only with
options its --help documents, and the cron lines are well-formed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.helpers import REPO, help_options

CONTRIB = REPO / "contrib"
SYSTEMD = CONTRIB / "systemd"
VARIANTS = ("user", "system")
UNITS = (
    "sessionctl-health.service",
    "sessionctl-health.timer",
    "sessionctl-gc.service",
    "sessionctl-gc.timer",
)
DROPIN = Path("openclaw-gateway.service.d") / "sessionctl.conf"
CRONTAB = CONTRIB / "cron" / "sessionctl.crontab"
SESSIONCTL = Path(sys.executable).parent / "sessionctl"
# the install locations the units use, per variant
EXEC_PATH = {"user": "%h/.local/bin/sessionctl", "system": "/usr/local/bin/sessionctl"}


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """[Section] → [(key, value)] of a unit file (comments and blanks dropped)."""
    out: dict[str, list[tuple[str, str]]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out.setdefault(section, [])
            continue
        key, _, value = line.partition("=")
        out.setdefault(section, []).append((key.strip(), value.strip()))
    return out


def values(unit: dict[str, list[tuple[str, str]]], section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def shipped_files() -> list[Path]:
    return [SYSTEMD / v / u for v in VARIANTS for u in UNITS] + [SYSTEMD / v / DROPIN for v in VARIANTS]


def test_every_shipped_unit_exists() -> None:
    for p in shipped_files():
        assert p.is_file(), p
    assert CRONTAB.is_file()


# ---------------------------------------------------------------- systemd-analyze verify


def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here: the unit files cannot be verified on this host")
    return tool


def installable_copy(src_dir: Path, dst_dir: Path, variant: str) -> None:
    """The variant's files as an admin would install them, with ExecStart pointing at the
    sessionctl of this test environment (verify checks that the executable exists)."""
    assert SESSIONCTL.is_file(), f"sessionctl is not installed in {SESSIONCTL.parent}"
    for src in sorted(src_dir.rglob("*")):
        if src.is_dir():
            continue
        dst = dst_dir / src.relative_to(src_dir)
        dst.parent.mkdir(parents=True, exist_ok=True)
        text = src.read_text()
        if src.suffix in (".service", ".conf"):
            assert EXEC_PATH[variant] in text, f"{src} does not call {EXEC_PATH[variant]}"
        dst.write_text(text.replace(EXEC_PATH[variant], str(SESSIONCTL)))


def verify(args: list[str], *, user: bool, unit_path: Path | None, tmp_path: Path) -> str:
    env = dict(os.environ)
    if user:
        rt = tmp_path / "xdg-runtime"
        rt.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(rt)
    if unit_path is not None:
        env["SYSTEMD_UNIT_PATH"] = f"{unit_path}:"  # ours first, then the built-in path
    cmd = [analyze(), *(["--user"] if user else []), "verify", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out}"
    return out


def our_lines(out: str, tmp_path: Path) -> list[str]:
    """Verify's complaints about our files (it may talk about the host's units too)."""
    names = ("sessionctl", "openclaw-gateway", str(tmp_path))
    return [line for line in out.splitlines() if any(n in line for n in names)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_systemd_analyze_verify_passes_on_every_unit(variant: str, tmp_path: Path) -> None:
    analyze()
    d = tmp_path / variant
    installable_copy(SYSTEMD / variant, d, variant)
    out = verify([str(d / u) for u in UNITS], user=variant == "user", unit_path=d, tmp_path=tmp_path)
    assert our_lines(out, tmp_path) == [], out


GATEWAY_UNIT = """[Unit]
Description=OpenClaw Gateway (stand-in for the unit OpenClaw installs)

[Service]
ExecStart=/bin/sleep infinity
Restart=always

[Install]
WantedBy={target}
"""


@pytest.mark.parametrize("variant", VARIANTS)
def test_systemd_analyze_verify_passes_on_the_gateway_drop_in(variant: str, tmp_path: Path) -> None:
    analyze()
    d = tmp_path / variant
    installable_copy(SYSTEMD / variant, d, variant)
    target = "default.target" if variant == "user" else "multi-user.target"
    (d / "openclaw-gateway.service").write_text(GATEWAY_UNIT.format(target=target))
    user = variant == "user"
    out = verify(["openclaw-gateway.service"], user=user, unit_path=d, tmp_path=tmp_path)
    assert our_lines(out, tmp_path) == [], out
    # the canary: the same setup with a broken drop-in is reported, so the drop-in was read
    conf = d / DROPIN
    conf.write_text(conf.read_text() + "NoSuchSetting=1\n")
    out = verify(["openclaw-gateway.service"], user=user, unit_path=d, tmp_path=tmp_path)
    assert any("sessionctl.conf" in line and "NoSuchSetting" in line for line in out.splitlines()), out


# ---------------------------------------------------------------- what the units say


def seconds(text: str) -> int:
    from sessionctl.timeutil import parse_duration

    return parse_duration(text) // 1000


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_drop_in_runs_prestart_well_inside_the_start_timeout(variant: str) -> None:
    unit = parse_unit((SYSTEMD / variant / DROPIN).read_text())
    (pre,) = values(unit, "Service", "ExecStartPre")
    assert not pre.startswith(("-", "+")), "strict by default: exit 65 must keep the gateway from starting"
    argv = pre.split()
    assert argv[0] == EXEC_PATH[variant] and argv[1] == "prestart"
    deadline = seconds(argv[argv.index("--deadline") + 1])
    (timeout,) = values(unit, "Service", "TimeoutStartSec")
    assert deadline + 30 <= seconds(timeout), (deadline, timeout)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_timer_has_its_service_and_the_services_are_oneshots(variant: str) -> None:
    for name in ("sessionctl-health", "sessionctl-gc"):
        timer = parse_unit((SYSTEMD / variant / f"{name}.timer").read_text())
        service = parse_unit((SYSTEMD / variant / f"{name}.service").read_text())
        assert values(timer, "Install", "WantedBy") == ["timers.target"]
        assert values(timer, "Timer", "OnCalendar") or values(timer, "Timer", "OnUnitActiveSec")
        assert values(service, "Service", "Type") == ["oneshot"]
        users = values(service, "Service", "User")
        assert (users != []) == (variant == "system"), "system units run as the gateway's user"


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_gc_run_skipped_under_a_lockless_gateway_is_not_a_unit_failure(variant: str) -> None:
    service = parse_unit((SYSTEMD / variant / "sessionctl-gc.service").read_text())
    # 75: skipped under a lockless gateway; 10: done, with an agent left untouched (a warning)
    assert values(service, "Service", "SuccessExitStatus") == ["10 75"]
    health = parse_unit((SYSTEMD / variant / "sessionctl-health.service").read_text())
    (cmd,) = values(health, "Service", "ExecStart")
    assert "--fail-on critical" in cmd


def sessionctl_calls(text: str) -> list[tuple[str, list[str]]]:
    """(command, [--options]) of every `sessionctl <command> ...` in a shell/unit line."""
    out: list[tuple[str, list[str]]] = []
    for m in re.finditer(r"sessionctl\"?\s+([a-z][a-z-]*)((?:\s+[^\s;|&)>]+)*)", text):
        opts = [t.split("=", 1)[0] for t in m.group(2).split() if t.startswith("--")]
        out.append((m.group(1), opts))
    return out


def test_units_use_only_documented_options() -> None:
    calls = 0
    for p in shipped_files():
        for key in ("ExecStart", "ExecStartPre"):
            for line in values(parse_unit(p.read_text()), "Service", key):
                for command, opts in sessionctl_calls(line):
                    calls += 1
                    unknown = set(opts) - help_options(command)
                    assert not unknown, f"{p}: sessionctl {command} {sorted(unknown)} not in its --help"
    assert calls == 2 * 3


# ---------------------------------------------------------------- cron

_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
_NAMES = [
    {},
    {},
    {},
    {
        m: i + 1
        for i, m in enumerate(
            ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
        )
    },
    {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
]


def cron_field_ok(field: str, idx: int) -> bool:
    lo, hi = _RANGES[idx]
    names = _NAMES[idx]

    def num(t: str) -> int | None:
        if t.isdigit():
            return int(t)
        return names.get(t.lower())

    for part in field.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return False
        if base == "*":
            continue
        a, _, b = base.partition("-")
        na, nb = num(a), num(b) if b else None
        if na is None or not lo <= na <= hi:
            return False
        if b and (nb is None or not lo <= nb <= hi or nb < na):
            return False
    return True


def cron_jobs() -> list[tuple[list[str], str]]:
    jobs: list[tuple[list[str], str]] = []
    for raw in CRONTAB.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or _ENV.match(line):
            continue
        parts = line.split(None, 5)
        assert len(parts) == 6, f"not 5 time fields and a command: {line!r}"
        jobs.append((parts[:5], parts[5]))
    return jobs


def test_cron_lines_are_five_fields_and_a_command() -> None:
    jobs = cron_jobs()
    assert len(jobs) == 2
    for fields, command in jobs:
        for i, f in enumerate(fields):
            assert cron_field_ok(f, i), f"bad cron field {i + 1}: {f!r}"
        # cron turns an unescaped % into a newline
        assert not re.search(r"(?<!\\)%", command), command


def test_cron_example_runs_health_every_10_minutes_and_gc_nightly_with_documented_options() -> None:
    jobs = cron_jobs()
    by_command: dict[str, tuple[list[str], list[str]]] = {}
    for fields, command in jobs:
        for name, opts in sessionctl_calls(command):
            unknown = set(opts) - help_options(name)
            assert not unknown, f"sessionctl {name} {sorted(unknown)} not in its --help"
            by_command[name] = (fields, opts)
    fields, opts = by_command["health"]
    assert fields[0] == "*/10" and fields[1:] == ["*"] * 4
    assert "--quiet" in opts and "--fail-on" in opts  # one line in cron mail
    assert "--fail-on critical" in CRONTAB.read_text()
    fields, _opts = by_command["gc"]
    assert fields[0].isdigit() and fields[1].isdigit() and fields[2:] == ["*"] * 3


def test_cron_lines_run_in_a_posix_shell(tmp_path: Path) -> None:
    """Each job's command is valid /bin/sh (checked with `sh -n`, nothing is run)."""
    for _fields, command in cron_jobs():
        proc = subprocess.run(["/bin/sh", "-n", "-c", command], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, f"{command!r}: {proc.stderr}"
