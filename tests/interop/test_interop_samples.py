"""The committed sample state dirs were written by the REAL OpenClaw (see
interop/generate_sample.py); these tests pin the on-disk conventions observed there."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from interop import harness as h

SAMPLES = sorted(p for p in h.INTEROP_DIR.glob("sample-state-*") if p.is_dir())
STORES = [s for d in SAMPLES for s in sorted(d.glob("agents/*/sessions/sessions.json"))]


def _id(p: Path) -> str:
    return str(p.relative_to(h.INTEROP_DIR))


def test_samples_exist() -> None:
    assert any(d.name == f"sample-state-{h.DEFAULT_VERSION}" for d in SAMPLES)


@pytest.mark.parametrize("store", STORES, ids=_id)
def test_store_bytes_are_json_stringify_2_space_no_newline(store: Path) -> None:
    raw = store.read_bytes()
    data = json.loads(raw)
    assert isinstance(data, dict) and data
    assert not raw.endswith(b"\n")
    assert json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8") == raw


@pytest.mark.parametrize("store", STORES, ids=_id)
def test_entries_and_transcripts(store: Path) -> None:
    folder = store.parent
    agent = folder.parent.name
    data = json.loads(store.read_bytes())
    for key, entry in data.items():
        assert key == key.lower() and key.startswith(f"agent:{agent}:")
        assert isinstance(entry["sessionId"], str) and isinstance(entry["updatedAt"], int)
        sf = entry["sessionFile"]
        assert sf.startswith("/"), "sessionFile is stored absolute"
        # the sample was generated elsewhere: only the basename resolves here
        assert Path(sf).parent.as_posix().endswith(f"/agents/{agent}/sessions")
        assert Path(sf).name == f"{entry['sessionId']}.jsonl"
        transcript = folder / Path(sf).name
        lines = transcript.read_bytes().split(b"\n")
        assert lines[-1] == b"", "every line is \\n-terminated"
        header = json.loads(lines[0])
        assert list(header) == ["type", "version", "id", "timestamp", "cwd"]
        assert header["type"] == "session" and header["version"] == 3
        assert header["id"] == entry["sessionId"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", header["timestamp"])
        ids: set[str] = set()
        for ln in lines[1:-1]:
            rec = json.loads(ln)
            assert re.fullmatch(r"[0-9a-f]{8}", rec["id"])
            assert rec["parentId"] is None or rec["parentId"] in ids
            ids.add(rec["id"])
        ref = (entry.get("skillsSnapshot") or {}).get("promptRef")
        if ref:
            blob = folder / "skills-prompts" / "sha256" / ref["hash"][:2] / f"{ref['hash']}.txt"
            assert blob.stat().st_size == ref["bytes"]
