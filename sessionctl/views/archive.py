from __future__ import annotations

from rich.console import Console

from sessionctl.result import Result
from sessionctl.views.fmt import bytes_h
from sessionctl.views.repair import render_actions, render_footer
from sessionctl.views.repair import summary as summary


def render(result: Result, console: Console) -> None:
    d = result.data
    acts = d.get("actions", [])
    total = sum(a.get("bytes") or 0 for a in acts)
    if total:
        console.print(f"{len(acts)} file(s), {bytes_h(total)}", highlight=False)
    render_actions(result, console)
    manifest = (d.get("archive") or {}).get("manifest")
    if manifest:
        console.print(f"\nmanifest: {manifest}", markup=False, highlight=False)
    render_footer(result, console)
