from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sessionctl.result import Result
from sessionctl.views.fmt import bytes_h, dur_h


def render(result: Result, console: Console) -> None:
    rows = result.data.get("sessions", [])
    table = Table(title=f"{len(rows)} sessions", show_lines=False, header_style="bold")
    for col in ("agent", "key", "kind", "channel/peer", "age", "idle", "transcript", "tokens", "flags"):
        table.add_column(
            col,
            overflow="fold",
            justify="right" if col in ("age", "idle", "transcript", "tokens") else "left",
        )
    for r in rows:
        peer = "/".join(x for x in (r.get("channel"), r.get("peer")) if x) or "-"
        table.add_row(  # store content as Text: a key like 'x:[/]' is not markup
            Text(r["agent"]),
            Text(r["key"]),
            r["kind"],
            Text(peer),
            dur_h(r.get("age_ms")),
            dur_h(r.get("idle_ms")),
            bytes_h(r.get("transcript_bytes")),
            str(r["tokens"]) if r.get("tokens") is not None else "-",
            ",".join(r.get("flags", [])),
        )
    console.print(table)
