"""gc policy: where the limits come from (`resolve_policy`) and what they expire (`plan_gc`).

`plan_gc` is a pure function of (snapshots, policy, now, transcript-lock facts): no file
access, no clock. Everything it needs was read before (the snapshot's store, inventory
and transcript facts; the live transcript locks via `collect_transcript_locks`). The
same planner backs `gc --dry-run`, `gc` and health's staleness check.

Precedence, per field (docs/gc.md): command line > `[gc.kinds.<kind>]` > `[gc]` of
sessionctl.toml > OpenClaw's `session.maintenance` (only when neither the command line
nor sessionctl.toml sets any limit: `pruneAfter` → idle, `maxEntries` → cap).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sessionctl.errors import ConfigError, UsageError
from sessionctl.findings import Finding
from sessionctl.keys import KINDS
from sessionctl.locks import TRANSCRIPT_LOCK_STALE_MS, inspect_lock
from sessionctl.resume import DefusePolicy, ResumeDecision, ResumeEra, file_resumes_on_start, plan_defuse
from sessionctl.snapshot import build_references, session_files
from sessionctl.store import num
from sessionctl.timeutil import format_duration, parse_duration

if TYPE_CHECKING:
    from sessionctl.config import OpenClawConfig, SessionctlConfig
    from sessionctl.snapshot import AgentSnapshot, EntryView
    from sessionctl.transcripts import FileInfo

DEFAULT_RUNNING_GRACE_MS = 3_600_000  # a "running" entry active within 1h is protected
OFF_WORDS = frozenset({"off", "none", "never"})
# OpenClaw's own defaults for session.maintenance (format doc §8)
OPENCLAW_PRUNE_AFTER = "30d"
OPENCLAW_MAX_ENTRIES = 500
# files that belong to a session and are archived with it (format doc §2)


@dataclass(frozen=True)
class Limit:
    """One duration limit, remembering how it was written and where it came from."""

    ms: int
    text: str  # as written: "120h"
    source: str  # "--max-age", "[gc]", "[gc.kinds.cron-run]", "openclaw.json session.maintenance.pruneAfter"

    def to_json(self) -> dict[str, Any]:
        return {"ms": self.ms, "text": self.text, "source": self.source}


@dataclass(frozen=True)
class Cap:
    n: int
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "source": self.source}


@dataclass(frozen=True)
class Rule:
    """The limits that apply to one kind of session."""

    max_age: Limit | None = None
    idle: Limit | None = None
    cap: Cap | None = None  # per agent, per kind
    protected: str | None = None  # source of a configured `protect = true` for the kind
    failed_idle: Limit | None = None  # sessions whose last run ended in error, once idle this long

    def to_json(self) -> dict[str, Any]:
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

    def to_json(self) -> dict[str, Any]:
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


# ---------------------------------------------------------------- resolving

_GC_KEYS = frozenset(
    {
        "max-age",
        "idle",
        "failed-idle",
        "max-entries",
        "protect",
        "running-grace",
        "allow-empty",
        "archive-retention",
        "keep-runs",
        "keep-within",
        "kinds",
    }
)
_KIND_KEYS = frozenset({"max-age", "idle", "failed-idle", "max-entries", "protect"})


def _norm_keys(table: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).replace("_", "-"): v for k, v in table.items()}


def _cli_duration(opt: str, text: str) -> Limit | None:
    if text.strip().lower() in OFF_WORDS:
        return None
    try:
        ms = parse_duration(text)
    except UsageError as exc:
        raise UsageError(f"{opt}: {exc.message}") from None
    if ms <= 0:
        raise UsageError(f"{opt} {text!r} must be longer than zero (or 'off')")
    return Limit(ms, text.strip(), opt)


def _cfg_duration(value: Any, where: str, key: str, path: str | None) -> Limit | None:
    if value is False or (isinstance(value, str) and value.strip().lower() in OFF_WORDS):
        return None
    if not isinstance(value, str):
        raise ConfigError(
            f'{path}: {where} {key} = {value!r}: write a quoted duration like "24h", "7d" or "off"',
            path=path,
        )
    try:
        ms = parse_duration(value)
    except UsageError as exc:
        raise ConfigError(f"{path}: {where} {key}: {exc.message}", path=path) from None
    if ms <= 0:
        raise ConfigError(f'{path}: {where} {key} must be longer than zero (or "off")', path=path)
    return Limit(ms, value.strip(), where)


def _cfg_count(value: Any, where: str, key: str, path: str | None, *, minimum: int = 0) -> int | None:
    if value is False or (isinstance(value, str) and value.strip().lower() in OFF_WORDS):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f'{path}: {where} {key} must be an integer ≥ {minimum} (or "off")', path=path)
    return value


def _cfg_globs(value: Any, where: str, path: str | None) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(g, str) and g.strip() for g in value):
        raise ConfigError(f"{path}: {where} protect must be a list of key globs", path=path)
    return [g.strip().lower() for g in value]


_OC_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)?\s*$", re.IGNORECASE)
_OC_UNITS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}


def _openclaw_duration(value: Any, field_name: str) -> Limit | None:
    """session.maintenance.pruneAfter as OpenClaw writes it: "30d", "24h", "90m" (m =
    minutes in OpenClaw's own syntax). None for a bare number or anything else: gc will
    not guess what the gateway's config means."""
    if isinstance(value, str):
        m = _OC_DURATION.match(value)
        if m and m.group(2):
            ms = int(float(m.group(1)) * _OC_UNITS[m.group(2).lower()])
            if ms > 0:
                return Limit(ms, value.strip(), f"openclaw.json session.maintenance.{field_name}")
    return None


def resolve_policy(
    ctx: Any,
    overrides: PolicyOverrides | None = None,
    *,
    require_expiry: bool = False,
    lenient_openclaw: bool = False,
) -> Policy:
    """Merge command-line flags over sessionctl.toml's `[gc]`/`[gc.kinds.<kind>]` over
    openclaw.json's `session.maintenance`. `ctx` needs `.config` (SessionctlConfig) and
    `.openclaw` (OpenClawConfig); a RunContext has both.

    Raises ConfigError (78) for a bad sessionctl.toml, UsageError (64) for bad flags,
    and, with `require_expiry`, a UsageError when no source defines any limit. A
    `session.maintenance` value it cannot read is a ConfigError too, unless
    `lenient_openclaw` (health, dry runs): then it is listed in `Policy.problems` and
    OpenClaw's default is used.
    """
    ov = overrides or PolicyOverrides()
    cfg: SessionctlConfig = ctx.config
    oc: OpenClawConfig = ctx.openclaw
    path = str(cfg.path) if cfg.path else "sessionctl.toml"
    gc = _norm_keys(cfg.section("gc"))
    unknown = sorted(set(gc) - _GC_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) in [gc]: {', '.join(unknown)} (known: {', '.join(sorted(_GC_KEYS))})",
            path=path,
        )
    pol = Policy()
    used_cli = used_cfg = False

    # -------- defaults ([gc]) and per-kind tables
    d_age = _cfg_duration(gc["max-age"], "[gc]", "max-age", path) if "max-age" in gc else None
    d_idle = _cfg_duration(gc["idle"], "[gc]", "idle", path) if "idle" in gc else None
    d_failed = _cfg_duration(gc["failed-idle"], "[gc]", "failed-idle", path) if "failed-idle" in gc else None
    agent_cap_n = _cfg_count(gc["max-entries"], "[gc]", "max-entries", path) if "max-entries" in gc else None
    agent_cap = Cap(agent_cap_n, "[gc]") if agent_cap_n is not None else None
    used_cfg = used_cfg or any(x is not None for x in (d_age, d_idle, d_failed, agent_cap))
    kinds_tbl = gc.get("kinds", {})
    if not isinstance(kinds_tbl, dict):
        raise ConfigError(f"{path}: [gc.kinds] must be a table of [gc.kinds.<kind>] tables", path=path)
    raw_kinds: dict[str, dict[str, Any]] = {}
    for kind, tbl in kinds_tbl.items():
        if kind not in KINDS:
            raise ConfigError(
                f"{path}: [gc.kinds.{kind}]: unknown kind; kinds are: {', '.join(KINDS)}", path=path
            )
        if not isinstance(tbl, dict):
            raise ConfigError(f"{path}: [gc.kinds.{kind}] must be a table", path=path)
        t = _norm_keys(tbl)
        bad = sorted(set(t) - _KIND_KEYS)
        if bad:
            raise ConfigError(
                f"{path}: unknown key(s) in [gc.kinds.{kind}]: {', '.join(bad)} "
                f"(known: {', '.join(sorted(_KIND_KEYS))})",
                path=path,
            )
        raw_kinds[kind] = t

    default = Rule(d_age, d_idle, None, failed_idle=d_failed)
    per_kind: dict[str, Rule] = {}
    for kind, t in raw_kinds.items():
        where = f"[gc.kinds.{kind}]"
        age = _cfg_duration(t["max-age"], where, "max-age", path) if "max-age" in t else d_age
        idle = _cfg_duration(t["idle"], where, "idle", path) if "idle" in t else d_idle
        failed = (
            _cfg_duration(t["failed-idle"], where, "failed-idle", path) if "failed-idle" in t else d_failed
        )
        n = _cfg_count(t["max-entries"], where, "max-entries", path) if "max-entries" in t else None
        prot = t.get("protect", False)
        if not isinstance(prot, bool):
            raise ConfigError(f"{path}: {where} protect must be true or false", path=path)
        per_kind[kind] = Rule(
            age, idle, Cap(n, where) if n is not None else None, where if prot else None, failed
        )
        used_cfg = used_cfg or any(k in t for k in ("max-age", "idle", "failed-idle", "max-entries"))

    # -------- command line: a flag replaces that limit for every kind
    if ov.max_age is not None:
        used_cli = True
        lim = _cli_duration("--max-age", ov.max_age)
        default = replace(default, max_age=lim)
        per_kind = {k: replace(r, max_age=lim) for k, r in per_kind.items()}
    if ov.idle is not None:
        used_cli = True
        lim = _cli_duration("--idle", ov.idle)
        default = replace(default, idle=lim)
        per_kind = {k: replace(r, idle=lim) for k, r in per_kind.items()}
    if ov.failed_idle is not None:
        used_cli = True
        lim = _cli_duration("--failed-idle", ov.failed_idle)
        default = replace(default, failed_idle=lim)
        per_kind = {k: replace(r, failed_idle=lim) for k, r in per_kind.items()}
    if ov.max_entries is not None:
        used_cli = True
        if ov.max_entries < 0:
            raise UsageError("--max-entries must be 0 or more")
        agent_cap = Cap(ov.max_entries, "--max-entries")
        per_kind = {k: replace(r, cap=None) for k, r in per_kind.items()}

    # -------- OpenClaw's session.maintenance when nothing else set a limit
    sources: list[str] = []
    if used_cli:
        sources.append("command line")
    if used_cfg:
        sources.append(f"sessionctl.toml ({path})")
    if not used_cli and not used_cfg and oc.exists:
        default, agent_cap, src = _openclaw_policy(oc, pol, strict=not lenient_openclaw)
        sources.append(src)
    pol.source = " + ".join(sources) if sources else "none"
    pol.default, pol.per_kind, pol.cap = default, per_kind, agent_cap

    # -------- scope, protections, misc
    for k in ov.kinds:
        if k not in KINDS:
            raise UsageError(f"--kind {k!r}: unknown kind; kinds are: {', '.join(KINDS)}")
    pol.kinds = frozenset(ov.kinds) if ov.kinds else None
    pol.match = tuple(g.strip().lower() for g in ov.match if g.strip())
    protect: list[tuple[str, str]] = [
        (g, "[gc] protect") for g in _cfg_globs(gc.get("protect", []), "[gc]", path)
    ]
    protect += [(g.strip().lower(), "--protect") for g in ov.protect if g.strip()]
    pol.protect = tuple(protect)
    if "running-grace" in gc:
        rg = _cfg_duration(gc["running-grace"], "[gc]", "running-grace", path)
        pol.running_grace_ms = rg.ms if rg else 0
    ae = gc.get("allow-empty", False)
    if not isinstance(ae, bool):
        raise ConfigError(f"{path}: [gc] allow-empty must be true or false", path=path)
    pol.allow_empty = ov.allow_empty or ae
    if ov.archive_retention is not None:
        pol.archive_retention = _cli_duration("--archive-retention", ov.archive_retention)
    elif "archive-retention" in gc:
        pol.archive_retention = _cfg_duration(gc["archive-retention"], "[gc]", "archive-retention", path)
    pol.archive_backup = not ov.no_archive_backup
    pol.keep_runs, pol.keep_within = _retention(gc, path, ov.keep_runs, ov.keep_within)

    if require_expiry and not pol.has_expiry and pol.archive_retention is None:
        if used_cli or used_cfg:
            given = " and ".join(
                x for x in ("the command line" if used_cli else "", "[gc]" if used_cfg else "") if x
            )
            why = (
                f"no gc limit left: {given} turned every limit off; openclaw.json's session.maintenance "
                "is used only when neither the command line nor sessionctl.toml sets a limit"
            )
        else:
            why = (
                "no gc policy: no limit on the command line, no [gc] in sessionctl.toml "
                f"({path}), and no openclaw.json ({oc.path}) whose session.maintenance (or OpenClaw's "
                "defaults) gc would follow"
            )
        raise UsageError(
            why, hint="give a limit, e.g. `sessionctl gc --max-age 30d` or `--idle 7d` (see docs/gc.md)"
        )
    return pol


@dataclass(frozen=True)
class ConfigProblem:
    """A value of openclaw.json that cannot be read: `key` (e.g.
    `session.maintenance.pruneAfter`), what is wrong, and what was used instead."""

    key: str
    message: str
    path: str


# run folder retention after gc, backup and prestart when neither the command line nor
# sessionctl.toml says otherwise: the newest DEFAULT_KEEP_RUNS run folders of the state dir
DEFAULT_KEEP_RUNS = 20


def _retention(
    gc: Mapping[str, Any], path: str, keep_runs: int | None, keep_within: str | None
) -> tuple[int | None, Limit | None]:
    runs: int | None = None
    within: Limit | None = None
    if keep_runs is not None:
        if keep_runs < 1:
            raise UsageError("--keep-runs must be at least 1 (the newest run is always kept)")
        runs = keep_runs
    elif "keep-runs" in gc:
        runs = _cfg_count(gc["keep-runs"], "[gc]", "keep-runs", path, minimum=1)
    if keep_within is not None:
        within = _cli_duration("--keep-within", keep_within)
    elif "keep-within" in gc:
        within = _cfg_duration(gc["keep-within"], "[gc]", "keep-within", path)
    if runs is None and within is None:
        runs = DEFAULT_KEEP_RUNS
    return runs, within


def resolve_retention(
    ctx: Any, keep_runs: int | None, keep_within: str | None
) -> tuple[int | None, int | None]:
    """The run folder retention of `backup` (gc and prestart get it in their Policy): the
    command line over sessionctl.toml's `[gc] keep-runs` / `keep-within` over the
    default, the newest DEFAULT_KEEP_RUNS. Returns (keep_runs, keep_within_ms)."""
    cfg: SessionctlConfig = ctx.config
    path = str(cfg.path) if cfg.path else "sessionctl.toml"
    runs, within = _retention(_norm_keys(cfg.section("gc")), path, keep_runs, keep_within)
    return runs, within.ms if within is not None else None


def _openclaw_policy(oc: OpenClawConfig, pol: Policy, *, strict: bool) -> tuple[Rule, Cap, str]:
    """OpenClaw's own pruning as gc's policy (format doc §8): `pruneAfter` → idle time,
    `maxEntries` → the per-agent cap; a field that is absent takes OpenClaw's default, as
    the gateway does. A value sessionctl cannot read is a ConfigError when `strict` (a real
    change must not guess), else a ConfigProblem in `pol.problems` and the default."""
    m = oc.maintenance
    ocp = str(oc.path) if oc.path else "openclaw.json"
    defaults_note = []

    def unreadable(key: str, value: Any, what: str, hint: str, default: str) -> None:
        msg = f"session.maintenance.{key} = {_show(value)} is not {what}"
        if strict:
            raise ConfigError(f"{ocp}: {msg}", path=ocp, hint=hint)
        pol.problems.append(
            ConfigProblem(
                f"session.maintenance.{key}", f"{ocp}: {msg}; using OpenClaw's default {default}", ocp
            )
        )

    idle_lim: Limit | None = None
    if "pruneAfter" in m:
        idle_lim = _openclaw_duration(m["pruneAfter"], "pruneAfter")
        if idle_lim is None:
            unreadable(
                "pruneAfter",
                m["pruneAfter"],
                'a duration sessionctl can read (like "30d", "24h", "90m")',
                "fix it in openclaw.json, or give gc its own policy (--idle 30d, or [gc] idle in sessionctl.toml)",
                OPENCLAW_PRUNE_AFTER,
            )
    if idle_lim is None:
        idle_lim = Limit(
            parse_duration(OPENCLAW_PRUNE_AFTER), OPENCLAW_PRUNE_AFTER, "OpenClaw default pruneAfter"
        )
        defaults_note.append(f"pruneAfter {OPENCLAW_PRUNE_AFTER}")
    cap: Cap | None = None
    if "maxEntries" in m:
        me = m["maxEntries"]
        if isinstance(me, bool) or not isinstance(me, int | float) or not math.isfinite(me) or me < 0:
            unreadable(
                "maxEntries",
                me,
                "a count",
                "fix it in openclaw.json, or give gc its own policy (--max-entries N, or [gc] max-entries)",
                str(OPENCLAW_MAX_ENTRIES),
            )
        else:
            cap = Cap(int(me), "openclaw.json session.maintenance.maxEntries")
    if cap is None:
        cap = Cap(OPENCLAW_MAX_ENTRIES, "OpenClaw default maxEntries")
        defaults_note.append(f"maxEntries {OPENCLAW_MAX_ENTRIES}")
    if not m:
        pol.notes.append(
            f"no gc policy on the command line or in sessionctl.toml, and openclaw.json has no "
            f"session.maintenance: using OpenClaw's own defaults, as the gateway does (pruneAfter "
            f"{OPENCLAW_PRUNE_AFTER} as idle time, maxEntries {OPENCLAW_MAX_ENTRIES} as the cap)"
        )
    else:
        pol.notes.append(
            "no gc policy on the command line or in sessionctl.toml: using OpenClaw's own session.maintenance "
            "(pruneAfter as idle time, maxEntries as the cap"
            + (f"; OpenClaw's defaults for {', '.join(defaults_note)}" if defaults_note else "")
            + ")"
        )
    src = f"openclaw.json session.maintenance (pruneAfter → idle {idle_lim.text}, maxEntries {cap.n})"
    if not m:
        src = f"OpenClaw's defaults (no session.maintenance in openclaw.json: idle {idle_lim.text}, maxEntries {cap.n})"
    return Rule(None, idle_lim, None), cap, src


def _show(value: Any) -> str:
    """A config value as JSON would write it (null, not None)."""
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


# ---------------------------------------------------------------- planning


Action = Literal["expire", "keep"]


@dataclass
class Decision:
    """What the planner decided for one session, and why."""

    agent: str
    key: str
    kind: str
    action: Action
    reason: str  # the first reason: "max-age 6d3h > 120h", "protected: main key", "within policy"
    reasons: list[str] = field(default_factory=list)  # every limit the session exceeds
    rule: str | None = None  # which rule expired it: max-age | idle | failed-idle | cap
    protected: bool = False
    refused: bool = False  # it exceeds a limit, but its agent would be emptied: kept
    in_scope: bool = True
    age_ms: int | None = None
    age_from: str = "none"
    idle_ms: int | None = None
    idle_from: str = "none"
    last_active_ms: int | None = None
    size: int | None = None
    transcript: str | None = None
    notes: list[str] = field(default_factory=list)  # timestamp anomalies

    @property
    def notable(self) -> bool:
        """Worth a row in a non-verbose plan table."""
        return self.action == "expire" or self.protected or self.refused or bool(self.notes)

    def removal_fields(self) -> dict[str, Any]:
        """What the journal records of this decision with a removal (file or SQLite era):
        kind, why, by which rule, age, idle time and transcript size."""
        return {
            "kind": self.kind,
            "reason": self.reason,
            "rule": self.rule,
            "age_ms": self.age_ms,
            "idle_ms": self.idle_ms,
            "transcript_bytes": self.size,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "key": self.key,
            "kind": self.kind,
            "decision": self.action,
            "reason": self.reason,
            "reasons": self.reasons,
            "rule": self.rule,
            "protected": self.protected,
            "refused": self.refused,
            "in_scope": self.in_scope,
            "age_ms": self.age_ms,
            "age_from": self.age_from,
            "idle_ms": self.idle_ms,
            "idle_from": self.idle_from,
            "transcript": self.transcript,
            "transcript_bytes": self.size,
            "notes": self.notes,
        }


@dataclass
class FileArchive:
    """A file that goes with expired sessions and no remaining entry references."""

    agent: str
    path: Path
    kind: str
    size: int
    keys: list[str]
    lock_target: Path  # the transcript whose lock guards this file

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "path": str(self.path),
            "kind": self.kind,
            "bytes": self.size,
            "keys": self.keys,
        }


@dataclass
class ArchivePurge:
    """A `.deleted`/`.reset` archive older than the archive retention."""

    agent: str
    path: Path
    reason: str  # deleted | reset
    archived_at_ms: int
    size: int


@dataclass
class AgentPlan:
    agent: str
    store_path: Path
    decisions: list[Decision] = field(default_factory=list)
    files: list[FileArchive] = field(default_factory=list)
    kept_referenced: list[str] = field(default_factory=list)  # files of expired keys still in use
    purges: list[ArchivePurge] = field(default_factory=list)
    refused: str | None = None  # would expire every session of the agent: left untouched
    defuse: list[ResumeDecision] = field(default_factory=list)  # the resume set (--defuse-resume)

    @property
    def expired(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "expire"]

    @property
    def would_expire(self) -> list[Decision]:
        """What the policy expires, the sessions of a refused agent included."""
        return [d for d in self.decisions if d.action == "expire" or d.refused]

    @property
    def defused(self) -> list[ResumeDecision]:
        return [r for r in self.defuse if r.action == "defuse"]


@dataclass
class GcPlan:
    policy: Policy
    now_ms: int
    agents: list[AgentPlan] = field(default_factory=list)

    @property
    def refusals(self) -> list[str]:
        return [a.refused for a in self.agents if a.refused]

    @property
    def empty(self) -> bool:
        return not any(a.expired or a.files or a.purges or a.defused for a in self.agents)


@dataclass
class Times:
    age_ms: int | None
    age_from: str
    idle_ms: int | None
    idle_from: str
    last_active_ms: int | None
    notes: list[str]


def session_times(ev: EntryView, now_ms: int) -> Times:
    """Age and idle time of one session at `now_ms`, with the documented fallbacks.

    Age: now − sessionStartedAt, else the transcript header timestamp, else the earliest
    evidence (startedAt, updatedAt, lastInteractionAt, transcript mtime).
    Idle: now − the latest of lastInteractionAt, updatedAt and the last transcript line's
    timestamp; when none exists, the transcript's mtime.
    A timestamp in the future counts as now (never expired because of clock skew) and is
    reported; a session with no evidence at all has no age/idle and is never expired by them.
    """
    notes: list[str] = []
    o = ev.obj
    ua = o.get("updatedAt")
    if ua is None:
        notes.append("updatedAt missing")
    elif isinstance(ua, bool) or not isinstance(ua, int | float) or ua != ua:
        notes.append(f"updatedAt not a number ({type(ua).__name__})")
    started, started_src = ev.started_ms()
    active, active_src = ev.last_active_ms()
    if active is None and ev.facts is not None and ev.facts.error is None and ev.facts.size:
        active, active_src = ev.facts.mtime_ms, "transcript mtime"
    age: int | None = None
    if started is not None:
        age = now_ms - started
        if age < 0:
            notes.append(f"start in the future ({started_src} +{format_duration(-age)}): age counted as 0")
            age = 0
    idle: int | None = None
    if active is not None:
        idle = now_ms - active
        if idle < 0:
            notes.append(f"activity in the future ({active_src} +{format_duration(-idle)}): counted as now")
            idle = 0
            active = now_ms
    if started is None and active is None:
        notes.append("no usable timestamp")
    return Times(age, started_src, idle, active_src, active, notes)


def _is_main(ev: EntryView) -> bool:
    kind = ev.parsed.kind
    if kind in ("main", "global"):
        return True
    # un-prefixed legacy `main` key (format doc §4)
    return kind == "legacy" and ev.key.strip().lower() == "main"


def _running(ev: EntryView) -> bool:
    o = ev.obj
    if o.get("status") == "running":
        return True
    acp = o.get("acp")
    return isinstance(acp, dict) and acp.get("state") == "running"


def _running_recency(ev: EntryView, times: Times) -> int | None:
    """Latest evidence that a running session is really running."""

    o = ev.obj
    cands = [times.last_active_ms, num(o.get("startedAt"))]
    acp = o.get("acp")
    if isinstance(acp, dict):
        cands.append(num(acp.get("lastActivityAt")))
    vals = [c for c in cands if c is not None]
    return max(vals) if vals else None


def _protection(
    ev: EntryView, times: Times, policy: Policy, now_ms: int, locks: Mapping[str, str]
) -> str | None:
    if _is_main(ev):
        return "protected: main key"
    k = ev.key.lower()
    for g, src in policy.protect:
        if fnmatch.fnmatchcase(k, g):
            return f"protected: matches {src} {g}"
    rule = policy.rule_for(ev.parsed.kind)
    if rule.protected:
        return f"protected: kind {ev.parsed.kind} ({rule.protected})"
    if ev.ref.path is not None:
        holder = locks.get(str(ev.ref.path))
        if holder is not None:
            return f"protected: transcript lock held by {holder}"
    if _running(ev):
        rec = _running_recency(ev, times)
        if rec is not None:
            since = max(0, now_ms - rec)
            if since <= policy.running_grace_ms:
                return f"protected: running (active {format_duration(since)} ago)"
    return None


def ended_in_error(o: Mapping[str, Any]) -> str | None:
    """Why a session's last run ended in error (None: it did not, or it is running):
    status failed / killed / timeout, or abortedLastRun with a status other than running."""
    st = o.get("status")
    acp = o.get("acp")
    if st == "running" or (isinstance(acp, dict) and acp.get("state") == "running"):
        return None
    if st in ("failed", "killed", "timeout"):
        return f"status {st}"
    if o.get("abortedLastRun") is True:
        return "aborted" + (f", status {st}" if isinstance(st, str) and st else "")
    return None


def _file_group(fi: FileInfo) -> str:
    """The transcript name a file belongs to (its lock guards the file)."""
    if fi.kind in ("trajectory", "checkpoint", "acp_stream") and fi.owner:
        return fi.owner
    return fi.name


def plan_gc(
    snapshots: Iterable[AgentSnapshot],
    policy: Policy,
    now_ms: int,
    *,
    transcript_locks: Mapping[str, str] | None = None,
    foreign_refs: Mapping[str, Mapping[str, list[str]]] | None = None,
    resume_era: ResumeEra | None = None,
) -> GcPlan:
    """Decide, per session, expire or keep — and which files go with the expired ones.

    Pure: reads only the snapshots (store, inventory, transcript facts), the policy,
    `now_ms`, `transcript_locks` (absolute transcript path → "pid N (...)" for locks
    held by a live process, collected beforehand by `collect_transcript_locks`) and
    `foreign_refs` (sessions folder → file name → keys: what the entries of the stores
    NOT snapshotted — other agents than `--agent` ones — keep in use in other folders,
    snapshot.sibling_references): a file any agent's live entry references is never
    archived, whatever the scope of the command.

    An agent the plan would empty is left untouched (`AgentPlan.refused`, its decisions
    `refused`), unless `policy.allow_empty`; the other agents are planned as usual.
    With `policy.defuse`, the restart resume set of the file-era stores under
    `resume_era` (sessionctl.resume) is limited: `AgentPlan.defuse`.
    """
    locks = transcript_locks or {}
    snaps = list(snapshots)
    plan = GcPlan(policy, now_ms)
    for snap in snaps:
        ap = AgentPlan(snap.agent_id, snap.store.store_path)
        plan.agents.append(ap)
        if snap.load.data is None:
            continue
        _plan_agent(ap, snap, policy, now_ms, locks)
    _plan_files(plan, snaps, foreign_refs or {})
    _plan_purges(plan, snaps, policy, now_ms)
    if policy.defuse is not None and resume_era is not None:
        _plan_defuse(plan, snaps, policy.defuse, resume_era, now_ms, locks)
    return plan


def _plan_defuse(
    plan: GcPlan,
    snaps: list[AgentSnapshot],
    dp: DefusePolicy,
    era: ResumeEra,
    now_ms: int,
    locks: Mapping[str, str],
) -> None:
    """The resume set of every file-era store (minus what this plan expires, and minus a
    session whose transcript lock a live process holds: it is running now), limited by
    `dp` across all agents (resume.plan_defuse)."""

    cands: list[tuple[str, str, Mapping[str, Any]]] = []
    for ap, snap in zip(plan.agents, snaps, strict=True):
        if snap.load.data is None or snap.store.layout != "file":
            continue
        gone = {d.key for d in ap.expired}
        locked = {fi.owner for fi in snap.inventory.of_kind("lock") if fi.owner}
        for ev in snap.entries:
            if ev.key in gone or not isinstance(ev.entry, dict):
                continue
            p = ev.ref.path
            if p is not None and str(p) in locks:
                continue
            if file_resumes_on_start(
                ev.key, ev.obj, era, transcript_locked=p is not None and p.name in locked
            ):
                cands.append((ap.agent, ev.key, ev.obj))
    by_agent = {ap.agent: ap for ap in plan.agents}
    for r in plan_defuse(cands, dp, now_ms):
        by_agent[r.agent].defuse.append(r)


def _plan_agent(
    ap: AgentPlan, snap: AgentSnapshot, policy: Policy, now_ms: int, locks: Mapping[str, str]
) -> None:
    survivors: list[tuple[Decision, EntryView]] = []
    for ev in snap.entries:
        kind = ev.parsed.kind
        t = session_times(ev, now_ms)
        facts = ev.facts
        d = Decision(
            agent=snap.agent_id,
            key=ev.key,
            kind=kind,
            action="keep",
            reason="within policy",
            age_ms=t.age_ms,
            age_from=t.age_from,
            idle_ms=t.idle_ms,
            idle_from=t.idle_from,
            last_active_ms=t.last_active_ms,
            size=facts.size if facts is not None and facts.error is None else None,
            transcript=str(ev.ref.path) if ev.ref.path is not None else None,
            notes=t.notes,
        )
        ap.decisions.append(d)
        if not policy.in_scope(ev.key, kind):
            d.in_scope, d.reason = False, "out of scope"
            continue
        prot = _protection(ev, t, policy, now_ms, locks)
        rule = policy.rule_for(kind)
        reasons: list[tuple[str, str]] = []
        if rule.max_age and t.age_ms is not None and t.age_ms > rule.max_age.ms:
            reasons.append(("max-age", f"max-age {format_duration(t.age_ms)} > {rule.max_age.text}"))
        if rule.idle and t.idle_ms is not None and t.idle_ms > rule.idle.ms:
            reasons.append(("idle", f"idle {format_duration(t.idle_ms)} > {rule.idle.text}"))
        if rule.failed_idle and t.idle_ms is not None and t.idle_ms > rule.failed_idle.ms:
            why = ended_in_error(ev.obj)
            if why is not None:
                reasons.append(
                    (
                        "failed-idle",
                        f"failed-idle {format_duration(t.idle_ms)} > {rule.failed_idle.text} ({why})",
                    )
                )
        if prot is not None:
            d.protected, d.reason = True, prot
            d.reasons = [r for _, r in reasons]
        elif reasons:
            d.action, d.rule, d.reason = "expire", reasons[0][0], reasons[0][1]
            d.reasons = [r for _, r in reasons]
            continue
        elif t.age_ms is None and t.idle_ms is None:
            d.reason = "no usable timestamp: kept"
        survivors.append((d, ev))

    # caps: after age/idle, keep the N most recently active (protected ones count, stay)
    def newest_first(item: tuple[Decision, EntryView]) -> tuple[int, str]:
        la = item[0].last_active_ms
        return (-(la if la is not None else 1 << 62), item[0].key)

    survivors.sort(key=newest_first)
    by_kind: dict[str, list[Decision]] = {}
    for d, _ev in survivors:
        by_kind.setdefault(d.kind, []).append(d)
    for kind, ds in by_kind.items():
        cap = policy.rule_for(kind).cap
        if cap is None:
            continue
        for i, d in enumerate(ds, start=1):
            if i > cap.n and not d.protected and d.last_active_ms is not None:
                d.action, d.rule = "expire", "cap"
                d.reason = f"cap {kind} {i} > {cap.n}"
                d.reasons = [d.reason]
    if policy.cap is not None:
        i = 0
        for d, _ev in survivors:
            if d.action == "expire":
                continue
            i += 1
            if i > policy.cap.n and not d.protected and d.last_active_ms is not None:
                d.action, d.rule = "expire", "cap"
                d.reason = f"cap {i} > {policy.cap.n}"
                d.reasons = [d.reason]

    n_exp = sum(1 for d in ap.decisions if d.action == "expire")
    if n_exp and n_exp == len(ap.decisions) and not policy.allow_empty:
        ap.refused = (
            f"agent {ap.agent}: the policy would expire all {n_exp} of its sessions; "
            "the agent is left untouched (pass --allow-empty to allow it)"
        )
        for d in ap.decisions:
            if d.action == "expire":
                d.action, d.refused = "keep", True
                d.reason = f"kept: it would empty agent {ap.agent} ({d.reason})"


def _plan_files(
    plan: GcPlan, snaps: list[AgentSnapshot], foreign_refs: Mapping[str, Mapping[str, list[str]]]
) -> None:
    """Files of expired sessions that no remaining entry (of any agent) references."""

    expired_by_agent = {a.agent: {d.key for d in a.expired} for a in plan.agents}
    # references of every remaining entry, per sessions folder (sibling references count),
    # those of the agents outside the command's scope included
    remaining_refs: dict[str, dict[str, list[str]]] = {
        folder: {name: list(keys) for name, keys in names.items()} for folder, names in foreign_refs.items()
    }
    for snap in snaps:
        gone = expired_by_agent.get(snap.agent_id, set())
        remaining = [ev for ev in snap.entries if ev.key not in gone]
        sdir = str(snap.store.sessions_dir)
        refs = remaining_refs.setdefault(sdir, {})
        for name, keys in build_references(remaining, snap.store.sessions_dir).items():
            refs.setdefault(name, []).extend(keys)
        for ev in remaining:
            p = ev.ref.path
            if p is not None and str(p.parent) != sdir:
                remaining_refs.setdefault(str(p.parent), {}).setdefault(p.name, []).append(ev.key)

    for ap, snap in zip(plan.agents, snaps, strict=True):
        gone = expired_by_agent.get(snap.agent_id, set())
        if not gone:
            continue
        folder = snap.store.sessions_dir
        inv = snap.inventory
        # the files of each expired session (snapshot.session_files, by name, no I/O)
        files, kept = session_files(
            snap, [ev for ev in snap.entries if ev.key in gone], remaining_refs.get(str(folder), {})
        )
        ap.kept_referenced.extend(kept)
        for name, owners in files.items():
            fi = inv.by_name[name]
            ap.files.append(
                FileArchive(ap.agent, fi.path, fi.kind, fi.size, owners, folder / _file_group(fi))
            )


def _plan_purges(plan: GcPlan, snaps: list[AgentSnapshot], policy: Policy, now_ms: int) -> None:
    ret = policy.archive_retention
    if ret is None:
        return
    for ap, snap in zip(plan.agents, snaps, strict=True):
        for fi in snap.inventory.of_kind("archive"):
            if fi.archive_reason not in ("deleted", "reset") or fi.archive_ts_ms is None:
                continue
            if now_ms - fi.archive_ts_ms > ret.ms:
                ap.purges.append(
                    ArchivePurge(ap.agent, fi.path, fi.archive_reason, fi.archive_ts_ms, fi.size)
                )


# ---------------------------------------------------------------- facts (I/O, before planning)


def collect_transcript_locks(snapshots: Iterable[AgentSnapshot]) -> dict[str, str]:
    """Transcript locks held by a live process, judged by the gateway's own staleness
    rules (format doc §6): absolute transcript path → holder description. I/O: call it
    before `plan_gc` and pass the result in."""

    out: dict[str, str] = {}
    for snap in snapshots:
        for fi in snap.inventory.of_kind("lock"):
            if not fi.owner:
                continue
            st = inspect_lock(fi.path, stale_ms=TRANSCRIPT_LOCK_STALE_MS)
            if st.exists and not st.stale:
                out[str(snap.store.sessions_dir / fi.owner)] = st.describe()
    return out


# ---------------------------------------------------------------- refusals and the resume set

DEFAULT_MAX_RESUME = 4  # OpenClaw's default agents.defaults.maxConcurrent of lane `main`
DEFAULT_RESUME_WITHIN = "1h"


def refusal_findings(plan: GcPlan, severity: str) -> list[Any]:
    """One `gc.agent_refused` finding per agent the plan would have emptied (left
    untouched): what gc shows, and what health reports (as info)."""

    out = []
    for ap in plan.agents:
        if not ap.refused:
            continue
        n = len(ap.would_expire)
        out.append(
            Finding(
                "gc.agent_refused",
                severity,  # type: ignore[arg-type]
                ap.agent,
                f"gc leaves agent {ap.agent} untouched: its policy would expire all {n} of its sessions "
                "(the other agents are cleaned)",
                path=str(ap.store_path),
                fix=f"sessionctl gc --agent {ap.agent} --allow-empty (if emptying it is intended), or a "
                "longer limit / a protect glob for it in sessionctl.toml",
                data={"would_expire": n, "keys": sorted(d.key for d in ap.would_expire)[:20]},
            )
        )
    return out


def resolve_defuse(ctx: Any, max_resume: int | None, resume_within: str | None) -> DefusePolicy:
    """The resume-set limit: the flags, else `[prestart] max-resume` / `resume-within` of
    sessionctl.toml, else 4 and 1h. UsageError (64) for a bad flag, ConfigError (78) for a
    bad config value."""
    cfg: SessionctlConfig = ctx.config
    path = str(cfg.path) if cfg.path else "sessionctl.toml"
    sec = _norm_keys(cfg.section("prestart"))
    n: int
    src: list[str] = []
    if max_resume is not None:
        if max_resume < 0:
            raise UsageError("--max-resume must be 0 or more")
        n = max_resume
        src.append("--max-resume")
    elif "max-resume" in sec:
        v = sec["max-resume"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{path}: [prestart] max-resume must be an integer ≥ 0", path=path)
        n = v
        src.append("[prestart] max-resume")
    else:
        n = DEFAULT_MAX_RESUME
    lim: Limit | None
    if resume_within is not None:
        lim = _cli_duration("--resume-within", resume_within)
        if lim is None:
            raise UsageError("--resume-within cannot be 'off': give a duration like 1h")
        src.append("--resume-within")
    elif "resume-within" in sec:
        lim = _cfg_duration(sec["resume-within"], "[prestart]", "resume-within", path)
        if lim is None:
            raise ConfigError(f'{path}: [prestart] resume-within must be a duration like "1h"', path=path)
        src.append("[prestart] resume-within")
    else:
        lim = Limit(parse_duration(DEFAULT_RESUME_WITHIN), DEFAULT_RESUME_WITHIN, "default")
    return DefusePolicy(n, lim.ms, lim.text, " + ".join(src) if src else "defaults")
