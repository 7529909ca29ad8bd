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
  without it was interrupted; undo then checks the state of every action.

Undo reverses the actions of a run newest-first, each one only when the current state
shows it was applied and restoring cannot clobber something newer. Undo is itself a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sessionctl.errors import CantCreateError, DataError, NotFoundError, UsageError, from_os_error
from sessionctl.fsio import (
    atomic_write,
    copy_durable,
    durable_rename,
    fault_point,
    fsync_dir,
    is_within,
    read_bytes,
)
from sessionctl.locks import store_lock
from sessionctl.store import load_store, write_store
from sessionctl.timeutil import iso_ms, now_ms, run_stamp

JOURNAL_SCHEMA = 1


def runs_root(state_dir: Path, backup_dir: str | None = None) -> Path:
    return Path(backup_dir).resolve() if backup_dir else state_dir / "sessionctl" / "runs"


def new_run_id(at_ms: int | None = None) -> str:
    return f"{run_stamp(at_ms if at_ms is not None else now_ms())}-{secrets.token_hex(3)}"


def _rel(state_dir: Path, path: Path) -> str:
    real = Path(os.path.realpath(path.parent)) / path.name
    if not is_within(real, state_dir):
        raise DataError(f"refusing to touch {path}: it is outside the state dir {state_dir}", path=str(path))
    return str(real.relative_to(state_dir))


def _mkdirs(path: Path) -> None:
    """mkdir -p with mode 0700 and a durable parent entry."""
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)
        fsync_dir(d.parent)


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
    actions: list[dict[str, Any]] = field(default_factory=list)
    backups: list[dict[str, Any]] = field(default_factory=list)
    journal_written: bool = False
    _backed_up: dict[str, str] = field(default_factory=dict)

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
        started = now_ms()
        rid = new_run_id(started)
        root = runs_root(state_dir, backup_dir)
        d = root / rid
        try:
            _mkdirs(root)
            d.mkdir(mode=0o700)
            fsync_dir(root)
        except OSError as exc:
            raise CantCreateError(
                f"cannot create the run folder {d}: {exc.strerror or exc}",
                path=str(d),
                hint="check free space and permissions of the state dir (or pass --backup-dir)",
            ) from None
        return cls(
            state_dir,
            rid,
            d,
            command,
            list(argv if argv is not None else sys.argv[1:]),
            policy_now_ms,
            started,
        )

    # ------------------------------------------------------------ backups

    def backup_file(self, path: Path, *, kind: str = "file") -> str | None:
        """Durably copy `path` into backup/ (once per run). Returns the backup's path
        relative to the run folder, or None when the file does not exist."""
        rel = _rel(self.state_dir, path)
        if rel in self._backed_up:
            return self._backed_up[rel]
        dst = self.dir / "backup" / rel
        h = hashlib.sha256()
        try:
            _mkdirs(dst.parent)
            fault_point("backup.copy")
            size = copy_durable(path, dst, hasher=h)
            fsync_dir(dst.parent)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise from_os_error(exc, f"cannot back up {path}") from None
        out = str(dst.relative_to(self.dir))
        self._backed_up[rel] = out
        self.backups.append({"path": rel, "backup": out, "kind": kind, "size": size, "sha256": h.hexdigest()})
        return out

    def add(self, action: dict[str, Any]) -> dict[str, Any]:
        """Record a planned action (with its full before-state). Returns it for updating."""
        action.setdefault("id", len(self.actions))
        action.setdefault("state", "planned")
        self.actions.append(action)
        return action

    def _journal(self) -> dict[str, Any]:
        return {
            "schema_version": JOURNAL_SCHEMA,
            "run_id": self.run_id,
            "command": self.command,
            "argv": self.argv,
            "state_dir": str(self.state_dir),
            "started_at": iso_ms(self.started_ms),
            "policy_now": iso_ms(self.policy_now_ms),
            "pid": os.getpid(),
            "backups": self.backups,
            "actions": self.actions,
        }

    def commit_journal(self) -> None:
        """Write journal.json durably. Call after backups and planning, before any change."""
        try:
            journal = self._journal()
            meta = {k: v for k, v in journal.items() if k not in ("backups", "actions")}
            meta["action_count"] = len(self.actions)
            atomic_write(self.dir / "meta.json", json_bytes(meta, indent=True), mode=0o600)
            fault_point("journal.write")
            atomic_write(self.dir / "journal.json", json_bytes(journal), mode=0o600)
        except OSError as exc:
            raise from_os_error(exc, "cannot write the run journal (nothing was changed)") from None
        self.journal_written = True

    def finish(self, status: str = "done", summary: dict[str, Any] | None = None) -> None:
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

    # ------------------------------------------------------------ file moves

    def move_into_run(self, path: Path, action: dict[str, Any]) -> None:
        """Move a file out of the state dir's live folders into moved/ (rename; copy +
        fsync + unlink across file systems). The journal must already name it."""
        rel = _rel(self.state_dir, path)
        dst = self.dir / "moved" / rel
        _mkdirs(dst.parent)
        try:
            durable_rename(path, dst)
        except OSError as exc:
            import errno

            if exc.errno != errno.EXDEV:
                raise
            copy_durable(path, dst)
            fsync_dir(dst.parent)
            os.unlink(path)
            fsync_dir(path.parent)
        action["state"] = "applied"


# ---------------------------------------------------------------- store edits


def entries_equal(a: Any, b: Any) -> bool:
    try:
        return bool(
            orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)
        )
    except (orjson.JSONEncodeError, TypeError):  # see json_bytes
        import json

        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def json_bytes(obj: Any, *, indent: bool = False) -> bytes:
    """JSON for the run folder. A store entry may hold what orjson refuses — a lone UTF-16
    surrogate (valid JSON), an integer beyond 64 bits — and a file name undecodable bytes
    (surrogate escapes): those are written by the json module as ASCII escapes, which
    `read_json` reads back to the very same values."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0)
    except (orjson.JSONEncodeError, TypeError):
        import json

        return json.dumps(obj, indent=2 if indent else None, ensure_ascii=True).encode()


def read_json(raw: bytes) -> Any:
    """Parse JSON written by json_bytes."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        import json

        try:
            return json.loads(raw)
        except ValueError as exc:
            raise orjson.JSONDecodeError(str(exc), "", 0) from None


def edit_store(
    store_path: Path,
    edit: Callable[[dict[str, Any]], dict[str, Any] | None],
    *,
    lock_timeout_s: float = 10.0,
) -> tuple[dict[str, Any] | None, int]:
    """The critical section: take sessions.json.lock, re-read the store, let `edit`
    return the new store (or None for no change), write it atomically, release.
    Returns (new store or None, milliseconds the lock was held)."""
    with store_lock(store_path, timeout_s=lock_timeout_s) as held:
        fault_point("store.locked")
        load = load_store(store_path)
        if load.data is None:
            raise DataError(
                f"{store_path} became unreadable ({load.error}) before it could be changed; nothing was written",
                path=str(store_path),
                hint="run `sessionctl health` and `sessionctl repair --only store`",
            )
        new = edit(load.data)
        if new is not None:
            write_store(store_path, new)
        return new, held.held_ms()


def restore_order(
    current: dict[str, Any], restored: dict[str, Any], original_order: list[str]
) -> dict[str, Any]:
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
    out: dict[str, Any] = {k: restored[k] for k in front}
    for k, v in current.items():
        out[k] = v
        for r in after.get(k, ()):
            out[r] = restored[r]
    for k in end:
        out[k] = restored[k]
    return out


# ---------------------------------------------------------------- reading runs


class RunInfo:
    """A run folder as found on disk. `status.json` and the small `meta.json` are read
    at once; the journal (tens of MB after a big gc) only when something asks for it."""

    def __init__(
        self, run_id: str, dir: Path, status: dict[str, Any] | None, meta: dict[str, Any] | None
    ) -> None:
        self.run_id = run_id
        self.dir = dir
        self.status = status
        self.meta = meta
        self.error: str | None = None
        self._journal: dict[str, Any] | None = None
        self._journal_read = False

    @property
    def journal(self) -> dict[str, Any] | None:
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
        if self.error:
            return "unreadable"
        if not self.has_journal:
            return "empty"
        if self.status is None:
            return "interrupted"
        return str(self.status.get("status", "done"))

    def header(self, field_name: str) -> Any:
        """A journal header field (command, started_at, ...), from meta.json when present."""
        if self.meta is not None and field_name in self.meta:
            return self.meta[field_name]
        return (self.journal or {}).get(field_name)

    def to_json(self) -> dict[str, Any]:
        results = (self.status or {}).get("results")
        if isinstance(results, list):
            n_actions = len(results)
        elif self.meta is not None and isinstance(self.meta.get("action_count"), int):
            n_actions = self.meta["action_count"]
        else:
            n_actions = len((self.journal or {}).get("actions") or [])
        size = 0
        for p in self.dir.rglob("*"):
            with contextlib.suppress(OSError):
                if p.is_file():
                    size += p.stat().st_size
        return {
            "run_id": self.run_id,
            "path": str(self.dir),
            "command": self.header("command"),
            "started_at": self.header("started_at"),
            "state": self.state,
            "actions": n_actions,
            "applied": sum(1 for r in (results or []) if r.get("state") == "applied"),
            "bytes": size,
            "error": self.error,
        }


def _read_json(path: Path) -> Any:
    return read_json(read_bytes(path))


def read_run(state_dir: Path, run_id: str, backup_dir: str | None = None) -> RunInfo:
    root = runs_root(state_dir, backup_dir)
    if "/" in run_id or run_id in ("", ".", ".."):
        raise UsageError(f"{run_id!r} is not a run id (see `sessionctl runs`)")
    d = root / run_id
    if not d.is_dir() or d.is_symlink():
        raise NotFoundError(f"no run {run_id} in {root}", hint="list runs with `sessionctl runs`")
    info = RunInfo(run_id, d, None, None)
    try:
        if (d / "status.json").exists():
            info.status = _read_json(d / "status.json")
        if (d / "meta.json").exists():
            meta = _read_json(d / "meta.json")
            info.meta = meta if isinstance(meta, dict) else None
    except (OSError, orjson.JSONDecodeError) as exc:
        info.error = f"cannot read the run's status: {exc}"
    return info


def list_runs(state_dir: Path, backup_dir: str | None = None) -> list[RunInfo]:
    root = runs_root(state_dir, backup_dir)
    out: list[RunInfo] = []
    try:
        names = sorted(n for n in os.listdir(root) if not n.startswith("."))
    except FileNotFoundError:
        return out
    for n in names:
        try:
            out.append(read_run(state_dir, n, backup_dir))
        except (NotFoundError, UsageError):
            continue
    return out


def prune_runs(
    state_dir: Path,
    *,
    keep_runs: int | None,
    keep_within_ms: int | None,
    now: int,
    backup_dir: str | None = None,
    protect: str | None = None,
) -> list[str]:
    """Delete old run folders. Keeps a run when it is among the newest `keep_runs` OR
    younger than `keep_within`; always keeps the newest run and `protect`. Refuses a
    policy that would keep nothing."""
    if keep_runs is None and keep_within_ms is None:
        return []
    if keep_runs is not None and keep_runs < 1:
        raise UsageError("--keep-runs must be at least 1 (the newest run is always kept)")
    runs = list_runs(state_dir, backup_dir)
    if not runs:
        return []
    ids = [r.run_id for r in runs]
    keep: set[str] = {ids[-1]}
    if protect:
        keep.add(protect)
    if keep_runs is not None:
        keep.update(ids[-keep_runs:])
    from sessionctl.timeutil import parse_iso_ms

    removed: list[str] = []
    for r in runs:
        if r.run_id in keep:
            continue
        started_at = r.header("started_at")
        started = parse_iso_ms(str(started_at)) if started_at else None
        if keep_within_ms is not None and started is not None and now - started <= keep_within_ms:
            continue
        if keep_within_ms is not None and keep_runs is None and started is None:
            continue  # cannot date it: keep
        shutil.rmtree(r.dir)
        removed.append(r.run_id)
    return removed


@contextlib.contextmanager
def maybe_finish(run: Run) -> Iterator[Run]:
    """Finish a run as 'failed' when the body raises after the journal was written."""
    try:
        yield run
    except BaseException:
        if run.journal_written:
            run.finish("failed")
        raise
