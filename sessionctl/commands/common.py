"""Options shared by every command (so they can be given after the command name)."""

from __future__ import annotations

from typing import Annotated

import typer

StateDirOpt = Annotated[
    str | None,
    typer.Option(
        "--state-dir",
        help="OpenClaw state dir (default: $OPENCLAW_STATE_DIR, else ~/.openclaw, else legacy ~/.clawdbot).",
        show_default=False,
    ),
]
AgentOpt = Annotated[
    list[str] | None,
    typer.Option("--agent", "-a", help="Only this agent (repeatable).", show_default=False),
]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now", help="Pretend the time is this ISO-8601 instant (reproducible runs).", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the versioned JSON envelope on stdout.")]
ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="sessionctl.toml to use (default: <state>/sessionctl.toml if present).",
        show_default=False,
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show per-session detail.")]
ForceOnlineOpt = Annotated[
    bool,
    typer.Option(
        "--force-online",
        help="Mutate even while a gateway that takes no store lock (v5.2+) is running. Risky.",
    ),
]
