"""prestart's report: one StepReport per step, the store checks that decide the exit
code, and the JSON of docs/prestart.md (PrestartReport.to_json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sessionctl.errors import ExitCode
from sessionctl.jsonjs import JsonObj
from sessionctl.result import Status

StepStatus = Literal["done", "nothing_to_do", "skipped", "stopped", "failed"]
STEPS = ("backup", "repair", "gc", "bindings", "retention", "health")
MUTATING = frozenset({"backup", "repair", "gc", "bindings", "retention"})


@dataclass
class StepReport:
    name: str
    status: StepStatus = "skipped"
    reason: str | None = None
    estimate_ms: int | None = None
    elapsed_ms: int | None = None
    run_id: str | None = None
    changes: int = 0
    detail: JsonObj = field(default_factory=dict)

    def to_json(self) -> JsonObj:
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "estimate_ms": self.estimate_ms,
            "elapsed_ms": self.elapsed_ms,
            "run_id": self.run_id,
            "changes": self.changes,
            "detail": self.detail,
        }


@dataclass
class StoreCheck:
    agent: str
    path: str
    status: str  # store.StoreStatus, or "legacy" / "sqlite" for stores OpenClaw does not read
    valid: bool
    message: str | None = None

    def to_json(self) -> JsonObj:
        return dict(self.__dict__)


@dataclass
class PrestartReport:
    state_dir: str | None
    now_ms: int
    deadline_ms: int
    steps: list[StepReport] = field(default_factory=lambda: [StepReport(n) for n in STEPS])
    refused: JsonObj | None = None
    stores: list[StoreCheck] = field(default_factory=list)
    health: JsonObj | None = None
    errors: list[JsonObj] = field(default_factory=list)
    elapsed_ms: int = 0
    stopped_at: str | None = None  # the step the deadline (or a refusal) stopped before (or in: `stopped`)
    note: str | None = None  # one line about a run that did nothing (no state dir, refused, busy)
    sqlite: JsonObj | None = None  # SQLite-era agents: reported, never changed (sqlite/prestart.py)

    def step(self, name: str) -> StepReport:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def valid(self) -> bool:
        return all(s.valid for s in self.stores)

    @property
    def exit_code(self) -> int:
        return int(ExitCode.OK if self.valid else ExitCode.DATA)

    @property
    def status(self) -> Status:
        if not self.valid:
            return "error"
        if (
            self.refused
            or self.errors
            or any(s.status in ("skipped", "stopped", "failed") for s in self.steps)
            or self.step("gc").detail.get("refused_agents")
        ):
            return "warning"
        if self.health and self.health.get("status") in ("warning", "critical"):
            return "warning"
        return "ok"

    def skipped(self) -> list[str]:
        return [s.name for s in self.steps if s.status == "skipped"]

    def to_json(self) -> JsonObj:
        return {
            "deadline_ms": self.deadline_ms,
            "elapsed_ms": self.elapsed_ms,
            "note": self.note,
            "refused": self.refused,
            "stopped_at": self.stopped_at,
            "skipped": self.skipped(),
            "steps": [s.to_json() for s in self.steps],
            "stores": [s.to_json() for s in self.stores],
            "store_valid": self.valid,
            "health": self.health,
            "sqlite": self.sqlite,
        }
