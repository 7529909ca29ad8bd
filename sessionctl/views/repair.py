"""Human view of repair — and the plan/run view archive and dedupe share."""

from __future__ import annotations

from rich.console import Console

from sessionctl.jsonjs import JsonObj
from sessionctl.result import Result
from sessionctl.views.fmt import SEVERITY_STYLE

_STATE_STYLE = {"applied": "green", "skipped": "yellow", "planned": "cyan"}


def _line(console: Console, text: str, style: str | None = None) -> None:
    if style:
        console.print(f"[{style}]{text}[/]", highlight=False)
    else:
        console.print(text, markup=False, highlight=False)


def render_actions(result: Result, console: Console) -> None:
    d = result.data
    actions: list[JsonObj] = d.get("actions", [])
    verbose = bool(result.view.get("verbose"))
    dry = d.get("dry_run")
    if not actions:
        console.print("nothing to do", highlight=False)
    else:
        head = "would do" if dry else "done"
        console.print(f"[bold]{head} ({len(actions)})[/]", highlight=False)
        shown = actions if verbose or len(actions) <= 25 else actions[:20]
        for a in shown:
            state = "planned" if dry else a.get("state", "planned")
            mark = "" if dry else f"[{_STATE_STYLE.get(state, 'white')}]{state:8}[/] "
            agent = f"{a['agent']}: " if a.get("agent") else ""
            console.print(f"  {mark}{agent}", end="", highlight=False)
            console.print(a.get("what") or a["type"], markup=False, highlight=False)
            if verbose and a.get("reason"):
                _line(console, f"      why: {a['reason']}")
            if verbose and a.get("finding"):
                _line(console, f"      resolves: {a['finding']} (health)")
            if a.get("note") and state == "skipped":
                _line(console, f"      note: {a['note']}")
        if len(shown) < len(actions):
            console.print(f"  … and {len(actions) - len(shown)} more (use -v)", highlight=False)
    problems = d.get("problems", [])
    if problems:
        console.print(f"\n[bold]reported, not changed ({len(problems)})[/]", highlight=False)
        for f in problems:
            sev = f.get("severity", "info")
            where = " ".join(x for x in (f.get("agent"), f.get("key")) if x)
            console.print(f"  [{SEVERITY_STYLE.get(sev, 'white')}]{f['check']}[/] ", end="", highlight=False)
            console.print(f"{where}: {f['message']}", markup=False, highlight=False)
            if f.get("fix"):
                _line(console, f"      fix:  {f['fix']}")
    kept = d.get("kept", [])
    if kept and verbose:
        console.print(f"\n[bold]left alone ({len(kept)})[/]", highlight=False)
        for k in kept:
            _line(console, f"  {k['check']} {k.get('path') or ''}: {k['reason']}")
    elif kept:
        console.print(f"\nleft alone: {len(kept)} (use -v to list them)", highlight=False)


def render_footer(result: Result, console: Console) -> None:
    d = result.data
    s = d.get("summary", {})
    if d.get("dry_run"):
        tail = "dry run: nothing was changed"
        if d.get("actions"):
            tail += "; run again without --dry-run to apply"
    elif d.get("run_id"):
        tail = (
            f"run {d['run_id']}: {s.get('applied', 0)} applied, {s.get('skipped', 0)} skipped; "
            f"undo with `sessionctl undo {d['run_id']}`"
        )
    else:
        tail = "nothing was changed"
    if s.get("refused"):
        tail += f"; {s['refused']} refused (see the errors above)"
    console.print(f"\n{tail}", markup=False, highlight=False)


def render(result: Result, console: Console) -> None:
    d = result.data
    for st in d.get("stores", []):
        sal = st.get("salvage") or {}
        backups = st.get("backups") or []
        newest = backups[0] if backups else None
        console.print(f"[bold]{st['agent']}[/]: ", end="", highlight=False)
        parts = [f"sessions.json is {st['status']} ({st.get('error')})"]
        parts.append(
            f"newest backup: run {newest['run_id']} ({newest['entries']} entries)" if newest else "no backup"
        )
        exact = "" if sal.get("exact", True) else " (estimated)"
        parts.append(f"salvage: {sal.get('recovered', 0)} recoverable, {sal.get('lost', 0)} lost{exact}")
        console.print("; ".join(parts), markup=False, highlight=False)
    render_actions(result, console)
    render_footer(result, console)


def summary(result: Result) -> str:
    """The --quiet line of repair, archive and dedupe."""
    d = result.data
    s = d.get("summary", {})
    if d.get("dry_run"):
        text = f"would do {s.get('planned', 0)} action(s); dry run, nothing changed"
    elif d.get("run_id"):
        text = (
            f"{s.get('applied', 0)} applied, {s.get('skipped', 0)} skipped; "
            f"run {d['run_id']} (undo: sessionctl undo {d['run_id']})"
        )
    else:
        text = "nothing to do"
    if s.get("problems"):
        text += f"; {s['problems']} reported, not changed"
    if s.get("refused"):
        text += f"; {s['refused']} refused"
    return text
