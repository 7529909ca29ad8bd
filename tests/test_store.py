"""sessions.json: byte-faithful round-trip, load classification, entry checks and
entry → transcript resolution with containment (format doc §3)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.helpers import (
    NOW_ISO,
    StateDir,
    js_stringify,
    make_entry,
    run_json,
    store_bytes,
    transcript_bytes,
)

from sessionctl.errors import DataError
from sessionctl.store import (
    entry_shape_problem,
    is_canonical,
    load_store,
    num,
    parse_store_bytes,
    resolve_transcript,
    serialize_store,
    session_id_unsafe,
    write_store,
)

# A store as OpenClaw 2026.5 writes it (checked against node's JSON.stringify(JSON.parse(x),
# null, 2)): 2-space indent, no trailing newline, non-ASCII kept, an array-index key first
# (JS orders those before all others), nested diagnostic objects, unknown fields, JS number
# forms that differ from Python's (0.0000012, 1e-7, 1e+21, 100000000000000000000).
REAL_STORE = r"""{
  "4155551234": {
    "sessionId": "3b1f0c52-9a7e-4d8e-8f1a-2c6d5e4b3a21",
    "updatedAt": 1769000000000,
    "chatType": "direct",
    "provider": "imessage"
  },
  "agent:main:main": {
    "sessionId": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "updatedAt": 1777632000123,
    "sessionStartedAt": 1777000000000,
    "lastInteractionAt": 1777631999000,
    "chatType": "direct",
    "label": "Zoë – 東京 😀 \"quoted\" back\\slash",
    "origin": {
      "provider": "telegram",
      "surface": "dm",
      "chatType": "direct",
      "from": "telegram:123456789",
      "to": "telegram:bot",
      "accountId": "default",
      "threadId": null
    },
    "deliveryContext": {
      "channel": "telegram",
      "to": "123456789",
      "accountId": "default"
    },
    "inputTokens": 18234,
    "outputTokens": 912,
    "totalTokens": 19146,
    "contextTokens": 200000,
    "totalTokensFresh": true,
    "model": "claude-sonnet-4-5",
    "modelProvider": "anthropic",
    "estimatedCostUsd": 0.0000123,
    "cacheHitRatio": 0.375,
    "compactionCount": 0,
    "compactionCheckpoints": [],
    "skillsSnapshot": {
      "prompt": "<skills>\n  <skill name=\"weather\">Get the weather\tforecast</skill>\n</skills>",
      "skills": [
        {
          "name": "weather",
          "primaryEnv": null,
          "requiredEnv": []
        },
        {
          "name": "github",
          "primaryEnv": "GITHUB_TOKEN",
          "requiredEnv": [
            "GITHUB_TOKEN"
          ]
        }
      ],
      "resolvedSkills": {},
      "version": 2,
      "promptRef": {
        "hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "bytes": 4096
      }
    },
    "systemPromptReport": {
      "source": "run",
      "generatedAt": 1777631990000,
      "systemPrompt": {
        "chars": 23817,
        "projectContextChars": 1204,
        "nonProjectContextChars": 22613
      },
      "injectedWorkspaceFiles": [
        {
          "name": "AGENTS.md",
          "path": "/home/zoë/.openclaw/workspace/AGENTS.md",
          "missing": false,
          "rawChars": 7809,
          "injectedChars": 7809,
          "truncated": false
        },
        {
          "name": "SOUL.md",
          "path": "/home/zoë/.openclaw/workspace/SOUL.md",
          "missing": true,
          "rawChars": 0,
          "injectedChars": 0,
          "truncated": false
        }
      ],
      "tools": {
        "listChars": 3000,
        "schemaChars": 41234,
        "entries": [
          {
            "name": "exec",
            "summaryChars": 120,
            "schemaChars": 980,
            "propertiesCount": 7
          }
        ]
      },
      "ratio": 1e-7,
      "perToken": 0.0000012,
      "largeExact": 12345678901234567000,
      "big": 1e+21,
      "exact": 100000000000000000000
    },
    "futureField": {
      "nested": [
        1,
        2.5,
        -0.5,
        null,
        true,
        false,
        "\u0001\u001f control",
        {}
      ]
    },
    "abortedLastRun": false
  },
  "agent:main:telegram:group:-1001234567890:topic:42": {
    "sessionId": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "updatedAt": 1777000000000,
    "chatType": "group",
    "displayName": "Ελληνικά · العربية · עברית",
    "sessionFile": "/srv/oc/agents/main/sessions/7c9e6679-7425-40de-944b-e07fc1f90ae7-topic-42.jsonl"
  }
}""".encode()


def test_real_store_round_trips_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    path.write_bytes(REAL_STORE)
    load = load_store(path)
    assert load.status == "ok" and load.data is not None
    assert serialize_store(load.data) == REAL_STORE
    assert is_canonical(load) and load.canonical
    # unknown fields and key order survive
    assert list(load.data) == [
        "4155551234",
        "agent:main:main",
        "agent:main:telegram:group:-1001234567890:topic:42",
    ]
    main = load.data["agent:main:main"]
    assert list(main)[:3] == ["sessionId", "updatedAt", "sessionStartedAt"]
    assert main["futureField"]["nested"][6] == "\x01\x1f control"
    assert main["label"].startswith("Zoë – 東京 😀")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"k": {"sessionId": "s", "updatedAt": 1}}',  # compact: hand-written or another tool
        b'{\n  "k": {\n    "sessionId": "s",\n    "updatedAt": 1\n  }\n}\n',  # trailing newline
        b'{\n  "k": {\n    "sessionId": "s",\n    "updatedAt": 1.0\n  }\n}',  # JS never writes 1.0
        b'{\n  "k": {\n    "sessionId": "\\u0073",\n    "updatedAt": 1\n  }\n}',  # needless escape
    ],
)
def test_stores_not_in_openclaw_formatting_are_not_canonical(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "sessions.json"
    path.write_bytes(raw)
    load = load_store(path)
    assert load.status == "ok"
    assert not load.canonical and not is_canonical(load)
    assert not load_store(tmp_path / "missing.json").canonical


def test_write_store_writes_exactly_what_openclaw_would(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    path.write_bytes(b"{}")
    os.chmod(path, 0o644)
    status, data, _ = parse_store_bytes(REAL_STORE)
    assert status == "ok" and data is not None
    payload = write_store(path, data)
    assert payload == REAL_STORE
    assert path.read_bytes() == REAL_STORE
    assert (path.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sessions.json"]


def test_reference_writer_agrees_with_the_fixed_bytes() -> None:
    # the helper used by every other test writes stores the same way
    assert store_bytes(json.loads(REAL_STORE)) == REAL_STORE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, b"{}"),
        ({"a": {}}, b'{\n  "a": {}\n}'),
        ({"a": []}, b'{\n  "a": []\n}'),
        (
            {"k": [1, [2, []], {"x": None}]},
            b'{\n  "k": [\n    1,\n    [\n      2,\n      []\n    ],\n    {\n      "x": null\n    }\n  ]\n}',
        ),
        (
            {"f": 5.0, "g": -0.0, "h": 1.5e-6, "i": 2.5e-7, "j": 1e16},
            b'{\n  "f": 5,\n  "g": 0,\n  "h": 0.0000015,\n  "i": 2.5e-7,\n  "j": 10000000000000000\n}',
        ),
        ({"nan": float("nan"), "inf": float("inf")}, b'{\n  "nan": null,\n  "inf": null\n}'),
        (
            {"s": "tab\there \u2028 \x7f \U0001f600"},
            '{\n  "s": "tab\\there \u2028 \x7f \U0001f600"\n}'.encode(),
        ),
        ({"lone": "cut \ud83d"}, b'{\n  "lone": "cut \\ud83d"\n}'),
        ({"big": 2**70}, b'{\n  "big": 1180591620717411303424\n}'),
    ],
    ids=[
        "empty",
        "empty-obj",
        "empty-arr",
        "nested",
        "js-numbers",
        "non-finite",
        "escapes",
        "lone-surrogate",
        "int>64bit",
    ],
)
def test_serialize_matches_json_stringify(value: dict[str, Any], expected: bytes) -> None:
    assert serialize_store(value) == expected


def test_serialize_refuses_values_that_are_not_json() -> None:
    with pytest.raises(DataError, match="cannot write back faithfully"):
        serialize_store({"a": {1, 2}})


# ------------------------------------------------------------ hypothesis round-trip

_lone = st.sampled_from(["\ud83d", "\ude00", "\udbff"])
_strings = st.one_of(
    st.text(max_size=12),
    st.tuples(st.text(max_size=4), _lone, st.text(alphabet="abc", max_size=3)).map("".join),
)
_numbers = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.integers(),  # beyond 2**53: JSON.stringify prints the nearest double
    st.floats(allow_nan=False, allow_infinity=False),
)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), _numbers, _strings),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_strings, children, max_size=4)
    ),
    max_leaves=25,
)
_stores = st.dictionaries(
    _strings, st.one_of(_json, st.dictionaries(_strings, _json, max_size=5)), max_size=6
)


@given(_stores)
def test_any_store_written_by_json_stringify_round_trips(store: dict[str, Any]) -> None:
    raw = js_stringify(store).encode("utf-8")
    status, data, error = parse_store_bytes(raw)
    assert status == "ok", error
    assert data is not None
    assert serialize_store(data) == raw


# ------------------------------------------------------------ load classification

DEEP = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


@pytest.mark.parametrize(
    ("raw", "status", "needle"),
    [
        (b"", "empty", "0 bytes"),
        (b"  \n\t\r\n ", "empty", "whitespace"),
        (b'{\n  "agent:main:main": {\n    "sessionId": "ab', "unparseable", "line 3"),
        (b'{\n  "a": {"sessionId": "x", "updatedAt": 1}\n}\n{', "unparseable", "line 4"),
        (b"\xef\xbb\xbf{}", "unparseable", "byte-order mark"),
        (b'{"a": {"label": "caf\xe9"}, \xff}', "unparseable", "UTF-8 at byte 20"),
        (b'{"a": {"sessionId": "x", "updatedAt": NaN}}', "unparseable", ""),
        (b'{"a": {"sessionId": "x", "updatedAt": Infinity}}', "unparseable", ""),
        (b'{"a": {"sessionId": "x", "updatedAt": -Infinity}}', "unparseable", ""),
        (b"[]", "not_object", "JSON array"),
        (b'"{}"', "not_object", "JSON string"),
        (b"null", "not_object", "JSON null"),
        (b"42", "not_object", "JSON number"),
        (DEEP, "unreadable", "nested deeper"),
    ],
    ids=[
        "zero-bytes",
        "whitespace",
        "truncated",
        "trailing-garbage",
        "bom",
        "invalid-utf8",
        "nan",
        "infinity",
        "neg-infinity",
        "array-root",
        "string-root",
        "null-root",
        "number-root",
        "10000-deep",
    ],
)
def test_parse_store_bytes_classifies(raw: bytes, status: str, needle: str) -> None:
    got, data, error = parse_store_bytes(raw)
    assert got == status
    assert data is None
    assert error is not None and needle in error


def test_json_parse_accepts_what_orjson_rejects() -> None:
    # a label cut inside an emoji: JS writes a lone surrogate escape; JSON.parse reads it
    raw = b'{\n  "k": {\n    "sessionId": "s",\n    "updatedAt": 1,\n    "label": "hi \\ud83d"\n  }\n}'
    status, data, _ = parse_store_bytes(raw)
    assert status == "ok" and data is not None
    assert data["k"]["label"] == "hi \ud83d"
    assert serialize_store(data) == raw
    # a number beyond a double: JSON.parse reads Infinity, JSON.stringify writes null
    status, data, _ = parse_store_bytes(b'{"k": {"sessionId": "s", "updatedAt": 1E400}}')
    assert status == "ok" and data is not None
    assert num(data["k"]["updatedAt"]) is None
    assert b'"updatedAt": null' in serialize_store(data)


def test_huge_integers_load_and_write_back_like_json_stringify() -> None:
    raw = b'{"k": {"sessionId": "s", "updatedAt": 123456789012345678901234567890, "n": 18446744073709551615}}'
    status, data, _ = parse_store_bytes(raw)
    assert status == "ok" and data is not None
    assert data["k"]["updatedAt"] == pytest.approx(1.2345678901234568e29)
    out = serialize_store(data)
    assert b'"updatedAt": 1.2345678901234568e+29' in out  # what OpenClaw's next write would hold
    assert b'"n": 18446744073709551615' in out  # kept exactly (JS would round it)


def test_load_store_missing(tmp_path: Path) -> None:
    load = load_store(tmp_path / "sessions.json")
    assert load.status == "missing" and load.data is None


def test_load_store_ok_records_size_mtime_inode(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    path.write_bytes(REAL_STORE)
    load = load_store(path)
    st_ = path.stat()
    assert (load.size, load.mtime_ns, load.ino) == (len(REAL_STORE), st_.st_mtime_ns, st_.st_ino)
    assert load.raw == REAL_STORE


def test_load_store_directory_in_place(tmp_path: Path) -> None:
    (tmp_path / "sessions.json").mkdir()
    load = load_store(tmp_path / "sessions.json")
    assert load.status == "unreadable"
    assert load.error == "sessions.json is a directory"


def test_load_store_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_bytes(b'{"k": {"sessionId": "s", "updatedAt": 1}}')
    (tmp_path / "sessions.json").symlink_to(target)
    load = load_store(tmp_path / "sessions.json")
    assert load.status == "unreadable"
    assert load.error is not None and "symbolic link" in load.error
    assert load.data is None


def test_load_store_fifo_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "sessions.json")
    code = (
        "import sys; from pathlib import Path; from sessionctl.store import load_store; "
        "l = load_store(Path(sys.argv[1])); print(l.status, l.error)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "sessions.json")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "unreadable sessions.json is not a regular file"


def test_load_store_unreadable_permissions(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    path.write_bytes(b'{"k": {"sessionId": "s", "updatedAt": 1}}')
    path.chmod(0o000)
    load = load_store(path)
    if os.geteuid() == 0:
        # root reads through mode bits: the store is simply readable
        assert load.status == "ok" and load.data == {"k": {"sessionId": "s", "updatedAt": 1}}
    else:
        assert load.status == "unreadable"
        assert load.error == "cannot read sessions.json: Permission denied"


# ------------------------------------------------------------ entries


@pytest.mark.parametrize(
    ("sid", "ok"),
    [
        ("0f8fad5b-d9cb-469f-a165-70867728950e", True),
        ("Abc.def_ghi:jkl@host-1", True),
        ("a" * 255, True),
        ("a" * 256, False),
        ("", False),
        (None, False),
        (42, False),
        ("../etc/passwd", False),
        ("a/b", False),
        ("a\\b", False),
        ("-leading-dash", False),
        ("with space", False),
    ],
)
def test_session_id_safety(sid: Any, ok: bool) -> None:
    assert (session_id_unsafe(sid) is None) is ok


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (make_entry("s", 1), None),
        (make_entry("s", 1.5), None),
        ([], "entry is a JSON array, not an object"),
        ("x", "entry is a JSON string, not an object"),
        (None, "entry is a JSON null, not an object"),
        ({"updatedAt": 1}, "sessionId is missing or not a string"),
        (make_entry("s", "1777000000000"), "updatedAt is missing or not a number"),
        (make_entry("s", True), "updatedAt is missing or not a number"),
        ({"sessionId": "s"}, "updatedAt is missing or not a number"),
    ],
)
def test_entry_shape_problem(entry: Any, problem: str | None) -> None:
    assert entry_shape_problem(entry) == problem


def test_num() -> None:
    assert num(5) == 5
    assert num(5.9) == 5
    assert num(True) is None
    assert num("5") is None
    assert num(float("nan")) is None
    assert num(float("inf")) is None
    assert num(None) is None
    assert num(2**53 - 1) == 2**53 - 1
    assert num(-(2**53) + 1) == -(2**53) + 1
    for absurd in (2**53, 1e300, -1e300, 12345678901234567890):
        assert num(absurd) is None  # garbage, not a date in the year 10^290


# ------------------------------------------------------------ entry → transcript


@pytest.fixture
def dirs(state: StateDir, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(state root, main's sessions folder, a folder outside the state dir)."""
    sdir = state.sessions_dir("main")
    sdir.mkdir(parents=True)
    state.sessions_dir("work").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    return state.root, sdir, Path(os.path.realpath(outside))


SID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _ref(entry: dict[str, Any], dirs: tuple[Path, Path, Path], agent: str = "main") -> Any:
    root, sdir, _ = dirs
    return resolve_transcript(entry, sdir, agent, root)


def test_session_file_inside_absolute(dirs: tuple[Path, Path, Path]) -> None:
    _, sdir, _ = dirs
    (sdir / "custom.jsonl").write_bytes(b"")
    ref = _ref(make_entry(SID, sessionFile=str(sdir / "custom.jsonl")), dirs)
    assert (ref.path, ref.source, ref.outside) == (sdir / "custom.jsonl", "sessionFile", None)


def test_session_file_relative(dirs: tuple[Path, Path, Path]) -> None:
    _, sdir, _ = dirs
    ref = _ref(make_entry(SID, sessionFile="rel.jsonl"), dirs)
    assert (ref.path, ref.source) == (sdir / "rel.jsonl", "sessionFile")


def test_no_session_file_uses_session_id(dirs: tuple[Path, Path, Path]) -> None:
    _, sdir, _ = dirs
    ref = _ref(make_entry(SID.upper()), dirs)  # the id pattern is case-insensitive
    assert (ref.path, ref.source, ref.outside) == (sdir / f"{SID.upper()}.jsonl", "sessionId", None)
    ref = _ref(make_entry(SID, sessionFile=12), dirs)  # not a string: ignored
    assert ref.source == "sessionId"


@pytest.mark.parametrize("escape", ["../../../outside/x.jsonl", "../work/sessions/../../../outside/x.jsonl"])
def test_relative_escape_is_refused(dirs: tuple[Path, Path, Path], escape: str) -> None:
    _, sdir, _ = dirs
    ref = _ref(make_entry(SID, sessionFile=escape), dirs)
    assert ref.outside == escape
    assert (ref.path, ref.source) == (sdir / f"{SID}.jsonl", "sessionId")


def test_absolute_outside_is_refused(dirs: tuple[Path, Path, Path]) -> None:
    _, sdir, outside = dirs
    target = outside / f"{SID}.jsonl"
    target.write_bytes(transcript_bytes(SID))
    ref = _ref(make_entry(SID, sessionFile=str(target)), dirs)
    assert ref.outside == str(target)
    assert ref.path == sdir / f"{SID}.jsonl"


def test_symlinked_transcript_pointing_outside_is_refused(dirs: tuple[Path, Path, Path]) -> None:
    _, sdir, outside = dirs
    (outside / "t.jsonl").write_bytes(transcript_bytes(SID))
    (sdir / "link.jsonl").symlink_to(outside / "t.jsonl")
    (sdir / f"{SID}.jsonl").symlink_to(outside / "t.jsonl")
    ref = _ref(make_entry(SID, sessionFile=str(sdir / "link.jsonl")), dirs)
    assert (ref.path, ref.source) == (None, "none")
    assert ref.outside == str(sdir / "link.jsonl")
    ref = _ref(make_entry(SID), dirs)
    assert (ref.path, ref.source) == (None, "none")


def test_symlink_inside_the_folder_resolves_to_its_target(dirs: tuple[Path, Path, Path]) -> None:
    _, sdir, _ = dirs
    (sdir / "real.jsonl").write_bytes(b"")
    (sdir / "alias.jsonl").symlink_to("real.jsonl")
    ref = _ref(make_entry(SID, sessionFile="alias.jsonl"), dirs)
    assert (ref.path, ref.source) == (sdir / "real.jsonl", "sessionFile")


def test_relocated_state_dir(dirs: tuple[Path, Path, Path]) -> None:
    _, sdir, _ = dirs
    old = f"/home/old-user/.openclaw/agents/main/sessions/{SID}-topic-7.jsonl"
    ref = _ref(make_entry(SID, sessionFile=old), dirs)
    assert (ref.path, ref.source, ref.outside) == (sdir / f"{SID}-topic-7.jsonl", "relocated", None)


def test_relocated_path_of_another_agent_outside_this_state_dir_is_refused(
    dirs: tuple[Path, Path, Path],
) -> None:
    old = f"/home/old-user/.openclaw/agents/work/sessions/{SID}.jsonl"
    ref = _ref(make_entry(SID, sessionFile=old), dirs)
    assert ref.source == "sessionId" and ref.outside == old


def test_relocated_basename_that_is_a_symlink_outside_is_refused(dirs: tuple[Path, Path, Path]) -> None:
    _, sdir, outside = dirs
    (outside / "t.jsonl").write_bytes(b"")
    (sdir / "moved.jsonl").symlink_to(outside / "t.jsonl")
    ref = _ref(make_entry("x y", sessionFile="/old/agents/main/sessions/moved.jsonl"), dirs)
    assert (ref.path, ref.source) == (None, "none")


def test_sibling_agent_under_the_same_state_dir(dirs: tuple[Path, Path, Path]) -> None:
    root, _, _ = dirs
    sib = root / "agents" / "work" / "sessions" / f"{SID}.jsonl"
    sib.write_bytes(transcript_bytes(SID))
    ref = _ref(make_entry(SID, sessionFile=str(sib)), dirs)
    assert (ref.path, ref.source, ref.outside) == (sib, "sibling", None)


def test_sibling_folder_that_is_a_symlink_outside_is_refused(dirs: tuple[Path, Path, Path]) -> None:
    root, sdir, outside = dirs
    (outside / "sessions").mkdir()
    (outside / "sessions" / "t.jsonl").write_bytes(b"")
    (root / "agents" / "evil").mkdir()
    (root / "agents" / "evil" / "sessions").symlink_to(outside / "sessions")
    sf = str(root / "agents" / "evil" / "sessions" / "t.jsonl")
    ref = _ref(make_entry(SID, sessionFile=sf), dirs)
    assert ref.outside == sf
    assert ref.path == sdir / f"{SID}.jsonl"


@pytest.mark.parametrize("sid", ["../evil", "a/b", "", "x" * 129, "with space", ".hidden", "ok@host"])
def test_unsafe_session_id_gives_no_path(dirs: tuple[Path, Path, Path], sid: str) -> None:
    ref = _ref({"sessionId": sid, "updatedAt": 1}, dirs)
    assert (ref.path, ref.source) == (None, "none")


def test_outside_targets_are_never_opened_by_the_cli(state: StateDir, tmp_path: Path) -> None:
    """Entries pointing outside (a FIFO that would block any reader, a file with content
    that would show up in the listing) are reported, never read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    os.mkfifo(outside / "fifo.jsonl")
    (outside / "big.jsonl").write_bytes(transcript_bytes("b", messages=50))
    sdir = state.sessions_dir("main")
    sdir.mkdir(parents=True)
    (sdir / "c.jsonl").symlink_to(outside / "fifo.jsonl")
    store = {
        "agent:main:telegram:direct:1": make_entry("a", sessionFile=str(outside / "fifo.jsonl")),
        "agent:main:telegram:direct:2": make_entry("b", sessionFile="../../../../outside/big.jsonl"),
        "agent:main:telegram:direct:3": make_entry("c"),
    }
    state.write_store("main", store)
    rc, env, err = run_json("list", "--state-dir", str(state.root), "--now", NOW_ISO, timeout=30)
    assert rc == 0, err
    rows = {r["key"]: r for r in env["sessions"]}
    for key in store:
        # only the (missing) <sessionId>.jsonl inside the folder is ever considered
        assert rows[key]["transcript"] in (None, str(sdir / f"{store[key]['sessionId']}.jsonl"))
        assert rows[key]["transcript_bytes"] is None
        assert "missing-transcript" in rows[key]["flags"]
    assert rows["agent:main:telegram:direct:3"]["transcript"] is None  # c.jsonl → FIFO outside
    assert "out-of-dir" in rows["agent:main:telegram:direct:1"]["flags"]
    assert "out-of-dir" in rows["agent:main:telegram:direct:2"]["flags"]


# ------------------------------------------------------------ the real OpenClaw's output

SAMPLES = sorted(
    (Path(__file__).resolve().parent.parent / "interop").glob(
        "sample-state-*/agents/*/sessions/sessions.json"
    )
)


def test_stores_written_by_the_real_openclaw_round_trip(tmp_path: Path) -> None:
    """interop/sample-state-<version>/ was written by the real OpenClaw (a copy is used:
    the sample itself is never touched). Its stores re-serialise byte-for-byte, and every
    entry's absolute sessionFile — from the machine that generated it — resolves to the
    transcript here by the relocated-state-dir rule."""
    from sessionctl.transcripts import classify, read_facts

    assert SAMPLES, "interop/sample-state-*/ is missing"
    for src in SAMPLES:
        state_src = src.parents[3]
        root = tmp_path / state_src.name
        if not root.exists():
            shutil.copytree(state_src, root, symlinks=True)
        root = Path(os.path.realpath(root))
        agent = src.parent.parent.name
        path = root / "agents" / agent / "sessions" / "sessions.json"
        load = load_store(path)
        assert load.status == "ok" and load.data, (src, load.error)
        assert serialize_store(load.data) == load.raw == src.read_bytes(), src
        for key, entry in load.data.items():
            assert entry_shape_problem(entry) is None, key
            ref = resolve_transcript(entry, path.parent, agent, root)
            assert ref.source == "relocated" and ref.path is not None, (key, ref)
            facts = read_facts(ref.path)
            assert facts.header_ok and facts.header_id == entry["sessionId"], (key, facts.header_problem)
            assert facts.ends_with_newline and facts.last_ts_ms is not None
        for f in path.parent.iterdir():
            if f.is_file():
                assert classify(f.name)[0] != "other", f.name


def _planned_stores() -> dict[str, bytes]:
    """Stores in OpenClaw's formatting and near misses of it, for the plan parse."""
    from support.js_json_corpus import LINES

    big = {
        "systemPromptReport": {"blocks": ["x" * 50] * 3},
        "skillsSnapshot": {"promptRef": {"hash": "ab" * 32}},
    }
    base = {
        "agent:main:main": make_entry("s1", **big),
        "agent:main:cron:job": make_entry("s2", status="failed", contextBudgetStatus={"n": 1.5}),
        "__proto__": make_entry("s3", skillsSnapshot={"other": 1}),
    }
    canonical = store_bytes(base)
    out = {
        "canonical": canonical,
        "empty": b"{}",
        "trailing-newline": canonical + b"\n",
        "two-members-one-line": canonical.replace(
            b'},\n  "agent:main:cron:job"', b'}, "agent:main:cron:job"'
        ),
        "duplicate-key": canonical[:-2]
        + b',\n  "agent:main:main": {\n    "sessionId": "dup",\n    "updatedAt": 1\n  }\n}',
        "float-1.0": canonical.replace(b'"n": 1.5', b'"n": 1.0'),
        "needless-escape": canonical.replace(b'"s2"', b'"\\u0073\\u0032"'),
        "four-space-indent": js_stringify(base, indent=4).encode(),
        "compact": json.dumps(base).encode(),
        # numbers orjson writes otherwise than JavaScript: as JS writes them (canonical) or not
        "js-small-float": canonical.replace(b'"n": 1.5', b'"n": 0.000001'),
        "orjson-small-float": canonical.replace(b'"n": 1.5', b'"n": 1e-6'),
        "js-big-float": canonical.replace(b'"n": 1.5', b'"n": 1e+21'),
        "js-1e20": canonical.replace(b'"n": 1.5', b'"n": 100000000000000000000'),
        "orjson-1e20": canonical.replace(b'"n": 1.5', b'"n": 1e20'),
        "js-1e-7": canonical.replace(b'"n": 1.5', b'"n": 1e-7'),
        "text-with-e-and-dot0": canonical.replace(b'"s2"', b'"re-run v1.0"'),
    }
    for name, (raw, valid) in LINES.items():
        if valid and raw.startswith(b"{") and len(raw) < 10_000:  # JSON.parse reads it: an entry of its own
            out[f"corpus-{name}"] = (
                b'{\n  "k": ' + raw + b',\n  "agent:main:main": {\n    "updatedAt": 1\n  }\n}'
            )
    return out


@pytest.mark.parametrize("name", sorted(_planned_stores()))
def test_the_slim_plan_parse_agrees_with_the_whole_parse(tmp_path: Path, name: str) -> None:
    """gc plans from load_store(plan=True): the slim entries, whether the store is in
    OpenClaw's own formatting (decided member by member), each promptRef and the sha256
    must be what the whole parse says — for every store JSON.parse reads, odd ones too."""
    import hashlib

    from sessionctl.store import SLIM_DROPPED

    raw = _planned_stores()[name]
    path = tmp_path / "sessions.json"
    path.write_bytes(raw)
    whole = load_store(path)
    plan = load_store(path, plan=True)
    assert plan.status == whole.status and plan.error == whole.error and plan.notes == whole.notes
    assert plan.raw is None and plan.sha256 == hashlib.sha256(raw).hexdigest()
    assert plan.canonical == whole.canonical, name
    if whole.data is None:
        assert plan.data is None
        return
    assert plan.data is not None and list(plan.data) == list(whole.data)
    refs = {}
    for key, entry in whole.data.items():
        if isinstance(entry, dict):
            ss = entry.get("skillsSnapshot")
            if isinstance(ss, dict) and "promptRef" in ss:
                refs[key] = ss["promptRef"]
            entry = {k: v for k, v in entry.items() if k not in SLIM_DROPPED}
        assert json.dumps(plan.data[key], sort_keys=True) == json.dumps(entry, sort_keys=True), key
    assert plan.prompt_refs == refs
    if name == "canonical":
        assert plan.canonical and plan.prompt_refs == {"agent:main:main": {"hash": "ab" * 32}}


@pytest.mark.parametrize("name", sorted(_planned_stores()))
def test_members_kept_as_bytes_splice_into_the_exact_store(name: str) -> None:
    """undo re-inserts a backup's entries as their bytes (store.RawMember) when the
    backup is in OpenClaw's own formatting: the spliced store must be byte for byte the
    serialisation of the parsed entries, and a member parsed on its own must be the
    entry the whole parse gives; any other backup is refused (parsed whole instead)."""
    from sessionctl.store import member_spans, parse_store_bytes, raw_members, serialize_store, spliced_store

    raw = _planned_stores()[name]
    _status, whole, _err = parse_store_bytes(raw)
    members = raw_members(raw)
    whole_load = load_store_from_bytes(raw)
    if not whole or not whole_load:  # empty, unparseable or laid out otherwise: parsed whole
        assert members is None
        return
    assert members is not None and list(members) == list(whole)
    keys = list(whole)
    kept = {k: whole[k] for k in keys[1:]}  # the live store: all but the first entry
    live = serialize_store(kept)
    spans = member_spans(live, list(kept))
    assert spans is not None
    new = {keys[0]: members[keys[0]], **kept}
    assert b"".join(spliced_store(live, spans, dict(kept), new)) == serialize_store(whole)
    for k in keys:
        assert json.dumps(members[k].value(), sort_keys=True) == json.dumps(whole[k], sort_keys=True)


def load_store_from_bytes(raw: bytes) -> bool:
    """Whether `raw` is in OpenClaw's own formatting, by the whole parse."""
    from sessionctl.errors import DataError
    from sessionctl.store import parse_store_bytes, serialize_store

    _status, data, _err = parse_store_bytes(raw)
    try:
        return data is not None and serialize_store(data) == raw
    except DataError:
        return False
