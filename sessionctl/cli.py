"""Entry point. Thin: parse arguments, call the core, hand the Result to the renderer,
and map errors to exit codes in one place (usage errors exit 64, never 2).

`main(argv) -> int` runs one command and returns its exit code; the console script
(`sys.exit(main())`) and `python -m sessionctl` turn it into the process's exit status.
It can be called many times in one process (the tests do): the exit code of a run
is handed back through a context variable scoped to that call, not a module global, and the
process-wide state a run leaves behind is reset at the start of the next one
(`_reset_process_state`)."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

from sessionctl import __version__, timeutil

if TYPE_CHECKING:
    from sessionctl.result import Result

# Command modules, each with `register(app)`. Add new commands here.
COMMAND_MODULES = [
    "list",
    "health",
    "gc",
    "backup",
    "runs",
    "revert",
    "prestart",
    "repair",
    "archive",
    "dedupe",
]

# Command name → its module, so a run imports and builds only the command it runs
# (tests/test_perf_paths.py checks this against what each module registers).
COMMAND_OF = {
    "list": "list",
    "health": "health",
    "gc": "gc",
    "backup": "backup",
    "runs": "runs",
    "undo": "revert",
    "restore": "revert",
    "prestart": "prestart",
    "repair": "repair",
    "archive": "archive",
    "dedupe": "dedupe",
}


class _Invocation:
    """One call of `main`: the exit code its command's body settled on."""

    __slots__ = ("exit_code",)

    def __init__(self) -> None:
        self.exit_code = 0


# The invocation of `main` running now (set and reset by `_run_app`): where `run_command`
# leaves the exit code, scoped to that one call (a context variable, not a global that
# one run would leave to the next).
_INVOCATION: ContextVar[_Invocation | None] = ContextVar("sessionctl_invocation", default=None)


def run_command(
    command: str,
    as_json: bool,
    fn: Callable[[], object],
    quiet: bool = False,
    *,
    metrics: str | None = None,
    state_dir: str | None = None,
) -> int:
    """Run a command body, render its Result (or error), and return the exit code (also
    recorded on the invocation of `main` running it, which returns it).
    `metrics` (gc/prestart `--metrics FILE`): write the run's textfile metrics first."""
    from sessionctl.errors import ExitCode, InternalError, SessionctlError, from_os_error
    from sessionctl.render import render
    from sessionctl.result import Result, error_result

    def known() -> dict[str, str | None]:
        """The state dir and clock, when the command got that far (context.CURRENT)."""
        ctx_mod = sys.modules.get("sessionctl.context")
        current = getattr(ctx_mod, "CURRENT", None) if ctx_mod is not None else None
        return dict(current) if isinstance(current, dict) else {}

    try:
        result = fn()
        assert isinstance(result, Result)
    except SessionctlError as exc:
        result = error_result(command, exc, **known())
    except OSError as exc:
        result = error_result(command, from_os_error(exc, "I/O error"), **known())
    except KeyboardInterrupt:
        result = error_result(command, InternalError("interrupted"))
        result.exit_code = 130
    except Exception as exc:  # a bug: say so in one line, traceback only on request
        if os.environ.get("SESSIONCTL_DEBUG"):
            raise
        result = error_result(
            command,
            InternalError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="this is a bug in sessionctl; rerun with SESSIONCTL_DEBUG=1 for the traceback and report it",
            ),
            **known(),
        )
        if command != "health":
            result.exit_code = ExitCode.SOFTWARE
    if metrics is not None and result.exit_code != ExitCode.USAGE:
        _write_run_metrics(result, metrics, state_dir)
    render(result, as_json=as_json, quiet=quiet)
    code = int(result.exit_code)
    invocation = _INVOCATION.get()
    if invocation is not None:
        invocation.exit_code = code
    return code


def _write_run_metrics(result: Result, path: str, state_dir: str | None) -> None:
    """`--metrics FILE`: the run's exit code, clock and removals as textfile metrics
    (docs/operations.md, Many gateways). A usage error writes nothing (nothing ran; the
    file keeps the last run, and its age alerts). A file that cannot be written is an
    error of the run (73 when the run itself succeeded; 64 when the path became one
    sessionctl must not write, fsio.check_output_path): a monitor must not go blind."""

    from sessionctl.commands.common import check_metrics_path
    from sessionctl.errors import ExitCode, SessionctlError
    from sessionctl.prometheus import run_metrics, state_dir_label, write_textfile
    from sessionctl.timeutil import now_ms, parse_iso_ms

    at = (parse_iso_ms(result.now) if result.now else None) or now_ms()
    text = run_metrics(
        command=result.command,
        state_dir=result.state_dir or state_dir_label(state_dir),
        exit_code=int(result.exit_code),
        now_ms=at,
        data=result.data,
    )
    try:  # checked again: the run may have created the state dir's folders since
        write_textfile(check_metrics_path(path, state_dir), text)
    except SessionctlError as exc:
        result.errors.append(exc.to_json())
        if result.exit_code == ExitCode.OK:
            result.status, result.exit_code = "error", int(exc.exit_code)


def build_app(only: str | None = None) -> object:
    """The typer app with every command, or with just the module of command `only`."""
    import typer
    import typer.core

    # typer shows an argument as `RUN_ID <str>` (its Python type) even with a metavar;
    # the metavar alone reads as a word
    typer.core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]

    app = typer.Typer(
        name="sessionctl",
        help="Keep the on-disk session stores of OpenClaw gateways healthy.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )

    def version_cb(value: bool) -> None:
        if value:
            print(f"sessionctl {__version__}")
            raise typer.Exit(0)

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=version_cb, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """Keep the on-disk session stores of OpenClaw gateways healthy."""

    for mod in [COMMAND_OF[only]] if only in COMMAND_OF else COMMAND_MODULES:
        importlib.import_module(f"sessionctl.commands.{mod}").register(app)
    return app


def _usage_envelope(argv: list[str], message: str) -> None:
    import orjson

    from sessionctl.result import SCHEMA_VERSION

    command = _command_of(argv)
    env = {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "status": "error",
        "exit_code": 64,
        "state_dir": None,
        "now": None,
        "errors": [{"code": "usage", "message": message}],
    }
    sys.stdout.buffer.write(orjson.dumps(env, option=orjson.OPT_INDENT_2) + b"\n")


def _command_of(args: list[str]) -> str | None:
    """The command asked for, only when it is one: `sessionctl bogus` ran none (null)."""
    first = next((a for a in args if not a.startswith("-")), None)
    return first if first in COMMAND_OF else None


def _wants_json(args: list[str]) -> bool:
    if "--json" in args or "--format=json" in args:
        return True
    from itertools import pairwise

    return any(a == "--format" and b == "json" for a, b in pairwise(args))


def main(argv: list[str] | None = None) -> int:
    """The entry point: run the command line `argv` (default: sys.argv[1:]) and return
    its exit code (docs/exit-codes.md); output goes to sys.stdout / sys.stderr as they
    are at the call. Whatever goes wrong — a bug in a command, in a view, or an import
    that fails (a broken install) — ends in one line on stderr and 70 (3 for health,
    which a monitor must read as UNKNOWN), never a traceback. Only SESSIONCTL_DEBUG=1
    lets a bug's exception out."""
    args = sys.argv[1:] if argv is None else list(argv)
    timeutil.mark_invocation()  # prestart's deadline counts from here in-process
    _reset_process_state()
    # the command line a run records in its journal is sys.argv[1:] (runs.Run.start, the
    # commands): this call's, for as long as it runs (a no-op for the console script)
    saved_argv = sys.argv
    sys.argv = [sys.argv[0] if sys.argv else "sessionctl", *args]
    try:
        return _main(args)
    except SystemExit as exc:  # a sys.exit() deep in a dependency: what Python would do
        return _exit_status(exc.code)
    except KeyboardInterrupt:
        sys.stderr.write("sessionctl: error: interrupted\n")
        return 130
    except BaseException as exc:
        if os.environ.get("SESSIONCTL_DEBUG"):
            raise
        return _internal_error(args, exc)
    finally:
        sys.argv = saved_argv


def _exit_status(code: object) -> int:
    """The exit status Python gives `sys.exit(code)`: None is 0, an int is itself, any
    other value is printed on stderr and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    sys.stderr.flush()
    return 1


def _reset_process_state() -> None:
    """What one run leaves in the process and the next must not inherit, reset before
    each run (a fresh process has none of it; modules not imported yet are skipped):
    - the state dir and clock of the last run (context.CURRENT, named by error envelopes);
    - the test-only fault injection, read from the environment (fsio: SESSIONCTL_FAULT,
      SESSIONCTL_FAULT_TRACE and the hit counts);
    - the folder fds fsio anchors once per run (a later run may name the same path for
      another folder).
    The rich consoles are made per run on the streams of that run (render.stdout_console,
    views/progress), so none is bound to an old stream."""
    ctx_mod = sys.modules.get("sessionctl.context")
    if ctx_mod is not None:
        ctx_mod.CURRENT.update(state_dir=None, now=None)
    if "sessionctl.fsio" in sys.modules:
        import sessionctl.fsio as fsio

        fsio._FAULT = os.environ.get("SESSIONCTL_FAULT")
        fsio._TRACE = os.environ.get("SESSIONCTL_FAULT_TRACE")
        fsio._FAULT_COUNTS.clear()
        for fd in fsio._ANCHORS.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        fsio._ANCHORS.clear()


def _internal_error(args: list[str], exc: BaseException) -> int:
    """One line for a bug (and a JSON envelope with --json); its exit code, 70 (health: 3)."""
    command = _command_of(args)
    code = 3 if command == "health" else 70
    message = f"internal error: {type(exc).__name__}: {exc}"
    hint = (
        "this is a bug in sessionctl (or a broken install); rerun with SESSIONCTL_DEBUG=1 for the traceback"
    )
    if _wants_json(args):
        import json

        env = {
            "schema_version": 1,
            "command": command,
            "status": "unknown" if code == 3 else "error",
            "exit_code": code,
            "state_dir": None,
            "now": None,
            "errors": [{"code": "internal", "message": message, "hint": hint}],
        }
        sys.stdout.write(json.dumps(env, indent=2) + "\n")
        sys.stdout.flush()
    line = f"sessionctl: error: {message} ({hint})"
    sys.stderr.write(line.replace("\n", "\\n").replace("\r", "\\r") + "\n")
    sys.stderr.flush()
    return code


def _main(args: list[str]) -> int:
    if args == ["--version"]:  # fast path: ExecStartPre and cron call us a lot
        sys.stdout.write(f"sessionctl {__version__}\n")
        return 0
    # Cyclic GC: a run holds 10^5-10^6 objects (parsed entries, a folder listing of
    # 100,000 files) that make no cycles; at the default thresholds the collector
    # re-traverses them all the time (a third of health's CPU on a 10k-entry state).
    # Collect far less often during the run (the caller's thresholds are restored).
    import gc

    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        return _run_app(args)
    finally:
        gc.set_threshold(*thresholds)


def _run_app(args: list[str]) -> int:
    # a command name first: build only that command (root --help and typos get them all)
    app = build_app(args[0] if args and args[0] in COMMAND_OF else None)
    invocation = _Invocation()
    token = _INVOCATION.set(invocation)
    try:
        # standalone: click prints usage errors and --help and always ends in SystemExit
        app(args=args, prog_name="sessionctl")  # type: ignore[operator]
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code == 2:  # click's usage error: 2 would read as CRITICAL to a monitor
            if "--json" in args:
                _usage_envelope(args, "invalid command line (see the message on stderr)")
            return 64
        if code != 0:
            return code
    finally:
        _INVOCATION.reset(token)
    return invocation.exit_code


if __name__ == "__main__":
    sys.exit(main())
