"""Health thresholds: defaults, `[health]` of sessionctl.toml, and command-line flags.

Precedence (highest first): flags → `[health]` in sessionctl.toml → openclaw.json
(`session.maintenance.maxEntries` for the entry count only) → built-in defaults.
Every key is documented in docs/health.md; an unknown key or a value of the wrong
type is a ConfigError (exit 78, which `health` reports as 3 UNKNOWN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sessionctl.errors import ConfigError, SessionctlError, UsageError
from sessionctl.findings import Finding, Severity
from sessionctl.jsonjs import JsonObj
from sessionctl.keys import GROUPLIKE_KINDS, KINDS, ParsedKey
from sessionctl.timeutil import parse_duration

if TYPE_CHECKING:
    from sessionctl.context import RunContext
    from sessionctl.snapshot import EntryView

KB = 1024
MB = 1024 * 1024
SQLITE_DEFAULT_MAX_ENTRIES = 5000  # session.maintenance.maxEntries default of 2026.9 (unarchived rows)

# token thresholds by session type (the session-management guide): (warning, critical)
DEFAULT_TOKENS: dict[str, tuple[int, int]] = {
    "groups": (50_000, 150_000),
    "dms": (100_000, 150_000),
    "main": (150_000, 200_000),
}
TOKEN_TYPES = tuple(DEFAULT_TOKENS)


def token_type(parsed: ParsedKey) -> str | None:
    """Which token-threshold type a session is: `dms` (direct), `groups` (group, channel,
    thread, topic), `main` (the main key and the `global` scope) or None (synthetic and
    other sessions have no token threshold)."""
    kind = parsed.kind
    if kind in ("main", "global"):
        return "main"
    if kind == "direct":
        return "dms"
    if kind in GROUPLIKE_KINDS:
        return "groups"
    if kind == "legacy" and parsed.peer_kind is not None:
        return "dms" if parsed.peer_kind == "direct" else "groups"
    return None


@dataclass(frozen=True)
class HealthThresholds:
    store_max_bytes: int = 50 * MB
    max_entries: int = 500
    max_entries_source: str = "default"  # default | openclaw.json | sessionctl.toml | flag
    transcript_max_bytes: int = 500 * KB
    tokens: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_TOKENS))
    missing_transcript_grace_ms: int = 10 * 60_000
    tmp_stale_ms: int = 5 * 60_000
    storm_window_ms: int = 3_600_000
    storm_warning: int = 20
    storm_critical_window_ms: int = 86_400_000
    storm_critical: int = 100
    storm_exclude_kinds: tuple[str, ...] = ("cron-run",)
    # sessions.resume_on_start (sessionctl/resume.py): OpenClaw resumes them one at a time on
    # lane main, whose default concurrency is 4; older than the window they are stale
    resume_budget: int = 4
    resume_window_ms: int = 3_600_000

    def max_entries_for(self, layout: str) -> int:
        """store.too_many_entries for a store of this layout: an explicit threshold applies to
        both eras; OpenClaw's default differs (2026.5.28: 500 entries, 2026.9: 5000 unarchived)."""
        if self.max_entries_source == "default" and layout == "sqlite":
            return SQLITE_DEFAULT_MAX_ENTRIES
        return self.max_entries

    def to_json(self) -> JsonObj:
        return {
            "store_max_bytes": self.store_max_bytes,
            "max_entries": self.max_entries,
            "max_entries_source": self.max_entries_source,
            "transcript_max_bytes": self.transcript_max_bytes,
            "tokens": {t: {"warning": w, "critical": c} for t, (w, c) in self.tokens.items()},
            "missing_transcript_grace_ms": self.missing_transcript_grace_ms,
            "tmp_stale_ms": self.tmp_stale_ms,
            "spawn_storm": {
                "window_ms": self.storm_window_ms,
                "warning": self.storm_warning,
                "critical_window_ms": self.storm_critical_window_ms,
                "critical": self.storm_critical,
                "exclude_kinds": list(self.storm_exclude_kinds),
            },
            "resume_budget": self.resume_budget,
            "resume_window_ms": self.resume_window_ms,
            "sqlite_max_entries": self.max_entries_for("sqlite"),
        }


_TOP_KEYS = {
    "store_max_mb",
    "max_entries",
    "transcript_max_kb",
    "missing_transcript_grace",
    "tmp_stale_after",
    "tokens",
    "spawn_storm",
    "resume_budget",
    "resume_window",
}
_STORM_KEYS = {"window", "warning", "critical_window", "critical", "exclude_kinds"}


def _where(path: object, key: str) -> str:
    return f"{path}: [health] {key}"


def _positive(v: object, where: str, *, allow_float: bool = False) -> float:
    if (
        isinstance(v, bool)
        or not isinstance(v, int | float)
        or (not allow_float and isinstance(v, float))
        or v <= 0
    ):
        what = "a positive number" if allow_float else "a positive integer"
        raise ConfigError(f"{where} must be {what}, not {v!r}")
    return float(v)


def _nonnegative(v: object, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ConfigError(f"{where} must be a whole number of sessions (0 or more), not {v!r}")
    return v


def limit_ms(text: str, where: str, error: Callable[[str], SessionctlError], *, zero: str) -> int:
    """A duration limit (gc's, health's): parse_duration's ms, longer than zero. A text
    that is no duration is `error(f"{where}: <why>")`, zero is `error(zero)`."""
    try:
        ms = parse_duration(text)
    except UsageError as exc:
        raise error(f"{where}: {exc.message}") from None
    if ms <= 0:
        raise error(zero)
    return ms


def _duration(v: object, where: str) -> int:

    if not isinstance(v, str):
        raise ConfigError(f'{where} must be a duration string like "10min", not {v!r}')
    return limit_ms(v, where, ConfigError, zero=f"{where} must be longer than zero")


def _openclaw_max_entries(maintenance: JsonObj) -> int | None:
    v = maintenance.get("maxEntries")
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        return None
    return int(v)


def resolve_thresholds(
    section: JsonObj,
    *,
    config_path: object = "sessionctl.toml",
    openclaw_maintenance: JsonObj | None = None,
    store_max_mb: float | None = None,
    transcript_max_kb: float | None = None,
    max_entries: int | None = None,
) -> HealthThresholds:
    """Build the effective thresholds. `section` is `[health]` of sessionctl.toml."""
    t = HealthThresholds()
    oc_max = _openclaw_max_entries(openclaw_maintenance or {})
    if oc_max is not None:
        t = replace(t, max_entries=oc_max, max_entries_source="openclaw.json")
    unknown = sorted(set(section) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"{config_path}: unknown key(s) in [health]: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_TOP_KEYS))})",
            path=str(config_path),
        )
    if "store_max_mb" in section:
        mb = _positive(section["store_max_mb"], _where(config_path, "store_max_mb"), allow_float=True)
        t = replace(t, store_max_bytes=int(mb * MB))
    if "max_entries" in section:
        n = int(_positive(section["max_entries"], _where(config_path, "max_entries")))
        t = replace(t, max_entries=n, max_entries_source="sessionctl.toml")
    if "transcript_max_kb" in section:
        kb = _positive(
            section["transcript_max_kb"], _where(config_path, "transcript_max_kb"), allow_float=True
        )
        t = replace(t, transcript_max_bytes=int(kb * KB))
    if "missing_transcript_grace" in section:
        t = replace(
            t,
            missing_transcript_grace_ms=_duration(
                section["missing_transcript_grace"], _where(config_path, "missing_transcript_grace")
            ),
        )
    if "tmp_stale_after" in section:
        t = replace(
            t, tmp_stale_ms=_duration(section["tmp_stale_after"], _where(config_path, "tmp_stale_after"))
        )
    if "resume_budget" in section:
        t = replace(
            t, resume_budget=int(_nonnegative(section["resume_budget"], _where(config_path, "resume_budget")))
        )
    if "resume_window" in section:
        t = replace(
            t, resume_window_ms=_duration(section["resume_window"], _where(config_path, "resume_window"))
        )
    if "tokens" in section:
        t = replace(t, tokens=_tokens(section["tokens"], config_path))
    if "spawn_storm" in section:
        t = _storm(t, section["spawn_storm"], config_path)
    # flags win
    if store_max_mb is not None:
        if store_max_mb <= 0:
            raise UsageError(f"--store-max-mb {store_max_mb:g}: must be greater than zero")
        t = replace(t, store_max_bytes=int(store_max_mb * MB))
    if transcript_max_kb is not None:
        if transcript_max_kb <= 0:
            raise UsageError(f"--transcript-max-kb {transcript_max_kb:g}: must be greater than zero")
        t = replace(t, transcript_max_bytes=int(transcript_max_kb * KB))
    if max_entries is not None:
        if max_entries <= 0:
            raise UsageError(f"--max-entries {max_entries}: must be greater than zero")
        t = replace(t, max_entries=max_entries, max_entries_source="flag")
    return t


def _tokens(v: object, config_path: object) -> dict[str, tuple[int, int]]:
    where = _where(config_path, "tokens")
    if not isinstance(v, dict):
        raise ConfigError(f"{where} must be a table, e.g. [health.tokens] groups = {{warning = 50000}}")
    out = dict(DEFAULT_TOKENS)
    for typ, lim in v.items():
        if typ not in DEFAULT_TOKENS:
            raise ConfigError(f"{where}: unknown session type {typ!r} (use {', '.join(TOKEN_TYPES)})")
        if not isinstance(lim, dict) or set(lim) - {"warning", "critical"}:
            raise ConfigError(f"{where}.{typ} must be a table with 'warning' and/or 'critical'")
        warn, crit = out[typ]
        if "warning" in lim:
            warn = int(_positive(lim["warning"], f"{where}.{typ}.warning"))
        if "critical" in lim:
            crit = int(_positive(lim["critical"], f"{where}.{typ}.critical"))
        if warn > crit:
            raise ConfigError(f"{where}.{typ}: warning ({warn}) is above critical ({crit})")
        out[typ] = (warn, crit)
    return out


def _storm(t: HealthThresholds, v: object, config_path: object) -> HealthThresholds:

    where = _where(config_path, "spawn_storm")
    if not isinstance(v, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(v) - _STORM_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_STORM_KEYS))})"
        )
    if "window" in v:
        t = replace(t, storm_window_ms=_duration(v["window"], f"{where}.window"))
    if "critical_window" in v:
        t = replace(t, storm_critical_window_ms=_duration(v["critical_window"], f"{where}.critical_window"))
    if "warning" in v:
        t = replace(t, storm_warning=int(_positive(v["warning"], f"{where}.warning")))
    if "critical" in v:
        t = replace(t, storm_critical=int(_positive(v["critical"], f"{where}.critical")))
    if "exclude_kinds" in v:
        kinds = v["exclude_kinds"]
        if not isinstance(kinds, list) or not all(isinstance(k, str) and k in KINDS for k in kinds):
            raise ConfigError(f"{where}.exclude_kinds must be a list of session kinds ({', '.join(KINDS)})")
        t = replace(t, storm_exclude_kinds=tuple(kinds))
    return t


def thresholds_for(
    ctx: RunContext,
    *,
    store_max_mb: float | None = None,
    transcript_max_kb: float | None = None,
    max_entries: int | None = None,
) -> HealthThresholds:
    """The effective thresholds for a RunContext (config files + flags)."""
    return resolve_thresholds(
        ctx.config.section("health"),
        config_path=ctx.config.path or "sessionctl.toml",
        openclaw_maintenance=ctx.openclaw.maintenance,
        store_max_mb=store_max_mb,
        transcript_max_kb=transcript_max_kb,
        max_entries=max_entries,
    )


def token_check(ev: EntryView, agent: str, thr: HealthThresholds) -> list[Finding]:
    """entry.tokens_high: a session past its type's token thresholds (health, and the
    SQLite era's rows)."""
    typ = token_type(ev.parsed)
    tokens = ev.total_tokens()
    if typ is None or tokens is None:
        return []
    warn, crit = thr.tokens[typ]
    if tokens < warn:
        return []
    sev: Severity = "critical" if tokens >= crit else "warning"
    limit = crit if sev == "critical" else warn
    return [
        Finding(
            "entry.tokens_high",
            sev,
            agent,
            f"{tokens:,} tokens in a {typ[:-1] if typ != 'main' else 'main'} session (≥ {limit:,}); "
            "compact or /reset it before it overflows",
            key=ev.key,
            data={"tokens": tokens, "type": typ, "warning": warn, "critical": crit},
        )
    ]
