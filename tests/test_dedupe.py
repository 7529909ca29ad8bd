"""dedupe on real files through the real CLI: binding precedence, --keep bound|newest,
unbound peers, dmScope drift, strays, transcripts archived only when unreferenced,
spawn storms; dry runs and undo."""

from __future__ import annotations

from support.helpers import HOUR_MS, NOW_MS, StateDir
from support.repair import DEDUPE_CONFIG as CONFIG
from support.repair import (
    assert_dry_run_changes_nothing,
    checks,
    cli,
    duplicated_peers,
    filler,
    live_files,
    run_and_undo,
    storm,
)


def keys(state: StateDir, agent: str) -> list[str]:
    return sorted(state.read_store(agent)) if state.store_path(agent).exists() else []


def test_binding_precedence_peer_then_account_then_channel(state: StateDir) -> None:
    duplicated_peers(state)
    env = assert_dry_run_changes_nothing(state, "dedupe")
    decisions = {p["peer"]["peer"]: (p["decision"], p["matched_by"]) for p in env["peers"]}
    assert decisions == {
        "111": ("keep b", "binding.peer"),
        "222": ("keep c", "binding.account"),
        "333": ("keep d", "binding.channel"),
    }
    run_and_undo(state, "dedupe")
    rc, env, err = cli(state, "dedupe")
    assert rc == 0, err
    assert keys(state, "a") == ["agent:a:main"]
    assert keys(state, "b") == ["agent:b:main", "agent:b:telegram:direct:111"]
    assert keys(state, "c") == ["agent:c:main", "agent:c:telegram:work:direct:222"]
    assert keys(state, "d") == ["agent:d:main", "agent:d:telegram:direct:333"]
    # each removed session's transcript was archived, not deleted
    assert checks(env).count("peer.duplicate") == 3
    assert checks(env).count("peer.duplicate.transcript") == 3
    names = [p.name for p in state.sessions_dir("a").iterdir()]
    assert sum(".jsonl.deleted." in n for n in names) == 3


def test_unbound_peer_is_reported_not_touched_under_keep_bound(state: StateDir) -> None:
    state.write_config(CONFIG)
    filler(state, "a", "b")
    state.add_session("a", "agent:a:whatsapp:direct:+4915100000000", updated_at=NOW_MS - 5 * HOUR_MS)
    state.add_session("b", "agent:b:whatsapp:direct:+4915100000000", updated_at=NOW_MS - HOUR_MS)
    before = live_files(state.root)
    rc, env, _err = cli(state, "dedupe")
    assert rc == 0 and env["actions"] == [] and env["run_id"] is None
    assert [p["check"] for p in env["problems"]] == ["peer.duplicate_unbound"]
    assert "--keep newest" in env["problems"][0]["message"]
    assert live_files(state.root) == before
    # --keep newest resolves it: the most recently active session stays
    run_and_undo(state, "dedupe", "--keep", "newest")
    rc, env, err = cli(state, "dedupe", "--keep", "newest")
    assert rc == 0, err
    assert keys(state, "a") == ["agent:a:main"]
    assert keys(state, "b") == ["agent:b:main", "agent:b:whatsapp:direct:+4915100000000"]


def test_keep_newest_ignores_bindings(state: StateDir) -> None:
    state.write_config(CONFIG)
    filler(state, "a", "b")
    state.add_session("a", "agent:a:telegram:direct:111", updated_at=NOW_MS - 60_000)
    state.add_session("b", "agent:b:telegram:direct:111", updated_at=NOW_MS - 9 * HOUR_MS)
    rc, _env, err = cli(state, "dedupe", "--keep", "newest")
    assert rc == 0, err
    assert "agent:a:telegram:direct:111" in keys(state, "a")
    assert "agent:b:telegram:direct:111" not in keys(state, "b")


def test_a_peer_whose_key_drifted_between_dm_scope_forms_is_one_peer(state: StateDir) -> None:
    """`agent:a:direct:123` (dmScope per-peer, channel only in the entry) and
    `agent:b:telegram:direct:123` (per-channel-peer) are the same Telegram peer."""
    state.write_config(
        {
            "agents": {"list": [{"id": "a", "default": True}, {"id": "b"}]},
            "bindings": [
                {"agentId": "b", "match": {"channel": "telegram", "peer": {"kind": "direct", "id": "123"}}}
            ],
        }
    )
    filler(state, "a", "b")
    state.add_session(
        "a",
        "agent:a:direct:123",
        chatType="direct",
        deliveryContext={"channel": "telegram", "to": "telegram:123"},
        origin={"provider": "telegram", "from": "telegram:123"},
    )
    state.add_session("b", "agent:b:telegram:direct:123", lastChannel="telegram")
    env = assert_dry_run_changes_nothing(state, "dedupe")
    assert [a["key"] for a in env["actions"] if a["type"] == "store.remove"] == ["agent:a:direct:123"]
    run_and_undo(state, "dedupe")


def test_a_transcript_still_referenced_by_another_entry_is_not_archived(state: StateDir) -> None:
    state.write_config(CONFIG)
    filler(state, "a", "b")
    sid = state.add_session("a", "agent:a:telegram:direct:111", lastAccountId="default")
    state.add_session("a", "agent:a:explicit:alias", session_id=sid, transcript=False)  # shares the file
    state.add_session("b", "agent:b:telegram:direct:111", lastAccountId="default")
    rc, env, err = cli(state, "dedupe")
    assert rc == 0, err
    assert checks(env) == ["peer.duplicate"]
    assert (state.sessions_dir("a") / f"{sid}.jsonl").exists()


def test_a_lone_stray_session_is_reported_only(state: StateDir) -> None:
    state.write_config(CONFIG)
    filler(state, "a")
    state.add_session("a", "agent:a:telegram:direct:111", lastAccountId="default")
    rc, env, _err = cli(state, "dedupe")
    assert rc == 0 and env["actions"] == []
    assert [p["check"] for p in env["problems"]] == ["peer.stray"]


def test_dedupe_never_empties_a_store(state: StateDir) -> None:
    state.write_config(CONFIG)
    filler(state, "b")
    state.add_session("a", "agent:a:telegram:direct:111", lastAccountId="default")  # a's only session
    state.add_session("b", "agent:b:telegram:direct:111", lastAccountId="default")
    before = live_files(state.root)
    rc, env, err = cli(state, "dedupe")
    assert rc == 65 and "empty" in err
    assert env["actions"] == [] and live_files(state.root) == before


def test_usage_errors(state: StateDir) -> None:
    filler(state, "a")
    for args in (
        ("--keep", "oldest"),
        ("--storms", "--keep", "bound"),
        ("--match", "x*"),
        ("--storms", "--window", "5"),
    ):
        rc, env, _err = cli(state, "dedupe", *args)
        assert rc == 64, (args, env)


# ---------------------------------------------------------------- storms


def test_storm_keeps_the_newest_n_and_archives_the_rest(state: StateDir) -> None:
    filler(state, "m")
    state.add_session("m", "agent:m:telegram:direct:42")
    state.add_session("m", "agent:m:explicit:notes-2026")
    made = storm(state)
    env = assert_dry_run_changes_nothing(state, "dedupe", "--storms", "--keep", "5")
    assert env["storms"][0]["family"] == "agent:m:explicit:dyad-coord-*"
    assert env["storms"][0]["sessions"] == 30 and env["storms"][0]["removed"] == 25
    run_and_undo(state, "dedupe", "--storms", "--keep", "5")
    rc, env, err = cli(state, "dedupe", "--storms", "--keep", "5")
    assert rc == 0, err
    assert keys(state, "m") == sorted(
        ["agent:m:main", "agent:m:telegram:direct:42", "agent:m:explicit:notes-2026", *made[-5:]]
    )
    archived = [p for p in state.sessions_dir("m").iterdir() if ".jsonl.deleted." in p.name]
    assert len(archived) == 25


def test_storm_thresholds_and_match(state: StateDir) -> None:
    filler(state, "m")
    storm(state, n=12)
    rc, env, _err = cli(state, "dedupe", "--storms")
    assert rc == 0 and env["actions"] == []  # 12 < --min 20
    rc, env, _err = cli(state, "dedupe", "--storms", "--min", "10", "--window", "5min")
    assert rc == 0 and env["actions"] == []  # never 10 within 5 minutes
    rc, env, _err = cli(state, "dedupe", "--storms", "--min", "10", "--dry-run")
    assert env["storms"][0]["removed"] == 9
    rc, env, _err = cli(
        state, "dedupe", "--storms", "--min", "10", "--dry-run", "--match", "agent:m:explicit:dyad-*"
    )
    assert env["storms"][0]["family"] == "agent:m:explicit:dyad-*" and env["storms"][0]["removed"] == 9
