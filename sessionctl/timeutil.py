"""Time helpers: durations (a number with a unit, docs/gc.md#durations), ISO timestamps,
OpenClaw archive stamps.

All internal times are epoch milliseconds (int), like the store itself.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from sessionctl.errors import UsageError

_UNITS_MS: dict[str, int] = {
    "ms": 1,
    "s": 1000,
    "sec": 1000,
    "second": 1000,
    "seconds": 1000,
    "min": 60_000,
    "minute": 60_000,
    "minutes": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
    "hour": 3_600_000,
    "hours": 3_600_000,
    "d": 86_400_000,
    "day": 86_400_000,
    "days": 86_400_000,
    "w": 604_800_000,
    "week": 604_800_000,
    "weeks": 604_800_000,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]+)")
_DURATION_HELP = "write a number with a unit: 30s, 15min, 120h, 5d, 1w, or a sum like 2d12h"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_MAX_DURATION_MS = 100 * 365 * 86_400_000  # a century: anything longer is a typo


def parse_duration(text: str) -> int:
    """Parse a duration into milliseconds (not systemd.time: see docs/gc.md#durations).

    Accepts `30s`, `15min`, `120h`, `5d`, `1w` and sums like `2d12h` or `1h 30min`.
    Rejects a bare number (ambiguous unit) and a bare `m`/`M` (minutes or months?).
    """
    s = text.strip()
    if not s:
        raise UsageError(f"empty duration: {_DURATION_HELP}")
    if re.fullmatch(r"\d+(\.\d+)?", s):
        raise UsageError(f"duration {text!r} has no unit: {_DURATION_HELP}")
    pos = 0
    total = 0.0
    compact = s.replace(" ", "")
    for m in _PART.finditer(compact):
        if m.start() != pos:
            break
        unit = m.group(2)
        if unit in ("m", "M"):
            raise UsageError(f"duration {text!r}: 'm' is ambiguous; write 'min' for minutes (e.g. 15min)")
        factor = _UNITS_MS.get(unit.lower())
        if factor is None:
            raise UsageError(f"duration {text!r}: unknown unit {unit!r}; {_DURATION_HELP}")
        total += float(m.group(1)) * factor
        pos = m.end()
    if pos != len(compact) or pos == 0:
        raise UsageError(f"cannot read duration {text!r}: {_DURATION_HELP}")
    if not total <= _MAX_DURATION_MS:
        raise UsageError(f"duration {text!r} is too large (more than 100 years): {_DURATION_HELP}")
    return int(total)


def format_duration(ms: int | float) -> str:
    """Render milliseconds compactly, most significant two units: `6d3h`, `15min`, `42s`."""
    neg = ms < 0
    rem = int(abs(ms)) // 1000
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if rem >= size:
            parts.append(f"{rem // size}{unit}")
            rem %= size
        if len(parts) == 2:
            break
    out = "".join(parts) or "0s"
    return f"-{out}" if neg else out


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_iso_ms(text: str) -> int | None:
    """Parse an ISO-8601 timestamp to epoch ms; naive times are UTC. None if unparseable."""
    if not isinstance(text, str) or not text or len(text) > 64:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text else None
    except ValueError:
        dt = None
    if dt is None:
        try:
            from dateutil.parser import isoparse

            dt = isoparse(text)
        except (ValueError, OverflowError, TypeError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        # exact integer arithmetic: float seconds * 1000 turns .497 into 496.999… → 496
        return (dt - _EPOCH) // _ONE_MS
    except (OverflowError, ValueError):
        return None


def parse_now(text: str | None) -> int:
    """The run's clock: `--now ISO-8601` or the real time."""
    if text is None:
        return now_ms()
    ms = parse_iso_ms(text)
    if ms is None:
        raise UsageError(f"--now {text!r} is not an ISO-8601 timestamp (e.g. 2026-05-01T12:00:00Z)")
    return ms


def iso_ms(ms: int) -> str:
    """Epoch ms → `2026-04-29T10:11:12.345Z` (what OpenClaw writes)."""
    dt = _EPOCH + ms * _ONE_MS
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def archive_stamp(ms: int) -> str:
    """OpenClaw archive timestamp: ISO with ms where every ':' is '-'."""
    return iso_ms(ms).replace(":", "-")


_ARCHIVE_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})(?:\.(\d{1,3}))?Z$")


def parse_archive_stamp(stamp: str) -> int | None:
    """Inverse of archive_stamp(); None when the stamp is not in OpenClaw's shape."""
    m = _ARCHIVE_TS.match(stamp)
    if not m:
        return None
    frac = (m.group(5) or "0").ljust(3, "0")
    return parse_iso_ms(f"{m.group(1)}T{m.group(2)}:{m.group(3)}:{m.group(4)}.{frac}Z")


def run_stamp(ms: int) -> str:
    """Sortable UTC stamp without colons for run ids: 20260429T101112.345Z."""
    dt = _EPOCH + ms * _ONE_MS
    return dt.strftime("%Y%m%dT%H%M%S.") + f"{ms % 1000:03d}Z"
