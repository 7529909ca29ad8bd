"""Fast paths added for speed give exactly the answers of the slow paths they skip:
entry → transcript resolution with and without the folder listing, on real files
(symlinks, folders, relative and odd sessionFile values, missing files)."""

from __future__ import annotations

import os
from pathlib import Path

from sessionctl.store import resolve_transcript
from sessionctl.transcripts import scan_sessions_dir


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
