from __future__ import annotations

from typing import Annotated

import typer

from sessionctl.commands.common import (
    AgentOpt,
    ConfigOpt,
    JsonOpt,
    KindOpt,
    NowOpt,
    QuietOpt,
    ScopeOpts,
    StateDirOpt,
    context_result,
    run_body,
    warn_discovery_skips,
)

FORMATS = ("table", "tsv", "json")


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(
        kind: KindOpt = None,
        state_dir: StateDirOpt = None,
        agent: AgentOpt = None,
        now: NowOpt = None,
        config: ConfigOpt = None,
        fmt: Annotated[
            str,
            typer.Option(
                "--format",
                metavar="[table|tsv|json]",
                help="table: aligned columns (one session per line when piped); tsv: tab-separated "
                "with a header line, raw numbers, for scripts; json: same as --json.",
            ),
        ] = "table",
        json: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """List every session: agent, key, kind, peer, age, idle, transcript size, tokens, flags."""
        # the scope options, --format between them: json as --format json says
        scope = ScopeOpts(
            state_dir=state_dir, agent=agent, now=now, config=config, json=json or fmt == "json", quiet=quiet
        )

        def body() -> object:
            from sessionctl.errors import ExitCode, UsageError
            from sessionctl.keys import KINDS
            from sessionctl.listing import list_sessions
            from sessionctl.views.progress import stderr_progress

            if fmt not in FORMATS:
                raise UsageError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
            if json and fmt not in ("table", "json"):
                raise UsageError(f"--json and --format {fmt} contradict each other; use one")
            for k in kind or []:
                if k not in KINDS:
                    raise UsageError(f"--kind {k!r}: unknown kind; kinds are: {', '.join(KINDS)}")
            ctx = scope.context()
            with stderr_progress("list", enabled=scope.progress) as hook:
                ctx.progress = hook
                rows, problems = list_sessions(ctx, kind)
            res = context_result("list", ctx)
            res.data = {"sessions": rows, "unreadable_stores": problems}
            res.view["format"] = fmt
            warn_discovery_skips(res, ctx)
            for p in problems:
                res.log(
                    "warning",
                    f"{p['agent']}: cannot list {p['path']}: {p['message']} (run: sessionctl health)",
                )
            if problems:
                res.status, res.exit_code = "error", ExitCode.DATA
            return res

        run_body("list", scope, body)
