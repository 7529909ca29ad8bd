"""repair on real files through the real CLI: every path has a dry run that changes
nothing, a real run whose effect is checked on disk, and an undo that brings back the
pre-run bytes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from support.helpers import (
    HOUR_MS,
    NOW_MS,
    StateDir,
    backup_bytes,
    clean_env,
    dead_pid,
    header_line,
    make_entry,
    message_line,
    store_bytes,
    transcript_bytes,
)
from support.repair import (
    Sleeper,
    assert_dry_run_changes_nothing,
    checks,
    cli,
    journal,
    live_files,
    lock_payload,
    run_and_undo,
    run_dir,
    set_age,
    undo,
)


def five_entries(state: StateDir, agent: str = "main") -> dict[str, Any]:
    store: dict[str, Any] = {}
    for i in range(5):
        store[f"agent:{agent}:telegram:direct:{100 + i}"] = make_entry(
            f"00000000-0000-4000-8000-00000000000{i}", NOW_MS - i * HOUR_MS, chatType="direct", label=f"é {i}"
        )
    state.write_store(agent, store)
    return store


# ---------------------------------------------------------------- store


def test_truncated_store_without_backup_is_refused_then_salvaged(state: StateDir) -> None:
    store = five_entries(state)
    raw = store_bytes(store)
    cut = raw.index(b'"agent:main:telegram:direct:103"') + 60  # inside the 4th entry
    path = state.write_store("main", raw[:cut])

    # without --salvage: refused (65), says how to recover, nothing written
    before = live_files(state.root)
    rc, env, err = cli(state, "repair", "--only", "store")
    assert rc == 65 and env["exit_code"] == 65
    assert "--salvage" in err and "--salvage" in json.dumps(env["errors"])
    assert env["stores"][0]["salvage"]["recovered"] == 3
    assert live_files(state.root) == before

    env = assert_dry_run_changes_nothing(state, "repair", "--only", "store", "--salvage")
    sal = env["stores"][0]["salvage"]
    assert (sal["recovered"], sal["lost"], sal["lost_keys"]) == (3, 1, ["agent:main:telegram:direct:103"])

    env = run_and_undo(state, "repair", "--only", "store", "--salvage")
    assert checks(env) == ["store.unparseable"]
    # run it again for real and look at the result
    rc, env, err = cli(state, "repair", "--only", "store", "--salvage")
    assert rc == 0, err
    now = json.loads(path.read_bytes())
    assert now == {k: store[k] for k in list(store)[:3]}
    assert path.read_bytes() == store_bytes(now)  # written the way OpenClaw writes
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # the damaged bytes are kept in the run
    j = journal(state, env)
    backup = run_dir(state, env) / j["actions"][0]["backup"]
    assert backup_bytes(backup) == raw[:cut]  # zstd-compressed in the run folder


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"[]", "not_object"),
        (b"null", "not_object"),
        (b"\xff\xfe{", "unparseable"),
    ],
)
def test_nothing_to_restore_is_refused_and_never_written_as_empty(
    state: StateDir, content: bytes, status: str
) -> None:
    path = state.write_store("main", content)
    for args in ((), ("--salvage",)):
        rc, env, err = cli(state, "repair", "--only", "store", *args)
        assert rc == 65, (args, env)
        assert env["stores"][0]["status"] == status
        assert "nothing was written" in err or "restore sessions.json" in err
        assert path.read_bytes() == content
    assert not (state.root / "sessionctl" / "runs").exists() or not any(
        (state.root / "sessionctl" / "runs").iterdir()
    )


def test_damaged_store_is_restored_from_the_newest_backup(state: StateDir) -> None:
    store = five_entries(state)
    store["agent:main:explicit:bad"] = make_entry("../escape")
    state.write_store("main", store)
    # a first run backs the store up (it removes the unsafe entry)
    rc, first, err = cli(state, "repair", "--only", "entries")
    assert rc == 0, err
    # an older run's backup that holds no entries is never used
    path = state.store_path("main")
    path.write_bytes(b'{\n  "agent:main:main": {\n    "sessionId": "abc", "upd')  # damaged

    env = assert_dry_run_changes_nothing(state, "repair", "--only", "store")
    assert env["stores"][0]["backups"][0]["run_id"] == first["run_id"]
    assert env["actions"][0]["from_run"] == first["run_id"]

    env = run_and_undo(state, "repair", "--only", "store")
    rc, env, err = cli(state, "repair", "--only", "store")
    assert rc == 0, err
    assert json.loads(path.read_bytes()) == store  # the pre-run state of the first run
    assert env["actions"][0]["origin"] == "backup"

    # --from picks a run explicitly; a run that never backed this store up is refused
    path.write_bytes(b"{ broken")
    rc, env, err = cli(state, "repair", "--only", "store", "--from", first["run_id"])
    assert rc == 0, err
    assert json.loads(path.read_bytes()) == store
    path.write_bytes(b"{ broken")
    rc, env, _err = cli(
        state, "repair", "--only", "store", "--from", env["run_id"]
    )  # backed up the damage only
    assert rc == 65 and path.read_bytes() == b"{ broken"
    rc, env, _err = cli(state, "repair", "--only", "store", "--from", "20990101T000000.000Z-ffffff")
    assert rc == 66


def test_store_changed_after_planning_is_not_replaced(state: StateDir) -> None:
    """The critical section re-checks the bytes under sessions.json.lock: a store that a
    writer changed while repair waited for the lock is left as that writer left it."""
    import subprocess
    import sys
    import time

    store = five_entries(state)
    path = state.write_store("main", store_bytes(store)[:-150])
    lock = state.sessions_dir("main") / "sessions.json.lock"
    holder = Sleeper()
    try:
        lock.write_bytes(lock_payload(holder.pid, starttime=holder.starttime()))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sessionctl",
                "repair",
                "--only",
                "store",
                "--salvage",
                "--state-dir",
                str(state.root),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        runs = state.root / "sessionctl" / "runs"
        for _ in range(800):  # repair has journaled its plan and now waits for the lock
            if runs.is_dir() and any((r / "journal.json").exists() for r in runs.iterdir()):
                break
            time.sleep(0.01)
        path.write_bytes(b"{ other damage")  # the other writer
        lock.unlink()
        out_b, _err_b = proc.communicate(timeout=60)
    finally:
        holder.stop()
    out = json.loads(out_b)
    assert proc.returncode == 75, out
    assert out["actions"][0]["state"] == "skipped"
    assert "changed since planning" in out["actions"][0]["note"]
    assert path.read_bytes() == b"{ other damage"


# ---------------------------------------------------------------- transcripts


def test_bad_header_is_quarantined_and_its_entry_reported(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:telegram:direct:1")
    state.add_session("main", "agent:main:main")
    path = state.sessions_dir("main") / f"{sid}.jsonl"
    bad = b'{"type":"message","id":"x"}\n' + message_line("00000001", None, NOW_MS)
    path.write_bytes(bad)

    env = assert_dry_run_changes_nothing(state, "repair", "--only", "transcripts")
    assert checks(env) == ["transcript.bad_header"]
    assert [p["key"] for p in env["problems"]] == ["agent:main:telegram:direct:1"]

    run_and_undo(state, "repair", "--only", "transcripts")
    rc, env, err = cli(state, "repair", "--only", "transcripts")
    assert rc == 0, err
    assert not path.exists()
    moved = [p for p in path.parent.iterdir() if p.name.startswith(f"{sid}.jsonl.bak.")]
    assert len(moved) == 1 and moved[0].read_bytes() == bad
    assert moved[0].name.endswith("Z") and ":" not in moved[0].name
    assert "agent:main:telegram:direct:1" in state.read_store("main")  # only reported


def test_reset_entries_removes_the_entry_of_a_quarantined_transcript(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:telegram:direct:1")
    state.add_session("main", "agent:main:main")
    (state.sessions_dir("main") / f"{sid}.jsonl").write_bytes(b"garbage, not a header\n")
    env = run_and_undo(state, "repair", "--only", "transcripts", "--reset-entries")
    assert checks(env) == ["entry.reset", "transcript.bad_header"]
    rc, env, err = cli(state, "repair", "--only", "transcripts", "--reset-entries")
    assert rc == 0, err
    assert list(state.read_store("main")) == ["agent:main:main"]


def test_reset_entries_never_empties_a_store(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:telegram:direct:1")
    (state.sessions_dir("main") / f"{sid}.jsonl").write_bytes(b"garbage\n")
    store_before = state.store_path("main").read_bytes()
    rc, env, err = cli(state, "repair", "--only", "transcripts", "--reset-entries")
    assert rc == 65, env
    assert "empty" in err
    assert state.store_path("main").read_bytes() == store_before
    assert checks(env) == ["transcript.bad_header"]  # the quarantine itself still happened
    assert env["actions"][0]["state"] == "applied"


def test_truncated_tail_is_cut_and_the_cut_bytes_are_kept(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:main")
    path = state.sessions_dir("main") / f"{sid}.jsonl"
    good = path.read_bytes()
    path.write_bytes(good + b'{"type":"message","id":"0000000a","parentId":"000')

    env = assert_dry_run_changes_nothing(state, "repair", "--only", "transcripts")
    assert checks(env) == ["transcript.truncated_tail"]
    assert env["actions"][0]["bytes_cut"] == 49

    run_and_undo(state, "repair", "--only", "transcripts")
    truncated = path.read_bytes()
    rc, env, err = cli(state, "repair", "--only", "transcripts")
    assert rc == 0, err
    assert path.read_bytes() == good
    backup = run_dir(state, env) / journal(state, env)["actions"][0]["backup"]
    assert backup_bytes(backup) == truncated  # zstd-compressed in the run folder
    assert not (path.parent / f"{sid}.jsonl.lock").exists()  # the transcript lock was released


def test_complete_last_line_without_newline_gets_one(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:main")
    path = state.sessions_dir("main") / f"{sid}.jsonl"
    good = path.read_bytes()
    path.write_bytes(good[:-1])
    run_and_undo(state, "repair", "--only", "transcripts")
    rc, env, _err = cli(state, "repair", "--only", "transcripts")
    assert rc == 0
    assert path.read_bytes() == good
    assert env["actions"][0]["what"].endswith("terminate its last line (original kept in the run)")


def test_a_lone_unterminated_line_is_never_cut_to_nothing(state: StateDir) -> None:
    a = state.add_session("main", "agent:main:main")
    b = state.add_session("main", "agent:main:telegram:direct:2")
    pa = state.sessions_dir("main") / f"{a}.jsonl"
    pb = state.sessions_dir("main") / f"{b}.jsonl"
    header = header_line(a)[:-1]
    pa.write_bytes(header)  # a valid header without its newline
    pb.write_bytes(b'{"type":"session","version":3,"id":"trunc')  # a cut-off header
    rc, _env, err = cli(state, "repair", "--only", "transcripts")
    assert rc == 0, err
    assert pa.read_bytes() == header + b"\n"
    assert not pb.exists()
    quarantined = [p for p in pb.parent.iterdir() if p.name.startswith(f"{b}.jsonl.bak.")]
    assert quarantined[0].read_bytes() == b'{"type":"session","version":3,"id":"trunc'


def test_bad_middle_lines_are_dropped_only_when_asked(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:main", transcript=False)
    path = state.sessions_dir("main") / f"{sid}.jsonl"
    lines = [
        header_line(sid),
        message_line("00000001", None, NOW_MS - 3000),
        b'{"type":"message","id":"00000002",\n',
        b"\xff\xfe not utf-8\n",
        message_line("00000003", "00000001", NOW_MS - 1000),
    ]
    path.write_bytes(b"".join(lines))
    rc, env, _err = cli(state, "repair", "--only", "transcripts")
    assert rc == 0 and env["actions"] == []

    env = assert_dry_run_changes_nothing(state, "repair", "--only", "transcripts", "--drop-bad-lines")
    assert checks(env) == ["transcript.bad_lines"] and env["actions"][0]["lines_dropped"] == 2
    run_and_undo(state, "repair", "--only", "transcripts", "--drop-bad-lines")
    rc, env, err = cli(state, "repair", "--only", "transcripts", "--drop-bad-lines")
    assert rc == 0, err
    assert path.read_bytes() == lines[0] + lines[1] + lines[4]


def test_transcript_surgery_refuses_while_a_gateway_runs(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:main")
    path = state.sessions_dir("main") / f"{sid}.jsonl"
    path.write_bytes(path.read_bytes() + b'{"trunc')
    gw = Sleeper(
        [sys.executable, "-c", "import time; time.sleep(120)", "openclaw", "gateway"],
        env=clean_env(OPENCLAW_STATE_DIR=str(state.root)),
    )
    try:
        before = live_files(state.root)
        rc, env, err = cli(state, "repair", "--only", "transcripts")
        assert rc == 75, env
        assert "gateway" in err and live_files(state.root) == before
        rc, env, err = cli(state, "repair", "--only", "transcripts", "--dry-run")
        assert rc == 0 and env["would_refuse"]
        rc, env, err = cli(state, "repair", "--only", "transcripts", "--force-online")
        assert rc == 0, err
        assert path.read_bytes().endswith(b"\n")
    finally:
        gw.stop()


# ---------------------------------------------------------------- entries


def test_unsafe_and_outside_entries_are_removed_and_kept_in_the_journal(
    state: StateDir, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_bytes(b"not ours\n")
    store = {
        "agent:main:main": make_entry("11111111-1111-4111-8111-111111111111"),
        "agent:main:explicit:slash": make_entry("../../etc/passwd"),
        "agent:main:explicit:long": make_entry("a" * 300),
        "agent:main:explicit:notobj": "just a string",
        "agent:main:explicit:outside": make_entry(
            "22222222-2222-4222-8222-222222222222", sessionFile=str(outside)
        ),
        "agent:main:explicit:dotdot": make_entry(
            "33333333-3333-4333-8333-333333333333", sessionFile="../../x.jsonl"
        ),
    }
    state.write_store("main", store)
    env = assert_dry_run_changes_nothing(state, "repair", "--only", "entries")
    assert checks(env) == [
        "entry.not_object",
        "entry.session_file_outside",
        "entry.session_file_outside",
        "entry.unsafe_session_id",
        "entry.unsafe_session_id",
    ]
    run_and_undo(state, "repair", "--only", "entries")
    rc, env, err = cli(state, "repair", "--only", "entries")
    assert rc == 0, err
    assert list(state.read_store("main")) == ["agent:main:main"]
    removed = {a["key"]: a["entry"] for a in journal(state, env)["actions"]}
    assert removed["agent:main:explicit:notobj"] == "just a string"
    assert removed["agent:main:explicit:slash"]["sessionId"] == "../../etc/passwd"
    assert outside.read_bytes() == b"not ours\n"


def test_removals_that_would_empty_a_store_are_refused(state: StateDir) -> None:
    state.write_store("main", {"agent:main:explicit:x": make_entry("a/b")})
    before = state.store_path("main").read_bytes()
    rc, env, err = cli(state, "repair", "--only", "entries")
    assert rc == 65 and "empty" in err
    assert env["actions"] == [] and state.store_path("main").read_bytes() == before


def test_merge_case_keeps_the_highest_updated_at_under_the_lowercase_key(state: StateDir) -> None:
    store = {
        "agent:main:main": make_entry("m", NOW_MS),
        "agent:main:telegram:direct:7": make_entry("old", NOW_MS - 5 * HOUR_MS),
        "agent:main:Telegram:direct:7": make_entry("new", NOW_MS - HOUR_MS),
        "agent:main:TELEGRAM:direct:7": make_entry("older", NOW_MS - 9 * HOUR_MS),
        "agent:main:explicit:Q2": make_entry("q2", NOW_MS),
    }
    state.write_store("main", store)
    rc, env, _err = cli(state, "repair", "--only", "entries")
    assert rc == 0 and env["actions"] == []  # only with --merge-case
    env = assert_dry_run_changes_nothing(state, "repair", "--only", "entries", "--merge-case")
    run_and_undo(state, "repair", "--only", "entries", "--merge-case")
    rc, env, err = cli(state, "repair", "--only", "entries", "--merge-case")
    assert rc == 0, err
    now = state.read_store("main")
    assert sorted(now) == ["agent:main:explicit:q2", "agent:main:main", "agent:main:telegram:direct:7"]
    assert now["agent:main:telegram:direct:7"]["sessionId"] == "new"
    assert now["agent:main:explicit:q2"]["sessionId"] == "q2"


# ---------------------------------------------------------------- locks and leftovers


def test_lock_staleness_follows_each_gateway_rule(state: StateDir) -> None:
    state.add_session("main", "agent:main:main")
    sdir = state.sessions_dir("main")
    holder = Sleeper()
    try:
        st = holder.starttime()
        locks: dict[str, tuple[bytes, float | None, bool]] = {
            # name: (payload, mtime age in s or None, expected stale)
            "sessions.json.lock": (lock_payload(holder.pid, age_ms=31_000, starttime=st), None, True),
            "a.jsonl.lock": (
                lock_payload(holder.pid, age_ms=31_000, starttime=st),
                None,
                False,
            ),  # 30 min rule
            "b.jsonl.lock": (lock_payload(holder.pid, age_ms=31 * 60_000, starttime=st), None, True),
            "c.jsonl.lock": (lock_payload(dead_pid()), None, True),
            "d.jsonl.lock": (lock_payload(holder.pid, starttime=st + 1), None, True),  # recycled pid
            "e.jsonl.lock": (json.dumps({"pid": holder.pid}).encode(), None, True),  # no createdAt
            "f.jsonl.lock": (lock_payload("1234"), None, True),  # pid not an int
            "g.jsonl.lock": (
                lock_payload(holder.pid, age_ms=5_000, starttime=st, maxHoldMs=1_000),
                None,
                True,
            ),
            "h.jsonl.lock": (b"\x00garbage", 60, True),  # unreadable and untouched for 60 s
            "i.jsonl.lock": (b"", 1, False),  # unreadable but young: may be mid-write
            "j.jsonl.lock": (lock_payload(holder.pid, starttime=st), None, False),  # live and fresh
        }
        for name, (payload, age, _stale) in locks.items():
            p = sdir / name
            p.write_bytes(payload)
            if age is not None:
                set_age(p, age)
        env = assert_dry_run_changes_nothing(state, "repair", "--only", "locks")
        planned = sorted(a["from"].rsplit("/", 1)[1] for a in env["actions"])
        assert planned == sorted(n for n, (_p, _a, stale) in locks.items() if stale)
        kept = sorted(k["path"].rsplit("/", 1)[1] for k in env["kept"])
        assert kept == sorted(n for n, (_p, _a, stale) in locks.items() if not stale)

        rc, env, err = cli(state, "repair", "--only", "locks")
        assert rc == 0, err
        for name, (payload, _age, stale) in locks.items():
            if stale:
                assert not (sdir / name).exists(), name
                moved = run_dir(state, env) / "moved" / "agents" / "main" / "sessions" / name
                assert moved.read_bytes() == payload
            else:
                assert (sdir / name).read_bytes() == payload, name
        undo(state, env["run_id"])
        for name, (payload, _age, _stale) in locks.items():
            assert (sdir / name).read_bytes() == payload
    finally:
        holder.stop()


def test_leftovers_older_than_five_minutes_move_into_the_run(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:main")
    sdir = state.sessions_dir("main")
    old = {
        "sessions.json.4242.0b5f3c1e-7a52-4d8e-9a0c-2f4b6d8e1a37.tmp": b"{}",
        f"{sid}.jsonl.bak-4242-1714550000000": transcript_bytes(sid),
        f"{sid}.jsonl.repair-4242-1714550000000.tmp": b"partial",
    }
    young = {"sessions.json.0b5f3c1e-7a52-4d8e-9a0c-2f4b6d8e1a38.tmp": b'{"x": 1}'}
    for name, data in {**old, **young}.items():
        (sdir / name).write_bytes(data)
    for name in old:
        set_age(sdir / name, 600)
    env = assert_dry_run_changes_nothing(state, "repair", "--only", "leftovers")
    assert checks(env) == ["leftover.repair", "leftover.repair", "leftover.store_tmp"]
    run_and_undo(state, "repair", "--only", "leftovers")
    for name in old:  # undo copied them back just now: age them again
        set_age(sdir / name, 600)
    rc, env, err = cli(state, "repair", "--only", "leftovers")
    assert rc == 0, err
    for name, data in old.items():
        assert not (sdir / name).exists()
        assert (run_dir(state, env) / "moved" / "agents" / "main" / "sessions" / name).read_bytes() == data
    for name, data in young.items():
        assert (sdir / name).read_bytes() == data


# ---------------------------------------------------------------- everything at once


def test_full_repair_dry_run_then_run_then_undo(state: StateDir) -> None:
    """Every part at once on two agents: the dry run lists the same actions the run applies."""
    a = state.add_session("main", "agent:main:main")
    state.add_session("main", "agent:main:telegram:direct:9")
    state.add_session("main", "agent:main:explicit:bad", session_id="x\\y", transcript=False)
    pa = state.sessions_dir("main") / f"{a}.jsonl"
    pa.write_bytes(pa.read_bytes() + b'{"cut')
    (state.sessions_dir("main") / "sessions.json.lock").write_bytes(lock_payload(dead_pid()))
    five_entries(state, "ops")
    state.store_path("ops").write_bytes(state.store_path("ops").read_bytes()[:-200])
    dry = assert_dry_run_changes_nothing(state, "repair", "--salvage")
    env = run_and_undo(state, "repair", "--salvage")
    assert [x["what"] for x in dry["actions"]] == [x["what"] for x in env["actions"]]
    assert all(x["state"] == "applied" for x in env["actions"])
    assert checks(env) == [
        "entry.unsafe_session_id",
        "lock.stale",
        "store.unparseable",
        "transcript.truncated_tail",
    ]


def test_usage_errors_exit_64(state: StateDir) -> None:
    five_entries(state)
    for args in (
        ("--only", "bogus"),
        ("--only", "transcripts", "--salvage"),
        ("--salvage", "--from", "x"),
        ("--only", "store", "--drop-bad-lines"),
        ("--only", "store", "--merge-case"),
    ):
        rc, env, _err = cli(state, "repair", *args)
        assert rc == 64, (args, env)


def test_sqlite_era_agents_are_left_alone(state: StateDir) -> None:
    path = state.write_store("main", b"{ damaged")
    (state.agent_dir("main") / "agent").mkdir()
    (state.agent_dir("main") / "agent" / "openclaw-agent.sqlite").write_bytes(b"SQLite format 3\x00")
    rc, env, _err = cli(state, "repair", "--salvage")
    assert rc == 0 and env["actions"] == []
    assert path.read_bytes() == b"{ damaged"
    assert [k["check"] for k in env["kept"]] == ["store.sqlite_era"]


def test_human_output_names_each_action(state: StateDir) -> None:
    from support.helpers import run_cli

    sid = state.add_session("main", "agent:main:main")
    p = state.sessions_dir("main") / f"{sid}.jsonl"
    p.write_bytes(p.read_bytes() + b"{")
    res = run_cli("repair", "--state-dir", str(state.root), "--dry-run")
    assert res.rc == 0
    assert "cut the 1-byte unterminated tail" in res.stdout
    assert "dry run: nothing was changed" in res.stdout
    assert os.listdir(state.root) == ["agents"]
