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
    @app.command("dedupe")
    @option_groups
    def dedupe_cmd(
        *,
        keep: Annotated[
            str | None,
            typer.Option(
                "--keep",
                metavar="[bound|newest|N]",
                help="Peers: 'bound' (the agent bindings route to; default) or 'newest' (most recently "
                "active). With --storms: how many sessions of a burst to keep (default 3).",
                show_default=False,
            ),
        ] = None,
        storms: Annotated[
            bool, typer.Option("--storms", help="Collapse spawn storms instead of cross-agent duplicates.")
        ] = False,
        window: Annotated[
            str,
            typer.Option(
                "--window",
                metavar="DURATION",
                help="With --storms: sessions started this close together form a burst.",
            ),
        ] = "1h",
        min_sessions: Annotated[
            int,
            typer.Option(
                "--min",
                metavar="N",
                help="With --storms: a burst needs at least N sessions within one window.",
            ),
        ] = 20,
        match: Annotated[
            list[str] | None,
            typer.Option(
                "--match",
                metavar="GLOB",
                help="With --storms: treat the keys matching this glob as one family (repeatable), "
                "e.g. 'agent:marketer:explicit:dyad-coord-*'.",
                show_default=False,
            ),
        ] = None,
        run: RunOpts,
        scope: VerboseScopeOpts,
    ) -> None:
        """Resolve one peer living in several agents (by bindings or recency); collapse spawn storms."""

        def body() -> object:
            from sessionctl.dedupe import DedupeOptions, run_dedupe
            from sessionctl.errors import UsageError

            opts = DedupeOptions(storms=storms, match=list(match or []))
            if storms:
                if keep is not None:
                    if not keep.isdigit() or int(keep) < 1:
                        raise UsageError(f"--keep {keep!r}: with --storms give how many to keep (at least 1)")
                    opts.storm_keep = int(keep)
                if min_sessions < 2:
                    raise UsageError("--min must be at least 2")
                opts.storm_window_ms = parse_duration_opt("--window", window)
                opts.storm_min = min_sessions
            else:
                if match:
                    raise UsageError("--match only applies with --storms")
                if keep is not None and keep not in ("bound", "newest"):
                    raise UsageError(f"--keep {keep!r}: use 'bound' or 'newest' (or --storms with a number)")
                opts.keep = keep or "bound"
            return run_planned(
                "dedupe", run, scope, lambda _ctx: opts, run_dedupe, mode="storms" if storms else "peers"
            )

        run_body("dedupe", scope, body)
