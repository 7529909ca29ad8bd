"""docs/repair.md, docs/archive.md and docs/dedupe.md name every option of their command
(the docs and the CLI must not drift apart)."""

from __future__ import annotations

import pytest
import typer.main
from support.helpers import REPO

from sessionctl.cli import build_app


@pytest.mark.parametrize("command", ["repair", "archive", "dedupe"])
def test_every_option_is_documented(command: str) -> None:
    cli = typer.main.get_command(build_app())  # type: ignore[arg-type]
    params = cli.commands[command].params  # type: ignore[attr-defined]
    doc = (REPO / "docs" / f"{command}.md").read_text(encoding="utf-8")
    opts = [opt for p in params for opt in [*p.opts, *p.secondary_opts]]
    missing = [o for o in opts if not any(f"{lead}{o}" in doc for lead in ("`", " ", "/"))]
    assert missing == [], f"docs/{command}.md does not mention {missing}"
    assert "## JSON" in doc and "## Exit codes" in doc
