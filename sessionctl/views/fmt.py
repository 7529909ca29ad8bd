"""Small formatting helpers shared by the human views."""

from __future__ import annotations

from sessionctl.timeutil import format_duration


def bytes_h(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def dur_h(ms: int | None) -> str:
    return "-" if ms is None else format_duration(ms)


SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
