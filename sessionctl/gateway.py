"""Detecting a running OpenClaw gateway for a state dir (format doc §6).

A gateway is a live process whose command line contains `openclaw` and `gateway`.
It belongs to our state dir when its environment resolves to the same state dir;
when its environment cannot be read, it is assumed to (the safe answer).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sessionctl import jsonjs
from sessionctl.config import resolve_state_dir
from sessionctl.errors import BusyError, NotFoundError
from sessionctl.locks import proc_cmdline

# Releases whose gateway takes sessions.json.lock around every store write (v2.17–v5.1).
_VERSION = re.compile(r"^(\d{4})\.(\d+)\.(\d+)")


@dataclass
class Gateway:
    pid: int
    cmdline: list[str]
    version: str | None
    state_dir_match: bool | None  # None: could not tell (treated as a match)
    # SQLite-era evidence when the version is unknown: it holds this state dir's
    # state/openclaw.sqlite or an agent database open (file-era releases create neither)
    holds_sqlite: bool = False

    @property
    def lock_era(self) -> bool:
        """True when this gateway's release serialises on sessions.json.lock (v2.17–v5.1)."""
        if self.version is None:
            return False
        m = _VERSION.match(self.version)
        if not m:
            return False
        major, minor = int(m.group(2)), int(m.group(3))
        return (2, 17) <= (major, minor) <= (5, 1)

    @property
    def sqlite_era(self) -> bool:
        """True when this gateway's release keeps sessions in SQLite (2026.7.2 and later): it
        never reads or writes a sessions.json. Told by its version, or — when the version
        cannot be read (2026.9 retitles the gateway process `openclaw-gateway`) — by the
        SQLite-era databases of this state dir it holds open."""
        if self.version is None:
            return self.holds_sqlite
        m = _VERSION.match(self.version)
        if not m:
            return False
        return (int(m.group(1)), int(m.group(2)), int(m.group(3))) >= (2026, 7, 2)

    def describe(self) -> str:
        v = f" {self.version}" if self.version else ""
        return f"OpenClaw gateway{v} (pid {self.pid})"


def looks_like_gateway(argv: list[str]) -> bool:
    """A gateway's command line: either the process title OpenClaw sets for its
    gateway command (`openclaw-gateway`, written over argv[0]), or an `openclaw`
    program (binary, .mjs entry, or a path inside the openclaw package) followed by a
    `gateway` argument. Tools that merely mention the unit (`journalctl -u
    openclaw-gateway`, `systemctl restart openclaw-gateway`) do not match."""
    if not argv:
        return False
    first = os.path.basename(argv[0]).lower()
    if first.startswith("openclaw-gateway") or first.startswith("openclaw gateway"):
        return True
    seen_openclaw = False
    for arg in argv:
        low = arg.lower()
        if seen_openclaw and low == "gateway":
            return True
        base = os.path.basename(low)
        if base.startswith("openclaw") or "/openclaw/" in low:
            seen_openclaw = True
    return False


def _environ(pid: int) -> dict[str, str] | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            env[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return env


def _version_near(argv: list[str]) -> str | None:
    for arg in argv:
        if "openclaw" not in arg or not arg.startswith("/"):
            continue
        p = Path(arg)
        for parent in [p, *p.parents][:6]:
            pkg = parent / "package.json"
            try:
                data = jsonjs.loads(pkg.read_bytes())  # OpenClaw's own package.json
            except (OSError, jsonjs.JSONError):
                continue
            if (
                isinstance(data, dict)
                and data.get("name") == "openclaw"
                and isinstance(data.get("version"), str)
            ):
                return str(data["version"])
    return None


def find_gateways(state_dir: Path) -> list[Gateway]:
    """Live gateway processes that (may) serve `state_dir`."""

    found: list[Gateway] = []
    me = os.getpid()
    try:
        pids = [int(n) for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return found
    for pid in pids:
        if pid == me:
            continue
        argv = proc_cmdline(pid)
        if not argv or not looks_like_gateway(argv):
            continue
        env = _environ(pid)
        match: bool | None
        if env is None:
            match = None
        else:
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                cwd = None
            try:
                explicit = env.get("OPENCLAW_STATE_DIR")
                if (
                    explicit
                    and cwd
                    and not os.path.isabs(explicit.strip())
                    and not explicit.strip().startswith("~")
                ):
                    explicit = os.path.join(cwd, explicit.strip())
                theirs = resolve_state_dir(explicit if explicit else None, env)
                match = theirs == state_dir
            except NotFoundError:
                # the state dir this process would use does not exist, so it cannot be
                # serving ours (unless it is relative to a cwd we could not read)
                unsure = bool(explicit) and not os.path.isabs(str(explicit).strip())
                unsure = unsure and not str(explicit).strip().startswith("~")
                match = None if unsure else False
            except Exception:
                match = None
        if match is False:
            continue
        gw = Gateway(pid, argv, _version_near(argv) or _parent_version(pid), match)
        if gw.version is None:
            gw.holds_sqlite = _holds_sqlite(pid, state_dir)
        found.append(gw)
    return found


def _holds_sqlite(pid: int, state_dir: Path) -> bool:
    """Whether process `pid` has this state dir's SQLite-era databases open."""
    state_db = str(state_dir / "state" / "openclaw.sqlite")
    agents = str(state_dir / "agents") + "/"
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target == state_db or (
            target.startswith(agents) and target.endswith("/agent/openclaw-agent.sqlite")
        ):
            return True
    return False


def _parent_version(pid: int) -> str | None:
    """The release of a gateway whose process title replaced its argv (2026.9 runs the
    gateway in a child titled `openclaw-gateway`): the version near its parent's argv (the
    `node …/openclaw.mjs gateway run` that started it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        ppid = int(data[data.rfind(b")") + 2 :].split()[1])
    except (OSError, ValueError, IndexError):
        return None
    argv = proc_cmdline(ppid) if ppid > 1 else None
    return _version_near(argv) if argv else None


def refuse_if_gateway_running(
    state_dir: Path, *, force_online: bool, allow_lock_era: bool = True, allow_sqlite_era: bool = False
) -> list[Gateway]:
    """Raise BusyError when a gateway that no lock can exclude is running for this state dir.

    Gateways of the lock era (v2.17–v5.1) are excluded by sessions.json.lock, so store
    edits may go on under them when `allow_lock_era`; SQLite-era gateways (2026.7.2+) never
    touch a sessions.json, so file-store edits may go on under them when `allow_sqlite_era`;
    anything else needs the gateway stopped (ExecStartPre) or an explicit --force-online.
    """
    gws = find_gateways(state_dir)
    blocking = [
        g for g in gws if not (allow_lock_era and g.lock_era) and not (allow_sqlite_era and g.sqlite_era)
    ]
    if blocking and not force_online:
        g = blocking[0]
        why = (
            "this change is transcript surgery, which sessionctl does only with every gateway stopped"
            if g.lock_era
            else "its release takes no cross-process store lock"
        )
        raise BusyError(
            f"{g.describe()} is running for {state_dir}; {why}, "
            "so sessionctl cannot exclude it and will not change anything",
            hint="stop the gateway first (or run sessionctl as the unit's ExecStartPre=); "
            "--force-online overrides this at your own risk",
        )
    return gws
