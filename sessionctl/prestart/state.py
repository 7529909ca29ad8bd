"""What one prestart run carries from step to step (PrestartState), its options, and the
small helpers every step uses."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sessionctl.context import ProgressFn, RunContext
from sessionctl.policy.model import Policy, PolicyOverrides
from sessionctl.prestart.deadline import Deadline
from sessionctl.prestart.estimate import Costs
from sessionctl.prestart.report import PrestartReport
from sessionctl.result import LogLevel

LogFn = Callable[[LogLevel, str], None]
_LEVELS: dict[str, LogLevel] = {lv: lv for lv in ("error", "warning", "notice", "info", "debug")}


@dataclass
class PrestartOptions:
    state_dir: str | None = None
    agents: list[str] | None = None
    now: str | None = None
    config: str | None = None
    overrides: PolicyOverrides | None = None  # flags override the config file
    max_resume: int | None = None  # --max-resume (else [prestart] max-resume, else 4)
    resume_within: str | None = None  # --resume-within (else [prestart] resume-within, else 1h)
    argv: list[str] | None = None
    progress: ProgressFn | None = None  # the command layer's progress hook


@dataclass(eq=False)
class PrestartState:
    """One prestart run once its state dir, configs and policy are read (setup): what the
    plan and each step read and leave for the next."""

    opts: PrestartOptions
    deadline: Deadline
    log: LogFn
    report: PrestartReport
    ctx: RunContext
    policy: Policy | None  # None: no usable gc policy (policy_error says why)
    policy_error: str | None
    costs: Costs = field(default_factory=Costs)
    stopped: str | None = None  # why every later step is skipped
    no_change: str | None = None  # why mutating steps are skipped (backup failed)
    backup_run: str | None = None
    gc_ran: bool = False
    stat_before: dict[str, tuple[int, int, int] | None] = field(default_factory=dict)
    status_before: dict[str, str] = field(default_factory=dict)
    no_store_before: set[str] = field(default_factory=set)  # SQLite-era agents: no sessions.json may appear

    def relay(self, level: str, msg: str) -> None:
        """A log line of a command prestart runs (its level as that command wrote it)."""
        self.log(_LEVELS.get(level, "info"), msg)

    def lock_timeout_s(self) -> float:
        return max(0.5, min(5.0, self.deadline.remaining_ms() / 4000))


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def file_size(path: Path) -> int:
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return 0
