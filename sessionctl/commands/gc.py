from __future__ import annotations

from typing import Annotated

import typer

from sessionctl.commands.common import (
    BackupDirOpt,
    DryRunOpt,
    FailedIdleOpt,
    ForceOnlineOpt,
    IdleOpt,
    KeepRunsOpt,
    KeepWithinOpt,
    KindOpt,
    LockTimeoutOpt,
    MaxAgeOpt,
    MaxEntriesOpt,
    MaxResumeOpt,
    MetricsOpt,
    OpenClawOpt,
    ProtectOpt,
    ResumeWithinOpt,
    VerboseScopeOpts,
    add_logs,
    check_backup_dir,
    check_metrics_path,
    context_result,
    lock_timeout_s,
    note_gateways,
    option_groups,
    run_body,
    warn_discovery_skips,
    warn_skipped,
)


def register(app: typer.Typer) -> None:
    @app.command("gc")
    @option_groups
    def gc_cmd(
        *,
        max_age: MaxAgeOpt = None,
        idle: IdleOpt = None,
        failed_idle: FailedIdleOpt = None,
        max_entries: MaxEntriesOpt = None,
        kind: KindOpt = None,
        match: Annotated[
            list[str] | None,
            typer.Option(
                "--match",
                metavar="GLOB",
                help="Only keys matching this glob (repeatable), e.g. 'agent:*:explicit:tmp-*'.",
                show_default=False,
            ),
        ] = None,
        protect: ProtectOpt = None,
        allow_empty: Annotated[
            bool, typer.Option("--allow-empty", help="Allow a plan that expires every session of an agent.")
        ] = False,
        defuse_resume: Annotated[
            bool,
            typer.Option(
                "--defuse-resume",
                help="Also limit the restart resume set as prestart does: sessions the next gateway start "
                "would resume beyond --max-resume or idle over --resume-within are marked failed the way "
                "OpenClaw marks an unresumable session (journaled; undo reverses it).",
            ),
        ] = False,
        max_resume: MaxResumeOpt = None,
        resume_within: ResumeWithinOpt = None,
        dry_run: DryRunOpt = False,
        archive_retention: Annotated[
            str | None,
            typer.Option(
                "--archive-retention",
                metavar="DURATION",
                help="Also remove .deleted/.reset archives older than DURATION (by the stamp in their name); "
                "they are moved into the run folder.",
                show_default=False,
            ),
        ] = None,
        no_archive_backup: Annotated[
            bool,
            typer.Option(
                "--no-archive-backup",
                help="With --archive-retention: really delete old archives instead of moving them into the run "
                "folder (cannot be undone).",
            ),
        ] = False,
        keep_runs: KeepRunsOpt = None,
        keep_within: KeepWithinOpt = None,
        backup_dir: BackupDirOpt = None,
        lock_timeout: LockTimeoutOpt = "10s",
        force_online: ForceOnlineOpt = False,
        openclaw: OpenClawOpt = None,
        metrics: MetricsOpt = None,
        sqlite_delete: Annotated[
            bool,
            typer.Option(
                "--sqlite-delete",
                help="SQLite-era agents: delete expired ordinary sessions through OpenClaw instead of "
                "archiving them (machine-made ones are always deleted; OpenClaw archives the transcript).",
            ),
        ] = False,
        scope: VerboseScopeOpts,
    ) -> None:
        """Expire sessions by age, idle time and count; archive their transcripts; backup and journal first."""

        def body() -> object:
            import sys

            from sessionctl.errors import ExitCode, UsageError
            from sessionctl.execute import public_action
            from sessionctl.gc import run_gc
            from sessionctl.policy import PolicyOverrides, refusal_findings, resolve_defuse, resolve_policy

            if metrics is not None and dry_run:
                raise UsageError("--metrics is for real runs: a dry run's numbers would read as removals")
            if metrics is not None:
                check_metrics_path(metrics, scope.state_dir)  # before anything changes
            if no_archive_backup and archive_retention is None:
                raise UsageError("--no-archive-backup only makes sense with --archive-retention")
            if not defuse_resume and (max_resume is not None or resume_within is not None):
                raise UsageError("--max-resume and --resume-within only make sense with --defuse-resume")
            timeout_s = lock_timeout_s(lock_timeout)
            ctx = scope.context()
            overrides = PolicyOverrides(
                max_age=max_age,
                idle=idle,
                failed_idle=failed_idle,
                max_entries=max_entries,
                kinds=kind or [],
                match=match or [],
                protect=protect or [],
                allow_empty=allow_empty,
                archive_retention=archive_retention,
                no_archive_backup=no_archive_backup,
                keep_runs=keep_runs,
                keep_within=keep_within,
            )
            # a dry run changes nothing: an unreadable session.maintenance value is a warning there
            policy = resolve_policy(
                ctx, overrides, require_expiry=not defuse_resume, lenient_openclaw=dry_run
            )
            if defuse_resume:
                policy.defuse = resolve_defuse(ctx, max_resume, resume_within)
            check_backup_dir(ctx, backup_dir)
            res = context_result("gc", ctx)
            res.view["verbose"] = scope.verbose
            for note in policy.notes:
                res.log("notice", note)
            for prob in policy.problems:
                res.log("warning", f"{prob.message} (a real run refuses: exit 78)")
            from sessionctl.views.progress import stderr_progress

            with stderr_progress("gc", enabled=scope.progress) as hook:
                ctx.progress = hook
                out = run_gc(
                    ctx,
                    policy,
                    dry_run=dry_run,
                    force_online=force_online,
                    backup_dir=backup_dir,
                    lock_timeout_s=timeout_s,
                    argv=sys.argv[1:],
                    openclaw=openclaw,
                    sqlite_delete=sqlite_delete,
                )
            add_logs(res, out.logs)
            warn_discovery_skips(res, ctx)
            for sk in out.skipped_agents:
                res.log("notice", f"agent {sk['agent']}: skipped: {sk['reason']}")
            note_gateways(res, out.gateways)
            decisions = [
                d.to_json()
                for ap in out.plan.agents
                for d in ap.decisions
                if d.in_scope and (scope.verbose or d.notable)
            ]
            summary = out.summary()
            res.data = {
                "run_id": out.run_id,
                "dry_run": dry_run,
                "policy": policy.to_json(),
                "actions": [public_action(a, every_field=True) for a in out.actions],
                "sessions": decisions,
                "summary": summary,
                "backup": {"path": out.run_dir, "files": out.backups} if out.run_id else None,
                "skipped_agents": out.skipped_agents,
                "refused_agents": [ap.agent for ap in out.plan.agents if ap.refused],
                "resume": {
                    "era": out.era.to_json() if out.era is not None else None,
                    "sessions": [r.to_json() for ap in out.plan.agents for r in ap.defuse],
                }
                if policy.defuse is not None
                else None,
                "findings": [f.to_json() for f in refusal_findings(out.plan, "warning")],
            }
            if not dry_run:
                warn_skipped(res, [a for a in out.actions if a.get("state") == "skipped"])
            if out.plan.refusals:  # done, but an agent was left untouched: distinct from 0 and 65
                res.status, res.exit_code = "warning", ExitCode.REFUSED_AGENT
            if out.errors:  # part of the run could not be done (a store stayed busy)
                res.status, res.exit_code = "error", int(out.errors[0].exit_code)
                res.errors.extend(e.to_json() for e in out.errors)
            return res

        run_body("gc", scope, body, metrics=metrics, state_dir=scope.state_dir)
