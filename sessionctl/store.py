"""Reading and writing sessions.json faithfully (format doc §3, §7).

orjson keeps key order and every unknown field; an unchanged store re-serialises
byte-identically to what OpenClaw writes (2-space indent, no trailing newline,
non-ASCII kept).
"""

from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import orjson

from sessionctl import jsonjs
from sessionctl.errors import DataError, NotRegularFile, permission_denied
from sessionctl.fsio import atomic_write, read_bytes, resolve_inside, store_tmp_name
from sessionctl.jsonjs import JsonObj, JsonValue, decode_utf8, first_invalid_utf8

if TYPE_CHECKING:
    from sessionctl.transcripts import FileInfo

StoreStatus = Literal["ok", "missing", "empty", "unparseable", "not_object", "unreadable"]

SAFE_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")
PATH_SESSION_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$", re.IGNORECASE)


@dataclass
class StoreLoad:
    """The result of reading one sessions.json. `data` is set only when status == ok."""

    path: Path
    status: StoreStatus
    data: JsonObj | None = None
    raw: bytes | None = None
    size: int = 0
    mtime_ns: int = 0
    ino: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    denied: bool = False  # unreadable because of permissions (EACCES/EPERM), not content
    # load_store(plan=True): the sha256 of the bytes read (raw is not kept), and each
    # entry's skillsSnapshot.promptRef (the only part of the dropped objects a writer needs)
    sha256: str | None = None
    prompt_refs: JsonObj | None = None
    _canonical: bool | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def canonical(self) -> bool:
        """True when re-serialising the parsed store gives back the exact bytes read (what
        OpenClaw itself would write). Computed on first use: it costs one serialisation."""
        if self._canonical is None:
            self._canonical = is_canonical(self)
        return self._canonical


_JSON_TYPE = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def json_type(value: JsonValue) -> str:
    """The JSON name of a parsed value's type (object, array, string, number, boolean, null)."""
    return "null" if value is None else _JSON_TYPE.get(type(value), type(value).__name__)


def _decode_error(exc: Exception, raw: bytes) -> str:
    pos = getattr(exc, "pos", None)  # a character index of the decoded text
    msg = (getattr(exc, "msg", None) or str(exc)).split(":")[0] or "invalid JSON"
    text = decode_utf8(raw)
    if isinstance(pos, int) and 0 <= pos <= len(text):
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return f"{msg} at line {line}, column {col}"
    return msg


# Node reads the store with readFileSync(path, "utf-8"), which turns invalid bytes into
# U+FFFD instead of failing (checked against OpenClaw 2026.5.28): such a store loads with
# all its entries, and the gateway's next write makes the replacement permanent.
UTF8_REPLACED = (
    "OpenClaw reads those bytes as U+FFFD and keeps every entry; its next write (or sessionctl's) "
    "makes the replacement permanent"
)
TOO_DEEP = (
    "the JSON is nested deeper than sessionctl can write back (OpenClaw reads it); "
    "sessionctl will not modify it"
)


def parse_store_full(raw: bytes) -> tuple[StoreStatus, JsonObj | None, str | None, str | None]:
    """parse_store_bytes plus a note on a store that is valid but worth a word: not valid
    UTF-8 (read as OpenClaw reads it, with U+FFFD)."""
    if len(raw) == 0:
        return "empty", None, "the file is empty (0 bytes)", None
    note: str | None = None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        if raw.strip() == b"":
            return "empty", None, "the file holds only whitespace", None
        # JSON.parse semantics (sessionctl.jsonjs): lone surrogate escapes, numbers beyond
        # a double and invalid UTF-8 (read as U+FFFD) are valid; NaN, a BOM are not
        bad_utf8 = first_invalid_utf8(raw)
        try:
            data = jsonjs.loads(raw, deep_ok=False)
        except jsonjs.TooDeep:
            return "unreadable", None, TOO_DEEP, None
        except jsonjs.JSONError as exc:
            if raw.startswith(b"\xef\xbb\xbf"):
                return (
                    "unparseable",
                    None,
                    "starts with a UTF-8 byte-order mark, which JSON.parse rejects",
                    None,
                )
            err = _decode_error(exc, raw)
            if bad_utf8 is not None:
                err += f"; not valid UTF-8 at byte {bad_utf8}"
            return "unparseable", None, err, None
        if bad_utf8 is not None:
            note = f"not valid UTF-8 at byte {bad_utf8}; {UTF8_REPLACED}"
    if not isinstance(data, dict):
        return "not_object", None, f"the top level is a JSON {json_type(data)}, not an object", None
    return "ok", data, None, note


def parse_store_bytes(raw: bytes) -> tuple[StoreStatus, JsonObj | None, str | None]:
    """Classify and parse store bytes the way OpenClaw's JSON.parse sees them
    (sessionctl.jsonjs: Node's UTF-8 decoding, JSON.parse's grammar).

    'empty'/'unparseable'/'not_object' are what JSON.parse rejects (OpenClaw then loads
    `{}` and overwrites the file). 'unreadable' here means valid for JSON.parse but nested
    deeper than sessionctl can write back: sessionctl must not touch it (valid_for_openclaw).
    """
    status, data, error, _note = parse_store_full(raw)
    return status, data, error


def valid_for_openclaw(status: str, error: str | None) -> bool:
    """Whether OpenClaw loads a store of this status with its entries (not as `{}`)."""
    return status in ("ok", "missing") or (status == "unreadable" and error == TOO_DEEP)


# The big diagnostic objects of an entry (format doc §3: why an entry is 10-20 KB). No
# read-only check reads them; `load_store(slim=True)` drops them as each entry is parsed.
SLIM_DROPPED = ("systemPromptReport", "skillsSnapshot", "contextBudgetStatus")


def _member_starts(raw: bytes) -> list[int] | None:
    """Offsets of the top-level members of a store laid out as JSON.stringify(x, null, 2)
    writes it ('{', then each member on a line starting with exactly two spaces and a
    quote, then '\n}'); None for any other layout."""
    if not raw.startswith(b'{\n  "') or not raw.endswith(b"\n}"):
        return None
    # the regex engine scans for '\n  "' about twice as fast as bytes.find (whose
    # search stops at every indented line of the entries)
    return [m.start() + 1 for m in _MEMBER_START.finditer(raw)]


_MEMBER_START = re.compile(rb'\n  "')


def parse_store_slim(raw: bytes) -> tuple[StoreStatus, JsonObj | None, str | None]:
    """parse_store_bytes, minus SLIM_DROPPED in every entry (see _parse_slim)."""
    status, data, error, _note = _parse_slim(raw)
    return status, data, error


def _parse_slim(
    raw: bytes, plan: PlanFacts | None = None
) -> tuple[StoreStatus, JsonObj | None, str | None, str | None]:
    """parse_store_full, minus SLIM_DROPPED in every entry, parsing one member at a time
    so the whole parsed store (several times the file's size) never exists at once.

    Sound for any input: JSON strings cannot hold a raw newline, so each piece between
    two member starts is text of the object's member list; when every piece parses as
    `{piece}`, the object is exactly the union of the pieces (later duplicates win, as
    in JSON.parse). Anything else — another layout, a piece that does not parse, a
    value orjson refuses — takes the whole-store path, with its exact messages.

    With `plan`, the same pass also decides whether the store is in OpenClaw's own
    formatting (PlanFacts.canonical: serialize_store(data) == raw, decided member by
    member — each piece must be exactly its one member re-serialised, and no key may
    repeat) and keeps each entry's skillsSnapshot.promptRef (PlanFacts.prompt_refs)."""
    starts = _member_starts(raw)
    if starts is not None:
        data: JsonObj = {}
        loads = orjson.loads
        ok = True
        last = len(starts) - 1
        for i, s in enumerate(starts):
            if i < last:
                e = starts[i + 1] - 2  # the ',' before '\n  "'
                if raw[e] != 0x2C:
                    ok = False
                    break
            else:
                e = len(raw) - 2  # '\n}'
            piece = raw[s:e]
            try:
                part = loads(b"{" + piece + b"}")
            except orjson.JSONDecodeError:
                ok = False
                break
            if plan is not None:
                if plan.canonical and (len(part) != 1 or next(iter(part)) in data):
                    plan.canonical = False  # two members on one line, or a repeated key
                if plan.canonical:
                    plan.canonical = _member_canonical(part, piece)
            for key, entry in part.items():
                _slim_entry(plan, key, entry)
                data[key] = entry
        if ok:
            if plan is not None and plan.canonical and _fix_numbers(raw) is not raw:
                plan.canonical = False  # a number JS writes otherwise than the file has it
            return "ok", data, None, None
        del data
        if plan is not None:
            plan.canonical, plan.prompt_refs = True, {}
    status, full, error, note = parse_store_full(raw)
    if full is not None:
        if plan is not None:
            try:
                plan.canonical = serialize_store(full) == raw
            except DataError:
                plan.canonical = False
        for key, entry in full.items():
            _slim_entry(plan, key, entry)
    elif plan is not None:
        plan.canonical = False
    return status, full, error, note


def _slim_entry(plan: PlanFacts | None, key: str, entry: JsonValue) -> None:
    """What the slim parse keeps of an entry (an object; anything else as it is): its
    skillsSnapshot.promptRef for `plan`, not the big diagnostic objects (SLIM_DROPPED)."""
    if type(entry) is dict:
        if plan is not None:
            _keep_prompt_ref(plan, key, entry)
        for f in SLIM_DROPPED:
            entry.pop(f, None)


def _member_canonical(part: JsonObj, piece: bytes) -> bool:
    """serialize_store(part)[2:-2] == piece, for one member — except when orjson's
    indented output is the piece itself: then it is serialize_store's only if the JS
    number fix-ups (_fix_numbers) find nothing in it, which the caller checks once on
    the whole store (one regex scan instead of one per member)."""
    try:
        out = orjson.dumps(part, option=orjson.OPT_INDENT_2)
    except (orjson.JSONEncodeError, TypeError):
        try:
            return serialize_store(part)[2:-2] == piece
        except DataError:
            return False
    if out[2:-2] != piece:  # JS writes some numbers otherwise (1e-6 is 0.000001 there)
        return _fix_numbers(out)[2:-2] == piece
    return True  # and JS writes every number of it as orjson does: checked on the whole store


@dataclass
class PlanFacts:
    """What a writer's plan needs of the parts of a store a slim parse drops."""

    canonical: bool = True
    prompt_refs: JsonObj = field(default_factory=dict)


def _keep_prompt_ref(plan: PlanFacts, key: str, entry: JsonObj) -> None:
    ss = entry.get("skillsSnapshot")
    if type(ss) is dict and "promptRef" in ss:
        plan.prompt_refs[key] = ss["promptRef"]
    else:
        plan.prompt_refs.pop(key, None)  # a later duplicate of the key has none


def require_access(load: StoreLoad, agent: str) -> None:
    """A store that cannot be read for lack of permission is not damaged data: every
    command that needs it stops with the one permission error (77) and its hint, instead
    of calling it unreadable and advising a repair."""
    if load.denied:
        raise permission_denied(
            f"agent {agent}: cannot read {load.path}: permission denied; nothing was changed", str(load.path)
        )


def load_store(path: Path, *, slim: bool = False, plan: bool = False) -> StoreLoad:
    """Read and parse a store. Never raises for bad content; I/O trouble → 'unreadable'.

    `slim=True` is for read-only callers (health, list): entries lack SLIM_DROPPED and
    the raw bytes are not kept (`raw` is None, so `canonical` is False).

    `plan=True` (gc's plan) is the slim parse plus what a writer needs to act on it
    later without holding the store: `sha256` of the bytes read (a later read of the
    same bytes is the store as planned), `canonical` decided in the same pass, and
    `prompt_refs` (key → skillsSnapshot.promptRef). `raw` is not kept; whole entries
    are read again from the file when needed (gc does, store by store)."""
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        return StoreLoad(path, "missing", error="sessions.json does not exist")
    except NotRegularFile as exc:
        return StoreLoad(path, "unreadable", error=f"sessions.json {exc.strerror}")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return StoreLoad(path, "missing", error="sessions.json does not exist")
        return StoreLoad(
            path,
            "unreadable",
            error=f"cannot read sessions.json: {exc.strerror or exc}",
            denied=exc.errno in (errno.EACCES, errno.EPERM),
        )
    try:
        st = os.stat(path, follow_symlinks=False)
        mtime_ns, ino = st.st_mtime_ns, st.st_ino
    except OSError:
        mtime_ns, ino = 0, 0
    if plan:
        import hashlib

        facts = PlanFacts()
        status, data, error, note = _parse_slim(raw, facts)
        load = StoreLoad(path, status, data, None, len(raw), mtime_ns, ino, error)
        load.sha256 = hashlib.sha256(raw).hexdigest()
        load.prompt_refs = facts.prompt_refs
        load._canonical = data is not None and facts.canonical
    elif slim:
        status, data, error, note = _parse_slim(raw)
        load = StoreLoad(path, status, data, None, len(raw), mtime_ns, ino, error)
    else:
        status, data, error, note = parse_store_full(raw)
        load = StoreLoad(path, status, data, raw, len(raw), mtime_ns, ino, error)
    if note:
        load.notes.append(note)
    return load


# Number tokens orjson writes differently from JavaScript: exponent forms (orjson switches
# to them below 1e-5 and from 1e16, JS only below 1e-6 and from 1e21) and integral floats
# ("5.0"; JS writes "5"). In indented output a number token follows a space and ends its
# line (optionally with a comma); a string token cannot end that way (it ends with '"'), so
# these two searches find exactly the number tokens that may need rewriting. Both start
# with a literal, which keeps them fast on a 100 MB store.
_EXP_END = re.compile(rb"e[+-][0-9]+(?=,?\n)")
_DOT0_END = re.compile(rb"\.0(?=,?\n)")
_NUMBER_TOKEN = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:e[+-][0-9]+)?")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def js_number(x: float) -> str:
    """A float as JavaScript prints it (ECMA-262 Number::toString), e.g. 1.2e-6 → 0.0000012."""
    if x != x or x in (math.inf, -math.inf):
        return "null"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mant, _, exp_s = repr(abs(x)).partition("e")  # repr: the shortest round-tripping digits
    ip, _, fp = mant.partition(".")
    fp = fp.rstrip("0")
    all_digits = ip + fp
    digits = all_digits.lstrip("0")
    e10 = (int(exp_s) if exp_s else 0) - len(fp)  # value = int(digits) * 10**e10
    stripped = digits.rstrip("0")
    e10 += len(digits) - len(stripped)
    digits = stripped
    k = len(digits)
    n = k + e10  # value = 0.<digits> * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    m = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{m}e{'+' if e >= 0 else '-'}{abs(e)}"


def _fix_numbers(out: bytes) -> bytes:
    edits: list[tuple[int, int, bytes]] = []
    for pattern in (_EXP_END, _DOT0_END):
        for m in pattern.finditer(out):
            start = out.rfind(b" ", 0, m.start()) + 1
            token = out[start : m.end()]
            if not _NUMBER_TOKEN.fullmatch(token):
                continue
            js = js_number(float(token)).encode()
            if js != token:
                edits.append((start, m.end(), js))
    if not edits:
        return out
    edits.sort()
    parts: list[bytes] = []
    pos = 0
    for start, end, js in edits:
        parts += (out[pos:start], js)
        pos = end
    parts.append(out[pos:])
    return b"".join(parts)


def _js_string(s: str) -> str:
    import json

    text = json.dumps(s, ensure_ascii=False)  # escapes exactly what JSON.stringify escapes…
    # …except lone surrogates, which well-formed JSON.stringify writes as \udxxx escapes
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _js_stringify(value: JsonValue, depth: int, out: list[str]) -> None:
    """JSON.stringify(value, null, 2) in pure Python: the slow path for what orjson refuses
    (lone surrogates, integers beyond 64 bits). Keeps key order as is."""
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(js_number(value))
    elif isinstance(value, str):
        out.append(_js_string(value))
    elif isinstance(value, dict | list):
        if not value:
            out.append("{}" if isinstance(value, dict) else "[]")
            return
        pad = "\n" + "  " * (depth + 1)
        out.append("{" if isinstance(value, dict) else "[")
        for i, item in enumerate(value.items() if isinstance(value, dict) else value):
            out.append(pad if i == 0 else "," + pad)
            if isinstance(value, dict):
                k, item = item
                if not isinstance(k, str):
                    raise TypeError(f"object key {k!r} is not a string")
                out.append(_js_string(k) + ": ")
            _js_stringify(item, depth + 1, out)
        out.append("\n" + "  " * depth + ("}" if isinstance(value, dict) else "]"))
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")


def serialize_store(data: JsonObj) -> bytes:
    """Serialise like OpenClaw: JSON.stringify(store, null, 2), no trailing newline,
    byte for byte (JS number formatting, lone surrogates as escapes)."""
    try:
        return _fix_numbers(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:
        parts: list[str] = []
        _js_stringify(data, 0, parts)
        return "".join(parts).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise DataError(
            f"the store holds a value sessionctl cannot write back faithfully ({exc})",
            hint="inspect the store by hand; sessionctl will not rewrite it",
        ) from None


def member_spans(raw: bytes, keys: list[str]) -> dict[str, tuple[int, int]] | None:
    """Where each member of a store in OpenClaw's own formatting sits in its bytes:
    key → (start, end) of `  "key": value` (without the `,\n` after it). Only for a
    canonical store (serialize_store(data) == raw): its members are then exactly the
    parsed keys, in order, one per piece. None when the layout does not match."""
    starts = _member_starts(raw) if keys else None
    if starts is None or len(starts) != len(keys):
        return None
    ends = [s - 2 for s in starts[1:]]
    ends.append(len(raw) - 2)
    return dict(zip(keys, zip(starts, ends, strict=True), strict=True))


def member_values(raw: bytes, keys: list[str], wanted: Iterable[str]) -> JsonObj | None:
    """The whole values of the members `wanted` of a store in OpenClaw's own formatting
    (`keys`: all its keys, in order), parsing only their pieces of `raw` — the rest of
    the store is never parsed. None when the layout does not match (member_spans)."""
    spans = member_spans(raw, keys)
    if spans is None:
        return None
    out: JsonObj = {}
    for key in wanted:
        span = spans.get(key)
        if span is None:
            continue
        part = orjson.loads(b"{" + raw[span[0] : span[1]] + b"}")
        if list(part) != [key]:
            return None
        out[key] = part[key]
    return out


def spliced_store(
    raw: bytes, spans: dict[str, tuple[int, int]], before: JsonObj, new: JsonObj
) -> Iterator[bytes | memoryview]:
    """The bytes of serialize_store(new) as pieces, for an edit of the canonical store
    `raw` (parsed as `before`, laid out as `spans`): each member whose value is still the
    very object parsed from `raw` is its slice of `raw` (no copy, no serialisation);
    only inserted or replaced members are serialised. Byte for byte what
    serialize_store(new) gives — JSON.stringify(x, null, 2) writes each member of the
    top-level object on its own, at the same depth, whatever else the object holds."""
    if not new:
        yield b"{}"
        return
    view = memoryview(raw)
    yield b"{\n"
    first = True
    for key, value in new.items():
        if not first:
            yield b",\n"
        first = False
        span = spans.get(key)
        if type(value) is RawMember:
            yield value.piece  # a member of another canonical store, as it was written there
        elif span is not None and before.get(key, _NOTHING) is value:
            yield view[span[0] : span[1]]
        else:
            yield serialize_store({key: value})[2:-2]
    yield b"\n}"


_NOTHING = object()


class RawMember:
    """A member of a store in OpenClaw's own formatting, kept as its bytes
    (`  "key": value`, exactly serialize_store({key: value})[2:-2]) instead of parsed:
    undo re-inserts thousands of entries from a backup this way without building them.
    spliced_store writes the piece as it is; any other use parses it (`value`)."""

    __slots__ = ("key", "piece")

    def __init__(self, key: str, piece: memoryview) -> None:
        self.key = key
        self.piece = piece

    def value(self) -> JsonValue:
        _status, data, _err = parse_store_bytes(b"{" + bytes(self.piece) + b"}")
        if data is None or list(data) != [self.key]:
            raise DataError(f"a store member of {self.key!r} does not parse on its own")
        return data[self.key]


def raw_members(raw: bytes) -> dict[str, RawMember] | None:
    """Every member of the store `raw` as a RawMember, when it parses and is in
    OpenClaw's own formatting (decided member by member, as gc's plan does:
    _parse_slim with PlanFacts); None otherwise (the caller parses it whole)."""
    facts = PlanFacts()
    _status, data, _err, _note = _parse_slim(raw, facts)
    if data is None or not facts.canonical:
        return None
    spans = member_spans(raw, list(data))
    del data
    if spans is None:
        return None
    view = memoryview(raw)
    return {k: RawMember(k, view[s:e]) for k, (s, e) in spans.items()}


def is_canonical(load: StoreLoad) -> bool:
    """True when re-serialising the parsed store gives back the exact bytes read."""
    if load.data is None or load.raw is None:
        return False
    try:
        return serialize_store(load.data) == load.raw
    except DataError:
        return False


def write_store(path: Path, data: JsonObj) -> bytes:
    """Atomically replace a store (OpenClaw temp naming, 0600, fsync, rename, fsync dir)."""
    payload = serialize_store(data)
    atomic_write(path, payload, mode=0o600, tmp_name=store_tmp_name(path))
    return payload


# ---------------------------------------------------------------- entries


def session_id_unsafe(sid: JsonValue) -> str | None:
    """Why OpenClaw v5.28 would drop this sessionId, or None when it is safe."""
    if not isinstance(sid, str) or not sid:
        return "sessionId is missing or not a string"
    if len(sid) > 255:
        return "sessionId is longer than 255 characters"
    if "/" in sid or "\\" in sid:
        return "sessionId contains a path separator"
    if not SAFE_SESSION_ID.match(sid):
        return "sessionId has characters OpenClaw rejects"
    return None


def entry_shape_problem(entry: JsonValue) -> str | None:
    if not isinstance(entry, dict):
        return f"entry is a JSON {json_type(entry)}, not an object"
    why = session_id_unsafe(entry.get("sessionId"))
    if why:
        return why
    ua = entry.get("updatedAt")
    if not isinstance(ua, int | float) or isinstance(ua, bool):
        return "updatedAt is missing or not a number"
    return None


_MAX_SAFE = 2**53 - 1  # Number.MAX_SAFE_INTEGER: no timestamp or counter OpenClaw writes is larger


def num(v: JsonValue) -> int | None:
    """A store timestamp/number as int, or None when absent, of the wrong type, not finite
    or beyond ±2**53 (1e300 as an updatedAt is garbage, not a date far in the future)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if v != v or not -_MAX_SAFE <= v <= _MAX_SAFE:
        return None
    return int(v)


@dataclass(frozen=True, slots=True)
class TranscriptRef:
    """Where an entry's transcript lives, or why it cannot be used."""

    path: Path | None  # resolved path inside the sessions folder (may not exist yet)
    source: Literal["sessionFile", "relocated", "sibling", "sessionId", "none"]
    outside: str | None = None  # the sessionFile value that resolves outside (a finding)


_NOT_FILES = frozenset({"symlink", "directory", "prompt_blobs"})


def resolve_transcript(
    entry: JsonObj,
    sessions_dir: Path,
    agent_id: str,
    state_dir: Path,
    listed: Mapping[str, FileInfo] | None = None,
) -> TranscriptRef:
    """Entry → transcript path, exactly as format doc §3. Never returns a path
    outside the sessions folder (or a sibling agent's sessions folder).

    `listed` is the sessions folder's inventory (name → transcripts.FileInfo) when the
    caller has one: a sessionFile that names a file of the (resolved) sessions folder
    directly, and that the listing saw as neither a symlink nor a folder, is its own
    realpath — no need to resolve it component by component."""
    sf = entry.get("sessionFile")
    outside: str | None = None
    if listed is not None and isinstance(sf, str) and sf.strip():
        head, sep, name = sf.rpartition("/")
        if (
            (head == str(sessions_dir) if sep else not os.path.isabs(sf))
            and name not in ("", ".", "..")
            and (fi := listed.get(name)) is not None
            and fi.kind not in _NOT_FILES
        ):
            # the listing's own Path (built once, reused by every later step)
            return TranscriptRef(fi.path if fi.parent == sessions_dir else sessions_dir / name, "sessionFile")
    if isinstance(sf, str) and sf.strip():
        candidate = Path(sf) if os.path.isabs(sf) else sessions_dir / sf
        inside = resolve_inside(candidate, sessions_dir)
        if inside is not None:
            return TranscriptRef(inside, "sessionFile")
        parts = Path(os.path.normpath(sf)).parts if os.path.isabs(sf) else ()
        if len(parts) >= 4 and parts[-2] == "sessions" and parts[-4] == "agents":
            base = parts[-1]
            if base not in ("", ".", ".."):
                if parts[-3] == agent_id:
                    p = resolve_inside(sessions_dir / base, sessions_dir)
                    if p is not None:
                        return TranscriptRef(p, "relocated")
                else:
                    sib_dir = state_dir / "agents" / parts[-3] / "sessions"
                    sib_root = resolve_inside(sib_dir, state_dir)
                    if sib_root is not None:
                        p = resolve_inside(sib_root / base, sib_root)
                        if p is not None and os.path.realpath(sf) == str(p):
                            return TranscriptRef(p, "sibling")
        outside = sf
    sid = entry.get("sessionId")
    if isinstance(sid, str) and PATH_SESSION_ID.match(sid):
        name = f"{sid}.jsonl"
        if listed is not None and (fi := listed.get(name)) is not None and fi.kind not in _NOT_FILES:
            return TranscriptRef(
                fi.path if fi.parent == sessions_dir else sessions_dir / name, "sessionId", outside
            )
        p = resolve_inside(sessions_dir / name, sessions_dir)
        if p is not None:
            return TranscriptRef(p, "sessionId", outside)
    return TranscriptRef(None, "none", outside)
