"""Safe file primitives: bounded reads that never follow links or block on FIFOs,
containment checks, and the atomic write every mutation goes through.

Every mutation goes through a directory file descriptor opened component by component
from `/` with O_NOFOLLOW (`open_dir`): a path with a symbolic link anywhere in it is
refused (SymlinkRefused) at the moment of the write, so a folder swapped for a symlink
between a plan and its application cannot redirect a write, a rename or an unlink
outside the state dir. The paths sessionctl writes are real paths (the state dir is
resolved once; run folders and `--backup-dir`/`--to`/`--output` are checked by
`check_output_path`), so the walk costs a few `openat` calls and refuses only what must
be refused. The names inside the folder are then used with `dir_fd=` (openat, renameat,
unlinkat, linkat, mkdirat).

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
import hashlib
import os
import signal
import stat
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from sessionctl.errors import DataError, UsageError
from sessionctl.errors import NotRegularFile as NotRegularFile  # raised here; tests catch it from fsio
from sessionctl.errors import SymlinkRefused as SymlinkRefused


class Hasher(Protocol):
    """What copy_durable feeds the bytes it copies to (a hashlib object)."""

    def update(self, data: bytes, /) -> None: ...


_FAULT = os.environ.get("SESSIONCTL_FAULT")
_TRACE = os.environ.get("SESSIONCTL_FAULT_TRACE")
_FAULT_COUNTS: dict[str, int] = {}


def fault_point(name: str, path: object = None) -> None:
    """A named write boundary. Inert unless SESSIONCTL_FAULT(_TRACE) is set (tests only)."""
    if _TRACE:
        _trace(name, path)
    if not _FAULT:
        return
    due: list[str] = []
    for spec in _FAULT.split(","):  # every spec counts this hit, then the first due one acts
        parts = spec.split(":")
        if len(parts) < 2 or parts[1] not in (name, "*"):
            continue
        count = _FAULT_COUNTS.get(spec, 0) + 1
        _FAULT_COUNTS[spec] = count
        nth = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
        if count == nth:
            due.append(parts[0])
    for action in due[:1]:
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "enospc":  # like write(2): no file name; the primitives add the path
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        elif action == "eio":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
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


def state_rel(state_dir: Path, path: Path | str, *, resolve: bool = True) -> str:
    """`path` as journals and reports record it: relative to the state dir, never outside
    it (DataError). `resolve` first follows symlinks in the parent folders (paths built
    from store content); without it a path already spelled under `state_dir` (one a
    snapshot listed) is cut by string, which is what relative_to does, only cheaper."""
    if resolve:
        real = Path(os.path.realpath(Path(path).parent)) / Path(path).name
        if is_within(real, state_dir):
            return str(real.relative_to(state_dir))
    else:
        s, root = str(path), str(state_dir)
        if s.startswith(root) and s[len(root) : len(root) + 1] == "/":
            return s[len(root) + 1 :]
        if is_within(Path(path), state_dir):
            return str(Path(path).relative_to(state_dir))
    raise DataError(f"refusing to touch {path}: it is outside the state dir {state_dir}", path=str(path))


def sha256_bytes(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    """sha256 of a regular file; None when it is missing, unreadable, a symlink or not a
    regular file (a FIFO is never opened for a blocking read)."""
    h = hashlib.sha256()
    try:
        with open_regular_in(path) as fd:
            while chunk := os.read(fd, 1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def resolve_inside(path: Path, root: Path) -> Path | None:
    """Realpath of `path` if it stays inside `root` (a resolved dir), else None."""
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None
    return real if is_within(real, root) else None


def named(exc: OSError, path: Path | str) -> OSError:
    """`exc` with `path` as its file name when it names none or only a bare name (what
    write(2), fsync(2) or a *at() call report): every I/O error names its file."""
    if isinstance(exc.filename, str) and exc.filename.startswith("/"):
        return exc
    out = type(exc)(exc.errno, exc.strerror, str(path)) if exc.errno is not None else OSError(str(exc))
    return out


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def open_dir(path: Path | str, *, create: bool = False, mode: int = 0o700) -> int:
    """A file descriptor of the folder `path` (absolute), opened one component at a time
    from `/` with O_NOFOLLOW: SymlinkRefused when a component is a symbolic link,
    NotADirectoryError when it is something else, FileNotFoundError when it is missing
    (each naming the path up to that component). With `create`, missing folders are made
    (mode `mode`, the parent fsynced). The caller closes the fd."""
    text = os.fspath(path)
    if not text.startswith("/"):
        text = os.path.join(os.getcwd(), text)
    parts = [c for c in text.split("/") if c and c != "."]
    if ".." in parts:
        raise OSError(errno.EINVAL, "the path has a '..' component (never followed)", text)
    fd, where, parts = _from_anchor(parts)
    try:
        for comp in parts:
            where += "/" + comp
            try:
                nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), where) from None
                try:
                    os.mkdir(comp, mode, dir_fd=fd)
                    os.fsync(fd)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, where) from None
                nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _not_a_folder(comp, fd, where) from None
                raise OSError(exc.errno, exc.strerror, where) from None
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


# Folders opened once per process (the state dir, the runs folder), verified like any
# other (from / with O_NOFOLLOW): a walk below one of them starts from its fd instead of
# from /. A swap of a folder BELOW the anchor is still refused at every write; the
# anchor itself stays the very folder that was verified, even if its path is renamed.
_ANCHORS: dict[tuple[str, ...], int] = {}


def anchor(path: Path | str) -> None:
    """Remember the fd of the existing folder `path` (verified by open_dir) so that
    walks below it start there. Idempotent; no-op when it cannot be opened."""
    parts = tuple(c for c in os.path.abspath(os.fspath(path)).split("/") if c)
    if parts in _ANCHORS:
        return
    with contextlib.suppress(OSError):
        _ANCHORS[parts] = open_dir(path)


def _from_anchor(parts: list[str]) -> tuple[int, str, list[str]]:
    """(fd to start from — a dup the caller owns —, the path it names, what is left)."""
    best: tuple[str, ...] = ()
    for a in _ANCHORS:
        if len(a) > len(best) and tuple(parts[: len(a)]) == a:
            best = a
    if best:
        return os.dup(_ANCHORS[best]), "/" + "/".join(best), parts[len(best) :]
    return os.open("/", _DIR_FLAGS), "", parts


def _not_a_folder(name: str, dir_fd: int, where: str) -> OSError:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return NotADirectoryError(errno.ENOTDIR, "is not a folder", where)
    if stat.S_ISLNK(st.st_mode):
        return SymlinkRefused(errno.ELOOP, "is a symbolic link (sessionctl never writes through one)", where)
    return NotADirectoryError(errno.ENOTDIR, "is not a folder", where)


@contextlib.contextmanager
def in_dir(path: Path | str, *, create: bool = False) -> Iterator[int]:
    """open_dir as a context manager."""
    fd = open_dir(path, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


def makedirs(path: Path | str, *, mode: int = 0o700) -> None:
    """mkdir -p without following a symlink anywhere (each new folder durable)."""
    os.close(open_dir(path, create=True, mode=mode))


def lstat_in(path: Path) -> os.stat_result:
    """lstat of `path` through its folder's fd (its folders may not be symlinks)."""
    with in_dir(path.parent) as d:
        return os.stat(path.name, dir_fd=d, follow_symlinks=False)


def lexists_in(path: Path) -> bool:
    """os.path.lexists, for a path whose folders are not symlinks (False when a folder
    on the way is missing; SymlinkRefused when one is a symlink)."""
    try:
        lstat_in(path)
    except FileNotFoundError:
        return False
    return True


def unlink(path: Path, *, durable: bool = True) -> None:
    """Remove a file (never through a symlinked folder); fsync its folder."""
    with in_dir(path.parent) as d:
        os.unlink(path.name, dir_fd=d)
        if durable:
            os.fsync(d)


def _require_regular(fd: int, path: Path) -> None:
    """NotRegularFile unless the open `fd` (of `path`) is a regular file."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise NotRegularFile(errno.EINVAL, f"is {kind}", str(path))


@contextlib.contextmanager
def open_regular_in(path: Path) -> Iterator[int]:
    """open_regular, with no symlink in the folders on the way either (for what a
    mutation reads: the copy it backs up, the file it checks before replacing)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    with in_dir(path.parent) as d:
        try:
            fd = os.open(path.name, flags, dir_fd=d)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise NotRegularFile(errno.ELOOP, "is a symbolic link (not followed)", str(path)) from None
            raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        _require_regular(fd, path)
        yield fd
    finally:
        os.close(fd)


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
        _require_regular(fd, path)
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
    with in_dir(path) as fd:
        try:
            os.fsync(fd)
        except OSError as exc:
            raise named(exc, path) from None


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, tmp_name: str | None = None) -> None:
    """Write `data` to `path` atomically: temp file in the same folder (mode `mode`,
    owner of the file it replaces when we may), write, fsync, os.replace, fsync the
    folder. The temp file is removed on any failure, so either the old or the new
    file is left, never a half-written one.

    `tmp_name` lets callers use OpenClaw's own temp naming (sessions.json.<pid>.<uuid>.tmp),
    which OpenClaw's cleanup reclaims if we die between write and rename.
    """
    commit_temp(write_temp(path, data, mode=mode, tmp_name=tmp_name), path)


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_pieces(fd: int, pieces: Iterable[bytes | memoryview]) -> None:
    """Write a stream of pieces (a store spliced from slices of its old bytes), a few
    hundred per writev(2) call: no joined copy of the whole file is ever made."""
    batch: list[bytes | memoryview] = []
    size = 0
    for p in pieces:
        batch.append(p)
        size += len(p)
        if len(batch) >= 512 or size >= 8 << 20:
            _writev_all(fd, batch)
            batch, size = [], 0
    if batch:
        _writev_all(fd, batch)


def _writev_all(fd: int, batch: list[bytes | memoryview]) -> None:
    n = os.writev(fd, batch)
    total = sum(len(p) for p in batch)
    if n < total:  # a short write: finish the rest piece by piece
        joined = memoryview(b"".join(bytes(p) for p in batch))[n:]
        _write_all(fd, joined)


def write_temp(
    path: Path,
    data: bytes | Iterable[bytes | memoryview],
    *,
    mode: int = 0o600,
    tmp_name: str | None = None,
) -> Path:
    """The first half of `atomic_write`, for callers that must keep the second half
    short (a critical section): the temp file next to `path` (owner of the file it will
    replace when we may), written and fsynced. Finish with `commit_temp`; on any other
    path unlink it (OpenClaw's own cleanup also reclaims stale store temp files).
    Through the folder's fd (open_dir): never through a symlinked folder."""
    folder = path.parent
    name = tmp_name or f".{path.name}.{os.getpid()}.{uuid.uuid4()}.tmp"
    with in_dir(folder) as d:
        owner: tuple[int, int] | None = None
        try:
            st = os.stat(path.name, dir_fd=d, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                owner = (st.st_uid, st.st_gid)
        except FileNotFoundError:
            pass
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
            mode,
            dir_fd=d,
        )
        try:
            try:
                os.fchmod(fd, mode)
                if owner is not None and owner != (os.geteuid(), os.getegid()):
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, owner[0], owner[1])
                fault_point("atomic.write", path)
                if isinstance(data, bytes | bytearray | memoryview):
                    _write_all(fd, data)
                else:
                    _write_pieces(fd, data)
                fault_point("atomic.fsync", path)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=d)
            raise named(exc, path) from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=d)
            raise
    return folder / name


def commit_temp(tmp: Path, path: Path) -> None:
    """The second half of `atomic_write`: rename the temp file over `path`, fsync the
    folder (re-opened without following symlinks). The temp file is removed if the
    rename fails."""
    with in_dir(path.parent) as d:
        try:
            fault_point("atomic.replace", path)
            os.replace(tmp.name, path.name, src_dir_fd=d, dst_dir_fd=d)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp.name, dir_fd=d)
            if isinstance(exc, OSError):
                raise named(exc, path) from None
            raise
        try:
            fault_point("atomic.fsync_dir", path)
            os.fsync(d)
        except OSError as exc:
            raise named(exc, path.parent) from None


def remove_temp(tmp: Path) -> None:
    """Remove a temp file of write_temp (never through a symlinked folder); quiet."""
    with contextlib.suppress(OSError):
        unlink(tmp, durable=False)


def store_tmp_name(store_path: Path) -> str:
    """OpenClaw's temp name for an atomic store write."""
    return f"{store_path.name}.{os.getpid()}.{uuid.uuid4()}.tmp"


def rename_at(sd: int, src: Path | str, dd: int, dst: Path | str) -> None:
    """Rename the file `src` names in the folder fd `sd` to the name of `dst` in the
    folder fd `dd`, refusing to clobber (FileExistsError) — the `rename` fault point;
    no fsync (the caller makes the folders durable: durable_rename at once, a batch of
    journaled renames once for the batch)."""
    dst_name = os.path.basename(dst)
    try:
        os.stat(dst_name, dir_fd=dd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    else:
        raise FileExistsError(errno.EEXIST, "destination exists", str(dst))
    try:
        fault_point("rename")
        os.rename(os.path.basename(src), dst_name, src_dir_fd=sd, dst_dir_fd=dd)
    except OSError as exc:
        raise named(exc, Path(src)) from None


def durable_rename(src: Path, dst: Path) -> None:
    """Rename, refusing to clobber, then fsync both folders — through folder fds, so
    neither side can be redirected by a symlinked folder."""
    with (
        in_dir(src.parent) as sd,
        contextlib.nullcontext(sd) if dst.parent == src.parent else in_dir(dst.parent) as dd,
    ):
        rename_at(sd, src, dd, dst)
        try:
            os.fsync(dd)
            if src.parent != dst.parent:
                os.fsync(sd)
        except OSError as exc:
            raise named(exc, dst.parent) from None


def copy_durable(src: Path, dst: Path, *, mode: int = 0o600, hasher: Hasher | None = None) -> int:
    """Copy a regular file (no symlink on either side, folders included) to dst (new
    file), fsync it. Returns bytes. `hasher` (a hashlib object) is fed every byte copied:
    the checksum of the copy without reading it again."""
    total = 0
    with open_regular_in(src) as rfd, in_dir(dst.parent) as dd:
        try:
            wfd = os.open(dst.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dd)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(dst)) from None
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
        except OSError as exc:
            raise named(exc, dst) from None
        finally:
            os.close(wfd)
    return total


# ---------------------------------------------------------------- user-named output paths


def first_symlink(path: Path | str) -> str | None:
    """The first component of the absolute `path` that is a symbolic link (or None)."""
    where = ""
    for comp in [c for c in os.path.abspath(os.fspath(path)).split("/") if c]:
        where += "/" + comp
        try:
            st = os.lstat(where)
        except OSError:
            return None  # missing from here on: nothing further can be a link
        if stat.S_ISLNK(st.st_mode):
            return where
    return None


def check_output_path(
    path: str,
    *,
    option: str,
    kind: str,
    state_dir: Path | None,
    sessions_dirs: Iterator[Path] | list[Path] | tuple[Path, ...],
) -> Path:
    """THE check of every path a user names for sessionctl to write into (`--backup-dir`,
    `archive --to`, `health --output`). Returns the real absolute path, or raises
    UsageError (64, nothing done) when the path

    - has a symbolic link anywhere in it (sessionctl writes only through real folders,
      and re-checks that at every write: open_dir);
    - is, or lies inside, the state dir's live data — anything in the state dir but
      sessionctl's own folder `<state>/sessionctl/` — or contains the state dir;
    - is, contains, or lies inside a sessions folder (custom `session.store` folders
      outside the state dir included);
    - exists as the wrong type (`kind` "dir": a folder; "file": a regular file).

    So run retention in a `--backup-dir` can never reach live data, an export never
    lands in (or swallows) a sessions folder, and metrics never replace a store."""

    if not path or "\0" in path:
        raise UsageError(f"{option}: give a path")
    absolute = os.path.abspath(path)
    link = first_symlink(path)
    if link is not None or os.path.realpath(path) != absolute:
        where = link or absolute
        raise UsageError(
            f"{option} {path}: {where} is a symbolic link; sessionctl writes only through real folders",
            hint=f"give the real path ({os.path.realpath(path)})",
        )
    p = Path(absolute)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    if st is not None:
        if kind == "dir" and not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{option} {path}: exists and is not a folder")
        if kind == "file" and not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{option} {path}: exists and is not a regular file")
    sd = Path(os.path.realpath(state_dir)) if state_dir is not None else None
    if sd is not None and is_within(sd, p):
        raise UsageError(
            f"{option} {path} contains the state dir {sd}; choose a folder outside it "
            f"(or under {sd / 'sessionctl'})"
        )
    real_dirs = [(sdir, Path(os.path.realpath(sdir))) for sdir in sessions_dirs]
    for sdir, real in real_dirs:
        if is_within(p, real):
            raise UsageError(
                f"{option} {path} is inside the sessions folder {sdir}; choose a path outside every sessions folder"
            )
    if sd is not None and is_within(p, sd) and not is_within(p, sd / "sessionctl"):
        raise UsageError(
            f"{option} {path} is inside the state dir's live data ({sd}); only "
            f"{sd / 'sessionctl'} in it is sessionctl's own: choose a path there or outside the state dir"
        )
    runs = sd / "sessionctl" / "runs" if sd is not None else None
    if (
        runs is not None
        and is_within(p, runs)
        and not (kind == "dir" and option == "--backup-dir" and p == runs)
    ):
        raise UsageError(
            f"{option} {path} is inside sessionctl's runs folder {runs}, where run retention may delete it; "
            "choose another path"
        )
    for sdir, real in real_dirs:
        if is_within(real, p):
            raise UsageError(
                f"{option} {path} contains the sessions folder {sdir}; choose a folder that holds no sessions folder"
            )
    return p
