"""The result object every command returns, and the JSON envelope it becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sessionctl.errors import ExitCode, SessionctlError
from sessionctl.jsonjs import JsonObj

SCHEMA_VERSION = 1
Status = Literal["ok", "warning", "critical", "unknown", "error"]
LogLevel = Literal["error", "warning", "notice", "info", "debug"]


@dataclass
class Result:
    """What a command produced. Rendered by sessionctl.render, never printed by the core."""

    command: str
    status: Status = "ok"
    exit_code: int = ExitCode.OK
    data: JsonObj = field(default_factory=dict)
    state_dir: str | None = None
    now: str | None = None
    errors: list[JsonObj] = field(default_factory=list)
    logs: list[tuple[LogLevel, str]] = field(default_factory=list)
    # free-form context for the human view (not part of the JSON envelope)
    view: JsonObj = field(default_factory=dict)

    def log(self, level: LogLevel, message: str) -> None:
        self.logs.append((level, message))

    def envelope(self) -> JsonObj:
        env: JsonObj = {
            "schema_version": SCHEMA_VERSION,
            "command": self.command,
            "status": self.status,
            "exit_code": int(self.exit_code),
            "state_dir": self.state_dir,
            "now": self.now,
        }
        env.update(self.data)
        env["errors"] = self.errors
        return env


def error_result(
    command: str, exc: SessionctlError, *, state_dir: str | None = None, now: str | None = None
) -> Result:
    code = int(exc.exit_code)
    # health speaks the monitoring-plugin language: anything that stopped the check is UNKNOWN
    if command == "health" and code not in (ExitCode.USAGE,):
        code = ExitCode.UNKNOWN
    return Result(
        command=command,
        status="unknown" if command == "health" and code == ExitCode.UNKNOWN else "error",
        exit_code=code,
        state_dir=state_dir,
        now=now,
        errors=[exc.to_json()],
    )
