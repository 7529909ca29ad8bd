"""runs: the run folders of a state dir (docs/runs.md)."""

from __future__ import annotations

import typer

from sessionctl.commands.common import (
    BackupDirOpt,
    JsonOpt,
    QuietOpt,
    StateDirOpt,
    check_output_option,
)


def register(app: typer.Typer) -> None:
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
            from sessionctl import context
            from sessionctl.config import resolve_state_dir
            from sessionctl.result import Result
            from sessionctl.runs import list_runs, runs_root

            sd = resolve_state_dir(state_dir)
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
