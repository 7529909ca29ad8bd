"""repair's `finding`: every repair action, problem and kept item names the health check
id it resolves or concerns (sessionctl.repair.REPAIR_TO_HEALTH), so an operator can tell
which repair item answers which health finding.

- the mapping equals the table of docs/repair.md, covers every check id the doc lists and
  every check id the code of repair.py sets, and points only at documented health ids;
- on real states (the demo state, and one built for the checks the demo lacks), each
  health finding whose `fix` is a `sessionctl repair` command is answered, in a dry run of
  that very command, by an item with `finding` == its check id, the same agent and the
  same key or path.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path
from typing import Any

from support.helpers import NOW_MS, REPO, StateDir, header_line, message_line
from support.repair import cli, demo_copy, documented_health_ids, finding_table

from sessionctl.repair import DAMAGED, REPAIR_TO_HEALTH

REPAIR_DOC = REPO / "docs" / "repair.md"
TABLE_HEADING = "### From repair checks to health checks (`finding`)"


# ---------------------------------------------------------------- the docs and the code


def _expand(check: str) -> list[str]:
    """`store.<status>` (docs) / f"store.{status}" (code) → the damaged-store ids."""
    return [f"store.{s}" for s in DAMAGED] if check == "store.<status>" else [check]


def documented_repair_ids() -> set[str]:
    """The ids of the paragraph "`check` ids of repair actions: … Problems: … Kept: …"."""
    text = REPAIR_DOC.read_text(encoding="utf-8")
    m = re.search(r"^`check` ids of repair actions:(.*?)(?:\n\n|\Z)", text, re.S | re.M)
    assert m, "docs/repair.md: the list of repair check ids is gone"
    ids = re.findall(r"`([a-z_]+\.[a-z_<>]+)`", m.group(1))
    return {c for i in ids for c in _expand(i)}


def documented_mapping() -> dict[str, str | None]:
    """repair check → health check of the table under TABLE_HEADING."""
    return finding_table("repair", TABLE_HEADING)


# `check` expressions of repair.py that set no id of their own: `check` (a parameter or
# local whose values are the literals walked at its call sites / assignments) and
# `out.pop('check')` (an item re-emitting the check it already carries). Any other
# expression (a constant, a call, an attribute, …) could set an id this walk cannot see.
_PASS_THROUGH = {"check", "out.pop('check')"}


def _str_values(node: ast.expr) -> list[str]:
    """The check ids a `check` expression of repair.py can take."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _str_values(node.body) + _str_values(node.orelse)
    if isinstance(node, ast.JoinedStr):  # f"store.{load.status}" / f"store.{snap.load.status}"
        head = node.values[0]
        assert isinstance(head, ast.Constant) and head.value == "store.", ast.unparse(node)
        return _expand("store.<status>")
    if ast.unparse(node) in _PASS_THROUGH:
        return []
    raise AssertionError(ast.unparse(node))


def code_repair_ids() -> set[str]:
    """Every check id repair.py sets: the `check` of action dicts, the first argument of
    plan.keep / plan.problem / self.problem, the check argument of _remove_action, the
    checks chosen in _plan_entries (`check, reason = ("entry.…", …)`), and
    `store.would_be_empty` where the plan calls guard_nonempty()."""
    tree = ast.parse((REPO / "sessionctl" / "repair.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == "check":
                    found.update(_str_values(v))
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in ("keep", "problem") and node.args:
                found.update(_str_values(node.args[0]))
            elif name == "_remove_action" and len(node.args) >= 3:
                found.update(_str_values(node.args[2]))
            elif name == "guard_nonempty":  # the engine's check (sessionctl/execute.py)
                found.add("store.would_be_empty")
        elif isinstance(node, ast.Assign):
            t = node.targets[0]
            if isinstance(t, ast.Name) and t.id == "check":
                found.update(_str_values(node.value))
            elif (
                isinstance(t, ast.Tuple)
                and isinstance(t.elts[0], ast.Name)
                and t.elts[0].id == "check"
                and isinstance(node.value, ast.Tuple)
            ):
                found.update(_str_values(node.value.elts[0]))
    return found


def test_the_mapping_is_the_documented_table() -> None:
    assert documented_mapping() == REPAIR_TO_HEALTH


def test_every_documented_repair_check_id_is_mapped() -> None:
    listed = documented_repair_ids()
    assert len(listed) >= 20, listed
    assert listed == set(REPAIR_TO_HEALTH), (
        f"listed, not mapped: {sorted(listed - set(REPAIR_TO_HEALTH))}; "
        f"mapped, not listed: {sorted(set(REPAIR_TO_HEALTH) - listed)}"
    )


def test_every_check_id_the_code_sets_is_mapped() -> None:
    in_code = code_repair_ids()
    assert {"entry.reset", "entry.not_object", "leftover.repair", "store.empty"} <= in_code, in_code
    assert in_code == set(REPAIR_TO_HEALTH), (
        f"set by repair.py, not mapped: {sorted(in_code - set(REPAIR_TO_HEALTH))}; "
        f"mapped, never set: {sorted(set(REPAIR_TO_HEALTH) - in_code)}"
    )


def test_the_mapping_points_only_at_documented_health_checks() -> None:
    health = documented_health_ids()
    assert {"store.empty_file", "tmp.stale", "entry.invalid_shape"} <= health
    unknown = {c: h for c, h in REPAIR_TO_HEALTH.items() if h is not None and h not in health}
    assert unknown == {}


# ---------------------------------------------------------------- real states


def _locations(state: StateDir, item: dict[str, Any]) -> set[Path]:
    # repair's paths are relative to the state dir (a few kept/problem paths are absolute)
    return {state.root / item[k] for k in ("path", "from", "store") if item.get(k)}


def _keys(item: dict[str, Any]) -> set[str]:
    return ({item["key"]} if item.get("key") else set()) | set(item.get("keys") or ())


def answers(state: StateDir, item: dict[str, Any], f: dict[str, Any]) -> bool:
    """The repair item resolves or concerns the health finding `f`."""
    same_check = item.get("finding") == f["check"] or (
        # one rewrite fixes tail and bad lines: its finding is the tail's (docs/repair.md)
        f["check"] == "transcript.bad_line"
        and item.get("finding") == "transcript.truncated_tail"
        and bool(item.get("lines_dropped"))
    )
    return (
        same_check
        and item.get("agent") == f["agent"]
        and (f["path"] is None or Path(f["path"]) in _locations(state, item))
        and (f["key"] is None or f["key"] in _keys(item))
    )


def assert_repair_answers_health(state: StateDir) -> list[dict[str, Any]]:
    """Run health --deep; for each finding whose fix is a repair command, dry-run that
    command and find the item that answers it. Returns those findings."""
    rc, health, err = cli(state, "health", "--deep")
    assert rc in (0, 1, 2), (rc, err)
    fixable = [f for f in health["findings"] if (f["fix"] or "").startswith("sessionctl repair")]
    runs: dict[str, dict[str, Any]] = {}
    for f in fixable:
        argv = shlex.split(f["fix"])
        assert argv[:2] == ["sessionctl", "repair"], f
        if f["fix"] not in runs:
            rc, env, err = cli(state, *argv[1:], "--dry-run")
            assert rc == 0, (f["fix"], rc, err, env.get("errors"))
            for item in env["actions"] + env["problems"] + env["kept"]:
                assert "finding" in item, item
            runs[f["fix"]] = env
        env = runs[f["fix"]]
        items = env["actions"] + env["problems"] + env["kept"]
        hits = [i for i in items if answers(state, i, f)]
        assert hits, f"`{f['fix']} --dry-run` has nothing answering {f['check']} {f['key']} {f['path']}"
    return fixable


def test_demo_state_every_repair_fix_answers_its_finding(tmp_path: Path) -> None:
    state = demo_copy(tmp_path)
    fixable = assert_repair_answers_health(state)
    assert {f["check"] for f in fixable} >= {
        "entry.session_file_outside",
        "entry.key_not_lowercase",
        "transcript.header_invalid",
        "transcript.truncated_tail",
        "lock.stale",
        "tmp.stale",
    }
    # one full dry run: every item carries `finding`, exactly as the mapping says
    rc, env, err = cli(state, "repair", "--dry-run", "--merge-case", "--drop-bad-lines", "--reset-entries")
    assert rc == 0, err
    items = env["actions"] + env["problems"] + env["kept"]
    assert items
    for item in items:
        assert item["finding"] == REPAIR_TO_HEALTH[item["check"]], item
    reset = [a for a in env["actions"] if a["check"] == "entry.reset"]
    assert reset and all(a["finding"] is None for a in reset)


def test_built_state_every_repair_fix_answers_its_finding(state: StateDir) -> None:
    """The checks the demo state lacks: damaged stores (with a backup to restore from),
    invalid entries, bad middle lines (alone and with a truncated tail)."""
    state.add_session("main", "agent:main:main")
    sid3 = state.add_session("main", "agent:main:telegram:direct:3", transcript=False)
    sid4 = state.add_session("main", "agent:main:telegram:direct:4", transcript=False)
    store = state.read_store("main")
    store["agent:main:telegram:direct:1"] = "not an object"
    store["agent:main:telegram:direct:2"] = {"sessionId": "../escape", "updatedAt": NOW_MS}
    state.write_store("main", store)
    bad_middle = b'{"type":"message","id":"00000002",\n'
    ok = header_line(sid3) + message_line("00000001", None, NOW_MS - 3000)
    state.write_transcript("main", f"{sid3}.jsonl", ok + bad_middle + message_line("3", "00000001", NOW_MS))
    ok4 = header_line(sid4) + message_line("00000001", None, NOW_MS - 3000)
    state.write_transcript("main", f"{sid4}.jsonl", ok4 + bad_middle + b'{"type":"mess')
    for agent in ("empty", "garbled", "listy"):
        state.add_session(agent, f"agent:{agent}:main")
    rc, _env, err = cli(state, "backup")
    assert rc == 0, err
    state.write_store("empty", b"")
    state.write_store("garbled", b'{\n  "agent:garbled:main": {')
    state.write_store("listy", b"[]")
    # an agent in the middle of its SQLite migration: left alone, and said so
    state.add_session("old", "agent:old:main")
    (state.agent_dir("old") / "agent").mkdir()
    (state.agent_dir("old") / "agent" / "openclaw-agent.sqlite").write_bytes(b"SQLite format 3\x00")

    fixable = assert_repair_answers_health(state)
    assert {f["check"] for f in fixable} >= {
        "store.empty_file",
        "store.unparseable",
        "store.not_object",
        "entry.invalid_shape",
        "transcript.bad_line",
        "transcript.truncated_tail",
    }

    rc, env, err = cli(state, "repair", "--dry-run", "--drop-bad-lines")
    assert rc == 0, err
    by_check = {a["check"]: a["finding"] for a in env["actions"]}
    assert by_check == {
        "store.empty": "store.empty_file",
        "store.unparseable": "store.unparseable",
        "store.not_object": "store.not_object",
        "entry.not_object": "entry.invalid_shape",
        "entry.unsafe_session_id": "entry.invalid_shape",
        "transcript.bad_lines": "transcript.bad_line",
        "transcript.truncated_tail": "transcript.truncated_tail",
    }
    (both,) = [a for a in env["actions"] if a["check"] == "transcript.truncated_tail"]
    assert both["path"].endswith(f"{sid4}.jsonl") and both["lines_dropped"] == 1
    assert [(k["check"], k["finding"]) for k in env["kept"]] == [
        ("store.sqlite_era", "store.legacy_pending_migration")
    ]

    # problems carry it too: the damaged stores' entries cannot be checked
    rc, env, err = cli(state, "repair", "--dry-run", "--only", "entries", "--agent", "garbled")
    assert rc == 0, err
    assert [(p["check"], p["finding"]) for p in env["problems"]] == [
        ("store.unparseable", "store.unparseable")
    ]
    assert list(env["problems"][0])[:2] == ["check", "finding"]


def test_quarantined_entries_are_reported_with_no_health_finding(state: StateDir) -> None:
    sid = state.add_session("main", "agent:main:telegram:direct:1")
    state.add_session("main", "agent:main:main")
    path = state.sessions_dir("main") / f"{sid}.jsonl"
    path.write_bytes(b'{"type":"message","id":"x"}\n' + message_line("00000001", None, NOW_MS))
    rc, env, err = cli(state, "repair", "--dry-run", "--only", "transcripts")
    assert rc == 0, err
    assert [(a["check"], a["finding"]) for a in env["actions"]] == [
        ("transcript.bad_header", "transcript.header_invalid")
    ]
    assert [(p["check"], p["finding"]) for p in env["problems"]] == [("transcript.quarantined_entry", None)]
    rc, env, err = cli(state, "repair", "--dry-run", "--only", "transcripts", "--reset-entries")
    assert rc == 0, err
    assert sorted((a["check"], a["finding"]) for a in env["actions"]) == [
        ("entry.reset", None),
        ("transcript.bad_header", "transcript.header_invalid"),
    ]


def test_archive_and_dedupe_items_carry_their_own_finding(tmp_path: Path) -> None:
    """archive's and dedupe's checks get `finding` too, from their own mappings
    (ARCHIVE_TO_HEALTH, DEDUPE_TO_HEALTH; tests/test_archive_dedupe_finding.py), never
    from repair's."""
    from sessionctl.archive import ARCHIVE_TO_HEALTH
    from sessionctl.dedupe import DEDUPE_TO_HEALTH

    state = demo_copy(tmp_path)
    for command, mapping in (("archive", ARCHIVE_TO_HEALTH), ("dedupe", DEDUPE_TO_HEALTH)):
        rc, env, err = cli(state, command, "--dry-run")
        assert rc == 0, err
        assert env["actions"], command
        for a in env["actions"]:
            assert a["check"] not in REPAIR_TO_HEALTH, a
            assert a["finding"] == mapping[a["check"]], a


def test_verbose_human_view_names_the_health_check(state: StateDir) -> None:
    from support.helpers import NOW_ISO, run_cli

    state.write_store("main", {"agent:main:main": {"sessionId": "a/b", "updatedAt": NOW_MS}})
    state.add_session("main", "agent:main:telegram:direct:1")
    res = run_cli("repair", "--dry-run", "-v", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert res.rc == 0, res.stderr
    assert "resolves: entry.invalid_shape (health)" in res.stdout
    res = run_cli("repair", "--dry-run", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert res.rc == 0, res.stderr
    # the plain view lists the same action, only without its why/resolves lines
    assert "  main: remove 'agent:main:main' from main's store" in res.stdout.splitlines(), res.stdout
    assert "resolves:" not in res.stdout
