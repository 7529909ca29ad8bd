from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sessionctl.result import Result
from sessionctl.views.fmt import SEVERITY_STYLE, bytes_h, dur_h


def render(result: Result, console: Console) -> None:
    d = result.data
    table = Table(title="agents", header_style="bold")
    for col in ("agent", "layout", "entries", "by kind", "store", "transcripts", "archives", "oldest idle"):
        table.add_column(col, overflow="fold")
    for a in d.get("agents", []):
        kinds = ", ".join(
            f"{k} {v}" for k, v in sorted(a.get("entries_by_kind", {}).items(), key=lambda kv: -kv[1])
        )
        table.add_row(
            a["agent"],
            a["layout"],
            str(a.get("entries", 0)),
            kinds or "-",
            bytes_h(a.get("store_bytes")),
            f"{a.get('transcripts', 0)} ({bytes_h(a.get('transcript_bytes'))})",
            f"{a.get('archives', 0)} ({bytes_h(a.get('archive_bytes'))})",
            dur_h(a.get("oldest_idle_ms")),
        )
    console.print(table)
    findings = d.get("findings", [])
    verbose = bool(result.view.get("verbose"))
    for sev in ("critical", "warning", "info"):
        group = [f for f in findings if f["severity"] == sev]
        if not group:
            continue
        console.print(f"\n[{SEVERITY_STYLE[sev]}]{sev.upper()} ({len(group)})[/]")
        shown = group if verbose or sev != "info" or len(group) <= 20 else group[:20]
        for f in shown:
            where = " ".join(x for x in (f.get("agent"), f.get("key")) if x)
            console.print(
                f"  [{SEVERITY_STYLE[sev]}]{f['check']}[/] {where}: {f['message']}",
                markup=True,
                highlight=False,
            )
            if f.get("path") and verbose:
                console.print(f"      path: {f['path']}", markup=False)
            if f.get("fix"):
                console.print(f"      fix:  {f['fix']}", markup=False)
        if len(shown) < len(group):
            console.print(f"  … and {len(group) - len(shown)} more (use -v)")
    s = d.get("summary", {})
    console.print(
        f"\nstatus: {result.status.upper()} — {s.get('critical', 0)} critical, "
        f"{s.get('warning', 0)} warning, {s.get('info', 0)} info"
    )
