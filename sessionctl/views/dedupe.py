from __future__ import annotations

from rich.console import Console

from sessionctl.result import Result
from sessionctl.views.repair import render_actions, render_footer
from sessionctl.views.repair import summary as summary


def render(result: Result, console: Console) -> None:
    d = result.data
    verbose = bool(result.view.get("verbose"))
    if d.get("mode") == "storms":
        for s in d.get("storms", []):
            console.print(
                f"{s['agent']}: {s['family']}: {s['sessions']} sessions from {s['first_started']} to "
                f"{s['last_started']}; keep {len(s['kept'])}, remove {s['removed']}",
                markup=False,
                highlight=False,
            )
    else:
        for p in d.get("peers", []):
            if not verbose and not p.get("decision", "").startswith("keep"):
                continue  # reported ones are listed under "reported, not changed"
            peer = p["peer"]
            who = peer.get("linked") or f"{peer.get('channel') or '?'} {peer['kind']} {peer['peer']}"
            console.print(
                f"{who}: sessions in {', '.join(p['agents'])}; {p.get('decision')}",
                markup=False,
                highlight=False,
            )
    render_actions(result, console)
    render_footer(result, console)
