"""Shared machinery of the reliability tests (no tests here): crash scenarios, the
invariants checked after every kill, the gateway simulator, tripwires for reads outside
the state dir. Used by tests/test_crash_*.py, test_concurrency_*.py, test_hostile_*.py
and benchmarks/soak.py.

Everything runs the real CLI (`python -m sessionctl`) as a subprocess on real files.

Scenarios: one per mutating command, each a small state dir (built once as a template,
copied per case) where the command has every kind of action to do:

| scenario | command | actions |
|---|---|---|
| gc | `gc --max-age 120h --archive-retention 30d` | store.remove in two stores, archive renames (transcript, sidecars, checkpoint, topic), a purged archive moved into the run, a binding file rewritten, a stale `sessions.json.lock` broken |
| repair | `repair --salvage --merge-case` | a damaged store replaced by its salvage, a truncated tail cut, a bad header quarantined, an unsafe entry removed, a case merge, a stale lock and a stale temp file moved into the run |
| archive | `archive --retention 30d` | orphans renamed to `.deleted.<ts>`, old archives moved into the run |
| archive-export | `archive --retention 30d --to <dir> --compress gzip` | the same, then archives exported (copy, verify, unlink) |
| dedupe | `dedupe` | duplicate peers removed from three agents, their transcripts archived |
| undo | `undo <a completed gc run>` | entries re-inserted, archives renamed back, moved files copied back, the binding file restored |
| restore | `restore <a backup run taken before gc>` | whole stores put back under the lock |
| prestart | `prestart --max-age 120h --keep-runs 1` | a backup run, safe repairs, gc — three runs; retention |

Every scenario also holds the classes of issue 17, so a kill or an error anywhere shows
when one of them is lost: the runs folder holds folders that are not sessionctl's (an
operator's archive, notes, a folder named like a run with someone else's meta.json) and
gc and prestart prune runs (`--keep-runs 1`, an older run to prune) — those folders must
survive every kill, error and undo (`FOREIGN_RUN_FOLDERS`); repair and prestart meet
files only a JavaScript JSON.parse reads correctly (a header with a lone surrogate and a
byte-order mark, lines with 1e400 and invalid UTF-8, a store whose only flaw is an
invalid UTF-8 byte) — those must stay byte for byte where they are (`must-stay.json`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.gc import OLD_DM, RECENT_DM, gc_state
from support.helpers import (
    DAY_MS,
    HOUR_MS,
    NOW_ISO,
    NOW_MS,
    StateDir,
    backup_bytes,
    clean_env,
    dead_pid,
    header_line,
    iso,
    live_paths,
    message_line,
    store_bytes,
    transcript_bytes,
)
from support.repair import duplicated_peers

REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- running the CLI


def cli_argv(root: Path, args: list[str], now: str | None = NOW_ISO, json_out: bool = True) -> list[str]:
    """`python -m sessionctl ARGS --state-dir ROOT [--now NOW] [--json]`."""
    clock = ["--now", now] if now else []
    fmt = ["--json"] if json_out else []
    return [sys.executable, "-m", "sessionctl", *args, "--state-dir", str(root), *clock, *fmt]


def cli_env(**extra: str) -> dict[str, str]:
    return clean_env(PYTHONFAULTHANDLER="1", **extra)


def _run_files(root: Path | None) -> dict[str, bytes]:
    """The files of a run folder's backup/ (or moved/, replacement/) by the path they
    back up, with their content as backed up: a compressed store backup `<rel>.zst`
    is `<rel>` with the store's bytes."""
    out: dict[str, bytes] = {}
    for rel, data in _all_files(root).items():
        if rel.endswith(".zst") and data[:4] == b"\x28\xb5\x2f\xfd":
            # a run killed while it backed up leaves a partial copy (never journaled):
            # whatever decompresses of it is all it holds
            import zstandard

            try:
                data = backup_bytes(root / rel)  # type: ignore[operator]
            except zstandard.ZstdError:
                continue
            out[rel.removesuffix(".zst")] = data
        else:
            out[rel] = data
    return out


@dataclass
class Proc:
    """A finished sessionctl process."""

    pid: int
    rc: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.rc == -signal.SIGKILL

    def envelope(self) -> dict[str, Any]:
        try:
            env = json.loads(self.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(
                f"stdout is not JSON ({exc}): {self.stdout!r}\nstderr: {self.stderr}"
            ) from None
        assert isinstance(env, dict)
        return env


def run(
    root: Path,
    args: list[str],
    *,
    fault: str | None = None,
    trace: Path | None = None,
    kill_after: float | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    now: str | None = NOW_ISO,
    json_out: bool = True,
) -> Proc:
    """Run the CLI on `root`; with `fault`, SESSIONCTL_FAULT is set. With `kill_after`
    (needs `trace`), the process gets SIGKILL that many seconds after it reached its
    first fault point (the start of its write phase), if it is still running."""
    extra: dict[str, str] = {}
    if fault:
        extra["SESSIONCTL_FAULT"] = fault
    if trace:
        extra["SESSIONCTL_FAULT_TRACE"] = str(trace)
    p = subprocess.Popen(
        cli_argv(root, args, now, json_out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env if env is not None else cli_env(**extra),
    )
    if kill_after is not None:
        assert trace is not None, "kill_after counts from the first fault point: pass trace"
        while p.poll() is None and not (trace.exists() and trace.stat().st_size):
            time.sleep(0.001)
        try:
            p.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: where it hangs goes to stderr
        out, err = p.communicate(timeout=30)
        raise AssertionError(f"sessionctl {' '.join(args)} hung for {timeout}s:\n{err[-4000:]}") from None
    return Proc(p.pid, p.returncode, out, err)


# ---------------------------------------------------------------- the state as seen from outside


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_lock(rel: str) -> bool:
    return rel.endswith(".lock")


TEMP_NAME = re.compile(r"^\.?(?P<base>.+)\.(?P<pid>\d+)\.[0-9a-f-]{8,36}\.tmp$")


def temp_pid(name: str) -> int | None:
    """The writer's pid when `name` is a temp file name of an atomic write (sessionctl's
    `.<name>.<pid>.<uuid>.tmp` or OpenClaw's `sessions.json.<pid>.<uuid>.tmp`)."""
    m = TEMP_NAME.match(name)
    return int(m.group("pid")) if m else None


def live_files(root: Path) -> dict[str, bytes]:
    """rel path → bytes of every regular file under `root`, without sessionctl's own
    folder (run folders) and without lock files (not session data)."""
    return {
        rel: p.read_bytes()
        for rel, p in live_paths(root)
        if not is_lock(rel) and stat.S_ISREG(os.lstat(p).st_mode)
    }


def lock_files(root: Path) -> set[tuple[str, bytes]]:
    """(rel path, payload) of every lock file in the live folders."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and "sessionctl" in dirnames:
            dirnames.remove("sessionctl")
        for name in filenames:
            p = Path(dirpath) / name
            if name.endswith(".lock") and stat.S_ISREG(os.lstat(p).st_mode):
                out.add((str(p.relative_to(root)), p.read_bytes()))
    return out


def store_rels(files: dict[str, bytes]) -> list[str]:
    return sorted(r for r in files if os.path.basename(r) == "sessions.json")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_store(data: bytes) -> dict[str, Any] | None:
    """A store as JSON.parse reads it (no BOM, no NaN/Infinity, strict UTF-8), or None."""
    try:
        v = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError and a BOM included
        return None
    return v if isinstance(v, dict) else None


def runs_dir(root: Path) -> Path:
    return root / "sessionctl" / "runs"


def run_ids(root: Path) -> list[str]:
    """The run folders (those of the runs folder that are not planted foreign folders)."""
    try:
        names = os.listdir(runs_dir(root))
    except FileNotFoundError:
        return []
    return sorted(n for n in names if not n.startswith(".") and n not in FOREIGN_RUN_FOLDERS)


@dataclass
class Baseline:
    """The state before a command: every live file's bytes, the parsed stores, the runs."""

    root: Path
    files: dict[str, bytes]
    stores: dict[str, dict[str, Any] | None]
    runs: set[str]
    store_modes: dict[str, int]
    export_dir: Path | None = None
    export_files: dict[str, bytes] = field(default_factory=dict)
    locks: set[tuple[str, bytes]] = field(default_factory=set)
    foreign: dict[str, bytes] = field(default_factory=dict)  # folders of the runs folder not sessionctl's
    must_stay: list[str] = field(default_factory=list)  # live files no command may change

    @classmethod
    def capture(cls, root: Path, export_dir: Path | None = None) -> Baseline:
        files = live_files(root)
        stores = {r: parse_store(files[r]) for r in store_rels(files)}
        modes = {r: stat.S_IMODE(os.lstat(root / r).st_mode) for r in stores}
        exp = _all_files(export_dir) if export_dir else {}
        base = cls(root, files, stores, set(run_ids(root)), modes, export_dir, exp, lock_files(root))
        base.foreign = foreign_files(root)
        stay = root.parent / "must-stay.json"
        base.must_stay = json.loads(stay.read_text()) if stay.exists() else []
        return base

    def new_runs(self) -> list[str]:
        return [r for r in run_ids(self.root) if r not in self.runs]


FOREIGN_RUN_FOLDERS = ("0-notes", "2019-family-archive", "20200101T000000.000Z-abcdef", "zzzz-sorts-last")


def plant_foreign_run_folders(root: Path) -> None:
    """Folders in the runs folder that are not sessionctl's runs (no marker of its own):
    retention must never delete them, nor take one for the newest run."""
    for name in FOREIGN_RUN_FOLDERS:
        d = runs_dir(root) / name
        d.mkdir(parents=True)
        (d / "keep.txt").write_bytes(f"{name}: not sessionctl's".encode())
    (runs_dir(root) / "20200101T000000.000Z-abcdef" / "meta.json").write_text('{"run_id": "someone else"}')


def foreign_files(root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name in FOREIGN_RUN_FOLDERS:
        for rel, data in _all_files(runs_dir(root) / name).items():
            out[f"{name}/{rel}"] = data
    return out


def check_foreign_and_must_stay(base: Baseline, ctx: str) -> None:
    assert foreign_files(base.root) == base.foreign, (
        f"{ctx}a folder of the runs folder that is not a run changed"
    )
    now = live_files(base.root)
    for rel in base.must_stay:
        assert now.get(rel) == base.files[rel], (
            f"{ctx}{rel} (valid for OpenClaw) was changed, moved or dropped"
        )


def _all_files(root: Path | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if root is None or not root.exists():
        return out
    for dirpath, _d, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if stat.S_ISREG(os.lstat(p).st_mode):
                out[str(p.relative_to(root))] = p.read_bytes()
    return out


@dataclass
class RunFolder:
    run_id: str
    dir: Path
    journal: dict[str, Any] | None  # None: no durable journal (killed before it was written)
    status: dict[str, Any] | None


def read_runs(root: Path, ids: list[str]) -> list[RunFolder]:
    out = []
    for rid in ids:
        d = runs_dir(root) / rid
        j = d / "journal.json"
        s = d / "status.json"
        # both are written atomically: when they exist they parse
        journal = json.loads(j.read_bytes()) if j.exists() else None
        status = json.loads(s.read_bytes()) if s.exists() else None
        out.append(RunFolder(rid, d, journal, status))
    return out


ARCHIVE_INFIX = (".deleted.", ".reset.", ".bak.")


def _archive_names(rel: str, now: dict[str, bytes]) -> list[str]:
    return [r for r in now if r.startswith(rel) and any(r[len(rel) :].startswith(x) for x in ARCHIVE_INFIX)]


ARCHIVE_SUFFIX = re.compile(r"\.(deleted|reset|bak)\.\d{4}-\d\d-\d\dT[0-9.-]+Z$")


def _unarchived(rel: str) -> str | None:
    """`x.jsonl` for `x.jsonl.deleted.<ts>` (and .reset/.bak), else None."""
    m = ARCHIVE_SUFFIX.search(rel)
    return rel[: m.start()] if m else None


def _exported(base: Baseline, rel: str, data: bytes) -> bool:
    """`archive --to DIR` keeps `DIR/<rel>[.deleted.<ts>][.gz]`, compressed or not."""
    for erel, blob in _all_files(base.export_dir).items():
        if not erel.startswith(rel) or erel.endswith(".tmp"):
            continue
        content = blob
        if erel.endswith(".gz"):
            try:
                content = gzip.decompress(blob)
            except (OSError, EOFError):
                continue
        if content == data:
            return True
    return False


def check_nothing_lost(base: Baseline, *, allowed_pids: set[int], what: str = "") -> list[RunFolder]:
    """The invariants after a kill (or an error), relative to `base`:

    - every store that parsed still parses as an object; a damaged one is unchanged or parses now;
    - every entry of every store is still there unchanged, or recorded verbatim (`entry`
      or `before`) in the durable journal of a run made since, or in a store backup that
      journal lists;
    - every file's bytes are live at the same path, in an archive next to it
      (`.deleted/.reset/.bak.<ts>`), in `backup/` or `moved/` of a journaled run, or in
      the export folder;
    - new files in the live folders are archives of old files, temp files of a killed
      process (its pid in the name), or copies of files held by a run folder.
    Returns the run folders made since `base`."""
    root = base.root
    now = live_files(root)
    runs = read_runs(root, base.new_runs())
    journals = [r for r in runs if r.journal is not None]
    ctx = f"[{what}] " if what else ""
    check_foreign_and_must_stay(base, ctx)
    for rel, parsed in base.stores.items():
        assert rel in now, f"{ctx}{rel} is gone"
        cur = parse_store(now[rel])
        if parsed is not None:
            assert cur is not None, f"{ctx}{rel} no longer parses: {now[rel][:200]!r}"
        else:
            assert cur is not None or now[rel] == base.files[rel], (
                f"{ctx}damaged {rel} changed but does not parse"
            )
        for key, entry in (parsed or {}).items():
            if cur is not None and key in cur and cur[key] == entry:
                continue
            assert _entry_recorded(journals, rel, key, entry), (
                f"{ctx}{rel}: entry {key!r} is neither in the store nor in a durable journal or backup"
            )
    run_blobs: dict[str, set[bytes]] = {}
    for r in journals:
        for sub in ("backup", "moved", "replacement"):
            d = r.dir / sub
            for frel, blob in _run_files(d).items():
                run_blobs.setdefault(frel, set()).add(blob)
    for rel, data in base.files.items():
        if now.get(rel) == data:
            continue
        if any(now[a] == data for a in _archive_names(rel, now)):
            continue
        orig = _unarchived(rel)
        if orig is not None and now.get(orig) == data:
            continue  # an archive renamed back (undo)
        if data in run_blobs.get(rel, set()):
            continue
        if base.export_dir is not None and _exported(base, rel, data):
            continue
        raise AssertionError(
            f"{ctx}the bytes of {rel} ({len(data)} B) are nowhere: not live, archived or in a run"
        )
    all_run_blobs = {
        sha(b)
        for r in read_runs(root, run_ids(root))
        for sub in ("backup", "moved")
        for b in _run_files(r.dir / sub).values()
    }
    unarchived = {u for u in map(_unarchived, base.files) if u is not None}
    for rel in sorted(set(now) - set(base.files)):
        name = os.path.basename(rel)
        pid = temp_pid(name)
        if pid is not None:
            assert pid in allowed_pids, (
                f"{ctx}temp file {rel} of pid {pid}, not of a killed run {allowed_pids}"
            )
            continue
        if any(rel.startswith(old) and rel[len(old) :].startswith(ARCHIVE_INFIX) for old in base.files):
            continue  # archived (renamed next to itself)
        if rel in unarchived:
            continue  # an archive renamed back to its name (undo)
        if sha(now[rel]) in all_run_blobs:
            continue  # copied in from a run folder, of this run or an older one (undo, restore)
        raise AssertionError(f"{ctx}unexpected new file {rel}")
    return runs


def _entry_recorded(journals: list[RunFolder], store_rel: str, key: str, entry: Any) -> bool:
    for r in journals:
        assert r.journal is not None
        for a in r.journal.get("actions", []):
            if a.get("store") != store_rel or a.get("key") != key:
                continue
            if a.get("entry") == entry or a.get("before") == entry:
                return True
        for b in r.journal.get("backups", []):
            if b.get("path") != store_rel or b.get("kind") != "store":
                continue
            backup = r.dir / b["backup"]
            if backup.exists() and sha(backup_bytes(backup)) == b.get("sha256"):
                data = parse_store(backup_bytes(backup))
                if data is not None and data.get(key) == entry:
                    return True
    return False


def undo_new_runs(base: Baseline, *, timeout: float = 120) -> list[Proc]:
    """`sessionctl undo` every run made since `base` that has a journal, newest first
    (an interrupted run and, for prestart, the runs it finished before it)."""
    out = []
    for r in reversed(read_runs(base.root, base.new_runs())):
        if r.journal is None:
            continue
        p = run(base.root, ["undo", r.run_id], timeout=timeout)
        assert p.rc == 0, f"undo {r.run_id} failed ({p.rc}): {p.stderr}"
        out.append(p)
    return out


def check_restored(base: Baseline, *, allowed_pids: set[int], what: str = "") -> None:
    """After undo: every live file has its original bytes (stores: the same entries in the
    same key order and mode, and the same bytes when the original was in OpenClaw's own
    formatting), and nothing new is left in the live folders but temp files of the
    killed process (named with its pid)."""
    ctx = f"[{what}] " if what else ""
    check_foreign_and_must_stay(base, ctx)
    now = live_files(base.root)
    for rel, data in base.files.items():
        assert rel in now, f"{ctx}{rel} did not come back"
        was = base.stores.get(rel)
        if was is not None:
            cur = parse_store(now[rel])
            assert cur is not None and cur == was, f"{ctx}{rel}: entries differ after undo"
            assert list(cur) == list(was), f"{ctx}{rel}: key order differs after undo"
            mode = stat.S_IMODE(os.lstat(base.root / rel).st_mode)
            assert mode == base.store_modes[rel], f"{ctx}{rel}: mode {mode:o} after undo"
            if store_bytes(cur) != data:
                # not in OpenClaw's formatting (hand-edited, minified): undo writes it the
                # way OpenClaw does — same entries, same order — so bytes are not promised
                continue
        assert now[rel] == data, f"{ctx}{rel}: bytes differ after undo"
    for rel in sorted(set(now) - set(base.files)):
        pid = temp_pid(os.path.basename(rel))
        assert pid is not None and pid in allowed_pids, f"{ctx}{rel} is left over after undo"


def _tmpfs() -> Path | None:
    shm = Path("/dev/shm")
    try:
        st = os.statvfs(shm)
        roomy = st.f_bavail * st.f_frsize > 32 << 20 and os.access(shm, os.W_OK)  # cases are ~1 MB
    except OSError:
        roomy = False
    return shm if roomy else None


@contextlib.contextmanager
def fast_folder(fallback: Path) -> Iterator[Path]:
    """A scratch folder on tmpfs (/dev/shm) when there is room, else `fallback`.

    The crash tests kill processes, they do not cut the power: what a SIGKILLed process
    wrote is in the page cache either way, so fsync proves nothing here and on a real
    disk it is most of the time the tests take. The code under test fsyncs all the same."""
    shm = _tmpfs()
    if shm is None:
        yield fallback
        return
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="sessionctl-crash-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_TEMPLATES: dict[str, Scenario] = {}
_POINTS: dict[str, list[Point]] = {}
_TEMPLATE_DIR: list[Path] = []


def cached_scenario(name: str) -> Scenario:
    """Scenario `name`, built once per process (its template is only ever copied), in a
    scratch folder removed at exit."""
    if name not in _TEMPLATES:
        if not _TEMPLATE_DIR:
            import atexit
            import tempfile

            d = Path(tempfile.mkdtemp(prefix="sessionctl-templates-", dir=_tmpfs()))
            atexit.register(shutil.rmtree, d, True)
            _TEMPLATE_DIR.append(d)
        _TEMPLATES[name] = build_scenario(name, _TEMPLATE_DIR[0] / name)
    return _TEMPLATES[name]


def cached_points(name: str) -> list[Point]:
    """The fault points of scenario `name` (traced once per process)."""
    if name not in _POINTS:
        _POINTS[name] = trace_points(cached_scenario(name), _TEMPLATE_DIR[0] if _TEMPLATE_DIR else Path("."))
    return _POINTS[name]


# ---------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    """A command and the template state it runs on. `args` may contain `{export}`."""

    name: str
    args: list[str]
    template: Path  # <template>/state is the state dir; a case's `export` folder is its --to DIR

    def argv(self, case: Path) -> list[str]:
        return [a.replace("{export}", str(case / "export")) for a in self.args]

    def copy(self, case: Path) -> Path:
        """A fresh copy of the template at `case` (mtimes kept). Returns the state dir."""
        shutil.copytree(self.template, case, symlinks=True)
        return Path(os.path.realpath(case / "state"))


def _age_tree(root: Path, age_s: float = 2 * 86_400) -> None:
    """Age every file: orphans and leftovers only count once they are old (wall clock)."""
    t = time.time() - age_s
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.utime(Path(dirpath) / name, (t, t), follow_symlinks=False)


def _dead_lock(path: Path, age_ms: int = 0) -> None:
    wall = time.time_ns() // 1_000_000
    path.write_bytes(json.dumps({"pid": dead_pid(), "createdAt": iso(wall - age_ms)}).encode())


def build_gc(state: StateDir) -> list[str]:
    gc_state(state)
    sdir = state.sessions_dir("main")
    state.write_discord_bindings(
        {
            "default:1": {"threadId": "1", "targetSessionKey": OLD_DM, "agentId": "main",
                          "boundAt": NOW_MS, "lastActivityAt": NOW_MS, "webhookToken": "t"},
            "default:2": {"threadId": "2", "targetSessionKey": RECENT_DM, "agentId": "main",
                          "boundAt": NOW_MS, "lastActivityAt": NOW_MS},
        }
    )  # fmt: skip
    _age_tree(state.root)
    _dead_lock(sdir / "sessions.json.lock", age_ms=60_000)  # stale: broken by the store lock
    return ["gc", "--max-age", "120h", "--archive-retention", "30d"]


def build_repair(state: StateDir) -> list[str]:
    state.write_config({"agents": {"list": [{"id": "main", "default": True}, {"id": "ops"}]}})
    old = NOW_MS - 2 * DAY_MS
    a = state.add_session("main", "agent:main:main", updated_at=NOW_MS - HOUR_MS)
    cut = state.add_session("main", "agent:main:telegram:direct:1", updated_at=old)
    state.write_transcript("main", f"{cut}.jsonl", transcript_bytes(cut) + b'{"type":"message","id":"00')
    bad = state.add_session("main", "agent:main:telegram:direct:3", updated_at=old)
    state.write_transcript(
        "main", f"{bad}.jsonl", b'{"type":"nonsense"}\n' + message_line("00000001", None, old)
    )
    store = state.read_store("main")
    store["agent:main:explicit:unsafe"] = {"sessionId": "../../etc/passwd", "updatedAt": old}
    store["agent:main:Telegram:direct:4"] = {
        "sessionId": str(uuid.uuid4()),
        "updatedAt": old,
        "label": "upper",
    }
    store["agent:main:telegram:direct:4"] = {
        "sessionId": str(uuid.uuid4()),
        "updatedAt": old - 1,
        "label": "lower",
    }
    state.write_store("main", store)
    sdir = state.sessions_dir("main")
    (sdir / f"sessions.json.{dead_pid()}.{uuid.uuid4()}.tmp").write_bytes(b'{"half": ')
    # ops: a store cut off mid-entry; --salvage rebuilds it from the complete entries
    for i in range(3):
        state.add_session("ops", f"agent:ops:telegram:direct:{i}", updated_at=old)
    raw = state.store_path("ops").read_bytes()
    state.write_store("ops", raw[: len(raw) - 40])
    _odd_but_valid(state, "main")
    _age_tree(state.root)
    _dead_lock(sdir / f"{a}.jsonl.lock", age_ms=2 * HOUR_MS)
    return ["repair", "--salvage", "--merge-case", "--drop-bad-lines"]


def _odd_but_valid(state: StateDir, agent: str) -> None:
    """A transcript only JavaScript's JSON.parse reads right — a byte-order mark and a
    lone surrogate in the header, 1e400, an invalid UTF-8 byte, deep nesting — and a
    store (agent `odd`) whose only flaw is an invalid UTF-8 byte: OpenClaw reads both
    fine, so no command may quarantine, cut, drop or "repair" them (must-stay.json)."""
    sid = str(uuid.uuid4())
    hdr = header_line(sid, NOW_MS - 3 * HOUR_MS, cwd="/home/u/@").replace(b"@", b"\\ud83d")
    m1 = message_line("00000001", None, NOW_MS - 2 * HOUR_MS).replace(b'"hi"', b'"hi","cost":1e400')
    m2 = message_line("00000002", "00000001", NOW_MS - 2 * HOUR_MS).replace(b'"hi"', b'"caf\xe9"')
    m3 = message_line("00000003", "00000002", NOW_MS - HOUR_MS).replace(
        b'"hi"', b'"hi","d":' + b"[" * 2000 + b"]" * 2000
    )
    rel_t = state.add_session(
        agent, f"agent:{agent}:telegram:direct:odd", updated_at=NOW_MS - HOUR_MS,
        transcript=b"\xef\xbb\xbf" + hdr + m1 + m2 + m3,
    )  # fmt: skip
    odd = store_bytes(
        {"agent:odd:main": {"sessionId": str(uuid.uuid4()), "updatedAt": NOW_MS, "label": "cafe"}}
    )
    state.write_store("odd", odd.replace(b'"cafe"', b'"caf\xe9"'))
    root = state.root
    cfg = json.loads((root / "openclaw.json").read_text()) if (root / "openclaw.json").exists() else {}
    agents = cfg.setdefault("agents", {}).setdefault("list", [])
    if agents:
        agents.append({"id": "odd"})
        (root / "openclaw.json").write_text(json.dumps(cfg, indent=2))
    stay = [
        f"agents/{agent}/sessions/{rel_t}.jsonl",
        "agents/odd/sessions/sessions.json",
    ]
    (root.parent / "must-stay.json").write_text(json.dumps(stay))


def _archive_state(state: StateDir) -> None:
    state.write_config({"agents": {"list": [{"id": "main", "default": True}]}})
    state.add_session("main", "agent:main:main")
    state.add_session("main", "agent:main:telegram:direct:1")
    orphan = str(uuid.uuid4())
    state.write_transcript("main", f"{orphan}.jsonl", transcript_bytes(orphan, messages=3))
    state.write_transcript("main", f"{orphan}.jsonl.trajectory.jsonl", b'{"t":1}\n')
    state.write_transcript("main", "x.jsonl.deleted.2026-03-01T00-00-00.000Z", b'{"old":1}\n')
    state.write_transcript("main", "y.jsonl.reset.2026-02-01T00-00-00.000Z", b'{"old":2}\n')
    state.write_transcript("main", "z.jsonl.deleted.2026-04-30T00-00-00.000Z", b'{"young":3}\n')
    _age_tree(state.root)


def build_archive(state: StateDir) -> list[str]:
    _archive_state(state)
    return ["archive", "--retention", "30d"]


def build_archive_export(state: StateDir) -> list[str]:
    _archive_state(state)
    return ["archive", "--retention", "30d", "--to", "{export}", "--compress", "gzip"]


def build_dedupe(state: StateDir) -> list[str]:
    duplicated_peers(state)
    _age_tree(state.root)
    return ["dedupe"]


def _cli_ok(root: Path, args: list[str]) -> dict[str, Any]:
    p = run(root, args)
    assert p.rc == 0, (args, p.rc, p.stderr)
    return p.envelope()


def build_undo(state: StateDir) -> list[str]:
    args = build_gc(state)
    env = _cli_ok(state.root, args)
    return ["undo", env["run_id"]]


def build_restore(state: StateDir) -> list[str]:
    args = build_gc(state)
    backup = _cli_ok(state.root, ["backup"])
    _cli_ok(state.root, args)
    return ["restore", backup["run_id"]]


def build_prestart(state: StateDir) -> list[str]:
    """One agent: two sessions past 120h (one with a transcript), a truncated transcript
    tail and a stale temp file (safe repairs), a stale store lock."""
    state.write_config({"agents": {"list": [{"id": "main", "default": True}]}})
    old = NOW_MS - 8 * DAY_MS
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - HOUR_MS)
    recent = state.add_session("main", RECENT_DM, updated_at=NOW_MS - DAY_MS)
    state.add_session("main", OLD_DM, updated_at=old, sessionStartedAt=old)
    state.add_session("main", "agent:main:cron:nightly:run:r1", updated_at=old, transcript=False)
    sdir = state.sessions_dir("main")
    t = sdir / f"{recent}.jsonl"
    t.write_bytes(t.read_bytes() + b'{"type":"message","id":"0')
    (sdir / f"sessions.json.{dead_pid()}.{uuid.uuid4()}.tmp").write_bytes(b"{")
    _odd_but_valid(state, "main")
    _age_tree(state.root)
    _dead_lock(sdir / "sessions.json.lock", age_ms=60_000)
    _cli_ok(state.root, ["backup"])  # an older run for retention to prune
    return ["prestart", "--max-age", "120h", "--keep-runs", "1"]


def build_gc_pruning(state: StateDir) -> list[str]:
    args = build_gc(state)
    _cli_ok(state.root, ["backup"])  # an older run for retention to prune
    return [*args, "--keep-runs", "1"]


BUILDERS: dict[str, Callable[[StateDir], list[str]]] = {
    "gc": build_gc_pruning,
    "repair": build_repair,
    "archive": build_archive,
    "archive-export": build_archive_export,
    "dedupe": build_dedupe,
    "undo": build_undo,
    "restore": build_restore,
    "prestart": build_prestart,
}


def build_scenario(name: str, folder: Path) -> Scenario:
    """Build scenario `name`'s template under `folder` (state dir at `folder/state`)."""
    root = folder / "state"
    (root / "agents").mkdir(parents=True)
    state = StateDir(Path(os.path.realpath(root)))
    args = BUILDERS[name](state)
    plant_foreign_run_folders(state.root)
    return Scenario(name, args, folder)


# ---------------------------------------------------------------- one crash case


@dataclass
class CaseResult:
    scenario: str
    how: str  # e.g. "kill:*:7 (store.locked)" or "timer 0.412s"
    killed: bool
    rc: int
    runs: int = 0


@dataclass(frozen=True)
class Point:
    """One fault point reached by a run: its name and, for atomic.*, what it writes."""

    name: str
    target: str | None  # "run" (run folder / export manifest: bookkeeping), "store", "file", or None

    def __str__(self) -> str:
        return f"{self.name}[{self.target}]" if self.target else self.name


SUBSTEPS = frozenset({"atomic.write", "atomic.fsync", "atomic.fsync_dir"})


def trace_points(sc: Scenario, work: Path) -> list[Point]:
    """The fault points an uninterrupted run of the scenario reaches, in order."""
    case = work / f"{sc.name}-trace"
    root = sc.copy(case)
    trace = case / "trace.log"
    p = run(root, sc.argv(case), trace=trace)
    assert p.rc == 0, f"{sc.name}: the uninterrupted run failed ({p.rc}): {p.stderr}"
    out = []
    for line in trace.read_text().splitlines() if trace.exists() else []:
        parts = line.split(" ", 3)
        target: str | None = None
        if len(parts) == 4:
            path = parts[3]
            live = path.startswith(str(root) + os.sep) and not path.startswith(
                str(root / "sessionctl") + os.sep
            )
            target = ("store" if os.path.basename(path) == "sessions.json" else "file") if live else "run"
        out.append(Point(parts[0], target))
    shutil.rmtree(case)
    return out


def kill_indices(points: list[Point], *, full: bool = False) -> list[int]:
    """The hit indices (1-based) the crash tests kill at: all of them, except the
    write/fsync/fsync_dir sub-steps of bookkeeping writes into the run folder (journal,
    status, meta, replacement payloads) — a kill there leaves the same thing as a kill
    at that write's atomic.replace (a temp file in the run folder, the target as it
    was), which is kept. `full` keeps those too (the soak)."""
    return [n for n, p in enumerate(points, 1) if full or not (p.target == "run" and p.name in SUBSTEPS)]


def error_indices(points: list[Point]) -> list[int]:
    """The hit indices the ENOSPC tests fail at: the first hit of every point name per
    kind of file written (run folder, store, other live file) — without atomic.fsync,
    whose error path is atomic.write's (both fail before the rename and remove the temp)."""
    seen: set[Point] = set()
    out = []
    for n, p in enumerate(points, 1):
        if p not in seen and p.name != "atomic.fsync":
            seen.add(p)
            out.append(n)
    return out


def crash_case(
    sc: Scenario,
    case: Path,
    *,
    fault: str | None = None,
    kill_after: float | None = None,
    label: str = "",
    keep: bool = False,
) -> CaseResult:
    """Copy the template, run the command until it is killed (at a fault point or by a
    timer), check the invariants, undo every run it made and check the original is back,
    then run the command again (it must complete: nothing it left blocks it) and check
    that nothing was lost relative to the original."""
    root = sc.copy(case)
    base = Baseline.capture(root, case / "export")
    args = sc.argv(case)
    trace = case / "timer-trace.log" if kill_after is not None else None
    p = run(root, args, fault=fault, kill_after=kill_after, trace=trace)
    what = f"{sc.name} {label}"
    if not p.killed:
        assert p.rc == 0, f"[{what}] exited {p.rc} without being killed: {p.stderr}"
        if not keep:
            shutil.rmtree(case)
        return CaseResult(sc.name, label, False, p.rc)
    assert "Traceback" not in p.stderr
    runs = check_nothing_lost(base, allowed_pids={p.pid}, what=what)
    if any(r.journal is not None for r in runs):
        undo_new_runs(base)
        check_restored(base, allowed_pids={p.pid}, what=what + " after undo")
        again = run(root, args)
        assert again.rc == 0, f"[{what}] the next run failed ({again.rc}): {again.stderr}"
        check_nothing_lost(base, allowed_pids={p.pid}, what=what + " after the next run")
    else:
        # killed before its journal existed: nothing may have changed, and nothing was left
        # in the live folders (no lock, no temp file) that the next run could trip over
        check_restored(base, allowed_pids=set(), what=what + " (no journal)")
        assert lock_files(root) == base.locks, f"[{what}] locks changed: {lock_files(root) ^ base.locks}"
    if not keep:
        shutil.rmtree(case)
    return CaseResult(sc.name, label, True, p.rc, len(runs))


REASON = {"enospc": "No space left on device", "eio": "Input/output error"}


def error_case(sc: Scenario, case: Path, kind: str, n: int, label: str) -> str:
    """Run the scenario failing the n-th fault point with `kind`; check; return how it ended."""
    root = sc.copy(case)
    base = Baseline.capture(root, case / "export")
    p = run(root, sc.argv(case), fault=f"{kind}:*:{n}")
    what = f"{sc.name} {kind}:*:{n} = {label}"
    assert "Traceback" not in p.stderr, f"[{what}] {p.stderr}"
    env = p.envelope()
    errors = [line for line in p.stderr.splitlines() if line.startswith("sessionctl: error:")]
    if sc.name == "prestart":
        assert p.rc == 0, f"[{what}] prestart exits 0 while every store is valid: {p.rc} {p.stderr}"
        failed = [s for s in env["steps"] if s["status"] == "failed"]
        if failed:
            assert len(failed) == 1, failed
            assert REASON[kind] in (failed[0]["reason"] or ""), failed
        outcome = "failed step" if failed else "absorbed"
    elif p.rc == 0:
        outcome = "absorbed"  # e.g. the pre-lock temp write failed and the write under the lock worked
        assert errors == [], p.stderr
    else:
        assert p.rc == 74, f"[{what}] exit {p.rc}: {p.stderr}"
        assert env["exit_code"] == 74 and [e["code"] for e in env["errors"]] == ["io_error"], env["errors"]
        assert len(errors) == 1, f"[{what}] {p.stderr}"
        assert REASON[kind] in errors[0], errors[0]
        # it names the run (when one has a journal) or says that nothing was changed
        journaled = [r.run_id for r in read_runs(root, base.new_runs()) if r.journal is not None]
        if journaled:
            assert any(f"run {rid}" in errors[0] for rid in journaled), f"[{what}] {errors[0]}"
        else:
            assert "nothing was changed" in errors[0], f"[{what}] {errors[0]}"
        assert "/" in errors[0], f"[{what}] no file named: {errors[0]}"
        outcome = "error"
    runs = check_nothing_lost(base, allowed_pids=set(), what=what)
    if any(r.journal is not None for r in runs):
        # whatever reached the disk before the error (the failing step included: an fsync
        # may fail after its rename) is journaled: undo gives back every byte
        undo_new_runs(base)
        check_restored(base, allowed_pids=set(), what=what + " after undo")
    else:
        assert outcome != "absorbed" or sc.name == "prestart", f"[{what}] completed without a journal"
        assert live_files(root) == base.files, (
            f"[{what}] failed before its journal, yet the live tree changed"
        )
    return outcome


def write_span(sc: Scenario, work: Path) -> float:
    """Seconds from the first to the last fault point of an uninterrupted run: the write
    phase, in which the timer kills land (counted from the first point)."""
    case = work / "span"
    root = sc.copy(case)
    trace = case / "trace.log"
    p = run(root, sc.argv(case), trace=trace)
    assert p.rc == 0, p.stderr
    times = [int(line.split()[2]) for line in trace.read_text().splitlines()]
    shutil.rmtree(case)
    return (max(times) - min(times)) / 1e9


# ---------------------------------------------------------------- tripwires outside the state dir


class Inotify:
    """Watch folders for any open, read, write, create, delete or attribute change
    (Linux inotify through ctypes). `events()` returns (folder, name, mask) tuples."""

    IN_ACCESS = 0x001
    IN_MODIFY = 0x002
    IN_ATTRIB = 0x004
    IN_CLOSE_WRITE = 0x008
    IN_OPEN = 0x020
    IN_MOVED_FROM = 0x040
    IN_MOVED_TO = 0x080
    IN_CREATE = 0x100
    IN_DELETE = 0x200
    ALL = 0x3FF & ~0x010  # everything but IN_CLOSE_NOWRITE (closing follows an open anyway)
    IN_NONBLOCK = 0o4000

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._libc = libc
        self.fd = libc.inotify_init1(self.IN_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.watches: dict[int, str] = {}

    def watch(self, folder: Path) -> None:
        wd = self._libc.inotify_add_watch(self.fd, str(folder).encode(), self.ALL)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch", str(folder))
        self.watches[wd] = str(folder)

    def events(self) -> list[tuple[str, str, int]]:
        out: list[tuple[str, str, int]] = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return out
            i = 0
            while i + 16 <= len(buf):
                wd, mask, _cookie, length = (
                    int.from_bytes(buf[i : i + 4], "little", signed=True),
                    *(int.from_bytes(buf[i + o : i + o + 4], "little") for o in (4, 8, 12)),
                )
                name = buf[i + 16 : i + 16 + length].rstrip(b"\0").decode("utf-8", "replace")
                out.append((self.watches.get(wd, "?"), name, mask))
                i += 16 + length

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class Outside:
    """Canary files outside the state dir: known bytes, mtime, and an atime older than the
    mtime (so with relatime any read moves it), a FIFO nobody writes to (opening it for a
    blocking read would hang), and an inotify watch on their folder."""

    folder: Path
    canaries: dict[str, tuple[bytes, int, int]] = field(default_factory=dict)

    FILES = ("secret.txt", "sessions.json", "victim.jsonl", "openclaw.json")

    @classmethod
    def make(cls, folder: Path) -> Outside:
        folder.mkdir(parents=True, exist_ok=True)
        out = cls(folder)
        t = time.time() - 3 * 86_400
        for name in cls.FILES:
            p = folder / name
            data = f"canary {name} {uuid.uuid4()}\n".encode()
            if name == "sessions.json":
                data = store_bytes({"agent:main:canary": {"sessionId": "canary", "updatedAt": NOW_MS}})
            if name == "victim.jsonl":
                data = transcript_bytes("canary")
            p.write_bytes(data)
            os.utime(p, ns=(int((t - 86_400) * 1e9), int(t * 1e9)))  # atime < mtime
            st = os.lstat(p)
            out.canaries[name] = (data, st.st_atime_ns, st.st_mtime_ns)
        os.mkfifo(folder / "fifo")
        return out

    def path(self, name: str) -> Path:
        return self.folder / name

    def assert_untouched(self) -> None:
        names = sorted(os.listdir(self.folder))
        assert names == sorted([*self.FILES, "fifo"]), f"the outside folder changed: {names}"
        for name, (_data, atime, mtime) in self.canaries.items():
            st = os.lstat(self.folder / name)
            assert (st.st_atime_ns, st.st_mtime_ns) == (atime, mtime), f"{name} outside was read or written"
        for name, (data, _a, _m) in self.canaries.items():
            # read last: this read moves the atime (the next check would then not see a read)
            assert (self.folder / name).read_bytes() == data
        for name, (_d, atime, mtime) in self.canaries.items():
            os.utime(self.folder / name, ns=(atime, mtime))

    @contextlib.contextmanager
    def watched(self) -> Iterator[Inotify]:
        ino = Inotify()
        try:
            ino.watch(self.folder)
            yield ino
        finally:
            ino.close()


# ---------------------------------------------------------------- gateway simulator

# A writer that follows the lock-era gateway protocol for sessions.json (format doc §6):
# O_CREAT|O_EXCL `sessions.json.lock` with {pid, createdAt, starttime}; a lock held by a
# dead pid is broken (the gateway's own rule); re-read; update; atomic write (OpenClaw's
# temp name, fsync, rename); release only if the lock is still its own (else a theft is
# recorded). Each critical section is logged as `enter`/`exit` lines (CLOCK_MONOTONIC ns)
# in an append-only log shared with sessionctl's SESSIONCTL_FAULT_TRACE.
GATEWAY_SIM = r"""
import json, os, random, sys, time, uuid
from datetime import datetime, timezone

store_path, log_path, report_path, stop_path, seed = sys.argv[1:6]
rand = random.Random(int(seed))
lock_path = store_path + ".lock"
me = os.getpid()

def starttime(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rfind(b")") + 2:].split()[19])

def iso(ms):
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"

def wall_ms():
    return time.time_ns() // 1_000_000

def log(what):
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, f"{what} {me} {time.monotonic_ns()}\n".encode())
    os.close(fd)

def holder_dead():
    try:
        with open(lock_path, "rb") as f:
            body = json.loads(f.read() or b"null")
        pid = body["pid"]
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except Exception:
        return False
    return False

report = {"pid": me, "iterations": 0, "last": {}, "added_old": {}, "thefts": [], "timeouts": 0,
          "broke": 0, "max_wait_ms": 0}
counter = 0
live_keys = [f"agent:main:telegram:direct:sim{i}" for i in range(8)]
while not os.path.exists(stop_path):
    payload = json.dumps({"pid": me, "createdAt": iso(wall_ms()), "starttime": starttime(me)}).encode()
    t0 = time.monotonic()
    while True:
        try:
            fd = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            break
        except FileExistsError:
            if holder_dead():
                try:
                    os.unlink(lock_path)
                    report["broke"] += 1
                except FileNotFoundError:
                    pass
                continue
            if time.monotonic() - t0 > 10:
                report["timeouts"] += 1
                t0 = time.monotonic()
            time.sleep(0.001)
    os.write(fd, payload)
    ino = os.fstat(fd).st_ino
    os.close(fd)
    report["max_wait_ms"] = max(report["max_wait_ms"], int((time.monotonic() - t0) * 1000))
    log("enter")
    with open(store_path, "rb") as f:
        store = json.loads(f.read())
    counter += 1
    olds = [k for k in report["added_old"] if k in store]
    if olds and rand.random() < 0.1:
        # a message arrives for a session gc may be about to expire: it is live again
        key = rand.choice(olds)
        del report["added_old"][key]
        entry = dict(store[key])
        entry["updatedAt"] = wall_ms()
        entry["simCounter"] = counter
        store[key] = entry
        report["last"][key] = counter
    elif rand.random() < 0.25:
        key = f"agent:main:cron:sim:run:{counter}"
        entry = {"sessionId": str(uuid.uuid4()), "updatedAt": wall_ms() - 10 * 86_400_000, "simOld": counter}
        store[key] = entry
        report["added_old"][key] = entry
    else:
        key = rand.choice(live_keys)
        entry = dict(store.get(key) or {"sessionId": str(uuid.uuid4())})
        entry["updatedAt"] = wall_ms()
        entry["simCounter"] = counter
        store[key] = entry
        report["last"][key] = counter
    data = json.dumps(store, indent=2, ensure_ascii=False).encode()
    tmp = f"{store_path}.{me}.{uuid.uuid4()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
    os.replace(tmp, store_path)
    log("exit")
    try:
        st = os.lstat(lock_path)
        with open(lock_path, "rb") as f:
            mine = f.read() == payload and st.st_ino == ino
    except FileNotFoundError:
        mine = False
    if mine:
        try:
            os.unlink(lock_path)
        except FileNotFoundError:  # taken between the check and the unlink
            report["thefts"].append(counter)
    else:
        report["thefts"].append(counter)
    report["iterations"] += 1
    time.sleep(rand.random() * 0.004)
with open(report_path, "w") as f:
    json.dump(report, f)
"""


@dataclass
class FakeGateway:
    """A process that looks like an OpenClaw gateway of `version` serving `state_dir`:
    its argv holds `<pkg>/openclaw.mjs gateway` (next to a package.json naming openclaw
    and the version) and its environment OPENCLAW_STATE_DIR. With `script` it runs that
    Python code (the simulator); otherwise it sleeps."""

    proc: subprocess.Popen[bytes]

    @classmethod
    def start(
        cls,
        folder: Path,
        state_dir: Path,
        version: str | None,
        *,
        script: str | None = None,
        script_args: list[str] | None = None,
    ) -> FakeGateway:
        pkg = folder / "npm" / "node_modules" / "openclaw"
        pkg.mkdir(parents=True, exist_ok=True)
        if version is not None:  # None: a gateway whose release cannot be told
            (pkg / "package.json").write_text(json.dumps({"name": "openclaw", "version": version}))
        entry = pkg / "openclaw.mjs"
        entry.write_text("// stand-in for OpenClaw's entry point\n")
        sim = folder / "gateway_sim.py"
        sim.write_text(script if script is not None else "import time\ntime.sleep(600)\n")
        env = clean_env(OPENCLAW_STATE_DIR=str(state_dir))
        # argv: python <sim> [script args...] -- <pkg>/openclaw.mjs gateway
        argv = [sys.executable, str(sim), *(script_args or []), "--", str(entry), "gateway", "--port", "0"]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # /proc/<pid>/cmdline and environ are set once exec has happened
        for _ in range(500):
            with contextlib.suppress(OSError):
                if b"gateway" in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
                    break
            time.sleep(0.01)
        return cls(proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout=timeout)


def intervals(log: Path) -> list[tuple[int, int, str]]:
    """(start_ns, end_ns, holder) critical sections from a shared log: the simulator's
    `enter`/`exit` lines and sessionctl's `store.locked`/`store.unlock` trace lines."""
    opened: dict[str, int] = {}
    out: list[tuple[int, int, str]] = []
    for line in log.read_text().splitlines():
        what, pid, ns = line.split()[:3]
        if what in ("enter", "store.locked"):
            assert pid not in opened, f"{pid} entered twice: {line}"
            opened[pid] = int(ns)
        elif what in ("exit", "store.unlock"):
            start = opened.pop(pid)
            out.append((start, int(ns), f"{'sim' if what == 'exit' else 'sessionctl'}:{pid}"))
    return sorted(out)


def overlaps(spans: list[tuple[int, int, str]]) -> list[tuple[Any, Any]]:
    """Pairs of critical sections that overlap in time (`spans` sorted by start)."""
    bad = []
    latest: tuple[int, int, str] | None = None
    for s in spans:
        if latest is not None and s[0] < latest[1]:
            bad.append((latest, s))
        if latest is None or s[1] > latest[1]:
            latest = s
    return bad


# ---------------------------------------------------------------- read-only proof


def meta_snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """rel path → (type, mode, uid, gid, size, mtime_ns, ctime_ns, link target) of every
    entry under `root`, folders included, without opening anything (FIFOs and 100 MB
    files alike). The kernel moves ctime on every write, truncate, chmod, chown and
    rename, and nothing can set it back, so equal snapshots mean no byte, mode, owner or
    name changed (atime, which reads may move, is left out)."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            out[str(p.relative_to(root))] = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
                link,
            )
    st = os.lstat(root)
    out["."] = (
        stat.S_IFMT(st.st_mode),
        stat.S_IMODE(st.st_mode),
        st.st_uid,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
    )
    return out
