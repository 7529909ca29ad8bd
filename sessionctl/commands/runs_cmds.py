"""backup, runs, undo, restore: the commands around run folders (docs/runs.md)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from sessionctl.commands.common import (
    BackupDirOpt,
    ConfigOpt,
    JsonOpt,
    KeepRunsOpt,
    KeepWithinOpt,
    LockTimeoutOpt,
    NowOpt,
    OpenClawOpt,
    QuietOpt,
    RunOpts,
    ScopeOpts,
    StateDirOpt,
    add_logs,
    check_backup_dir,
    check_output_option,
    context_result,
    lock_timeout_s,
    option_groups,
    run_body,
    warn_discovery_skips,
    warn_skipped,
)

if TYPE_CHECKING:
    from sessionctl.result import Result

RunIdArg = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="The run id (see `sessionctl runs`).", show_default=False)
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show what would be done, change nothing.")]
UndoVerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="List every action, not a summary and the first few.")
]


@dataclasses.dataclass(frozen=True)
class UndoRunOpts(RunOpts):
    """RunOpts as undo and restore take them: their --dry-run shows what would be done."""

    dry_run: DryRunOpt = False


def _undo_or_restore(
    command: str,
    run_id: str,
    run: RunOpts,
    scope: ScopeOpts,
    *,
    openclaw: str | None = None,
    verbose: bool = False,
) -> Result:
    """The body of undo and restore: the same run, the same Result."""
    import functools
    import sys

    from sessionctl.runops import restore_run, undo_run
    from sessionctl.views.progress import stderr_progress

    timeout = run.lock_timeout_s
    ctx = scope.context()
    check_backup_dir(ctx, run.backup_dir)  # undo and restore write a run there too
    with stderr_progress(command, enabled=scope.progress) as hook:
        ctx.progress = hook
        execute = functools.partial(undo_run, openclaw=openclaw) if command == "undo" else restore_run
        out = execute(
            ctx,
            run_id,
            dry_run=run.dry_run,
            force_online=run.force_online,
            backup_dir=run.backup_dir,
            lock_timeout_s=timeout,
            argv=sys.argv[1:],
        )
    res = context_result(command, ctx)
    res.view["verbose"] = verbose
    add_logs(res, out.logs)
    if command == "restore":  # undo works from the run's journal, whatever --agent says
        warn_discovery_skips(res, ctx)
    res.data = {
        "run_id": out.run_id,
        "dry_run": out.dry_run,
        "target_run": out.target,
        "actions": [public_undo_action(a) for a in out.actions],
        "summary": out.summary(),
        "backup": {"path": out.run_dir, "files": out.backups} if out.run_id else None,
    }
    warn_skipped(res, out.skipped, label="not undone/restored:", names=("key", "path", "from"))
    return res


# what an undo/restore action shows: small fields only — never an entry (`entry`,
# `before`, `after`: in the journal) or a store's key order, so the output of an undo of
# 50,000 entries stays linear and small per action
_HIDDEN = frozenset({"entry", "before", "after", "order"})


def public_undo_action(a: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in a.items() if k not in _HIDDEN}


def register(app: typer.Typer) -> None:
    @app.command("backup")
    @option_groups
    def backup_cmd(
        *,
        backup_dir: BackupDirOpt = None,
        keep_runs: KeepRunsOpt = None,
        keep_within: KeepWithinOpt = None,
        lock_timeout: LockTimeoutOpt = "10s",
        scope: ScopeOpts,
    ) -> None:
        """Take a run folder with a backup alone: stores, their prompt blobs, binding files."""

        def body() -> object:
            import sys

            from sessionctl.policy import resolve_retention
            from sessionctl.runops import take_backup

            ctx = scope.context()
            keep_n, kw = resolve_retention(ctx, keep_runs, keep_within)
            check_backup_dir(ctx, backup_dir)
            out = take_backup(
                ctx,
                backup_dir=backup_dir,
                keep_runs=keep_n,
                keep_within_ms=kw,
                argv=sys.argv[1:],
                lock_timeout_s=lock_timeout_s(lock_timeout),
            )
            res = context_result("backup", ctx)
            add_logs(res, out.logs)
            warn_discovery_skips(res, ctx)
            res.data = {
                "run_id": out.run_id,
                "backup": {"path": out.run_dir, "files": out.backups},
                "summary": out.summary(),
                "pruned_runs": out.pruned_runs,
            }
            return res

        run_body("backup", scope, body)

    @app.command("runs")
    def runs_cmd(
        backup_dir: BackupDirOpt = None,
        state_dir: StateDirOpt = None,
        json: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """List run folders: id, command, started, state, actions, bytes."""
        from sessionctl.cli import run_command

        def body() -> object:
            from sessionctl.config import resolve_state_dir
            from sessionctl.result import Result
            from sessionctl.runs import list_runs, runs_root

            sd = resolve_state_dir(state_dir)
            from sessionctl import context

            context.CURRENT["state_dir"] = str(sd)
            if backup_dir is not None:
                check_output_option(backup_dir, sd, option="--backup-dir", kind="dir")
            runs = [r.to_json() for r in list_runs(sd, backup_dir)]
            res = Result("runs", state_dir=str(sd))
            res.data = {
                "runs_dir": str(runs_root(sd, backup_dir)),
                "runs": runs,
                # what the run folders listed take on disk (a hard link shared by two runs counts twice)
                "total_bytes": sum(r["bytes"] for r in runs),
            }
            return res

        run_command("runs", json, body, quiet=quiet)

    @app.command("undo")
    @option_groups
    def undo_cmd(
        run_id: RunIdArg,
        *,
        run: UndoRunOpts,
        openclaw: OpenClawOpt = None,
        state_dir: StateDirOpt = None,
        now: NowOpt = None,
        config: ConfigOpt = None,
        json: JsonOpt = False,
        quiet: QuietOpt = False,
        verbose: UndoVerboseOpt = False,
    ) -> None:
        """Reverse a run: removed entries come back (never clobbering newer ones), renamed files are renamed back;
        SQLite-era sessions archived by gc are unarchived through OpenClaw (deleted ones need `restore`)."""
        # undo works from the run's journal: no --agent
        scope = ScopeOpts(state_dir=state_dir, now=now, config=config, json=json, quiet=quiet)

        def body() -> object:
            return _undo_or_restore("undo", run_id, run, scope, openclaw=openclaw, verbose=verbose)

        run_body("undo", scope, body)

    @app.command("restore")
    @option_groups
    def restore_cmd(
        run_id: RunIdArg,
        *,
        run: UndoRunOpts,
        scope: ScopeOpts,
        verbose: UndoVerboseOpt = False,
    ) -> None:
        """Put whole sessions.json files (and SQLite-era agent databases, gateway stopped) back from a run's backup (journaled: can be undone)."""

        def body() -> object:
            return _undo_or_restore("restore", run_id, run, scope, verbose=verbose)

        run_body("restore", scope, body)
