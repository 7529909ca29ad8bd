from __future__ import annotations

from typing import Annotated

import typer

from sessionctl.commands.common import AgentOpt, ConfigOpt, JsonOpt, NowOpt, StateDirOpt, VerboseOpt


def register(app: typer.Typer) -> None:
    @app.command("health")
    def health_cmd(
        deep: Annotated[bool, typer.Option("--deep", help="Parse every transcript line.")] = False,
        fail_on: Annotated[
            str,
            typer.Option(
                "--fail-on", help="Lowest severity that makes the exit code non-zero: warning|critical."
            ),
        ] = "warning",
        state_dir: StateDirOpt = None,
        agent: AgentOpt = None,
        now: NowOpt = None,
        config: ConfigOpt = None,
        json: JsonOpt = False,
        verbose: VerboseOpt = False,
    ) -> None:
        """Validate every store and transcript; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
        from sessionctl.cli import run_command

        def body() -> object:
            from collections import Counter

            from sessionctl.context import make_context
            from sessionctl.errors import ExitCode, UsageError
            from sessionctl.findings import worst
            from sessionctl.health import run_health
            from sessionctl.result import Result

            if fail_on not in ("warning", "critical"):
                raise UsageError(f"--fail-on {fail_on!r}: use 'warning' or 'critical'")
            ctx = make_context(state_dir=state_dir, agents=agent, now=now, config=config)
            report = run_health(ctx, deep=deep)
            counts = Counter(f.severity for f in report.findings)
            w = worst(report.findings)
            res = Result("health", state_dir=str(ctx.state_dir), now=ctx.now_iso)
            res.status = "critical" if w == "critical" else "warning" if w == "warning" else "ok"
            if w == "critical":
                res.exit_code = ExitCode.CRITICAL
            elif w == "warning" and fail_on == "warning":
                res.exit_code = ExitCode.WARNING
            res.data = {
                "deep": deep,
                "summary": {s: counts.get(s, 0) for s in ("critical", "warning", "info")},
                "agents": [a.to_json() for a in report.agents],
                "findings": [f.to_json() for f in report.findings],
            }
            res.view["verbose"] = verbose
            return res

        run_command("health", json, body)
