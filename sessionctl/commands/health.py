from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sessionctl.commands.common import VerboseScopeOpts, context_result, option_groups

if TYPE_CHECKING:
    from sessionctl.context import RunContext
    from sessionctl.errors import SessionctlError

FORMATS = ("human", "json", "prometheus")


def register(app: typer.Typer) -> None:
    @app.command("health")
    @option_groups
    def health_cmd(
        *,
        deep: Annotated[
            bool, typer.Option("--deep", help="Parse every transcript line (bad lines, broken parentIds).")
        ] = False,
        fail_on: Annotated[
            str,
            typer.Option(
                "--fail-on",
                metavar="[warning|critical]",
                help="Lowest severity that makes the exit code non-zero: warning or critical.",
            ),
        ] = "warning",
        fmt: Annotated[
            str,
            typer.Option(
                "--format",
                metavar="[human|json|prometheus]",
                help="Output: human, json (same as --json) or prometheus (node_exporter text format).",
            ),
        ] = "human",
        output: Annotated[
            str | None,
            typer.Option(
                "--output",
                "-o",
                metavar="FILE",
                help="With --format prometheus: write the metrics atomically to this file "
                "(node_exporter textfile collector) instead of stdout.",
                show_default=False,
            ),
        ] = None,
        store_max_mb: Annotated[
            float | None,
            typer.Option(
                "--store-max-mb",
                metavar="MB",
                help="store.oversized threshold in MB (default 50).",
                show_default=False,
            ),
        ] = None,
        transcript_max_kb: Annotated[
            float | None,
            typer.Option(
                "--transcript-max-kb",
                metavar="KB",
                help="transcript.oversized threshold in KB (default 500).",
                show_default=False,
            ),
        ] = None,
        max_entries: Annotated[
            int | None,
            typer.Option(
                "--max-entries",
                metavar="N",
                help="store.too_many_entries threshold (default: session.maintenance.maxEntries, else 500).",
                show_default=False,
            ),
        ] = None,
        scope: VerboseScopeOpts,
    ) -> None:
        """Validate every store and transcript; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

        Read-only: never changes a byte. See docs/health.md for every check id.
        """
        from sessionctl.cli import run_command

        as_json = scope.json or fmt == "json"

        def body() -> object:
            from sessionctl.errors import SessionctlError, UsageError

            if fmt not in FORMATS:
                raise UsageError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
            if scope.json and fmt not in ("human", "json"):
                raise UsageError(f"--json and --format {fmt} contradict each other; use one")
            if output is not None and fmt != "prometheus":
                raise UsageError("--output is only for --format prometheus")
            if scope.quiet and fmt == "prometheus" and output is None:
                raise UsageError("--quiet prints one line, not the metrics: add --output FILE to write them")
            if fail_on not in ("warning", "critical"):
                raise UsageError(f"--fail-on {fail_on!r}: use 'warning' or 'critical'")
            checked: list[object] = []  # --output, once it passed the path check
            try:
                return _run(checked)
            except SessionctlError as exc:
                if output is not None:
                    _write_unknown(output, scope.now, checked)
                elif fmt == "prometheus" and not isinstance(exc, UsageError):
                    return _unknown_metrics_result(exc)
                raise

        def _run(checked: list[object]) -> object:
            from pathlib import Path

            from sessionctl.errors import ExitCode
            from sessionctl.findings import worst
            from sessionctl.health import run_health
            from sessionctl.runs import runs_usage
            from sessionctl.thresholds import thresholds_for

            ctx = scope.context()
            require_state_dir(ctx)
            if output is not None:
                from sessionctl.context import check_path_option

                checked.append(check_path_option(ctx, output, "--output", "file"))
            thr = thresholds_for(
                ctx, store_max_mb=store_max_mb, transcript_max_kb=transcript_max_kb, max_entries=max_entries
            )
            from sessionctl.views.health import long_scan
            from sessionctl.views.progress import SHOW_AFTER_S, stderr_progress

            with stderr_progress(
                "health",
                enabled=not as_json and not scope.quiet and fmt == "human",
                show_after_s=0.0 if long_scan(ctx, deep) else SHOW_AFTER_S,
            ) as hook:
                ctx.progress = hook
                report = run_health(ctx, deep=deep, thresholds=thr)
            w = worst(report.findings)
            res = context_result("health", ctx)
            res.status = "critical" if w == "critical" else "warning" if w == "warning" else "ok"
            if w == "critical":
                res.exit_code = ExitCode.CRITICAL
            elif report.unknown_agents():
                # an agent health could not judge (a SQLite schema it does not know): UNKNOWN,
                # below CRITICAL as in the monitoring-plugin convention
                res.status, res.exit_code = "unknown", ExitCode.UNKNOWN
            elif w == "warning" and fail_on == "warning":
                res.exit_code = ExitCode.WARNING
            summary: dict[str, object] = dict(report.counts())
            summary["total"] = len(report.findings)
            summary["by_check"] = report.by_check()
            res.data = {
                "deep": deep,
                "fail_on": fail_on,
                "thresholds": thr.to_json(),
                "stale_policy": report.stale_policy,
                "summary": summary,
                "agents": [a.to_json() for a in report.agents],
                "findings": [f.to_json() for f in report.findings],
                "runs": runs_usage(ctx.state_dir),
            }
            res.view["verbose"] = scope.verbose
            res.view["format"] = fmt
            if fmt == "prometheus":
                from sessionctl.prometheus import health_metrics, write_textfile

                text = health_metrics(
                    state_dir=str(ctx.state_dir),
                    status=res.status,
                    exit_code=int(res.exit_code),
                    now_ms=ctx.now_ms,
                    agents=res.data["agents"],
                    findings=res.data["findings"],
                    runs=res.data["runs"],
                    resume_budget=thr.resume_budget,
                )
                if output is not None:
                    write_textfile(Path(str(checked[0])), text)
                    res.view["written"] = output
                else:
                    res.view["metrics"] = text
            return res

        def _unknown_metrics_result(exc: SessionctlError) -> object:
            """--format prometheus on stdout: an UNKNOWN run still prints its metrics
            (status 3), so a scraper sees "cannot check" rather than stale numbers."""
            from sessionctl.prometheus import unknown_metrics
            from sessionctl.result import error_result

            res = error_result("health", exc)
            res.view["format"] = "prometheus"
            res.view["metrics"] = unknown_metrics(_clock(scope.now), _state_dir_label())
            return res

        def _clock(now_text: str | None) -> int:
            from sessionctl.timeutil import now_ms, parse_iso_ms

            return (parse_iso_ms(now_text) if now_text else None) or now_ms()

        def _state_dir_label() -> str:
            from sessionctl.prometheus import state_dir_label

            return state_dir_label(scope.state_dir)

        def _write_unknown(path: str, now_text: str | None, checked: list[object]) -> None:
            """Metrics that say UNKNOWN, to a path that passed the path check — against the
            state dir when health got that far, else as far as what can be known allows."""
            import contextlib
            from pathlib import Path

            from sessionctl.errors import SessionctlError
            from sessionctl.prometheus import unknown_metrics, write_textfile

            with contextlib.suppress(SessionctlError):  # the original error is the one to report
                target = Path(str(checked[0] if checked else _check_without_context(path)))
                write_textfile(target, unknown_metrics(_clock(now_text), _state_dir_label()))

        def _check_without_context(path: str) -> object:
            from pathlib import Path

            from sessionctl.config import load_openclaw_config, resolve_state_dir
            from sessionctl.context import all_sessions_dirs
            from sessionctl.errors import SessionctlError
            from sessionctl.fsio import check_output_path

            try:
                sd: Path | None = resolve_state_dir(scope.state_dir)
            except SessionctlError:
                sd = None
            dirs = all_sessions_dirs(sd, load_openclaw_config(sd)) if sd is not None else []
            parent = Path(path).parent
            if (parent / "sessions.json").exists() or parent.name == "sessions":
                dirs.append(parent)  # a sessions folder of a state dir we could not find
            return check_output_path(path, option="--output", kind="file", state_dir=sd, sessions_dirs=dirs)

        run_command("health", as_json, body, quiet=scope.quiet)


def require_state_dir(ctx: RunContext) -> None:
    """A folder that is not an OpenClaw state dir (no openclaw.json, no agents/<id>/) is
    UNKNOWN for health, never OK: a wrong OPENCLAW_STATE_DIR in a timer must not stay green."""
    from sessionctl.errors import NotFoundError

    if not ctx.discovery.is_state_dir:
        raise NotFoundError(
            f"{ctx.state_dir} is not an OpenClaw state dir: it has no openclaw.json "
            f"({ctx.openclaw.path}) and no agent folder (agents/<id>/sessions/ or agents/<id>/agent/)",
            path=str(ctx.state_dir),
            hint="pass --state-dir PATH or set OPENCLAW_STATE_DIR to the gateway's state dir (usually ~/.openclaw)",
        )
