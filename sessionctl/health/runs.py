"""health, runs: the size of this state dir's run folders (runs.large)."""

from __future__ import annotations

from sessionctl.context import RunContext
from sessionctl.errors import SessionctlError
from sessionctl.findings import Finding
from sessionctl.runs import RUNS_WARN_BYTES, runs_report


def runs_checks(ctx: RunContext) -> list[Finding]:
    """`runs.large`: this state dir's run folders (`<state>/sessionctl/runs`) hold more
    than runs.RUNS_WARN_BYTES. Each gc, backup, repair or prestart step keeps one; the
    retention options (`--keep-runs`, `--keep-within`) bound them."""

    try:
        use = runs_report(ctx.state_dir)
    except (OSError, SessionctlError):
        return []  # an unusable sessionctl folder is reported by the commands that need it
    if use["bytes"] <= RUNS_WARN_BYTES:
        return []
    gib = use["bytes"] / (1 << 30)
    largest = use["largest"] or {}
    return [
        Finding(
            "runs.large",
            "warning",
            None,
            f"{use['runs']} run folders hold {gib:.1f} GiB (more than {RUNS_WARN_BYTES >> 30} GiB); "
            f"the largest is {largest.get('run_id')}, the oldest {use['oldest']}",
            path=use["path"],
            fix="sessionctl backup --keep-runs 10",
            data=use,
        )
    ]
