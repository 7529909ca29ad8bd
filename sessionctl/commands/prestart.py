from __future__ import annotations

from typing import Annotated

import typer

from sessionctl.commands.common import (
    KeepRunsOpt,
    KeepWithinOpt,
    MaxResumeOpt,
    MetricsOpt,
    PrestartFailedIdleOpt,
    PrestartIdleOpt,
    PrestartKindOpt,
    PrestartMaxAgeOpt,
    PrestartMaxEntriesOpt,
    PrestartProtectOpt,
    ResumeWithinOpt,
    ScopeOpts,
    check_metrics_path,
    option_groups,
    parse_duration_opt,
    run_body,
)


def register(app: typer.Typer) -> None:
    @app.command("prestart")
    @option_groups
    def prestart_cmd(
        *,
        deadline: Annotated[
            str,
            typer.Option(
                "--deadline",
                metavar="DURATION",
                help="Time budget, a number with a unit (30s, 2min). Steps that do not fit are skipped, "
                "never interrupted. Keep it well under the unit's TimeoutStartSec.",
            ),
        ] = "30s",
        max_age: PrestartMaxAgeOpt = None,
        idle: PrestartIdleOpt = None,
        max_entries: PrestartMaxEntriesOpt = None,
        kind: PrestartKindOpt = None,
        protect: PrestartProtectOpt = None,
        failed_idle: PrestartFailedIdleOpt = None,
        max_resume: MaxResumeOpt = None,
        resume_within: ResumeWithinOpt = None,
        keep_runs: KeepRunsOpt = None,
        keep_within: KeepWithinOpt = None,
        metrics: MetricsOpt = None,
        scope: ScopeOpts,
    ) -> None:
        """Before the gateway starts (ExecStartPre=): backup, safe repairs, gc, expired
        thread bindings, health summary. Does nothing while a gateway runs. Exit 0 when
        every store is left valid, 65 when a store is left that OpenClaw would wipe."""

        def body() -> object:
            import sys

            from sessionctl.errors import UsageError
            from sessionctl.policy import PolicyOverrides
            from sessionctl.prestart import Deadline, PrestartOptions, process_age_ms, run_prestart
            from sessionctl.result import Result
            from sessionctl.timeutil import iso_ms

            if metrics is not None:
                check_metrics_path(metrics, scope.state_dir)  # before anything changes
            budget = parse_duration_opt("--deadline", deadline)
            if budget <= 0:
                raise UsageError(f"--deadline {deadline!r} must be longer than zero")
            dl = Deadline(budget, already_ms=process_age_ms())
            res = Result("prestart")
            overrides = PolicyOverrides(
                max_age=max_age,
                idle=idle,
                failed_idle=failed_idle,
                max_entries=max_entries,
                kinds=tuple(kind or ()),
                protect=tuple(protect or ()),
                keep_runs=keep_runs,
                keep_within=keep_within,
            )
            opts = PrestartOptions(
                state_dir=scope.state_dir,
                agents=scope.agent,
                now=scope.now,
                config=scope.config,
                overrides=overrides,
                max_resume=max_resume,
                resume_within=resume_within,
                argv=list(sys.argv[1:]),
            )
            from sessionctl.views.progress import stderr_progress

            with stderr_progress("prestart", enabled=scope.progress) as hook:
                opts.progress = hook
                rep = run_prestart(opts, dl, res.log)
            res.state_dir = rep.state_dir
            res.now = iso_ms(rep.now_ms)
            res.status = rep.status
            res.exit_code = rep.exit_code
            res.data = rep.to_json()
            res.errors = rep.errors
            return res

        run_body("prestart", scope, body, metrics=metrics, state_dir=scope.state_dir)
