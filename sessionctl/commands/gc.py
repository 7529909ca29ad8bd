from __future__ import annotations

from typing import Annotated

import typer

from sessionctl.commands.common import (
    AgentOpt,
    ConfigOpt,
    ForceOnlineOpt,
    JsonOpt,
    NowOpt,
    StateDirOpt,
    VerboseOpt,
)

BackupDirOpt = Annotated[
    str | None,
    typer.Option(
        "--backup-dir",
        metavar="DIR",
        help="Folder of the run folders (default: <state>/sessionctl/runs); must be outside every sessions folder.",
        show_default=False,
    ),
]
KeepRunsOpt = Annotated[
    int | None,
    typer.Option(
        "--keep-runs",
        metavar="N",
        help="Afterwards, keep only the newest N run folders (the newest is always kept).",
        show_default=False,
    ),
]
KeepWithinOpt = Annotated[
    str | None,
    typer.Option(
        "--keep-within",
        metavar="DURATION",
        help="Afterwards, delete run folders older than DURATION (e.g. 30d).",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    @app.command("gc")
    def gc_cmd(
        max_age: Annotated[
            str | None,
            typer.Option(
                "--max-age",
                metavar="DURATION",
                help="Expire sessions older than DURATION (30s, 15min, 120h, 5d, 1w, 2d12h; 'off').",
                show_default=False,
            ),
        ] = None,
        idle: Annotated[
            str | None,
            typer.Option(
                "--idle",
                metavar="DURATION",
                help="Expire sessions idle longer than DURATION ('off' disables a configured one).",
                show_default=False,
            ),
        ] = None,
        max_entries: Annotated[
            int | None,
            typer.Option(
                "--max-entries",
                metavar="N",
                help="Per agent, after age/idle, keep the N most recently active.",
                show_default=False,
            ),
        ] = None,
        kind: Annotated[
            list[str] | None,
            typer.Option(
                "--kind",
                "-k",
                metavar="KIND",
                help="Only sessions of this kind (repeatable): cron-run, subagent, hook, ...",
                show_default=False,
            ),
        ] = None,
        match: Annotated[
            list[str] | None,
            typer.Option(
                "--match",
                metavar="GLOB",
                help="Only keys matching this glob (repeatable), e.g. 'agent:*:explicit:tmp-*'.",
                show_default=False,
            ),
        ] = None,
        protect: Annotated[
            list[str] | None,
            typer.Option(
                "--protect",
                metavar="GLOB",
                help="Never expire keys matching this glob (repeatable).",
                show_default=False,
            ),
        ] = None,
        allow_empty: Annotated[
            bool, typer.Option("--allow-empty", help="Allow a plan that expires every session of an agent.")
        ] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", "-n", help="Show the plan, change nothing (exit 0).")
        ] = False,
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
        lock_timeout: Annotated[
            str,
            typer.Option(
                "--lock-timeout",
                metavar="DURATION",
                help="How long to wait for sessions.json.lock (and sessionctl's own lock).",
            ),
        ] = "10s",
        force_online: ForceOnlineOpt = False,
        state_dir: StateDirOpt = None,
        agent: AgentOpt = None,
        now: NowOpt = None,
        config: ConfigOpt = None,
        json: JsonOpt = False,
        verbose: VerboseOpt = False,
    ) -> None:
        """Expire sessions by age, idle time and count; archive their transcripts; backup and journal first."""
        from sessionctl.cli import run_command

        def body() -> object:
            import sys

            from sessionctl.context import make_context
            from sessionctl.errors import ExitCode, SessionctlError, UsageError
            from sessionctl.gc import check_backup_dir, public_action, run_gc, summarize
            from sessionctl.policy import PlanRefused, PolicyOverrides, resolve_policy
            from sessionctl.result import Result
            from sessionctl.timeutil import parse_duration

            if no_archive_backup and archive_retention is None:
                raise UsageError("--no-archive-backup only makes sense with --archive-retention")
            try:
                lock_timeout_s = parse_duration(lock_timeout) / 1000
            except UsageError as exc:
                raise UsageError(f"--lock-timeout: {exc.message}") from None
            ctx = make_context(state_dir=state_dir, agents=agent, now=now, config=config)
            overrides = PolicyOverrides(
                max_age=max_age,
                idle=idle,
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
            policy = resolve_policy(ctx, overrides, require_expiry=True)
            check_backup_dir(ctx, backup_dir)
            res = Result("gc", state_dir=str(ctx.state_dir), now=ctx.now_iso)
            res.view["verbose"] = verbose
            for note in policy.notes:
                res.log("notice", note)
            err: SessionctlError | None = None
            out = run_gc(
                ctx,
                policy,
                dry_run=dry_run,
                force_online=force_online,
                backup_dir=backup_dir,
                lock_timeout_s=lock_timeout_s,
                argv=sys.argv[1:],
            )
            if dry_run and out.plan.refusals:
                err = PlanRefused(
                    out.plan.refusals[0], hint="pass --allow-empty if emptying it is really intended"
                )
            for level, msg in out.logs:
                res.log(level, msg)  # type: ignore[arg-type]
            for sk_disc in ctx.discovery.skipped:
                res.log("warning", f"{sk_disc.what} {sk_disc.path}: {sk_disc.reason}")
            for sk in out.skipped_agents:
                res.log("notice", f"agent {sk['agent']}: skipped: {sk['reason']}")
            if out.gateways:
                res.log("notice", "running gateway(s): " + ", ".join(out.gateways))
            decisions = [
                d.to_json()
                for ap in out.plan.agents
                for d in ap.decisions
                if d.in_scope and (verbose or d.notable)
            ]
            summary = summarize(out)
            res.data = {
                "run_id": out.run_id,
                "dry_run": dry_run,
                "policy": policy.to_json(),
                "actions": [public_action(a) for a in out.actions],
                "sessions": decisions,
                "summary": summary,
                "backup": {"path": out.run_dir, "files": out.backups} if out.run_id else None,
                "skipped_agents": out.skipped_agents,
            }
            skipped = [a for a in out.actions if a.get("state") == "skipped"]
            if skipped and not dry_run:
                res.status = "warning"
                for a in skipped:
                    what = a.get("key") or a.get("from") or a.get("path")
                    res.log("warning", f"skipped {a['type']} {what}: {a.get('note')}")
            if err is not None:
                res.status, res.exit_code = "error", ExitCode.DATA
                res.errors.append(err.to_json())
            if out.errors:  # part of the run could not be done (a store stayed busy)
                res.status, res.exit_code = "error", int(out.errors[0].exit_code)
                res.errors.extend(e.to_json() for e in out.errors)
            return res

        run_command("gc", json, body)
