from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from sessionctl.context import RunContext
    from sessionctl.repair import Outcome
    from sessionctl.result import Result

DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show the plan, change nothing (exit 0).")]
BackupDirOpt = Annotated[
    str | None,
    typer.Option(
        "--backup-dir",
        help="Folder of the run folders (default: <state>/sessionctl/runs); must be outside every sessions folder.",
        show_default=False,
    ),
]


def check_backup_dir(ctx: RunContext, backup_dir: str | None) -> None:
    """--backup-dir must lie outside every sessions folder."""
    import os
    from pathlib import Path

    from sessionctl.errors import UsageError
    from sessionctl.fsio import is_within

    if not backup_dir:
        return
    real = Path(os.path.realpath(backup_dir))
    for st in ctx.discovery.stores:
        if is_within(real, Path(os.path.realpath(st.sessions_dir))):
            raise UsageError(
                f"--backup-dir {backup_dir} is inside the sessions folder {st.sessions_dir}; "
                "choose a folder outside every sessions folder"
            )


def outcome_result(command: str, ctx: RunContext, out: Outcome, *, verbose: bool, **extra: Any) -> Result:
    """The Result of a plan → run command (repair, archive, dedupe): the same envelope
    fields for all three, then the command's own (`extra`)."""
    from sessionctl.errors import ExitCode
    from sessionctl.repair import public_action, summary
    from sessionctl.result import Result

    res = Result(command, state_dir=str(ctx.state_dir), now=ctx.now_iso)
    res.view["verbose"] = verbose
    plan = out.plan
    res.data = {
        "dry_run": out.dry_run,
        "run_id": out.run_id,
        "run_dir": out.run_dir,
        **extra,
        "actions": [public_action(a) for a in plan.actions],
        "problems": [f.to_json() for f in plan.problems],
        "kept": plan.kept,
        "refused": [e.to_json() for e in plan.refusals],
        "gateways": out.gateways,
        "would_refuse": out.would_refuse,
        "summary": summary(out),
        **plan.details,
    }
    if out.gateways:
        res.log("notice", "running gateway(s): " + ", ".join(out.gateways))
    if out.would_refuse:
        res.log("warning", f"a real run would refuse: {out.would_refuse}")
    skipped = out.skipped
    if skipped:
        res.status = "warning"
        for a in skipped:
            what = a.get("key") or a.get("from") or a.get("path") or a.get("store")
            res.log("warning", f"skipped {a['type']} {what}: {a.get('note')}")
    if any(f.severity != "info" for f in plan.problems):
        res.status = "warning"
    if plan.refusals:
        res.status, res.exit_code = "error", ExitCode.DATA
        res.errors.extend(e.to_json() for e in plan.refusals)
    elif skipped and not out.applied:
        res.status, res.exit_code = "error", ExitCode.BUSY
        res.errors.append(
            {
                "code": "busy",
                "message": f"nothing was applied: {len(skipped)} change(s) were skipped because the files "
                "changed since planning",
                "hint": "run the command again",
            }
        )
    return res


def parse_only(values: list[str] | None, parts: tuple[str, ...]) -> tuple[str, ...]:
    """`--only a --only b` or `--only a,b` → the selected parts, in canonical order."""
    from sessionctl.errors import UsageError

    if not values:
        return parts
    chosen: set[str] = set()
    for v in values:
        for p in v.split(","):
            p = p.strip()
            if not p:
                continue
            if p not in parts:
                raise UsageError(f"--only {p!r}: choose from {', '.join(parts)}")
            chosen.add(p)
    if not chosen:
        raise UsageError(f"--only needs a value: {', '.join(parts)}")
    return tuple(p for p in parts if p in chosen)


def register(app: typer.Typer) -> None:
    @app.command("repair")
    def repair_cmd(
        only: Annotated[
            list[str] | None,
            typer.Option(
                "--only",
                help="Only these parts (repeatable or comma-separated): store, transcripts, entries, locks, "
                "leftovers. Default: all.",
                show_default=False,
            ),
        ] = None,
        salvage: Annotated[
            bool,
            typer.Option(
                "--salvage",
                help="Rebuild a damaged store from the complete entries still readable in it "
                "(instead of a sessionctl backup).",
            ),
        ] = False,
        from_run: Annotated[
            str | None,
            typer.Option(
                "--from", help="Restore a damaged store from the backup of this run.", show_default=False
            ),
        ] = None,
        drop_bad_lines: Annotated[
            bool,
            typer.Option(
                "--drop-bad-lines",
                help="Also remove unparseable middle lines of transcripts (reads them all).",
            ),
        ] = False,
        reset_entries: Annotated[
            bool,
            typer.Option(
                "--reset-entries",
                help="Remove the entries whose transcript is quarantined (their next message starts afresh).",
            ),
        ] = False,
        merge_case: Annotated[
            bool,
            typer.Option("--merge-case", help="Merge keys that differ only by case, as OpenClaw does."),
        ] = False,
        dry_run: DryRunOpt = False,
        backup_dir: BackupDirOpt = None,
        force_online: ForceOnlineOpt = False,
        state_dir: StateDirOpt = None,
        agent: AgentOpt = None,
        now: NowOpt = None,
        config: ConfigOpt = None,
        json: JsonOpt = False,
        verbose: VerboseOpt = False,
    ) -> None:
        """Repair damaged stores and transcripts, unsafe entries, stale locks and leftovers (backup + journal first)."""
        from sessionctl.cli import run_command

        def body() -> object:
            from sessionctl.context import make_context
            from sessionctl.errors import UsageError
            from sessionctl.repair import PARTS, RepairOptions, run_repair

            parts = parse_only(only, PARTS)
            if salvage and from_run:
                raise UsageError("--salvage and --from choose different sources: give one of them")
            if (salvage or from_run) and "store" not in parts:
                raise UsageError("--salvage and --from repair the store: add --only store")
            if (drop_bad_lines or reset_entries) and "transcripts" not in parts:
                raise UsageError("--drop-bad-lines and --reset-entries need --only transcripts")
            if merge_case and "entries" not in parts:
                raise UsageError("--merge-case needs --only entries")
            ctx = make_context(state_dir=state_dir, agents=agent, now=now, config=config)
            check_backup_dir(ctx, backup_dir)
            opts = RepairOptions(
                only=parts,
                salvage=salvage,
                from_run=from_run,
                drop_bad_lines=drop_bad_lines,
                reset_entries=reset_entries,
                merge_case=merge_case,
                backup_dir=backup_dir,
            )
            out = run_repair(ctx, opts, dry_run=dry_run, force_online=force_online)
            return outcome_result("repair", ctx, out, verbose=verbose, only=list(parts))

        run_command("repair", json, body)
