"""The one JSON reader for everything OpenClaw wrote: JavaScript's `JSON.parse` semantics.

OpenClaw reads its files with Node: `fs.readFileSync(path, "utf-8")` (or
`buffer.toString("utf8")`), then `JSON.parse`. So a file or line is valid exactly when
that pair accepts it, and sessionctl must never call damaged, quarantine, restore from a
backup or drop what it accepts. Where that differs from a strict RFC 8259 parser:

- bytes that are not UTF-8 are decoded to U+FFFD (one per maximal invalid subsequence,
  as WHATWG/Node do — Python's "replace" handler does the same), they never fail;
- a lone UTF-16 surrogate escape (`"\\ud83d"`, what JavaScript writes for a string cut
  inside an emoji) is a valid string;
- a number beyond a double (`1e400`) is valid and reads as Infinity; an integer beyond
  64 bits reads as a double (as orjson reads it too);
- nesting depth is not limited (V8's parser is iterative: a million levels parse);
- duplicate keys: the last value wins, at the position of the first (as in a JS object);
- whitespace between tokens is only space, tab, CR and LF; a byte-order mark is not
  whitespace (`JSON.parse("\\ufeff{}")` throws); NaN/Infinity literals are invalid.

orjson is the fast path; only what it rejects is looked at again (Python's json with the
above adjustments, and an iterative parser for nesting deeper than Python recurses).
`tests/interop/test_interop_json.py` checks every case of a corpus of odd lines against
the real Node.

Also here: String.prototype.trim's whitespace, for the JSONL reader OpenClaw uses
(`content.trim().split("\\n")`, lines blank after `trim()` skipped); and the names the
core's signatures give what a parse returns, JsonValue and JsonObj.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from collections.abc import Iterator
from typing import Any, NoReturn, TypeAlias

import orjson

# A value as JSON holds it (object, array, string, number, true/false, null), as parsed:
# what it is is checked where it is used (a store entry, a journal field, a status).
# The one place the core's signatures say Any, by this name: a signature that takes or
# gives parsed JSON says so with JsonValue / JsonObj, every other one names its type.
# Why Any and not the recursive union (None | bool | int | float | str |
# list[JsonValue] | dict[str, JsonValue]): every read of a field would then need an
# isinstance narrowing before use, also where the code has checked the shape already
# (entry_shape_problem, validate_journal) — mypy strict reports ~740 errors with it,
# in the store, journal and gc code whose values are checked once, where they are read.
JsonValue: TypeAlias = Any
# A JSON object as sessionctl reads or writes it (a journal, a status, a store entry, a
# command's JSON data; a table of openclaw.json or sessionctl.toml, read the same way):
# its values are whatever JSON holds, checked where they are used.
JsonObj: TypeAlias = dict[str, JsonValue]

__all__ = [
    "JS_WHITESPACE",
    "JSONError",
    "JsonObj",
    "JsonValue",
    "TooDeep",
    "decode_utf8",
    "first_invalid_utf8",
    "is_valid",
    "js_trim",
    "loads",
]


class JSONError(ValueError):
    """What `JSON.parse` would throw: the message and the character position."""

    def __init__(self, msg: str, pos: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.pos = pos


# String.prototype.trim: WhiteSpace (TAB, VT, FF, SP, NBSP, ZWNBSP/BOM, every Zs) and
# LineTerminator (LF, CR, LS, PS). Not Python's str.isspace (which has \x1c-\x1f, \x85
# and lacks U+FEFF).
JS_WHITESPACE = (
    "\t\n\x0b\x0c\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def dig(obj: JsonValue, *path: str) -> JsonValue:
    """obj[path[0]][path[1]]... through JSON objects; None where a step is missing or not an object."""
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic GC off while big stores are parsed and planned: the parse makes
    no reference cycles, and with the collector on it takes about twice as long."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def js_trim(text: str) -> str:
    """`text.trim()` in JavaScript."""
    return text.strip(JS_WHITESPACE)


def decode_utf8(raw: bytes | bytearray | memoryview) -> str:
    """Bytes as Node's `buffer.toString("utf8")` reads them: invalid sequences become
    U+FFFD (the BOM is kept: Node does not strip it)."""
    return bytes(raw).decode("utf-8", "replace")


def first_invalid_utf8(raw: bytes) -> int | None:
    """Offset of the first byte that is not UTF-8, or None when all of it is."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _parse_int(text: str) -> int | float:
    # orjson reads integers of 64 bits exactly and larger ones as doubles; keep to it, so
    # the same text gives the same value on both paths (JS reads all of them as doubles)
    if len(text) > 20:
        return float(text)
    v = int(text)
    return v if -(2**63) <= v < 2**64 else float(text)


def _reject_constant(name: str) -> NoReturn:
    raise JSONError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_constant=_reject_constant)


class TooDeep(Exception):
    """Valid JSON, nested deeper than Python's own serialisers can follow (raised only
    when the caller asked for `deep_ok=False`: it means to write the value back)."""


def loads(data: bytes | bytearray | memoryview | str, *, deep_ok: bool = True) -> JsonValue:
    """`JSON.parse` of `data` (bytes decoded as Node decodes UTF-8). Raises JSONError
    (a ValueError) exactly when JSON.parse would throw. With `deep_ok=False`, valid JSON
    nested deeper than Python's json recurses raises TooDeep instead of being parsed."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    text = data if isinstance(data, str) else decode_utf8(data)
    try:
        return _DECODER.decode(text)
    except RecursionError:
        if not deep_ok:
            raise TooDeep from None
        return _parse_iterative(text)
    except json.JSONDecodeError as exc:
        raise JSONError(exc.msg, exc.pos) from None
    except ValueError as exc:  # _reject_constant
        raise JSONError(str(exc)) from None


def is_valid(data: bytes | str) -> bool:
    try:
        loads(data)
    except JSONError:
        return False
    return True


# ---------------------------------------------------------------- deep nesting

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _parse_iterative(s: str) -> JsonValue:
    """A JSON parser without recursion, for input nested deeper than Python's json can
    follow. Strings are read by json's own scanner (escapes, lone surrogates)."""
    from json.decoder import scanstring  # type: ignore[attr-defined]

    n = len(s)
    wsm = _WS.match

    def ws(i: int) -> int:
        m = wsm(s, i)
        return m.end() if m is not None else i  # `[ \t\n\r]*` always matches

    stack: list[tuple[JsonValue, JsonValue]] = []  # open containers (and a dict's pending key)

    def key_at(i: int) -> tuple[str, int]:
        if i >= n or s[i] != '"':
            raise JSONError("Expecting property name enclosed in double quotes", i)
        try:
            key, i = scanstring(s, i + 1, True)
        except json.JSONDecodeError as exc:
            raise JSONError(exc.msg, exc.pos) from None
        i = ws(i)
        if i >= n or s[i] != ":":
            raise JSONError("Expecting ':' delimiter", i)
        return key, ws(i + 1)

    i = ws(0)
    while True:
        value: JsonValue
        if i >= n:
            raise JSONError("Expecting value", i)
        c = s[i]
        if c == "{":
            i = ws(i + 1)
            if i < n and s[i] == "}":
                value, i = {}, i + 1
            else:
                key, i = key_at(i)
                stack.append(({}, key))
                continue
        elif c == "[":
            i = ws(i + 1)
            if i < n and s[i] == "]":
                value, i = [], i + 1
            else:
                stack.append(([], None))
                continue
        elif c == '"':
            try:
                value, i = scanstring(s, i + 1, True)
            except json.JSONDecodeError as exc:
                raise JSONError(exc.msg, exc.pos) from None
        elif s.startswith("true", i):
            value, i = True, i + 4
        elif s.startswith("false", i):
            value, i = False, i + 5
        elif s.startswith("null", i):
            value, i = None, i + 4
        else:
            m = _NUMBER.match(s, i)
            if m is None:
                raise JSONError("Expecting value", i)
            text = m.group()
            value = float(text) if m.group(1) or m.group(2) else _parse_int(text)
            i = m.end()
        # a value is complete: put it into its container, closing those it completes
        while True:
            if not stack:
                i = ws(i)
                if i != n:
                    raise JSONError("Extra data", i)
                return value
            container, key = stack[-1]
            if type(container) is dict:
                container[key] = value
            else:
                container.append(value)
            i = ws(i)
            if i < n and s[i] == ",":
                i = ws(i + 1)
                if type(container) is dict:
                    key, i = key_at(i)
                    stack[-1] = (container, key)
                break
            if i < n and s[i] == ("}" if type(container) is dict else "]"):
                i += 1
                stack.pop()
                value = container
                continue
            raise JSONError("Expecting ',' delimiter", i)
