"""What every command needs: the state dir, the clock, both configs and the stores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sessionctl.config import (
    OpenClawConfig,
    SessionctlConfig,
    load_openclaw_config,
    load_sessionctl_config,
    resolve_state_dir,
)
from sessionctl.discovery import Discovery, discover
from sessionctl.timeutil import iso_ms, parse_now


@dataclass
class RunContext:
    state_dir: Path
    now_ms: int
    now_given: bool
    openclaw: OpenClawConfig
    config: SessionctlConfig
    discovery: Discovery
    agents: list[str] | None

    @property
    def now_iso(self) -> str:
        return iso_ms(self.now_ms)


def make_context(
    *,
    state_dir: str | None,
    agents: list[str] | None = None,
    now: str | None = None,
    config: str | None = None,
) -> RunContext:
    """Resolve everything a command starts from. Raises SessionctlError subclasses."""
    now_ms = parse_now(now)
    sd = resolve_state_dir(state_dir)
    oc = load_openclaw_config(sd)
    sc = load_sessionctl_config(config, sd)
    disc = discover(sd, oc, agents or None)
    return RunContext(sd, now_ms, now is not None, oc, sc, disc, agents or None)
