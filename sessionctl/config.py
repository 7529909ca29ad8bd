"""State-dir resolution (OpenClaw's own rules), openclaw.json (JSON5) and sessionctl.toml."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sessionctl.errors import (
    ConfigError,
    NotFoundError,
    NotRegularFile,
    PermissionDenied,
    SessionctlError,
    from_os_error,
)
from sessionctl.fsio import read_bytes
from sessionctl.jsonjs import JsonObj, dig
from sessionctl.store import json_type

LEGACY_DIRS = (".clawdbot", ".moltbot", ".moldbot")
_AGENT_ID_OK = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _env(name: str, environ: dict[str, str]) -> str | None:
    v = environ.get(name)
    if v is None:
        return None
    v = v.strip()
    if not v or v in ("undefined", "null"):
        return None
    return v


def _expand(p: str, home: str) -> str:
    if p == "~" or p.startswith("~/"):
        return home + p[1:]
    return p


def resolve_state_dir(explicit: str | None, environ: dict[str, str] | None = None) -> Path:
    """`--state-dir`, else $OPENCLAW_STATE_DIR, else <home>/.openclaw with the legacy
    .clawdbot/.moltbot/.moldbot fallback (format doc §1)."""
    env = dict(os.environ) if environ is None else environ
    home = _env("OPENCLAW_HOME", env) or _env("HOME", env) or str(Path.home())
    home = _expand(home, str(Path.home()))
    if explicit is not None:
        base = Path(_expand(explicit.strip(), home))
    elif (sd := _env("OPENCLAW_STATE_DIR", env)) is not None:
        base = Path(_expand(sd, home))
    else:
        base = Path(home) / ".openclaw"
        if not base.exists():
            for legacy in LEGACY_DIRS:
                if (Path(home) / legacy).is_dir():
                    base = Path(home) / legacy
                    break
    base = base if base.is_absolute() else Path.cwd() / base
    if not base.exists():
        raise NotFoundError(
            f"state dir {base} does not exist",
            path=str(base),
            hint="pass --state-dir PATH or set OPENCLAW_STATE_DIR to the gateway's state dir",
        )
    if not base.is_dir():
        raise NotFoundError(f"state dir {base} is not a directory", path=str(base))
    return Path(os.path.realpath(base))


def normalize_agent_id(raw: object) -> str:
    """OpenClaw's agent id normalisation (format doc §1)."""
    s = str(raw).strip().lower() if raw is not None else ""
    if not s:
        return "main"
    if _AGENT_ID_OK.match(s):
        return s
    s = re.sub(r"[^a-z0-9_-]+", "-", s).strip("-")[:64]
    return s or "main"


@dataclass
class Binding:
    agent_id: str
    channel: str | None
    account_id: str | None
    peer_kind: str | None
    peer_id: str | None


@dataclass
class OpenClawConfig:
    """The parts of openclaw.json that sessionctl reads. Never written."""

    path: Path | None = None
    exists: bool = False
    error: str | None = None
    agents: list[str] = field(default_factory=list)
    default_agent: str = "main"
    bindings: list[Binding] = field(default_factory=list)
    session_store: str | None = None
    dm_scope: str | None = None
    main_key: str = "main"
    maintenance: JsonObj = field(default_factory=dict)
    identity_links: JsonObj = field(default_factory=dict)
    cron_session_retention: object = None  # cron.sessionRetention as written
    raw: JsonObj = field(default_factory=dict)
    denied: bool = False  # `error` is a permission error (EACCES/EPERM)


# the parts of openclaw.json sessionctl reads, with the JSON type each must have
_EXPECTED_TYPES: tuple[tuple[tuple[str, ...], type, str], ...] = (
    (("agents",), dict, "an object"),
    (("agents", "list"), list, "an array"),
    (("agents", "entries"), dict, "an object"),
    (("bindings",), list, "an array"),
    (("session",), dict, "an object"),
    (("session", "store"), str, "a string"),
    (("session", "dmScope"), str, "a string"),
    (("session", "mainKey"), str, "a string"),
    (("session", "maintenance"), dict, "an object"),
    (("session", "identityLinks"), dict, "an object"),
)


def _wrong_types(path: Path, data: JsonObj) -> str | None:
    """The fields sessionctl reads that are present with the wrong type, as one message
    (None when all are right): sessionctl must not guess where stores live or how peers
    route from a field it cannot use."""

    wrong = []
    for keys, typ, name in _EXPECTED_TYPES:
        parent = dig(data, *keys[:-1]) if len(keys) > 1 else data
        if isinstance(parent, dict) and keys[-1] in parent and not isinstance(parent[keys[-1]], typ):
            got = json_type(parent[keys[-1]])
            got = got if got == "null" else ("an " if got[0] in "aeiou" else "a ") + got
            wrong.append(f"`{'.'.join(keys)}` is {got}, not {name}")
    return f"{path}: " + "; ".join(wrong) if wrong else None


def parse_json5(text: str) -> object:
    """openclaw.json's text → its value. Plain JSON (what `openclaw config set` and most
    generators write) goes through orjson — a 10 MB file in milliseconds; the pure-Python
    JSON5 parser (~5 s per MB) only reads what orjson refuses: comments, trailing commas,
    unquoted keys, NaN/Infinity, lone surrogates, integers beyond 64 bits."""
    import orjson

    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    import json5

    return json5.loads(text)


def load_openclaw_config(state_dir: Path, environ: dict[str, str] | None = None) -> OpenClawConfig:
    """Load openclaw.json (JSON5). A missing file is an empty config; a broken one is
    returned with `error` set so read-only commands can report it and go on."""
    env = dict(os.environ) if environ is None else environ
    override = _env("OPENCLAW_CONFIG_PATH", env)
    path = Path(override) if override else state_dir / "openclaw.json"
    cfg = OpenClawConfig(path=path)
    try:
        raw_bytes = read_bytes(path)
    except FileNotFoundError:
        return cfg
    except (NotRegularFile, OSError) as exc:
        import errno

        cfg.exists = True
        cfg.error = f"cannot read {path}: {exc.strerror or exc}"
        cfg.denied = exc.errno in (errno.EACCES, errno.EPERM)
        return cfg
    cfg.exists = True
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        cfg.error = f"{path} is not valid UTF-8 (byte {exc.start})"
        return cfg
    try:
        data = parse_json5(text)
    except (ValueError, RecursionError) as exc:
        cfg.error = f"{path} is not valid JSON5: {exc}"
        return cfg
    if not isinstance(data, dict):
        cfg.error = f"{path}: the top level is not an object"
        return cfg
    cfg.raw = data
    cfg.error = _wrong_types(path, data)
    entries = dig(data, "agents", "entries")
    agents = dig(data, "agents", "list")
    if isinstance(entries, dict):
        # the 2026.9 roster (`openclaw doctor --fix` rewrites `list` into it): keyed by agent
        # id; when present OpenClaw reads it and ignores `list` (SQLite-era spec §1)
        for key, value in entries.items():
            aid = normalize_agent_id(key)
            if isinstance(value, dict) and aid not in cfg.agents:
                cfg.agents.append(aid)
        system = dig(data, "agents", "defaults", "systemAgent", "agentId")
        chosen = normalize_agent_id(system) if isinstance(system, str) and system.strip() else None
        if chosen in cfg.agents:
            cfg.default_agent = chosen
        elif cfg.agents:
            cfg.default_agent = cfg.agents[0]
    elif isinstance(agents, list):
        for a in agents:
            if isinstance(a, dict) and a.get("id") is not None:
                aid = normalize_agent_id(a.get("id"))
                if aid not in cfg.agents:
                    cfg.agents.append(aid)
                if a.get("default") is True:
                    cfg.default_agent = aid
        if cfg.agents and not any(isinstance(a, dict) and a.get("default") is True for a in agents):
            cfg.default_agent = cfg.agents[0]
    bindings = data.get("bindings")
    for b in bindings if isinstance(bindings, list) else []:
        if not isinstance(b, dict) or b.get("agentId") is None:
            continue
        m_raw = b.get("match")
        m: JsonObj = m_raw if isinstance(m_raw, dict) else {}
        p_raw = m.get("peer")
        peer: JsonObj = p_raw if isinstance(p_raw, dict) else {}
        cfg.bindings.append(
            Binding(
                agent_id=normalize_agent_id(b.get("agentId")),
                channel=str(m["channel"]).lower() if m.get("channel") else None,
                account_id=str(m["accountId"]).lower() if m.get("accountId") else None,
                peer_kind=str(peer["kind"]).lower() if peer.get("kind") else None,
                peer_id=str(peer["id"]).lower() if peer.get("id") is not None else None,
            )
        )
    store = dig(data, "session", "store")
    cfg.session_store = store if isinstance(store, str) and store.strip() else None
    dm = dig(data, "session", "dmScope")
    cfg.dm_scope = dm if isinstance(dm, str) else None
    mk = dig(data, "session", "mainKey")
    cfg.main_key = mk.strip().lower() if isinstance(mk, str) and mk.strip() else "main"
    maint = dig(data, "session", "maintenance")
    cfg.maintenance = maint if isinstance(maint, dict) else {}
    links = dig(data, "session", "identityLinks")
    cfg.identity_links = links if isinstance(links, dict) else {}
    cfg.cron_session_retention = dig(data, "cron", "sessionRetention")
    return cfg


@dataclass
class SessionctlConfig:
    """sessionctl.toml: thresholds for health, policies for gc, backup retention.

    A file that cannot be read or parsed is kept as `error` and raised by `section()`:
    only a command that uses the configuration fails on it (`list` never does)."""

    path: Path | None = None
    data: JsonObj = field(default_factory=dict)
    error: SessionctlError | None = None  # ConfigError, or a PermissionDenied (77)

    def section(self, name: str) -> JsonObj:
        if self.error is not None:
            raise self.error
        v = self.data.get(name)
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise ConfigError(f"{self.path}: [{name}] must be a table", path=str(self.path))
        return v


_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_TABLE = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+\s*(#.*)?$")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+)\s*=\s*(.*?)\s*(#.*)?$")
_BARE_DURATION = re.compile(r"^\d+(\.\d+)?\s*[A-Za-z]+$")


def toml_error_message(path: Path, text: str, exc: Exception) -> str:
    """tomllib's message with the table and key it is about (`[gc] idle: ...`) and, for an
    unquoted duration (`idle = 5d`), what to write instead."""
    msg = str(exc)
    m = _TOML_AT.search(msg)
    if m is None:
        return f"{path} is not valid TOML: {msg}"
    lineno = int(m.group(1))
    lines = text.splitlines()
    table = None
    for line in lines[: lineno - 1]:
        t = _TOML_TABLE.match(line)
        if t:
            table = t.group(1)
    where = f"[{table}]" if table else "(top level)"
    km = _TOML_KEY.match(lines[lineno - 1]) if 0 < lineno <= len(lines) else None
    if km is None:
        return f"{path}: {where}: not valid TOML: {msg}"
    key, value = km.group(1), km.group(2)
    out = f"{path}: {where} {key}: not valid TOML: {msg}"
    if _BARE_DURATION.match(value):
        out += f'; durations are quoted strings: write {key} = "{value}"'
    return out


def load_sessionctl_config(explicit: str | None, state_dir: Path | None) -> SessionctlConfig:
    """`--config PATH` (must exist), else `<state>/sessionctl.toml` when present. A file
    that cannot be read or parsed comes back with `error` set (see SessionctlConfig)."""
    import tomllib

    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"--config {path}: the file does not exist", path=str(path))
    elif state_dir is not None and os.path.lexists(state_dir / "sessionctl.toml"):
        path = state_dir / "sessionctl.toml"
        if not path.is_file():
            return SessionctlConfig(
                path=path, error=ConfigError(f"{path} is not a regular file", path=str(path))
            )
    else:
        return SessionctlConfig()
    try:
        text = read_bytes(path).decode("utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        err = from_os_error(exc, f"cannot read config {path}")
        if not isinstance(err, PermissionDenied):
            err = ConfigError(err.message, path=str(path))
        return SessionctlConfig(path=path, error=err)
    except UnicodeDecodeError as exc:
        return SessionctlConfig(
            path=path, error=ConfigError(f"cannot read config {path}: {exc}", path=str(path))
        )
    except tomllib.TOMLDecodeError as exc:
        err = ConfigError(toml_error_message(path, text, exc), path=str(path))
        return SessionctlConfig(path=path, error=err)
    return SessionctlConfig(path=path, data=data)
