"""JavaScript JSON.parse semantics (sessionctl.jsonjs) for everything OpenClaw wrote: a
store or transcript line OpenClaw can read is never called damaged, restored from a
backup, quarantined or dropped, and a complete but unterminated last line is terminated,
not cut.

The verdicts in tests/support/js_json_corpus.py are Node's own; tests/interop/test_interop_json.py
checks them against the real Node. Here: sessionctl's reader, transcript reader and the
commands on real files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.helpers import NOW_MS, StateDir, backup_bytes, header_line, make_entry, message_line, store_bytes
from support.js_json_corpus import LINES, TRANSCRIPTS
from support.repair import cli, journal, live_files

from sessionctl import jsonjs
from sessionctl.store import parse_store_bytes
from sessionctl.transcripts import deep_scan, read_facts

# ---------------------------------------------------------------- the reader


@pytest.mark.parametrize("name", sorted(LINES))
def test_reader_agrees_with_json_parse(name: str) -> None:
    raw, valid = LINES[name]
    assert jsonjs.is_valid(raw) is valid, name
    assert jsonjs.is_valid(raw.decode("utf-8", "replace")) is valid, name


def test_values_are_what_javascript_reads() -> None:
    assert jsonjs.loads(b'{"t":"\\ud83d"}') == {"t": "\ud83d"}
    assert jsonjs.loads(b'{"n":1e400,"m":-1e400}') == {"n": float("inf"), "m": float("-inf")}
    assert jsonjs.loads(b'{"t":"a\xffb"}') == {"t": "a\ufffdb"}
    assert jsonjs.loads(b'{"t":"\xed\xa0\x80"}') == {"t": "\ufffd\ufffd\ufffd"}  # as Node: one per byte
    assert jsonjs.loads(b'{"a":1,"b":2,"a":3}') == {"a": 3, "b": 2}
    assert list(jsonjs.loads(b'{"a":1,"b":2,"a":3}')) == ["a", "b"]
    big = jsonjs.loads(b"[123456789012345678901234567890, 18446744073709551615, " + b"9" * 5000 + b"]")
    assert big == [1.2345678901234568e29, 18446744073709551615, float("inf")]  # as orjson reads them
    deep = jsonjs.loads(b"[" * 100_000 + b"]" * 100_000)
    depth = 0
    while deep:
        deep, depth = deep[0], depth + 1
    assert depth == 100_000 - 1


def test_the_iterative_parser_reads_like_the_recursive_one() -> None:
    text = '{"a": [1, -2.5e-3, "x\\ud800\\n", true, false, null, {}, []], "a": 3, "b": {"c": -0, "d": 1e400}}'
    assert jsonjs._parse_iterative(text) == json.loads(text)
    for bad in ("[1,]", '{"a":1,}', "[1 2]", "{} {}", "", "[", '{"a"}', "NaN", "\ufeff{}"):
        with pytest.raises(jsonjs.JSONError):
            jsonjs._parse_iterative(bad)


def test_a_store_too_deep_to_write_back_is_valid_for_openclaw_but_never_modified() -> None:
    from sessionctl.store import valid_for_openclaw

    raw = b'{"agent:x:main": {"sessionId": "a", "updatedAt": 1, "d": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    status, data, error = parse_store_bytes(raw)
    assert (status, data) == ("unreadable", None)
    assert valid_for_openclaw(status, error)
    assert "OpenClaw reads it" in str(error)


# ---------------------------------------------------------------- transcripts


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_transcript_reader_agrees_with_openclaw(tmp_path: Path, name: str) -> None:
    data, header_valid, bad = TRANSCRIPTS[name]
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    facts = read_facts(path)
    assert facts.header_ok is header_valid, (name, facts.header_problem)
    if header_valid:
        deep = deep_scan(path, facts)
        assert deep.bad_lines is not None and len(deep.bad_lines) == bad, (name, deep.bad_lines)
        assert deep.broken_parents == [], (name, deep.broken_parents)


def test_a_complete_unterminated_line_that_only_orjson_rejects_is_complete(tmp_path: Path) -> None:
    data = header_line("s1") + message_line("00000001", None, NOW_MS)
    last = message_line("00000002", "00000001", NOW_MS).rstrip(b"\n")[:-1] + b',"t":"\\ud83d"}'
    path = tmp_path / "t.jsonl"
    path.write_bytes(data + last)
    assert read_facts(path).last_line_ok


# ---------------------------------------------------------------- the commands


def _odd_transcript(sid: str) -> bytes:
    """A header with a lone surrogate (a cwd cut inside an emoji), then messages holding
    what only JSON.parse reads: a lone surrogate, 1e400, an invalid UTF-8 byte, deep
    nesting, and a complete last line without its newline."""
    hdr = header_line(sid, NOW_MS - 2 * 3_600_000, cwd="/home/u/\ud83d")
    assert b"\\ud83d" in hdr
    m1 = message_line("00000001", None, NOW_MS - 3_600_000, text="emoji cut @").replace(b"@", b"\\ud83d")
    m2 = message_line("00000002", "00000001", NOW_MS - 3_500_000).replace(b'"hi"', b'"hi","cost":1e400')
    m3 = message_line("00000003", "00000002", NOW_MS - 3_400_000).replace(b'"hi"', b'"caf\xe9"')
    m4 = message_line("00000004", "00000003", NOW_MS - 3_300_000).replace(
        b'"hi"', b'"hi","d":' + b"[" * 3000 + b"]" * 3000
    )
    last = message_line("00000005", "00000004", NOW_MS - 3_200_000, text="last @").rstrip(b"\n")
    last = last.replace(b"@", b"\\udc00")
    return hdr + m1 + m2 + m3 + m4 + last


def _state_with_odd_transcript(state: StateDir) -> tuple[Path, bytes]:
    sid = "0dd0dd00-0000-4000-8000-000000000001"
    data = _odd_transcript(sid)
    state.add_session("main", "agent:main:telegram:direct:1", session_id=sid, transcript=data)
    state.add_session("main", "agent:main:main")
    return state.sessions_dir("main") / f"{sid}.jsonl", data


def test_repair_keeps_every_line_openclaw_reads_and_terminates_the_last(state: StateDir) -> None:
    path, data = _state_with_odd_transcript(state)
    rc, env, err = cli(state, "repair", "--only", "transcripts", "--drop-bad-lines")
    assert rc == 0, (rc, env, err)
    assert [a["check"] for a in env["actions"]] == ["transcript.truncated_tail"]
    assert "terminate its last line" in env["actions"][0]["what"]
    assert path.read_bytes() == data + b"\n"  # nothing dropped, nothing cut, not quarantined
    assert env["actions"][0]["state"] == "applied"


def test_health_deep_finds_nothing_wrong_in_lines_openclaw_reads(state: StateDir) -> None:
    path, data = _state_with_odd_transcript(state)
    path.write_bytes(data + b"\n")
    rc, env, err = cli(state, "health", "--deep")
    checks = {f["check"] for f in env["findings"]}
    assert not checks & {"transcript.header_invalid", "transcript.bad_line", "transcript.truncated_tail"}, env
    assert rc in (0, 1), (rc, err)


def test_prestart_leaves_a_transcript_with_an_odd_header_alone(state: StateDir) -> None:
    path, data = _state_with_odd_transcript(state)
    path.write_bytes(b"\xef\xbb\xbf" + data + b"\n")  # and a byte-order mark (trim() strips it)
    before = path.read_bytes()
    rc, env, err = cli(state, "prestart")
    assert rc == 0, (rc, env, err)
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if ".bak." in p.name]


STORE_ONLY_BAD_UTF8 = "agent:main:telegram:direct:7"
OLD_DM = "agent:main:telegram:direct:1"


def _store_with_invalid_utf8(state: StateDir) -> tuple[Path, bytes]:
    store: dict[str, Any] = {
        OLD_DM: make_entry("11111111-0000-4000-8000-000000000001", NOW_MS - 3_600_000),
        STORE_ONLY_BAD_UTF8: make_entry("11111111-0000-4000-8000-000000000007", NOW_MS, label="cafe"),
    }
    raw = store_bytes(store).replace(b'"cafe"', b'"caf\xe9"')  # Latin-1 é: one invalid byte
    return state.write_store("main", raw), raw


def test_repair_and_prestart_never_restore_a_store_whose_only_flaw_is_invalid_utf8(state: StateDir) -> None:
    # an older backup of the store exists (without the session added since)
    old = {OLD_DM: make_entry("11111111-0000-4000-8000-000000000001", NOW_MS - 3_600_000)}
    state.write_store("main", old)
    rc, env, err = cli(state, "backup")
    assert rc == 0, (rc, env, err)
    path, raw = _store_with_invalid_utf8(state)

    rc, env, err = cli(state, "repair", "--only", "store")
    assert rc == 0, (rc, env, err)
    assert env["actions"] == [] and env["refused"] == []
    assert path.read_bytes() == raw

    rc, env, err = cli(state, "prestart")
    assert rc == 0, (rc, env, err)
    assert env["store_valid"] is True
    assert path.read_bytes() == raw


def test_prestart_without_a_backup_does_not_keep_the_gateway_down(state: StateDir) -> None:
    path, raw = _store_with_invalid_utf8(state)
    rc, env, err = cli(state, "prestart")
    assert rc == 0, (rc, env, err)
    assert env["store_valid"] is True and env["status"] != "error"
    assert path.read_bytes() == raw
    assert "store.invalid_utf8" in env["health"]["by_check"], env["health"]


def test_gc_rewrites_it_as_openclaw_would_and_the_run_keeps_the_original(state: StateDir) -> None:
    path, raw = _store_with_invalid_utf8(state)
    rc, env, err = cli(state, "gc", "--max-age", "30min")
    assert rc == 0, (rc, env, err)
    assert [a["key"] for a in env["actions"] if a["type"] == "store.remove"] == [OLD_DM]
    assert json.loads(path.read_bytes()) == {
        STORE_ONLY_BAD_UTF8: make_entry("11111111-0000-4000-8000-000000000007", NOW_MS, label="caf\ufffd")
    }
    backups = [b for b in journal(state, env)["backups"] if b["kind"] == "store"]
    run = state.root / "sessionctl" / "runs" / env["run_id"]
    assert backup_bytes(run / backups[0]["backup"]) == raw
    before = live_files(state.root)
    rc, env2, err = cli(state, "restore", env["run_id"])
    assert rc == 0, (rc, env2, err)
    assert path.read_bytes() == raw and live_files(state.root) != before


def test_sqlite_era_entries_are_read_as_json_parse_reads_them() -> None:
    """entry_json of a SQLite-era database (OpenClaw writes it, Node reads it back with
    JSON.parse) goes through the same reader: a lone surrogate, 1e400 and any depth are
    an entry; what JSON.parse throws on is none."""
    from sessionctl.sqlite.reader import parse_entry

    deep = '{"sessionId": "s", "d": ' + "[" * 5000 + "]" * 5000 + "}"
    assert parse_entry('{"sessionId": "s", "label": "cut \\ud83d", "cost": 1e400}') == {
        "sessionId": "s",
        "label": "cut \ud83d",
        "cost": float("inf"),
    }
    assert isinstance(parse_entry(deep), dict)
    for name, (data, valid) in sorted(LINES.items()):
        text = jsonjs.decode_utf8(data)
        assert (parse_entry(text) is not None) == (valid and isinstance(jsonjs.loads(text), dict)), name
