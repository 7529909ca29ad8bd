from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sessionctl.result import Result
from sessionctl.views.fmt import bytes_h


def render(result: Result, console: Console) -> None:
    runs = result.data.get("runs") or []
    if not runs:
        console.print(f"no runs in {result.data.get('runs_dir')}", markup=False, soft_wrap=True)
        return
    table = Table(title=f"{len(runs)} runs in {result.data.get('runs_dir')}", header_style="bold")
    for col in ("run id", "command", "started", "state", "actions", "applied", "bytes"):
        table.add_column(
            col, overflow="fold", justify="right" if col in ("actions", "applied", "bytes") else "left"
        )
    for r in runs:
        table.add_row(
            r["run_id"],
            r.get("command") or "-",
            r.get("started_at") or "-",
            r.get("state") or "-",
            str(r.get("actions", 0)),
            str(r.get("applied", 0)),
            bytes_h(r.get("bytes")),
        )
    console.print(table)
