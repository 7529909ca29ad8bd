"""undo and restore: a run's changes put back — its actions reversed, or whole stores
from its backup (docs/runs.md); the same body, the same Result."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

from sessionctl.commands.common import (
    ConfigOpt,
    JsonOpt,
    NowOpt,
    OpenClawOpt,
    QuietOpt,
    RunOpts,
    ScopeOpts,
    StateDirOpt,
    add_logs,
    check_backup_dir,
    context_result,
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

    from sessionctl.revert import restore_run, undo_run
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
