from __future__ import annotations

from rich.console import Console

from sessionctl.result import Result
from sessionctl.views.undo import render_run
from sessionctl.views.undo import summary as summary


def render(result: Result, console: Console) -> None:
    for a in result.data.get("actions") or []:
        diff = a.get("diff")
        if diff:
            console.print(
                f"{a.get('agent')}: {a['path']}: {diff['entries_now']} entries now → {diff['entries_after']} "
                f"({diff['come_back']} come back, {diff['go_away']} go away, {diff['change']} change)",
                markup=False,
                soft_wrap=True,
                highlight=False,
            )
    render_run(result, console, "restore")
