"""Fast paths added for speed give exactly the answers of the slow paths they skip:
entry → transcript resolution with and without the folder listing, on real files
(symlinks, folders, relative and odd sessionFile values, missing files)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from support.gc import gc_state, live_tree
from support.helpers import (
    DAY_MS,
    HOUR_MS,
    NOW_ISO,
    NOW_MS,
    StateDir,
    header_line,
    message_line,
    parse_envelope,
    run_cli,
)

from sessionctl import snapshot
from sessionctl.discovery import AgentStore
from sessionctl.snapshot import FactsPrefetch, facts_from_fields, snapshot_agent
from sessionctl.store import resolve_transcript
from sessionctl.timeutil import archive_stamp
from sessionctl.transcripts import read_facts, scan_sessions_dir


def _folder(tmp_path: Path) -> tuple[Path, Path]:
    state = (tmp_path / "state").resolve()
    sdir = state / "agents" / "main" / "sessions"
    sdir.mkdir(parents=True)
    (state / "agents" / "ops" / "sessions").mkdir(parents=True)
    (state / "agents" / "ops" / "sessions" / "sib.jsonl").write_text("{}\n")
    outside = tmp_path / "outside.jsonl"
    outside.write_text("{}\n")
    (sdir / "plain.jsonl").write_text("{}\n")
    (sdir / " spaced .jsonl").write_text("{}\n")
    (sdir / "link.jsonl").symlink_to(outside)
    (sdir / "inner-link.jsonl").symlink_to(sdir / "plain.jsonl")
    (sdir / "dir.jsonl").mkdir()
    (sdir / "abc.jsonl").write_text("{}\n")
    return state, sdir


def test_listing_fast_path_resolves_exactly_like_realpath(tmp_path: Path) -> None:
    state, sdir = _folder(tmp_path)
    values = [
        None,
        "",
        "   ",
        "plain.jsonl",
        " spaced .jsonl",
        str(sdir / "plain.jsonl"),
        str(sdir / " spaced .jsonl"),
        str(sdir) + "//plain.jsonl",
        str(sdir) + "/./plain.jsonl",
        str(sdir / "link.jsonl"),
        "link.jsonl",
        str(sdir / "inner-link.jsonl"),
        str(sdir / "dir.jsonl"),
        str(sdir / "missing.jsonl"),
        "missing.jsonl",
        "../sessions/plain.jsonl",
        "sub/plain.jsonl",
        ".",
        "..",
        str(sdir) + "/",
        str(sdir / ".."),
        str(state / "agents" / "ops" / "sessions" / "sib.jsonl"),
        "/elsewhere/agents/main/sessions/plain.jsonl",
        str(tmp_path / "outside.jsonl"),
        7,
    ]
    sids = ["abc", "plain", "link", "dir", "missing", "ABC", "a/b", "", None, "x" * 200]
    listed = scan_sessions_dir(sdir).by_name
    checked = 0
    for sf in values:
        for sid in sids:
            entry: dict[str, object] = {"updatedAt": 1}
            if sf is not None:
                entry["sessionFile"] = sf
            if sid is not None:
                entry["sessionId"] = sid
            slow = resolve_transcript(entry, sdir, "main", state)
            fast = resolve_transcript(entry, sdir, "main", state, listed)
            assert fast == slow, (sf, sid)
            checked += 1
    assert checked == len(values) * len(sids)
    # and the fast path is really taken for the common shapes
    plain = resolve_transcript({"sessionFile": str(sdir / "plain.jsonl")}, sdir, "main", state, listed)
    assert plain.path == sdir / "plain.jsonl" and plain.source == "sessionFile"
    link = resolve_transcript({"sessionFile": str(sdir / "link.jsonl")}, sdir, "main", state, listed)
    assert link.path is None and link.outside == str(sdir / "link.jsonl")
    assert os.path.islink(sdir / "link.jsonl")


def test_slim_parse_equals_full_parse_minus_the_big_objects() -> None:
    import orjson

    from sessionctl.store import SLIM_DROPPED, parse_store_bytes, parse_store_slim

    def stringify(d: object) -> bytes:
        return orjson.dumps(d, option=orjson.OPT_INDENT_2)

    big = {
        "sessionId": "a",
        "updatedAt": 1,
        "systemPromptReport": {"x": [1, {"y": '}\\n  "'}]},
        "skillsSnapshot": {"promptRef": {"hash": "h"}},
        "contextBudgetStatus": {},
        "keep": {"k": 1},
    }
    cases: list[bytes] = [
        stringify({"agent:main:a": big, "agent:main:b": {"sessionId": "b", "updatedAt": 2}}),
        stringify({"agent:main:a": big}),
        stringify({"only": 1, "list": [1, 2], "s": "x"}),  # non-object entries stay as they are
        b'{\n  "a": {"sessionId": "x", "updatedAt": 1},\n  "a": {"sessionId": "y", "updatedAt": 2}\n}',
        b'{"a": {"sessionId": "x", "updatedAt": 1}}',  # compact: whole-store path
        b'{\n  "a": {"sessionId": "x",\n  "b": 1}\n}',  # a member start inside an object
        b'{\n  "a": 1\n  "b": 2\n}',  # missing comma: unparseable either way
        b'{\n  "a": "\\ud800"\n}',  # lone surrogate: orjson refuses, json reads it
        b'{\n  "a": 1,\n}',
        b"{}",
        b"[]",
        b"",
        b'{\n  "a": {"n": 1e400}\n}',
    ]
    for raw in cases:
        st, full, err = parse_store_bytes(raw)
        if full is not None:
            for v in full.values():
                if isinstance(v, dict):
                    for f in SLIM_DROPPED:
                        v.pop(f, None)
        got = parse_store_slim(raw)
        assert got == (st, full, err), raw
        if full is not None:
            assert list(got[1] or {}) == list(full), raw


def test_command_of_names_every_registered_command() -> None:
    """cli.main builds only the invoked command's module: the name → module table must
    match what each module registers (a command missing from it would still run, built
    with all the others, but slower; a wrong module would break it)."""
    import importlib

    import typer

    from sessionctl import cli

    registered: dict[str, str] = {}
    for mod in cli.COMMAND_MODULES:
        app = typer.Typer()
        importlib.import_module(f"sessionctl.commands.{mod}").register(app)
        for info in app.registered_commands:
            assert info.name is not None
            registered[info.name] = mod
    assert registered == cli.COMMAND_OF


# ---------------------------------------------------------------- gc's read-ahead of transcript facts


def _facts_folder(sdir: Path, outside: Path) -> None:
    """Transcripts of every shape the cheap reader tells apart, and files it must not read."""
    sdir.mkdir(parents=True)
    (sdir / "good.jsonl").write_bytes(header_line("good") + message_line("m1", None, ts_ms=NOW_MS - HOUR_MS))
    (sdir / "empty.jsonl").write_bytes(b"")
    (sdir / "bad-head.jsonl").write_bytes(b"{not json\n" + message_line("m1", None, ts_ms=NOW_MS))
    (sdir / "cut.jsonl").write_bytes(header_line("cut") + b'{"type":"message","ti')
    (sdir / "t1-topic-3.jsonl").write_bytes(header_line("t1"))
    (sdir / "old.jsonl.deleted.2026-03-01T00-00-00.000Z").write_bytes(header_line("old"))
    outside.write_bytes(header_line("outside"))
    (sdir / "link.jsonl").symlink_to(outside)
    (sdir / "dir.jsonl").mkdir()


def test_prefetched_facts_are_the_in_process_read(tmp_path: Path) -> None:
    """The child reads the live transcripts (not archives, links or folders) and its facts
    are field for field what this process reads."""
    sdir = tmp_path / "sessions"
    _facts_folder(sdir, tmp_path / "outside.jsonl")
    pf = FactsPrefetch.start([sdir, tmp_path / "no-such-folder"])
    assert pf is not None, "a 2-core test machine forks the reader"
    got = pf.collect()
    assert sorted(Path(p).name for p in got) == [
        "bad-head.jsonl",
        "cut.jsonl",
        "empty.jsonl",
        "good.jsonl",
        "t1-topic-3.jsonl",
    ]
    for p, f in got.items():
        assert facts_from_fields(Path(p), f) == read_facts(Path(p)), p
    assert facts_from_fields(sdir / "cut.jsonl", got[str(sdir / "cut.jsonl")]).tail_partial is not None


def test_told_what_is_wanted_the_child_reads_just_that(tmp_path: Path) -> None:
    """The child reads every live transcript in listing order (it cannot know which ones
    the entries refer to) until the parent says which it wants (collect): then it reads
    just those it has not read yet — of the folder's files, nothing else — and sends them.
    Here the request is there before the child lists anything, so it reads nothing
    else. (The child's own code, run in this process with real pipes.)"""
    import pickle
    import threading

    sdir = tmp_path / "sessions"
    _facts_folder(sdir, tmp_path / "outside.jsonl")
    for i in range(600):  # orphans, past the child's check for a request every 256 files
        (sdir / f"orphan-{i}.jsonl").write_bytes(header_line(f"o{i}"))
    wanted = [str(sdir / "good.jsonl"), str(sdir / "cut.jsonl"), str(tmp_path / "outside.jsonl")]
    req_r, req_w = os.pipe()
    data = pickle.dumps(wanted)
    os.write(req_w, len(data).to_bytes(8, "big") + data)
    r, w = os.pipe()
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(b"".join(iter(lambda: os.read(r, 1 << 16), b""))))
    reader.start()
    try:
        snapshot._prefetch_child([sdir], [], w, True, req_r)  # closes w when it succeeds
    except BaseException:
        os.close(w)
        raise
    reader.join()
    for fd in (r, req_r, req_w):
        os.close(fd)
    body = out[0][8:]
    kind, rows = pickle.loads(body)
    assert kind == "facts"
    assert [p for p, _f in rows] == wanted[:2]  # not the orphans, not a file outside the folder
    for p, f in rows:
        assert facts_from_fields(Path(p), f) == read_facts(Path(p))


def test_a_request_to_a_child_that_has_finished_gets_what_it_sent(tmp_path: Path) -> None:
    """A child that read everything before the parent asked has sent it all and exited:
    asking then (a write into a pipe nobody reads) neither hangs nor loses the facts."""
    sdir = tmp_path / "sessions"
    _facts_folder(sdir, tmp_path / "outside.jsonl")
    pf = FactsPrefetch.start([sdir])
    assert pf is not None and pf.pid is not None
    pid, deadline = pf.pid, time.monotonic() + 60
    while not os.waitpid(pid, os.WNOHANG)[0]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    got = pf.collect([str(sdir / "good.jsonl")] * 20000)  # more than a pipe holds
    assert str(sdir / "good.jsonl") in got and len(got) == 5


def test_a_stopped_read_ahead_leaves_no_child(tmp_path: Path) -> None:
    sdir = tmp_path / "sessions"
    _facts_folder(sdir, tmp_path / "outside.jsonl")
    pf = FactsPrefetch.start([sdir])
    assert pf is not None and pf.pid is not None
    pid = pf.pid
    pf.close()
    pf.close()  # idempotent
    assert pf.collect() == {}
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left behind


def test_the_child_reads_on_while_its_store_waits_to_be_asked_for(tmp_path: Path) -> None:
    """The store the child sends first is several MB: far more than a pipe holds. It is
    drained as it comes, so the child reads the transcripts and exits on its own while
    this process is still busy elsewhere (before, it stood still until this process
    asked for the store) — and what it sent is all there when asked for."""
    sdir = tmp_path / "sessions"
    _facts_folder(sdir, tmp_path / "outside.jsonl")
    store = tmp_path / "big" / "sessions.json"
    store.parent.mkdir()
    big = {
        f"agent:main:s{i}": {"sessionId": f"s{i}", "updatedAt": NOW_MS, "pad": "x" * 2000}
        for i in range(2000)
    }
    store.write_text(json.dumps(big, indent=2))
    assert store.stat().st_size > 16 * (64 << 10)
    pf = FactsPrefetch.start([sdir], [store], slim=True)
    assert pf is not None and pf.pid is not None
    pid = pf.pid
    deadline = time.monotonic() + 60
    while True:  # nothing asked of pf yet
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, "the child stood still with its store unread"
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    got = pf.store(store)
    data = got.data if got is not None else None
    assert data is not None and len(data) == 2000
    assert len(pf.collect()) == 5
    pf.close()


def _gc(root: Path, *args: str) -> tuple[int, str]:
    """gc's JSON with the state dir's own path taken out (two copies compare equal)."""
    res = run_cli("gc", "--json", "--state-dir", str(root), "--max-age", "120h", "--now", NOW_ISO, *args)
    doc = parse_envelope(res)
    for k in ("run_id", "run_dir", "elapsed_ms", "lock_held_ms"):
        doc.get("data", {}).pop(k, None)
    return res.rc, _STAMP.sub("<stamp>", json.dumps(doc, sort_keys=True).replace(str(root), "<state>"))


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z")  # archive names carry the wall clock


def _tree(root: Path) -> dict[str, bytes]:
    return {_STAMP.sub("<stamp>", k): v for k, v in live_tree(root).items()}


def test_gc_with_the_read_ahead_is_gc_without(state: StateDir, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same dry run, same run (stores, archives, everything on disk) whether the
    transcripts' facts were read ahead by a child or in-process."""
    gc_state(state)
    plain = state.root.parent / "plain"
    shutil.copytree(state.root, plain, symlinks=True)

    monkeypatch.setattr(snapshot, "PREFETCH_MIN_STORE_BYTES", 1 << 62)
    dry_plain, run_plain = _gc(plain, "--dry-run"), _gc(plain)
    monkeypatch.setattr(snapshot, "PREFETCH_MIN_STORE_BYTES", 0)
    collected: list[int] = []
    real_collect = FactsPrefetch.collect

    def collect(self: FactsPrefetch, wanted: Iterable[str] | None = None) -> dict[str, tuple[object, ...]]:
        got = real_collect(self, wanted)
        collected.append(len(got))
        return got

    monkeypatch.setattr(FactsPrefetch, "collect", collect)
    dry_ahead, run_ahead = _gc(state.root, "--dry-run"), _gc(state.root)
    assert len(collected) == 2 and min(collected) >= 7, "both runs read the facts ahead"

    assert dry_plain == dry_ahead
    assert run_plain[0] == run_ahead[0] == 0
    assert _tree(plain) == _tree(state.root)
    summaries = [json.loads(r[1])["summary"] for r in (run_plain, run_ahead)]
    for sm in summaries:
        sm.pop("lock_held_ms")
    assert summaries[0] == summaries[1]


def test_a_transcript_that_changed_after_the_read_ahead_is_read_again(state: StateDir) -> None:
    """A prefetched fact is used only while the file's size and mtime in the snapshot's own
    listing are what the child read: a transcript that grew since is read again."""
    sid = state.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - 2 * DAY_MS)
    sdir = state.sessions_dir("main")
    pf = FactsPrefetch.start([sdir])
    assert pf is not None
    cache = pf.collect()
    path = sdir / f"{sid}.jsonl"
    assert str(path) in cache
    with open(path, "ab") as fh:
        fh.write(message_line("late", None, ts_ms=NOW_MS - 60_000))
    store = AgentStore("main", sdir / "sessions.json", sdir, "file")
    snap = snapshot_agent(store, state.root, facts_cache=cache)
    (ev,) = snap.entries
    assert ev.facts is not None
    assert ev.facts.size == path.stat().st_size != cache[str(path)][0]
    assert ev.facts.last_ts_ms == NOW_MS - 60_000


def test_an_archive_name_already_on_disk_is_never_given_out_again(state: StateDir) -> None:
    """gc asks its folder listing, not the disk, whether an archive name is free: names
    already there for every millisecond the run can stamp with are all passed over, and
    every one of those files keeps its bytes."""
    sid = state.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - 10 * DAY_MS)
    state.add_session("main", "agent:main:telegram:direct:2", updated_at=NOW_MS - HOUR_MS)
    sdir = state.sessions_dir("main")
    original = (sdir / f"{sid}.jsonl").read_bytes()
    t0 = time.time_ns() // 1_000_000
    squatters = {}
    for ms in range(t0, t0 + 3000):
        name = f"{sid}.jsonl.deleted.{archive_stamp(ms)}"
        squatters[name] = str(ms).encode()
        (sdir / name).write_bytes(squatters[name])
    res = run_cli("gc", "--state-dir", str(state.root), "--max-age", "120h", "--now", NOW_ISO, "--json")
    assert res.rc == 0, res.stderr
    doc = parse_envelope(res)
    (rename,) = [a for a in doc["actions"] if a["type"] == "file.rename"]
    assert Path(rename["to"]).name not in squatters
    assert (state.root / rename["to"]).read_bytes() == original
    assert not (sdir / f"{sid}.jsonl").exists()
    for name, data in squatters.items():
        assert (sdir / name).read_bytes() == data


def test_a_store_the_child_cannot_parse_stops_gc_as_in_process(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child loads the last store: a corrupt one there gives gc's own refusal (data
    error, nothing changed), exactly as when this process reads it."""
    gc_state(state)
    state.store_path("ops").write_bytes(b'{"agent:ops:main": {"sessionId": "x",')
    before = live_tree(state.root)
    outs = []
    for threshold in (1 << 62, 0):
        monkeypatch.setattr(snapshot, "PREFETCH_MIN_STORE_BYTES", threshold)
        res = run_cli("gc", "--state-dir", str(state.root), "--max-age", "120h", "--now", NOW_ISO, "--json")
        outs.append((res.rc, parse_envelope(res)["errors"], res.stderr))
        assert live_tree(state.root) == before
    assert outs[0] == outs[1]
    assert outs[0][0] != 0 and "cannot be read" in outs[0][2]


def test_health_with_the_read_ahead_is_health_without(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every finding and stat, in the same order, whether the transcripts' facts (and the
    last store) were read by a child or in-process — a missing agent between two others
    included (its stats keep their place)."""
    gc_state(state)
    state.write_config({"agents": {"list": [{"id": "main", "default": True}, {"id": "gone"}, {"id": "ops"}]}})
    state.write_transcript("ops", "bad.jsonl", b"{not json\n")
    outs = []
    collected: list[int] = []
    real_collect = FactsPrefetch.collect

    def collect(self: FactsPrefetch, wanted: Iterable[str] | None = None) -> dict[str, tuple[object, ...]]:
        got = real_collect(self, wanted)
        collected.append(len(got))
        return got

    monkeypatch.setattr(FactsPrefetch, "collect", collect)
    for threshold in (1 << 62, 0):
        monkeypatch.setattr(snapshot, "PREFETCH_MIN_STORE_BYTES", threshold)
        res = run_cli("health", "--json", "--state-dir", str(state.root), "--now", NOW_ISO)
        outs.append((res.rc, json.dumps(parse_envelope(res), sort_keys=True)))
    assert collected and min(collected) >= 7, "the second run read the facts ahead"
    assert outs[0] == outs[1]
    doc = json.loads(outs[0][1])
    assert [a["agent"] for a in doc["agents"]] == ["main", "gone", "ops"]
