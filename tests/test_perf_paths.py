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
