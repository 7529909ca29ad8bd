"""Drive the REAL OpenClaw offline, for interop tests of sessionctl.

Standard library only. Typical use from a test::

    from interop import harness as h

    oc = h.install("2026.5.28")                 # or h.require_installed(...) / skip
    with h.fake_model() as port:
        state = h.make_state_dir(tmp_path, ["main", "ops"], port)
        h.run_agent(state, "main", "agent:main:telegram:direct:12345", "hi")
        store = h.store_path(state, "main")
        listing = h.openclaw_sessions_json(state, store)
        plan = h.openclaw_cleanup_dry_run(state, store)

Every subprocess has a timeout. Nothing touches the real ``$HOME``: OpenClaw runs with
``OPENCLAW_STATE_DIR=<state>`` and ``HOME``/``OPENCLAW_HOME`` set to a sibling folder
``<state>-home``.

Cache root: ``$SESSIONCTL_INTEROP_CACHE`` or ``~/.cache/sessionctl-interop``; each
release lives in ``<cache>/openclaw-<version>`` with a wrapper ``bin/openclaw``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INTEROP_DIR = Path(__file__).resolve().parent
INSTALL_SH = INTEROP_DIR / "install.sh"
FAKE_MODEL_PY = INTEROP_DIR / "fake_model.py"

#: current file-store release (no cross-process store lock, ``--session-key``)
DEFAULT_VERSION = "2026.5.28"
#: lock-era release (``sessions.json.lock``, ``--session-id``/``--to`` only)
LOCK_ERA_VERSION = "2026.4.15"

PROVIDER_ID = "fake"
MODEL_ID = "fake-model"

#: generous per-call timeouts (seconds): a 2026.4.15 agent call takes 40-100 s on an idle
#: 2-core box and was seen at 260 s under heavy load
AGENT_TIMEOUT = 600
CLI_TIMEOUT = 300
INSTALL_TIMEOUT = 1800


class InteropUnavailable(RuntimeError):
    """OpenClaw cannot be installed/run here (no registry, unsupported platform, ...)."""


class OpenClawError(RuntimeError):
    """An OpenClaw command failed."""

    def __init__(self, msg: str, result: subprocess.CompletedProcess[str] | None = None):
        super().__init__(msg)
        self.result = result


# ----------------------------------------------------------------------------- install


# captured at import: the test suite's autouse fixture clears SESSIONCTL_* variables
_CACHE_ENV_AT_IMPORT = os.environ.get("SESSIONCTL_INTEROP_CACHE")


def cache_dir() -> Path:
    root = (
        os.environ.get("SESSIONCTL_INTEROP_CACHE")
        or _CACHE_ENV_AT_IMPORT
        or str(Path.home() / ".cache" / "sessionctl-interop")
    )
    return Path(root).expanduser()


def release_dir(version: str = DEFAULT_VERSION) -> Path:
    return cache_dir() / f"openclaw-{version}"


def installed(version: str = DEFAULT_VERSION) -> Path | None:
    """Wrapper path if ``version`` is fully installed in the cache, else None (no network)."""
    d = release_dir(version)
    wrapper = d / "bin" / "openclaw"
    if (d / ".sessionctl-installed").is_file() and os.access(wrapper, os.X_OK):
        return wrapper
    return None


def install(version: str = DEFAULT_VERSION, timeout: float = INSTALL_TIMEOUT) -> Path:
    """Install Node 24 + OpenClaw ``version`` (idempotent); return the ``openclaw`` wrapper.

    Raises InteropUnavailable when the installer fails (e.g. registry unreachable).
    """
    done = installed(version)
    if done is not None:
        return done
    env = dict(os.environ, SESSIONCTL_INTEROP_CACHE=str(cache_dir()))
    try:
        proc = subprocess.run(
            ["bash", str(INSTALL_SH), version],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise InteropUnavailable(f"install.sh {version} timed out after {timeout}s") from e
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise InteropUnavailable(f"install.sh {version} failed (exit {proc.returncode}):\n{tail}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines:
        raise InteropUnavailable(f"install.sh {version} printed no wrapper path")
    wrapper = Path(lines[-1].strip())
    if not os.access(wrapper, os.X_OK):
        raise InteropUnavailable(f"install.sh {version}: wrapper {wrapper} is not executable")
    return wrapper


def node_binary(version: str = DEFAULT_VERSION) -> Path:
    """The Node binary that runs OpenClaw ``version`` (installed first if need be): the
    judge of what ``JSON.parse`` accepts."""
    wrapper = install(version)
    m = re.search(r'^exec "([^"]+/bin/node)"', wrapper.read_text("utf-8"), re.M)
    if m is None or not os.access(m.group(1), os.X_OK):
        raise InteropUnavailable(f"no node binary named in {wrapper}")
    return Path(m.group(1))


def openclaw_module(name: str, version: str = DEFAULT_VERSION) -> tuple[Path, str]:
    """(file, export name) of the function `name` in OpenClaw ``version``'s shipped
    JavaScript (bundled files have hashed names and minified export aliases): lets a test
    call OpenClaw's own code from Node."""
    root = release_dir(version) / "node_modules"
    for js in sorted((root / "openclaw" / "dist").glob("*.js")) + sorted(
        root.glob("@mariozechner/*/dist/**/*.js")
    ):
        text = js.read_text("utf-8", errors="replace")
        if f"function {name}(" not in text:
            continue
        m = re.search(rf"\b{name} as (\w+)\b", text)
        if m:
            return js, m.group(1)
        if re.search(rf"export (async )?function {name}\(", text):
            return js, name
    raise InteropUnavailable(f"OpenClaw {version}: no exported function {name}")


def supports_session_key(version: str) -> bool:
    """True if this release's ``openclaw agent`` has ``--session-key`` (2026.5.x does,
    2026.4.15 does not). Decided from the installed JS, without running it."""
    dist = release_dir(version) / "node_modules" / "openclaw" / "dist"
    files = sorted(dist.glob("register.agent*.js"))
    if not files:
        # unknown layout: guess from the version number
        return version >= "2026.5"
    return any("--session-key <" in f.read_text("utf-8", "replace") for f in files)


# ----------------------------------------------------------------------------- fake model


def start_fake_model(
    *,
    delay: float = 0.0,
    prefix: str = "fake reply",
    extra_args: Sequence[str] = (),
    timeout: float = 15.0,
) -> tuple[subprocess.Popen[str], int]:
    """Start interop/fake_model.py on 127.0.0.1 with a free port; return (proc, port)."""
    cmd = [sys.executable, str(FAKE_MODEL_PY), "--port", "0", "--prefix", prefix]
    if delay:
        cmd += ["--delay", str(delay)]
    cmd += list(extra_args)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True
    )
    port_box: list[str] = []
    reader = threading.Thread(target=lambda: port_box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    line = port_box[0].strip() if port_box else ""
    if not line.isdigit():
        stop_fake_model(proc)
        raise RuntimeError(f"fake model server did not report a port (got {line!r})")
    return proc, int(line)


def stop_fake_model(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    if proc.stdout:
        proc.stdout.close()


@contextlib.contextmanager
def fake_model(**kw: Any) -> Iterator[int]:
    """Context manager around start_fake_model/stop_fake_model; yields the port."""
    proc, port = start_fake_model(**kw)
    try:
        yield port
    finally:
        stop_fake_model(proc)


# ----------------------------------------------------------------------------- state dir


def provider_config(port: int) -> dict[str, Any]:
    """The ``models`` block pointing OpenClaw at the fake server."""
    return {
        "mode": "merge",
        "providers": {
            PROVIDER_ID: {
                "baseUrl": f"http://127.0.0.1:{port}/v1",
                "apiKey": "sk-fake-local",
                "api": "openai-completions",
                "models": [
                    {
                        "id": MODEL_ID,
                        "name": "Fake Model",
                        "reasoning": False,
                        "input": ["text"],
                        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                        "contextWindow": 128000,
                        "maxTokens": 4096,
                    }
                ],
            }
        },
    }


def make_state_dir(
    tmp: os.PathLike[str] | str,
    agents: Sequence[str] = ("main", "ops"),
    port: int = 0,
    *,
    name: str = "state",
    session: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Create ``<tmp>/<name>`` with an ``openclaw.json`` (first agent is the default).

    ``session`` becomes the config's ``session`` block (e.g. ``{"dmScope": "per-peer"}``
    or ``{"maintenance": {...}}``); ``extra`` is merged into the top level.
    """
    if not agents:
        raise ValueError("need at least one agent")
    state = Path(tmp) / name
    state.mkdir(parents=True, exist_ok=True)
    cfg: dict[str, Any] = {
        "agents": {
            "defaults": {
                "workspace": str(state / "workspace"),
                "model": {"primary": f"{PROVIDER_ID}/{MODEL_ID}"},
            },
            "list": [({"id": a, "default": True} if i == 0 else {"id": a}) for i, a in enumerate(agents)],
        },
        "models": provider_config(port),
    }
    if session:
        cfg["session"] = session
    if extra:
        cfg.update(extra)
    (state / "openclaw.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    home_for(state).mkdir(parents=True, exist_ok=True)
    return state


def set_model_port(state: Path, port: int) -> None:
    """Re-point an existing state dir's provider at another fake-model port."""
    p = Path(state) / "openclaw.json"
    cfg = json.loads(p.read_text("utf-8"))
    cfg.setdefault("models", {}).setdefault("providers", {})[PROVIDER_ID] = provider_config(port)[
        "providers"
    ][PROVIDER_ID]
    p.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")


def home_for(state: Path) -> Path:
    state = Path(state)
    return state.with_name(state.name + "-home")


def store_path(state: Path, agent: str = "main") -> Path:
    return Path(state) / "agents" / agent / "sessions" / "sessions.json"


def sessions_dir(state: Path, agent: str = "main") -> Path:
    return store_path(state, agent).parent


def read_store(state: Path, agent: str = "main") -> dict[str, Any]:
    p = store_path(state, agent)
    return json.loads(p.read_text("utf-8")) if p.exists() else {}


def openclaw_env(state: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    state = Path(state).resolve()
    home = home_for(state)
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_")}
    env.update(
        {
            "OPENCLAW_STATE_DIR": str(state),
            "OPENCLAW_HOME": str(home),
            "HOME": str(home),
            "OPENCLAW_NO_AUTO_UPDATE": "1",
            "OPENCLAW_DISABLE_BONJOUR": "1",
            "NO_COLOR": "1",
            "FORCE_COLOR": "0",
        }
    )
    if extra:
        env.update(extra)
    return env


# ----------------------------------------------------------------------------- running openclaw


def run_openclaw(
    state: Path,
    args: Sequence[str],
    *,
    version: str = DEFAULT_VERSION,
    timeout: float = CLI_TIMEOUT,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``openclaw ARGS`` for ``state`` with the cached release ``version``."""
    wrapper = installed(version) or install(version)
    cmd = [str(wrapper), *args]
    try:
        res = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=openclaw_env(state, env),
            cwd=str(state),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise OpenClawError(f"openclaw {' '.join(args)} timed out after {timeout}s") from e
    if check and res.returncode != 0:
        raise OpenClawError(
            f"openclaw {' '.join(args)} exited {res.returncode}\nstderr tail:\n"
            + "\n".join(res.stderr.strip().splitlines()[-20:]),
            res,
        )
    return res


def extract_json(*texts: str) -> Any:
    """Parse the JSON document printed by ``--json`` (2026.4.15 prints it on STDERR,
    2026.5.28 on stdout). Tries each text whole, then from every line starting with
    ``{`` or ``[``. Returns None if nothing parses."""
    dec = json.JSONDecoder()
    for text in texts:
        if not text or not text.strip():
            continue
        with contextlib.suppress(ValueError):
            return json.loads(text)
        for m in re.finditer(r"(?m)^[{\[]", text):
            with contextlib.suppress(ValueError):
                obj, _ = dec.raw_decode(text, m.start())
                return obj
    return None


@dataclass
class AgentRun:
    version: str
    agent: str
    key: str
    argv: list[str]
    returncode: int
    elapsed: float
    stdout: str
    stderr: str
    output: Any = None  # parsed --json document
    session_id: str | None = None
    seeded: bool = False  # 4.15 only: the key was pre-seeded into the store
    events: list[tuple[float, str, str | None]] = field(default_factory=list)


_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def write_store(path: Path, data: dict[str, Any]) -> None:
    """Write ``sessions.json`` exactly as OpenClaw does: ``JSON.stringify(store, null, 2)``
    (no trailing newline), temp file ``sessions.json.<pid>.<uuid>.tmp`` mode 0600 in the
    same folder, fsync, rename. No lock: only for a store no OpenClaw process is using."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, ensure_ascii=False))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


_write_store_like_openclaw = write_store


# ----------------------------------------------------------------------------- ageing sessions

_ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
#: epoch-ms values below this are not timestamps (token counts, sizes, ...)
_EPOCH_MS_MIN = 1_000_000_000_000


def iso_ms(ms: int) -> str:
    """Epoch ms -> ``2026-05-01T12:00:00.123Z`` (``Date.prototype.toISOString``)."""
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ms % 1000:03d}Z"


def parse_iso_ms(text: str) -> int:
    """``2026-05-01T12:00:00.123Z`` -> epoch ms (UTC)."""
    import calendar

    if not _ISO_MS.match(text):
        raise ValueError(f"not an ISO timestamp with ms and Z: {text!r}")
    secs = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    return secs * 1000 + int(text[20:23])


def _shift_timestamps(obj: Any, delta_ms: int) -> Any:
    """Every ``"timestamp"`` value in ``obj`` (ISO string or epoch ms), recursively,
    moved ``delta_ms`` into the past."""
    if isinstance(obj, list):
        return [_shift_timestamps(v, delta_ms) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if k == "timestamp" and isinstance(v, str) and _ISO_MS.match(v):
            out[k] = iso_ms(parse_iso_ms(v) - delta_ms)
        elif k == "timestamp" and isinstance(v, int) and not isinstance(v, bool) and v > _EPOCH_MS_MIN:
            out[k] = v - delta_ms
        else:
            out[k] = _shift_timestamps(v, delta_ms)
    return out


def _js_line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def age_transcript(path: Path, activity_ms: int, start_ms: int | None = None) -> None:
    """Move a transcript into the past the way it would look had it been written then:
    the header's ``timestamp`` by ``start_ms`` (default ``activity_ms``), every later
    line's ``timestamp`` values (ISO and epoch ms, also nested) by ``activity_ms``; the
    file's mtime becomes its (shifted) last line time. Lines are re-serialised like
    ``JSON.stringify`` -- refused (ValueError) for a line that would not round-trip
    byte for byte. Atomic (same-folder temp + rename), mode kept."""
    path = Path(path)
    start_ms = activity_ms if start_ms is None else start_ms
    raw = path.read_bytes()
    if not raw.endswith(b"\n"):
        raise ValueError(f"{path}: transcript does not end with a newline")
    out: list[str] = []
    last_ts: int | None = None
    for i, line in enumerate(raw.decode("utf-8").split("\n")[:-1]):
        obj = json.loads(line)
        if _js_line(obj) != line:
            raise ValueError(f"{path}:{i + 1}: line would not round-trip through JSON.stringify")
        obj = _shift_timestamps(obj, start_ms if i == 0 else activity_ms)
        ts = obj.get("timestamp") if isinstance(obj, dict) else None
        if isinstance(ts, str) and _ISO_MS.match(ts):
            last_ts = parse_iso_ms(ts)
        out.append(_js_line(obj))
    mode = stat_mode(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("".join(ln + "\n" for ln in out))
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    if last_ts is not None:
        os.utime(path, ns=(last_ts * 1_000_000, last_ts * 1_000_000))


def stat_mode(path: Path) -> int:
    import stat as _stat

    return _stat.S_IMODE(os.stat(path).st_mode)


#: entry fields that record activity / the session start (epoch ms)
ACTIVITY_FIELDS = ("updatedAt", "lastInteractionAt")
START_FIELDS = ("sessionStartedAt",)


def age_session(state: Path, agent: str, key: str, activity_ms: int, start_ms: int | None = None) -> None:
    """Make session ``key`` of ``agent`` look ``activity_ms`` idle and ``start_ms`` old
    (default: the same): ``updatedAt``/``lastInteractionAt`` move back by
    ``activity_ms``, ``sessionStartedAt`` by ``start_ms``, and its transcript
    (``sessionFile``) by age_transcript(). The store is rewritten exactly as OpenClaw
    writes it (write_store). Only while no OpenClaw process uses the state dir."""
    start_ms = activity_ms if start_ms is None else start_ms
    path = store_path(state, agent)
    store = json.loads(path.read_text("utf-8"))
    entry = store[key]
    for f in ACTIVITY_FIELDS:
        if isinstance(entry.get(f), int):
            entry[f] -= activity_ms
    for f in START_FIELDS:
        if isinstance(entry.get(f), int):
            entry[f] -= start_ms
    transcript = Path(entry.get("sessionFile") or path.parent / f"{entry['sessionId']}.jsonl")
    if transcript.exists():
        age_transcript(transcript, activity_ms, start_ms)
    write_store(path, store)


def legacy_agent_args(state: Path, agent: str, key: str) -> tuple[list[str], bool]:
    """CLI selector for releases WITHOUT ``--session-key`` (e.g. 2026.4.15).

    Mapping (from 2026.4.15's resolveSessionKeyForRequest):
      * ``agent:<agent>:main``                  -> ``--agent <agent>``
      * ``agent:main:explicit:<id>``            -> ``--session-id <id>`` (no --agent)
      * ``agent:main:<ch>:group|channel:<id>``  -> ``--to <ch>:group|channel:<id>``
      * anything else: the key is SEEDED into ``<agent>``'s store as
        ``{"sessionId": <uuid4>, "updatedAt": now}`` (OpenClaw-style atomic write) unless
        present, then ``--session-id <that id>``; OpenClaw finds the key by session id in
        any configured agent's store and runs there.
    Returns (args, seeded).
    """
    key = key.strip().lower()
    parts = key.split(":")
    if len(parts) < 3 or parts[0] != "agent":
        raise ValueError(f"not an agent session key: {key!r}")
    if parts[1] != agent:
        raise ValueError(f"key {key!r} does not belong to agent {agent!r}")
    rest = ":".join(parts[2:])
    if rest == "main":
        return ["--agent", agent], False
    if agent == "main" and parts[2] == "explicit" and len(parts) == 4 and _SAFE_ID.match(parts[3]):
        return ["--session-id", parts[3]], False
    if (
        agent == "main"
        and len(parts) >= 5
        and parts[3] in ("group", "channel")
        and ":thread:" not in key
        and ":topic:" not in key
    ):
        return ["--to", rest], False
    path = store_path(state, agent)
    store = json.loads(path.read_text("utf-8")) if path.exists() else {}
    entry = store.get(key)
    if isinstance(entry, dict) and isinstance(entry.get("sessionId"), str):
        return ["--session-id", entry["sessionId"]], False
    sid = str(uuid.uuid4())
    store[key] = {"sessionId": sid, "updatedAt": int(time.time() * 1000)}
    _write_store_like_openclaw(path, store)
    return ["--session-id", sid], True


class SessionsDirWatcher:
    """Poll a sessions folder every few ms in a thread and record new files and the
    content of lock/tmp files, to catch ``sessions.json.lock`` & co. during a run.

    ``events``: list of (time, filename, content-or-None); content is recorded for
    names ending in ``.lock`` (each distinct content once) and None for other new files.
    """

    def __init__(self, folder: Path, interval: float = 0.003) -> None:
        self.folder = Path(folder)
        self.interval = interval
        self.events: list[tuple[float, str, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seen: set[str] = set()
        seen_content: set[tuple[str, str]] = set()
        while not self._stop.is_set():
            try:
                names = os.listdir(self.folder)
            except OSError:
                names = []
            now = time.time()
            for n in names:
                if n.endswith(".lock"):
                    try:
                        with open(self.folder / n, encoding="utf-8", errors="replace") as f:
                            c = f.read()
                    except OSError:
                        continue
                    if (n, c) not in seen_content:
                        seen_content.add((n, c))
                        seen.add(n)
                        self.events.append((now, n, c))
                elif n not in seen:
                    seen.add(n)
                    self.events.append((now, n, None))
            self._stop.wait(self.interval)

    def __enter__(self) -> SessionsDirWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def locks(self) -> list[tuple[float, str, str]]:
        return [(t, n, c) for t, n, c in self.events if c is not None]


@dataclass
class LockSighting:
    """One distinct payload seen in a lock file: when, which file, the holder's pid
    and its command line at that moment (``/proc/<pid>/cmdline``, "" if gone)."""

    t: float
    path: Path
    pid: int | None
    cmdline: str
    payload: str


class LockPoller:
    """Watch given lock files (e.g. both agents' ``sessions.json.lock``) in a thread,
    reading them directly every ``interval`` seconds (default 0.5 ms; a store critical
    section of sessionctl lasts a few ms). Each distinct non-empty payload is recorded
    once with its holder's command line, read right away so the holder is identified
    while it still holds the lock. Use as a context manager; ``sightings`` afterwards.
    ``mute(path)`` stops reading one file for a while (see LockOpenWatcher)."""

    def __init__(self, paths: Sequence[Path], interval: float = 0.0005) -> None:
        self.paths = [Path(p) for p in paths]
        self.interval = interval
        self.sightings: list[LockSighting] = []
        self.polls = 0
        self._seen: set[tuple[Path, str]] = set()
        self._muted: set[Path] = set()
        self._busy = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def mute(self, path: Path) -> None:
        """Stop reading ``path``; when this returns no read of it is in progress, so every
        later open of the file is someone else's."""
        with self._busy:
            self._muted.add(Path(path))

    def unmute(self, path: Path) -> None:
        with self._busy:
            self._muted.discard(Path(path))

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._busy:
                for path in self.paths:
                    if path not in self._muted:
                        self._poll(path)
            time.sleep(self.interval)

    def _poll(self, path: Path) -> None:
        self.polls += 1
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                content = f.read()
        except OSError:
            return
        if not content.strip() or (path, content) in self._seen:
            return
        self._seen.add((path, content))
        pid: int | None = None
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            pid = int(json.loads(content)["pid"])
        cmdline = ""
        if pid is not None:
            with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        self.sightings.append(LockSighting(time.time(), path, pid, cmdline, content))

    def __enter__(self) -> LockPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)


class LockOpenWatcher:
    """Linux inotify (through ctypes) on the folders of some lock files: while a *window*
    is open for a lock file, every open, creation and removal of that file is recorded.

    Used to see a contender at work: while sessionctl holds ``sessions.json.lock`` (and
    nothing else of ours reads it: mute it in the LockPoller first), an ``open`` is
    another process reading the holder's payload to judge it -- OpenClaw waiting for
    the lock -- and a ``create``/``delete`` would be someone breaking a live lock.
    inotify names no process; the caller makes sure only the contenders can be it. The
    kernel merges identical unread events, so counts are lower bounds.
    """

    IN_OPEN = 0x020
    IN_MOVED_FROM = 0x040
    IN_MOVED_TO = 0x080
    IN_CREATE = 0x100
    IN_DELETE = 0x200
    _KINDS: tuple[tuple[int, str], ...] = ((IN_OPEN, "open"), (IN_CREATE, "create"), (IN_DELETE, "delete"))
    _KINDS += ((IN_MOVED_FROM, "moved_from"), (IN_MOVED_TO, "moved_to"))

    def __init__(self, lock_paths: Sequence[Path]) -> None:
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self.lock_paths = [Path(p) for p in lock_paths]
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._fd = fd
        self._wd: dict[int, Path] = {}
        mask = self.IN_OPEN | self.IN_CREATE | self.IN_DELETE | self.IN_MOVED_FROM | self.IN_MOVED_TO
        for folder in {p.parent for p in self.lock_paths}:
            wd = self._libc.inotify_add_watch(fd, str(folder).encode(), mask)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder} failed")
            self._wd[wd] = folder
        self._windows: dict[Path, list[tuple[float, str]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _drain(self) -> None:
        import struct

        while True:
            try:
                buf = os.read(self._fd, 64 << 10)
            except BlockingIOError:
                return
            now = time.time()
            off = 0
            while off + 16 <= len(buf):
                wd, mask, _cookie, ln = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16 : off + 16 + ln].split(b"\0", 1)[0].decode("utf-8", "replace")
                off += 16 + ln
                folder = self._wd.get(wd)
                if folder is None:
                    continue
                events = self._windows.get(folder / name)
                if events is None:
                    continue
                for bit, kind in self._KINDS:
                    if mask & bit:
                        events.append((now, kind))

    def _run(self) -> None:
        import select

        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        while not self._stop.is_set():
            if poller.poll(20):
                with self._lock:
                    self._drain()

    def open_window(self, path: Path) -> None:
        """Start recording events of ``path`` (events queued before now are dropped)."""
        with self._lock:
            self._drain()
            self._windows[Path(path)] = []

    def close_window(self, path: Path) -> list[tuple[float, str]]:
        """Stop recording ``path``; returns its (time, kind) events since open_window."""
        with self._lock:
            self._drain()
            return self._windows.pop(Path(path), [])

    def __enter__(self) -> LockOpenWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        os.close(self._fd)


def run_agent(
    state: Path,
    agent: str,
    key: str,
    message: str,
    *,
    version: str = DEFAULT_VERSION,
    timeout: float = AGENT_TIMEOUT,
    check: bool = True,
    watch: bool = False,
    extra_args: Sequence[str] = (),
) -> AgentRun:
    """One real ``openclaw agent --local ... --json`` turn for session ``key`` of ``agent``.

    2026.5.x: ``--agent A --session-key KEY``. Releases without ``--session-key``
    (2026.4.15): see legacy_agent_args(). ``watch=True`` records lock/tmp files that
    appear in the agent's sessions folder during the run (AgentRun.events).
    """
    key = key.strip()
    seeded = False
    if supports_session_key(version):
        sel = ["--agent", agent, "--session-key", key]
    else:
        sel, seeded = legacy_agent_args(state, agent, key)
    args = ["agent", "--local", *sel, "--message", message, "--json", *extra_args]
    watcher = SessionsDirWatcher(sessions_dir(state, agent)) if watch else None
    t0 = time.monotonic()
    with watcher if watcher else contextlib.nullcontext():
        res = run_openclaw(state, args, version=version, timeout=timeout, check=False)
    elapsed = time.monotonic() - t0
    out = extract_json(res.stdout, res.stderr)
    sid = None
    if isinstance(out, dict):
        meta = out.get("meta") or {}
        sid = (meta.get("agentMeta") or {}).get("sessionId") or (meta.get("systemPromptReport") or {}).get(
            "sessionId"
        )
    run = AgentRun(
        version=version,
        agent=agent,
        key=key.lower(),
        argv=args,
        returncode=res.returncode,
        elapsed=elapsed,
        stdout=res.stdout,
        stderr=res.stderr,
        output=out,
        session_id=sid,
        seeded=seeded,
        events=watcher.events if watcher else [],
    )
    if check:
        if res.returncode != 0:
            raise OpenClawError(
                f"openclaw {' '.join(args)} exited {res.returncode}\n"
                + "\n".join(res.stderr.strip().splitlines()[-20:]),
                res,
            )
        if not isinstance(out, dict) or not out.get("payloads"):
            raise OpenClawError(
                f"openclaw agent printed no JSON result:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}", res
            )
    return run


def openclaw_sessions_json(
    state: Path,
    store: Path,
    *,
    version: str = DEFAULT_VERSION,
    extra_args: Sequence[str] | None = None,
    timeout: float = CLI_TIMEOUT,
) -> dict[str, Any]:
    """``openclaw sessions --json --store STORE`` parsed. Shape (5.28)::

    {"path": STORE, "count", "totalCount", "limitApplied", "hasMore",
     "activeMinutes": null, "sessions": [{"key", "updatedAt", "ageMs", "sessionId",
     ..., "agentId", "kind": "direct"|"group"|...}]}
    """
    args = ["sessions", "--json", "--store", str(store)]
    if extra_args is None:
        # --limit exists in 2026.5.x (default 100 rows), not in 2026.4.15
        res = run_openclaw(state, [*args, "--limit", "all"], version=version, timeout=timeout, check=False)
        if res.returncode != 0 and "unknown option '--limit'" in res.stderr:
            res = run_openclaw(state, args, version=version, timeout=timeout)
        elif res.returncode != 0:
            raise OpenClawError(
                f"openclaw {' '.join(args)} exited {res.returncode}\n{res.stderr[-2000:]}", res
            )
    else:
        res = run_openclaw(state, [*args, *extra_args], version=version, timeout=timeout)
    out = extract_json(res.stdout, res.stderr)
    if not isinstance(out, dict):
        raise OpenClawError(
            f"openclaw sessions printed no JSON:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}", res
        )
    return out


def openclaw_cleanup_dry_run(
    state: Path,
    store: Path,
    *,
    version: str = DEFAULT_VERSION,
    extra_args: Sequence[str] = (),
    timeout: float = CLI_TIMEOUT,
) -> dict[str, Any]:
    """``openclaw sessions cleanup --dry-run --json --store STORE`` parsed. Shape (5.28)::

    {"agentId", "storePath", "mode", "dryRun": true, "beforeCount", "afterCount",
     "missing", "dmScopeRetired", "pruned", "capped",
     "unreferencedArtifacts": {...}, "diskBudget": null|{...}, "wouldMutate": bool}
    """
    res = run_openclaw(
        state,
        ["sessions", "cleanup", "--dry-run", "--json", "--store", str(store), *extra_args],
        version=version,
        timeout=timeout,
    )
    out = extract_json(res.stdout, res.stderr)
    if not isinstance(out, dict):
        raise OpenClawError(
            f"openclaw sessions cleanup printed no JSON:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}", res
        )
    return out


# ----------------------------------------------------------------------------- samples


def copy_sample(state: Path, dest: Path) -> Path:
    """Copy the parts of a state dir worth keeping as a fixture: ``openclaw.json`` (apiKey
    redacted) and ``agents/*/sessions/**`` byte for byte (mode kept). Workspace, logs,
    tasks DB, plugin caches and ``agents/*/agent/`` (models.json with keys) are left out."""
    state, dest = Path(state), Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    cfg = json.loads((state / "openclaw.json").read_text("utf-8"))
    for prov in (cfg.get("models") or {}).get("providers", {}).values():
        if "apiKey" in prov:
            prov["apiKey"] = "REDACTED"
    (dest / "openclaw.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    for sess in sorted((state / "agents").glob("*/sessions")):
        target = dest / sess.relative_to(state)
        shutil.copytree(sess, target, copy_function=shutil.copy2)
    return dest


# ----------------------------------------------------------------------------- a real gateway

GATEWAY_TOKEN = "sessionctl-interop-token"


@dataclass
class RunningGateway:
    proc: subprocess.Popen[bytes]
    port: int
    token: str
    log: Path

    def env(self) -> dict[str, str]:
        """What an `openclaw` CLI (or sessionctl passing it on) needs to reach this gateway."""
        return {"OPENCLAW_GATEWAY_PORT": str(self.port), "OPENCLAW_GATEWAY_TOKEN": self.token}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(
    state: Path, *, version: str = "2026.9.6", token: str = GATEWAY_TOKEN, ready_timeout: float = 300.0
) -> RunningGateway:
    """`openclaw gateway run` on loopback for ``state``, token auth; waits for `[gateway] ready`.
    Raises OpenClawError (with the log's tail) when it exits or does not get ready."""
    wrapper = installed(version) or install(version)
    port = free_port()
    log = Path(state).with_name(Path(state).name + f"-gateway-{port}.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(wrapper),
                "gateway",
                "run",
                "--port",
                str(port),
                "--bind",
                "loopback",
                "--auth",
                "token",
                "--token",
                token,
                "--allow-unconfigured",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=openclaw_env(state, {"OPENCLAW_GATEWAY_TOKEN": token, "OPENCLAW_GATEWAY_PORT": str(port)}),
            cwd=str(state),
            start_new_session=True,
        )
    deadline = time.monotonic() + ready_timeout
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    while time.monotonic() < deadline:
        text = ansi.sub("", log.read_text("utf-8", "replace"))
        if "[gateway] ready" in text:
            return RunningGateway(proc, port, token, log)
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    stop_gateway(RunningGateway(proc, port, token, log))
    tail = "\n".join(log.read_text("utf-8", "replace").splitlines()[-15:])
    raise OpenClawError(f"the gateway did not get ready (exit {proc.returncode}):\n{tail}")


def stop_gateway(gw: RunningGateway, timeout: float = 120.0) -> None:
    """SIGTERM the gateway's process group and wait (SIGKILL after `timeout`)."""
    if gw.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(gw.proc.pid, signal.SIGTERM)
        try:
            gw.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(gw.proc.pid, signal.SIGKILL)
            gw.proc.wait(30)
    # the gateway's children (titled openclaw-gateway) share its process group
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(gw.proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
