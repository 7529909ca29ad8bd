"""The progress display of long steps: rich's progress bar on stderr, only when stderr is
a terminal, never with --json or --quiet, and only once a step has run for a second (a
quick run shows nothing). The core never prints: it calls the hook the command layer
put on the RunContext (`RunContext.tick`)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

from sessionctl.context import ProgressFn

SHOW_AFTER_S = 1.0


@contextlib.contextmanager
def stderr_progress(
    command: str, *, enabled: bool, show_after_s: float | None = None
) -> Iterator[ProgressFn | None]:
    """Yield the hook for RunContext.progress (None when nothing may be shown). The bar
    appears once the step has run `show_after_s` (default SHOW_AFTER_S; 0 for a step known
    to be long)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    started = time.monotonic()
    state: dict[str, Any] = {"bar": None, "task": None}

    def hook(what: str, done: int, total: int) -> None:
        bar = state["bar"]
        if bar is None:
            after = SHOW_AFTER_S if show_after_s is None else show_after_s
            if time.monotonic() - started < after:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from sessionctl.views.fmt import safe  # with rich, once a bar shows: not at start-up

            state["safe"] = safe
            bar = Progress(
                TextColumn(f"{command} {{task.description}}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("", total=max(total, 1))
        bar.update(state["task"], completed=done, total=max(total, 1), description=state["safe"](what))
        bar.refresh()  # ticks are per agent or step: few, and each may be followed by a long wait

    try:
        yield hook
    finally:
        if state["bar"] is not None:
            state["bar"].stop()
