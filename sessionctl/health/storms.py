"""health, spawn storms: many sessions under one key prefix within a short window."""

from __future__ import annotations

from collections import defaultdict

from sessionctl.findings import Finding, Severity, fix_cmd
from sessionctl.snapshot import AgentSnapshot
from sessionctl.thresholds import HealthThresholds
from sessionctl.timeutil import format_duration, iso_ms, max_in_window


def key_prefix(key: str) -> str | None:
    """The key minus its last `:`-segment (the uuid / timestamp / counter that makes
    machine-made keys unique). None for keys with fewer than two segments."""
    k = key.strip().lower()
    i = k.rfind(":")
    return k[:i] if i > 0 else None


def storm_checks(snap: AgentSnapshot, thr: HealthThresholds) -> list[Finding]:
    """Many sessions sharing a key prefix created within a short window."""
    groups: dict[str, list[int]] = defaultdict(list)
    excluded = set(thr.storm_exclude_kinds)
    for ev in snap.entries:
        if ev.parsed.kind in excluded or ev.parsed.kind == "main":
            continue
        prefix = key_prefix(ev.key)
        started, _src = ev.started_ms()
        if prefix is None or started is None:
            continue
        groups[prefix].append(started)
    out: list[Finding] = []
    agent = snap.agent_id
    for prefix in sorted(groups):
        times = sorted(groups[prefix])
        if len(times) < min(thr.storm_warning, thr.storm_critical):
            continue
        n_crit, crit_at = max_in_window(times, thr.storm_critical_window_ms)
        n_warn, warn_at = max_in_window(times, thr.storm_window_ms)
        if n_crit >= thr.storm_critical:
            sev: Severity = "critical"
            n, at, win = n_crit, crit_at, thr.storm_critical_window_ms
        elif n_warn >= thr.storm_warning:
            sev, n, at, win = "warning", n_warn, warn_at, thr.storm_window_ms
        else:
            continue
        out.append(
            Finding(
                "sessions.spawn_storm",
                sev,
                agent,
                f"{n} sessions under {prefix}:* were created within {format_duration(win)} "
                f"(from {iso_ms(at or 0)}; {len(times)} in total)",
                path=str(snap.store.store_path),
                fix=fix_cmd("storms", agent),
                data={
                    "prefix": prefix,
                    "count": n,
                    "window_ms": win,
                    "window_start": iso_ms(at or 0),
                    "total": len(times),
                    "in_1h_window": n_warn,
                    "in_24h_window": n_crit,
                },
            )
        )
    return out
