"""The harness helpers the end-to-end interop tests rely on (no OpenClaw needed):
ageing a session the way OpenClaw would have written it earlier, and the lock poller."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from interop import harness as h

DAY = 86_400_000
T0 = 1_795_242_314_750  # 2026-11-21T06:25:14.750Z


def _transcript(sid: str) -> list[dict[str, Any]]:
    return [
        {"type": "session", "version": 3, "id": sid, "timestamp": h.iso_ms(T0), "cwd": "/w"},
        {"type": "model_change", "id": "3e353a56", "parentId": None, "timestamp": h.iso_ms(T0 + 15)},
        {
            "type": "message",
            "id": "2f112668",
            "parentId": "3e353a56",
            "timestamp": h.iso_ms(T0 + 1649),
            "message": {
                "role": "user",
                "content": [{"type": "text", "text": "héllo"}],
                "timestamp": T0 + 1641,
            },
        },
        {
            "type": "message",
            "id": "71b4a4fb",
            "parentId": "2f112668",
            "timestamp": h.iso_ms(T0 + 1839),
            "message": {
                "role": "assistant",
                "usage": {"input": 7709, "totalTokens": 7715},
                "timestamp": T0 + 1800,
            },
        },
    ]


def _write_jsonl(path: Path, objs: list[dict[str, object]], mode: int = 0o644) -> None:
    path.write_text(
        "".join(json.dumps(o, ensure_ascii=False, separators=(",", ":")) + "\n" for o in objs),
        encoding="utf-8",
    )
    os.chmod(path, mode)


def test_iso_round_trip() -> None:
    assert h.iso_ms(T0) == "2026-11-21T06:25:14.750Z"
    assert h.parse_iso_ms("2026-11-21T06:25:14.750Z") == T0
    with pytest.raises(ValueError):
        h.parse_iso_ms("2026-11-21T06:25:14Z")


def test_age_transcript_moves_header_and_lines_separately(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    _write_jsonl(path, _transcript("s1"))
    h.age_transcript(path, activity_ms=DAY, start_ms=12 * DAY)
    got = [json.loads(ln) for ln in path.read_text("utf-8").splitlines()]
    want = _transcript("s1")
    assert got[0]["timestamp"] == h.iso_ms(T0 - 12 * DAY)
    assert got[1]["timestamp"] == h.iso_ms(T0 + 15 - DAY)
    assert got[2]["message"]["timestamp"] == T0 + 1641 - DAY  # nested epoch ms too
    assert got[3]["message"]["usage"] == want[3]["message"]["usage"]  # token counts untouched
    assert [{k: v for k, v in o.items() if k != "timestamp"} for o in got][:2] == [
        {k: v for k, v in o.items() if k != "timestamp"} for o in want
    ][:2]
    assert "héllo" in path.read_text("utf-8")  # non-ASCII kept like JSON.stringify
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert st.st_mtime_ns // 1_000_000 == T0 + 1839 - DAY  # mtime = the last line's time
    assert [p.name for p in tmp_path.iterdir()] == ["s1.jsonl"]


def test_age_transcript_refuses_what_it_cannot_write_back_faithfully(tmp_path: Path) -> None:
    spaced = tmp_path / "a.jsonl"
    spaced.write_text('{"type": "session", "id": "a"}\n')  # not JSON.stringify's bytes
    with pytest.raises(ValueError, match="round-trip"):
        h.age_transcript(spaced, DAY)
    cut = tmp_path / "b.jsonl"
    cut.write_text('{"type":"session","id":"b"}')
    with pytest.raises(ValueError, match="newline"):
        h.age_transcript(cut, DAY)
    assert spaced.read_text() == '{"type": "session", "id": "a"}\n'


def test_age_session_rewrites_store_and_transcript_like_openclaw(tmp_path: Path) -> None:
    state = h.make_state_dir(tmp_path, ["main"], 1)
    folder = h.sessions_dir(state, "main")
    folder.mkdir(parents=True)
    transcript = folder / "s1.jsonl"
    _write_jsonl(transcript, _transcript("s1"))
    entry = {
        "sessionId": "s1",
        "updatedAt": T0 + 2000,
        "sessionStartedAt": T0,
        "lastInteractionAt": T0 + 1990,
        "sessionFile": str(transcript),
        "inputTokens": 7709,
    }
    other = {"sessionId": "s2", "updatedAt": T0}
    h.write_store(h.store_path(state, "main"), {"agent:main:main": entry, "agent:main:x": other})
    h.age_session(state, "main", "agent:main:main", activity_ms=3 * DAY, start_ms=5 * DAY)
    raw = h.store_path(state, "main").read_bytes()
    assert not raw.endswith(b"\n") and json.dumps(json.loads(raw), indent=2).encode() == raw
    assert stat.S_IMODE(h.store_path(state, "main").stat().st_mode) == 0o600
    store = json.loads(raw)
    assert list(store) == ["agent:main:main", "agent:main:x"]
    assert store["agent:main:x"] == other
    assert store["agent:main:main"] == {
        **entry,
        "updatedAt": T0 + 2000 - 3 * DAY,
        "sessionStartedAt": T0 - 5 * DAY,
        "lastInteractionAt": T0 + 1990 - 3 * DAY,
    }
    header = json.loads(transcript.read_text().splitlines()[0])
    assert header["timestamp"] == h.iso_ms(T0 - 5 * DAY)
    assert sorted(p.name for p in folder.iterdir()) == ["s1.jsonl", "sessions.json"]


def test_lock_poller_names_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "sessions.json.lock"
    with h.LockPoller([lock, tmp_path / "other.lock"]) as poller:
        lock.write_text("")  # created, not yet written: not a sighting
        time.sleep(0.05)
        payload = json.dumps({"pid": os.getpid(), "createdAt": h.iso_ms(T0), "starttime": 1})
        lock.write_text(payload)
        time.sleep(0.05)
        lock.unlink()
        time.sleep(0.05)
    assert len(poller.sightings) == 1
    s = poller.sightings[0]
    assert (s.path, s.pid, s.payload) == (lock, os.getpid(), payload)
    assert "python" in s.cmdline


def test_lock_poller_mute_stops_reading(tmp_path: Path) -> None:
    lock = tmp_path / "sessions.json.lock"
    with h.LockPoller([lock]) as poller:
        poller.mute(lock)
        lock.write_text(json.dumps({"pid": os.getpid()}))
        time.sleep(0.05)
        assert poller.sightings == []
        poller.unmute(lock)
        time.sleep(0.05)
    assert [s.pid for s in poller.sightings] == [os.getpid()]


def test_lock_open_watcher_records_only_inside_a_window(tmp_path: Path) -> None:
    lock = tmp_path / "sessions.json.lock"
    lock.write_text("{}")
    with h.LockOpenWatcher([lock]) as watcher:
        lock.read_text()  # before the window: dropped
        (tmp_path / "sessions.json").write_text("{}")  # another file: ignored
        watcher.open_window(lock)
        lock.read_text()
        lock.read_text()
        lock.unlink()
        lock.write_text("{}")
        time.sleep(0.05)
        events = watcher.close_window(lock)
        lock.read_text()  # after: not recorded
        time.sleep(0.05)
        assert watcher.close_window(lock) == []
    kinds = [k for _t, k in events]
    # the kernel merges identical unread events: two reads in a row may count as one
    assert kinds[0] == "open" and kinds.count("open") >= 2, kinds
    assert "delete" in kinds and "create" in kinds
    assert kinds.index("open") < kinds.index("delete") < kinds.index("create")
