"""Durations (systemd style), ISO timestamps, OpenClaw archive stamps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionctl.errors import UsageError
from sessionctl.timeutil import (
    archive_stamp,
    format_duration,
    iso_ms,
    now_ms,
    parse_archive_stamp,
    parse_duration,
    parse_iso_ms,
    parse_now,
    run_stamp,
)

S, MIN, H, D = 1000, 60_000, 3_600_000, 86_400_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("30s", 30 * S),
        ("15min", 15 * MIN),
        ("120h", 120 * H),
        ("5d", 5 * D),
        ("1w", 7 * D),
        ("2d12h", 2 * D + 12 * H),
        ("1h 30min", H + 30 * MIN),
        ("  45 min  ", 45 * MIN),
        ("1.5h", 90 * MIN),
        ("500ms", 500),
        ("10seconds", 10 * S),
        ("3 days", 3 * D),
        ("2D", 2 * D),
        ("0s", 0),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty duration"),
        ("   ", "empty duration"),
        ("30", "has no unit"),
        ("2.5", "has no unit"),
        ("15m", "'m' is ambiguous"),
        ("15M", "'m' is ambiguous"),
        ("1h15m", "'m' is ambiguous"),
        ("5x", "unknown unit 'x'"),
        ("5 fortnights", "unknown unit 'fortnights'"),
        ("abc", "cannot read duration 'abc'"),
        ("-5s", "cannot read duration"),
        ("5s and more", "unknown unit"),
        ("5s!", "cannot read duration"),
        ("9" * 400 + "w", "too large"),
    ],
)
def test_parse_duration_rejects(text: str, needle: str) -> None:
    with pytest.raises(UsageError) as ei:
        parse_duration(text)
    assert needle in ei.value.message
    assert "15min" in ei.value.message or "min" in ei.value.message  # says what to write instead


@given(st.text(max_size=40))
def test_parse_duration_only_ever_raises_usage_errors(text: str) -> None:
    try:
        ms = parse_duration(text)
    except UsageError:
        return
    assert isinstance(ms, int) and ms >= 0


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0s"),
        (999, "0s"),
        (42 * S, "42s"),
        (90 * S, "1min30s"),
        (15 * MIN, "15min"),
        (6 * D + 3 * H + 5 * MIN, "6d3h"),
        (2 * D + 5 * S, "2d5s"),
        (-90 * S, "-1min30s"),
    ],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


@given(st.integers(min_value=0, max_value=10**12))
def test_format_duration_reads_back_to_within_its_precision(ms: int) -> None:
    text = format_duration(ms)
    back = parse_duration(text)
    assert back <= ms
    assert back == ms - ms % 1000 or ms >= 60_000  # two units shown: drop of a smaller unit


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-04-29T10:11:12.345Z", 1777457472345),
        ("2026-04-29T10:11:12Z", 1777457472000),
        ("2026-04-29T10:11:12.345+00:00", 1777457472345),
        ("2026-04-29T12:11:12.345+02:00", 1777457472345),
        ("2026-04-29T10:11:12.345", 1777457472345),  # naive: UTC
        ("2026-04-29", 1777420800000),
        ("1970-01-01T00:00:00.000Z", 0),
    ],
)
def test_parse_iso_ms(text: str, ms: int) -> None:
    assert parse_iso_ms(text) == ms


@pytest.mark.parametrize(
    "text", ["", "garbage", "2026-13-01T00:00:00Z", "2026-04-29T25:00:00Z", "x" * 100, "0000-01-01"]
)
def test_parse_iso_ms_rejects(text: str) -> None:
    assert parse_iso_ms(text) is None


def test_parse_iso_ms_non_string() -> None:
    assert parse_iso_ms(12345) is None  # type: ignore[arg-type]


@given(st.text(max_size=70))
def test_parse_iso_ms_never_raises(text: str) -> None:
    assert parse_iso_ms(text) is None or isinstance(parse_iso_ms(text), int)


@given(st.integers(min_value=0, max_value=253402300799999))
def test_iso_and_archive_stamps_round_trip(ms: int) -> None:
    assert parse_iso_ms(iso_ms(ms)) == ms
    stamp = archive_stamp(ms)
    assert ":" not in stamp
    assert parse_archive_stamp(stamp) == ms


def test_stamp_shapes() -> None:
    assert iso_ms(1777457472345) == "2026-04-29T10:11:12.345Z"
    assert iso_ms(1777457472005) == "2026-04-29T10:11:12.005Z"
    assert archive_stamp(1777457472345) == "2026-04-29T10-11-12.345Z"
    assert run_stamp(1777457472345) == "20260429T101112.345Z"
    assert parse_archive_stamp("2026-04-29T10-11-12Z") == 1777457472000
    assert parse_archive_stamp("2026-04-29T10:11:12.345Z") is None  # colons: not an archive stamp
    assert parse_archive_stamp("nope") is None


def test_parse_now() -> None:
    assert parse_now("2026-05-01T12:00:00Z") == 1777636800000
    before = now_ms()
    got = parse_now(None)
    assert before <= got <= now_ms()
    with pytest.raises(UsageError, match="--now 'tomorrow' is not an ISO-8601 timestamp"):
        parse_now("tomorrow")
