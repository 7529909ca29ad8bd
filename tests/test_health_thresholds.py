"""sessionctl.thresholds: defaults, `[health]` of sessionctl.toml, openclaw.json's
maxEntries and flags, in that order of precedence; session kind → token type."""

from __future__ import annotations

from typing import Any

import pytest

from sessionctl.errors import ConfigError, UsageError
from sessionctl.keys import parse_key
from sessionctl.thresholds import KB, MB, resolve_thresholds, token_type


def test_defaults() -> None:
    t = resolve_thresholds({})
    assert (t.store_max_bytes, t.max_entries, t.transcript_max_bytes) == (50 * MB, 500, 500 * KB)
    assert t.tokens == {"groups": (50_000, 150_000), "dms": (100_000, 150_000), "main": (150_000, 200_000)}
    assert t.missing_transcript_grace_ms == 600_000 and t.tmp_stale_ms == 300_000
    assert (t.storm_warning, t.storm_window_ms, t.storm_critical, t.storm_critical_window_ms) == (
        20,
        3_600_000,
        100,
        86_400_000,
    )


def test_precedence_flag_over_toml_over_openclaw() -> None:
    oc = {"maxEntries": 300}
    assert resolve_thresholds({}, openclaw_maintenance=oc).max_entries == 300
    t = resolve_thresholds({"max_entries": 200}, openclaw_maintenance=oc)
    assert (t.max_entries, t.max_entries_source) == (200, "sessionctl.toml")
    t = resolve_thresholds({"max_entries": 200}, openclaw_maintenance=oc, max_entries=100)
    assert (t.max_entries, t.max_entries_source) == (100, "flag")
    t = resolve_thresholds({"store_max_mb": 10, "transcript_max_kb": 100}, store_max_mb=2)
    assert (t.store_max_bytes, t.transcript_max_bytes) == (2 * MB, 100 * KB)
    assert resolve_thresholds({}, openclaw_maintenance={"maxEntries": "lots"}).max_entries == 500


def test_full_section() -> None:
    section: dict[str, Any] = {
        "missing_transcript_grace": "30min",
        "tmp_stale_after": "1h",
        "tokens": {"groups": {"warning": 10_000}, "dms": {"warning": 1, "critical": 2}},
        "spawn_storm": {
            "window": "30min",
            "warning": 5,
            "critical_window": "2h",
            "critical": 9,
            "exclude_kinds": [],
        },
    }
    t = resolve_thresholds(section)
    assert t.missing_transcript_grace_ms == 1_800_000 and t.tmp_stale_ms == 3_600_000
    assert t.tokens["groups"] == (10_000, 150_000) and t.tokens["dms"] == (1, 2)
    assert (t.storm_window_ms, t.storm_warning, t.storm_critical_window_ms, t.storm_critical) == (
        1_800_000,
        5,
        7_200_000,
        9,
    )
    assert t.storm_exclude_kinds == ()


@pytest.mark.parametrize(
    "section",
    [
        {"nope": 1},
        {"store_max_mb": "big"},
        {"store_max_mb": True},
        {"max_entries": 1.5},
        {"tmp_stale_after": "5m"},  # ambiguous unit
        {"tokens": {"bots": {"warning": 1}}},
        {"tokens": {"main": 5}},
        {"spawn_storm": {"warning": 0}},
        {"spawn_storm": {"burst": 1}},
    ],
)
def test_bad_sections_are_config_errors(section: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as exc:
        resolve_thresholds(section, config_path="/etc/sessionctl.toml")
    assert "/etc/sessionctl.toml" in exc.value.message


def test_bad_flags_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        resolve_thresholds({}, transcript_max_kb=-1)
    with pytest.raises(UsageError):
        resolve_thresholds({}, max_entries=0)


@pytest.mark.parametrize(
    ("key", "typ"),
    [
        ("agent:main:main", "main"),
        ("global", "main"),
        ("agent:main:telegram:direct:1", "dms"),
        ("agent:main:direct:anya", "dms"),
        ("agent:main:telegram:group:-1", "groups"),
        ("agent:main:discord:channel:1", "groups"),
        ("agent:main:discord:channel:1:thread:2", "groups"),
        ("agent:main:telegram:group:-1:topic:3", "groups"),
        ("telegram:group:-1", "groups"),  # legacy un-prefixed group key
        ("agent:main:subagent:1", None),
        ("agent:main:cron:job", None),
        ("agent:main:explicit:x", None),
    ],
)
def test_token_type(key: str, typ: str | None) -> None:
    assert token_type(parse_key(key)) == typ
