"""OpenClaw's O_EXCL lock protocol (format doc §6) and sessionctl's private lock.

A lock file is `<realpath(dir)>/<basename>.lock`, created O_CREAT|O_EXCL|O_WRONLY with
payload {"pid", "createdAt", "starttime"}. sessionctl removes someone else's lock only
when it is provably stale by the gateway's own rules, treating EPERM as alive, and
releases a lock only while its inode and content are still its own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from sessionctl import jsonjs
from sessionctl.errors import BusyError, DataError, PermissionDenied, SymlinkRefused, from_os_error
from sessionctl.fsio import fault_point, makedirs, named, open_dir, unlink
from sessionctl.jsonjs import JsonObj, JsonValue
from sessionctl.timeutil import format_duration, iso_ms, now_ms, parse_iso_ms

STORE_LOCK_STALE_MS = 30_000
TRANSCRIPT_LOCK_STALE_MS = 30 * 60_000
UNREADABLE_GRACE_MS = 30_000  # the larger of OpenClaw's 30 s (≤ v3.11) and 5 s (v4.29+)
STORE_LOCK_TIMEOUT_S = 10.0


def own_folder(state_dir: Path) -> Path:
    """`<state>/sessionctl`, refused (DataError) when it or `runs/` in it is a symbolic
    link or not a folder: sessionctl's lock, state id and runs live only in real folders
    of the state dir (a link would send full store copies — and retention — elsewhere)."""
    folder = state_dir / "sessionctl"
    for p in (folder, folder / "runs"):
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise from_os_error(exc, f"cannot inspect {p}") from None
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a folder"
            raise DataError(
                f"{p} is {what}; sessionctl keeps its lock, state id and run folders only in a real "
                "folder of the state dir, so nothing was done",
                path=str(p),
                hint=f"replace {p} by a real folder (move what it points to back), or pass --backup-dir",
            )
    return folder


def lock_path_for(target: Path) -> Path:
    return Path(os.path.realpath(target.parent)) / f"{target.name}.lock"


def proc_starttime(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may contain spaces and ')' — split after the last ')'
    rp = data.rfind(b")")
    fields = data[rp + 2 :].split()
    try:
        return int(fields[19])  # fields[0] is field 3
    except (IndexError, ValueError):
        return None


def proc_cmdline(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]


def pid_alive(pid: int) -> bool | None:
    """True alive, False dead, None unknown-but-treated-as-alive (EPERM)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return None
    except OSError:
        return None
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        rp = data.rfind(b")")
        if data[rp + 2 : rp + 3] == b"Z":
            return False
    except OSError:
        pass
    return True


@dataclass
class LockStatus:
    path: Path
    exists: bool
    stale: bool = False
    reason: str = ""
    pid: int | None = None
    alive: bool | None = None
    age_ms: int | None = None
    created_at_ms: int | None = None
    mtime_ms: int | None = None
    ino: int | None = None
    raw: bytes | None = None
    unreadable: bool = False

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid is not None else "an unknown holder"
        alive = {True: "alive", False: "not running", None: "alive (not ours to signal)"}[self.alive]
        age = f", held for {format_duration(self.age_ms)}" if self.age_ms is not None else ""
        return f"{who} ({alive}{age})"

    def to_json(self) -> JsonObj:
        return {
            "path": str(self.path),
            "pid": self.pid,
            "alive": self.alive,
            "age_ms": self.age_ms,
            "stale": self.stale,
            "reason": self.reason,
        }


def _read_lock(path: Path) -> tuple[bytes | None, os.stat_result | None]:
    """(payload, stat); (None, None) when there is no lock; (None, stat) when the lock
    exists but cannot be opened (e.g. another user's 0600 lock: its holder may be alive)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        try:
            st = os.lstat(path)
        except OSError:
            return None, None
        # a symlink in the lock's place (ELOOP) is judged like an unreadable payload
        return (b"" if exc.errno == errno.ELOOP else None), st
    try:
        st = os.fstat(fd)
        try:
            data = os.read(fd, 64 << 10)
        except OSError:  # e.g. a directory in the lock's place: exists, unreadable
            data = b""
        return data, st
    finally:
        os.close(fd)


def inspect_lock(path: Path, *, stale_ms: int, now: int | None = None) -> LockStatus:
    """Judge a lock file by the gateway's own staleness rules (EPERM = alive).

    Uses the wall clock for ages by default: lock ages are about now, not about `--now`.
    """
    t = now_ms() if now is None else now
    raw, st = _read_lock(path)
    if st is None:
        return LockStatus(path, exists=False)
    ls = LockStatus(path, exists=True, raw=raw, mtime_ms=st.st_mtime_ns // 1_000_000, ino=st.st_ino)
    if raw is None:
        # cannot be opened: nothing proves its holder dead, so it is held (never broken)
        ls.unreadable = True
        ls.age_ms = t - (ls.mtime_ms or t)
        ls.reason = "cannot be opened (another user's lock?): treated as held"
        return ls
    payload: JsonValue = None
    if raw:
        try:
            payload = jsonjs.loads(raw)  # as the gateway reads it (JSON.parse semantics)
        except jsonjs.JSONError:
            payload = None
    if not isinstance(payload, dict):
        ls.unreadable = True
        ls.age_ms = t - (ls.mtime_ms or t)
        if ls.age_ms > UNREADABLE_GRACE_MS:
            ls.stale, ls.reason = True, f"unreadable payload, untouched for {format_duration(ls.age_ms)}"
        else:
            ls.reason = "unreadable payload, too young to judge (may be mid-write)"
        return ls
    pid = payload.get("pid")
    created = payload.get("createdAt")
    created_ms = parse_iso_ms(created) if isinstance(created, str) else None
    if created_ms is None and isinstance(payload.get("startedAt"), int | float):
        created_ms = int(payload["startedAt"])  # v2.1–v2.12 payload
    ls.created_at_ms = created_ms
    ls.age_ms = t - created_ms if created_ms is not None else t - (ls.mtime_ms or t)
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        ls.stale, ls.reason = True, "payload has no valid pid"
        return ls
    ls.pid = pid
    ls.alive = pid_alive(pid)
    if ls.alive is False:
        ls.stale, ls.reason = True, f"holder pid {pid} is not running"
        return ls
    st_rec = payload.get("starttime")
    if ls.alive is True and isinstance(st_rec, int) and not isinstance(st_rec, bool):
        actual = proc_starttime(pid)
        if actual is not None and actual != st_rec:
            ls.stale, ls.reason = True, f"pid {pid} was recycled (start time differs)"
            return ls
    if created_ms is None:
        ls.stale, ls.reason = True, "payload has no valid createdAt"
        return ls
    if ls.age_ms > stale_ms:
        ls.stale, ls.reason = True, f"older than {format_duration(stale_ms)} ({format_duration(ls.age_ms)})"
        return ls
    mh = payload.get("maxHoldMs")
    if isinstance(mh, int | float) and not isinstance(mh, bool) and mh > 0 and ls.age_ms > mh:
        ls.stale, ls.reason = True, f"held longer than its own maxHoldMs ({format_duration(int(mh))})"
        return ls
    ls.reason = f"held by {ls.describe()}"
    return ls


def remove_if_unchanged(status: LockStatus) -> bool:
    """Remove a lock judged stale, only if it is still the very file we judged."""
    raw, st = _read_lock(status.path)
    if st is None:
        return True
    if st.st_ino != status.ino or raw != status.raw or not stat.S_ISREG(st.st_mode):
        return False

    try:
        fault_point("lock.break")
        unlink(status.path, durable=False)  # through its folder's fd: never via a symlink
    except FileNotFoundError:
        return True
    except SymlinkRefused:
        return False
    return True


_OWN_STARTTIME: dict[int, int | None] = {}


def _own_starttime() -> int | None:
    """This process's starttime: read from /proc once per pid (it never changes; a
    forked child has its own pid and reads its own)."""
    pid = os.getpid()
    if pid not in _OWN_STARTTIME:
        _OWN_STARTTIME[pid] = proc_starttime(pid)
    return _OWN_STARTTIME[pid]


def _payload() -> bytes:
    body: JsonObj = {"pid": os.getpid(), "createdAt": iso_ms(now_ms())}
    st = _own_starttime()
    if st is not None:
        body["starttime"] = st
    return orjson.dumps(body)


@dataclass
class HeldLock:
    path: Path
    payload: bytes
    ino: int
    acquired_ms: int
    broke: list[LockStatus]

    def release(self) -> None:
        """Unlink only if the lock is still ours (same inode, same content)."""

        raw, st = _read_lock(self.path)
        if st is None or st.st_ino != self.ino or raw != self.payload:
            return
        with contextlib.suppress(FileNotFoundError, SymlinkRefused):
            unlink(self.path, durable=False)

    def release_at(self, d: int) -> None:
        """release() through an open fd of the lock's folder (see try_acquire_at)."""
        name = self.path.name
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=d)
        except OSError:
            return
        try:
            st = os.fstat(fd)
            # one byte more than the payload: a longer file is not ours either
            raw = os.read(fd, len(self.payload) + 1)
        except OSError:
            return
        finally:
            os.close(fd)
        if st.st_ino != self.ino or raw != self.payload:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=d)

    def held_ms(self) -> int:
        return now_ms() - self.acquired_ms


def _lock_os_error(path: Path, exc: OSError) -> Exception:

    exc = named(exc, path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionDenied(
            f"cannot create lock {path}: {exc.strerror}",
            path=str(path),
            hint="run sessionctl as the user that owns the OpenClaw state dir",
        )
    return from_os_error(exc, "cannot create lock")


# errnos of a filesystem without hard links: fall back to O_EXCL create + write
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EXDEV}


def try_acquire(path: Path) -> HeldLock | None:
    """Create the lock file with its payload already in it.

    The payload goes into a hidden temp file in the lock's folder, which is then
    hard-linked to the lock path (EEXIST when the lock is taken, exactly like O_EXCL).
    So the lock never exists empty: a sessionctl killed between creating the lock and
    writing its payload would otherwise leave a lock with no pid, which the gateway and
    the next run may only reclaim after 5-30 s (format doc §6). Filesystems without
    hard links get OpenClaw's own O_CREAT|O_EXCL create-then-write. Everything goes
    through the folder's fd (fsio.open_dir): never through a symlinked folder."""

    try:
        d = open_dir(path.parent)
    except OSError as exc:
        raise _lock_os_error(path, exc) from None
    try:
        return try_acquire_at(d, path)
    finally:
        os.close(d)


def try_acquire_at(d: int, path: Path) -> HeldLock | None:
    """try_acquire through an open fd `d` of the lock's folder (opened by fsio.open_dir,
    so no symlink on the way): gc archives thousands of transcripts of one folder, each
    under its own lock, and opens the folder once."""
    payload = _payload()
    tmp = f".{path.name}.{os.getpid()}.{uuid.uuid4()}.tmp"
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600, dir_fd=d)
    except OSError as exc:
        raise _lock_os_error(path, exc) from None
    try:
        try:
            os.write(fd, payload)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        try:
            fault_point("lock.create", path)  # test-only: the payload is written, the lock not yet there
            os.link(tmp, path.name, src_dir_fd=d, dst_dir_fd=d, follow_symlinks=False)
        except FileExistsError:
            return None
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise _lock_os_error(path, exc) from None
            return _try_acquire_excl(path, payload, d)
        return HeldLock(path, payload, st.st_ino, now_ms(), [])
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=d)


class FolderLocks:
    """try_acquire_at for many locks of one folder (gc archives thousands of transcripts
    of one folder, each under its own lock), with the same protocol — the lock appears by
    a hard link of a file that already holds its payload (EEXIST when it is taken) and is
    released only while its inode and content are still ours — but cheaper: the payload
    is written once into an unnamed file of the folder (O_TMPFILE) and that file is linked
    to each lock in turn, instead of a named temp file being created, linked and removed
    for every lock (two folder changes fewer per lock; in a folder of 100,000 files that
    halves what a lock costs). Unnamed, it leaves nothing behind when the process is
    killed. It is written again once it is PAYLOAD_RENEW_MS old, so a lock's `createdAt`
    is never more than that older than the lock (a transcript lock turns stale after 30
    minutes). Where unnamed files or /proc are missing, each lock is try_acquire_at's."""

    PAYLOAD_RENEW_MS = 1_000

    def __init__(self, dir_fd: int, folder: Path) -> None:
        self.d = dir_fd
        self.folder = folder
        self._fd: int | None = None
        self._payload = b""
        self._ino = 0
        self._made_ms = 0
        self._plain = not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd")

    def _renew(self) -> bool:
        self.close()
        payload = _payload()
        try:
            fd = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o600, dir_fd=self.d)
        except OSError:  # no unnamed files on this filesystem (or kernel)
            self._plain = True
            return False
        self._fd = fd
        os.write(fd, payload)
        self._ino = os.fstat(fd).st_ino
        self._payload, self._made_ms = payload, now_ms()
        return True

    def try_acquire(self, name: str) -> HeldLock | None:
        """The lock file `name` of this folder, or None when it is taken."""
        path = self.folder / name
        if not self._plain and (self._fd is None or now_ms() - self._made_ms >= self.PAYLOAD_RENEW_MS):
            self._renew()
        if self._plain or self._fd is None:
            return try_acquire_at(self.d, path)
        try:
            fault_point("lock.create", path)  # test-only: the payload is written, the lock not yet there
            os.link(f"/proc/self/fd/{self._fd}", name, dst_dir_fd=self.d, follow_symlinks=True)
        except FileExistsError:
            return None
        except OSError as exc:
            if exc.errno not in (*_NO_LINK, errno.ENOENT):
                raise _lock_os_error(path, exc) from None
            self._plain = True  # no hard links here, or no /proc: the one-by-one way
            self.close()
            return try_acquire_at(self.d, path)
        return HeldLock(path, self._payload, self._ino, now_ms(), [])

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _try_acquire_excl(path: Path, payload: bytes, dir_fd: int) -> HeldLock | None:
    try:
        fd = os.open(path.name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        return None
    except OSError as exc:
        raise _lock_os_error(path, exc) from None
    try:
        os.write(fd, payload)
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return HeldLock(path, payload, st.st_ino, now_ms(), [])


class _Backoff:
    """The wait between two looks at a lock: `first_s`, doubling up to 250 ms, for as
    long as `timeout_s` (from now) lasts."""

    def __init__(self, timeout_s: float, *, first_s: float) -> None:
        self.deadline = time.monotonic() + timeout_s
        self.delay = first_s

    def wait(self) -> bool:
        """Sleep before the next look; False (no sleep) once the time is up."""
        if time.monotonic() >= self.deadline:
            return False
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, 0.25)
        return True


def acquire(
    target: Path, *, timeout_s: float = STORE_LOCK_TIMEOUT_S, stale_ms: int = STORE_LOCK_STALE_MS
) -> HeldLock:
    """Take `<target>.lock` with the gateway's protocol, breaking only provably stale
    locks; back off up to `timeout_s`, then raise BusyError naming the holder."""
    path = lock_path_for(target)
    if path.parent != target.parent:
        # the folder is (or passes through) a symlink: the lock would land elsewhere, and
        # every write to this folder is refused anyway (fsio.open_dir)

        raise from_os_error(
            SymlinkRefused(
                errno.ELOOP, "has a symbolic link in it (never written through)", str(target.parent)
            ),
            f"cannot lock {target}",
        )
    backoff = _Backoff(timeout_s, first_s=0.01)
    broke: list[LockStatus] = []
    last: LockStatus | None = None
    while True:
        held = try_acquire(path)
        if held is not None:
            held.broke = broke
            return held
        last = inspect_lock(path, stale_ms=stale_ms)
        if last.exists and last.stale and remove_if_unchanged(last):
            broke.append(last)
            continue
        if not backoff.wait():
            holder = last.describe() if last.exists else "another process"
            raise BusyError(
                f"{path} is held by {holder}; gave up after {timeout_s:g}s",
                path=str(path),
                hint="wait for the holder to finish and run again; a lock is only broken when provably stale",
            )


@contextlib.contextmanager
def store_lock(store_path: Path, *, timeout_s: float = STORE_LOCK_TIMEOUT_S) -> Iterator[HeldLock]:
    held = acquire(store_path, timeout_s=timeout_s)
    try:
        yield held
    finally:
        try:
            fault_point("store.unlock")  # test-only: the end of the critical section
        finally:
            held.release()


def _user(uid: int) -> str:
    import pwd

    try:
        return f"{uid} ({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return str(uid)


def refuse_foreign_owner(state_dir: Path) -> None:
    """Mutations run as the user that owns the state dir. Under any other uid (root
    included) the gateway would judge sessionctl's store lock stale — signalling its
    holder fails with EPERM, which OpenClaw counts as dead (format doc §6) — and the run
    folders and lock files sessionctl creates would not belong to that user."""
    try:
        owner = os.stat(state_dir).st_uid
    except OSError:
        return  # a missing state dir is reported by whoever reads it
    me = os.geteuid()
    if owner == me:
        return
    try:
        import pwd

        name = pwd.getpwuid(owner).pw_name
    except (KeyError, ImportError):
        name = str(owner)
    raise PermissionDenied(
        f"{state_dir} belongs to uid {_user(owner)} but sessionctl runs as uid {_user(me)}; "
        "a gateway of that user would take sessionctl's lock for a dead one, so nothing was changed",
        path=str(state_dir),
        hint=f"run sessionctl as the user that owns the state dir (e.g. `sudo -u {name} sessionctl …`)",
    )


@contextlib.contextmanager
def private_lock(state_dir: Path, *, timeout_s: float = 10.0) -> Iterator[Path]:
    """sessionctl's own lock: two sessionctl runs on one state dir never overlap.
    A flock (filelock) — invisible to the gateway, which is why the O_EXCL store lock
    is taken as well."""
    from filelock import FileLock, Timeout

    refuse_foreign_owner(state_dir)
    folder = own_folder(state_dir)  # refused when it (or runs/ in it) is a symlink
    try:
        makedirs(folder)
    except OSError as exc:
        raise from_os_error(exc, "cannot create sessionctl's folder in the state dir") from None
    lock = FileLock(str(folder / ".lock"), timeout=timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(
            f"another sessionctl run holds {folder / '.lock'}",
            path=str(folder / ".lock"),
            hint="wait for the other sessionctl run to finish",
        ) from None
    try:
        yield folder
    finally:
        lock.release()


def wait_store_lock_free(store_path: Path, timeout_s: float) -> None:
    """Fail fast, before a run folder exists, while a live process holds sessions.json.lock."""
    path = lock_path_for(store_path)
    backoff = _Backoff(timeout_s, first_s=0.02)
    while True:
        st = inspect_lock(path, stale_ms=STORE_LOCK_STALE_MS)
        if not st.exists or st.stale:
            return
        if not backoff.wait():
            raise BusyError(
                f"{path} is held by {st.describe()}; gave up after {timeout_s:g}s, nothing was changed",
                path=str(path),
                hint="wait for the holder to finish and run the command again (a live holder's lock is never broken)",
            )
