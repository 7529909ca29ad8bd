"""Human view of `list`: a table (one session per line, never a split key), or TSV.

Written straight to stdout, without rich: 10,000 rows must cost about what the JSON
envelope costs (benchmarks/RESULTS.md)."""

from __future__ import annotations

import sys

from rich.console import Console

from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.render import terminal_width
from sessionctl.result import Result
from sessionctl.views.fmt import Column, bytes_h, dur_h, table_lines

# key first in priority: it is never cut or dropped; the rest go in `drop` order
COLUMNS = (
    Column("agent", drop=7),
    Column("key"),
    Column("kind", drop=6),
    Column("channel/peer", drop=1, shrink=12),
    Column("age", right=True, drop=4),
    Column("idle", right=True, drop=5),
    Column("transcript", right=True, drop=3),
    Column("tokens", right=True, drop=2),
    Column("flags", drop=8, shrink=8),
)
TSV_FIELDS = (
    "agent",
    "key",
    "kind",
    "channel",
    "account",
    "peer",
    "thread",
    "session_id",
    "age_ms",
    "idle_ms",
    "transcript_bytes",
    "tokens",
    "flags",
    "transcript",
)


def _cell(v: JsonValue) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)


def render(result: Result, console: Console) -> None:
    rows: list[JsonObj] = result.data.get("sessions", [])
    if result.view.get("format") == "tsv":
        out = ["\t".join(TSV_FIELDS)]
        out.extend("\t".join(_cell(r.get(f)) for f in TSV_FIELDS) for r in rows)
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()
        return
    cells = [
        (
            r["agent"],
            r["key"],
            r["kind"],
            "/".join(x for x in (r.get("channel"), r.get("peer")) if x) or "-",
            dur_h(r.get("age_ms")),
            dur_h(r.get("idle_ms")),
            bytes_h(r.get("transcript_bytes")),
            str(r["tokens"]) if r.get("tokens") is not None else "-",
            ",".join(r.get("flags", [])) or "-",
        )
        for r in rows
    ]
    width = terminal_width(console)
    lines = table_lines(COLUMNS, cells, width)
    if width is not None:  # on a terminal, the count under the table; a pipe gets records only
        agents = len({r["agent"] for r in rows})
        lines.append(f"{len(rows)} sessions in {agents} agent(s)")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def summary(result: Result) -> str:
    rows = result.data.get("sessions", [])
    agents = len({r["agent"] for r in rows})
    text = f"{len(rows)} sessions in {agents} agent(s)"
    bad = result.data.get("unreadable_stores") or []
    if bad:
        text += f"; {len(bad)} store(s) could not be listed"
    return text
