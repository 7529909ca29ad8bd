"""Sessions-folder inventory (format doc §2) and the streaming transcript reader (§5).

The cheap reader answers from the header line, the last line and stat; the deep
reader streams every line. Neither loads a whole file into memory.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from sessionctl.errors import NotRegularFile
from sessionctl.fsio import open_regular
from sessionctl.jsonjs import JS_WHITESPACE, JSONError, JsonObj, JsonValue, decode_utf8
from sessionctl.jsonjs import loads as js_loads
from sessionctl.timeutil import archive_stamp, parse_archive_stamp, parse_iso_ms

FileKind = Literal[
    "store",
    "store_lock",
    "store_tmp",
    "store_bak",
    "transcript",
    "topic",
    "fork",
    "checkpoint",
    "trajectory",
    "acp_stream",
    "lock",
    "archive",
    "repair_leftover",
    "usage_cache",
    "prompt_blobs",
    "directory",
    "symlink",
    "other",
]

_STORE_TMP = re.compile(r"^sessions\.json\.(?:\d+\.)?[0-9a-fA-F-]{8,}\.tmp$")
_STORE_BAK = re.compile(r"^sessions\.json\.bak\.(\d+)$")
_ARCHIVE = re.compile(r"^(?P<base>.+?)\.(?P<reason>reset|deleted|bak)\.(?P<ts>\d{4}-\d{2}-\d{2}T[0-9.\-]+Z)$")
_LEFTOVER_BAK = re.compile(r"^(?P<base>.+\.jsonl)\.bak-(?P<pid>\d+)-(?P<ms>\d+)$")
_LEFTOVER_TMP = re.compile(r"^(?P<base>.+\.jsonl)\.repair-(?P<pid>\d+)-(?P<ms>\d+)\.tmp$")
_CHECKPOINT = re.compile(r"^(?P<base>.+)\.checkpoint\.(?P<uuid>[0-9A-Za-z-]+)\.jsonl$")
_TRAJ = re.compile(r"^(?P<owner>.+?)\.(?:trajectory\.jsonl|trajectory-path\.json)$")
_ACP = re.compile(r"^(?P<sid>.+)\.acp-stream\.jsonl$")
_TOPIC = re.compile(r"^(?P<sid>.+?)-topic-(?P<topic>.+)\.jsonl$")
_FORK = re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2}T[0-9\-.]+Z?)_(?P<sid>.+)\.jsonl$")
_USAGE = re.compile(r"^\.usage-cost-cache\.json(?:\..*)?$")


@dataclass(slots=True)
class FileInfo:
    name: str
    parent: Path  # the sessions folder
    kind: FileKind
    size: int = 0
    mtime_ms: int = 0
    session_id: str | None = None  # id embedded in the name (primary/topic/fork/acp)
    owner: str | None = None  # file name this one belongs to (sidecars, checkpoints, archives, locks)
    archive_reason: str | None = None
    archive_ts_ms: int | None = None
    _path: Path | None = field(default=None, repr=False, compare=False)

    @property
    def path_str(self) -> str:
        """str(self.path) without building the Path (reports name 50,000 orphans)."""
        return os.path.join(str(self.parent), self.name)

    @property
    def path(self) -> Path:
        """parent / name, built on first use (a folder of 100,000 files needs few of them)."""
        p = self._path
        if p is None:
            p = self._path = self.parent / self.name
        return p


@dataclass
class Inventory:
    sessions_dir: Path
    files: list[FileInfo] = field(default_factory=list)
    by_name: dict[str, FileInfo] = field(default_factory=dict)
    error: str | None = None

    def of_kind(self, *kinds: str) -> Iterator[FileInfo]:
        return (f for f in self.files if f.kind in kinds)


def classify(name: str) -> tuple[FileKind, JsonObj]:
    """Classify a file name found in a sessions folder.

    Each pattern is tried only when a plain string test that every name it matches
    passes (a literal it contains, a suffix) says it can match: a folder holds 100,000
    names and most are plain `<sessionId>.jsonl` or archives."""
    if name == "sessions.json":
        return "store", {}
    if name == "sessions.json.lock":
        return "store_lock", {"owner": "sessions.json"}
    if name.startswith(".usage-cost-cache.json") and _USAGE.match(name):
        return "usage_cache", {}
    if name.endswith(".lock"):
        return "lock", {"owner": name[: -len(".lock")]}
    # `$` also matches before one final newline: suffix tests use the name without it
    core = name[:-1] if name.endswith("\n") else name
    if name.startswith("sessions.json."):
        if core.endswith(".tmp") and _STORE_TMP.match(name):
            return "store_tmp", {}
        if m := _STORE_BAK.match(name):
            return "store_bak", {"archive_ts_ms": int(m.group(1))}
    if core.endswith("Z") and (m := _ARCHIVE.match(name)):
        return "archive", {
            "owner": m.group("base"),
            "archive_reason": m.group("reason"),
            "archive_ts_ms": parse_archive_stamp(m.group("ts")),
        }
    if (".jsonl.bak-" in name or ".jsonl.repair-" in name) and (
        m := _LEFTOVER_BAK.match(name) or _LEFTOVER_TMP.match(name)
    ):
        return "repair_leftover", {"owner": m.group("base"), "archive_ts_ms": int(m.group("ms"))}
    if not name.endswith(".jsonl") and not name.endswith(".trajectory-path.json"):
        return "other", {}
    if ".checkpoint." in name and (m := _CHECKPOINT.match(name)):
        return "checkpoint", {"owner": m.group("base") + ".jsonl"}
    if ".trajectory" in name and (m := _TRAJ.match(name)):
        owner = m.group("owner")
        return "trajectory", {"owner": owner if owner.endswith(".jsonl") else owner + ".jsonl"}
    if ".acp-stream.jsonl" in name and (m := _ACP.match(name)):
        return "acp_stream", {"session_id": m.group("sid"), "owner": m.group("sid") + ".jsonl"}
    if name[4:5] == "-" and (m := _FORK.match(name)):
        return "fork", {"session_id": m.group("sid")}
    if "-topic-" in name and (m := _TOPIC.match(name)):
        return "topic", {"session_id": m.group("sid")}
    return "transcript", {"session_id": name[: -len(".jsonl")]}


def scan_sessions_dir(sessions_dir: Path) -> Inventory:
    """List and classify every entry of a sessions folder with one scandir + stat each."""
    inv = Inventory(sessions_dir)
    try:
        it = os.scandir(sessions_dir)
    except FileNotFoundError:
        inv.error = "sessions folder does not exist"
        return inv
    except OSError as exc:
        inv.error = f"cannot list sessions folder: {exc.strerror or exc}"
        return inv
    parent = Path(sessions_dir)
    with it:
        for de in it:
            name = de.name
            try:
                if de.is_symlink():
                    kind: FileKind = "symlink"
                    extra: JsonObj = {}
                    st = de.stat(follow_symlinks=False)
                elif de.is_dir(follow_symlinks=False):
                    kind, extra = ("prompt_blobs" if name == "skills-prompts" else "directory"), {}
                    st = de.stat(follow_symlinks=False)
                else:
                    kind, extra = classify(name)
                    st = de.stat(follow_symlinks=False)
            except OSError:
                continue
            fi = FileInfo(name, parent, kind, st.st_size, st.st_mtime_ns // 1_000_000, **extra)
            inv.files.append(fi)
            inv.by_name[name] = fi
    return inv


# a folder changed more recently than this when it is listed is not offered for reuse:
# the kernel stamps a change with a coarse clock (a few ms), so a change in the same tick
# as the listing could leave the folder's mtime as it was
_STAMP_MARGIN_NS = 100_000_000


def scan_sessions_dir_stamped(sessions_dir: Path) -> tuple[tuple[int, int, int] | None, Inventory]:
    """scan_sessions_dir, with the folder's (inode, mtime, ctime) taken before the listing
    when they identify it: unchanged later means no name was added, removed or renamed
    since (RunContext.planned_inventory). None when the folder changed within the last
    moment (or cannot be stat'ed, or changed while being listed): a later change stamps
    the folder with the time then, which differs from an mtime older than the margin."""
    try:
        before = os.stat(sessions_dir, follow_symlinks=False)
    except OSError:
        return None, scan_sessions_dir(sessions_dir)
    now_ns = time.time_ns()
    inv = scan_sessions_dir(sessions_dir)
    stamp: tuple[int, int, int] | None = (before.st_ino, before.st_mtime_ns, before.st_ctime_ns)
    try:
        after = os.stat(sessions_dir, follow_symlinks=False)
    except OSError:
        return None, inv
    if (
        inv.error is not None
        or (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) != stamp
        or before.st_mtime_ns > now_ns - _STAMP_MARGIN_NS
    ):
        stamp = None
    return stamp, inv


# ---------------------------------------------------------------- reading

HEADER_LIMIT = 1 << 20  # a header line longer than 1 MiB is not a header
TAIL_CHUNK = 64 << 10
TAIL_LIMIT = 8 << 20
# first reads: a header line is ~200 bytes and most last lines a few KB; each read that
# comes up short doubles (so the spans still reach exactly HEADER_LIMIT / TAIL_LIMIT)
HEAD_FIRST = 4 << 10
TAIL_FIRST = 16 << 10


@dataclass(slots=True)
class TranscriptFacts:
    """What the cheap reader learns: header, tail, size. Deep fields are None unless deep."""

    path: Path
    size: int = 0
    mtime_ms: int = 0
    error: str | None = None  # could not open/read (not a regular file, permission...)
    header_ok: bool = False
    header_problem: str | None = None
    header_id: str | None = None
    header_ts_ms: int | None = None
    ends_with_newline: bool = True
    tail_partial: bytes | None = None  # bytes after the last newline (truncated tail)
    tail_bytes_cut: int = 0
    last_ts_ms: int | None = None
    last_line_ok: bool = True
    # deep mode
    lines: int | None = None
    bad_lines: list[int] | None = None  # 1-based line numbers of unparseable middle lines
    broken_parents: list[int] | None = None
    deep_last_ts_ms: int | None = None


BLANK = object()  # js_line: a line OpenClaw's reader skips as blank
BAD = object()  # js_line: a line JSON.parse rejects (OpenClaw skips it silently)


def js_line(line: bytes, *, first: bool = False, last: bool = False) -> JsonValue:
    """One JSONL line as OpenClaw reads a transcript (pi-coding-agent's
    loadEntriesFromFile: `content.trim().split("\n")`, lines blank after `trim()`
    skipped, each other one `JSON.parse`d, failures skipped): the parsed value, BLANK or
    BAD. `first`/`last`: the line starts/ends the content, so JavaScript's trim() of the
    whole content strips its leading/trailing whitespace too (a byte-order mark included)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    text = decode_utf8(line)
    if first:
        text = text.lstrip(JS_WHITESPACE)
    if last:
        text = text.rstrip(JS_WHITESPACE)
    if not text.strip(JS_WHITESPACE):
        return BLANK
    try:
        return js_loads(text)
    except JSONError:
        return BAD


def _judge_header(obj: JsonValue, line_no: int) -> tuple[bool, str | None, str | None, int | None]:
    """OpenClaw's header test: the first entry it parses must have type "session" and a
    string id (`header.type !== "session" || typeof header.id !== "string"` → the file
    is replaced by a fresh header)."""
    where = "first line" if line_no == 1 else f"line {line_no} (the first that parses)"
    if not isinstance(obj, dict):
        return False, f"{where} is not a JSON object", None, None
    if obj.get("type") != "session":
        return False, f'{where} is not a session header (type != "session")', None, None
    hid = obj.get("id")
    if not isinstance(hid, str):
        return False, "session header has no id", None, None
    ts = obj.get("timestamp")
    return True, None, hid, parse_iso_ms(ts) if isinstance(ts, str) else None


def _parse_header(head: bytes, whole: bool) -> tuple[bool, str | None, str | None, int | None]:
    """The header as OpenClaw finds it in the first bytes of a transcript (`head`;
    `whole` when they are the whole file): the first line that is neither blank nor
    rejected by JSON.parse. Line 1 is tried first, as bytes (the common case)."""
    nl = head.find(b"\n")
    first = js_line(head[:nl] if nl >= 0 else head, first=True, last=nl < 0 and whole)
    if first is not BAD and first is not BLANK:
        return _judge_header(first, 1)
    lines = head.split(b"\n")
    if not whole:
        lines = lines[:-1]  # the last piece may be cut short
    started = False
    for n, line in enumerate(lines, 1):
        obj = js_line(line, first=not started, last=whole and n == len(lines))
        if obj is BLANK:
            continue
        started = True
        if obj is not BAD:
            return _judge_header(obj, n)
    if whole:
        return False, "no line of the file is valid JSON", None, None
    return False, "first line is not valid JSON", None, None


def _line_ts(line: bytes) -> int | None:
    obj = js_line(line)
    if isinstance(obj, dict):
        ts = obj.get("timestamp")
        if isinstance(ts, str):
            return parse_iso_ms(ts)
    return None


def read_facts(
    path: Path, *, size: int | None = None, mtime_ms: int = 0, last_line: bool = True
) -> TranscriptFacts:
    """Cheap read: header line, last complete line and whether the file ends in '\\n'.

    `last_line=False` (repair: it needs no timestamp): a file that ends in '\\n' costs one
    byte at its end instead of its last line (`last_ts_ms` stays None); the tail of one
    that does not is read as usual."""
    facts = TranscriptFacts(path)
    try:
        with open_regular(path) as fd:
            st = os.fstat(fd)
            facts.size = st.st_size
            facts.mtime_ms = st.st_mtime_ns // 1_000_000
            if facts.size == 0:
                facts.header_problem = "file is empty"
                return facts
            head = os.pread(fd, min(HEAD_FIRST, facts.size), 0)
            nl = head.find(b"\n")
            if nl < 0 and facts.size > len(head):
                # long first line: read on (doubling), bounded
                buf = bytearray(head)
                while nl < 0 and len(buf) < min(facts.size, HEADER_LIMIT):
                    more = os.pread(fd, min(len(buf), HEADER_LIMIT - len(buf)), len(buf))
                    if not more:
                        break
                    k = more.find(b"\n")
                    if k >= 0:
                        nl = len(buf) + k
                        buf += more[: k + 1]
                    else:
                        buf += more
                head = bytes(buf)
            if nl < 0 and len(head) >= HEADER_LIMIT:
                facts.header_problem = "first line is longer than 1 MiB"
            else:
                ok, problem, hid, hts = _parse_header(head, len(head) >= facts.size)
                if not ok and len(head) < min(facts.size, HEADER_LIMIT):
                    # OpenClaw skips what JSON.parse rejects: the header may be a later line
                    more = os.pread(fd, min(facts.size, HEADER_LIMIT) - len(head), len(head))
                    head += more
                    ok, problem, hid, hts = _parse_header(head, len(head) >= facts.size)
                facts.header_ok, facts.header_problem, facts.header_id, facts.header_ts_ms = (
                    ok,
                    problem,
                    hid,
                    hts,
                )
            if last_line or os.pread(fd, 1, facts.size - 1) != b"\n":
                _read_tail(fd, facts)
    except OSError as exc:
        facts.error = read_error(exc)
    return facts


def read_error(exc: OSError) -> str:
    """TranscriptFacts.error for a transcript that could not be read: "transcript is a
    symbolic link (not followed)" and the like (NotRegularFile), else "cannot read
    transcript: <why>"."""
    if isinstance(exc, NotRegularFile):
        return f"transcript {exc.strerror}"
    return f"cannot read transcript: {exc.strerror or exc}"


def _read_tail(fd: int, facts: TranscriptFacts) -> None:
    """Find the last complete line (for its timestamp) and any unterminated tail.

    `tail_partial`/`tail_bytes_cut` describe bytes after the last '\n'. When the file
    has no '\n' at all, tail_bytes_cut == size: the only line is unterminated.
    """
    size = facts.size
    start = max(0, size - TAIL_FIRST)
    buf = os.pread(fd, size - start, start)
    facts.ends_with_newline = buf.endswith(b"\n")
    while start > 0 and buf.count(b"\n") < 2 and size - start < TAIL_LIMIT:
        new_start = max(0, start - min(size - start, TAIL_LIMIT - (size - start)))  # double the span
        buf = os.pread(fd, start - new_start, new_start) + buf
        start = new_start
    last_nl = buf.rfind(b"\n")
    if facts.ends_with_newline:
        complete = buf[:-1]
    else:
        partial = buf[last_nl + 1 :]
        facts.tail_bytes_cut = size - (start + last_nl + 1)
        facts.tail_partial = partial[:4096]
        if len(partial) == facts.tail_bytes_cut:
            facts.last_line_ok = js_line(partial, first=facts.tail_bytes_cut == size, last=True) is not BAD
        else:
            facts.last_line_ok = False
        complete = buf[:last_nl] if last_nl >= 0 else b""
    k = complete.rfind(b"\n")
    if k >= 0:
        last = complete[k + 1 :]
    elif start == 0:
        last = complete
    else:
        last = b""  # last line longer than the tail window: timestamp unknown
    if last:
        facts.last_ts_ms = _line_ts(last)


def iter_lines(path: Path, chunk: int = 1 << 20) -> Iterator[tuple[int, int, bytes, bool]]:
    """Stream (line_no, offset, line_without_newline, has_newline) for every line.
    Linear also for a line much longer than `chunk` (its pieces are collected once)."""
    with open_regular(path) as fd:
        offset = 0
        line_no = 0
        pending = bytearray()
        while True:
            data = os.read(fd, chunk)
            if not data:
                break
            start = 0
            while True:
                nl = data.find(b"\n", start)
                if nl < 0:
                    break
                if pending:
                    pending += data[start:nl]
                    line = bytes(pending)
                    pending.clear()
                else:
                    line = data[start:nl]
                line_no += 1
                yield line_no, offset, line, True
                offset += len(line) + 1
                start = nl + 1
            pending += data[start:]
        if pending:
            line_no += 1
            yield line_no, offset, bytes(pending), False


def deep_scan(path: Path, facts: TranscriptFacts) -> TranscriptFacts:
    """Parse every line: bad lines, broken parentIds, last timestamp.

    Lines are judged as OpenClaw reads them (js_line): blank lines are skipped, the
    first line that parses is the header, every other non-blank line JSON.parse
    rejects — or that is not an object — is bad (OpenClaw skips it silently). Reads
    1 MiB chunks and parses each line once (orjson; sessionctl.jsonjs only for what
    orjson rejects); only the last timestamp string is converted (when it does not
    parse, `_deep_scan_exact` redoes the file the slow way, converting every one)."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    seen: set[str] = set()
    add = seen.add
    bad: list[int] = []
    broken: list[int] = []
    early: list[int] = []  # unparseable lines before the header (bad once a header follows)
    last_text: str | None = None
    header = False
    n = 0

    def slow(line: bytes, last: bool) -> JsonValue:
        return js_line(line, first=not header and not early, last=last)

    try:
        with open_regular(path) as fd:
            buf = bytearray()  # the unfinished line (linear also for one very long line)
            while True:
                data = os.read(fd, 1 << 20)
                if not data:
                    break
                nl = data.rfind(b"\n")
                if nl < 0:
                    buf += data
                    continue
                if buf:
                    buf += data[:nl]
                    chunk = bytes(buf)
                    buf = bytearray(data[nl + 1 :])
                else:
                    chunk = data[:nl]
                    buf = bytearray(data[nl + 1 :])
                for line in chunk.split(b"\n"):
                    n += 1
                    try:
                        obj = loads(line)
                    except decode_error:
                        obj = slow(line, False)
                        if obj is BLANK:
                            continue
                        if obj is BAD:
                            (bad if header else early).append(n)
                            continue
                    if not header:
                        header = True
                        bad.extend(early)
                        if type(obj) is dict:
                            hid = obj.get("id")
                            if isinstance(hid, str):
                                add(hid)
                        continue
                    if type(obj) is not dict:
                        bad.append(n)
                        continue
                    pid = obj.get("parentId")
                    if pid is not None and (type(pid) is not str or pid not in seen):
                        broken.append(n)
                    oid = obj.get("id")
                    if type(oid) is str:
                        add(oid)
                    ts = obj.get("timestamp")
                    if type(ts) is str:
                        last_text = ts
            if buf:  # the last line has no newline: never "bad", but it counts
                n += 1
                obj = slow(bytes(buf), True)
                if header and type(obj) is dict:
                    pid = obj.get("parentId")
                    if pid is not None and (type(pid) is not str or pid not in seen):
                        broken.append(n)
                    ts = obj.get("timestamp")
                    if type(ts) is str:
                        last_text = ts
                elif not header and obj is not BAD and obj is not BLANK:
                    bad.extend(early)
    except OSError as exc:
        facts.error = read_error(exc)
        return facts
    last_ts = parse_iso_ms(last_text) if last_text is not None else None
    if last_text is not None and last_ts is None:
        return _deep_scan_exact(path, facts)
    facts.lines = n
    facts.bad_lines = bad
    facts.broken_parents = broken
    facts.deep_last_ts_ms = last_ts
    return facts


def _deep_scan_exact(path: Path, facts: TranscriptFacts) -> TranscriptFacts:
    """deep_scan converting every timestamp: the last one that converts wins."""
    seen: set[str] = set()
    bad: list[int] = []
    broken: list[int] = []
    early: list[int] = []
    header = False
    last_ts: int | None = None
    n = 0
    try:
        for line_no, _off, line, has_nl in iter_lines(path):
            n = line_no
            obj = js_line(line, first=not header and not early, last=not has_nl)
            if obj is BLANK:
                continue
            if obj is BAD:
                if has_nl:
                    (bad if header else early).append(line_no)
                continue
            if not header:
                header = True
                bad.extend(early)
                if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                    seen.add(obj["id"])
                continue
            if not isinstance(obj, dict):
                if has_nl:
                    bad.append(line_no)
                continue
            pid = obj.get("parentId")
            if pid is not None and (not isinstance(pid, str) or pid not in seen):
                broken.append(line_no)
            oid = obj.get("id")
            if isinstance(oid, str):
                seen.add(oid)
            ts = obj.get("timestamp")
            if isinstance(ts, str):
                t = parse_iso_ms(ts)
                if t is not None:
                    last_ts = t
    except OSError as exc:
        facts.error = read_error(exc)
        return facts
    facts.lines = n
    facts.bad_lines = bad
    facts.broken_parents = broken
    facts.deep_last_ts_ms = last_ts
    return facts


_STAMPS: dict[int, str] = {}  # archive stamps by ms: a plan of 28,000 archives reuses a few


def unique_archive_path(
    path: Path | str,
    reason: str,
    at_ms: int,
    taken: set[str],
    exists: Callable[[str], bool] = os.path.lexists,
) -> str:
    """`<path>.<reason>.<stamp>` — OpenClaw's archive name (`deleted`, `reset`, `bak`) —
    that exists neither on disk nor in `taken` (the paths this plan already gave out);
    the stamp moves on by 1 ms until it is free. A string: 28,000 Path objects cost more
    than the renames. `exists` is the test for "on disk": gc and archive's pure planner
    pass one that looks the name up in their folder listing (the rename itself refuses
    to clobber a file made since: fsio.durable_rename)."""
    ms = at_ms
    base = str(path)  # the name gets a suffix: same folder, so plain string concatenation
    while True:
        stamp = _STAMPS.get(ms)
        if stamp is None:
            stamp = _STAMPS[ms] = archive_stamp(ms)
        cand = f"{base}.{reason}.{stamp}"
        if cand not in taken and not exists(cand):
            taken.add(cand)
            return cand
        ms += 1
