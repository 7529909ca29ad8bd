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
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, emoji=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def emit_logs(result: Result, *, quiet: bool = False) -> None:
    journald = bool(os.environ.get("JOURNAL_STREAM"))
    for level, msg in result.logs:
        if quiet and level in ("info", "debug"):
            continue
        if journald:
            line = f"{_JOURNAL_PREFIX[level]}{msg}"
        else:
            line = msg if level in ("info", "notice") else f"{level}: {msg}"
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def emit_errors(result: Result) -> None:
    journald = bool(os.environ.get("JOURNAL_STREAM"))
    for err in result.errors:
        prefix = "<3>" if journald else ""
        sys.stderr.write(f"{prefix}sessionctl: error: {err.get('message')}\n")
        if err.get("hint"):
            sys.stderr.write(f"{prefix}  hint: {err['hint']}\n")
    sys.stderr.flush()


def render(result: Result, *, as_json: bool) -> None:
    """Write the result: JSON envelope to stdout, or the human view; logs to stderr."""
    for stream in (sys.stdout, sys.stderr):
        # a store may hold a lone surrogate (valid JSON, not UTF-8): print it as \udxxx
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    emit_logs(result, quiet=as_json)
    if as_json:
        sys.stdout.buffer.write(render_json(result))
        sys.stdout.flush()
        if result.errors:
            emit_errors(result)
        return
    if result.errors:
        emit_errors(result)
        if not result.data:
            return
    try:
        view = importlib.import_module(f"sessionctl.views.{result.command.replace('-', '_')}")
    except ModuleNotFoundError:
        sys.stdout.buffer.write(render_json(result))
        return
    from rich.errors import MarkupError

    try:
        view.render(result, stdout_console())
    except MarkupError as exc:  # store content mistaken for markup: never a traceback
        sys.stderr.write(f"sessionctl: error: cannot show the human view ({exc}); the JSON result follows\n")
        sys.stdout.buffer.write(render_json(result))
