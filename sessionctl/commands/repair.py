from __future__ import annotations

from typing import Annotated

import typer

from sessionctl.commands.common import RunOpts, VerboseScopeOpts, option_groups, run_body, run_planned


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
    @option_groups
    def repair_cmd(
        *,
        only: Annotated[
            list[str] | None,
            typer.Option(
                "--only",
                metavar="PART",
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
                "--from",
                metavar="RUN_ID",
                help="Restore a damaged store from the backup of this run.",
                show_default=False,
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
        run: RunOpts,
        scope: VerboseScopeOpts,
    ) -> None:
        """Repair damaged stores and transcripts, unsafe entries, stale locks and leftovers (backup + journal first)."""

        def body() -> object:
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
            return run_planned(
                "repair",
                run,
                scope,
                lambda _ctx: RepairOptions(
                    only=parts,
                    salvage=salvage,
                    from_run=from_run,
                    drop_bad_lines=drop_bad_lines,
                    reset_entries=reset_entries,
                    merge_case=merge_case,
                ),
                run_repair,
                only=list(parts),
            )

        run_body("repair", scope, body)
