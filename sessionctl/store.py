"""Reading and writing sessions.json faithfully (format doc §3, §7).

orjson keeps key order and every unknown field; an unchanged store re-serialises
byte-identically to what OpenClaw writes (2-space indent, no trailing newline,
non-ASCII kept).
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from sessionctl.errors import DataError
from sessionctl.fsio import NotRegularFile, atomic_write, read_bytes, resolve_inside, store_tmp_name

StoreStatus = Literal["ok", "missing", "empty", "unparseable", "not_object", "unreadable"]

SAFE_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")
PATH_SESSION_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$", re.IGNORECASE)


@dataclass
class StoreLoad:
    """The result of reading one sessions.json. `data` is set only when status == ok."""

    path: Path
    status: StoreStatus
    data: dict[str, Any] | None = None
    raw: bytes | None = None
    size: int = 0
    mtime_ns: int = 0
    ino: int = 0
    error: str | None = None
    canonical: bool = True  # re-serialises to the exact bytes read
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _decode_error(exc: Exception, raw: bytes) -> str:
    pos = getattr(exc, "pos", None)
    msg = str(exc).split(":")[0] if str(exc) else "invalid JSON"
    if isinstance(pos, int) and 0 <= pos <= len(raw):
        line = raw.count(b"\n", 0, pos) + 1
        col = pos - (raw.rfind(b"\n", 0, pos) + 1) + 1
        return f"{msg} at line {line}, column {col} (byte {pos})"
    return msg


def parse_store_bytes(raw: bytes) -> tuple[StoreStatus, dict[str, Any] | None, str | None]:
    """Classify and parse store bytes the way OpenClaw's JSON.parse would see them."""
    if len(raw) == 0:
        return "empty", None, "the file is empty (0 bytes)"
    if raw.strip() == b"":
        return "empty", None, "the file holds only whitespace"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = str(exc)
        if "Integer" in text or ("number" in text.lower() and "range" in text.lower()):
            # JSON.parse accepts integers beyond 64 bits; read them, but we will refuse to rewrite.
            import json

            try:
                data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc2:
                return "unparseable", None, str(exc2)
        else:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as uexc:
                return "unparseable", None, f"not valid UTF-8 at byte {uexc.start}"
            if raw.startswith(b"\xef\xbb\xbf"):
                return "unparseable", None, "starts with a UTF-8 byte-order mark, which JSON.parse rejects"
            return "unparseable", None, _decode_error(exc, raw)
    if not isinstance(data, dict):
        return "not_object", None, f"the top level is a JSON {type(data).__name__}, not an object"
    return "ok", data, None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_store(path: Path) -> StoreLoad:
    """Read and parse a store. Never raises for bad content; I/O trouble → 'unreadable'."""
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        return StoreLoad(path, "missing", error="sessions.json does not exist")
    except NotRegularFile as exc:
        return StoreLoad(path, "unreadable", error=f"sessions.json {exc.strerror}")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return StoreLoad(path, "missing", error="sessions.json does not exist")
        return StoreLoad(path, "unreadable", error=f"cannot read sessions.json: {exc.strerror or exc}")
    try:
        st = os.stat(path, follow_symlinks=False)
        mtime_ns, ino = st.st_mtime_ns, st.st_ino
    except OSError:
        mtime_ns, ino = 0, 0
    status, data, error = parse_store_bytes(raw)
    load = StoreLoad(path, status, data, raw, len(raw), mtime_ns, ino, error)
    return load


def serialize_store(data: dict[str, Any]) -> bytes:
    """Serialise like OpenClaw: JSON.stringify(store, null, 2), no trailing newline."""
    try:
        return orjson.dumps(data, option=orjson.OPT_INDENT_2)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise DataError(
            f"the store holds a value sessionctl cannot write back faithfully ({exc})",
            hint="inspect the store by hand; sessionctl will not rewrite it",
        ) from None


def is_canonical(load: StoreLoad) -> bool:
    """True when re-serialising the parsed store gives back the exact bytes read."""
    if load.data is None or load.raw is None:
        return False
    try:
        return orjson.dumps(load.data, option=orjson.OPT_INDENT_2) == load.raw
    except (orjson.JSONEncodeError, TypeError):
        return False


def write_store(path: Path, data: dict[str, Any]) -> bytes:
    """Atomically replace a store (OpenClaw temp naming, 0600, fsync, rename, fsync dir)."""
    payload = serialize_store(data)
    atomic_write(path, payload, mode=0o600, tmp_name=store_tmp_name(path))
    return payload


# ---------------------------------------------------------------- entries


def session_id_unsafe(sid: Any) -> str | None:
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


def entry_shape_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"entry is a JSON {type(entry).__name__}, not an object"
    why = session_id_unsafe(entry.get("sessionId"))
    if why:
        return why
    ua = entry.get("updatedAt")
    if not isinstance(ua, int | float) or isinstance(ua, bool):
        return "updatedAt is missing or not a number"
    return None


def num(v: Any) -> int | None:
    """A store timestamp/number as int, or None when absent/wrong type."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if v != v or v in (float("inf"), float("-inf")):
        return None
    return int(v)


@dataclass(frozen=True, slots=True)
class TranscriptRef:
    """Where an entry's transcript lives, or why it cannot be used."""

    path: Path | None  # resolved path inside the sessions folder (may not exist yet)
    source: Literal["sessionFile", "relocated", "sibling", "sessionId", "none"]
    outside: str | None = None  # the sessionFile value that resolves outside (a finding)


def resolve_transcript(
    entry: dict[str, Any], sessions_dir: Path, agent_id: str, state_dir: Path
) -> TranscriptRef:
    """Entry → transcript path, exactly as format doc §3. Never returns a path
    outside the sessions folder (or a sibling agent's sessions folder)."""
    sf = entry.get("sessionFile")
    outside: str | None = None
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
        p = resolve_inside(sessions_dir / f"{sid}.jsonl", sessions_dir)
        if p is not None:
            return TranscriptRef(p, "sessionId", outside)
    return TranscriptRef(None, "none", outside)
