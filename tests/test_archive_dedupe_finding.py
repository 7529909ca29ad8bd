"""archive's and dedupe's `finding`: every action, problem and kept item names the health
check id it resolves or concerns (sessionctl.archive.ARCHIVE_TO_HEALTH,
sessionctl.dedupe.DEDUPE_TO_HEALTH), as repair's do (tests/test_repair_finding.py).

- each mapping equals its table in docs/archive.md / docs/dedupe.md, covers every check
  id the module's code sets (and the ids the docs list), and points only at documented
  health ids;
- on a copy of the demo state, each health finding whose `fix` is a `sessionctl archive`
  or `sessionctl dedupe` command is answered by an action of a dry run of that very
  command with `finding` == its check id and the same agent and key or path (a
  cross-agent `peer.duplicate_across_agents`, agent null: by one of the sessions it lists;
  a `peer.stray` that has duplicates: by its removal, documented in docs/dedupe.md);
- on built states, the problems and kept items carry it too.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path
from typing import Any

from support.helpers import HOUR_MS, NOW_MS, REPO, StateDir
from support.repair import cli, demo_copy, documented_health_ids, finding_table

from sessionctl.archive import ARCHIVE_TO_HEALTH
from sessionctl.dedupe import DEDUPE_TO_HEALTH
from sessionctl.repair import REPAIR_TO_HEALTH

MAPPINGS: dict[str, dict[str, str | None]] = {"archive": ARCHIVE_TO_HEALTH, "dedupe": DEDUPE_TO_HEALTH}
HEADINGS = {
    "archive": "### From archive checks to health checks (`finding`)",
    "dedupe": "### From dedupe checks to health checks (`finding`)",
}


# ---------------------------------------------------------------- the docs and the code


def documented_mapping(command: str) -> dict[str, str | None]:
    return finding_table(command, HEADINGS[command])


def documented_item_ids(command: str) -> set[str]:
    """The check ids the rest of the command's doc names: the `| check |` tables
    (kept / problems) and the "Action checks:" paragraph."""
    text = (REPO / "docs" / f"{command}.md").read_text(encoding="utf-8")
    text = text.split(HEADINGS[command], 1)[0]
    ids = set(re.findall(r"^\| `([a-z_]+(?:\.[a-z_]+)+)` \|", text, re.M))
    m = re.search(r"^Action checks:(.*?)(?:\n\n|\Z)", text, re.S | re.M)
    assert m, f"docs/{command}.md: the list of action checks is gone"
    # `orphan` (`file.rename`, …), `peer.duplicate` / `storm` (`store.remove`): the ids
    # before " (" or " /"; the action types and `bytes` are not check ids
    ids |= set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)*)`(?= \(| /)", m.group(1)))
    assert ids, command
    return ids


# `check` expressions of archive.py / dedupe.py that set no id of their own: `check` (a
# parameter whose values are the literals walked at its call sites), `r.check` (a
# _Removal's check: its _Removal(...) calls are walked) and `k['check']` (an item
# re-emitting the check it already carries). Any other expression (a constant, a call,
# …) could set an id this walk cannot see.
_PASS_THROUGH = {"check", "r.check", "k['check']"}


def _strs(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strs(node.body) + _strs(node.orelse)
    if ast.unparse(node) in _PASS_THROUGH:
        return []
    raise AssertionError(ast.unparse(node))


def code_ids(command: str) -> set[str]:
    """Every check id sessionctl/<command>.py sets: the `check` of action dicts (with
    f"{r.check}.transcript" for each removal check), the first argument of plan.keep /
    plan.problem, the check of _Removal(...) and of _export(...), every `check=` keyword, and
    `store.would_be_empty` where the plan calls guard_nonempty()."""
    tree = ast.parse((REPO / "sessionctl" / f"{command}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    removal_checks: set[str] = set()
    suffixes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if not (isinstance(k, ast.Constant) and k.value == "check"):
                    continue
                if isinstance(v, ast.JoinedStr):  # f"{r.check}.transcript"
                    tail = v.values[-1]
                    assert isinstance(tail, ast.Constant) and len(v.values) == 2, ast.unparse(v)
                    suffixes.add(str(tail.value))
                else:
                    found.update(_strs(v))
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in ("keep", "problem") and node.args:
                found.update(_strs(node.args[0]))
            elif name == "_Removal" and len(node.args) >= 3:
                removal_checks.update(_strs(node.args[2]))
            elif name == "_export" and len(node.args) >= 7:
                found.update(_strs(node.args[6]))
            elif name == "guard_nonempty":
                found.add("store.would_be_empty")
            # `check=` of a call (move_file_into_run, action.update)
            found.update(x for kw in node.keywords if kw.arg == "check" for x in _strs(kw.value))
    found |= removal_checks | {c + s for c in removal_checks for s in suffixes}
    return found


def test_the_mappings_are_the_documented_tables() -> None:
    for command, mapping in MAPPINGS.items():
        assert documented_mapping(command) == mapping, command


def test_every_check_id_the_code_sets_is_mapped() -> None:
    for command, mapping in MAPPINGS.items():
        in_code = code_ids(command)
        assert len(in_code) >= 7, (command, in_code)
        assert in_code == set(mapping), (
            f"{command}: set by the code, not mapped: {sorted(in_code - set(mapping))}; "
            f"mapped, never set: {sorted(set(mapping) - in_code)}"
        )
    assert {"orphan", "archive.expired", "orphan.locked", "export.exists"} <= set(ARCHIVE_TO_HEALTH)
    assert {"storm.transcript", "peer.duplicate.transcript", "peer.not_selected"} <= set(DEDUPE_TO_HEALTH)


def test_every_check_id_the_docs_name_is_mapped() -> None:
    for command, mapping in MAPPINGS.items():
        listed = documented_item_ids(command)
        assert listed - set(mapping) == set(), command


def test_the_mappings_point_only_at_documented_health_checks() -> None:
    health = documented_health_ids()
    for command, mapping in MAPPINGS.items():
        unknown = {c: h for c, h in mapping.items() if h is not None and h not in health}
        assert unknown == {}, command
    # the one id dedupe shares with repair (Plan.guard_nonempty) means the same in both
    assert DEDUPE_TO_HEALTH["store.would_be_empty"] == REPAIR_TO_HEALTH["store.would_be_empty"]
    assert not set(MAPPINGS["archive"]) & set(REPAIR_TO_HEALTH)


# ---------------------------------------------------------------- real states


def _locations(state: StateDir, item: dict[str, Any]) -> set[Path]:
    # paths relative to the state dir (problems' are absolute: root / abs == abs)
    return {state.root / item[k] for k in ("path", "from", "store") if item.get(k)}


def _session(env: dict[str, Any], agent: str, key: str) -> dict[str, Any] | None:
    """dedupe's `peers[]` entry holding the session."""
    for p in env.get("peers", []):
        if any(s["agent"] == agent and s["key"] == key for s in p["sessions"]):
            peer: dict[str, Any] = p
            return peer
    return None


def answers(state: StateDir, env: dict[str, Any], item: dict[str, Any], f: dict[str, Any]) -> bool:
    """The archive/dedupe item resolves or concerns the health finding `f`."""
    if f["agent"] is None:  # peer.duplicate_across_agents: by the sessions it lists
        listed = {(s["agent"], s["key"]) for s in f["data"]["sessions"]}
        return item.get("finding") == f["check"] and (item.get("agent"), item.get("key")) in listed
    same_check = item.get("finding") == f["check"] or (
        # a stray that has duplicates goes with its removal, whose finding is the peer's
        # (docs/dedupe.md); peers[] tells it is removed for the agent bindings route to
        f["check"] == "peer.stray"
        and item.get("check") == "peer.duplicate"
        and item.get("finding") == "peer.duplicate_across_agents"
        and (_session(env, f["agent"], f["key"]) or {}).get("bound_agent") == f["data"]["expected_agent"]
    )
    return (
        same_check
        and item.get("agent") == f["agent"]
        and (f["key"] is None or item.get("key") == f["key"])
        and (f["path"] is None or Path(f["path"]) in _locations(state, item))
    )


def assert_fixes_answer_health(state: StateDir) -> list[dict[str, Any]]:
    """Run health; for each finding whose fix is an archive or dedupe command, dry-run
    that command and find the action that answers it. Returns those findings."""
    rc, health, err = cli(state, "health")
    assert rc in (0, 1, 2), (rc, err)
    fixable = [
        f
        for f in health["findings"]
        if (f["fix"] or "").startswith(("sessionctl archive", "sessionctl dedupe"))
    ]
    runs: dict[str, dict[str, Any]] = {}
    for f in fixable:
        argv = shlex.split(f["fix"])
        assert argv[0] == "sessionctl" and argv[1] in MAPPINGS, f
        if f["fix"] not in runs:
            rc, env, err = cli(state, *argv[1:], "--dry-run")
            assert rc == 0, (f["fix"], rc, err, env.get("errors"))
            mapping = MAPPINGS[argv[1]]
            for item in env["actions"] + env["problems"] + env["kept"]:
                assert "finding" in item and item["finding"] == mapping[item["check"]], item
                assert list(item).index("finding") == list(item).index("check") + 1, item
            runs[f["fix"]] = env
        env = runs[f["fix"]]
        hits = [a for a in env["actions"] if answers(state, env, a, f)]
        assert hits, f"`{f['fix']} --dry-run` has no action answering {f['check']} {f['key']} {f['path']}"
    return fixable


def test_demo_state_every_archive_and_dedupe_fix_answers_its_finding(tmp_path: Path) -> None:
    state = demo_copy(tmp_path)  # old mtimes: the demo's orphan is past --older-than
    fixable = assert_fixes_answer_health(state)
    assert {f["check"] for f in fixable} == {
        "transcript.orphan",
        "peer.duplicate_across_agents",
        "peer.stray",
        "sessions.spawn_storm",
    }
    assert {f["fix"].split()[1] for f in fixable} == {"archive", "dedupe"}
    assert any("--storms" in f["fix"] for f in fixable)


def _findings(env: dict[str, Any], part: str) -> list[tuple[str, str | None]]:
    return [(i["check"], i["finding"]) for i in env[part]]


def test_archive_problems_and_kept_items_carry_finding(state: StateDir, tmp_path: Path) -> None:
    import os
    import time

    state.add_session("main", "agent:main:main")
    old = time.time() - 2 * 86_400
    for name in ("old.jsonl", "locked.jsonl"):
        os.utime(state.write_transcript("main", name, b'{"type":"session","id":"x"}\n'), (old, old))
    state.write_transcript("main", "locked.jsonl.lock", b"{}")
    state.write_transcript("main", "young.jsonl", b'{"type":"session","id":"y"}\n')  # mtime now
    state.write_transcript("main", "gone.jsonl.deleted.2020-01-01T00-00-00.000Z", b"{}\n")
    state.write_store("garbled", b'{\n  "agent:garbled:main": {')

    rc, env, err = cli(state, "archive", "--dry-run", "--retention", "30d")
    assert rc == 0, err
    assert sorted(_findings(env, "actions")) == [("archive.expired", None)]
    assert _findings(env, "problems") == [("archive.references_unknown", None)]
    # old.jsonl: an orphan, kept while garbled's store (which may reference it) is unreadable
    assert sorted(_findings(env, "kept")) == [
        ("orphan.locked", "transcript.orphan"),
        ("orphan.references_unknown", "transcript.orphan"),
        ("orphan.young", "transcript.orphan"),
    ]
    # the young and the locked orphans are health's transcript.orphan findings too
    rc, health, err = cli(state, "health")
    orphans = {Path(f["path"]).name for f in health["findings"] if f["check"] == "transcript.orphan"}
    assert orphans == {"old.jsonl", "locked.jsonl", "young.jsonl"}

    to = tmp_path / "cold"
    (to / "agents" / "main" / "sessions").mkdir(parents=True)
    (to / "agents" / "main" / "sessions" / "gone.jsonl.deleted.2020-01-01T00-00-00.000Z").write_bytes(b"")
    rc, env, err = cli(state, "archive", "--dry-run", "--no-orphans", "--to", str(to))
    assert rc == 0, err
    assert _findings(env, "kept") == [("export.exists", None)]


def test_dedupe_problems_and_kept_items_carry_finding(state: StateDir) -> None:
    from support.repair import DEDUPE_CONFIG as CONFIG
    from support.repair import filler

    state.write_config(CONFIG)
    filler(state, "a", "b", "c")
    state.add_session("a", "agent:a:telegram:direct:111", lastAccountId="default")  # lone stray (bound to b)
    state.add_session("a", "agent:a:whatsapp:direct:+4915100000000", updated_at=NOW_MS - 5 * HOUR_MS)
    state.add_session("b", "agent:b:whatsapp:direct:+4915100000000")  # unbound duplicate
    state.add_session("a", "agent:a:telegram:work:direct:222")  # bound to c, duplicate in a and b
    state.add_session("b", "agent:b:telegram:work:direct:222")
    state.add_session("c", "agent:c:telegram:work:direct:222")
    rc, env, err = cli(state, "dedupe", "--dry-run", "--agent", "a")
    assert rc == 0, err
    assert sorted(_findings(env, "problems")) == [
        ("peer.duplicate_unbound", "peer.duplicate_across_agents"),
        ("peer.stray", "peer.stray"),
    ]
    assert _findings(env, "kept") == [("peer.not_selected", "peer.duplicate_across_agents")]
    assert sorted(_findings(env, "actions")) == [
        ("peer.duplicate", "peer.duplicate_across_agents"),
        ("peer.duplicate.transcript", "peer.duplicate_across_agents"),
    ]
    # the lone stray's health finding is answered by the problem, same agent and key
    rc, health, err = cli(state, "health")
    (stray,) = [f for f in health["findings"] if f["check"] == "peer.stray" and f["key"].endswith(":111")]
    (problem,) = [p for p in env["problems"] if p["check"] == "peer.stray"]
    assert answers(state, env, problem, stray)
    # and the -v view says which health finding each action resolves
    from support.helpers import NOW_ISO, run_cli

    res = run_cli(
        "dedupe", "--dry-run", "-v", "--agent", "a", "--state-dir", str(state.root), "--now", NOW_ISO
    )
    assert res.rc == 0, res.stderr
    assert "resolves: peer.duplicate_across_agents (health)" in res.stdout
    res = run_cli("dedupe", "--dry-run", "--agent", "a", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert res.rc == 0, res.stderr
    # the plain view lists the same action, only without its why/resolves lines
    line = "  a: remove 'agent:a:telegram:work:direct:222' from a's store"
    assert line in res.stdout.splitlines(), res.stdout
    assert "resolves:" not in res.stdout


def test_dedupe_would_be_empty_keeps_repairs_null(state: StateDir) -> None:
    from support.repair import DEDUPE_CONFIG as CONFIG
    from support.repair import filler

    state.write_config(CONFIG)
    filler(state, "b")
    state.add_session("a", "agent:a:telegram:direct:111", lastAccountId="default")  # a's only session
    state.add_session("b", "agent:b:telegram:direct:111", lastAccountId="default")
    rc, env, _err = cli(state, "dedupe", "--dry-run")
    assert rc == 65
    assert _findings(env, "problems") == [("store.would_be_empty", None)]
