"""gc policy, the types: the effective policy (Policy: a Rule per kind, a Cap, the scope,
retention) with where each limit came from, and what the command line says
(PolicyOverrides). Built by sessionctl.policy.sources, read by sessionctl.policy.plan."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from sessionctl.jsonjs import JsonObj
from sessionctl.resume import DefusePolicy

DEFAULT_RUNNING_GRACE_MS = 3_600_000  # a "running" entry active within 1h is protected


@dataclass(frozen=True)
class Limit:
    """One duration limit, remembering how it was written and where it came from."""

    ms: int
    text: str  # as written: "120h"
    source: str  # "--max-age", "[gc]", "[gc.kinds.cron-run]", "openclaw.json session.maintenance.pruneAfter"

    def to_json(self) -> JsonObj:
        return {"ms": self.ms, "text": self.text, "source": self.source}


@dataclass(frozen=True)
class Cap:
    n: int
    source: str

    def to_json(self) -> JsonObj:
        return {"n": self.n, "source": self.source}


@dataclass(frozen=True)
class Rule:
    """The limits that apply to one kind of session."""

    max_age: Limit | None = None
    idle: Limit | None = None
    cap: Cap | None = None  # per agent, per kind
    protected: str | None = None  # source of a configured `protect = true` for the kind
    failed_idle: Limit | None = None  # sessions whose last run ended in error, once idle this long

    def to_json(self) -> JsonObj:
        return {
            "max_age": self.max_age.to_json() if self.max_age else None,
            "idle": self.idle.to_json() if self.idle else None,
            "failed_idle": self.failed_idle.to_json() if self.failed_idle else None,
            "max_entries": self.cap.to_json() if self.cap else None,
            "protected": self.protected,
        }


@dataclass
class Policy:
    """The effective gc policy. Build it with `resolve_policy`."""

    default: Rule = field(default_factory=Rule)
    per_kind: dict[str, Rule] = field(default_factory=dict)
    cap: Cap | None = None  # per agent, all kinds in scope
    kinds: frozenset[str] | None = None  # scope: only these kinds (None = all)
    match: tuple[str, ...] = ()  # scope: only keys matching one of these globs
    protect: tuple[tuple[str, str], ...] = ()  # (glob, source)
    running_grace_ms: int = DEFAULT_RUNNING_GRACE_MS
    allow_empty: bool = False
    archive_retention: Limit | None = None
    archive_backup: bool = True
    keep_runs: int | None = None
    keep_within: Limit | None = None
    source: str = "none"
    notes: list[str] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)  # unreadable openclaw.json values
    # `gc --defuse-resume` / prestart: limit the restart resume set (sessionctl/resume.py)
    defuse: DefusePolicy | None = None

    def rule_for(self, kind: str) -> Rule:
        return self.per_kind.get(kind, self.default)

    @property
    def has_expiry(self) -> bool:
        """True when some limit can expire a session."""
        rules = [self.default, *self.per_kind.values()]
        return self.cap is not None or any(r.max_age or r.idle or r.cap or r.failed_idle for r in rules)

    @property
    def openclaw_only(self) -> bool:
        """True when every limit comes from OpenClaw's own session.maintenance (or its
        defaults): no flag and no sessionctl.toml set one. SQLite-era OpenClaw applies that
        policy itself, in its own way, so sessionctl plans those agents only with its own."""
        return (
            self.source != "none"
            and "command line" not in self.source
            and "sessionctl.toml" not in self.source
        )

    def in_scope(self, key: str, kind: str) -> bool:
        if self.kinds is not None and kind not in self.kinds:
            return False
        if self.match:
            k = key.lower()
            return any(fnmatch.fnmatchcase(k, g) for g in self.match)
        return True

    def describe(self) -> str:
        """One line for humans: `max-age 120h (--max-age); idle 24h for cron-run ([gc.kinds.cron-run])`."""
        parts: list[str] = []
        d = self.default
        if d.max_age:
            parts.append(f"max-age {d.max_age.text} ({d.max_age.source})")
        if d.idle:
            parts.append(f"idle {d.idle.text} ({d.idle.source})")
        if d.failed_idle:
            parts.append(f"failed-idle {d.failed_idle.text} ({d.failed_idle.source})")
        if d.cap:
            parts.append(f"max-entries {d.cap.n} per kind ({d.cap.source})")
        if self.cap:
            parts.append(f"max-entries {self.cap.n} ({self.cap.source})")
        for kind, r in sorted(self.per_kind.items()):
            bits: list[str] = []
            if r.protected:
                bits.append("protected")
            if r.max_age and r.max_age != d.max_age:
                bits.append(f"max-age {r.max_age.text}")
            if r.idle and r.idle != d.idle:
                bits.append(f"idle {r.idle.text}")
            if r.failed_idle and r.failed_idle != d.failed_idle:
                bits.append(f"failed-idle {r.failed_idle.text}")
            if r.cap and r.cap != d.cap:
                bits.append(f"max-entries {r.cap.n}")
            if d.max_age and not r.max_age:
                bits.append("max-age off")
            if d.idle and not r.idle:
                bits.append("idle off")
            if d.failed_idle and not r.failed_idle:
                bits.append("failed-idle off")
            if bits:
                parts.append(f"{kind}: {', '.join(bits)}")
        if self.archive_retention:
            parts.append(f"archive retention {self.archive_retention.text}")
        if self.defuse:
            parts.append(
                f"defuse the resume set beyond {self.defuse.max_resume} session(s) or idle over "
                f"{self.defuse.within_text}"
            )
        return "; ".join(parts) if parts else "no limits"

    def to_json(self) -> JsonObj:
        return {
            "source": self.source,
            "description": self.describe(),
            "default": self.default.to_json(),
            "kinds": {k: r.to_json() for k, r in sorted(self.per_kind.items())},
            "max_entries": self.cap.to_json() if self.cap else None,
            "scope": {
                "kinds": sorted(self.kinds) if self.kinds is not None else None,
                "match": list(self.match),
            },
            "protect": [{"glob": g, "source": s} for g, s in self.protect],
            "running_grace_ms": self.running_grace_ms,
            "allow_empty": self.allow_empty,
            "archive_retention": self.archive_retention.to_json() if self.archive_retention else None,
            "archive_backup": self.archive_backup,
            "keep_runs": self.keep_runs,
            "keep_within": self.keep_within.to_json() if self.keep_within else None,
            "defuse_resume": self.defuse.to_json() if self.defuse else None,
            "notes": list(self.notes),
        }


@dataclass
class PolicyOverrides:
    """What the command line says (None / empty = not given)."""

    max_age: str | None = None
    idle: str | None = None
    failed_idle: str | None = None
    max_entries: int | None = None
    kinds: Sequence[str] = ()
    match: Sequence[str] = ()
    protect: Sequence[str] = ()
    allow_empty: bool = False
    archive_retention: str | None = None
    no_archive_backup: bool = False
    keep_runs: int | None = None
    keep_within: str | None = None


@dataclass(frozen=True)
class ConfigProblem:
    """A value of openclaw.json that cannot be read: `key` (e.g.
    `session.maintenance.pruneAfter`), what is wrong, and what was used instead."""

    key: str
    message: str
    path: str


# run folder retention after gc, backup and prestart when neither the command line nor
