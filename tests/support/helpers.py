"""Shared test helpers: real state dirs on disk, the CLI in-process or as a subprocess, tree snapshots.

Import them as ``from support.helpers import ...`` (tests/conftest.py puts tests/ on sys.path).

- ``StateDir`` builds an OpenClaw state dir in a tmp folder: ``openclaw.json``, per-agent
  ``sessions.json`` written byte-for-byte the way OpenClaw writes it, transcripts.
- ``js_stringify`` is an independent reference of ``JSON.stringify(value, null, 2)``
  (array-index keys first, JS number formatting, well-formed string escaping).
- ``run_cli`` / ``run_json`` run the CLI in-process (``sessionctl.cli.main``) with a clean
  environment (no ``OPENCLAW_*``, ``HOME`` pointing nowhere real) and return
  ``(rc, stdout, stderr)``; ``run_clis`` runs several. ``run_cli_subprocess``,
  ``run_json_subprocess`` and ``run_clis_subprocess`` (concurrent) run
  ``python -m sessionctl`` instead, for tests where the process boundary is the point;
  ``start_paused`` starts one stopped at a fault point (files change before it goes on).
- ``tree_snapshot`` records bytes, mtimes and modes of a tree, to prove a command changed
  nothing on disk.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[2]

# The fixed clock of the test-suite: pass NOW_ISO as --now, compare against NOW_MS.
NOW_ISO = "2026-05-01T12:00:00.000Z"
NOW_MS = 1_777_636_800_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def iso(ms: int) -> str:
    """Epoch ms → ISO-8601 UTC with ms and Z, like OpenClaw's timestamps."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# ------------------------------------------------------------ JSON.stringify reference


def _shortest_digits(x: float) -> tuple[str, int]:
    """(digits, n) with x == 0.digits × 10**n (ECMA-262 Number::toString step 5): the
    fewest digits that read back as x; among several, the one closest to x (on a tie the
    even one). Python's repr only tells how many digits are needed; the candidates at that
    precision are the correctly rounded string and its two neighbours (a neighbour wins
    next to a power of two, where the spacing of doubles changes)."""
    p = len(repr(x).split("e")[0].replace(".", "").strip("0")) or 1
    for q in range(p, 18):
        mant, exp = f"{x:.{q - 1}e}".split("e")
        m, e = int(mant.replace(".", "")), int(exp) - (q - 1)  # x ≈ m × 10**e
        ok = [c for c in (m - 1, m, m + 1) if c > 0 and float(f"{c}e{e}") == x]
        if ok:
            exact = Decimal(x)
            best = str(min(ok, key=lambda c: (abs(Decimal(c).scaleb(e) - exact), c % 2)))  # tie: even
            return best.rstrip("0"), len(best) + e
    raise AssertionError(f"no shortest form for {x!r}")


def js_number(x: float | int) -> str:
    """How JavaScript prints a number (JSON.stringify / Number.prototype.toString)."""
    f = float(x)
    if f != f or f in (float("inf"), float("-inf")):
        return "null"
    if f == 0:
        return "0"
    if isinstance(x, int) and abs(x) <= 2**53:
        return str(x)
    sign = "-" if f < 0 else ""
    digits, n = _shortest_digits(abs(f))
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mant = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mant}e{'+' if e >= 0 else '-'}{abs(e)}"


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def js_string(s: str) -> str:
    """A JSON string literal as JSON.stringify writes it (lone surrogates escaped)."""
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif c < 0x20 or 0xD800 <= c <= 0xDFFF:
            out.append(f"\\u{c:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _is_array_index(k: str) -> bool:
    return k.isascii() and k.isdigit() and (k == "0" or k[0] != "0") and int(k) <= 2**32 - 2


def js_key_order(keys: list[str]) -> list[str]:
    """Property order of a JS object: array-index keys ascending, then insertion order."""
    idx = sorted((k for k in keys if _is_array_index(k)), key=int)
    return idx + [k for k in keys if not _is_array_index(k)]


def js_stringify(value: Any, indent: int = 2, _depth: int = 0) -> str:
    """Reference implementation of ``JSON.stringify(value, null, indent)``."""
    pad = " " * (indent * (_depth + 1))
    end = " " * (indent * _depth)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return js_number(value)
    if isinstance(value, str):
        return js_string(value)
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        items = [pad + js_stringify(v, indent, _depth + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + end + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{pad}{js_string(k)}: {js_stringify(value[k], indent, _depth + 1)}"
            for k in js_key_order(list(value))
        ]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    raise TypeError(f"not JSON: {type(value).__name__}")


def store_bytes(store: dict[str, Any]) -> bytes:
    """sessions.json bytes exactly as OpenClaw writes them (2-space indent, no final newline)."""
    return js_stringify(store).encode("utf-8")


# ------------------------------------------------------------ entries and transcripts


def make_entry(
    session_id: str | None = None, updated_at: object = NOW_MS - HOUR_MS, **fields: Any
) -> dict[str, Any]:
    """A store entry with the two required fields first, then `fields` in order
    (`updated_at` of any type: tests build invalid entries too)."""
    return {"sessionId": session_id or str(uuid.uuid4()), "updatedAt": updated_at, **fields}


def header_line(session_id: str, ts_ms: int = NOW_MS - DAY_MS, cwd: str = "/home/user") -> bytes:
    """Line 1 of a transcript: the session header, newline-terminated."""
    obj = {"type": "session", "version": 3, "id": session_id, "timestamp": iso(ts_ms), "cwd": cwd}
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def message_line(
    line_id: str, parent_id: str | None, ts_ms: int, role: str = "user", text: str = "hi"
) -> bytes:
    """One `message` transcript line, newline-terminated."""
    obj = {
        "type": "message",
        "id": line_id,
        "parentId": parent_id,
        "timestamp": iso(ts_ms),
        "message": {"role": role, "content": [{"type": "text", "text": text}], "timestamp": ts_ms},
    }
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def transcript_bytes(
    session_id: str, *, start_ms: int = NOW_MS - DAY_MS, messages: int = 2, step_ms: int = 60_000
) -> bytes:
    """A valid transcript: header + `messages` lines chained by parentId."""
    out = [header_line(session_id, start_ms)]
    parent: str | None = None
    for i in range(messages):
        lid = f"{i + 1:08x}"
        role = "user" if i % 2 == 0 else "assistant"
        out.append(message_line(lid, parent, start_ms + (i + 1) * step_ms, role=role, text=f"message {i}"))
        parent = lid
    return b"".join(out)


@dataclass
class StateDir:
    """An OpenClaw state dir under a tmp folder, built from real files."""

    root: Path

    def agent_dir(self, agent: str) -> Path:
        return self.root / "agents" / agent

    def sessions_dir(self, agent: str) -> Path:
        return self.agent_dir(agent) / "sessions"

    def store_path(self, agent: str) -> Path:
        return self.sessions_dir(agent) / "sessions.json"

    def write_config(self, config: dict[str, Any] | str) -> Path:
        """openclaw.json: a dict is written as JSON, a str verbatim (for JSON5 tests)."""
        path = self.root / "openclaw.json"
        text = config if isinstance(config, str) else json.dumps(config, indent=2)
        path.write_text(text, encoding="utf-8")
        return path

    def write_store(self, agent: str, store: dict[str, Any] | bytes) -> Path:
        """Write sessions.json (a dict as OpenClaw would write it, bytes verbatim), mode 0600."""
        path = self.store_path(agent)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = store if isinstance(store, bytes) else store_bytes(store)
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def read_store(self, agent: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.store_path(agent).read_bytes())
        return data

    def write_discord_bindings(self, bindings: dict[str, Any]) -> Path:
        """discord/thread-bindings.json as OpenClaw writes it: `{"version": 1, "bindings":
        {...}}`, two-space indented; `bindings` maps `<account>:<thread id>` to a record."""
        path = self.root / "discord" / "thread-bindings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"version": 1, "bindings": bindings}, indent=2))
        return path

    def write_transcript(self, agent: str, name: str, data: bytes) -> Path:
        """A file in the agent's sessions folder (`name` is the file name)."""
        path = self.sessions_dir(agent) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def add_session(
        self,
        agent: str,
        key: str,
        *,
        session_id: str | None = None,
        updated_at: int = NOW_MS - HOUR_MS,
        transcript: bytes | bool = True,
        **fields: Any,
    ) -> str:
        """Add one entry to the agent's store (creating it) and, unless `transcript` is
        False, its `<sessionId>.jsonl`. Returns the sessionId."""
        sid = session_id or str(uuid.uuid4())
        path = self.store_path(agent)
        store: dict[str, Any] = self.read_store(agent) if path.exists() else {}
        store[key] = make_entry(sid, updated_at, **fields)
        self.write_store(agent, store)
        if transcript is not False:
            data = (
                transcript
                if isinstance(transcript, bytes)
                else transcript_bytes(sid, start_ms=updated_at - HOUR_MS)
            )
            self.write_transcript(agent, f"{sid}.jsonl", data)
        return sid


# ------------------------------------------------------------ running the CLI


class CliResult(NamedTuple):
    rc: int
    stdout: str
    stderr: str


def clean_env(home: Path | str | None = None, **extra: str) -> dict[str, str]:
    """os.environ without OPENCLAW_*/SESSIONCTL_* and with HOME set to `home` (default: a
    path that does not exist), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SESSIONCTL_"))}
    env.pop("JOURNAL_STREAM", None)
    env["HOME"] = str(home) if home is not None else "/nonexistent/sessionctl-test-home"
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def spawn_execd(argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """subprocess.Popen(argv), returned once the child has exec'd: until then its
    /proc/<pid>/cmdline and environ are still this process's, so a gateway check made
    right after Popen could miss a fake gateway (a flaky refusal test)."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(argv, **popen)
    want = b"".join(a.encode() + b"\0" for a in argv)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{proc.pid}/cmdline").read_bytes() == want:
                return proc
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    raise AssertionError(f"{argv} did not start")


def fake_gateway(state_root: Path, seconds: int = 60) -> subprocess.Popen[bytes]:
    """A process that looks like a running gateway of the state dir `state_root` (argv
    contains `openclaw gateway`, OPENCLAW_STATE_DIR points there), exec'd already."""
    return spawn_execd(
        [sys.executable, "-c", f"import time; time.sleep({seconds})", "openclaw", "gateway"],
        env=clean_env(OPENCLAW_STATE_DIR=str(state_root)),
    )


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 60,
    input: str | None = None,
) -> CliResult:
    """Run ``sessionctl *args`` in this process (``sessionctl.cli.main``) as the console
    script would run in a fresh process: the environment is exactly `env` (default
    ``clean_env()``), the working directory `cwd`, stdin `input` (else empty), and
    stdout/stderr are captured as a pipe would carry them (UTF-8 bytes; stderr with
    backslashreplace, as Python's own) and read back as ``subprocess.run(text=True)``
    reads them. Everything is put back afterwards. Returns (rc, stdout, stderr).

    Use ``run_cli_subprocess`` where the process boundary is what a test checks: kills
    and signals, locks or gateways held by other processes, the console script itself,
    start-up, a fault point that kills (CONTRIBUTING.md, "CLI tests")."""
    env = env if env is not None else clean_env()
    fault = env.get("SESSIONCTL_FAULT", "")
    if any(spec.startswith(("kill:", "pause:")) for spec in fault.split(",")):
        # a kill fault point would SIGKILL the test run itself, a pause would block it
        raise AssertionError(f"SESSIONCTL_FAULT={fault!r} needs a process of its own: use run_cli_subprocess")
    return _run_in_process(list(args), env, cwd, timeout, input)


def run_cli_subprocess(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 60,
    input: str | None = None,
) -> CliResult:
    """Run ``python -m sessionctl *args`` as a subprocess; returns (rc, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "sessionctl", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        cwd=str(cwd) if cwd is not None else None,
        timeout=timeout,
        input=input,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def backup_runs(state: StateDir, n: int) -> list[str]:
    """`sessionctl backup` of `state` n times, one after another: the run ids, oldest
    first (runs for a retention test to keep or prune)."""
    ids = []
    for _ in range(n):
        rc, env, err = run_json("backup", "--state-dir", str(state.root))
        assert rc == 0, err
        ids.append(env["run_id"])
    return ids


@functools.cache
def help_options(command: str) -> frozenset[str]:
    """The long options `sessionctl <command> --help` shows (--help included): what a doc,
    a unit or an example may use with that command."""
    res = run_cli(command, "--help")
    assert res.rc == 0, f"`sessionctl {command} --help` failed: {res.stderr}"
    return frozenset(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", res.stdout))


def run_clis(*commands: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> list[CliResult]:
    """Several independent invocations, in-process one after the other (``run_cli``);
    results in the order given."""
    return [run_cli(*args, env=env, timeout=timeout) for args in commands]


def start_paused(args: list[str], point: str, flag: Path, timeout: float = 60) -> subprocess.Popen[str]:
    """``python -m sessionctl *args --json`` stopped at fault point `point`
    (``SESSIONCTL_FAULT=pause:<point>``): returns once the process waits there, so the
    test can change files between a plan and its application; ``flag.write_text("go")``
    lets it go on (then ``proc.communicate()``). The process boundary is the point: a
    paused in-process call would stop the test."""
    env = clean_env(SESSIONCTL_FAULT=f"pause:{point}", SESSIONCTL_FAULT_PAUSE_FILE=str(flag))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sessionctl", *args, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not Path(str(flag) + ".reached").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"sessionctl {args[0]} never reached {point}"
            time.sleep(0.02)
    except BaseException:
        proc.kill()  # never left waiting behind a failed test
        proc.communicate()
        raise
    return proc


def run_clis_subprocess(
    *commands: list[str], env: dict[str, str] | None = None, timeout: float = 60
) -> list[CliResult]:
    """Several independent ``python -m sessionctl`` invocations, run concurrently (each
    start costs a few hundred ms of imports); results in the order given."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "sessionctl", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env if env is not None else clean_env(),
        )
        for args in commands
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append(CliResult(p.returncode, stdout, stderr))
    return out


def _as_text(data: bytes) -> str:
    """Captured bytes as ``subprocess.run(text=True)`` gives them: UTF-8 (strict),
    universal newlines."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None).read()


class _CliTimeout(BaseException):
    """An in-process call ran past its timeout (raised by SIGALRM)."""


def _run_in_process(
    args: list[str], env: dict[str, str], cwd: Path | str | None, timeout: float, input: str | None
) -> CliResult:
    from sessionctl.cli import main

    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    # a pipe: block-buffered stdout (errors as Python sets them for the C.UTF-8 locale),
    # line-buffered stderr with backslashreplace, as in a fresh `python -m sessionctl`
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="surrogateescape")
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="backslashreplace", line_buffering=True)
    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode("utf-8")), encoding="utf-8")
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    sys.stdin, sys.stdout, sys.stderr = stdin, out, err
    # on the main thread, as in its own process (signal handlers, KeyboardInterrupt); a
    # hang is ended by SIGALRM after `timeout`, as a subprocess test's timeout ended it
    timed_out: list[float] = []

    def on_alarm(signum: int, frame: object) -> None:
        timed_out.append(timeout)
        raise _CliTimeout(timeout)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        if cwd is not None:
            os.chdir(cwd)
        rc = main(args)  # SESSIONCTL_DEBUG=1 lets a bug's exception out: the caller sees it
    except _CliTimeout:
        rc = -1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        for stream in (sys.stdout, sys.stderr, out, err):  # sys.*: click may have wrapped ours
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    stdout, stderr = _as_text(out_bytes.getvalue()), _as_text(err_bytes.getvalue())
    if timed_out:  # main() may have turned the alarm into an internal error (70)
        raise AssertionError(f"sessionctl {args} did not finish in {timeout}s\nstderr:\n{stderr}")
    return CliResult(rc, stdout, stderr)


def parse_envelope(res: CliResult) -> dict[str, Any]:
    """The JSON envelope on a result's stdout; fails when stdout is not one JSON object."""
    try:
        envelope = json.loads(res.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"stdout is not JSON ({exc}):\n{res.stdout}\nstderr:\n{res.stderr}") from None
    assert isinstance(envelope, dict), envelope
    return envelope


def run_json(*args: str, **kwargs: Any) -> tuple[int, dict[str, Any], str]:
    """run_cli (in-process) with --json appended; returns (rc, envelope, stderr). Fails
    when stdout is not exactly one JSON object."""
    res = run_cli(*args, "--json", **kwargs)
    return res.rc, parse_envelope(res), res.stderr


def run_json_subprocess(*args: str, **kwargs: Any) -> tuple[int, dict[str, Any], str]:
    """run_json through ``python -m sessionctl`` (run_cli_subprocess)."""
    res = run_cli_subprocess(*args, "--json", **kwargs)
    return res.rc, parse_envelope(res), res.stderr


ENVELOPE_KEYS = ("schema_version", "command", "status", "exit_code", "state_dir", "now", "errors")


def assert_envelope(envelope: dict[str, Any], *, command: str | None, exit_code: int) -> None:
    """The JSON envelope contract of result.py."""
    for k in ENVELOPE_KEYS:
        assert k in envelope, f"envelope lacks {k!r}: {envelope}"
    assert list(envelope)[:6] == list(ENVELOPE_KEYS[:6])
    assert list(envelope)[-1] == "errors"
    assert envelope["schema_version"] == 1
    assert envelope["command"] == command
    assert envelope["exit_code"] == exit_code
    assert isinstance(envelope["errors"], list)


# ------------------------------------------------------------ processes and trees


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def live_paths(root: Path) -> Iterator[tuple[str, Path]]:
    """(rel path, path) of every file name under `root` but those of sessionctl's own
    folder (`<root>/sessionctl`: run folders, the private lock)."""
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and "sessionctl" in dirnames:
            dirnames.remove("sessionctl")
        for name in filenames:
            p = Path(dirpath) / name
            yield str(p.relative_to(root)), p


def tree_snapshot(root: Path) -> dict[str, tuple[str, bytes | str | None, int, int]]:
    """rel path → (kind, content, mtime_ns, mode) for everything under `root`, without
    following symlinks or opening FIFOs. Compare two snapshots to prove nothing changed."""
    out: dict[str, tuple[str, bytes | str | None, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p), st.st_mtime_ns, st.st_mode)
            elif stat.S_ISREG(st.st_mode):
                content: bytes | None = p.read_bytes() if st.st_mode & 0o444 else None
                out[rel] = ("file", content, st.st_mtime_ns, st.st_mode)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", None, st.st_mtime_ns, st.st_mode)
            else:
                out[rel] = ("other", None, st.st_mtime_ns, st.st_mode)
    return out


def backup_bytes(path: Path) -> bytes:
    """The content of a run folder's backup file as it was backed up: store backups are
    kept zstd-compressed (`.zst`), read here with the zstandard library itself; any
    other backup (and every backup of a run made before) is the plain copy."""
    raw = path.read_bytes()
    if path.name.endswith(".zst"):
        import zstandard

        assert raw[:4] == b"\x28\xb5\x2f\xfd", f"{path} is named .zst but is no zstd frame"
        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(raw))
    return raw


def write_backup_bytes(path: Path, data: bytes) -> None:
    """Replace a backup file's content (tampering, bit rot), compressed like the file
    it replaces when that was a `.zst` store backup."""
    if path.name.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
