"""Safe file primitives: atomic writes that leave the old or the new file when the process
dies at any step (real SIGKILL via SESSIONCTL_FAULT), error injection, bounded reads that
never follow links or block, containment."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.helpers import make_entry, store_bytes

from sessionctl.fsio import (
    NotRegularFile,
    atomic_write,
    copy_durable,
    durable_rename,
    is_within,
    open_regular,
    read_bytes,
    resolve_inside,
)

WRITER = """
import json, sys
from pathlib import Path
from sessionctl import fsio, store
how, target, new = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]).read_bytes()
try:
    for _ in range(int(sys.argv[4])):
        if how == "fsio":
            fsio.atomic_write(target, new)
        else:
            store.write_store(target, json.loads(new))
except OSError as exc:
    print(exc.errno, flush=True)
    sys.exit(3)
"""

OLD_STORE = {"agent:main:main": make_entry("old-session", 1_777_000_000_000, label="ancien")}
NEW_STORE = {
    "agent:main:main": make_entry("new-session", 1_777_000_100_000, label="neu ✓"),
    "agent:main:telegram:direct:1": make_entry("other", 1_777_000_200_000, systemPromptReport={"chars": 1}),
}
OLD = store_bytes(OLD_STORE)
NEW = store_bytes(NEW_STORE)
FAULT_POINTS = ["atomic.write", "atomic.fsync", "atomic.replace", "atomic.fsync_dir"]


def _run_writer(how: str, target: Path, fault: str, times: int = 1) -> subprocess.CompletedProcess[str]:
    src = target.parent.parent / "new-content.json"
    src.write_bytes(NEW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    env["SESSIONCTL_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-c", WRITER, how, str(target), str(src), str(times)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def target(tmp_path: Path) -> Path:
    folder = tmp_path / "sessions"
    folder.mkdir()
    t = folder / "sessions.json"
    t.write_bytes(OLD)
    t.chmod(0o600)
    return t


@pytest.mark.parametrize("how", ["store", "fsio"])
@pytest.mark.parametrize("point", FAULT_POINTS)
def test_sigkill_at_every_step_leaves_old_or_new(target: Path, how: str, point: str) -> None:
    proc = _run_writer(how, target, f"kill:{point}")
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    replaced = point == "atomic.fsync_dir"
    assert target.read_bytes() == (NEW if replaced else OLD)
    assert (target.stat().st_mode & 0o777) == 0o600
    leftovers = sorted(p.name for p in target.parent.iterdir() if p != target)
    if replaced:
        assert leftovers == []
        return
    assert len(leftovers) == 1, leftovers
    (tmp,) = leftovers
    if how == "store":
        # OpenClaw's own temp name: its cleanup reclaims it after 5 minutes
        assert re.fullmatch(r"sessions\.json\.\d+\.[0-9a-f-]{36}\.tmp", tmp)
    else:
        assert re.fullmatch(r"\.sessions\.json\.\d+\.[0-9a-f-]{36}\.tmp", tmp)
    tmp_path = target.parent / tmp
    assert (tmp_path.stat().st_mode & 0o777) == 0o600
    # killed before the write: empty; after it: the complete new bytes, never a mix
    assert tmp_path.read_bytes() == (b"" if point == "atomic.write" else NEW)


def test_store_temp_name_carries_the_writers_pid(target: Path) -> None:
    src = target.parent.parent / "new-content.json"
    src.write_bytes(NEW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONCTL_")}
    env["SESSIONCTL_FAULT"] = "kill:atomic.replace"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, "store", str(target), str(src), "1"], env=env)
    proc.wait(timeout=60)
    (tmp,) = [p.name for p in target.parent.iterdir() if p != target]
    assert tmp.startswith(f"sessions.json.{proc.pid}.")


def test_kill_at_the_second_write_keeps_the_first(target: Path) -> None:
    proc = _run_writer("store", target, "kill:atomic.replace:2", times=2)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == NEW  # the first write completed; the second died unrenamed


@pytest.mark.parametrize("how", ["store", "fsio"])
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("enospc:atomic.write", errno.ENOSPC),
        ("enospc:atomic.fsync", errno.ENOSPC),
        ("eio:atomic.fsync", errno.EIO),
        ("enospc:atomic.replace", errno.ENOSPC),
    ],
)
def test_write_errors_leave_the_original_and_no_temp(target: Path, how: str, fault: str, code: int) -> None:
    proc = _run_writer(how, target, fault)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.strip() == str(code)
    assert target.read_bytes() == OLD
    assert [p.name for p in target.parent.iterdir()] == ["sessions.json"]


def test_fault_injection_is_inert_without_the_variable(target: Path) -> None:
    atomic_write(target, NEW)
    assert target.read_bytes() == NEW


# ------------------------------------------------------------ atomic_write in-process


def test_atomic_write_creates_a_new_file_with_the_mode(tmp_path: Path) -> None:
    p = tmp_path / "new.json"
    atomic_write(p, b"abc", mode=0o640)
    assert p.read_bytes() == b"abc"
    assert (p.stat().st_mode & 0o777) == 0o640
    assert [x.name for x in tmp_path.iterdir()] == ["new.json"]


def test_atomic_write_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_bytes(b"precious")
    link = tmp_path / "sessions.json"
    link.symlink_to(outside)
    atomic_write(link, b"{}")
    assert outside.read_bytes() == b"precious"
    assert not link.is_symlink() and link.read_bytes() == b"{}"


def test_atomic_write_onto_a_directory_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "sessions.json").mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path / "sessions.json", b"{}")
    assert [x.name for x in tmp_path.iterdir()] == ["sessions.json"]


def test_atomic_write_keeps_the_owner_of_the_file_it_replaces(tmp_path: Path) -> None:
    p = tmp_path / "sessions.json"
    p.write_bytes(b"old")
    if os.geteuid() == 0:
        os.chown(p, 65534, 65534)  # a gateway running as another user; we run as root
        atomic_write(p, b"new")
        assert (p.stat().st_uid, p.stat().st_gid) == (65534, 65534)
    else:
        atomic_write(p, b"new")
        assert p.stat().st_uid == os.geteuid()
    assert p.read_bytes() == b"new"


def test_atomic_write_creates_a_new_file_with_mode_0600(tmp_path: Path) -> None:
    atomic_write(tmp_path / "journal.json", b'{"a": 1}')
    assert (tmp_path / "journal.json").read_bytes() == b'{"a": 1}'
    assert ((tmp_path / "journal.json").stat().st_mode & 0o777) == 0o600


# ------------------------------------------------------------ rename and copy


def test_durable_rename_moves_and_refuses_to_clobber(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "sub" / "b.jsonl"
    b.parent.mkdir()
    a.write_bytes(b"A")
    durable_rename(a, b)
    assert not a.exists() and b.read_bytes() == b"A"
    a.write_bytes(b"A2")
    with pytest.raises(FileExistsError):
        durable_rename(a, b)
    assert a.read_bytes() == b"A2" and b.read_bytes() == b"A"


def test_copy_durable(tmp_path: Path) -> None:
    src = tmp_path / "t.jsonl"
    data = os.urandom(3 << 20)
    src.write_bytes(data)
    assert copy_durable(src, tmp_path / "copy") == len(data)
    assert (tmp_path / "copy").read_bytes() == data
    assert ((tmp_path / "copy").stat().st_mode & 0o777) == 0o600
    with pytest.raises(FileExistsError):
        copy_durable(src, tmp_path / "copy")


def test_copy_durable_refuses_a_symlink_source(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(NotRegularFile):
        copy_durable(tmp_path / "link", tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


# ------------------------------------------------------------ bounded reads


def test_read_bytes(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    assert read_bytes(tmp_path / "empty") == b""
    data = os.urandom((2 << 20) + 17)
    (tmp_path / "big").write_bytes(data)
    assert read_bytes(tmp_path / "big") == data


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("symlink", "is a symbolic link (not followed)"),
        ("fifo", "is not a regular file"),
        ("dir", "is a directory"),
    ],
)
def test_open_regular_refuses_what_is_not_a_regular_file(tmp_path: Path, kind: str, message: str) -> None:
    p = tmp_path / "x"
    if kind == "symlink":
        (tmp_path / "real").write_bytes(b"secret")
        p.symlink_to(tmp_path / "real")
    elif kind == "fifo":
        os.mkfifo(p)  # a blocking open would hang this test forever
    else:
        p.mkdir()
    with pytest.raises(NotRegularFile) as ei, open_regular(p):
        pass
    assert ei.value.strerror == message
    with pytest.raises(NotRegularFile):
        read_bytes(p)


def test_open_regular_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), open_regular(tmp_path / "nope"):
        pass


# ------------------------------------------------------------ containment


def test_is_within() -> None:
    assert is_within(Path("/a/b/c"), Path("/a/b"))
    assert is_within(Path("/a/b"), Path("/a/b"))
    assert not is_within(Path("/a/bc"), Path("/a/b"))
    assert not is_within(Path("/a"), Path("/a/b"))


def test_resolve_inside(tmp_path: Path) -> None:
    root = Path(os.path.realpath(tmp_path)) / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside").write_bytes(b"")
    (root / "out-link").symlink_to(tmp_path / "outside")
    (root / "in-link").symlink_to(root / "sub")
    assert resolve_inside(root / "sub" / "x.jsonl", root) == root / "sub" / "x.jsonl"  # need not exist
    assert resolve_inside(root / "in-link" / "x", root) == root / "sub" / "x"
    assert resolve_inside(root / "sub" / ".." / ".." / "outside", root) is None
    assert resolve_inside(root / "out-link", root) is None
    assert resolve_inside(Path("/etc/passwd"), root) is None
