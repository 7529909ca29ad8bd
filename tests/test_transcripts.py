"""Transcript readers (format doc §5) and the sessions-folder inventory (§2)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from support.helpers import DAY_MS, NOW_MS, header_line, iso, message_line, transcript_bytes

from sessionctl.timeutil import parse_archive_stamp
from sessionctl.transcripts import (
    HEADER_LIMIT,
    TAIL_CHUNK,
    classify,
    deep_scan,
    iter_lines,
    read_facts,
    scan_sessions_dir,
)

SID = "0f8fad5b-d9cb-469f-a165-70867728950e"
T0 = NOW_MS - DAY_MS


def _write(tmp_path: Path, data: bytes, name: str = f"{SID}.jsonl") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# ------------------------------------------------------------ cheap reader: header


def test_valid_transcript(tmp_path: Path) -> None:
    data = transcript_bytes(SID, start_ms=T0, messages=3, step_ms=60_000)
    f = read_facts(_write(tmp_path, data))
    assert (f.error, f.header_ok, f.header_problem, f.header_id) == (None, True, None, SID)
    assert f.header_ts_ms == T0
    assert f.size == len(data)
    assert (f.ends_with_newline, f.tail_partial, f.tail_bytes_cut, f.last_line_ok) == (True, None, 0, True)
    assert f.last_ts_ms == T0 + 3 * 60_000


def test_header_only_is_valid(tmp_path: Path) -> None:
    f = read_facts(_write(tmp_path, header_line(SID, T0)))
    assert f.header_ok and f.header_id == SID
    assert f.last_ts_ms == T0


NOT_HEADER_2 = 'line 2 (the first that parses) is not a session header (type != "session")'


@pytest.mark.parametrize(
    ("first", "problem"),
    [
        # OpenClaw skips lines JSON.parse rejects: the message of line 2 becomes its "header"
        (b'{"type":"session","id":"x"', NOT_HEADER_2),
        (b"not json at all", NOT_HEADER_2),
        (b"[1, 2]", "first line is not a JSON object"),
        (b'{"type":"message","id":"x"}', 'first line is not a session header (type != "session")'),
        (b'{"type":"session","version":3}', "session header has no id"),
        (b'{"type":"session","id":42}', "session header has no id"),
        (b"", NOT_HEADER_2),  # a blank first line is skipped
    ],
)
def test_invalid_header(tmp_path: Path, first: bytes, problem: str) -> None:
    data = first + b"\n" + message_line("00000001", None, T0 + 1000)
    f = read_facts(_write(tmp_path, data))
    assert not f.header_ok
    assert f.header_problem == problem
    assert f.error is None


def test_empty_file(tmp_path: Path) -> None:
    f = read_facts(_write(tmp_path, b""))
    assert (f.header_ok, f.header_problem, f.size) == (False, "file is empty", 0)


def test_header_longer_than_the_first_read_is_still_a_header(tmp_path: Path) -> None:
    cwd = "/" + "x" * (3 * TAIL_CHUNK)  # a 192 KiB header line, well under the 1 MiB limit
    data = header_line(SID, T0, cwd=cwd) + message_line("00000001", None, T0 + 5000)
    f = read_facts(_write(tmp_path, data))
    assert f.header_ok, f.header_problem
    assert (f.header_id, f.header_ts_ms, f.last_ts_ms) == (SID, T0, T0 + 5000)


def test_first_line_over_the_limit_is_not_a_header(tmp_path: Path) -> None:
    data = header_line(SID, T0, cwd="/" + "y" * (HEADER_LIMIT + 10)) + message_line("00000001", None, T0)
    f = read_facts(_write(tmp_path, data))
    assert not f.header_ok
    assert f.header_problem == "first line is longer than 1 MiB"


# ------------------------------------------------------------ cheap reader: tail


def test_truncated_tail(tmp_path: Path) -> None:
    good = transcript_bytes(SID, start_ms=T0, messages=2, step_ms=1000)
    partial = b'{"type":"message","id":"00000003","parentId":"0000'
    f = read_facts(_write(tmp_path, good + partial))
    assert f.header_ok
    assert not f.ends_with_newline
    assert f.tail_partial == partial
    assert f.tail_bytes_cut == len(partial)
    assert not f.last_line_ok
    assert f.last_ts_ms == T0 + 2000  # the last complete line


def test_unterminated_but_complete_last_line(tmp_path: Path) -> None:
    good = transcript_bytes(SID, start_ms=T0, messages=1, step_ms=1000)
    last = message_line("00000002", "00000001", T0 + 9000).rstrip(b"\n")
    f = read_facts(_write(tmp_path, good + last))
    assert not f.ends_with_newline
    assert f.last_line_ok  # parses: a crash right before the '\n'
    assert f.tail_bytes_cut == len(last)


def test_whole_file_is_one_unterminated_header_line(tmp_path: Path) -> None:
    data = header_line(SID, T0).rstrip(b"\n")
    f = read_facts(_write(tmp_path, data))
    assert f.header_ok and f.header_id == SID
    assert not f.ends_with_newline
    assert f.tail_bytes_cut == len(data) == f.size
    assert f.last_line_ok
    assert f.last_ts_ms is None  # no complete line at all


def test_whole_file_is_one_unterminated_garbage_line(tmp_path: Path) -> None:
    data = b'{"type":"sess'
    f = read_facts(_write(tmp_path, data))
    assert not f.header_ok and f.header_problem == "no line of the file is valid JSON"
    assert (f.ends_with_newline, f.tail_bytes_cut, f.last_line_ok) == (False, len(data), False)


def test_long_last_line_still_gives_the_last_timestamp(tmp_path: Path) -> None:
    big = message_line("00000002", "00000001", T0 + 777_000, text="z" * (3 * TAIL_CHUNK))
    data = transcript_bytes(SID, start_ms=T0, messages=1) + big
    f = read_facts(_write(tmp_path, data))
    assert f.last_ts_ms == T0 + 777_000


def test_last_line_without_timestamp(tmp_path: Path) -> None:
    data = transcript_bytes(SID, start_ms=T0, messages=1) + b'{"type":"custom","id":"00000009"}\n'
    assert read_facts(_write(tmp_path, data)).last_ts_ms is None


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
def test_not_a_regular_file_is_an_error_not_a_hang(tmp_path: Path, kind: str) -> None:
    p = tmp_path / "t.jsonl"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "symlink":
        (tmp_path / "real.jsonl").write_bytes(transcript_bytes(SID))
        p.symlink_to(tmp_path / "real.jsonl")
    else:
        p.mkdir()
    f = read_facts(p)
    assert f.error is not None and f.error.startswith("transcript ")
    assert not f.header_ok
    f = deep_scan(p, f)
    assert f.lines is None


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    f = read_facts(tmp_path / "nope.jsonl")
    assert f.error == "cannot read transcript: No such file or directory"


# ------------------------------------------------------------ deep reader


def _deep(tmp_path: Path, data: bytes) -> Any:
    p = _write(tmp_path, data)
    return deep_scan(p, read_facts(p))


def test_deep_scan_clean(tmp_path: Path) -> None:
    f = _deep(tmp_path, transcript_bytes(SID, start_ms=T0, messages=4, step_ms=1000))
    assert (f.lines, f.bad_lines, f.broken_parents, f.deep_last_ts_ms) == (5, [], [], T0 + 4000)


def test_deep_scan_bad_lines_and_broken_parents(tmp_path: Path) -> None:
    lines = [
        header_line(SID, T0),
        message_line("00000001", None, T0 + 1000),
        b'{"type":"message","id":"00000002",BROKEN\n',  # 3: unparseable
        b"\n",  # 4: blank, ignored
        message_line("00000003", "00000001", T0 + 3000),  # 5: fine
        message_line("00000004", "deadbeef", T0 + 4000),  # 6: parent never seen
        b"[1, 2, 3]\n",  # 7: not an object
        message_line("00000005", "00000006", T0 + 5000),  # 8: parent appears only later
        message_line("00000006", "00000003", T0 + 6000),  # 9: fine
        b'{"type":"message","id":"0000',  # 10: truncated tail — a warning elsewhere, not a bad line
    ]
    f = _deep(tmp_path, b"".join(lines))
    assert f.lines == 10
    assert f.bad_lines == [3, 7]
    assert f.broken_parents == [6, 8]
    assert f.deep_last_ts_ms == T0 + 6000
    assert not f.ends_with_newline


def test_deep_scan_parent_may_be_the_header_id(tmp_path: Path) -> None:
    data = header_line(SID, T0) + message_line("00000001", SID, T0 + 1000)
    assert _deep(tmp_path, data).broken_parents == []


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_iter_lines_offsets_and_long_lines(tmp_path: Path, chunk: int) -> None:
    lines = [b"a", b"", b"x" * 1000, b"\xc3\xa9\xf0\x9f\x98\x80", b"last-unterminated"]
    data = b"\n".join(lines)
    p = _write(tmp_path, data)
    got = list(iter_lines(p, chunk=chunk))
    assert [g[2] for g in got] == lines
    assert [g[0] for g in got] == [1, 2, 3, 4, 5]
    assert [g[3] for g in got] == [True, True, True, True, False]
    for _no, off, line, _nl in got:
        assert data[off : off + len(line)] == line


def test_iter_lines_file_ending_in_newline_has_no_empty_last_line(tmp_path: Path) -> None:
    p = _write(tmp_path, b"a\nb\n")
    assert [g[2] for g in iter_lines(p)] == [b"a", b"b"]


# ------------------------------------------------------------ inventory

TS = "2026-04-29T10-11-12.345Z"
INVENTORY: list[tuple[str, str, dict[str, Any]]] = [
    ("sessions.json", "store", {}),
    ("sessions.json.lock", "store_lock", {"owner": "sessions.json"}),
    (f"sessions.json.4242.{SID}.tmp", "store_tmp", {}),
    (f"sessions.json.{SID}.tmp", "store_tmp", {}),
    ("sessions.json.bak.1777000000000", "store_bak", {"archive_ts_ms": 1777000000000}),
    (f"{SID}.jsonl", "transcript", {"session_id": SID}),
    (f"{SID}-topic-42.jsonl", "topic", {"session_id": SID}),
    (f"{SID}-topic-%2Fgeneral.jsonl", "topic", {"session_id": SID}),
    (f"2026-04-29T10-11-12-345Z_{SID}.jsonl", "fork", {"session_id": SID}),
    (f"{TS}_{SID}.jsonl", "fork", {"session_id": SID}),
    (f"{SID}.checkpoint.7c9e6679-7425-40de-944b-e07fc1f90ae7.jsonl", "checkpoint", {"owner": f"{SID}.jsonl"}),
    (f"{SID}.jsonl.trajectory.jsonl", "trajectory", {"owner": f"{SID}.jsonl"}),
    (f"{SID}.trajectory.jsonl", "trajectory", {"owner": f"{SID}.jsonl"}),
    (f"{SID}.trajectory-path.json", "trajectory", {"owner": f"{SID}.jsonl"}),
    (f"{SID}.acp-stream.jsonl", "acp_stream", {"session_id": SID, "owner": f"{SID}.jsonl"}),
    (f"{SID}.jsonl.lock", "lock", {"owner": f"{SID}.jsonl"}),
    (f"{SID}.jsonl.reset.{TS}", "archive", {"owner": f"{SID}.jsonl", "archive_reason": "reset"}),
    (f"{SID}.jsonl.deleted.{TS}", "archive", {"owner": f"{SID}.jsonl", "archive_reason": "deleted"}),
    (f"{SID}.jsonl.bak.{TS}", "archive", {"owner": f"{SID}.jsonl", "archive_reason": "bak"}),
    (f"{SID}.jsonl.bak-4242-1777000000000", "repair_leftover", {"owner": f"{SID}.jsonl"}),
    (f"{SID}.jsonl.repair-4242-1777000000000.tmp", "repair_leftover", {"owner": f"{SID}.jsonl"}),
    (".usage-cost-cache.json", "usage_cache", {}),
    (".usage-cost-cache.json.lock", "usage_cache", {}),
    (f".usage-cost-cache.json.4242.{SID}.tmp", "usage_cache", {}),
    ("notes.txt", "other", {}),
    ("sessions.json.old", "other", {}),
]


@pytest.mark.parametrize(("name", "kind", "extra"), INVENTORY, ids=[i[0] for i in INVENTORY])
def test_classify_every_file_pattern(name: str, kind: str, extra: dict[str, Any]) -> None:
    got_kind, got_extra = classify(name)
    assert got_kind == kind
    for k, v in extra.items():
        assert got_extra.get(k) == v, (k, got_extra)


def test_archive_timestamps_are_parsed() -> None:
    _, extra = classify(f"{SID}.jsonl.deleted.{TS}")
    assert extra["archive_ts_ms"] == parse_archive_stamp(TS) == 1777457472345
    _, extra = classify(f"{SID}.jsonl.bak-4242-1777000000000")
    assert extra["archive_ts_ms"] == 1777000000000


def test_scan_sessions_dir(tmp_path: Path) -> None:
    sdir = tmp_path / "sessions"
    sdir.mkdir()
    for name, _kind, _ in INVENTORY:
        (sdir / name).write_bytes(b"12345")
    blobs = sdir / "skills-prompts" / "sha256" / "ab"
    blobs.mkdir(parents=True)
    (sdir / "random-dir").mkdir()
    (sdir / "link.jsonl").symlink_to(sdir / f"{SID}.jsonl")
    os.mkfifo(sdir / "pipe.jsonl")
    inv = scan_sessions_dir(sdir)
    assert inv.error is None
    kinds = {f.name: f.kind for f in inv.files}
    for name, kind, _ in INVENTORY:
        assert kinds[name] == kind
    assert kinds["skills-prompts"] == "prompt_blobs"
    assert kinds["random-dir"] == "directory"
    assert kinds["link.jsonl"] == "symlink"
    assert kinds["pipe.jsonl"] == "transcript"  # by name; the readers refuse to open it
    fi = inv.by_name[f"{SID}.jsonl"]
    assert (fi.size, fi.path) == (5, sdir / f"{SID}.jsonl")
    assert fi.mtime_ms == (sdir / f"{SID}.jsonl").stat().st_mtime_ns // 1_000_000
    assert sorted(f.name for f in inv.of_kind("archive")) == sorted(
        n for n, k, _ in INVENTORY if k == "archive"
    )


def test_scan_missing_folder(tmp_path: Path) -> None:
    inv = scan_sessions_dir(tmp_path / "nope")
    assert inv.error == "sessions folder does not exist" and inv.files == []


def test_transcript_timestamps_round_trip_through_iso() -> None:
    # the helpers write what OpenClaw writes; the reader gets the same ms back
    line = json.loads(message_line("00000001", None, T0 + 123))
    assert line["timestamp"] == iso(T0 + 123)


def test_a_folder_listing_is_reused_only_while_no_name_in_it_changed(tmp_path: Path) -> None:
    from sessionctl.context import RunContext
    from sessionctl.transcripts import scan_sessions_dir_stamped

    folder = tmp_path / "sessions"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(b"{}\n")
    stamp, _inv = scan_sessions_dir_stamped(folder)
    assert stamp is None  # changed a moment ago: a change in the same clock tick could hide
    old = time.time() - 60
    os.utime(folder, (old, old))
    stamp, inv = scan_sessions_dir_stamped(folder)
    assert stamp is not None and [f.name for f in inv.files] == ["a.jsonl"]
    ctx = RunContext(tmp_path, 0, False, None, None, None, None)  # type: ignore[arg-type]
    ctx.inventories = {str(folder): (stamp, inv)}
    assert ctx.planned_inventory(folder) is inv
    (folder / "a.jsonl").write_bytes(b"{}\n{}\n")  # a file's content: the names are the same
    assert ctx.planned_inventory(folder) is inv
    (folder / "b.jsonl").write_bytes(b"{}\n")
    assert ctx.planned_inventory(folder) is None
