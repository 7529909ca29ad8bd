"""Recover every complete entry from the text of a damaged sessions.json.

A store that does not parse is loaded by OpenClaw as `{}` and overwritten on its next
write (format doc §3); when no sessionctl backup exists, what can still be read from
the damaged bytes is all there is. This module never writes anything: it returns the
entries it could read, in file order, and an honest count of what it could not.

Two readers:

- OpenClaw writes the store as `JSON.stringify(store, null, 2)`: every top-level key
  starts a line with exactly two spaces (`  "<key>": {`) and every entry ends on a line
  that is exactly `  }`. Nested objects are indented deeper, so these lines find each
  entry even when the text around it is truncated, holds garbage or invalid UTF-8. Each
  entry is parsed on its own; a broken one is counted as lost with its key.
- Anything else (minified or hand-indented text) is scanned for `"<key>": {`, the object
  after it is delimited by a string-aware brace scanner and parsed; after a failure the
  scan resynchronises on the next candidate, accepting only objects that look like a
  session entry (`sessionId` or `updatedAt`) so nested objects of a broken entry are not
  mistaken for entries. Counts from this reader are marked `exact: false`.

An entry whose bytes are not valid UTF-8 but parse once the bad bytes are replaced by
U+FFFD is recovered and listed in `utf8_replaced` (the original bytes stay in the run
backup).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import orjson

from sessionctl import jsonjs

# `  "<key>": {` at the start of a line: a top-level key of a 2-space-indented store.
_PRETTY_KEY = re.compile(rb'(?m)^  "((?:[^"\\\r\n]|\\.){0,8192})": \{')
_PRETTY_END = re.compile(rb"(?m)^  \}")
# `"<key>": {` anywhere (general reader).
_ANY_KEY = re.compile(rb'"((?:[^"\\\r\n]|\\.){0,8192})"[ \t\r\n]*:[ \t\r\n]*\{')
# tokens that matter for delimiting an object: a complete string, or a brace
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}]|"')
_MAX_OBJECT = 64 << 20  # an entry larger than 64 MiB is not an entry


@dataclass
class SalvageResult:
    entries: dict[str, dict[str, object]] = field(default_factory=dict)
    lost_keys: list[str] = field(default_factory=list)  # keys seen whose entry did not parse
    lost_unknown: int = 0  # fragments whose key could not be read
    utf8_replaced: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # keys seen twice (the last one wins)
    garbage_bytes: int = 0  # bytes between entries that belong to no entry
    exact: bool = True  # False when the counts come from the general reader
    reader: str = "pretty"

    @property
    def recovered(self) -> int:
        return len(self.entries)

    @property
    def lost(self) -> int:
        return len(self.lost_keys) + self.lost_unknown

    def to_json(self) -> dict[str, int | bool | str | list[str]]:
        return {
            "recovered": self.recovered,
            "lost": self.lost,
            "lost_keys": self.lost_keys,
            "lost_unknown": self.lost_unknown,
            "utf8_replaced": self.utf8_replaced,
            "duplicates": self.duplicates,
            "garbage_bytes": self.garbage_bytes,
            "exact": self.exact,
            "reader": self.reader,
        }


def _decode_key(raw: bytes) -> str | None:

    try:
        key = jsonjs.loads(b'"' + raw + b'"')
    except jsonjs.JSONError:
        return None
    return key if isinstance(key, str) else None


def _parse_object(raw: bytes) -> tuple[dict[str, object] | None, bool]:
    """(object, utf8_replaced) or (None, False) when the bytes are not one JSON object."""

    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            obj = jsonjs.loads(raw, deep_ok=False)  # JSON.parse semantics (U+FFFD for bad bytes)
        except (jsonjs.JSONError, jsonjs.TooDeep):
            return None, False
        replaced = jsonjs.first_invalid_utf8(raw) is not None
        return (obj, replaced) if isinstance(obj, dict) else (None, False)
    return (obj, False) if isinstance(obj, dict) else (None, False)


def _object_end(raw: bytes, start: int, limit: int) -> int | None:
    """Index just past the `}` closing the object that opens at raw[start] (a `{`),
    scanning strings properly; None when it does not close before `limit`."""
    depth = 0
    for m in _TOKENS.finditer(raw, start, limit):
        tok = m.group()
        if tok == b"{":
            depth += 1
        elif tok == b"}":
            depth -= 1
            if depth == 0:
                return m.end()
        elif tok == b'"':
            return None  # an unterminated string: the object is cut off
    return None


def _add(res: SalvageResult, key: str, obj: dict[str, object], replaced: bool) -> None:
    if key in res.entries:
        res.duplicates.append(key)
    res.entries[key] = obj
    if replaced:
        res.utf8_replaced.append(key)


def _is_pretty(raw: bytes) -> bool:
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b'{\n  "') or head.startswith(b'{\r\n  "')


def _salvage_pretty(raw: bytes, res: SalvageResult) -> None:
    starts = list(_PRETTY_KEY.finditer(raw))
    body_start = raw.find(b"{") + 1
    if starts:
        res.garbage_bytes += len(raw[body_start : starts[0].start()].strip())
    for i, m in enumerate(starts):
        region_end = starts[i + 1].start() if i + 1 < len(starts) else len(raw)
        obj_start = m.end() - 1
        key = _decode_key(m.group(1))
        if key is None:
            res.lost_unknown += 1
            continue
        end_m = _PRETTY_END.search(raw, obj_start, region_end)
        obj: dict[str, object] | None = None
        replaced = False
        tail_from = region_end
        if end_m is not None:
            obj, replaced = _parse_object(raw[obj_start : end_m.end()])
            tail_from = end_m.end()
        if obj is None:
            # the closing line may be damaged: try the string-aware scanner in the region
            end = _object_end(raw, obj_start, region_end)
            if end is not None:
                obj, replaced = _parse_object(raw[obj_start:end])
                tail_from = end
        if obj is None:
            res.lost_keys.append(key)
            continue
        _add(res, key, obj, replaced)
        # what follows the entry up to the next key should be `,` (or the closing `}`)
        rest = raw[tail_from:region_end].strip()
        if i + 1 == len(starts):
            rest = rest.rstrip(b"}").strip() if rest.endswith(b"}") else rest
        rest = rest.lstrip(b",").strip()
        if rest and i + 1 == len(starts):
            res.lost_unknown += 1  # a cut-off entry whose key line did not survive
        else:
            res.garbage_bytes += len(rest)


def _looks_like_entry(obj: dict[str, object]) -> bool:
    return isinstance(obj.get("sessionId"), str) or isinstance(obj.get("updatedAt"), int | float)


def _salvage_general(raw: bytes, res: SalvageResult) -> None:
    res.exact, res.reader = False, "scan"
    pos = raw.find(b"{")
    if pos < 0:
        return
    pos += 1
    in_failure = False  # a run of unreadable candidates counts as one lost entry
    n = len(raw)
    while True:
        m = _ANY_KEY.search(raw, pos)
        if m is None:
            break
        obj_start = m.end() - 1
        end = _object_end(raw, obj_start, min(n, obj_start + _MAX_OBJECT))
        obj: dict[str, object] | None = None
        replaced = False
        if end is not None:
            obj, replaced = _parse_object(raw[obj_start:end])
        key = _decode_key(m.group(1))
        if obj is not None and key is not None and (not in_failure or _looks_like_entry(obj)):
            _add(res, key, obj, replaced)
            in_failure = False
            assert end is not None
            pos = end
            continue
        if not in_failure:
            if key is not None:
                res.lost_keys.append(key)
            else:
                res.lost_unknown += 1
        in_failure = True
        pos = m.end()


def salvage_store(raw: bytes) -> SalvageResult:
    """Every complete entry of a damaged store, in file order, and what was lost."""
    res = SalvageResult()
    if not raw.strip():
        return res
    if _is_pretty(raw):
        _salvage_pretty(raw, res)
    else:
        _salvage_general(raw, res)
    # a duplicate key that was also lost is not lost: the other copy survived
    res.lost_keys = [k for k in res.lost_keys if k not in res.entries]
    return res
