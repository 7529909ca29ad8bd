"""Findings: what health (and the dry runs of repair commands) report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


@dataclass(slots=True)
class Finding:
    check: str  # stable id, part of the public contract (docs/health.md)
    severity: Severity
    agent: str | None
    message: str
    key: str | None = None
    path: str | None = None
    fix: str | None = None  # the command that fixes it, when one exists
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "agent": self.agent,
            "key": self.key,
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
            "data": self.data,
        }


def worst(findings: list[Finding]) -> str | None:
    if not findings:
        return None
    return max(findings, key=lambda f: SEVERITY_RANK[f.severity]).severity
