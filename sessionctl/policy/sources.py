"""gc policy, where the limits come from: `resolve_policy`, `resolve_retention`,
`resolve_defuse`.

Precedence, per field (docs/gc.md): command line > `[gc.kinds.<kind>]` > `[gc]` of
sessionctl.toml > OpenClaw's `session.maintenance` (only when neither the command line
nor sessionctl.toml sets any limit: `pruneAfter` → idle, `maxEntries` → cap).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from sessionctl.errors import ConfigError, UsageError
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.keys import KINDS
from sessionctl.policy.model import Cap, ConfigProblem, Limit, Policy, PolicyOverrides, Rule
from sessionctl.resume import DefusePolicy
from sessionctl.thresholds import limit_ms
from sessionctl.timeutil import parse_duration

if TYPE_CHECKING:
    from sessionctl.config import OpenClawConfig, SessionctlConfig
    from sessionctl.context import RunContext


OFF_WORDS = frozenset({"off", "none", "never"})
# OpenClaw's own defaults for session.maintenance (format doc §8)
OPENCLAW_PRUNE_AFTER = "30d"
OPENCLAW_MAX_ENTRIES = 500


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


def _norm_keys(table: Mapping[str, JsonValue]) -> JsonObj:
    return {str(k).replace("_", "-"): v for k, v in table.items()}


def _cli_duration(opt: str, text: str) -> Limit | None:
    if text.strip().lower() in OFF_WORDS:
        return None
    ms = limit_ms(text, opt, UsageError, zero=f"{opt} {text!r} must be longer than zero (or 'off')")
    return Limit(ms, text.strip(), opt)


def _cfg_duration(value: object, where: str, key: str, path: str | None) -> Limit | None:
    if value is False or (isinstance(value, str) and value.strip().lower() in OFF_WORDS):
        return None
    if not isinstance(value, str):
        raise ConfigError(
            f'{path}: {where} {key} = {value!r}: write a quoted duration like "24h", "7d" or "off"',
            path=path,
        )
    ms = limit_ms(
        value,
        f"{path}: {where} {key}",
        lambda msg: ConfigError(msg, path=path),
        zero=f'{path}: {where} {key} must be longer than zero (or "off")',
    )
    return Limit(ms, value.strip(), where)


def _cfg_count(value: object, where: str, key: str, path: str | None, *, minimum: int = 0) -> int | None:
    if value is False or (isinstance(value, str) and value.strip().lower() in OFF_WORDS):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f'{path}: {where} {key} must be an integer ≥ {minimum} (or "off")', path=path)
    return value


def _cfg_globs(value: object, where: str, path: str | None) -> list[str]:
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


def _openclaw_duration(value: object, field_name: str) -> Limit | None:
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
    ctx: RunContext,
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
    raw_kinds: dict[str, JsonObj] = {}
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
    flags: tuple[tuple[str, str | None, Callable[[Rule, Limit | None], Rule]], ...] = (
        ("--max-age", ov.max_age, lambda r, lim: replace(r, max_age=lim)),
        ("--idle", ov.idle, lambda r, lim: replace(r, idle=lim)),
        ("--failed-idle", ov.failed_idle, lambda r, lim: replace(r, failed_idle=lim)),
    )
    for opt, text, with_limit in flags:
        if text is None:
            continue
        used_cli = True
        lim = _cli_duration(opt, text)
        default = with_limit(default, lim)
        per_kind = {k: with_limit(r, lim) for k, r in per_kind.items()}
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


# sessionctl.toml says otherwise: the newest DEFAULT_KEEP_RUNS run folders of the state dir
DEFAULT_KEEP_RUNS = 20


def _retention(
    gc: Mapping[str, JsonValue], path: str, keep_runs: int | None, keep_within: str | None
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
    ctx: RunContext, keep_runs: int | None, keep_within: str | None
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

    def unreadable(key: str, value: object, what: str, hint: str, default: str) -> None:
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


def _show(value: object) -> str:
    """A config value as JSON would write it (null, not None)."""
    import json

    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


# ---------------------------------------------------------------- refusals and the resume set

DEFAULT_MAX_RESUME = 4  # OpenClaw's default agents.defaults.maxConcurrent of lane `main`
DEFAULT_RESUME_WITHIN = "1h"


def resolve_defuse(ctx: RunContext, max_resume: int | None, resume_within: str | None) -> DefusePolicy:
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
