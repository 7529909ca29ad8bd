"""Runs: the backup + journal discipline every mutating command goes through, and undo.

A run folder (default `<state>/sessionctl/runs/<run-id>/`, outside every sessions folder)
holds:

- `backup/<path relative to the state dir>` — durable copies of every file the run is
  about to change (stores, the prompt blobs their entries reference, binding files,
  transcripts before a rewrite), made before anything is touched;
- `moved/<relative path>` — files the run moved out of a sessions folder (leftovers,
  purged archives, broken stale locks), so even "deleting" is a move into the backup;
- `journal.json` — every planned action with its full before-state (removed entries
  verbatim, every rename from → to), written durably BEFORE the first change;
- `status.json` — written after the run: which actions were applied or skipped. A run
  without it was interrupted; undo then checks the state of every action;
- `meta.json` — sessionctl's MARKER, written first (the folder is made as
  `.<run-id>.partial`, marked, then renamed into place): `format: "sessionctl-run"`, the
  format version, the run id and the state dir it belongs to (its path and the random
  id kept in `<state>/sessionctl/state-id`). Retention deletes nothing but folders that
  carry the marker of THIS state dir; undo, restore and repair's backup search refuse
  (or skip) a run of another state dir, e.g. in a shared `--backup-dir`.

Undo reverses the actions of a run newest-first, each one only when the current state
shows it was applied and restoring cannot clobber something newer. Undo is itself a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from sessionctl.action_types import BackupRecord, JournalAction
from sessionctl.errors import (
    CantCreateError,
    DataError,
    IOFailure,
    NotFoundError,
    SessionctlError,
    UsageError,
    from_os_error,
)
from sessionctl.fsio import (
    anchor,
    atomic_write,
    check_output_path,
    copy_durable,
    durable_rename,
    fault_point,
    fsync_dir,
    in_dir,
    is_within,
    lstat_in,
    makedirs,
    named,
    open_regular_in,
    read_bytes,
    state_rel,
    unlink,
)
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.locks import own_folder, pid_alive
from sessionctl.timeutil import invocation_mark, iso_ms, now_ms, parse_iso_ms, run_stamp

# The run folder's format. 1: before run folders carried a marker (meta.json written
# with the journal, no state id; undo actions carried the store's key order each).
# 2: the marker at the start, the state id, the key order once per store.
JOURNAL_SCHEMA = 2
RUN_FORMAT = "sessionctl-run"
RUN_ID = re.compile(r"^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}$")
STATE_ID_FILE = "state-id"
# Store backups are kept compressed (benchmarks/RESULTS.md: zstd level 3 keeps a store in
# ~3-4 % of its bytes at several hundred MB/s); every reader also reads the plain copies
# of runs made before (read_backup).
BACKUP_COMPRESSION = "zstd"
BACKUP_SUFFIX = ".zst"
BACKUP_LEVEL = 3
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def runs_root(state_dir: Path, backup_dir: str | None = None) -> Path:
    if backup_dir:
        return Path(os.path.abspath(backup_dir))  # checked by check_output_path: no symlink in it
    return own_folder(state_dir) / "runs"


def read_state_id(state_dir: Path) -> str | None:
    """The random id of this state dir (`<state>/sessionctl/state-id`), None when none
    was made yet (no run of this version) or it cannot be read."""
    try:
        text = read_bytes(own_folder(state_dir) / STATE_ID_FILE).decode("ascii", "replace").strip()
    except OSError:
        return None
    return text if re.fullmatch(r"[0-9a-f]{32}", text) else None


def ensure_state_id(state_dir: Path) -> str:
    """The state dir's id, made (durably, 0600) on the first run that needs it."""
    sid = read_state_id(state_dir)
    if sid is not None:
        return sid
    folder = own_folder(state_dir)
    sid = secrets.token_hex(16)
    try:
        makedirs(folder)
        atomic_write(folder / STATE_ID_FILE, (sid + "\n").encode(), mode=0o600)
    except OSError as exc:
        raise _cannot_create(
            exc, f"cannot write {folder / STATE_ID_FILE} (nothing was changed)", folder / STATE_ID_FILE
        ) from None
    return sid


def _cannot_create(exc: OSError, what: str, path: Path) -> SessionctlError:
    """Disk full or an I/O error is an I/O error (74), permissions 77, anything else
    (a file in the way, ...) cannot-create (73) — each naming the file."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EACCES, errno.EPERM):
        return from_os_error(exc, what)
    where = f" ({exc.filename})" if exc.filename else ""
    return CantCreateError(
        f"{what}: {exc.strerror or exc}{where}",
        path=str(path),
        hint="check free space and permissions of the state dir (or pass --backup-dir)",
    )


def _copy_compressed(
    src: Path, dst: Path, *, hasher: hashlib._Hash, expect: bytes | None = None
) -> tuple[int, int, bool]:
    """Copy a regular file (no symlink on either side) zstd-compressed into a new file
    `dst` (0600, O_EXCL), fsynced. `hasher` is fed the uncompressed bytes. Returns
    (bytes read, bytes written, whether the content is exactly `expect`)."""
    import zstandard

    total = written = 0
    same = expect is not None
    with open_regular_in(src) as rfd, in_dir(dst.parent) as dd:
        try:
            size = os.fstat(rfd).st_size
            wfd = os.open(dst.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dd)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(dst)) from None
        try:
            comp = zstandard.ZstdCompressor(level=BACKUP_LEVEL).compressobj(size=size)

            def put(data: bytes) -> int:
                view = memoryview(data)
                while view:
                    n = os.write(wfd, view)
                    view = view[n:]
                return len(data)

            while chunk := os.read(rfd, 4 << 20):
                fault_point("copy.write")
                hasher.update(chunk)
                if same and expect is not None and expect[total : total + len(chunk)] != chunk:
                    same = False
                total += len(chunk)
                written += put(comp.compress(chunk))
            written += put(comp.flush())
            os.fsync(wfd)
        except zstandard.ZstdError as exc:
            raise OSError(5, f"cannot compress: {exc}", str(dst)) from None
        except OSError as exc:
            raise named(exc, dst) from None
        finally:
            os.close(wfd)
    return total, written, same and expect is not None and total == len(expect)


def is_compressed_backup(path: Path | str, head: bytes) -> bool:
    """A backup file written compressed: its name ends with `.zst` and it starts with
    zstd's magic number. Plain copies of runs made before (a store starts with `{`) and
    the other backups (prompt blobs, bindings, transcripts) are read as they are."""
    return str(path).endswith(BACKUP_SUFFIX) and head[:4] == _ZSTD_MAGIC


def decode_backup(path: Path | str, data: bytes) -> bytes:
    """The original content of a backup file read as `data`."""
    if not is_compressed_backup(path, data):
        return data
    import zstandard

    try:
        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(data))
    except zstandard.ZstdError as exc:
        raise OSError(5, f"the compressed backup is damaged ({exc})", str(path)) from None


def read_backup(path: Path) -> bytes:
    """The content of a backup file as it was backed up: compressed (`.zst`) or plain
    (runs made before backups were compressed, and every backup that is not a store).
    OSError when it cannot be read or decompressed."""
    return decode_backup(path, read_bytes(path))


def new_run_id(at_ms: int | None = None) -> str:
    return f"{run_stamp(at_ms if at_ms is not None else now_ms())}-{secrets.token_hex(3)}"


@dataclass
class Run:
    """One mutating run. Create with `Run.start(...)`; record backups and actions;
    call `commit_journal()` before the first change and `finish()` at the end."""

    state_dir: Path
    run_id: str
    dir: Path
    command: str
    argv: list[str]
    policy_now_ms: int
    started_ms: int
    actions: list[JournalAction] = field(default_factory=list)
    backups: list[BackupRecord] = field(default_factory=list)
    journal_written: bool = False
    state_id: str | None = None
    step: str = "starting the run"  # what the run is doing: named by every I/O error
    path: Path | str | None = None  # the file that step writes (named when the error names none)
    orders: dict[str, list[str]] = field(default_factory=dict)  # store → its key order before the run
    _backed_up: dict[str, str] = field(default_factory=dict)
    same_as_planned: set[str] = field(default_factory=set)  # backups identical to the planned bytes
    _linked: set[str] = field(default_factory=set)

    @classmethod
    def start(
        cls,
        state_dir: Path,
        command: str,
        *,
        policy_now_ms: int,
        backup_dir: str | None = None,
        argv: list[str] | None = None,
    ) -> Run:
        """Make the run folder, marked as sessionctl's and bound to this state dir before
        it gets its real name: `.<run-id>.partial` with meta.json, then renamed into
        place, so every folder named like a run carries the marker."""
        started = now_ms()
        rid = new_run_id(started)
        root = runs_root(state_dir, backup_dir)
        sid = ensure_state_id(state_dir)
        run = cls(
            state_dir,
            rid,
            root / rid,
            command,
            list(argv if argv is not None else sys.argv[1:]),
            policy_now_ms,
            started,
            state_id=sid,
        )
        _MADE_HERE[rid] = invocation_mark()
        partial = root / f".{rid}.partial"
        try:
            makedirs(root)
            anchor(root)
            with in_dir(root) as rfd:
                os.mkdir(partial.name, 0o700, dir_fd=rfd)
                try:
                    atomic_write(partial / "meta.json", json_bytes(run._meta()), mode=0o600)
                    os.rename(partial.name, rid, src_dir_fd=rfd, dst_dir_fd=rfd)
                    os.fsync(rfd)
                except BaseException:
                    with contextlib.suppress(OSError):
                        shutil.rmtree(partial.name, dir_fd=rfd)
                    raise
        except SessionctlError:
            raise
        except OSError as exc:
            raise _cannot_create(
                exc,
                f"{command} run {rid}: cannot create the run folder {run.dir} (nothing was changed)",
                run.dir,
            ) from None
        return run

    def _meta(self, **extra: JsonValue) -> JsonObj:
        """meta.json: the marker (format, version, run id, the state dir's path and id)
        and the journal's header."""
        return {
            "format": RUN_FORMAT,
            "schema_version": JOURNAL_SCHEMA,
            "run_id": self.run_id,
            "state_dir": str(self.state_dir),
            "state_id": self.state_id,
            "command": self.command,
            "argv": self.argv,
            "started_at": iso_ms(self.started_ms),
            "policy_now": iso_ms(self.policy_now_ms),
            "pid": os.getpid(),
            **extra,
        }

    def discard(self) -> None:
        """Remove the run folder of a run that failed before its journal was written: it
        holds copies only (nothing was changed), and a half-made folder helps nobody."""
        if self.journal_written:
            return
        with contextlib.suppress(OSError), in_dir(self.dir.parent) as rfd:
            shutil.rmtree(self.dir.name, dir_fd=rfd)
            os.fsync(rfd)

    # ------------------------------------------------------------ backups

    def backup_file(
        self, path: Path, *, kind: str = "file", expect: bytes | None = None, expect_sha256: str | None = None
    ) -> str | None:
        """Durably copy `path` into backup/ (once per run). Returns the backup's path
        relative to the run folder, or None when the file does not exist.

        A store (kind "store") is kept zstd-compressed as `backup/<rel>.zst` (see
        BACKUP_COMPRESSION); its record's `size` and `sha256` are those of the store
        itself, `stored_bytes` the compressed file's. With `expect` (the bytes a plan
        was made from), `self.same_as_planned` records whether the copy is exactly
        those bytes — only then may the journal refer to the backup for the entries the
        plan removes (`entry_in`) instead of carrying them verbatim. `expect_sha256` does
        the same for a plan that kept only the checksum of those bytes."""
        rel = state_rel(self.state_dir, path)
        if rel in self._backed_up:
            return self._backed_up[rel]
        compress = kind == "store"
        dst = self.dir / "backup" / (rel + BACKUP_SUFFIX if compress else rel)
        h = hashlib.sha256()
        self.at(f"backing up {rel}", path)
        try:
            makedirs(dst.parent)
            fault_point("backup.copy")
            mode = os.lstat(path).st_mode & 0o7777
            if compress:
                size, stored, same = _copy_compressed(path, dst, hasher=h, expect=expect)
            else:
                size = copy_durable(path, dst, hasher=h)
                stored, same = size, False
            fsync_dir(dst.parent)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.io_error(exc, f"cannot back up {path}") from None
        out = str(dst.relative_to(self.dir))
        self._backed_up[rel] = out
        rec: BackupRecord = {
            "path": rel,
            "backup": out,
            "kind": kind,
            "size": size,
            "sha256": h.hexdigest(),
            "mode": mode,
        }
        if compress:
            rec["compression"] = BACKUP_COMPRESSION
            rec["stored_bytes"] = stored
        if (expect is not None and same) or (expect_sha256 is not None and rec["sha256"] == expect_sha256):
            self.same_as_planned.add(out)
        self.backups.append(rec)
        return out

    def link_backup(self, src: Path, rec: BackupRecord, tag: str) -> str:
        """Bring another run's backup file into this run (a hard link; a durable copy
        across file systems) as `backup/<rel>.<tag><suffix>`, recorded with kind
        `entries`: the file this run's journal refers to for entries it re-inserts or
        removes (`entry_in`), kept alive even when the other run is pruned. Never used
        as a store to restore."""
        rel = str(rec["path"])
        suffix = BACKUP_SUFFIX if rec.get("compression") else ""
        dst = self.dir / "backup" / f"{rel}.{tag}{suffix}"
        out = str(dst.relative_to(self.dir))
        if out in self._linked:
            return out
        self.at(f"keeping the entries of {rel}", dst)
        makedirs(dst.parent)
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError as exc:
            import errno

            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
                raise
            copy_durable(src, dst)
        fsync_dir(dst.parent)
        new: BackupRecord = {
            k: rec[k] for k in ("path", "size", "sha256", "compression", "stored_bytes") if k in rec
        }
        new.update({"backup": out, "kind": "entries"})
        self.backups.append(new)
        self._linked.add(out)
        return out

    def at(self, step: str, path: Path | str | None = None) -> None:
        """What the run does now, and the file it writes: every I/O error names both."""
        self.step, self.path = step, path

    def io_error(self, exc: OSError, what: str | None = None) -> SessionctlError:
        """An OSError of this run as the error the user sees: the command, the run id,
        the step, the file and the reason — and whether anything was changed yet."""

        exc = named(exc, self.path or self.dir)
        step = what or self.step
        tail = "" if self.journal_written else " (nothing was changed)"
        err = from_os_error(exc, f"{self.command} run {self.run_id}: {step}{tail}")
        return err

    def add(self, action: JournalAction) -> JournalAction:
        """Record a planned action (with its full before-state). Returns it for updating."""
        action.setdefault("id", len(self.actions))
        action.setdefault("state", "planned")
        if action.get("type") == "file.move" and "mode" not in action:
            # the file's mode, so that copying it back (undo) gives it its mode again
            with contextlib.suppress(OSError, KeyError):
                action["mode"] = os.lstat(self.state_dir / action["from"]).st_mode & 0o7777
        self.actions.append(action)
        return action

    def _journal(self) -> JsonObj:
        out = self._meta()
        out.pop("format")
        out["backups"] = self.backups
        if self.orders:
            out["orders"] = self.orders  # once per store (an action's `order` names nothing)
        # an entry the journal can find in a backup (`entry_in`) is not copied into it
        out["actions"] = [
            {k: v for k, v in a.items() if k != "entry"} if "entry_in" in a else a for a in self.actions
        ]
        return out

    def commit_journal(self) -> None:
        """Write journal.json durably. Call after backups and planning, before any change."""
        first = not self.journal_written
        self.at("writing the run journal", self.dir / "journal.json")
        try:
            meta = self._meta(action_count=len(self.actions))
            atomic_write(self.dir / "meta.json", json_bytes(meta, indent=True), mode=0o600)
            fault_point("journal.write")
            atomic_write(self.dir / "journal.json", json_bytes(self._journal()), mode=0o600)
        except OSError as exc:
            if first:
                raise self.io_error(exc, "cannot write the run journal") from None
            raise self.io_error(exc, "cannot rewrite the run journal") from None
        self.journal_written = True

    def finish(self, status: str = "done", summary: JsonObj | None = None) -> None:
        """Write status.json: the outcome of every action."""
        body = {
            "run_id": self.run_id,
            "status": status,
            "finished_at": iso_ms(now_ms()),
            "results": [
                {"id": a["id"], "state": a["state"], **({"note": a["note"]} if a.get("note") else {})}
                for a in self.actions
            ],
            "summary": summary or {},
        }
        with contextlib.suppress(OSError):
            atomic_write(self.dir / "status.json", json_bytes(body, indent=True), mode=0o600)
        self.at("finished")

    # ------------------------------------------------------------ file moves

    def move_into_run(self, path: Path, action: JournalAction) -> None:
        """Move a file out of the state dir's live folders into moved/ (rename; copy +
        fsync + unlink across file systems). The journal must already name it."""

        rel = state_rel(self.state_dir, path)
        dst = self.dir / "moved" / rel
        makedirs(dst.parent)
        mode = action.get("mode")
        if not isinstance(mode, int):
            mode = lstat_in(path).st_mode & 0o7777
        try:
            durable_rename(path, dst)
        except OSError as exc:
            import errno

            if exc.errno != errno.EXDEV:
                raise
            copy_durable(path, dst, mode=mode)
            fsync_dir(dst.parent)
            unlink(path)
        action["state"] = "applied"


# ---------------------------------------------------------------- store edits


def entries_equal(a: object, b: object) -> bool:
    try:
        return bool(
            orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)
        )
    except (orjson.JSONEncodeError, TypeError):  # see json_bytes
        import json

        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def json_bytes(obj: object, *, indent: bool = False) -> bytes:
    """JSON for the run folder. A store entry may hold what orjson refuses — a lone UTF-16
    surrogate (valid JSON), an integer beyond 64 bits — and a file name undecodable bytes
    (surrogate escapes): those are written by the json module as ASCII escapes, which
    `read_json` reads back to the very same values."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0)
    except (orjson.JSONEncodeError, TypeError):
        import json

        return json.dumps(obj, indent=2 if indent else None, ensure_ascii=True).encode()


def read_json(raw: bytes) -> JsonValue:
    """Parse JSON written by json_bytes."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        import json

        try:
            return json.loads(raw)
        except ValueError as exc:
            raise orjson.JSONDecodeError(str(exc), "", 0) from None


def restore_order(current: JsonObj, restored: JsonObj, original_order: list[str]) -> JsonObj:
    """Merge `restored` entries back into `current`, each right after its nearest
    predecessor in the pre-run key order (`original_order`) that is still present —
    so restored keys sit where they were, and keys added since stay where they are.
    A restored key unknown to the original order goes to the end."""
    if not restored:
        return current
    front: list[str] = []
    after: dict[str, list[str]] = {}
    anchor: str | None = None
    for k in original_order:  # one pass: the nearest present predecessor of each key
        if k in restored and k not in current:
            (after.setdefault(anchor, []) if anchor is not None else front).append(k)
        elif k in current:
            anchor = k
    placed = set(front).union(*after.values()) if after else set(front)
    end = [k for k in restored if k not in placed and k not in current]
    out: JsonObj = {k: restored[k] for k in front}
    for k, v in current.items():
        out[k] = v
        for r in after.get(k, ()):
            out[r] = restored[r]
    for k in end:
        out[k] = restored[k]
    return out


# ---------------------------------------------------------------- reading runs


class RunInfo:
    """A folder of a runs folder as found on disk. `status.json` and the small
    `meta.json` are read at once; the journal (tens of MB after a big gc) only when
    something asks for it.

    `marker`: "run" (sessionctl's marker), "legacy" (a run folder of a version before
    the marker: its meta.json or journal.json names this very run id), or None (not
    provably sessionctl's: never deleted, never used). `belongs`: the run is bound to
    the state dir it was read for."""

    def __init__(self, run_id: str, dir: Path, status: JsonObj | None, meta: JsonObj | None) -> None:
        self.run_id = run_id
        self.dir = dir
        self.status = status
        self.meta = meta
        self.error: str | None = None
        self.marker: str | None = None
        self.belongs = False
        self.owner: str | None = None  # the state dir a run of another one names
        self._journal: JsonObj | None = None
        self._journal_read = False

    @property
    def journal(self) -> JsonObj | None:
        if not self._journal_read:
            self._journal_read = True
            path = self.dir / "journal.json"
            if path.exists():
                try:
                    data = _read_json(path)
                    self._journal = data if isinstance(data, dict) else None
                    if self._journal is None:
                        self.error = "the run's journal is not a JSON object"
                except (OSError, orjson.JSONDecodeError) as exc:
                    self.error = f"cannot read the run's journal: {exc}"
        return self._journal

    @property
    def has_journal(self) -> bool:
        return (self.dir / "journal.json").exists()

    @property
    def state(self) -> str:
        if self.marker is not None and not self.belongs:
            return "foreign"
        if self.error:
            return "unreadable"
        if not self.has_journal:
            return "empty"
        if self.status is None:
            return "interrupted"
        return str(self.status.get("status", "done"))

    @property
    def format_version(self) -> int:
        v = self.header("schema_version")
        return v if isinstance(v, int) and not isinstance(v, bool) else 1

    def header(self, field_name: str) -> JsonValue:
        """A journal header field (command, started_at, ...), from meta.json when present."""
        if self.meta is not None and field_name in self.meta:
            return self.meta[field_name]
        return (self.journal or {}).get(field_name)

    def to_json(self) -> JsonObj:
        results = (self.status or {}).get("results")
        if isinstance(results, list):
            n_actions = len(results)
        elif self.meta is not None and isinstance(self.meta.get("action_count"), int):
            n_actions = self.meta["action_count"]
        elif self.belongs:
            n_actions = len((self.journal or {}).get("actions") or [])
        else:
            n_actions = 0
        size = folder_bytes(self.dir)
        out = {
            "run_id": self.run_id,
            "path": str(self.dir),
            "command": self.header("command"),
            "started_at": self.header("started_at"),
            "state": self.state,
            "actions": n_actions,
            "applied": sum(1 for r in (results or []) if isinstance(r, dict) and r.get("state") == "applied"),
            "bytes": size,
            "error": self.error,
        }
        if not self.belongs:
            out["state_dir"] = self.owner
        return out


def folder_bytes(path: Path) -> int:
    """Bytes of the regular files under `path` (symbolic links not followed); a hard
    link shared with another run counts in each."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    with contextlib.suppress(OSError):
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        elif e.is_file(follow_symlinks=False):
                            total += e.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total


# health warns (`runs.large`) when this state dir's run folders hold more than this
RUNS_WARN_BYTES = 5 << 30


def runs_report(state_dir: Path) -> JsonObj:
    """What this state dir's own run folders (in `<state>/sessionctl/runs`, with its
    marker) hold: their number, total bytes, the largest and the oldest — for health's
    `runs.large` finding (runs_usage below counts every folder there, for the metrics)."""
    runs = list_runs(state_dir, own_only=True)
    sizes = [(r.run_id, folder_bytes(r.dir)) for r in runs]
    largest = max(sizes, key=lambda x: x[1]) if sizes else None
    return {
        "runs": len(sizes),
        "bytes": sum(n for _r, n in sizes),
        "largest": {"run_id": largest[0], "bytes": largest[1]} if largest else None,
        "oldest": sizes[0][0] if sizes else None,
        "path": str(runs_root(state_dir)),
    }


# ---------------------------------------------------------------- journal validation

# where each action type keeps its paths: relative to the state dir (live files), to the
# run folder, absolute inside the runs folder, or absolute outside the live data
_LIVE_FIELDS = ("store", "path", "from", "to", "lock", "db")
_RUN_FIELDS = ("backup", "moved", "entry_in")
# SQLite-era actions (sessionctl/sqlite/) and backups name an agent database, nothing else
_SQLITE_DB = re.compile(r"^agents/[^/]+/agent/openclaw-agent\.sqlite$")
_SQLITE_TYPES = ("sqlite.delete", "sqlite.archive", "sqlite.unarchive", "sqlite.restore")


class _Bad(Exception):
    pass


def _live_rel(value: object) -> str:
    """A path relative to the state dir naming live data: no `..`, `.` or empty part,
    not absolute, not in sessionctl's own folder."""
    if not isinstance(value, str) or not value or "\0" in value or value.startswith("/"):
        raise _Bad("is not a path relative to the state dir")
    parts = value.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise _Bad("has an empty, '.' or '..' part (it would leave its place)")
    if parts[0] == "sessionctl":
        raise _Bad("names sessionctl's own folder, not live data")
    return value


def _run_rel(value: object) -> str:
    if not isinstance(value, str) or not value or "\0" in value or value.startswith("/"):
        raise _Bad("is not a path relative to the run folder")
    parts = value.split("/")
    if any(p in ("", ".", "..") for p in parts) or parts[0] not in ("backup", "moved", "replacement"):
        raise _Bad("is not a file of the run folder (backup/, moved/, replacement/)")
    return value


def _in_root(value: object, root: Path) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise _Bad("is not an absolute path")
    if os.path.normpath(value) != value or not is_within(Path(value), root) or Path(value) == root:
        raise _Bad(f"is not a file of a run folder in {root}")
    return value


def validate_journal(info: RunInfo, state_dir: Path, root: Path) -> None:
    """Check every path a journal names before anything is planned from it: live paths
    relative to the state dir and staying in it, run paths inside the run folder,
    sources of copies inside the runs folder, exports outside the live data. A journal
    that fails (hand-edited, crafted, corrupt) is refused as a whole: DataError (65),
    nothing changed."""

    j = info.journal or {}
    where = "journal"
    try:
        if j.get("state_dir") not in (None, str(state_dir)) and info.marker == "legacy":
            raise _Bad(f"names the state dir {j.get('state_dir')!r}")
        for i, b in enumerate(j.get("backups") or []):
            where = f"backup record {i}"
            if not isinstance(b, dict):
                raise _Bad("is not an object")
            _live_rel(b.get("path"))
            _run_rel(b.get("backup"))
            if b.get("kind") == "sqlite" and not _SQLITE_DB.match(b["path"]):
                raise _Bad("is a database backup of a file that is no agent database")
        for i, a in enumerate(j.get("actions") or []):
            if not isinstance(a, dict):
                where = f"action {i}"
                raise _Bad("is not an object")
            t = a.get("type")
            where = f"action {a.get('id', i)} ({t})"
            if t == "conflict":
                continue
            for f in _LIVE_FIELDS:
                if f in a and not (t == "file.export" and f == "to"):
                    where = f"action {a.get('id', i)} ({t}) field {f!r}"
                    _live_rel(a[f])
            for f in _RUN_FIELDS:
                if a.get(f) is not None:
                    where = f"action {a.get('id', i)} ({t}) field {f!r}"
                    _run_rel(a[f])
            if t == "store.replace" and a.get("source") is not None:
                where = f"action {a.get('id', i)} ({t}) field 'source'"
                _run_rel(a["source"])
            elif t in ("file.copy_in", "file.restore") and a.get("source") is not None:
                where = f"action {a.get('id', i)} ({t}) field 'source'"
                _in_root(a["source"], root)
            elif t in _SQLITE_TYPES:
                where = f"action {a.get('id', i)} ({t})"
                db = a.get("db") if t != "sqlite.restore" else a.get("path")
                if not isinstance(db, str) or not _SQLITE_DB.match(db):
                    raise _Bad("names no agent database (agents/<id>/agent/openclaw-agent.sqlite)")
                if t == "sqlite.restore":
                    where += " field 'source'"
                    _in_root(a.get("source"), root)
            elif t == "file.import":
                where = f"action {a.get('id', i)} ({t}) field 'source'"
                if not isinstance(a.get("source"), str):
                    raise _Bad("is not a path")
                check_output_path(
                    a["source"], option="source", kind="file", state_dir=state_dir, sessions_dirs=[]
                )
            elif t == "file.export":
                where = f"action {a.get('id', i)} ({t}) field 'to'"
                if not isinstance(a.get("to"), str) or os.path.normpath(a["to"]) != a["to"]:
                    raise _Bad("is not a normalised absolute path")
                check_output_path(a["to"], option="to", kind="file", state_dir=state_dir, sessions_dirs=[])
            elif t not in (
                "store.remove",
                "store.insert",
                "store.set",
                "store.replace",
                "file.rename",
                "file.move",
                "file.copy_in",
                "file.rewrite",
                "file.restore",
                "file.delete",
                "file.import",
            ):
                raise _Bad("is not an action type sessionctl knows")
    except (_Bad, UsageError) as exc:
        why = exc.message if isinstance(exc, UsageError) else str(exc)
        raise DataError(
            f"run {info.run_id}: its journal is not valid: {where} {why}; nothing was changed",
            path=str(info.dir / "journal.json"),
            hint="the journal was edited or damaged; its backups stay in the run folder for use by hand",
        ) from None


def _read_json(path: Path) -> JsonValue:
    return read_json(read_bytes(path))


def _inspect(state_dir: Path, run_id: str, d: Path, state_id: str | None) -> RunInfo:
    """Read a candidate run folder's status and marker; decide whether it is a run of
    sessionctl's, and of this state dir."""
    info = RunInfo(run_id, d, None, None)
    try:
        if (d / "status.json").exists():
            status = _read_json(d / "status.json")
            info.status = status if isinstance(status, dict) else None
        if (d / "meta.json").exists():
            meta = _read_json(d / "meta.json")
            info.meta = meta if isinstance(meta, dict) else None
    except (OSError, orjson.JSONDecodeError) as exc:
        info.error = f"cannot read the run's status: {exc}"
    m = info.meta
    if m is not None and m.get("format") == RUN_FORMAT and m.get("run_id") == run_id:
        info.marker = "run"
        info.owner = str(m.get("state_dir"))
        info.belongs = state_id is not None and m.get("state_id") == state_id
    elif m is not None and m.get("run_id") == run_id and m.get("schema_version") == 1 and "command" in m:
        info.marker, info.owner = "legacy", str(m.get("state_dir"))
        info.belongs = m.get("state_dir") == str(state_dir)
    elif m is None and (d / "journal.json").exists():
        j = info.journal
        if j is not None and j.get("run_id") == run_id and j.get("schema_version") == 1 and "actions" in j:
            info.marker, info.owner = "legacy", str(j.get("state_dir"))
            info.belongs = j.get("state_dir") == str(state_dir)
    return info


def read_run(state_dir: Path, run_id: str, backup_dir: str | None = None, *, arg: str = "RUN_ID") -> RunInfo:
    """A run of THIS state dir. NotFoundError (66) when there is no such run folder,
    DataError (65) when the folder is not a sessionctl run or belongs to another state
    dir (a shared --backup-dir): it is never used. `arg`: what the user gave the id as
    (the RUN_ID argument, repair's --from), named by the usage error."""
    root = runs_root(state_dir, backup_dir)
    if "/" in run_id or run_id in ("", ".", "..") or run_id.startswith("."):
        raise UsageError(
            f"{arg} {run_id!r}: not a run id (a run id is a folder name like "
            "20260501T120000.000Z-a1b2c3; see `sessionctl runs`)"
        )
    d = root / run_id
    if not d.is_dir() or d.is_symlink():
        raise NotFoundError(f"no run {run_id} in {root}", hint="list runs with `sessionctl runs`")
    info = _inspect(state_dir, run_id, d, read_state_id(state_dir))
    if info.marker is None:
        raise DataError(
            f"{d} is not a sessionctl run folder (no marker of sessionctl's in its meta.json); "
            "sessionctl never uses or deletes it",
            path=str(d),
            hint="list runs with `sessionctl runs`",
        )
    if not info.belongs:
        raise DataError(
            f"run {run_id} belongs to the state dir {info.owner}, not to {state_dir}; "
            "a run is used only for the state dir it was made for",
            path=str(d),
            hint=f"pass --state-dir {info.owner}" if info.owner else None,
        )
    return info


def list_runs(state_dir: Path, backup_dir: str | None = None, *, own_only: bool = False) -> list[RunInfo]:
    """Runs of the runs folder, oldest first: this state dir's — and, unless
    `own_only`, runs of other state dirs (state `foreign`). Folders that carry no
    marker of sessionctl's are not runs: never listed, used or deleted."""
    root = runs_root(state_dir, backup_dir)
    out: list[RunInfo] = []
    try:
        names = sorted(n for n in os.listdir(root) if RUN_ID.match(n))
    except FileNotFoundError:
        return out
    sid = read_state_id(state_dir)
    for n in names:
        d = root / n
        if d.is_symlink() or not d.is_dir():
            continue
        info = _inspect(state_dir, n, d, sid)
        if info.marker is None or (own_only and not info.belongs):
            continue
        out.append(info)
    return out


# The runs this process made, each with the call of cli.main() that made it (timeutil.
# invocation_mark): a run's pid alone cannot tell this call's runs from an earlier call's
# when cli.main() runs many times in one process (tests, an embedding program).
_MADE_HERE: dict[str, float | None] = {}


def _of_this_call(info: RunInfo) -> bool:
    """A run made by the call of cli.main() running now (prestart's steps, failed ones
    too): never pruned by it."""
    return (
        info.header("pid") == os.getpid()
        and info.run_id in _MADE_HERE
        and _MADE_HERE[info.run_id] == invocation_mark()
    )


def _in_progress(info: RunInfo) -> bool:
    """A run without status.json whose process is still running (never pruned). A run
    with this process's pid is in progress only while the call that made it runs
    (`_of_this_call`): calls of cli.main() in one process run one after another."""
    if info.status is not None:
        return False
    pid = info.header("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid == os.getpid():
        return False

    return pid_alive(pid) is not False


def _remove_run_folder(root: Path, info: RunInfo, state_dir: Path, state_id: str | None) -> bool:
    """Delete one run folder, re-checking right before that it still is that run of
    this state dir (marker, id, binding), through the runs folder's fd (no symlink)."""
    with in_dir(root) as rfd:
        try:
            st = os.stat(info.run_id, dir_fd=rfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            return False
        again = _inspect(state_dir, info.run_id, root / info.run_id, state_id)
        if again.marker is None or not again.belongs:
            return False
        shutil.rmtree(info.run_id, dir_fd=rfd)
        os.fsync(rfd)
    return True


def _clean_partials(root: Path, state_dir: Path, state_id: str | None) -> None:
    """`.<run-id>.partial` folders a killed Run.start left: removed when they carry this
    state dir's marker and their process is gone (they hold nothing but the marker)."""

    try:
        names = [n for n in os.listdir(root) if n.startswith(".") and n.endswith(".partial")]
    except OSError:
        return
    for n in names:
        rid = n[1 : -len(".partial")]
        if not RUN_ID.match(rid):
            continue
        try:
            meta = _read_json(root / n / "meta.json")
        except (OSError, orjson.JSONDecodeError):
            continue
        if not (
            isinstance(meta, dict)
            and meta.get("format") == RUN_FORMAT
            and meta.get("run_id") == rid
            and state_id is not None
            and meta.get("state_id") == state_id
            and isinstance(meta.get("pid"), int)
            and pid_alive(meta["pid"]) is False
        ):
            continue
        with contextlib.suppress(OSError), in_dir(root) as rfd:
            shutil.rmtree(n, dir_fd=rfd)


def runs_usage(state_dir: Path) -> JsonObj:
    """Run folders under <state>/sessionctl/runs and the bytes of every file in them, for
    health's JSON and metrics (a runs folder that grows without bound fills the disk):
    `count`, `bytes`, the `largest` folder and the `oldest` (run ids sort by time).
    Read-only: listed and lstat'ed, symlinks never followed, unreadable parts counted as 0."""
    root = runs_root(state_dir)
    try:
        tops = sorted(
            (e for e in os.scandir(root) if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)),
            key=lambda e: e.name,
        )
    except OSError:
        tops = []
    sizes = [(top.name, folder_bytes(Path(top.path))) for top in tops]
    largest = max(sizes, key=lambda x: x[1]) if sizes else None
    return {
        "path": str(root),
        "count": len(sizes),
        "bytes": sum(n for _name, n in sizes),
        "largest": {"run_id": largest[0], "bytes": largest[1]} if largest else None,
        "oldest": sizes[0][0] if sizes else None,
    }


def prune_runs(
    state_dir: Path,
    *,
    keep_runs: int | None,
    keep_within_ms: int | None,
    now: int,
    backup_dir: str | None = None,
    protect: str | Iterable[str] | None = None,
) -> list[str]:
    """Delete old run folders of THIS state dir. Keeps a run when it is among the newest
    `keep_runs` OR younger than `keep_within`; always keeps the newest run, `protect`
    and runs still in progress. Deletes nothing that is not provably one of this state
    dir's runs: a folder without sessionctl's marker, a run of another state dir (a
    shared --backup-dir) or anything else is never touched. Refuses a policy that would
    keep nothing."""
    if keep_runs is None and keep_within_ms is None:
        return []
    if keep_runs is not None and keep_runs < 1:
        raise UsageError("--keep-runs must be at least 1 (the newest run is always kept)")
    root = runs_root(state_dir, backup_dir)
    sid = read_state_id(state_dir)
    runs = list_runs(state_dir, backup_dir, own_only=True)
    _clean_partials(root, state_dir, sid)
    if not runs:
        return []
    ids = [r.run_id for r in runs]
    keep: set[str] = {ids[-1]}
    if isinstance(protect, str):
        keep.add(protect)
    elif protect is not None:
        keep.update(protect)
    if keep_runs is not None:
        keep.update(ids[-keep_runs:])

    removed: list[str] = []
    for r in runs:
        if r.run_id in keep or _in_progress(r) or _of_this_call(r):
            continue  # kept, still running, or made by this very call (prestart's failed steps too)
        started_at = r.header("started_at")
        started = parse_iso_ms(str(started_at)) if started_at else None
        if keep_within_ms is not None and started is not None and now - started <= keep_within_ms:
            continue
        if keep_within_ms is not None and keep_runs is None and started is None:
            continue  # cannot date it: keep
        if _remove_run_folder(root, r, state_dir, sid):
            removed.append(r.run_id)
    return removed


@contextlib.contextmanager
def maybe_finish(run: Run) -> Iterator[Run]:
    """Finish a run as 'failed' when the body raises after the journal was written; a
    run that fails before it is discarded (its folder held copies only). An OSError
    becomes the error the user sees, naming the command, the run, the step and the file."""
    try:
        yield run
    except OSError as exc:
        err = run.io_error(exc)
        _end_failed(run)
        raise err from None
    except IOFailure as exc:
        # an I/O error already turned into a message below (a lock file that could not be
        # made): it names the run and the step too
        if f"run {run.run_id}" not in exc.message:
            tail = "" if run.journal_written else " (nothing was changed)"
            exc.message = f"{run.command} run {run.run_id}: {run.step}{tail}: {exc.message}"
        _end_failed(run)
        raise
    except BaseException:
        _end_failed(run)
        raise


def _end_failed(run: Run) -> None:
    if run.journal_written:
        run.finish("failed")
    else:
        run.discard()
