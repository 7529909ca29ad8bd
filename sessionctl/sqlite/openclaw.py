"""Finding and running the `openclaw` executable: the only way sessionctl changes a
SQLite-era session (spec §6.3: the gateway's projections do not see foreign commits, a
correct deletion touches ~10 tables and the state database, and a write lock held for 5 s
fails live turns — so never raw SQL writes).

`openclaw sessions delete|archive` are gateway calls (`sessions.delete` / `sessions.patch`,
dist/sessions-lifecycle-*.mjs): they need the gateway of this state dir to be running, and
the CLI authenticates the way the operator's own CLI does (gateway.auth in openclaw.json, or
OPENCLAW_GATEWAY_TOKEN / OPENCLAW_GATEWAY_PORT in the environment, which sessionctl passes on).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sessionctl.errors import UsageError
from sessionctl.jsonjs import JsonValue

CALL_TIMEOUT_S = 300.0
PER_KEY_TIMEOUT_S = 5.0
# How long the CLI waits for the gateway's answer to one call (`--timeout`, ms). OpenClaw's
# defaults (10 s for `gateway call`, 30 s for `sessions delete|archive`) were seen to expire
# on a loaded 2-core box while the gateway took 55-70 s per sessions.delete and then did it:
# the outcome is unknown to sessionctl (it skips the key and says so), so wait longer.
RPC_TIMEOUT_MS = 120_000
BATCH = 50  # keys per `openclaw sessions delete|archive` call (one CLI start-up each)


def find_openclaw(explicit: str | None) -> Path | None:
    """`--openclaw PATH` (must be an executable file: a usage error otherwise), else
    `openclaw` on PATH, else None."""
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.is_file() or not os.access(p, os.X_OK):
            raise UsageError(f"--openclaw {explicit!r} is not an executable file")
        return p.resolve()
    found = shutil.which("openclaw")
    return Path(found) if found else None


def missing_message() -> str:
    return (
        "the `openclaw` executable was not found on PATH: sessionctl changes SQLite-era sessions only "
        "through OpenClaw's own commands (pass --openclaw PATH)"
    )


@dataclass
class CallResult:
    argv: list[str]
    returncode: int | None
    doc: JsonValue = None  # the parsed --json document, when there was one
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # could not run / timed out / no JSON

    def summary(self) -> str:
        if self.error:
            return self.error
        # a gateway call's JSON answer: {"ok": false, "error": {"code", "message"}}
        err = self.doc.get("error") if isinstance(self.doc, dict) else None
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            code = err.get("code")
            return f"{code}: {err['message']}" if isinstance(code, str) else err["message"]
        if isinstance(err, str):
            return err
        tail = (self.stderr or self.stdout).strip().splitlines()
        return tail[-1] if tail else f"exit {self.returncode}"


@dataclass
class KeyResult:
    key: str
    ok: bool
    status: str
    error: str | None = None
    archived: list[str] = field(default_factory=list)


def openclaw_env(state_dir: Path) -> dict[str, str]:
    """The operator's environment, pointed at this state dir, without colour."""
    env = dict(os.environ)
    env["OPENCLAW_STATE_DIR"] = str(state_dir)
    env["NO_COLOR"] = "1"
    env["FORCE_COLOR"] = "0"
    env.setdefault("OPENCLAW_NO_AUTO_UPDATE", "1")
    return env


def extract_json(text: str) -> JsonValue:
    """The JSON document of a `--json` run (OpenClaw may print notices before it)."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("{", "[")):
            try:
                return json.loads("\n".join(lines[i:]))
            except ValueError:
                continue
    return None


def run(exe: Path, args: list[str], state_dir: Path, *, timeout: float = CALL_TIMEOUT_S) -> CallResult:
    argv = [str(exe), *args]
    try:
        proc = subprocess.run(
            argv,
            env=openclaw_env(state_dir),
            cwd=str(state_dir),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return CallResult(
            argv, None, error=f"`openclaw {' '.join(args[:3])}` did not finish within {timeout:g}s"
        )
    except OSError as exc:
        return CallResult(argv, None, error=f"cannot run {exe}: {exc.strerror or exc}")
    doc = extract_json(proc.stdout)
    res = CallResult(argv, proc.returncode, doc, proc.stdout, proc.stderr)
    if doc is None and proc.returncode != 0:
        res.error = f"openclaw exited {proc.returncode}: {res.summary()}"
    return res


def _rpc_timeout() -> list[str]:
    return ["--timeout", str(RPC_TIMEOUT_MS)]


def lifecycle(
    exe: Path, state_dir: Path, operation: str, agent: str, keys: list[str]
) -> tuple[CallResult, dict[str, KeyResult]]:
    """`openclaw sessions delete|archive KEY… --agent A [--yes] --json`; per-key results."""
    args = ["sessions", operation, *keys, "--agent", agent, *_rpc_timeout(), "--json"]
    if operation == "delete":
        args.insert(-1, "--yes")
    res = run(exe, args, state_dir, timeout=CALL_TIMEOUT_S + PER_KEY_TIMEOUT_S * len(keys))
    out: dict[str, KeyResult] = {}
    results = res.doc.get("results") if isinstance(res.doc, dict) else None
    for r in results if isinstance(results, list) else []:
        if not isinstance(r, dict) or not isinstance(r.get("key"), str):
            continue
        archived = r.get("archived")
        out[r["key"]] = KeyResult(
            r["key"],
            r.get("ok") is True,
            str(r.get("status") or "unknown"),
            str(r["error"]) if r.get("error") is not None else None,
            [str(a) for a in archived] if isinstance(archived, list) else [],
        )
    return res, out


def delete_rpc(
    exe: Path, state_dir: Path, agent: str, key: str, session_id: str, archived: bool
) -> KeyResult:
    """Delete one session with the gateway's own `sessions.delete` (what `openclaw sessions
    delete` calls after looking the key up), for the keys the CLI cannot look up: the gateway's
    sessions.list never lists cron run sessions (`cron:<job>:run:<id>`), so the CLI answers
    "not found" for them. `expectedSessionId` makes the gateway refuse a session that changed."""
    params = {
        "key": key,
        "agentId": agent,
        "expectedSessionId": session_id,
        "deleteTranscript": True,
        **({"archivedOnly": True} if archived else {}),
    }
    res = run(
        exe,
        ["gateway", "call", "sessions.delete", "--params", json.dumps(params), *_rpc_timeout(), "--json"],
        state_dir,
    )
    doc = res.doc if isinstance(res.doc, dict) else {}
    if res.returncode == 0 and doc.get("deleted") is True:
        archived_files = doc.get("archived")
        return KeyResult(
            key,
            True,
            "deleted",
            None,
            [str(a) for a in archived_files] if isinstance(archived_files, list) else [],
        )
    if res.returncode == 0 and doc.get("deleted") is False:
        return KeyResult(key, False, "not_found", "the gateway found no such session")
    return KeyResult(key, False, "failed", res.summary())


def unarchive(exe: Path, state_dir: Path, agent: str, key: str, session_id: str) -> KeyResult:
    """Reverse `sessions archive` through the gateway: `sessions.patch {archived: false}`
    (the CLI has no unarchive command; the Control UI restores the same way). The gateway
    requires `expectedSessionId` for a lifecycle patch (2026.9.6: "expectedSessionId required
    for session lifecycle patch") and refuses a session whose id changed since; the answer is
    confirmed the way `openclaw sessions archive` confirms its own: `ok` and the entry's
    `archivedAt` (here: gone)."""
    params = json.dumps({"key": key, "agentId": agent, "expectedSessionId": session_id, "archived": False})
    res = run(
        exe, ["gateway", "call", "sessions.patch", "--params", params, *_rpc_timeout(), "--json"], state_dir
    )
    doc = res.doc if isinstance(res.doc, dict) else {}
    entry = doc.get("entry")
    if (
        res.returncode == 0
        and doc.get("ok") is True
        and isinstance(entry, dict)
        and entry.get("archivedAt") is None
    ):
        return KeyResult(key, True, "unarchived")
    if res.returncode == 0 and doc.get("ok") is True:
        return KeyResult(
            key, False, "unconfirmed", "the gateway did not confirm that the session is unarchived"
        )
    return KeyResult(key, False, "failed", res.summary())
