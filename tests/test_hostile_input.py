"""Hostile input: broken and malicious stores, transcripts, entries, configs and file
types, plus hypothesis-generated stores and transcripts. Every command, read-only and
mutating, with --dry-run and for real:

- finishes with a documented exit code (docs/exit-codes.md; 70 — a bug — is never one);
- prints its JSON envelope and no traceback;
- never reads or writes outside the state dir: canary files outside keep their bytes,
  mtime and atime (set older than the mtime, so any read moves it), an inotify watch on
  their folder sees no open, read or write, and symlinks/sessionFiles point at them and
  at a FIFO there (a blocking open of it would hang the command until the timeout);
- read-only commands change nothing: the metadata snapshot (type, mode, owner, size,
  mtime, ctime) of the whole tree is identical afterwards;
- stores a command rewrites stay mode 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.helpers import (
    HOUR_MS,
    NOW_MS,
    StateDir,
    header_line,
    message_line,
    store_bytes,
    transcript_bytes,
)
from support.reliability import (
    Baseline,
    Outside,
    Proc,
    build_scenario,
    check_nothing_lost,
    meta_snapshot,
    parse_store,
    run,
    run_ids,
)

pytestmark = pytest.mark.slow  # hostile-input soak (generated stores): run with --slow (CI does)

HEALTH_CODES = {0, 1, 2, 3}
DOCUMENTED = {0, 10, 64, 65, 66, 73, 74, 75, 77, 78}  # 10: gc left an agent untouched; 70 would be a bug
TIMEOUT = 90  # a command blocked on a FIFO fails here instead of hanging the suite

READ_ONLY: list[list[str]] = [
    ["health"],
    ["health", "--deep"],
    ["list"],
    ["runs"],
    ["gc", "--dry-run", "--max-age", "1d"],
    ["repair", "--dry-run", "--salvage", "--merge-case", "--drop-bad-lines", "--reset-entries"],
    ["archive", "--dry-run", "--retention", "1d"],
    ["dedupe", "--dry-run"],
    ["dedupe", "--dry-run", "--storms", "--min", "2"],
]
MUTATING: list[list[str]] = [
    ["backup"],
    ["repair", "--salvage", "--merge-case", "--drop-bad-lines", "--reset-entries"],
    ["gc", "--max-age", "1d", "--archive-retention", "1d"],
    ["archive", "--older-than", "1s", "--retention", "1d"],
    ["dedupe", "--keep", "newest"],
    ["prestart", "--max-age", "1d"],
]


# ---------------------------------------------------------------- checks


def check_proc(p: Proc, args: list[str], *, human: bool = False) -> dict[str, Any]:
    what = " ".join(args)
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout, f"{what}: {p.stderr}"
    codes = HEALTH_CODES if args[0] == "health" else DOCUMENTED
    assert p.rc in codes, f"{what}: exit {p.rc} is not a documented code: {p.stderr}"
    assert "internal error" not in p.stderr, f"{what}: {p.stderr}"
    if human:
        return {"exit_code": p.rc}
    env = p.envelope()
    assert env["exit_code"] == p.rc, (what, env["exit_code"], p.rc)
    assert "internal error" not in p.stderr, f"{what}: {p.stderr}"
    return env


HUMAN = [["health", "--deep"], ["list"], ["gc", "--dry-run", "--max-age", "1d"], ["repair", "--dry-run"]]


def run_read_only(root: Path, commands: list[list[str]], *, human: bool = False) -> list[dict[str, Any]]:
    """Run read-only commands (concurrently: they must not interfere) and prove the tree
    did not change at all. With `human`, the HUMAN ones also run with the human view."""
    before = meta_snapshot(root)
    jobs = [(a, True) for a in commands] + ([(a, False) for a in HUMAN] if human else [])
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda j: (j, run(root, j[0], timeout=TIMEOUT, json_out=j[1])), jobs))
    envs = [check_proc(p, a, human=not js) for (a, js), p in procs]
    after = meta_snapshot(root)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], f"read-only commands changed {changed[:10]}"
    return envs


def run_mutating(root: Path, commands: list[list[str]]) -> list[dict[str, Any]]:
    envs = []
    for args in commands:
        p = run(root, args, timeout=TIMEOUT)
        envs.append(check_proc(p, args))
    # whatever was rewritten keeps the store's private mode
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if name == "sessions.json" and path.is_file() and not path.is_symlink():
                assert path.stat().st_mode & 0o077 == 0, f"{path} is mode {path.stat().st_mode & 0o777:o}"
    return envs


def undo_and_inspect_runs(root: Path, runs_before: list[str]) -> None:
    """undo/restore --dry-run of the two newest runs made, then undo of the newest one."""
    made = [r for r in run_ids(root) if r not in runs_before]
    dry = [[c, "--dry-run", r] for r in made[-2:] for c in ("undo", "restore")]
    if dry:
        run_read_only(root, dry)
    if made:
        run_mutating(root, [["undo", made[-1]]])


@pytest.fixture
def outside(tmp_path: Path) -> Outside:
    return Outside.make(tmp_path / "outside")


def hostile_run(root: Path, outside: Outside, *, mutate: bool = True) -> None:
    """The whole battery on one state dir, watched from outside."""
    runs_before = run_ids(root)
    with outside.watched() as watch:
        run_read_only(root, READ_ONLY, human=True)
        if mutate:
            run_mutating(root, MUTATING)
            undo_and_inspect_runs(root, runs_before)
        events = watch.events()
    assert events == [], f"something opened, read or wrote outside the state dir: {events[:10]}"
    outside.assert_untouched()


def new_state(tmp_path: Path, name: str = "state") -> StateDir:
    root = tmp_path / name
    (root / "agents").mkdir(parents=True)
    return StateDir(Path(os.path.realpath(root)))


# ---------------------------------------------------------------- corpus: stores

VALID = {"agent:main:main": {"sessionId": "11111111-2222-4333-8444-555555555555", "updatedAt": NOW_MS}}


def _entry(**extra: Any) -> bytes:
    body = {"sessionId": str(uuid.uuid4()), "updatedAt": NOW_MS - 3 * 86_400_000, **extra}
    return json.dumps(body).encode()


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


STORE_BYTES: dict[str, bytes] = {
    "empty": b"",
    "blank": b"  \n\t ",
    "truncated": store_bytes(VALID)[:-7],
    "bom": b"\xef\xbb\xbf" + store_bytes(VALID),
    "bad-utf8": b'{"agent:x:main": {"sessionId": "a\xff\xfeb", "updatedAt": 1}}',
    "nan": b'{"agent:x:main": {"sessionId": "a", "updatedAt": NaN}}',
    "infinity": b'{"agent:x:main": {"sessionId": "a", "updatedAt": Infinity, "n": -Infinity}}',
    "huge-numbers": b'{"agent:x:main": {"sessionId": "a", "updatedAt": 1e400, "inputTokens": '
    b'123456789012345678901234567890123, "x": -1e309, "tiny": 1e-400, "big": 9007199254740993}}',
    "deep-10000": b'{"agent:x:main": {"sessionId": "a", "updatedAt": 1, "deep": ' + _deep(10_000) + b"}}",
    "duplicate-keys": b'{"agent:x:main": {"sessionId": "a", "updatedAt": 1},'
    b' "agent:x:main": {"sessionId": "b", "updatedAt": 2}}',
    "root-array": b"[1, 2, 3]",
    "root-string": b'"sessions"',
    "root-null": b"null",
    "non-object-entries": b'{"a": null, "b": 1, "c": "s", "d": [], "e": true, "f": {}}',
    "wrong-types": json.dumps(
        {
            "agent:x:1": {"sessionId": 5, "updatedAt": "yesterday"},
            "agent:x:2": {"sessionId": "ok", "updatedAt": [], "sessionFile": 7, "origin": "x"},
            "agent:x:3": {
                "sessionId": "ok3",
                "updatedAt": 1,
                "deliveryContext": 5,
                "chatType": {},
                "compactionCheckpoints": {"a": 1},
                "skillsSnapshot": [],
                "lastInteractionAt": "x",
                "sessionStartedAt": None,
                "spawnedBy": 3,
                "status": [],
                "label": {"x": 1},
            },
            "agent:x:4": {"sessionId": None, "updatedAt": True},
            "agent:x:5": {"sessionId": "ok5", "updatedAt": -1, "compactionCheckpoints": [1, "x", None]},
        }
    ).encode(),
    "surrogates": b'{"agent:x:\\ud800": {"sessionId": "a\\udfff", "updatedAt": 1, "label": "\\ud83d"}}',
    "markup-and-control": json.dumps(
        {
            "agent:x:[bold red]boom[/]": json.loads(_entry(label="[link=file:///etc/passwd]x[/link]")),
            "agent:x:\x1b[31mred\x1b[0m": json.loads(_entry()),
            "agent:x:rtl\u202eevil\nline": json.loads(_entry()),
            "": json.loads(_entry()),
            " ": json.loads(_entry()),
        }
    ).encode(),
    "huge-key": json.dumps({"agent:x:" + "k" * 1_000_000: json.loads(_entry())}).encode(),
    "minified-unicode": json.dumps({"agent:x:main": json.loads(_entry(label="日本語 ✓ \u0000"))}).encode(),
}


def _special_store(kind: str, sdir: Path, outside: Outside) -> None:
    store = sdir / "sessions.json"
    if kind == "directory":
        store.mkdir()
    elif kind == "fifo":
        os.mkfifo(store)
    elif kind == "symlink-outside":
        store.symlink_to(outside.path("sessions.json"))
    elif kind == "symlink-fifo":
        store.symlink_to(outside.path("fifo"))
    elif kind == "no-permission":
        store.write_bytes(store_bytes(VALID))
        store.chmod(0o000)
        # the case is only honest if the store really cannot be read (see SPECIAL_STORES)
        assert not os.access(store, os.R_OK), f"{store} is still readable at mode 000"
    elif kind == "lock-is-a-directory":
        store.write_bytes(store_bytes(VALID))
        store.chmod(0o600)
        (sdir / "sessions.json.lock").mkdir()
    elif kind == "lock-is-a-fifo":
        store.write_bytes(store_bytes(VALID))
        store.chmod(0o600)
        os.mkfifo(sdir / "sessions.json.lock")
    else:
        raise AssertionError(kind)


# "no-permission" only when not root: root reads through mode bits (CAP_DAC_OVERRIDE), so
# at mode 000 it would silently test one more readable store. Under root the unreadable
# store is still covered by "directory", "fifo", "symlink-outside" and "symlink-fifo"
# (load_store: "unreadable", NotRegularFile); root's read of a mode-000 store is pinned by
# tests/test_store.py::test_load_store_unreadable_permissions.
NO_PERMISSION = ["no-permission"] if os.geteuid() != 0 else []

SPECIAL_STORES = [
    "directory",
    "fifo",
    "symlink-outside",
    "symlink-fifo",
    *NO_PERMISSION,
    "lock-is-a-directory",
    "lock-is-a-fifo",
]


def build_store_corpus(state: StateDir, outside: Outside) -> list[str]:
    """One agent per hostile store (agent ids are the corpus names). Returns the agents."""
    agents = []
    for kind, data in STORE_BYTES.items():
        agent = f"s-{kind}"
        state.write_store(agent, data)
        agents.append(agent)
    for kind in SPECIAL_STORES:
        agent = f"x-{kind}"
        sdir = state.sessions_dir(agent)
        sdir.mkdir(parents=True)
        _special_store(kind, sdir, outside)
        agents.append(agent)
    # a whole sessions folder that is a symlink to a folder outside
    (state.agent_dir("x-sessions-dir-outside")).mkdir(parents=True)
    state.sessions_dir("x-sessions-dir-outside").symlink_to(outside.folder, target_is_directory=True)
    agents.append("x-sessions-dir-outside")
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - 3 * 86_400_000)
    agents.append("main")
    return agents


def test_hostile_stores_all_agents_at_once(tmp_path: Path, outside: Outside) -> None:
    state = new_state(tmp_path)
    build_store_corpus(state, outside)
    hostile_run(state.root, outside)


def test_hostile_but_parseable_stores_go_through_gc(tmp_path: Path, outside: Outside) -> None:
    """gc stops at the first store it cannot parse (exit 65, nothing changed), so the
    stores that do parse also get gc on their own (--agent, every one of them at once)."""
    state = new_state(tmp_path)
    agents = build_store_corpus(state, outside)
    parseable = [
        a for a in agents if a.startswith("s-") and parse_store(state.store_path(a).read_bytes()) is not None
    ]
    # (a store it may not read stops gc with 77 before anything changes: tests/test_operator.py)
    parseable += ["x-lock-is-a-directory", "x-lock-is-a-fifo", "main"]
    assert len(parseable) >= 10, parseable
    selection = [x for a in parseable for x in ("--agent", a)]
    with outside.watched() as watch:
        run_read_only(state.root, [["gc", "--dry-run", "--max-age", "1d", *selection]])
        env = run_mutating(
            state.root, [["gc", "--max-age", "1d", "--allow-empty", "--lock-timeout", "1s", *selection]]
        )[0]
        events = watch.events()
    assert events == []
    outside.assert_untouched()
    # it got past every store: each one is in the summary (the locks that are a FIFO or a
    # folder make their store busy: skipped, exit 75)
    assert env["exit_code"] in (0, 75), env["errors"]
    assert set(env["summary"]["agents"]) == set(parseable), env["summary"]["agents"]


# ---------------------------------------------------------------- corpus: entries and transcripts


@pytest.fixture(scope="module")
def big_line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 100 MB transcript whose second line is one 100 MB JSON object (made once)."""
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    sid = "b16b16b1-0000-4000-8000-000000000000"
    with open(path, "wb") as f:
        f.write(header_line(sid, NOW_MS - 2 * HOUR_MS))
        f.write(b'{"type":"message","id":"00000001","parentId":null,"timestamp":"2026-05-01T10:00:00.000Z",')
        f.write(b'"message":{"role":"user","content":[{"type":"text","text":"')
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            f.write(chunk)
        f.write(b'"}]}}\n')
    yield path
    path.unlink()


def build_entry_corpus(state: StateDir, outside: Outside, big: Path) -> None:
    """One store whose entries and transcripts are hostile, in agent `main`."""
    sdir = state.sessions_dir("main")
    sdir.mkdir(parents=True)
    old = NOW_MS - 3 * 86_400_000
    store: dict[str, Any] = {"agent:main:main": {"sessionId": str(uuid.uuid4()), "updatedAt": NOW_MS}}

    def add(key: str, transcript: bytes | Callable[[Path], None] | None, **fields: Any) -> str:
        sid: str = fields.pop("sid", str(uuid.uuid4()))
        store[key] = {"sessionId": sid, "updatedAt": fields.pop("updatedAt", old), **fields}
        if isinstance(transcript, bytes):
            (sdir / f"{sid}.jsonl").write_bytes(transcript)
        elif transcript is not None:
            transcript(sdir / f"{sid}.jsonl")
        return sid

    hdr = header_line("h", old)
    add("agent:main:t:empty", b"")
    add("agent:main:t:bom", b"\xef\xbb\xbf" + hdr)
    add("agent:main:t:bad-utf8", hdr + b'{"type":"message","id":"1","x":"\xff\xfe"}\n')
    add("agent:main:t:truncated", hdr + b'{"type":"mess')
    add("agent:main:t:nan", hdr + b'{"type":"message","id":"1","parentId":null,"x":NaN}\n')
    add("agent:main:t:deep", hdr + b'{"type":"message","id":"1","d":' + _deep(10_000) + b"}\n")
    add("agent:main:t:no-header", message_line("00000001", None, old))
    add("agent:main:t:binary", bytes(range(256)) * 64)
    add("agent:main:t:directory", lambda p: p.mkdir())
    add("agent:main:t:fifo", lambda p: os.mkfifo(p))
    add("agent:main:t:symlink-outside", lambda p: p.symlink_to(outside.path("victim.jsonl")))
    add("agent:main:t:symlink-fifo", lambda p: p.symlink_to(outside.path("fifo")))
    add("agent:main:t:dangling", lambda p: p.symlink_to(p.parent / "nowhere.jsonl"))

    def link_big(p: Path) -> None:
        try:
            os.link(big, p)
        except OSError:
            import shutil

            shutil.copyfile(big, p)

    add("agent:main:t:100mb-line", link_big, updatedAt=NOW_MS - HOUR_MS)
    rel_out = os.path.relpath(outside.path("victim.jsonl"), sdir)
    add("agent:main:e:dotdot", None, sessionFile=rel_out)
    add("agent:main:e:dotdot-plain", None, sessionFile="../../../../victim.jsonl")
    add("agent:main:e:absolute-outside", None, sessionFile=str(outside.path("victim.jsonl")))
    add("agent:main:e:absolute-fifo", None, sessionFile=str(outside.path("fifo")))
    add("agent:main:e:sibling-shape-outside", None,
        sessionFile=str(outside.folder / "agents" / "other" / "sessions" / "victim.jsonl"))  # fmt: skip
    add("agent:main:e:checkpoint-outside", transcript_bytes("cp"),
        compactionCheckpoints=[{"preCompaction": {"sessionFile": str(outside.path("victim.jsonl"))},
                                "postCompaction": {"sessionFile": "../../../../secret.txt"}}])  # fmt: skip
    add("agent:main:e:prompt-ref-escape", None,
        skillsSnapshot={"promptRef": {"hash": "../../../../../outside/secret", "bytes": 5}})  # fmt: skip
    add("agent:main:e:sid-dotdot", None, sid="../../../outside/victim")
    add("agent:main:e:sid-absolute", None, sid=str(outside.path("victim")))
    add("agent:main:e:sid-huge", None, sid="a" * 10_000)
    add("agent:main:e:sid-nul", None, sid="a\u0000b")
    add("agent:main:e:timestamps", None, updatedAt=1e300, sessionStartedAt=-5, lastInteractionAt=2**63)
    add("agent:main:e:types", None, updatedAt="yesterday", origin="x", deliveryContext=5, chatType=[])
    add("agent:main:telegram:direct:1", transcript_bytes("dm1"))
    store["agent:main:Telegram:direct:1"] = {"sessionId": str(uuid.uuid4()), "updatedAt": old + 1}
    state.write_store("main", store)
    # files of the folder itself
    (sdir / os.fsdecode(b"orphan-\xff\xfe.jsonl")).write_bytes(transcript_bytes("undecodable-name"))
    (sdir / os.fsdecode(b"old-\xff.jsonl.deleted.2020-01-01T00-00-00.000Z")).write_bytes(b'{"a":1}\n')
    (sdir / "orphan-link.jsonl").symlink_to(outside.path("victim.jsonl"))
    os.mkfifo(sdir / "orphan-fifo.jsonl")
    (sdir / "orphan-dir.jsonl").mkdir()
    os.mkfifo(sdir / "gone.jsonl.deleted.2020-01-01T00-00-00.000Z")
    (sdir / "old.jsonl.deleted.2020-01-01T00-00-00.000Z").symlink_to(outside.path("secret.txt"))
    os.mkfifo(sdir / f"{store['agent:main:main']['sessionId']}.jsonl.lock")
    blob_dir = sdir / "skills-prompts" / "sha256" / "ab"
    blob_dir.mkdir(parents=True)
    (blob_dir / ("ab" + "c" * 62 + ".txt")).symlink_to(outside.path("secret.txt"))
    store["agent:main:e:prompt-ref-symlink"] = {
        "sessionId": str(uuid.uuid4()),
        "updatedAt": old,
        "skillsSnapshot": {"promptRef": {"hash": "ab" + "c" * 62, "bytes": 5}},
    }
    state.write_store("main", store)
    # binding files: a symlink outside and a FIFO
    (state.root / "discord").mkdir()
    (state.root / "discord" / "thread-bindings.json").symlink_to(outside.path("secret.txt"))
    (state.root / "telegram").mkdir()
    os.mkfifo(state.root / "telegram" / "thread-bindings-default.json")
    # an agent folder that is a symlink outside
    (state.root / "agents" / "evil").symlink_to(outside.folder, target_is_directory=True)


def test_hostile_entries_and_transcripts(tmp_path: Path, outside: Outside, big_line: Path) -> None:
    state = new_state(tmp_path)
    build_entry_corpus(state, outside, big_line)
    hostile_run(state.root, outside)
    # the 100 MB file was never copied into a run folder nor rewritten: it is the same inode
    ino = os.lstat(big_line).st_ino
    big_now = [p for p in state.sessions_dir("main").iterdir() if os.lstat(p).st_ino == ino]
    assert big_now, "the 100 MB transcript was replaced"


# ---------------------------------------------------------------- corpus: run folders, sessionctl's folder


def _runs_corpus(state: StateDir, other: StateDir, shared: Path, outside: Outside) -> dict[str, bytes]:
    """The runs folder of `state` holds what is not sessionctl's (an operator's archive,
    notes, a folder named like a run, one that sorts last), a run of `other` (another
    state dir), and crafted journals (paths out of the state dir and the run, aimed at
    the canaries outside); `shared` (a --backup-dir of both) holds runs of `other` too.
    Returns the bytes of every file that must survive: the foreign folders, the other
    state dir's runs (here and in `shared`)."""
    import shutil

    from support.reliability import _cli_ok

    runs = state.root / "sessionctl" / "runs"
    _cli_ok(state.root, ["gc", "--max-age", "1d", "--archive-retention", "1d"])
    _cli_ok(other.root, ["gc", "--max-age", "1d"])
    _cli_ok(other.root, ["backup", "--backup-dir", str(shared)])
    for name in ("2019-family-archive", "0-notes", "zzzz-sorts-last", "20200101T000000.000Z-abcdef"):
        (runs / name).mkdir(parents=True)
        (runs / name / "keep.txt").write_text(f"{name}: not a run")
    other_run = next((other.root / "sessionctl" / "runs").iterdir())
    shutil.copytree(other_run, runs / other_run.name)
    real = sorted(p for p in runs.iterdir() if (p / "journal.json").exists() and p.name != other_run.name)[0]
    crafted: dict[str, Callable[[dict[str, Any]], None]] = {
        "000001": lambda j: j["actions"].append(
            {"id": 90, "type": "file.move", "from": "agents/main/sessions/x.jsonl",
             "moved": "../../../../../../" + str(outside.path("secret.txt")).lstrip("/"), "state": "applied"}
        ),
        "000002": lambda j: j["actions"].append(
            {"id": 91, "type": "file.rename", "from": os.path.relpath(outside.path("victim.jsonl"), state.root),
             "to": "agents/main/sessions/victim.jsonl", "state": "applied"}
        ),
        "000003": lambda j: j["actions"].append(
            {"id": 92, "type": "file.copy_in", "path": "agents/main/sessions/stolen.txt",
             "source": str(outside.path("secret.txt")), "state": "applied"}
        ),
    }  # fmt: skip
    for suffix, edit in crafted.items():
        rid = real.name[:-6] + suffix
        shutil.copytree(real, runs / rid)
        for name in ("journal.json", "meta.json", "status.json"):
            path = runs / rid / name
            data = json.loads(path.read_bytes())
            data["run_id"] = rid
            if name == "journal.json":
                edit(data)
            if name == "status.json":
                data["results"] = [{"id": a, "state": "applied"} for a in (90, 91, 92)] + data["results"]
            path.write_text(json.dumps(data))
    planted: dict[str, bytes] = {}
    keep = [
        runs / n for n in ("2019-family-archive", "0-notes", "zzzz-sorts-last", "20200101T000000.000Z-abcdef")
    ]
    for folder in [*keep, runs / other_run.name, shared]:
        for p in folder.rglob("*"):
            if p.is_file() and not p.is_symlink():
                planted[str(p)] = p.read_bytes()
    return planted


def test_hostile_run_folders_and_a_shared_backup_dir(tmp_path: Path, outside: Outside) -> None:
    """Folders in the runs folder that are not sessionctl's, a run of another state dir,
    crafted journals, a --backup-dir shared with another state dir: every command keeps
    its documented exit, reads and writes nothing outside, and every planted folder and
    the other state dir's runs survive retention (`--keep-runs 1`) and undo."""
    state, other = new_state(tmp_path, "state"), new_state(tmp_path, "other")
    shared = tmp_path / "shared"
    for st_ in (state, other):
        for i in range(3):
            st_.add_session("main", f"agent:main:telegram:direct:{i}", updated_at=NOW_MS - 3 * 86_400_000)
        st_.add_session("main", "agent:main:main", updated_at=NOW_MS)
        (st_.sessions_dir("main") / "old.jsonl.deleted.2020-01-01T00-00-00.000Z").write_bytes(b'{"a":1}\n')
    planted = _runs_corpus(state, other, shared, outside)
    runs = sorted(p.name for p in (state.root / "sessionctl" / "runs").iterdir())
    bd = ["--backup-dir", str(shared)]
    with outside.watched() as watch:
        run_read_only(state.root, [["runs"], ["runs", *bd], *[["undo", "--dry-run", r] for r in runs[:8]]])
        run_mutating(
            state.root,
            [
                ["backup", "--keep-runs", "1"],
                ["gc", "--max-age", "1d", "--keep-runs", "1"],
                ["backup", *bd, "--keep-runs", "1"],
                ["prestart", "--max-age", "1d", "--keep-runs", "1"],
                *[["undo", r] for r in runs[:8]],
            ],
        )
        events = watch.events()
    assert events == [], events[:10]
    outside.assert_untouched()
    gone = sorted(p for p, data in planted.items() if not _same(Path(p), data))
    assert gone == [], gone
    assert not (state.sessions_dir("main") / "stolen.txt").exists()
    assert not (state.sessions_dir("main") / "victim.jsonl").exists()


def _same(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


@pytest.mark.parametrize("which", ["sessionctl", "sessionctl/runs"])
def test_hostile_symlinked_sessionctl_folder(tmp_path: Path, outside: Outside, which: str) -> None:
    """`<state>/sessionctl` or its `runs/` as a symlink to a folder outside: every
    command refuses or works without it, nothing outside is written (or even read)."""
    state = new_state(tmp_path)
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - 3 * 86_400_000)
    state.add_session("main", "agent:main:cron:x:run:1", updated_at=NOW_MS - 3 * 86_400_000)
    link = state.root / which
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside.folder, target_is_directory=True)
    with outside.watched() as watch:
        run_read_only(state.root, [["health"], ["list"], ["gc", "--dry-run", "--max-age", "1d"]])
        envs = run_mutating(state.root, [*MUTATING, ["undo", "20260101T000000.000Z-abcdef"]])
        events = watch.events()
    assert events == [], events[:10]
    outside.assert_untouched()
    assert all(e["exit_code"] in (0, 65) for e in envs), [(e["command"], e["exit_code"]) for e in envs]


def test_javascript_valid_json_survives_every_command(tmp_path: Path, outside: Outside) -> None:
    """What only JavaScript's JSON.parse reads right (tests/support/js_json_corpus.py: lone
    surrogates, 1e400, invalid UTF-8, deep nesting, a byte-order mark before the header,
    blank and CRLF lines) — OpenClaw reads it, so no command (repair --drop-bad-lines,
    prestart, gc, ...) quarantines, cuts, drops or "restores" it."""
    from support.js_json_corpus import LINES, TRANSCRIPTS

    state = new_state(tmp_path)
    state.add_session("main", "agent:main:main", updated_at=NOW_MS)
    store = state.read_store("main")
    keep: dict[Path, bytes] = {}
    for i, (name, (data, header_valid, bad)) in enumerate(sorted(TRANSCRIPTS.items())):
        if not header_valid or bad:
            continue  # (a line OpenClaw skips may be dropped by --drop-bad-lines)
        sid = f"0dd{i:05d}-0000-4000-8000-000000000000"
        store[f"agent:main:telegram:direct:{name}"] = {"sessionId": sid, "updatedAt": NOW_MS - 60_000}
        path = state.sessions_dir("main") / f"{sid}.jsonl"
        path.write_bytes(data)
        keep[path] = data
    state.write_store("main", store)
    lines = [r for _n, (r, valid) in sorted(LINES.items()) if valid and r.startswith(b"{") and b"\n" not in r]
    odd = b'{\n  "agent:odd:main": {\n    "sessionId": "x",\n    "updatedAt": ' + str(NOW_MS).encode()
    odd += b',\n    "label": "caf\xe9 \\ud83d",\n    "big": 1e400\n  }\n}'
    state.write_store("odd", odd)
    keep[state.store_path("odd")] = odd
    hdr = header_line("0dd00000-1111-4000-8000-000000000000", NOW_MS - 60_000)
    path = state.sessions_dir("main") / "0dd00000-1111-4000-8000-000000000000.jsonl"
    path.write_bytes(hdr + b"\n".join(lines) + b"\n")
    store["agent:main:telegram:direct:lines"] = {"sessionId": path.stem, "updatedAt": NOW_MS - 60_000}
    state.write_store("main", store)
    keep[path] = path.read_bytes()
    hostile_run(state.root, outside)
    for p, data in keep.items():
        now = p.read_bytes()
        assert now in (data, data + b"\n"), f"{p.name}: changed ({len(data)} → {len(now)} bytes)"


# ---------------------------------------------------------------- corpus: configuration


CONFIGS: dict[str, Callable[[StateDir, Outside], object]] = {
    "json5-broken": lambda s, o: s.write_config("{agents: {list: [ {id: 'main',"),
    "wrong-types": lambda s, o: s.write_config(
        {"agents": "x", "bindings": 5, "session": {"store": 7, "maintenance": "y", "mainKey": []}}
    ),
    "agent-ids-hostile": lambda s, o: s.write_config(
        {
            "agents": {
                "list": [{"id": "../../outside"}, {"id": "/etc"}, {"id": ""}, {"id": None}, {"id": "a" * 500}]
            }
        }
    ),
    "store-outside": lambda s, o: s.write_config({"session": {"store": str(o.path("sessions.json"))}}),
    "store-template-outside": lambda s, o: s.write_config(
        {"session": {"store": str(o.folder / "{agentId}" / "sessions.json")}}
    ),
    "config-fifo": lambda s, o: os.mkfifo(s.root / "openclaw.json"),
    "config-symlink-outside": lambda s, o: (s.root / "openclaw.json").symlink_to(o.path("openclaw.json")),
    "config-directory": lambda s, o: (s.root / "openclaw.json").mkdir(),
    "toml-broken": lambda s, o: (s.root / "sessionctl.toml").write_text("[gc\nmax-age = "),
    "toml-wrong-types": lambda s, o: (s.root / "sessionctl.toml").write_text(
        '[gc]\nmax-age = 5\nkeep-runs = "x"\nprotect = 3\n[health]\nstore-max-mb = "big"\n'
    ),
    "toml-fifo": lambda s, o: os.mkfifo(s.root / "sessionctl.toml"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_hostile_configuration(name: str, tmp_path: Path, outside: Outside) -> None:
    state = new_state(tmp_path)
    state.add_session("main", "agent:main:main", updated_at=NOW_MS - 3 * 86_400_000)
    state.add_session("main", "agent:main:cron:x:run:1", updated_at=NOW_MS - 3 * 86_400_000)
    CONFIGS[name](state, outside)
    with outside.watched() as watch:
        envs = run_read_only(state.root, [["health"], ["gc", "--dry-run", "--max-age", "1d"]])
        envs += run_mutating(state.root, [["gc", "--max-age", "1d"], ["prestart", "--max-age", "1d"]])
        events = watch.events()
    assert events == []
    outside.assert_untouched()
    for env in envs:
        for e in env["errors"]:
            assert "\n" not in e["message"], e  # one line: what, where
    if name in ("json5-broken", "wrong-types", "toml-broken", "toml-wrong-types", "config-fifo", "toml-fifo"):
        # a config sessionctl cannot read or use is named in the error, never silently
        # ignored: the real gc refuses (78) and changes nothing
        gc_env = envs[2]
        assert gc_env["exit_code"] == 78, gc_env
        assert gc_env["errors"][0]["code"] == "bad_config"
        config_file = "sessionctl.toml" if name.startswith("toml") else "openclaw.json"
        assert config_file in gc_env["errors"][0]["message"], gc_env["errors"]
        if config_file == "openclaw.json":
            # health and the dry run report it and go on
            assert any(f["check"] == "config.unparseable" for f in envs[0]["findings"]), envs[0]["findings"]
            assert envs[1]["exit_code"] == 0, envs[1]


# ---------------------------------------------------------------- another user


def _chown_tree(root: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.lchown(Path(dirpath) / name, uid, uid)
    os.lchown(root, uid, uid)


NOBODY = 65534


def test_a_state_dir_of_another_user_is_never_written(tmp_path: Path) -> None:
    """Non-negotiable 1 (keep mode and owner) and the lock protocol (a gateway counts a
    lock whose holder it cannot signal as dead) decide it: every mutating command refuses
    (exit 77, one line naming both users and the fix) and changes nothing; read-only ones
    work. The tests run as root, which ignores mode bits, so ownership is what is real."""
    sc = build_scenario("gc", tmp_path / "tpl")
    root = sc.copy(tmp_path / "case")
    _chown_tree(root, NOBODY)
    before = meta_snapshot(root)
    for args in (
        ["gc", "--max-age", "1d"],
        ["repair"],
        ["archive"],
        ["dedupe"],
        ["backup"],
        ["undo", "20260101T000000.000Z-abcdef"],
        ["restore", "20260101T000000.000Z-abcdef"],
    ):
        p = run(root, args)
        assert p.rc == 77, (args, p.rc, p.stderr)
        (line,) = [ln for ln in p.stderr.splitlines() if ln.startswith("sessionctl: error:")]
        assert f"belongs to uid {NOBODY}" in line and f"runs as uid {os.geteuid()}" in line, line
        assert "sudo -u" in p.stderr
    p = run(root, ["prestart", "--max-age", "1d"])
    assert p.rc == 0 and "belongs to uid" in p.stderr  # a unit is never failed for it: nothing changed
    run_read_only(root, [["health"], ["list"], ["gc", "--dry-run", "--max-age", "1d"], ["runs"]])
    assert meta_snapshot(root) == before


def test_a_store_of_another_user_in_our_state_dir_keeps_owner_and_mode(tmp_path: Path) -> None:
    sc = build_scenario("gc", tmp_path / "tpl")
    root = sc.copy(tmp_path / "case")
    store = root / "agents" / "main" / "sessions" / "sessions.json"
    bindings = root / "discord" / "thread-bindings.json"
    for p in (store, bindings):
        os.chown(p, NOBODY, NOBODY)
        p.chmod(0o600)
    before = store.read_bytes()
    proc = run(root, sc.argv(tmp_path / "case"))
    assert proc.rc == 0, proc.stderr
    assert store.read_bytes() != before
    for p2 in (store, bindings):
        st = p2.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (NOBODY, NOBODY, 0o600), p2


# ---------------------------------------------------------------- generated input

_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json = st.recursive(
    _json_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=12,
)
_fields = st.sampled_from(
    ["sessionId", "updatedAt", "sessionFile", "sessionStartedAt", "lastInteractionAt", "chatType", "channel",
     "origin", "deliveryContext", "lastTo", "compactionCheckpoints", "skillsSnapshot", "spawnedBy", "status",
     "label", "inputTokens", "parentSessionKey"]
)  # fmt: skip
_ts = st.one_of(st.integers(min_value=NOW_MS - 40 * 86_400_000, max_value=NOW_MS), _json_leaf)
_entry_st = st.one_of(
    st.fixed_dictionaries(
        {"sessionId": st.one_of(st.uuids().map(str), st.text(max_size=12)), "updatedAt": _ts},
        optional={"sessionStartedAt": _ts, "lastInteractionAt": _ts, "sessionFile": st.text(max_size=30)},
    ).flatmap(lambda base: st.dictionaries(_fields, _json, max_size=3).map(lambda extra: {**base, **extra})),
    _json,
)
_key = st.one_of(
    st.builds(lambda kind, rest: f"agent:a:{kind}:{rest}", st.sampled_from(
        ["main", "telegram:direct", "cron", "subagent", "discord:group", "telegram:group", "hook", "explicit"]),
        st.text(alphabet="abc123:-_.[]/ ", max_size=10)),
    st.text(max_size=15),
)  # fmt: skip
_store = st.dictionaries(_key, _entry_st, max_size=8)


@st.composite
def _store_bytes(draw: st.DrawFn) -> bytes:
    data = store_bytes(draw(_store))
    how = draw(st.sampled_from(["as-is", "as-is", "cut", "flip", "minified"]))
    if how == "cut" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    if how == "minified":
        try:
            return json.dumps(json.loads(data), separators=(",", ":")).encode()
        except ValueError:
            return data
    return data


_line = st.one_of(
    _json.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.builds(lambda i, p: message_line(f"{i:08x}", p, NOW_MS), st.integers(0, 9), st.none()),
)
_transcript = st.builds(
    lambda head, lines, tail: head + b"".join(x + b"\n" for x in lines) + tail,
    st.sampled_from([header_line("gen", NOW_MS - 86_400_000), b"", b"not a header\n", b"\xef\xbb\xbf{}\n"]),
    st.lists(_line, max_size=6),
    st.sampled_from([b"", b'{"type":"mess', b"\xff"]),
)


@settings(max_examples=int(os.environ.get("SESSIONCTL_HOSTILE_EXAMPLES", "6")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])  # fmt: skip
@given(stores=st.lists(_store_bytes(), min_size=1, max_size=3), transcripts=st.lists(_transcript, max_size=4))
def test_generated_stores_and_transcripts(
    tmp_path_factory: pytest.TempPathFactory, stores: list[bytes], transcripts: list[bytes]
) -> None:
    tmp = tmp_path_factory.mktemp("gen")
    outside = Outside.make(tmp / "outside")
    state = new_state(tmp)
    for i, data in enumerate(stores):
        state.write_store(f"g{i}", data)
        sdir = state.sessions_dir(f"g{i}")
        parsed: Any = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(data)
        sids: list[Any] = (
            [e.get("sessionId") for e in parsed.values() if isinstance(e, dict)]
            if isinstance(parsed, dict)
            else []
        )
        for j, t in enumerate(transcripts):
            sid = (
                sids[j]
                if j < len(sids) and isinstance(sids[j], str) and "/" not in sids[j] and sids[j]
                else f"gen-{j}"
            )
            name = f"{sid}.jsonl"
            if len(name.encode()) < 200 and "\x00" not in name:
                (sdir / name).write_bytes(t)
    run_read_only(state.root, [["health", "--deep"], ["gc", "--dry-run", "--max-age", "1d"],
                               ["repair", "--dry-run", "--salvage", "--merge-case", "--drop-bad-lines"]])  # fmt: skip
    base = Baseline.capture(state.root)
    with outside.watched() as watch:
        run_mutating(state.root, [["repair", "--salvage", "--merge-case", "--drop-bad-lines"],
                                  ["gc", "--max-age", "1d"], ["archive", "--older-than", "1s"]])  # fmt: skip
        events = watch.events()
    assert events == []
    outside.assert_untouched()
    # nothing a user had is gone: every entry and every file's bytes are live, archived or in a run
    check_nothing_lost(base, allowed_pids=set(), what="generated")


# ---------------------------------------------------------------- the instruments themselves


def test_the_tripwires_outside_see_a_read(tmp_path: Path, outside: Outside) -> None:
    """The checks above would prove nothing if they could not fail: a process that only
    reads a canary outside is seen by inotify and moves its atime."""
    import subprocess

    with outside.watched() as watch:
        subprocess.run(["cat", str(outside.path("secret.txt"))], check=True, capture_output=True)
        events = watch.events()
    assert any(name == "secret.txt" for _folder, name, _mask in events), events
    with pytest.raises(AssertionError, match="outside was read or written"):
        outside.assert_untouched()


def test_the_metadata_snapshot_sees_a_write_that_restores_the_mtime(tmp_path: Path) -> None:
    """A write that puts the mtime back (os.utime) still moves ctime: the read-only proof
    cannot be fooled that way."""
    state = new_state(tmp_path)
    path = state.add_session("main", "agent:main:main") and state.store_path("main")
    before = meta_snapshot(state.root)
    st = os.lstat(path)
    with open(path, "r+b") as f:
        f.write(b"{")  # same byte, same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = meta_snapshot(state.root)
    assert before != after
    assert [k for k in before if before[k] != after[k]] == ["agents/main/sessions/sessions.json"]
