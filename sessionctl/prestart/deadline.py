"""prestart's deadline: a time budget on a monotonic clock that counts the command's
start-up too (process_age_ms), and how durations read in its log lines (fmt_ms)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from sessionctl.locks import proc_starttime
from sessionctl.timeutil import since_invocation_s

DEFAULT_DEADLINE_MS = 30_000


class Deadline:
    """A time budget on a monotonic clock. `fits(estimate)` keeps a reserve for the
    final validation and the report (10 % of the budget, at least 250 ms, at most 3 s)."""

    def __init__(
        self, budget_ms: int, *, clock: Callable[[], float] = time.monotonic, already_ms: int = 0
    ) -> None:
        self.budget_ms = budget_ms
        self._clock = clock
        self._start = clock() - already_ms / 1000  # time spent before (interpreter start-up)
        self.reserve_ms = min(3_000, max(250, budget_ms // 10))

    def elapsed_ms(self) -> int:
        return int((self._clock() - self._start) * 1000)

    def remaining_ms(self) -> int:
        return self.budget_ms - self.elapsed_ms()

    def fits(self, estimate_ms: int) -> bool:
        return self.remaining_ms() - self.reserve_ms >= estimate_ms


def process_age_ms() -> int:
    """How long this command has been running, start-up included: the process's age from
    /proc (0 when unknown), capped at 10 s. Lets the deadline count the interpreter's
    start-up too. A process that existed more than 10 s before cli.main() was entered
    runs the command in-process (a test, an embedding program): then only the time since
    that call counts."""
    try:
        ticks = proc_starttime(os.getpid())
        if ticks is None:
            return 0
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return 0
    return command_age_ms(age, since_invocation_s())


def command_age_ms(process_age_s: float, since_invocation: float | None) -> int:
    """process_age_ms's rule: the process's age, capped at 10 s, unless the process
    existed more than 10 s before this command's cli.main() call (in-process)."""
    age = process_age_s
    if since_invocation is not None and age - since_invocation > 10.0:
        age = since_invocation
    return int(min(max(age, 0.0), 10.0) * 1000)


def fmt_ms(ms: int | None) -> str:
    """1ms, 250ms, 4.2s, 2min05s."""
    if ms is None:
        return "?"
    ms = max(0, ms)
    if ms < 1000:
        return f"{ms}ms"
    return f"{ms / 1000:.1f}s" if ms < 60_000 else f"{ms // 60_000}min{(ms % 60_000) // 1000:02d}s"
