"""Findings: what health (and the dry runs of repair commands) report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sessionctl.jsonjs import JsonObj

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
    data: JsonObj = field(default_factory=dict)

    def to_json(self) -> JsonObj:
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


@dataclass(slots=True)
class MappedFinding(Finding):
    """A problem a mutating command reports (repair, archive, dedupe): a health-style
    finding plus `finding`, the health check id it concerns (REPAIR_TO_HEALTH,
    ARCHIVE_TO_HEALTH, DEDUPE_TO_HEALTH); null when health has no such check."""

    finding: str | None = None

    def to_json(self) -> JsonObj:
        out = Finding.to_json(self)
        return {"check": out.pop("check"), "finding": self.finding, **out}


def worst(findings: list[Finding]) -> str | None:
    if not findings:
        return None
    return max(findings, key=lambda f: SEVERITY_RANK[f.severity]).severity


# the fix commands findings suggest (each documented in docs/)
_FIX_CMDS = {
    "store": "sessionctl repair --only store",
    "entries": "sessionctl repair --only entries",
    "merge_case": "sessionctl repair --only entries --merge-case",
    "bad_lines": "sessionctl repair --only transcripts --drop-bad-lines",
    "transcripts": "sessionctl repair --only transcripts",
    "locks": "sessionctl repair --only locks",
    "leftovers": "sessionctl repair --only leftovers",
    "archive": "sessionctl archive",
    "gc": "sessionctl gc",
    "dedupe": "sessionctl dedupe",
    "storms": "sessionctl dedupe --storms",
}


def fix_cmd(kind: str, agent: str | None, extra: str = "") -> str:
    """The fix commands health suggests (the commands are documented in docs/)."""
    a = f" --agent {agent}" if agent else ""
    return _FIX_CMDS[kind] + a + (f" {extra}" if extra else "")
