from __future__ import annotations

from rich.console import Console

from sessionctl.render import terminal_width
from sessionctl.result import Result
from sessionctl.views.fmt import Column, bytes_h, table_lines

COLUMNS = (
    Column("run id"),
    Column("command", drop=5),
    Column("started", drop=2),
    Column("state", drop=4),
    Column("actions", right=True, drop=3),
    Column("applied", right=True, drop=1),
    Column("bytes", right=True, drop=6),
)


def render(result: Result, console: Console) -> None:
    runs = result.data.get("runs") or []
    if not runs:
        console.print(f"no runs in {result.data.get('runs_dir')}", markup=False)
        return
    total = bytes_h(result.data.get("total_bytes"))
    console.print(f"{len(runs)} runs in {result.data.get('runs_dir')}, {total} in all", markup=False)
    cells = [
        (
            r["run_id"],
            r.get("command") or "-",
            r.get("started_at") or "-",
            r.get("state") or "-",
            str(r.get("actions", 0)),
            str(r.get("applied", 0)),
            bytes_h(r.get("bytes")),
        )
        for r in runs
    ]
    for line in table_lines(COLUMNS, cells, terminal_width(console)):
        console.out(line, highlight=False)


def summary(result: Result) -> str:
    runs = result.data.get("runs") or []
    text = f"{len(runs)} run(s) in {result.data.get('runs_dir')} ({bytes_h(result.data.get('total_bytes'))})"
    if runs:
        r = runs[-1]
        text += f"; newest {r['run_id']} ({r.get('command') or '?'}, {r.get('state') or '?'})"
    return text
