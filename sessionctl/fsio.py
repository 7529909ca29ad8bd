"""Safe file primitives: bounded reads that never follow links or block on FIFOs,
containment checks, and the atomic write every mutation goes through.

Fault injection (test-only): when the environment variable
`SESSIONCTL_FAULT` is set, `fault_point(name)` lets the crash and error-injection
tests stop the process (`kill:<name>[:n]`) or raise an OSError (`enospc:<name>`,
`eio:<name>`) at a named write boundary, or wait there (`pause:<name>`: creates
`$SESSIONCTL_FAULT_PAUSE_FILE.reached`, then waits up to 120 s for
`$SESSIONCTL_FAULT_PAUSE_FILE` to exist — lets a test change files between a plan and
its application). `SESSIONCTL_FAULT_TRACE=<file>` appends `<name> <pid> <monotonic ns>
[<path>]` to that file at every point reached (atomic.* points name the file being
written); the crash tests enumerate, classify and time the points with it. Both are
inert when unset and documented in docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_FAULT = os.environ.get("SESSIONCTL_FAULT")
_TRACE = os.environ.get("SESSIONCTL_FAULT_TRACE")
_FAULT_COUNTS: dict[str, int] = {}


def fault_point(name: str, path: object = None) -> None:
    """A named write boundary. Inert unless SESSIONCTL_FAULT(_TRACE) is set (tests only)."""
    if _TRACE:
        _trace(name, path)
    if not _FAULT:
        return
    for spec in _FAULT.split(","):
        parts = spec.split(":")
        if len(parts) < 2 or parts[1] not in (name, "*"):
            continue
        count = _FAULT_COUNTS.get(spec, 0) + 1
        _FAULT_COUNTS[spec] = count
        nth = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
        if count != nth:
            continue
        action = parts[0]
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)
        elif action == "eio":
            raise OSError(errno.EIO, os.strerror(errno.EIO), name)
        elif action == "pause":
            _pause(name)


def _trace(name: str, path: object) -> None:
    """Test-only: record that `name` was reached (one O_APPEND write, so lines of several
    processes sharing the file never interleave)."""
    import time

    fd = os.open(str(_TRACE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        where = f" {path}" if path is not None else ""
        os.write(fd, f"{name} {os.getpid()} {time.monotonic_ns()}{where}\n".encode())
    finally:
        os.close(fd)


def _pause(name: str) -> None:
    """Test-only: announce that `name` was reached, then wait for the release file."""
    import time

    flag = os.environ.get("SESSIONCTL_FAULT_PAUSE_FILE")
    if not flag:
        return
    with open(flag + ".reached", "w", encoding="utf-8") as f:
        f.write(name)
    deadline = time.monotonic() + 120
    while not os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.02)


def is_within(path: Path, root: Path) -> bool:
    """True when `path` (already resolved) is `root` or below it (root resolved)."""
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def resolve_inside(path: Path, root: Path) -> Path | None:
    """Realpath of `path` if it stays inside `root` (a resolved dir), else None."""
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None
    return real if is_within(real, root) else None


class NotRegularFile(OSError):
    pass


@contextlib.contextmanager
def open_regular(path: Path) -> Iterator[int]:
    """Open a regular file read-only without following a final symlink and without
    blocking on a FIFO. Yields the fd. Raises NotRegularFile for anything else."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(errno.ELOOP, "is a symbolic link (not followed)", str(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise NotRegularFile(errno.EINVAL, f"is {kind}", str(path))
        yield fd
    finally:
        os.close(fd)


def read_bytes(path: Path) -> bytes:
    """Read a whole regular file (no symlink, no FIFO)."""
    with open_regular(path) as fd:
        size = os.fstat(fd).st_size
        chunks: list[bytes] = []
        remaining = size
        while True:
            chunk = os.read(fd, max(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, tmp_name: str | None = None) -> None:
    """Write `data` to `path` atomically: temp file in the same folder (mode `mode`,
    owner of the file it replaces when we may), write, fsync, os.replace, fsync the
    folder. The temp file is removed on any failure, so either the old or the new
    file is left, never a half-written one.

    `tmp_name` lets callers use OpenClaw's own temp naming (sessions.json.<pid>.<uuid>.tmp),
    which OpenClaw's cleanup reclaims if we die between write and rename.
    """
    commit_temp(write_temp(path, data, mode=mode, tmp_name=tmp_name), path)


def write_temp(path: Path, data: bytes, *, mode: int = 0o600, tmp_name: str | None = None) -> Path:
    """The first half of `atomic_write`, for callers that must keep the second half
    short (a critical section): the temp file next to `path` (owner of the file it will
    replace when we may), written and fsynced. Finish with `commit_temp`; on any other
    path unlink it (OpenClaw's own cleanup also reclaims stale store temp files)."""
    folder = path.parent
    tmp = folder / (tmp_name or f".{path.name}.{os.getpid()}.{uuid.uuid4()}.tmp")
    owner: tuple[int, int] | None = None
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            owner = (st.st_uid, st.st_gid)
    except FileNotFoundError:
        pass
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode
    )
    try:
        try:
            os.fchmod(fd, mode)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, owner[0], owner[1])
            fault_point("atomic.write", path)
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            fault_point("atomic.fsync", path)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def commit_temp(tmp: Path, path: Path) -> None:
    """The second half of `atomic_write`: rename the temp file over `path`, fsync the
    folder. The temp file is removed if the rename fails."""
    try:
        fault_point("atomic.replace", path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fault_point("atomic.fsync_dir", path)
    fsync_dir(path.parent)


def store_tmp_name(store_path: Path) -> str:
    """OpenClaw's temp name for an atomic store write."""
    return f"{store_path.name}.{os.getpid()}.{uuid.uuid4()}.tmp"


def durable_rename(src: Path, dst: Path) -> None:
    """Rename within one folder tree, refusing to clobber, then fsync both folders."""
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "destination exists", str(dst))
    fault_point("rename")
    os.rename(src, dst)
    fsync_dir(dst.parent)
    if src.parent != dst.parent:
        fsync_dir(src.parent)


def copy_durable(src: Path, dst: Path, *, mode: int = 0o600, hasher: Any = None) -> int:
    """Copy a regular file (not following links) to dst (new file), fsync it. Returns bytes.
    `hasher` (a hashlib object) is fed every byte copied: the checksum of the copy without
    reading it again."""
    total = 0
    with open_regular(src) as rfd:
        wfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        try:
            while True:
                chunk = os.read(rfd, 1 << 20)
                if not chunk:
                    break
                fault_point("copy.write")
                if hasher is not None:
                    hasher.update(chunk)
                view = memoryview(chunk)
                while view:
                    n = os.write(wfd, view)
                    view = view[n:]
                total += len(chunk)
            os.fsync(wfd)
        finally:
            os.close(wfd)
    return total


def write_new_durable(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create a new file with data, fsynced (for backups/journal parts)."""
    atomic_write(path, data, mode=mode)
