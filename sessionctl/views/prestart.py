"""The human view of `sessionctl prestart`: one screen — the steps, the health summary,
whether every store is left valid, and how to undo."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from sessionctl.result import Result
from sessionctl.views.fmt import SEVERITY_STYLE

_STEP_STYLE = {
    "done": "green",
    "nothing_to_do": "dim",
    "skipped": "yellow",
    "stopped": "yellow",
    "failed": "bold red",
}


def _secs(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms}ms" if ms < 1000 else f"{ms / 1000:.1f}s"


def render(result: Result, console: Console) -> None:
    d = result.data
    where = result.state_dir or "?"
    console.print(
        f"[bold]sessionctl prestart[/] {escape(where)} — {_secs(d.get('elapsed_ms'))} of "
        f"{_secs(d.get('deadline_ms'))} deadline"
    )
    if d.get("note"):
        console.print(f"  [yellow]{escape(str(d['note']))}[/]")
    if d.get("refused"):
        for g in d["refused"].get("gateways", []):
            console.print(
                f"  gateway pid {g['pid']}: {escape(str(g.get('cmdline') or ''))}",
                highlight=False,
                soft_wrap=True,
            )
    if not d.get("note"):
        for s in d.get("steps", []):
            style = _STEP_STYLE.get(s["status"], "")
            status = s["status"].replace("_", " ")
            console.print(
                f"  {s['name']:<10} [{style}]{status:<14}[/] {_secs(s.get('elapsed_ms')):>6}  "
                f"{escape(str(s.get('reason') or ''))}",
                highlight=False,
                soft_wrap=True,
            )
    h = d.get("health")
    if h:
        sm = h.get("summary", {})
        sev = h.get("status", "ok")
        style = SEVERITY_STYLE.get(sev, "green")
        agents = ", ".join(f"{a['agent']} {a.get('entries', 0)}" for a in h.get("agents", []))
        console.print(
            f"health: [{style}]{sev.upper()}[/] — {sm.get('critical', 0)} critical, "
            f"{sm.get('warning', 0)} warning, {sm.get('info', 0)} info"
            + (f"; sessions: {escape(agents)}" if agents else ""),
            highlight=False,
            soft_wrap=True,
        )
        for f in h.get("top", []):
            who = " ".join(x for x in (f.get("agent"), f.get("key")) if x)
            fs = SEVERITY_STYLE.get(f["severity"], "")
            console.print(
                f"  [{fs}]{f['check']}[/] {escape(who)}: {escape(f['message'])}",
                highlight=False,
                soft_wrap=True,
            )
        if h.get("more"):
            console.print(f"  … and {h['more']} more: sessionctl health")
    sq = d.get("sqlite")
    if sq:
        for a in sq.get("agents", []):
            resume = a.get("resume_on_start") or []
            gc = a.get("gc") or {}
            bits = [f"{len(resume)} to resume at start ({sum(1 for r in resume if r.get('stale'))} stale)"]
            if gc.get("delete") or gc.get("archive"):
                bits.append(
                    f"gc would delete {len(gc.get('delete', []))}, archive {len(gc.get('archive', []))}"
                )
            if a.get("status") != "ok":
                bits = [f"not read: {a.get('message')}"]
            console.print(
                f"  sqlite {escape(a['agent'])}: {escape('; '.join(bits))}", highlight=False, soft_wrap=True
            )
        console.print(f"  [dim]{escape(sq.get('not_done', ''))}[/]", highlight=False, soft_wrap=True)
    stores = d.get("stores", [])
    bad = [s for s in stores if not s.get("valid")]
    if bad:
        for s in bad:
            console.print(
                f"[bold red]store left {s['status']}[/]: agent {escape(s['agent'])} {escape(s['path'])}",
                highlight=False,
            )
    elif stores:
        console.print(f"stores: [green]valid[/] ({len(stores)})")
    runs = [s["run_id"] for s in d.get("steps", []) if s.get("run_id")]
    if runs:
        console.print(
            "runs: " + ", ".join(dict.fromkeys(runs)) + " — undo with: sessionctl undo RUN", soft_wrap=True
        )


def summary(result: Result) -> str:
    d = result.data
    if d.get("note"):
        return str(d["note"])
    stores = d.get("stores", [])
    bad = [s for s in stores if not s.get("valid")]
    parts = [f"{len(bad)} store(s) left invalid" if bad else f"stores valid ({len(stores)})"]
    h = d.get("health")
    if h:
        sm = h.get("summary", {})
        parts.append(
            f"health {str(h.get('status', 'ok')).upper()} ({sm.get('critical', 0)} critical, "
            f"{sm.get('warning', 0)} warning)"
        )
    done = [s for s in d.get("steps", []) if s.get("status") == "done" and s["name"] not in ("health",)]
    if done:
        parts.append("done: " + ", ".join(f"{s['name']} ({s.get('reason') or 'ok'})" for s in done))
    if d.get("skipped"):
        parts.append("skipped: " + ", ".join(d["skipped"]))
    runs = [s["run_id"] for s in d.get("steps", []) if s.get("run_id")]
    if runs:
        parts.append("runs " + ", ".join(dict.fromkeys(runs)))
    parts.append(f"{_secs(d.get('elapsed_ms'))} of {_secs(d.get('deadline_ms'))}")
    return "; ".join(parts)
