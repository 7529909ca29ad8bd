"""The one renderer: a Result becomes a JSON envelope on stdout, or a human view.

Human views live in sessionctl.views.<command> as `render(result, console)`; logs go
to stderr, with journald level prefixes (<3> error, <4> warning, <5> notice, <6> info,
<7> debug) when $JOURNAL_STREAM is set.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

import orjson

from sessionctl.result import Result

if TYPE_CHECKING:
    from rich.console import Console

_JOURNAL_PREFIX = {"error": "<3>", "warning": "<4>", "notice": "<5>", "info": "<6>", "debug": "<7>"}


def render_json(result: Result) -> bytes:
    env = result.envelope()
    try:
        # the newline by orjson: `+ b"\n"` would copy a 30 MB report once more
        return orjson.dumps(
            env, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
        )
    except (orjson.JSONEncodeError, TypeError):
        # a value orjson cannot write (e.g. an integer beyond 64 bits taken from a store):
        # never a traceback instead of the envelope
        return orjson.dumps(_jsonable(env), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _text(s: str) -> str:
    """A string UTF-8 can carry: a lone surrogate (JSON allows one, a store may hold one)
    becomes U+FFFD, valid pairs are joined."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return s


def _jsonable(v: object) -> object:
    if isinstance(v, dict):
        return {_text(str(k)): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, str):
        return _text(v)
    if isinstance(v, bool) or v is None or isinstance(v, float):
        return v
    if isinstance(v, int):
        return v if -(2**63) <= v < 2**64 else float(v)
    return str(v)


def stdout_console() -> Console:
    """The console the human views print on. soft_wrap: rich never breaks a line itself,
    so a key, a path, a run id or a command to copy stays whole in a pipe, in the journal
    and in cron mail (a terminal wraps long lines visually; the text stays one line)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, emoji=False)


def terminal_width(console: Console) -> int | None:
    """The width tables may use: the terminal's when stdout is one, None (no limit: one
    record per line, at full width) when it is a pipe or a file."""
    return console.size.width if console.is_terminal else None


def sanitized(v: object) -> object:
    """A copy of a result's data in which every string (keys of objects too) is
    terminal-safe (views.fmt.safe): store content reaches a human view only escaped.
    Strings that need nothing are kept as they are, so this is one cheap pass."""
    from sessionctl.views.fmt import safe

    def walk(v: object) -> object:
        if isinstance(v, str):
            return safe(v)
        if isinstance(v, dict):
            return {safe(k) if isinstance(k, str) else k: walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return walk(v)


def _level_line(level: str, msg: str, journald: bool) -> str:
    from sessionctl.views.fmt import safe

    msg = safe(msg)
    if journald:
        return f"{_JOURNAL_PREFIX[level]}{msg}"
    return msg if level in ("info", "notice") else f"{level}: {msg}"


def emit_logs(result: Result, *, quiet: bool = False) -> None:
    journald = bool(os.environ.get("JOURNAL_STREAM"))
    for level, msg in result.logs:
        if quiet and level in ("info", "debug"):
            continue
        sys.stderr.write(_level_line(level, msg, journald) + "\n")
    sys.stderr.flush()


def emit_errors(result: Result) -> None:
    from sessionctl.views.fmt import safe

    journald = bool(os.environ.get("JOURNAL_STREAM"))
    for err in result.errors:
        prefix = "<3>" if journald else ""
        sys.stderr.write(f"{prefix}sessionctl: error: {safe(str(err.get('message')))}\n")
        if err.get("hint"):
            sys.stderr.write(f"{prefix}  hint: {safe(str(err['hint']))}\n")
    sys.stderr.flush()


def summary_line(result: Result) -> str:
    """The one line of `--quiet`: `sessionctl <command>: <STATUS> — <what happened>`,
    from the command's view (`summary(result)`), plus how many warnings were logged.
    An error is the error and its hint."""
    from sessionctl.views.fmt import safe

    head = f"sessionctl {result.command}: {result.status.upper()}"
    if result.errors and not result.data:
        err = result.errors[0]
        text = f"{head} (exit {int(result.exit_code)}) — {err.get('message')}"
        if err.get("hint"):
            text += f" (hint: {err['hint']})"
        return safe(text)
    detail = ""
    try:
        view = importlib.import_module(f"sessionctl.views.{result.command.replace('-', '_')}")
        fn = getattr(view, "summary", None)
        if fn is not None:
            shown = Result(result.command, result.status, result.exit_code, sanitized(result.data))  # type: ignore[arg-type]
            shown.state_dir, shown.errors = result.state_dir, result.errors
            detail = fn(shown)
    except ModuleNotFoundError:
        pass
    text = head + (f" — {detail}" if detail else "")
    if result.errors:
        text += f"; error: {result.errors[0].get('message')}"
    warnings = sum(1 for level, _ in result.logs if level in ("warning", "error"))
    if warnings:
        text += f"; {warnings} warning(s) (run without -q to see them)"
    return safe(text)


def render(result: Result, *, as_json: bool, quiet: bool = False) -> None:
    """Write the result: JSON envelope to stdout, or the human view; logs to stderr.
    `quiet`: one summary line (or, with --json, the envelope on one line) and nothing
    else — for timers, cron and the journal."""
    for stream in (sys.stdout, sys.stderr):
        # a store may hold a lone surrogate (valid JSON, not UTF-8): print it as \udxxx
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    if as_json:
        if quiet:
            env = result.envelope()
            try:
                out = orjson.dumps(env, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)
            except (orjson.JSONEncodeError, TypeError):
                out = orjson.dumps(_jsonable(env), option=orjson.OPT_APPEND_NEWLINE)
            sys.stdout.buffer.write(out)
            sys.stdout.flush()
            return
        emit_logs(result, quiet=True)
        sys.stdout.buffer.write(render_json(result))
        sys.stdout.flush()
        if result.errors:
            emit_errors(result)
        return
    if quiet:
        line = summary_line(result) + "\n"
        stream = sys.stderr if result.errors and not result.data else sys.stdout
        stream.write(line)
        stream.flush()
        return
    emit_logs(result)
    if result.errors:
        emit_errors(result)
        if not result.data and not result.view.get("metrics"):
            return
    try:
        view = importlib.import_module(f"sessionctl.views.{result.command.replace('-', '_')}")
    except ModuleNotFoundError:
        sys.stdout.buffer.write(render_json(result))
        return
    from rich.errors import MarkupError

    from sessionctl.views.fmt import safe

    shown = Result(
        result.command,
        result.status,
        result.exit_code,
        sanitized(result.data),  # type: ignore[arg-type]
        safe(result.state_dir) if result.state_dir else None,
        result.now,
        result.errors,
        result.logs,
        result.view,
    )
    try:
        view.render(shown, stdout_console())
    except MarkupError as exc:  # store content mistaken for markup: never a traceback
        sys.stderr.write(f"sessionctl: error: cannot show the human view ({exc}); the JSON result follows\n")
        sys.stdout.buffer.write(render_json(result))
