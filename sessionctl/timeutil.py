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


_INVOCATION_MONO: float | None = None  # time.monotonic() when cli.main() was entered


def mark_invocation() -> None:
    """Called by cli.main() on entry: when this command's invocation began (for a
    command run in-process, e.g. by a test or an embedding program, the process is older)."""
    global _INVOCATION_MONO
    _INVOCATION_MONO = time.monotonic()


def invocation_mark() -> float | None:
    """Which call of cli.main() is running: a value of its own for each call of one
    process (None outside a CLI call). Runs use it to tell this call's runs from those of
    an earlier call in the same process (runs.prune_runs)."""
    return _INVOCATION_MONO


def since_invocation_s() -> float | None:
    """Seconds since cli.main() was entered; None outside a CLI call."""
    return None if _INVOCATION_MONO is None else time.monotonic() - _INVOCATION_MONO


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# JavaScript's Date: ±8.64e15 ms around the epoch (years -271821 … 275760). OpenClaw's
# timestamps are JS numbers and ISO strings from Date.toISOString(), which writes years
# outside 0000-9999 with a sign and six digits (+011476-…): Python's datetime stops at
# 9999, so both directions are computed here with plain day arithmetic.
JS_DATE_MAX_MS = 8_640_000_000_000_000
_EXTENDED_ISO = re.compile(
    r"^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$"
)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def _parse_extended(text: str) -> int | None:
    """An ISO timestamp in Date.toISOString's shapes (years of 4 digits or ±6), with a
    zone, to epoch ms — beyond Python's datetime range too. None when not that shape."""
    m = _EXTENDED_ISO.match(text)
    if m is None:
        return None
    ys, mo, d, h, mi, sec, frac, zone = m.groups()
    if ys == "-000000":
        return None  # JavaScript rejects it
    y, mo_i, d_i, h_i, mi_i = int(ys), int(mo), int(d), int(h), int(mi)
    s_i = int(sec or 0)
    if not (1 <= mo_i <= 12 and 1 <= d_i <= 31 and h_i <= 24 and mi_i <= 59 and s_i <= 59):
        return None
    ms = int((frac or "0")[:3].ljust(3, "0"))
    days = _days_from_civil(y, mo_i, d_i)
    if _civil_from_days(days) != (y, mo_i, d_i):
        return None  # 31 April and the like
    total = ((days * 24 + h_i) * 60 + mi_i) * 60_000 + s_i * 1000 + ms
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        total -= sign * (int(zone[1:3]) * 60 + int(zone[4:6])) * 60_000
    return total if abs(total) <= JS_DATE_MAX_MS else None


def parse_iso_ms(text: str) -> int | None:
    """Parse an ISO-8601 timestamp to epoch ms; naive times are UTC. None if unparseable.
    Years beyond 9999 (`+011476-…`, as JavaScript writes them) are read too."""
    if not isinstance(text, str) or not text or len(text) > 64:
        return None
    if text[0] in "+-" or text[:4] in ("0000", "9999"):
        ext = _parse_extended(text)
        if ext is not None:
            return ext
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
    """Epoch ms → `2026-04-29T10:11:12.345Z`, as JavaScript's Date.toISOString writes it
    (what OpenClaw writes): years past 9999 as `+011476-…`, before 0 as `-000001-…`.
    Beyond JavaScript's date range (±8.64e15 ms) there is no date: "Invalid Date", as
    `String(new Date(ms))` says (no OverflowError, whatever a store holds)."""
    ms = int(ms)
    if abs(ms) > JS_DATE_MAX_MS:
        return "Invalid Date"
    days, rest = divmod(ms, 86_400_000)
    y, m, d = _civil_from_days(days)
    year = f"{y:04d}" if 0 <= y <= 9999 else f"{'+' if y > 0 else '-'}{abs(y):06d}"
    hh, rest = divmod(rest, 3_600_000)
    mm, rest = divmod(rest, 60_000)
    ss, milli = divmod(rest, 1000)
    return f"{year}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{milli:03d}Z"


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


def max_in_window(times: list[int], window: int) -> tuple[int, int | None]:
    """Largest number of `times` (sorted, ms) within any `window` ms, and where that
    window starts (None when there are no times)."""
    best, start_at = 0, None
    j = 0
    for i, t in enumerate(times):
        while t - times[j] > window:
            j += 1
        if i - j + 1 > best:
            best, start_at = i - j + 1, times[j]
    return best, start_at
