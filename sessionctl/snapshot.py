"""One agent's store, folder inventory and transcript facts, read once.

This is the snapshot that every check and policy is a pure function of.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast

from sessionctl.config import normalize_agent_id
from sessionctl.discovery import AgentStore
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.keys import ParsedKey, parse_key
from sessionctl.store import (
    StoreLoad,
    TranscriptRef,
    entry_shape_problem,
    load_store,
    num,
    require_access,
    resolve_transcript,
)
from sessionctl.transcripts import (
    FileInfo,
    Inventory,
    TranscriptFacts,
    classify,
    deep_scan,
    read_facts,
    scan_sessions_dir,
)

ReadMode = Literal["none", "cheap", "deep"]
# the fields of a TranscriptFacts after its path, in order (_FACT_FIELDS): what the
# read-ahead child sends of a file it read (read_entry_facts adds its own Path)
FactFields: TypeAlias = tuple[object, ...]
# cheap transcript facts read earlier in a run, by path: by this process
# (RunContext.facts_cache) or by the read-ahead child (FactsPrefetch.collect)
FactsCache: TypeAlias = Mapping[str, TranscriptFacts | FactFields]


@dataclass(slots=True)
class EntryView:
    key: str
    parsed: ParsedKey
    entry: JsonValue  # the store's value for the key, as parsed (shape_problem: not an object)
    shape_problem: str | None
    ref: TranscriptRef
    facts: TranscriptFacts | None = None

    @property
    def obj(self) -> JsonObj:
        return self.entry if isinstance(self.entry, dict) else {}

    @property
    def session_id(self) -> str | None:
        sid = self.obj.get("sessionId")
        return sid if isinstance(sid, str) else None

    @property
    def updated_at(self) -> int | None:
        return num(self.obj.get("updatedAt"))

    def started_ms(self) -> tuple[int | None, str]:
        """Session start: sessionStartedAt, else transcript header timestamp, else the
        earliest evidence (startedAt, updatedAt, lastInteractionAt, transcript mtime)."""
        o = self.obj
        v = num(o.get("sessionStartedAt"))
        if v is not None:
            return v, "sessionStartedAt"
        if self.facts is not None and self.facts.header_ts_ms is not None:
            return self.facts.header_ts_ms, "transcript header"
        cands = [
            (t, src)
            for t, src in (
                (num(o.get("startedAt")), "startedAt"),
                (num(o.get("updatedAt")), "updatedAt"),
                (num(o.get("lastInteractionAt")), "lastInteractionAt"),
                (
                    self.facts.mtime_ms if self.facts is not None and self.facts.size else None,
                    "transcript mtime",
                ),
            )
            if t is not None
        ]
        if not cands:
            return None, "none"
        return min(cands)

    def last_active_ms(self) -> tuple[int | None, str]:
        """Last activity: the latest of lastInteractionAt, updatedAt and the last
        transcript line's timestamp (any of them proves the session was in use)."""
        o = self.obj
        cands = [
            (t, src)
            for t, src in (
                (num(o.get("lastInteractionAt")), "lastInteractionAt"),
                (num(o.get("updatedAt")), "updatedAt"),
                (
                    self.facts.deep_last_ts_ms or self.facts.last_ts_ms if self.facts is not None else None,
                    "transcript",
                ),
            )
            if t is not None
        ]
        if not cands:
            return None, "none"
        return max(cands)

    def total_tokens(self) -> int | None:
        o = self.obj
        t = num(o.get("totalTokens"))
        if t is None:
            i, out = num(o.get("inputTokens")), num(o.get("outputTokens"))
            if i is not None or out is not None:
                t = (i or 0) + (out or 0)
        return t


@dataclass
class AgentSnapshot:
    store: AgentStore
    load: StoreLoad
    inventory: Inventory
    entries: list[EntryView] = field(default_factory=list)
    # file name (in the sessions folder) → session keys that reference it
    referenced: dict[str, list[str]] = field(default_factory=dict)

    @property
    def agent_id(self) -> str:
        return self.store.agent_id

    def entry(self, key: str) -> EntryView | None:
        for e in self.entries:
            if e.key == key:
                return e
        return None

    def is_referenced(self, fi: FileInfo) -> bool:
        """A file is in use if an entry references it or the transcript it belongs to."""
        return file_refs(fi, self.referenced) is not None


PROMPT_HASH_LEN = 64


def prompt_ref(entry: JsonValue) -> JsonValue:
    ss = entry.get("skillsSnapshot") if isinstance(entry, dict) else None
    return ss.get("promptRef") if isinstance(ss, dict) else None


_HEX = re.compile("[0-9a-f]+")


def prompt_ref_paths(refs: Iterable[JsonValue], sessions_dir: Path) -> list[Path]:
    """The skill-prompt blobs (skills-prompts/sha256/<2 hex>/<hash>.txt) that the given
    skillsSnapshot.promptRef values reference by their `hash` and that exist as regular
    files (store.load_store(plan=True) keeps the refs: StoreLoad.prompt_refs). A `sha256:`
    prefix on the hash is accepted."""
    out: list[Path] = []
    seen: set[str] = set()
    for ref in refs:
        h = ref.get("hash") if isinstance(ref, dict) else None
        if not isinstance(h, str):
            continue
        h = h.strip().lower().removeprefix("sha256:")
        if len(h) != PROMPT_HASH_LEN or h in seen or not _HEX.fullmatch(h):
            continue
        seen.add(h)
        p = sessions_dir / "skills-prompts" / "sha256" / h[:2] / f"{h}.txt"
        if p.is_file() and not p.is_symlink():
            out.append(p)
    return out


def session_agent(snap: AgentSnapshot, ev: EntryView) -> str:
    """The agent a session belongs to: the store's agent, or the key's agent in a store
    shared by all agents."""
    if snap.store.shared and ev.parsed.agent:
        return normalize_agent_id(ev.parsed.agent)
    return snap.agent_id


def _add_ref(refs: dict[str, list[str]], name: str, key: str) -> None:
    lst = refs.get(name)
    if lst is None:
        refs[name] = [key]
    elif lst[-1] != key:
        lst.append(key)


def build_references(entries: Iterable[EntryView], sessions_dir: Path) -> dict[str, list[str]]:
    """Map file names to the keys that keep them in use: the resolved transcript, the
    `<sessionId>.jsonl` name, compaction checkpoints, and `sid:<id>` for files that embed
    a referenced session id (topics, forks, ACP logs)."""
    refs: dict[str, list[str]] = {}
    sdir = str(sessions_dir)
    for ev in entries:
        if ev.ref.path is not None and str(ev.ref.path.parent) == sdir:
            _add_ref(refs, ev.ref.path.name, ev.key)
        sid = ev.session_id
        if sid:
            _add_ref(refs, f"{sid}.jsonl", ev.key)
            _add_ref(refs, f"sid:{sid}", ev.key)
        cps = ev.obj.get("compactionCheckpoints")
        if isinstance(cps, list):
            for cp in cps:
                if not isinstance(cp, dict):
                    continue
                for side in ("preCompaction", "postCompaction"):
                    part = cp.get(side)
                    sf = part.get("sessionFile") if isinstance(part, dict) else None
                    if isinstance(sf, str) and sf:
                        _add_ref(refs, os.path.basename(sf), ev.key)
    return refs


# the files of a session: transcripts and everything OpenClaw writes beside them for it
SESSION_FILE_KINDS = frozenset({"transcript", "topic", "fork", "checkpoint", "trajectory", "acp_stream"})


def file_refs(fi: FileInfo, refs: Mapping[str, list[str]]) -> list[str] | None:
    """The keys in `refs` (build_references) that keep this file in use: by its own name,
    the transcript it belongs to (sidecars, checkpoints, ACP logs: `owner`), or the
    session id in its name (topics, forks, ACP logs). None when no key does."""
    return (
        refs.get(fi.name)
        or (refs.get(fi.owner) if fi.owner is not None else None)
        or (refs.get(f"sid:{fi.session_id}") if fi.session_id is not None else None)
    )


def session_files(
    snap: AgentSnapshot, gone: Iterable[EntryView], remaining: Mapping[str, list[str]]
) -> tuple[dict[str, list[str]], list[str]]:
    """THE answer to "which files go with these sessions" (gc, dedupe, repair; archive's
    orphans use the same `file_refs`): every file of the agent's sessions folder that
    belongs to one of the `gone` entries — its transcript, topic and forked transcripts,
    compaction checkpoints, trajectory sidecars (`<transcript>.trajectory.jsonl`,
    `.trajectory-path.json`) and ACP stream log — found by name, no I/O.

    Returns (file name → keys of `gone` that own it, for the files no key in `remaining`
    (the references of what stays, build_references) keeps in use; and the names of the
    files that stay because something else still uses them), both sorted by name."""
    gone_refs = build_references(gone, snap.store.sessions_dir)
    if not gone_refs:
        return {}, []
    files: dict[str, list[str]] = {}
    kept: list[str] = []
    for fi in sorted(snap.inventory.files, key=lambda f: f.name):
        if fi.kind not in SESSION_FILE_KINDS:
            continue
        owners = file_refs(fi, gone_refs)
        if not owners:
            continue
        if file_refs(fi, remaining):
            kept.append(fi.name)
        else:
            files[fi.name] = list(owners)
    return files, kept


def sibling_references(
    entries: Mapping[str, JsonValue], own_dir: Path | str
) -> dict[str, dict[str, list[str]]]:
    """sessions folder → file name → keys, for every entry of a store whose `sessionFile`
    (or a compaction checkpoint's) is an absolute path into ANOTHER sessions folder —
    OpenClaw's sibling rule (format doc §3): another agent's live entry keeps that file
    in use. Pure and name-based (no I/O): a file it keeps is only left in place."""
    out: dict[str, dict[str, list[str]]] = {}
    own = str(own_dir)

    def add(sf: JsonValue, key: str) -> None:
        if not isinstance(sf, str) or not sf.startswith("/"):
            return
        norm = os.path.normpath(sf.strip())
        folder, name = os.path.dirname(norm), os.path.basename(norm)
        if folder != own and name:
            out.setdefault(folder, {}).setdefault(name, []).append(key)

    for key, e in entries.items():
        if not isinstance(e, dict):
            continue
        add(e.get("sessionFile"), key)
        cps = e.get("compactionCheckpoints")
        for cp in cps if isinstance(cps, list) else []:
            for side in ("preCompaction", "postCompaction"):
                part = cp.get(side) if isinstance(cp, dict) else None
                if isinstance(part, dict):
                    add(part.get("sessionFile"), key)
    return out


def snapshot_agent(
    store: AgentStore,
    state_dir: Path,
    *,
    main_key: str = "main",
    read: ReadMode = "cheap",
    workers: int = 2,
    load: StoreLoad | None = None,
    slim: bool = False,
    report_denied: bool = False,
    inventory: Inventory | None = None,
    facts_cache: FactsCache | None = None,
) -> AgentSnapshot:
    """Read one agent: parse the store, list the folder, read transcript facts.

    `slim=True` (read-only callers: health, list) parses the store without the big
    diagnostic objects (store.SLIM_DROPPED) and keeps no raw bytes: a fraction of the
    memory. Callers that write the store or journal whole entries must not take its
    entries for whole ones: gc passes a `load` made with store.load_store(plan=True) (slim
    too, with the store's checksum) and reads whole entries again when it acts on them.

    A store the process may not read raises the permission error (77, store.require_access)
    unless `report_denied` (health, which reports it as a finding)."""
    load = load if load is not None else load_store(store.store_path, slim=slim)
    if not report_denied:
        require_access(load, store.agent_id)
    if inventory is None:  # else a listing of the folder made before (RunContext.planned_inventory)
        inventory = scan_sessions_dir(store.sessions_dir)
    snap = AgentSnapshot(store, load, inventory)
    if load.data is None:
        return snap
    sdir = store.sessions_dir
    for key, entry in load.data.items():
        problem = entry_shape_problem(entry)
        ref = (
            resolve_transcript(entry, sdir, store.agent_id, state_dir, inventory.by_name)
            if isinstance(entry, dict)
            else TranscriptRef(None, "none")
        )
        snap.entries.append(EntryView(key, parse_key(key, main_key), entry, problem, ref))
    snap.referenced = build_references(snap.entries, sdir)
    if read != "none":
        read_entry_facts(snap, deep=read == "deep", workers=workers, cache=facts_cache)
    return snap


# deep reads of at least this many bytes are spread over worker processes: line parsing
# is CPU-bound and holds the GIL, so threads would not help; below it forking costs more
PARALLEL_DEEP_BYTES = 32 << 20


def _facts_chunk(paths: list[Path], deep: bool, last_line: bool = True) -> list[TranscriptFacts]:
    """Cheap facts (and with `deep`, every line) of each path, in order."""
    out = []
    for p in paths:
        f = read_facts(p, last_line=last_line)
        out.append(deep_scan(p, f) if deep and f.error is None else f)
    return out


def _deep_in_processes(paths: list[Path], sizes: list[int], workers: int) -> list[TranscriptFacts] | None:
    """Deep-scan `paths` in `workers` forked processes, in chunks balanced by bytes
    (largest files first, each to the least-loaded chunk). None when processes cannot
    be used here (the caller then scans in-process)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        mp = multiprocessing.get_context("fork")
    except ValueError:
        return None
    n_chunks = min(len(paths), workers * 4)
    chunks: list[list[int]] = [[] for _ in range(n_chunks)]
    load = [0] * n_chunks
    for i in sorted(range(len(paths)), key=lambda i: -sizes[i]):
        c = load.index(min(load))
        chunks[c].append(i)
        load[c] += sizes[i] + 4096  # a file costs an open and a stat even when small
    results: list[TranscriptFacts | None] = [None] * len(paths)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp) as ex:
            futures = [(idx, ex.submit(_facts_chunk, [paths[i] for i in idx], True)) for idx in chunks if idx]
            for idx, fut in futures:
                for i, f in zip(idx, fut.result(), strict=True):
                    results[i] = f
    except (OSError, RuntimeError):  # no fork/semaphores here, or a worker died: do it in-process
        return None
    return [f for f in results if f is not None] if all(f is not None for f in results) else None


def scan_transcripts(
    paths: list[Path], sizes: list[int], *, deep: bool = False, workers: int = 2, last_line: bool = True
) -> list[TranscriptFacts]:
    """THE transcript scanner (health, list, gc, repair, prestart): the facts of each path,
    in order. Cheap mode reads each file's first line and tail in-process (a few syscalls
    per file: transcripts.read_facts); deep mode parses every line as JSON.parse would
    (transcripts.deep_scan), spread over `workers` forked processes once the files add up
    to PARALLEL_DEEP_BYTES (`sizes`: the listing's sizes, used only to balance them).
    `last_line=False`: no last-line timestamp (a file ending in a newline costs one byte
    at its end), for callers that judge only the header and the tail (repair)."""
    results: list[TranscriptFacts] | None = None
    if deep and workers > 1 and len(paths) > 1 and sum(sizes) >= PARALLEL_DEEP_BYTES:
        results = _deep_in_processes(paths, sizes, workers)
    if results is None:
        results = _facts_chunk(paths, deep, last_line)
    return results


# gc's plan read: stores of at least this many bytes in all (a few thousand entries) are
# read with the help of a forked child (FactsPrefetch); below it, forking costs more than
# it saves
PREFETCH_MIN_STORE_BYTES = 8 << 20
_PREFETCH_KINDS = frozenset(("transcript", "topic"))
_FACT_FIELDS = tuple(f.name for f in dataclass_fields(TranscriptFacts))[1:]  # all but the path


def facts_from_fields(path: Path, fields: FactFields) -> TranscriptFacts:
    """The TranscriptFacts of `path` from the fields the read-ahead child sent for it
    (_FACT_FIELDS, in order: TranscriptFacts' own fields after the path)."""
    return TranscriptFacts(path, *cast("tuple[Any, ...]", fields))


class FactsPrefetch:
    """gc's plan read on two cores: a forked child reads what this process needs next.

    The child first loads the stores it is given (`load_store(plan=True)`, as this
    process would; slim, so a few MB to send back), then lists each folder and reads the
    cheap facts of every live transcript in it (the same `read_facts`) until this process
    says which ones it wants (`collect(wanted)`, through a second pipe): then just those
    it has not read yet. It sends each part through a pipe as soon as it has it (a
    thread here drains it), and exits. Meanwhile this process parses the
    other stores and builds the snapshots. A store the child sent is what a load here
    would give (the caller still checks its access and status). The facts are only a
    cache (RunContext.facts_cache): `read_entry_facts` takes one only for a file whose
    size and mtime in its own, later listing are what the child read, and reads any
    other file itself — so a file that changed in between, or a child that failed, costs
    a read, never a wrong fact. No fork where it is not safe or not worth it (one CPU,
    other threads running): `start` returns None and everything is read in-process."""

    def __init__(self, pid: int, fd: int, req_fd: int | None = None) -> None:
        import queue
        import threading

        self.pid: int | None = pid
        self.fd: int | None = fd
        self.req_fd = req_fd
        self._stores: dict[str, StoreLoad] = {}
        self._facts: list[tuple[str, FactFields]] | None = None
        self._ended = False  # every message taken (or the child failed)
        # the pipe is drained as the child writes (a thread, blocked in read() without
        # the GIL most of the time): a child that had to wait for this process to ask
        # for its first message (a store, several MB against a pipe of 64 KiB) would
        # stand still meanwhile, instead of reading the transcripts
        self._bodies: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._drain = threading.Thread(target=self._drain_pipe, args=(fd,), daemon=True)
        self._drain.start()

    @classmethod
    def start(
        cls, folders: list[Path], stores: Iterable[Path] = (), *, slim: bool = False
    ) -> FactsPrefetch | None:
        import threading

        if (os.cpu_count() or 1) < 2 or threading.active_count() > 1 or not hasattr(os, "fork"):
            return None
        store_list = list(stores)
        fds: list[int] = []
        try:
            r, w = os.pipe()  # child → this process: stores, then facts
            fds += (r, w)
            req_r, req_w = os.pipe()  # this process → child: the paths it wants (collect)
            fds += (req_r, req_w)
            pid = os.fork()
        except OSError:
            for fd in fds:
                os.close(fd)
            return None
        if pid == 0:  # the child: read, send, exit — never return into the caller
            code = 1
            try:
                os.close(r)
                os.close(req_w)
                _prefetch_child(folders, store_list, w, slim, req_r)
                code = 0
            except BaseException:
                pass
            finally:
                os._exit(code)
        os.close(w)
        os.close(req_r)
        return cls(pid, r, req_w)

    def _drain_pipe(self, fd: int) -> None:
        """The drain thread: each message's body, in order, then None (end or failure)."""
        try:
            while (body := _read_message(fd)) is not None:
                self._bodies.put(body)
        except OSError:
            pass
        finally:
            self._bodies.put(None)

    def _message(self) -> object:
        """The child's next message (None when it failed or ended)."""
        import pickle

        if self.fd is None:
            return None
        body = self._bodies.get()
        if body is None:
            self._bodies.put(None)  # later calls see the end too
            return None
        try:
            return pickle.loads(body)
        except Exception:  # a child that died mid-write: the caller reads in-process
            return None

    def _take(self) -> bool:
        """Take the child's next message: a store it loaded or, last, the facts. False
        once there is none left (or the child failed: then it is stopped)."""
        if self._ended:
            return False
        msg = self._message()
        if isinstance(msg, tuple) and len(msg) == 3 and msg[0] == "store":
            self._stores[msg[1]] = msg[2]
            return True
        if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "facts" and isinstance(msg[1], list):
            self._facts = msg[1]
        self._ended = True
        self.close()
        return False

    def store(self, path: Path) -> StoreLoad | None:
        """The child's load of the store at `path`, waiting for it if it is still being
        read (None when the child was not given it, or failed)."""
        key = str(path)
        while key not in self._stores and self._take():
            pass
        return self._stores.get(key)

    def collect(self, wanted: Iterable[str] | None = None) -> dict[str, FactFields]:
        """The child's facts by path (empty when it failed): the fields of TranscriptFacts
        after its path, in order (read_entry_facts builds the facts of the paths it
        uses, with its own Path objects); reaps the child.

        `wanted` (the transcripts the snapshots refer to): the child, which reads every
        live transcript of the folders in listing order (it cannot know which ones the
        entries refer to), is told to read just those it has not read yet and stop — a
        folder of 50,000 orphans and 10,000 referenced transcripts is not read whole. A
        child that has finished by then has sent everything already."""
        if wanted is not None and self.req_fd is not None and not self._ended:
            with contextlib.suppress(OSError):  # the child has ended (EPIPE): what it sent is read below
                _send_message(self.req_fd, list(wanted))
        while self._take():
            pass
        return dict(self._facts) if self._facts is not None else {}

    def close(self) -> None:
        """Stop the child (if it still runs) and reap it; idempotent."""
        if self.pid is not None:
            pid, self.pid = self.pid, None
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        # the child is gone, so its end of the pipe is closed: the drain thread reads
        # to the end and stops; only then is the read end closed
        self._drain.join()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.req_fd is not None:
            os.close(self.req_fd)
            self.req_fd = None


def _send_message(fd: int, obj: object) -> None:
    """One message of the read-ahead's pipes: an 8-byte length, then `obj` pickled."""
    import pickle

    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(data).to_bytes(8, "big") + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_message(fd: int) -> bytes | None:
    """The body of the next message on `fd` (_send_message), None at the end of the pipe
    (or a message cut short: the writer died)."""
    head = _read_exactly(fd, 8)
    return _read_exactly(fd, int.from_bytes(head, "big")) if head is not None else None


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _prefetch_child(folders: list[Path], stores: list[Path], fd: int, slim: bool, req_fd: int = -1) -> None:
    import pickle
    import select

    def request() -> list[str] | None:
        """The paths the parent wants, once it has said (collect), else None."""
        if req_fd < 0 or not select.select([req_fd], [], [], 0)[0]:
            return None
        body = _read_message(req_fd)
        got = pickle.loads(body) if body is not None else None
        return [p for p in got if isinstance(p, str)] if isinstance(got, list) else []

    def read(path: str) -> None:
        f = read_facts(Path(path))
        if f.error is None:
            rows[path] = tuple(getattr(f, n) for n in _FACT_FIELDS)

    for p in stores:  # one message per store: the first is used while the next loads
        _send_message(fd, ("store", str(p), load_store(p, slim=True) if slim else load_store(p, plan=True)))
    rows: dict[str, FactFields] = {}
    candidates: list[str] = []
    for folder in folders:
        try:
            it = os.scandir(folder)
        except OSError:
            continue
        with it:
            names = [de.name for de in it if de.name.endswith(".jsonl") and de.is_file(follow_symlinks=False)]
        candidates += (os.path.join(folder, n) for n in names if classify(n)[0] in _PREFETCH_KINDS)
    wanted: list[str] | None = None
    for i, path in enumerate(candidates):
        if i % 256 == 0 and (wanted := request()) is not None:
            break
        read(path)
    if wanted is not None:  # the parent is waiting: just what it wants, then stop
        listed = set(candidates)
        for path in wanted:
            if path not in rows and path in listed:
                read(path)
        _send_message(fd, ("facts", [(p, rows[p]) for p in wanted if p in rows]))
    else:
        _send_message(fd, ("facts", list(rows.items())))
    os.close(fd)


def prefetch_facts(
    stores: list[AgentStore], *, load: Iterable[Path] = (), slim: bool = False
) -> FactsPrefetch | None:
    """FactsPrefetch.start over the stores' folders (the child also loading the stores at
    `load`: as gc's plan reads them, or with `slim` as read-only commands do) when their
    stores are big enough to be worth it (PREFETCH_MIN_STORE_BYTES)."""
    total = 0
    for st in stores:
        with contextlib.suppress(OSError):
            total += os.stat(st.store_path).st_size
    if total < PREFETCH_MIN_STORE_BYTES:
        return None
    return FactsPrefetch.start([st.sessions_dir for st in stores], load, slim=slim)


def wanted_paths(snaps: Iterable[AgentSnapshot]) -> list[str]:
    """The transcripts the snapshots' entries refer to (what FactsPrefetch.collect asks
    the child for: read_entry_facts reads the facts of these and of no other file)."""
    return [str(ev.ref.path) for snap in snaps for ev in snap.entries if ev.ref.path is not None]


def last_third(paths: list[Path]) -> list[Path]:
    """The stores a read-ahead child loads: the last third (at least one) of two or more.
    (A third balances the two processes on the 3 x 10,000-entry state: the child's
    share of the transcripts' facts is about what this process spends building the
    snapshots of the stores it parsed itself; two thirds left this process waiting.)"""
    return paths[len(paths) - max(1, len(paths) // 3) :] if len(paths) >= 2 else []


def read_entry_facts(
    snap: AgentSnapshot, *, deep: bool = False, workers: int = 2, cache: FactsCache | None = None
) -> None:
    """Fill `facts` for every entry whose transcript exists (each file read once).
    Cheap facts are read in-process (a few syscalls per file); a big deep read uses
    `workers` processes.

    `cache` (path → TranscriptFacts, or the fields a FactsPrefetch child read): cheap
    facts read earlier in this run, reused for a file of this folder whose size and mtime
    in this listing are what that read saw."""
    # path string → (path, the listing's entry when it is in this folder, its entries)
    by_path: dict[str, tuple[Path, FileInfo | None, list[EntryView]]] = {}
    inv = snap.inventory.by_name
    prefix = str(snap.store.sessions_dir) + "/"
    n = len(prefix)
    for ev in snap.entries:
        p = ev.ref.path
        if p is None:
            continue
        s = str(p)
        got = by_path.get(s)
        if got is not None:
            got[2].append(ev)
            continue
        fi: FileInfo | None = None
        if s.startswith(prefix) and "/" not in s[n:]:  # a file of this folder: the listing says
            fi = inv.get(s[n:])
            if fi is None or fi.kind in ("directory", "symlink"):
                continue
        elif not p.exists():
            continue
        by_path[s] = (p, fi, [ev])

    todo = list(by_path.values())
    if cache and not deep:
        unread = []
        for item in todo:
            p, fi, evs = item
            f = cache.get(str(p))
            if f is not None and fi is not None:
                if not isinstance(f, TranscriptFacts):  # FactsPrefetch: the fields after the path
                    if f[2] is None and (f[0], f[1]) == (fi.size, fi.mtime_ms):
                        facts = facts_from_fields(p, f)
                        for ev in evs:
                            ev.facts = facts
                        continue
                elif f.error is None and (f.size, f.mtime_ms) == (fi.size, fi.mtime_ms):
                    for ev in evs:
                        ev.facts = f
                    continue
            unread.append(item)
        todo = unread
    paths = [p for p, _fi, _evs in todo]
    sizes = [fi.size if fi is not None else 0 for _p, fi, _evs in todo]
    results = scan_transcripts(paths, sizes, deep=deep, workers=workers)
    for (_p, _fi, evs), f in zip(todo, results, strict=True):
        for ev in evs:
            ev.facts = f
