from __future__ import annotations

from collections import Counter

from rich.console import Console

from sessionctl.result import Result
from sessionctl.views.fmt import bytes_h


def render(result: Result, console: Console) -> None:
    d = result.data
    b = d.get("backup") or {}
    files = b.get("files") or []
    kinds = Counter(f.get("kind", "file") for f in files)
    what = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(kinds.items())) or "no files"
    total = sum(int(f.get("size") or 0) for f in files)
    console.print(f"backup {d.get('run_id')}: {what} ({bytes_h(total)})", markup=False, soft_wrap=True)
    console.print(f"in {b.get('path')}", markup=False, soft_wrap=True)
    if d.get("pruned_runs"):
        console.print(f"pruned {len(d['pruned_runs'])} old run folder(s)", markup=False, soft_wrap=True)


def summary(result: Result) -> str:
    d = result.data
    s = d.get("summary") or {}
    text = f"{s.get('files', 0)} file(s), {bytes_h(s.get('bytes'))}; run {d.get('run_id')}"
    if d.get("pruned_runs"):
        text += f"; pruned {len(d['pruned_runs'])} old run folder(s)"
    return text
