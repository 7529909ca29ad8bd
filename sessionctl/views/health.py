"""Human view of `health`: per-agent summary table, findings grouped by severity.

Colour only on a terminal (rich honours NO_COLOR, TERM=dumb and non-TTY output). Long
runs of one check are folded unless --verbose. `--format prometheus` prints the metrics
as they are (or nothing, when they were written to --output).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from sessionctl.jsonjs import JsonObj
from sessionctl.render import terminal_width
from sessionctl.result import Result
from sessionctl.views.fmt import SEVERITY_STYLE, Column, bytes_h, dur_h, table_lines

if TYPE_CHECKING:
    from rich.console import Console

    from sessionctl.context import RunContext

FOLD_AFTER = 5  # per check and severity, without --verbose


def render(result: Result, console: Console) -> None:
    fmt = result.view.get("format", "human")
    if fmt == "prometheus":
        text = result.view.get("metrics")
        if text is not None:
            sys.stdout.write(text)
            sys.stdout.flush()
        return
    render_human(result.data, console, verbose=bool(result.view.get("verbose")), status=result.status)


AGENT_COLUMNS = (
    Column("agent"),
    Column("layout", drop=3),
    Column("entries", right=True),
    Column("store", right=True, drop=4),
    Column("transcripts", drop=2),
    Column("archives", drop=1),
    Column("oldest idle", right=True, drop=5),
)


def _agents_lines(agents: list[JsonObj], width: int | None) -> list[str]:
    cells = []
    for a in agents:
        layout = a["layout"]
        if a.get("store_status") not in ("ok", "missing", None):
            layout += f" ({a['store_status']})"
        cells.append(
            (
                a["agent"],
                layout,
                str(a.get("entries", 0)),
                bytes_h(a.get("store_bytes")),
                f"{a.get('transcripts', 0)} / {bytes_h(a.get('transcript_bytes'))}",
                f"{a.get('archives', 0)} / {bytes_h(a.get('archive_bytes'))}",
                dur_h(a.get("oldest_idle_ms")),
            )
        )
    return table_lines(AGENT_COLUMNS, cells, width)


def _kinds_lines(agents: list[JsonObj]) -> list[str]:
    out = []
    for a in agents:
        kinds = sorted(a.get("entries_by_kind", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        if kinds:
            out.append(f"  {a['agent']}: " + ", ".join(f"{k} {v}" for k, v in kinds))
    return out


def render_human(data: JsonObj, console: Console, *, verbose: bool, status: str) -> None:
    from rich.markup import escape

    agents = data.get("agents", [])
    console.print("agents:", markup=False)
    for line in _agents_lines(agents, terminal_width(console)):
        console.out("  " + line, highlight=False)
    kinds = _kinds_lines(agents)
    if kinds:
        console.print("entries by kind:", markup=False)
        for line in kinds:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    findings = data.get("findings", [])
    for sev in ("critical", "warning", "info"):
        group = [f for f in findings if f["severity"] == sev]
        if not group:
            continue
        style = SEVERITY_STYLE[sev]
        console.print(f"\n[{style}]{sev.upper()} ({len(group)})[/]")
        shown_per_check: dict[str, int] = {}
        folded: dict[str, int] = {}
        for f in group:
            n = shown_per_check.get(f["check"], 0)
            if not verbose and n >= FOLD_AFTER:
                folded[f["check"]] = folded.get(f["check"], 0) + 1
                continue
            shown_per_check[f["check"]] = n + 1
            where = " ".join(x for x in (f.get("agent"), f.get("key")) if x)
            where = f" {escape(where)}" if where else ""
            line = f"  [{style}]{f['check']}[/]{where}: {escape(f['message'])}"
            console.print(line, highlight=False, soft_wrap=True)
            if f.get("path") and (verbose or not f.get("key")):
                console.print(f"      path: {f['path']}", markup=False, highlight=False, soft_wrap=True)
            if f.get("fix"):
                console.print(f"      fix:  {f['fix']}", markup=False, highlight=False, soft_wrap=True)
        for check, n in folded.items():
            console.print(f"  … and {n} more {check} (use -v to list them)", markup=False, soft_wrap=True)
    s = data.get("summary", {})
    style = {"critical": SEVERITY_STYLE["critical"], "warning": SEVERITY_STYLE["warning"]}.get(
        status, "green"
    )
    console.print(
        f"\n[{style}]status: {status.upper()}[/] — {s.get('critical', 0)} critical, "
        f"{s.get('warning', 0)} warning, {s.get('info', 0)} info" + (" (deep)" if data.get("deep") else "")
    )


def summary(result: Result) -> str:
    d = result.data
    s = d.get("summary", {})
    agents = d.get("agents", [])
    entries = sum(int(a.get("entries", 0)) for a in agents)
    return (
        f"{s.get('critical', 0)} critical, {s.get('warning', 0)} warning, {s.get('info', 0)} info; "
        f"{len(agents)} agent(s), {entries} sessions" + (" (deep)" if d.get("deep") else "")
    )


LONG_SCAN_BYTES = 20 << 20
LONG_SCAN_AGENTS = 4


def long_scan(ctx: RunContext, deep: bool) -> bool:
    """A scan known to be long (deep, many agents or big stores): its progress bar shows
    from the start instead of after the first second."""
    import contextlib
    import os

    if deep or len(ctx.discovery.stores) >= LONG_SCAN_AGENTS:
        return True
    total = 0
    for s in ctx.discovery.stores:
        with contextlib.suppress(OSError):
            total += os.stat(s.store_path, follow_symlinks=False).st_size
    return total >= LONG_SCAN_BYTES
