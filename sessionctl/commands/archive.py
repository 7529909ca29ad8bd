from __future__ import annotations

from typing import Annotated

import typer

from sessionctl.commands.common import (
    RunOpts,
    VerboseScopeOpts,
    option_groups,
    parse_duration_opt,
    run_body,
    run_planned,
)


def register(app: typer.Typer) -> None:
    @app.command("archive")
    @option_groups
    def archive_cmd(
        *,
        older_than: Annotated[
            str,
            typer.Option(
                "--older-than",
                metavar="DURATION",
                help="Only orphans not modified for DURATION (wall clock); younger ones may be about to be used.",
            ),
        ] = "1h",
        orphans: Annotated[
            bool,
            typer.Option("--orphans/--no-orphans", help="Archive orphaned session files (default: yes)."),
        ] = True,
        retention: Annotated[
            str | None,
            typer.Option(
                "--retention",
                metavar="DURATION",
                help="Purge .deleted/.reset archives whose name stamp is older than DURATION "
                "(moved into the run folder).",
                show_default=False,
            ),
        ] = None,
        no_backup: Annotated[
            bool,
            typer.Option(
                "--no-backup",
                help="With --retention: delete old archives for good instead of moving them into the run "
                "(cannot be undone).",
            ),
        ] = False,
        to: Annotated[
            str | None,
            typer.Option(
                "--to",
                metavar="DIR",
                help="Move archives (and this run's orphans) out of the sessions folders into DIR.",
                show_default=False,
            ),
        ] = None,
        compress: Annotated[
            str | None,
            typer.Option(
                "--compress",
                metavar="[gzip|zstd]",
                help="With --to: compress the moved archives.",
                show_default=False,
            ),
        ] = None,
        run: RunOpts,
        scope: VerboseScopeOpts,
    ) -> None:
        """Archive orphaned transcripts and sidecars (.deleted rename), purge old archives, move archives away."""

        def body() -> object:
            from sessionctl.archive import ArchiveOptions, check_to_dir, run_archive
            from sessionctl.errors import UsageError

            if no_backup and retention is None:
                raise UsageError("--no-backup only makes sense with --retention")
            if compress is not None and to is None:
                raise UsageError("--compress only makes sense with --to DIR")
            if compress not in (None, "gzip", "zstd"):
                raise UsageError(f"--compress {compress!r}: use gzip or zstd")
            if not orphans and retention is None and to is None:
                raise UsageError("--no-orphans leaves nothing to do: add --retention or --to")
            older = parse_duration_opt("--older-than", older_than)
            keep = parse_duration_opt("--retention", retention) if retention is not None else None
            return run_planned(
                "archive",
                run,
                scope,
                lambda ctx: ArchiveOptions(
                    orphans=orphans,
                    older_than_ms=older,
                    retention_ms=keep,
                    no_backup=no_backup,
                    to_dir=check_to_dir(ctx, to) if to is not None else None,
                    compress=compress,
                ),
                run_archive,
            )

        run_body("archive", scope, body)
