"""What every command needs: the state dir, the clock, both configs and the stores."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload

from sessionctl.config import (
    OpenClawConfig,
    SessionctlConfig,
    load_openclaw_config,
    load_sessionctl_config,
    resolve_state_dir,
)
from sessionctl.discovery import Discovery, discover
from sessionctl.errors import ConfigError, StepStopped, permission_denied
from sessionctl.fsio import anchor, check_output_path
from sessionctl.timeutil import iso_ms, parse_now

if TYPE_CHECKING:
    from sessionctl.store import StoreLoad
    from sessionctl.transcripts import Inventory, TranscriptFacts

# (what is being done, steps done, steps in all): the hook a command layer may set so a
# long step shows progress; the core calls RunContext.tick and never prints
ProgressFn = Callable[[str, int, int], None]


# The state dir and clock of the command being run, once known: the JSON envelope of an
# error names them too (cli.run_command), not only the envelope of a result.
CURRENT: dict[str, str | None] = {"state_dir": None, "now": None}


@dataclass
class RunContext:
    state_dir: Path
    now_ms: int
    now_given: bool
    openclaw: OpenClawConfig
    config: SessionctlConfig
    discovery: Discovery
    agents: list[str] | None
    progress: ProgressFn | None = None
    # set by a caller with a time budget (prestart): why the running step must stop now,
    # or None; long steps ask at their safe points (checkpoint / out_of_time)
    stop_check: Callable[[], str | None] | None = None
    # set by a caller that read the stores already (prestart's plan): store path →
    # store.StoreLoad made with plan=True, reused by a later step while the file's
    # size, mtime and inode are unchanged (planned_load)
    store_loads: dict[str, StoreLoad] | None = None
    # set by the same caller: sessions folder → (its (inode, mtime, ctime) when it was
    # listed, transcripts.Inventory), reused by a later step while the folder's own
    # stat is unchanged (planned_inventory)
    inventories: dict[str, tuple[tuple[int, int, int], Inventory]] | None = None
    # set by the same caller: transcript path → its cheap transcripts.TranscriptFacts (first
    # and last line) read by an earlier step; a later snapshot reuses them while its own
    # listing shows the file's size and mtime unchanged (snapshot.read_entry_facts)
    facts_cache: dict[str, TranscriptFacts] | None = None

    def planned_load(self, path: Path) -> StoreLoad | None:
        """A store's load offered by `store_loads`, if the file looks unchanged since; else
        None. Readers that write check the bytes themselves (its sha256) before acting."""
        load = (self.store_loads or {}).get(str(path))
        if load is None:
            return None
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (load.size, load.mtime_ns, load.ino):
            return None
        return load

    def planned_inventory(self, sessions_dir: Path) -> Inventory | None:
        """A sessions folder's listing offered by `inventories`, if no name was added,
        removed or renamed in it since (its inode, mtime and ctime unchanged); else None.
        The listing's per-file sizes and times are as they were then: callers read each
        file themselves before they act on it."""
        got = (self.inventories or {}).get(str(sessions_dir))
        if got is None:
            return None
        try:
            st = os.stat(sessions_dir, follow_symlinks=False)
        except OSError:
            return None
        if (st.st_ino, st.st_mtime_ns, st.st_ctime_ns) != got[0]:
            return None
        return got[1]

    def out_of_time(self) -> str | None:
        """At a safe point: why the running step should stop here (None: go on)."""
        return self.stop_check() if self.stop_check is not None else None

    def checkpoint(self) -> None:
        """A safe point of a long step where nothing is half-done: raises StepStopped when
        the caller's time budget is spent."""
        why = self.out_of_time()
        if why is not None:
            raise StepStopped(why)

    def tick(self, what: str, done: int, total: int) -> None:
        """Report progress of a long step to the command layer's hook, if any."""
        if self.progress is not None:
            self.progress(what, done, total)

    @property
    def now_iso(self) -> str:
        return iso_ms(self.now_ms)

    def require_openclaw_config(self) -> None:
        """Mutations plan from openclaw.json (where the stores live, which agents exist,
        how peers route). One that exists but cannot be read, parsed or used is a config
        error (78) for them, never guessed around; read-only commands and dry runs report
        it and go on."""
        if self.openclaw.denied:
            raise permission_denied(f"{self.openclaw.error}; nothing was changed", str(self.openclaw.path))
        if self.openclaw.error is not None:
            raise ConfigError(
                f"{self.openclaw.error}; nothing was changed",
                path=str(self.openclaw.path),
                hint="fix openclaw.json (the gateway needs it too); read-only commands and --dry-run still work",
            )


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
    CURRENT["state_dir"], CURRENT["now"] = str(sd), iso_ms(now_ms)
    anchor(sd)  # writes below it walk from its verified fd (fsio.open_dir)
    oc = load_openclaw_config(sd)
    sc = load_sessionctl_config(config, sd)
    disc = discover(sd, oc, agents or None)
    return RunContext(sd, now_ms, now is not None, oc, sc, disc, agents or None)


def all_sessions_dirs(state_dir: Path, openclaw: OpenClawConfig) -> list[Path]:
    """Every sessions folder of the state dir (every agent, not only --agent ones)."""
    return [st.sessions_dir for st in discover(state_dir, openclaw, None).stores]


@overload
def check_path_option(ctx: RunContext, path: str, option: str, kind: str) -> Path: ...
@overload
def check_path_option(ctx: RunContext, path: str | None, option: str, kind: str) -> Path | None: ...
def check_path_option(ctx: RunContext, path: str | None, option: str, kind: str) -> Path | None:
    """`--backup-dir`, `--to`, `--output`: the one path check (fsio.check_output_path)
    against this state dir and all its sessions folders. Returns the real path (or None)."""
    if path is None:
        return None
    return check_output_path(
        path,
        option=option,
        kind=kind,
        state_dir=ctx.state_dir,
        sessions_dirs=all_sessions_dirs(ctx.state_dir, ctx.openclaw),
    )
