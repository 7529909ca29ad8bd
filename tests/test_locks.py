"""The gateway's O_EXCL lock protocol (format doc §6) and sessionctl's private lock, tested
against second, real processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.helpers import dead_pid, iso

from sessionctl.errors import BusyError
from sessionctl.locks import (
    STORE_LOCK_STALE_MS,
    FolderLocks,
    acquire,
    inspect_lock,
    lock_path_for,
    pid_alive,
    private_lock,
    proc_starttime,
    remove_if_unchanged,
    store_lock,
)

HOLD_GATEWAY_LOCK = """
import sys
from pathlib import Path
from sessionctl.locks import acquire
held = acquire(Path(sys.argv[1]), timeout_s=10)
print("held", flush=True)
sys.stdin.read()
held.release()
"""

HOLD_PRIVATE_LOCK = """
import sys
from pathlib import Path
from sessionctl.locks import private_lock
with private_lock(Path(sys.argv[1]), timeout_s=10):
    print("held", flush=True)
    sys.stdin.read()
"""

SLEEPER = "import sys; sys.stdin.read()"


def _spawn(code: str, *args: str) -> subprocess.Popen[str]:
    """A python child that runs `code`; it lives until its stdin is closed."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A second process holding sessions.json.lock through sessionctl.locks."""
    target = tmp_path / "sessions.json"
    target.write_text("{}")
    proc = _spawn(HOLD_GATEWAY_LOCK, str(target))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc, target
    if proc.poll() is None:
        _finish(proc)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[str]]:
    """A live process that is not ours to judge by anything but its pid/starttime."""
    proc = _spawn(SLEEPER)
    yield proc
    _finish(proc)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _write_lock(path: Path, payload: dict[str, object] | bytes) -> None:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# ------------------------------------------------------------ our own lock


def test_acquire_writes_the_gateway_payload(tmp_path: Path) -> None:
    target = tmp_path / "sessions.json"
    with store_lock(target) as held:
        lock = tmp_path / "sessions.json.lock"
        assert held.path == lock
        payload = json.loads(lock.read_bytes())
        assert list(payload) == ["pid", "createdAt", "starttime"]
        assert payload["pid"] == os.getpid()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", payload["createdAt"])
        assert payload["starttime"] == proc_starttime(os.getpid())
        assert (lock.stat().st_mode & 0o777) == 0o600
        assert held.broke == []
        status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
        assert (status.exists, status.stale, status.pid, status.alive) == (True, False, os.getpid(), True)
    assert not lock.exists()


TAKE_GATEWAY_LOCK = """
import sys
from pathlib import Path
from sessionctl.locks import acquire
acquire(Path(sys.argv[1]), timeout_s=10)
"""


def test_a_run_killed_while_taking_the_lock_leaves_no_lock_behind(tmp_path: Path) -> None:
    """The payload is written before the lock file appears (a hard link of a finished
    temp file): a sessionctl killed mid-acquire never leaves an empty, pid-less lock,
    which the gateway and the next run could only reclaim after 5-30 s."""
    target = tmp_path / "sessions.json"
    target.write_text("{}")
    env = {**os.environ, "SESSIONCTL_FAULT": "kill:lock.create"}
    with subprocess.Popen(
        [sys.executable, "-c", TAKE_GATEWAY_LOCK, str(target)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:  # Popen, not run: the payload must name this very child's pid
        try:
            _out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == -9, err
    assert not (tmp_path / "sessions.json.lock").exists()
    # only the killed run's hidden temp file (with the full payload) is left; it blocks nothing
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "sessions.json")
    assert len(left) == 1 and re.fullmatch(r"\.sessions\.json\.lock\.\d+\.[0-9a-f-]{36}\.tmp", left[0]), left
    payload = json.loads((tmp_path / left[0]).read_bytes())
    assert "pid" in payload
    assert payload["pid"] == proc.pid, payload  # the killed run's own payload, complete
    t0 = time.monotonic()
    with store_lock(target, timeout_s=1):
        assert json.loads((tmp_path / "sessions.json.lock").read_bytes())["pid"] == os.getpid()
    assert time.monotonic() - t0 < 1


def test_lock_lives_next_to_the_real_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    assert lock_path_for(tmp_path / "alias" / "sessions.json") == real / "sessions.json.lock"


# ------------------------------------------------------------ a live holder


def test_live_holder_makes_acquire_time_out_naming_the_pid(
    holder: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, target = holder
    with pytest.raises(BusyError) as ei:
        acquire(target, timeout_s=0.3)
    assert f"held by pid {proc.pid} (alive" in ei.value.message
    assert ei.value.hint is not None and "provably stale" in ei.value.hint
    status = inspect_lock(lock_path_for(target), stale_ms=STORE_LOCK_STALE_MS)
    assert (status.stale, status.pid, status.alive) == (False, proc.pid, True)
    assert status.reason.startswith(f"held by pid {proc.pid}")
    # the holder finishes and releases: now we get it, without breaking anything
    _finish(proc)
    assert not lock_path_for(target).exists()
    held = acquire(target, timeout_s=1)
    assert held.broke == []
    held.release()


# ------------------------------------------------------------ provably stale


def test_stale_by_dead_pid_is_broken(tmp_path: Path) -> None:
    target = tmp_path / "sessions.json"
    pid = dead_pid()
    _write_lock(lock_path_for(target), {"pid": pid, "createdAt": iso(_now_ms()), "starttime": 1})
    held = acquire(target, timeout_s=1)
    try:
        assert [b.reason for b in held.broke] == [f"holder pid {pid} is not running"]
        assert json.loads(held.path.read_bytes())["pid"] == os.getpid()
    finally:
        held.release()


def test_stale_by_age(tmp_path: Path, sleeper: subprocess.Popen[str]) -> None:
    lock = tmp_path / "sessions.json.lock"
    start = proc_starttime(sleeper.pid)
    _write_lock(lock, {"pid": sleeper.pid, "createdAt": iso(_now_ms() - 60_000), "starttime": start})
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert status.stale and status.alive is True
    assert status.reason.startswith("older than 30s")
    held = acquire(tmp_path / "sessions.json", timeout_s=1)
    held.release()
    assert sleeper.poll() is None  # breaking a stale lock never touches its process


def test_young_lock_of_a_live_process_is_not_stale(tmp_path: Path, sleeper: subprocess.Popen[str]) -> None:
    lock = tmp_path / "sessions.json.lock"
    start = proc_starttime(sleeper.pid)
    _write_lock(lock, {"pid": sleeper.pid, "createdAt": iso(_now_ms() - 1000), "starttime": start})
    assert not inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS).stale
    with pytest.raises(BusyError, match=f"pid {sleeper.pid}"):
        acquire(tmp_path / "sessions.json", timeout_s=0.2)
    assert lock.exists()


def test_recycled_pid_is_stale(tmp_path: Path, sleeper: subprocess.Popen[str]) -> None:
    lock = tmp_path / "sessions.json.lock"
    start = proc_starttime(sleeper.pid)
    assert start is not None
    _write_lock(lock, {"pid": sleeper.pid, "createdAt": iso(_now_ms()), "starttime": start + 1})
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert status.stale
    assert status.reason == f"pid {sleeper.pid} was recycled (start time differs)"


def test_own_max_hold_exceeded_is_stale(tmp_path: Path, sleeper: subprocess.Popen[str]) -> None:
    lock = tmp_path / "sessions.json.lock"
    start = proc_starttime(sleeper.pid)
    payload = {"pid": sleeper.pid, "createdAt": iso(_now_ms() - 5000), "starttime": start, "maxHoldMs": 2000}
    _write_lock(lock, payload)
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert status.stale and "maxHoldMs" in status.reason


def test_old_v2_payload_uses_started_at(tmp_path: Path, sleeper: subprocess.Popen[str]) -> None:
    lock = tmp_path / "sessions.json.lock"
    _write_lock(lock, {"pid": sleeper.pid, "startedAt": _now_ms() - 2000})
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert not status.stale and status.created_at_ms is not None
    lock.unlink()
    _write_lock(lock, {"pid": sleeper.pid, "startedAt": _now_ms() - 45_000})
    assert inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS).stale


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"createdAt": "2026-01-01T00:00:00.000Z"}, "payload has no valid pid"),
        ({"pid": "123", "createdAt": "2026-01-01T00:00:00.000Z"}, "payload has no valid pid"),
        ({"pid": -5, "createdAt": "2026-01-01T00:00:00.000Z"}, "payload has no valid pid"),
        ({"pid": True, "createdAt": "2026-01-01T00:00:00.000Z"}, "payload has no valid pid"),
    ],
)
def test_invalid_pid_is_stale(tmp_path: Path, payload: dict[str, object], reason: str) -> None:
    lock = tmp_path / "x.lock"
    _write_lock(lock, payload)
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert status.stale and status.reason == reason


def test_missing_created_at_is_stale(tmp_path: Path, sleeper: subprocess.Popen[str]) -> None:
    lock = tmp_path / "x.lock"
    _write_lock(
        lock, {"pid": sleeper.pid, "createdAt": "yesterday-ish", "starttime": proc_starttime(sleeper.pid)}
    )
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert status.stale and status.reason == "payload has no valid createdAt"


# ------------------------------------------------------------ unreadable payloads


@pytest.mark.parametrize("payload", [b"", b'{"pid": 12', b"\x00\xff"])
def test_unreadable_young_lock_is_not_broken(tmp_path: Path, payload: bytes) -> None:
    target = tmp_path / "sessions.json"
    lock = lock_path_for(target)
    _write_lock(lock, payload)  # e.g. a gateway between O_EXCL create and write
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert status.unreadable and not status.stale
    assert status.reason == "unreadable payload, too young to judge (may be mid-write)"
    with pytest.raises(BusyError, match="an unknown holder"):
        acquire(target, timeout_s=0.2)
    assert lock.read_bytes() == payload


def test_unreadable_old_lock_is_broken(tmp_path: Path) -> None:
    target = tmp_path / "sessions.json"
    lock = lock_path_for(target)
    _write_lock(lock, b'{"pid": 12')
    old = time.time() - 120
    os.utime(lock, (old, old))
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert status.stale and status.reason.startswith("unreadable payload, untouched for 2min")
    held = acquire(target, timeout_s=1)
    try:
        assert len(held.broke) == 1 and held.broke[0].unreadable
    finally:
        held.release()


def _unopenable_lock(lock: Path) -> Iterator[None]:
    """A lock file this process cannot open, whatever its uid: another user's 0600 lock
    (EACCES) when not root; for root, whom mode bits never stop, a socket (ENXIO)."""
    if os.geteuid() != 0:
        _write_lock(lock, b"{}")
        lock.chmod(0)
        yield
        lock.chmod(0o600)
        return
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(lock))
        yield


def test_a_lock_that_cannot_be_opened_is_held_however_old(tmp_path: Path) -> None:
    """Failing to open a lock proves nothing about its holder (another user's gateway may
    hold it for a long turn): it is never judged stale, never broken, and acquire gives up."""
    target = tmp_path / "sessions.json"
    lock = lock_path_for(target)
    for _ in _unopenable_lock(lock):
        old = time.time() - 3600
        os.utime(lock, (old, old), follow_symlinks=False)
        status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
        assert (status.exists, status.stale, status.unreadable) == (True, False, True)
        assert "treated as held" in status.reason
        with pytest.raises(BusyError, match="gave up after"):
            acquire(target, timeout_s=0.3)
        assert os.path.lexists(lock)


def test_lock_path_that_is_a_directory_is_judged_not_crashed(tmp_path: Path) -> None:
    lock = tmp_path / "sessions.json.lock"
    lock.mkdir()
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert status.exists and status.unreadable and not status.stale
    with pytest.raises(BusyError):
        acquire(tmp_path / "sessions.json", timeout_s=0.2)
    assert lock.is_dir()
    old = time.time() - 120
    os.utime(lock, (old, old))
    assert inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS).stale
    # stale by the rules, but not a file we can remove: time out, do not spin or crash
    with pytest.raises(BusyError):
        acquire(tmp_path / "sessions.json", timeout_s=0.2)
    assert lock.is_dir()


# ------------------------------------------------------------ EPERM is alive


def test_a_pid_we_may_not_signal_is_alive(tmp_path: Path) -> None:
    """pid 1 belongs to another user unless we are root; as root kill(1, 0) succeeds, so
    the EPERM branch cannot be produced — then pid 1 with its real starttime must still
    never be judged stale while its lock is young."""
    lock = tmp_path / "sessions.json.lock"
    _write_lock(lock, {"pid": 1, "createdAt": iso(_now_ms()), "starttime": proc_starttime(1)})
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert not status.stale
    if os.geteuid() == 0:
        assert pid_alive(1) is True and status.alive is True
    else:
        assert pid_alive(1) is None and status.alive is None
        assert "alive (not ours to signal)" in status.reason
    with pytest.raises(BusyError, match="pid 1 "):
        acquire(tmp_path / "sessions.json", timeout_s=0.2)
    assert lock.exists()


def test_pid_alive_of_a_dead_process() -> None:
    assert pid_alive(dead_pid()) is False
    assert pid_alive(0) is False
    assert pid_alive(-1) is False
    assert pid_alive(os.getpid()) is True


def test_zombie_counts_as_dead(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while pid_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # exited but not reaped yet: a zombie
        assert pid_alive(proc.pid) is False
    finally:
        proc.wait()


# ------------------------------------------------------------ release and break only our own


def test_release_leaves_a_lock_whose_content_was_replaced(tmp_path: Path) -> None:
    held = acquire(tmp_path / "sessions.json", timeout_s=1)
    other = json.dumps({"pid": 999999, "createdAt": iso(_now_ms()), "starttime": 1}).encode()
    with open(held.path, "r+b") as f:  # same inode, new content
        f.write(other)
        f.truncate()
    held.release()
    assert held.path.read_bytes() == other


def test_remove_if_unchanged_refuses_a_changed_lock(tmp_path: Path) -> None:
    lock = tmp_path / "sessions.json.lock"
    _write_lock(lock, {"pid": dead_pid(), "createdAt": iso(_now_ms())})
    status = inspect_lock(lock, stale_ms=STORE_LOCK_STALE_MS)
    assert status.stale
    lock.unlink()
    _write_lock(lock, {"pid": os.getpid(), "createdAt": iso(_now_ms())})  # a new, live holder
    assert remove_if_unchanged(status) is False
    assert json.loads(lock.read_bytes())["pid"] == os.getpid()


# ------------------------------------------------------------ many processes, one holder

WORKER = """
import sys
from pathlib import Path
from sessionctl.locks import store_lock
target, counter = Path(sys.argv[1]), Path(sys.argv[2])
for _ in range(int(sys.argv[3])):
    with store_lock(target, timeout_s=30):
        n = int(counter.read_text())
        counter.write_text(str(n + 1))
"""


def test_racing_processes_never_hold_the_lock_together(tmp_path: Path) -> None:
    target = tmp_path / "sessions.json"
    counter = tmp_path / "counter"
    counter.write_text("0")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(target), str(counter), "15"], stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert counter.read_text() == "45"  # no lost update: one holder at a time
    assert not lock_path_for(target).exists()


# ------------------------------------------------------------ the private lock


def test_private_lock_excludes_a_second_sessionctl_process(tmp_path: Path) -> None:
    proc = _spawn(HOLD_PRIVATE_LOCK, str(tmp_path))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    try:
        with pytest.raises(BusyError) as ei, private_lock(tmp_path, timeout_s=0.2):
            pass
        assert ei.value.message == f"another sessionctl run holds {tmp_path / 'sessionctl' / '.lock'}"
    finally:
        _finish(proc)
    with private_lock(tmp_path, timeout_s=1) as folder:
        assert folder == tmp_path / "sessionctl"
        assert (folder.stat().st_mode & 0o777) == 0o700


def test_folder_locks_make_the_gateways_lock_and_release_only_their_own(tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    (folder / "b.jsonl.lock").write_bytes(b'{"pid": 1}')  # someone else's
    d = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        locks = FolderLocks(d, folder)
        a = locks.try_acquire("a.jsonl.lock")
        c = locks.try_acquire("c.jsonl.lock")
        assert a is not None and c is not None
        assert locks.try_acquire("b.jsonl.lock") is None  # taken: not touched
        assert (folder / "b.jsonl.lock").read_bytes() == b'{"pid": 1}'
        for held in (a, c):  # OpenClaw's payload, in place the moment the lock exists
            body = json.loads((folder / held.path.name).read_bytes())
            assert body["pid"] == os.getpid() and body["createdAt"].endswith("Z")
            assert oct((folder / held.path.name).stat().st_mode & 0o777) == "0o600"
        assert locks.try_acquire("a.jsonl.lock") is None  # held by us: taken all the same
        (folder / "c.jsonl.lock").unlink()
        (folder / "c.jsonl.lock").write_bytes(c.payload)  # same content, another file: not ours
        a.release_at(d)
        c.release_at(d)
        locks.close()
    finally:
        os.close(d)
    assert sorted(p.name for p in folder.iterdir()) == ["b.jsonl.lock", "c.jsonl.lock"]


def test_folder_locks_leave_nothing_behind_when_killed(tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom sessionctl.locks import FolderLocks\n"
        f"f = Path({str(folder)!r})\nd = os.open(f, os.O_RDONLY | os.O_DIRECTORY)\n"
        "FolderLocks(d, f).try_acquire('a.jsonl.lock')\nos.kill(os.getpid(), 9)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == -9, res.stderr
    assert [p.name for p in folder.iterdir()] == ["a.jsonl.lock"]  # the lock only, no payload file
