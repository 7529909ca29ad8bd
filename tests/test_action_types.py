"""The registry of journaled action types (sessionctl/actions.py ACTION_TYPES): every
type a journal holds is registered, every registered payload fits the journals written
before it existed, and the module's table documents exactly the registered types."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from support.helpers import REPO

from sessionctl.action_types import ACTION_STATES, skip
from sessionctl.actions import ACTION_TYPES

LEGACY = sorted((REPO / "tests" / "golden").glob("legacy-runs-v*/runs/*/journal.json"))


def _journal_actions() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in LEGACY:
        for a in json.loads(path.read_bytes())["actions"]:
            out.append((f"{path.parent.parent.parent.name}/{a['type']}", a))
    return out


def test_legacy_journals_hold_only_registered_types_whose_payload_they_fit() -> None:
    actions = _journal_actions()
    assert len(actions) >= 50 and len({a["type"] for _, a in actions}) >= 7
    for where, a in actions:
        spec = ACTION_TYPES.get(a["type"])
        assert spec is not None, where
        payload: Any = spec.payload  # a TypedDict class: its key sets are not on `type`
        missing = payload.__required_keys__ - set(a)
        assert not missing, (where, sorted(missing))
        unknown = set(a) - set(payload.__required_keys__ | payload.__optional_keys__)
        assert not unknown, (where, sorted(unknown))
        assert a.get("state", "planned") in ACTION_STATES, where


def test_the_module_table_documents_exactly_the_registered_types() -> None:
    doc = (REPO / "sessionctl" / "actions.py").read_text(encoding="utf-8").split('"""')[1]
    documented = set(re.findall(r"^\| ([a-z]+\.[a-z_]+) \|", doc, re.M))
    assert documented == {t for t in ACTION_TYPES if t != "conflict"}


@pytest.mark.parametrize("why", ["file changed since planning", None])
def test_skip_sets_state_and_note(why: str | None) -> None:
    a: dict[str, Any] = {"type": "file.rename", "state": "planned"}
    skip(a, why)
    assert (a["state"], a["note"]) == ("skipped", why)


def test_every_type_the_code_journals_is_registered() -> None:
    """Every `"type": "<x.y>"` literal the commands build is a registered action type."""
    built: set[str] = set()
    for path in (REPO / "sessionctl").rglob("*.py"):
        built |= set(re.findall(r'"type": "([a-z]+\.[a-z_]+)"', path.read_text(encoding="utf-8")))
    assert built, "no action literal found"
    assert built <= set(ACTION_TYPES), sorted(built - set(ACTION_TYPES))
