"""Shared builders for the repair / archive / dedupe tests (no tests here).

Everything runs the CLI (in-process, support.helpers.run_json) on real files, and
checks what a user would notice: the files on disk, the run folder, the JSON report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support.helpers import (
    HOUR_MS,
    NOW_ISO,
    NOW_MS,
    REPO,
    StateDir,
    iso,
    run_json,
    spawn_execd,
    tree_snapshot,
)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def cli(state: StateDir, command: str, *args: str, **kw: Any) -> tuple[int, dict[str, Any], str]:
    """`sessionctl <command> --state-dir <root> --now NOW_ISO *args --json`."""
    return run_json(command, "--state-dir", str(state.root), "--now", NOW_ISO, *args, **kw)


def undo(state: StateDir, run_id: str) -> dict[str, Any]:
    rc, env, err = run_json("undo", run_id, "--state-dir", str(state.root))
    assert rc == 0, (rc, env, err)
    return env


def live_files(root: Path) -> dict[str, bytes]:
    """rel path → bytes of every regular file outside sessionctl's own folder."""
    out: dict[str, bytes] = {}
    for rel, (kind, content, _mt, _mode) in tree_snapshot(root).items():
        if rel.split(os.sep)[0] == "sessionctl" or kind != "file":
            continue
        assert isinstance(content, bytes)
        out[rel] = content
    return out


def assert_dry_run_changes_nothing(state: StateDir, command: str, *args: str) -> dict[str, Any]:
    """Run `command --dry-run *args` and prove the whole tree (bytes, mtimes, modes, and
    no new sessionctl/ folder) is untouched. Returns the envelope."""
    before = tree_snapshot(state.root)
    rc, env, err = cli(state, command, "--dry-run", *args)
    assert rc == 0, (rc, env, err)
    assert env["dry_run"] is True and env["run_id"] is None
    assert tree_snapshot(state.root) == before
    return env


def run_and_undo(state: StateDir, command: str, *args: str, expect_rc: int = 0) -> dict[str, Any]:
    """Run a command for real, then undo it and prove every live file has its pre-run
    bytes again (and nothing new is left in the sessions folders). Returns the run's envelope."""
    before = live_files(state.root)
    rc, env, err = cli(state, command, *args)
    assert rc == expect_rc, (rc, env, err)
    assert env["run_id"], env
    assert live_files(state.root) != before, "the run changed nothing"
    undo(state, env["run_id"])
    assert live_files(state.root) == before
    return env


def run_dir(state: StateDir, env: dict[str, Any]) -> Path:
    return state.root / "sessionctl" / "runs" / str(env["run_id"])


def journal(state: StateDir, env: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir(state, env) / "journal.json").read_bytes())
    return data


def checks(env: dict[str, Any]) -> list[str]:
    return sorted(a["check"] for a in env["actions"])


class Sleeper:
    """A live second process (`sleep`), to hold locks the way a running gateway would."""

    def __init__(self, argv: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.proc = spawn_execd(  # exec'd: its /proc entry already shows argv and env
            argv or [sys.executable, "-c", "import time; time.sleep(120)"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def starttime(self) -> int:
        from sessionctl.locks import proc_starttime

        for _ in range(100):
            st = proc_starttime(self.pid)
            if st is not None:
                return st
            time.sleep(0.01)
        raise AssertionError("no /proc entry for the sleeper")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def lock_payload(pid: Any, *, age_ms: int = 0, starttime: int | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"pid": pid, "createdAt": iso(wall_ms() - age_ms)}
    if starttime is not None:
        body["starttime"] = starttime
    body.update(extra)
    return json.dumps(body).encode()


def set_age(path: Path, age_s: float) -> None:
    t = time.time() - age_s
    os.utime(path, (t, t), follow_symlinks=False)


# ---------------------------------------------------------------- shared states and docs


def demo_copy(tmp_path: Path) -> StateDir:
    root = tmp_path / "demo"
    shutil.copytree(REPO / "fixtures" / "demo-state", root, symlinks=True)
    # git keeps no mtimes: age every file (2 days) so leftovers and orphans count as old
    t = time.time() - 2 * 86_400
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.utime(Path(dirpath) / name, (t, t))
    return StateDir(Path(os.path.realpath(root)))


HEALTH_DOC = REPO / "docs" / "health.md"


def documented_health_ids() -> set[str]:
    """The ids of the "Checks" tables of docs/health.md."""
    text = HEALTH_DOC.read_text(encoding="utf-8")
    checks = text.split("\n## Checks", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", checks, re.M))


def finding_table(command: str, heading: str) -> dict[str, str | None]:
    """The table under `heading` in docs/<command>.md: the command's check id → the
    health check id its `finding` names (None for `null`), the table
    REPAIR_TO_HEALTH / ARCHIVE_TO_HEALTH / DEDUPE_TO_HEALTH must equal."""
    text = (REPO / "docs" / f"{command}.md").read_text(encoding="utf-8")
    assert heading in text, f"docs/{command}.md: the {command} → health table is gone"
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    out: dict[str, str | None] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        check = cells[0].strip("`")
        assert check not in out, f"docs/{command}.md: {check} twice in the table"
        if cells[2].startswith("null"):
            out[check] = None
        else:
            m = re.match(r"`([a-z_]+\.[a-z_]+)`", cells[2])
            assert m, f"docs/{command}.md: no health id for {check}: {cells[2]!r}"
            out[check] = m.group(1)
    return out


# the dedupe tests' config: bindings of every precedence level (peer > account > channel)
DEDUPE_CONFIG: dict[str, Any] = {
    "agents": {"list": [{"id": "a", "default": True}, {"id": "b"}, {"id": "c"}, {"id": "d"}]},
    "bindings": [
        {"agentId": "c", "match": {"channel": "telegram", "accountId": "work"}},
        {"agentId": "d", "match": {"channel": "telegram", "accountId": "*"}},
        # listed last, still wins for its peer: peer bindings beat account and channel ones
        {"agentId": "b", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "111"}}},
    ],
}


def filler(state: StateDir, *agents: str) -> None:
    """A main session in each agent, so no store is ever emptied by a test."""
    for a in agents:
        state.add_session(a, f"agent:{a}:main", updated_at=NOW_MS - 10 * HOUR_MS)


def duplicated_peers(state: StateDir) -> None:
    """DEDUPE_CONFIG, a main session in agents a to d, and one peer living in two agents
    for each binding level: 111 in a and b (its peer binding routes it to b), 222 in a
    and c (account `work` → c), 333 in a and d (channel → d). The account comes from the
    entry when the key has none (as OpenClaw records it)."""
    state.write_config(DEDUPE_CONFIG)
    filler(state, "a", "b", "c", "d")
    dc: dict[str, Any] = {"deliveryContext": {"channel": "telegram", "accountId": "default"}}
    for agent in ("a", "b"):
        state.add_session(agent, f"agent:{agent}:telegram:direct:111", **dc)
    for agent in ("a", "c"):
        state.add_session(agent, f"agent:{agent}:telegram:work:direct:222")
    for agent in ("a", "d"):
        state.add_session(agent, f"agent:{agent}:telegram:direct:333", **dc)


def storm(state: StateDir, agent: str = "m", n: int = 30, start: int = NOW_MS - 50 * HOUR_MS) -> list[str]:
    out = []
    for i in range(n):
        t = start + i * 60_000  # one a minute
        key = f"agent:{agent}:explicit:dyad-coord-{t}-{i:04x}zz"
        state.add_session(agent, key, updated_at=t + 30_000, sessionStartedAt=t)
        out.append(key)
    return out
