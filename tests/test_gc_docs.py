"""docs/gc.md and docs/runs.md stay true to the CLI: every option each command accepts
is documented, and every option the docs show for a command exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.helpers import help_options

DOCS = Path(__file__).resolve().parent.parent / "docs"
COMMON = {"--help", "--state-dir", "--json", "--now", "--config", "--agent"}


@pytest.mark.parametrize(
    ("command", "doc"),
    [
        ("gc", "gc.md"),
        ("backup", "runs.md"),
        ("runs", "runs.md"),
        ("undo", "runs.md"),
        ("restore", "runs.md"),
    ],
)
def test_every_option_is_documented(command: str, doc: str) -> None:
    text = (DOCS / doc).read_text()
    missing = sorted(
        o for o in help_options(command) - {"--help"} if f"`{o}" not in text and f" {o}" not in text
    )
    assert missing == [], f"docs/{doc} does not mention {missing} of `sessionctl {command}`"


@pytest.mark.parametrize(
    ("command", "doc"),
    [
        ("gc", "gc.md"),
        ("backup", "runs.md"),
        ("undo", "runs.md"),
        ("restore", "runs.md"),
        ("runs", "runs.md"),
    ],
)
def test_synopsis_options_exist(command: str, doc: str) -> None:
    text = (DOCS / doc).read_text()
    synopsis = [line for line in text.splitlines() if line.startswith(f"sessionctl {command} ")]
    assert synopsis, f"docs/{doc} has no synopsis line for {command}"
    shown = set(re.findall(r"(--[a-z][a-z0-9-]*)", " ".join(synopsis)))
    assert shown - help_options(command) == set()
