from __future__ import annotations

from rich.console import Console

from sessionctl.jsonjs import JsonObj
from sessionctl.result import Result

_VERB = {
    "store.insert": "put back entry",
    "store.remove": "remove entry",
    "store.set": "reset entry",
    "file.rename": "rename back",
    "file.copy_in": "copy back",
    "file.move": "move into the run folder",
    "file.restore": "restore file",
    "conflict": "cannot undo",
}


def action_line(a: JsonObj) -> str:
    t = a["type"]
    what = a.get("key") or a.get("from") or a.get("path") or "?"
    if t in ("store.insert", "store.remove", "store.set"):
        what = f"{a.get('agent') or '?'} {what}"
    if t == "file.rename":
        what = f"{a['from']} → {a['to']}"
    state = a.get("state", "planned")
    note = f" ({a['note']})" if a.get("note") else ""
    return f"  {_VERB.get(t, t)}: {what} [{state}]{note}"


SHOWN = 10  # action lines without -v: a 50,000-entry undo prints a summary, not 50,000 lines


def render_run(result: Result, console: Console, verb: str) -> None:
    """Counts per action type and state, then the first SHOWN actions; every action
    only with -v (all of them are in --json)."""
    d = result.data
    acts = d.get("actions") or []
    verbose = bool(result.view.get("verbose"))
    if acts and (len(acts) > SHOWN or not verbose):
        from collections import Counter

        counts = Counter(f"{_VERB.get(a['type'], a['type'])} [{a.get('state', 'planned')}]" for a in acts)
        for what, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            console.print(f"  {n:>7} × {what}", markup=False, highlight=False)
    shown = acts if verbose else acts[:SHOWN]
    if shown and not verbose and len(acts) > SHOWN:
        console.print(f"  the first {SHOWN} of {len(acts)}:", markup=False)
    for a in shown:
        console.print(action_line(a), markup=False, highlight=False)
    if len(acts) > len(shown):
        console.print(
            f"  … {len(acts) - len(shown)} more (every one: -v, or --json)", markup=False, soft_wrap=True
        )
    s = d.get("summary") or {}
    if d.get("dry_run"):
        console.print(
            f"dry run: would {verb} {s.get('planned', 0)} action(s) of run {d.get('target_run')}"
            + (f", {s['skipped']} cannot be" if s.get("skipped") else "")
            + "; nothing was changed",
            markup=False,
            soft_wrap=True,
        )
        return
    if not d.get("run_id"):
        console.print(f"nothing to {verb} for run {d.get('target_run')}", markup=False, soft_wrap=True)
        return
    console.print(
        f"run {d['run_id']}: {s.get('applied', 0)} applied, {s.get('skipped', 0)} skipped "
        f"({verb} of {d.get('target_run')}); undo it with: sessionctl undo {d['run_id']}",
        markup=False,
        soft_wrap=True,
    )


def render(result: Result, console: Console) -> None:
    render_run(result, console, "undo")


def summary(result: Result) -> str:
    """The --quiet line of undo and restore."""
    d = result.data
    s = d.get("summary") or {}
    verb = result.command
    if d.get("dry_run"):
        return f"would {verb} {s.get('planned', 0)} action(s) of run {d.get('target_run')}; dry run, nothing changed"
    if not d.get("run_id"):
        return f"nothing to {verb} for run {d.get('target_run')}"
    return (
        f"{s.get('applied', 0)} applied, {s.get('skipped', 0)} skipped ({verb} of {d.get('target_run')}); "
        f"run {d['run_id']} (undo: sessionctl undo {d['run_id']})"
    )
