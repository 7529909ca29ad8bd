"""Small formatting helpers shared by the human views: sizes, durations, terminal-safe
text, and the one table layout every human table uses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sessionctl.timeutil import format_duration
from sessionctl.units import bytes_h as bytes_h  # the one size format: the core words findings with it too


def dur_h(ms: int | None) -> str:
    return "-" if ms is None else format_duration(ms)


SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}

# ------------------------------------------------------------ terminal-safe text

# What must never reach a terminal or a log line raw from a store or a file: C0 controls
# (newline, carriage return, tab, ESC, ...), DEL, C1 controls (0x9b is a one-byte CSI),
# the Unicode line/paragraph separators, bidirectional overrides and isolates (text that
# reads differently than it is), and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    short = _SHORT.get(ch)
    if short is not None:
        return short
    c = ord(ch)
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def safe(s: str) -> str:
    """`s` as one terminal-safe line: every control character, ESC sequence, newline,
    line separator and bidi override is shown as an escape (`\\n`, `\\x1b`, `\\u202e`), so a
    session key cannot move the cursor, recolour the screen or forge a log line. Printable
    text (any script) is unchanged."""
    if _UNSAFE.search(s) is None:
        return s
    return _UNSAFE.sub(_escape, s)


# ------------------------------------------------------------ tables


@dataclass(frozen=True)
class Column:
    """A table column. `keep`: never dropped (a key, a run id); `drop`: the order in which
    columns go when the terminal is too narrow (lowest first; 0 = never); `shrink`: the
    width it may be cut to (with "…") before it is dropped (0 = never cut). A kept column
    is never cut: a key, a path or a run id is always printed whole."""

    name: str
    right: bool = False
    drop: int = 0
    shrink: int = 0


def table_lines(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None) -> list[str]:
    """A header line and one line per row, columns two spaces apart.

    `width` None (stdout is not a terminal): every column at full width, whatever its
    length, so each record is one line for grep, cut and awk (as `ps` and `kubectl` print
    when piped). A terminal width: lesser columns shrink, then drop, in their order, until
    the line fits; columns that may not shrink are never cut, so a line holding a long key
    is still whole (the terminal wraps it, never sessionctl). Cells must be terminal-safe
    (`safe`) already."""
    n = len(columns)
    widths = [len(c.name) for c in columns]
    for row in rows:
        for i in range(n):
            w = len(row[i])
            if w > widths[i]:
                widths[i] = w
    shown = list(range(n))
    cut = list(widths)
    if width is not None:

        def total() -> int:
            return sum(cut[i] for i in shown) + 2 * (len(shown) - 1)

        for i in sorted((i for i in range(n) if columns[i].shrink), key=lambda i: columns[i].drop):
            if total() <= width:
                break
            cut[i] = max(columns[i].shrink, len(columns[i].name), cut[i] - (total() - width))
        for i in sorted((i for i in range(n) if columns[i].drop), key=lambda i: columns[i].drop):
            if total() <= width:
                break
            shown.remove(i)
    last = shown[-1] if shown else -1

    def fmt(cells: Sequence[str]) -> str:
        parts = []
        for i in shown:
            cell, w = cells[i], cut[i]
            if len(cell) > w:
                cell = cell[: max(1, w - 1)] + "…"
            if columns[i].right:
                parts.append(cell.rjust(w))
            elif i == last:
                parts.append(cell)
            else:
                parts.append(cell.ljust(w))
        return "  ".join(parts).rstrip()

    return [fmt([c.name for c in columns]), *(fmt(r) for r in rows)]
