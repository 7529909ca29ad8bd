"""backup: a run folder with a backup alone (docs/runs.md)."""

from __future__ import annotations

import typer

from sessionctl.commands.common import (
    BackupDirOpt,
    KeepRunsOpt,
    KeepWithinOpt,
    LockTimeoutOpt,
    ScopeOpts,
    add_logs,
    check_backup_dir,
    context_result,
    lock_timeout_s,
    option_groups,
    run_body,
    warn_discovery_skips,
)


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

            from sessionctl.backup import take_backup
            from sessionctl.policy import resolve_retention

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
