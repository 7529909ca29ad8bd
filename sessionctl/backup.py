"""The backup command's core: a run with backups alone — every selected store, the
prompt blobs its entries reference and the thread-binding files (and, unless told not
to, every SQLite-era agent database) — journaled like any run, so `restore` can put
them back (docs/runs.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sessionctl.bindings import binding_file_paths
from sessionctl.context import RunContext
from sessionctl.errors import SessionctlError
from sessionctl.execute import DEFAULT_LOCK_TIMEOUT_S, RunOutcome, RunSteps, exclusive, run_journaled
from sessionctl.jsonjs import JsonObj
from sessionctl.runs import Run, prune_runs
from sessionctl.snapshot import prompt_ref_paths
from sessionctl.sqlite.backup import backup_db
from sessionctl.store import load_store
from sessionctl.timeutil import now_ms as wall_ms


@dataclass(kw_only=True)
class BackupOutcome(RunOutcome):
    """backup's outcome: a run with backups alone."""

    command: str = "backup"

    def summary(self) -> JsonObj:
        return {"files": len(self.backups), "bytes": sum(b["size"] for b in self.backups)}


def take_backup(
    ctx: RunContext,
    *,
    backup_dir: str | None = None,
    keep_runs: int | None = None,
    keep_within_ms: int | None = None,
    argv: list[str] | None = None,
    sqlite: bool = True,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
) -> BackupOutcome:
    """A run with backups alone: every selected store (as it is, parseable or not), the
    prompt blobs its entries reference, and the thread-binding files (unless --agent
    narrowed the run to some agents: bindings belong to the whole state dir). With
    `sqlite`, also every SQLite-era agent database (SQLite's online backup API: safe while
    the gateway runs; `restore` can put it back with the gateway stopped)."""

    out = BackupOutcome()

    def record(run: Run) -> None:
        for st in ctx.discovery.stores:
            if sqlite and st.layout == "sqlite" and st.sqlite_path is not None:
                try:
                    backup_db(run, st.sqlite_path, st.agent_id)
                except SessionctlError as exc:
                    out.logs.append(
                        ("warning", f"agent {st.agent_id}: database not backed up: {exc.message}")
                    )
            if not os.path.isfile(st.store_path) or os.path.islink(st.store_path):
                continue
            run.backup_file(st.store_path, kind="store")
            # slim: only the prompt-blob references are needed (prestart's plan read it already)
            load = ctx.planned_load(st.store_path) or load_store(st.store_path, plan=True)
            if load.data is None:
                out.logs.append(
                    (
                        "warning",
                        f"agent {st.agent_id}: store copied as it is, but it does not parse ({load.error})",
                    )
                )
                continue
            for blob in prompt_ref_paths((load.prompt_refs or {}).values(), st.sessions_dir):
                run.backup_file(blob, kind="prompt_blob")
        if ctx.agents is None:
            for _channel, p in binding_file_paths(ctx.state_dir):
                if os.path.isfile(p) and not os.path.islink(p):
                    run.backup_file(p, kind="binding")

    def counts(run: Run) -> JsonObj:
        out.backups = list(run.backups)
        return out.summary()

    with exclusive(ctx, lock_timeout_s=lock_timeout_s):
        run = run_journaled(
            ctx,
            "backup",
            RunSteps(record, summary=counts),
            backup_dir=backup_dir,
            argv=argv,
            started=out.started,
        )
        if keep_runs is not None or keep_within_ms is not None:
            out.pruned_runs = prune_runs(
                ctx.state_dir,
                keep_runs=keep_runs,
                keep_within_ms=keep_within_ms,
                now=wall_ms(),  # run folders are aged by the wall clock, like their ids
                backup_dir=backup_dir,
                protect=run.run_id,
            )
    return out
