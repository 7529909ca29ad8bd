"""prestart: the one command for a gateway unit's `ExecStartPre=`.

Order: refuse if a gateway runs for this state dir (whatever its era) → take sessionctl's
private lock → plan (read every store once, estimate each step) → backup (a run) → safe
repairs → gc with the configured policy → expired thread bindings → run retention →
health summary → check that every store OpenClaw reads is left valid.

The deadline is checked between steps — a step whose estimate (Costs: measured
throughput times the load) does not fit in what is left is skipped together with every
later step — and at the safe points of a running step (RunContext.checkpoint): one that
overran its estimate until only the reserve is left stops there, with nothing half-done
(`stopped`). The report says what was skipped or stopped and why.

Exit policy (for units): 0 whenever every store OpenClaw reads is left valid — warnings,
skipped steps, a refused run (gateway running) and failed steps included — and 65 (DATA)
only when a store is left that OpenClaw would read as empty and overwrite. See
docs/operations.md.

The core never prints: progress lines go through the `log` callback (the command puts
them into Result.logs).

Modules: run (the driver: setup, run_step, run_prestart) over steps (one function per
step, and validate) over plan (read, count, measure) over state (PrestartState: what a
run carries from step to step) over report (the JSON of docs/prestart.md), estimate
(Costs and each step's cost model) and deadline (Deadline, process_age_ms).
"""

from sessionctl.prestart.deadline import DEFAULT_DEADLINE_MS, Deadline, command_age_ms, process_age_ms
from sessionctl.prestart.report import PrestartReport, StepReport
from sessionctl.prestart.run import run_prestart
from sessionctl.prestart.state import PrestartOptions

__all__ = [
    "DEFAULT_DEADLINE_MS",
    "Deadline",
    "PrestartOptions",
    "PrestartReport",
    "StepReport",
    "command_age_ms",
    "process_age_ms",
    "run_prestart",
]
