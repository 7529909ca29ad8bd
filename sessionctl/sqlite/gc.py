"""gc for SQLite-era agents: sessionctl's policy decides, OpenClaw's own commands change.

Plan: each agent database is read once (read-only) and planned by the same pure planner as
the file era (`policy.plan_gc` on the AgentSnapshot of snapshot.py). What expires is applied
through OpenClaw (spec §8.4): a synthetic session (cron, subagent, hook, heartbeat, ACP,
node, model-run probe) with `openclaw sessions delete` — OpenClaw archives its transcript
(canonical archive row + `<sessionId>.jsonl.deleted.<stamp>.<gen>.zst`) and deletes the rows;
any other session with `openclaw sessions archive` (archivedAt; every row kept, reversible)
unless `--sqlite-delete` asks for deletion. Ordinary sessions already archived are not planned.

Apply (after the file-era part of the same run):
1. refuse when there is no `openclaw` executable or no running gateway for this state dir
   (both commands are gateway calls) — the file-era agents are still done;
2. back up each database with SQLite's online backup API into the run folder (backup.py),
   then the journal names every key with its session id, updatedAt and entry;
3. right before each batch the database is read again: a session whose id or updatedAt
   changed since planning is skipped;
4. `openclaw sessions delete|archive KEY… --agent A --json` per agent (batches of 50);
   OpenClaw's per-key result is journaled; afterwards the database is read again and each
   applied action is confirmed (deleted rows gone, archived rows archived).

Undo: archived sessions are unarchived through the gateway (`sessions.patch archived:false`);
a deleted session cannot be re-created through OpenClaw — undo says so, names OpenClaw's
archive of its transcript, and `sessionctl restore RUN` can put the whole database back from
the run's backup with the gateway stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sessionctl.action_types import JournalAction, skip
from sessionctl.context import RunContext
from sessionctl.discovery import AgentStore
from sessionctl.errors import Unavailable
from sessionctl.fsio import state_rel
from sessionctl.jsonjs import JsonValue
from sessionctl.policy import GcPlan, Policy
from sessionctl.runs import Run
from sessionctl.snapshot import AgentSnapshot
from sessionctl.sqlite.backup import backup_db
from sessionctl.sqlite.openclaw import (
    BATCH,
    KeyResult,
    delete_rpc,
    find_openclaw,
    lifecycle,
    missing_message,
    unarchive,
)
from sessionctl.sqlite.reader import AgentDb, gateway_for, read_agent_db
from sessionctl.sqlite.snapshot import is_cron_run, is_synthetic, sqlite_snapshot

ACTION_TYPES = ("sqlite.delete", "sqlite.archive")


OpenClawUnavailable = Unavailable


@dataclass
class SqliteGc:
    """The SQLite half of one gc run."""

    ctx: RunContext
    openclaw: str | None = None  # --openclaw
    delete_all: bool = False  # --sqlite-delete
    dbs: dict[str, AgentDb] = field(default_factory=dict)
    stores: dict[str, AgentStore] = field(default_factory=dict)

    # ------------------------------------------------------------ planning

    def read(self, skipped_agents: list[dict[str, str]], policy: Policy | None = None) -> list[AgentSnapshot]:
        """Read every selected SQLite-era agent; those that cannot be read are skipped. With a
        policy that is only OpenClaw's own session.maintenance, nothing is planned for them:
        OpenClaw 2026.9 applies it itself after every write (archiving, protecting DMs and
        groups, a cap of 5000 unarchived) — sessionctl would only apply it differently.
        Agents not planned, and why, go to `skipped_agents` (gc's outcome)."""
        snaps: list[AgentSnapshot] = []
        sqlite_stores = [st for st in self.ctx.discovery.stores if st.layout == "sqlite" and st.sqlite_path]
        if policy is not None and policy.openclaw_only and sqlite_stores:
            for st in sqlite_stores:
                skipped_agents.append(
                    {
                        "agent": st.agent_id,
                        "reason": "SQLite era: OpenClaw applies its own session.maintenance itself; "
                        "sessionctl plans these agents only with a policy of its own (flags or [gc])",
                    }
                )
            return snaps
        for st in self.ctx.discovery.stores:
            if st.layout != "sqlite" or st.sqlite_path is None:
                continue
            adb = read_agent_db(st.agent_id, st.sqlite_path, st.sessions_dir, integrity=None)
            if not adb.ok:
                why = adb.error or (adb.problem[1] if adb.problem else adb.status)
                skipped_agents.append({"agent": st.agent_id, "reason": f"SQLite database not read: {why}"})
                continue
            self.dbs[st.agent_id] = adb
            self.stores[st.agent_id] = st
            # with --sqlite-delete, archived ordinary sessions can be deleted too
            include = "listed" if self.delete_all else "gc"
            snaps.append(sqlite_snapshot(st, adb, main_key=self.ctx.openclaw.main_key, include=include))
        return snaps

    def build_actions(self, plan: GcPlan) -> list[JournalAction]:
        actions: list[JournalAction] = []
        for ap in plan.agents:
            adb = self.dbs.get(ap.agent)
            if adb is None:
                continue
            for d in ap.expired:
                n = adb.node(d.key)
                if n is None:
                    continue
                delete = self.delete_all or is_synthetic(d.key)
                via = "openclaw sessions " + ("delete" if delete else "archive")
                if delete and is_cron_run(d.key):
                    via = "openclaw gateway call sessions.delete"  # the CLI cannot look cron runs up
                actions.append(
                    {
                        "type": "sqlite.delete" if delete else "sqlite.archive",
                        "agent": ap.agent,
                        "db": state_rel(self.ctx.state_dir, adb.path, resolve=False),
                        "key": d.key,
                        "session_id": n.session_id,
                        "updated_at": n.updated_at,
                        "archived_at": n.archived_at,
                        "entry": n.entry,
                        **d.removal_fields(),
                        "via": via,
                    }
                )
        return actions

    # ------------------------------------------------------------ applying

    def preflight(self) -> tuple[Path | None, OpenClawUnavailable | None]:
        """The executable to use, or why the SQLite part cannot be applied now."""

        exe = find_openclaw(self.openclaw)
        if exe is None:
            return None, OpenClawUnavailable(
                missing_message() + "; the SQLite-era agents were left unchanged",
                hint="install OpenClaw (the same release as the gateway) or pass --openclaw PATH",
            )
        if gateway_for(self.ctx.state_dir) is None:
            return None, OpenClawUnavailable(
                f"no running OpenClaw gateway serves {self.ctx.state_dir}: `openclaw sessions delete|archive` "
                "are gateway calls; the SQLite-era agents were left unchanged",
                hint="start the gateway and run gc again (the file-era agents of this state dir were done)",
            )
        return exe, None

    def backup(self, run: Run, actions: list[JournalAction]) -> None:

        for agent in sorted({a["agent"] for a in actions}):
            adb = self.dbs[agent]
            rec = backup_db(run, adb.path, agent)
            for a in actions:
                if a["agent"] == agent:
                    a["backup"] = rec["backup"]

    def apply(self, run: Run, actions: list[JournalAction], exe: Path) -> None:
        """Re-verify, run OpenClaw, confirm. Sets each action's state and note."""

        by_agent: dict[str, list[JournalAction]] = {}
        for a in actions:
            by_agent.setdefault(a["agent"], []).append(a)
        for agent, acts in sorted(by_agent.items()):
            self._reverify(agent, acts)
            for a in acts:
                if a.get("state") != "planned" or a["via"] != "openclaw gateway call sessions.delete":
                    continue
                one = delete_rpc(
                    exe, self.ctx.state_dir, agent, a["key"], a["session_id"], a["archived_at"] is not None
                )
                a["command"] = ["gateway", "call", "sessions.delete"]
                self._record(a, one)
                run.commit_journal()
            for op in ("delete", "archive"):
                todo = [a for a in acts if a["type"] == f"sqlite.{op}" and a.get("state") == "planned"]
                for i in range(0, len(todo), BATCH):
                    batch = todo[i : i + BATCH]
                    res, per_key = lifecycle(exe, self.ctx.state_dir, op, agent, [a["key"] for a in batch])
                    for a in batch:
                        a["command"] = res.argv[1:]
                        r = per_key.get(a["key"])
                        if r is None:
                            skip(a, f"OpenClaw gave no result: {res.summary()}")
                        else:
                            self._record(a, r)
                    run.commit_journal()  # OpenClaw's answers are on disk before the next batch
            self._confirm(agent, acts)

    @staticmethod
    def _record(a: JournalAction, r: KeyResult) -> None:
        if r.ok and r.status in ("deleted", "archived", "already_archived"):
            a["state"] = "applied"
            a["result"] = {"status": r.status, "archived": r.archived}
        else:
            skip(a, f"OpenClaw: {r.status}: {r.error or ''}".rstrip(": "))
            a["result"] = {"status": r.status, "error": r.error}

    def _reread(self, agent: str) -> AgentDb | None:
        st = self.stores[agent]
        assert st.sqlite_path is not None
        adb = read_agent_db(agent, st.sqlite_path, st.sessions_dir, integrity=None)
        return adb if adb.ok else None

    def _reverify(self, agent: str, acts: list[JournalAction]) -> None:
        now = self._reread(agent)
        for a in acts:
            if now is None:
                skip(a, "the database could not be read again before the change")
                continue
            n = now.node(a["key"])
            if n is None:
                skip(a, "the session no longer exists")
            elif n.session_id != a["session_id"] or n.updated_at != a["updated_at"]:
                a["state"], a["note"] = (
                    "skipped",
                    "the session changed since planning (new activity or reset)",
                )
            elif a["type"] == "sqlite.archive" and n.archived:
                skip(a, "already archived")

    def _confirm(self, agent: str, acts: list[JournalAction]) -> None:
        now = self._reread(agent)
        if now is None:
            return
        for a in acts:
            if a.get("state") != "applied":
                continue
            n = now.node(a["key"])
            if a["type"] == "sqlite.delete":
                a["confirmed"] = n is None or n.session_id != a["session_id"]
            else:
                a["confirmed"] = n is not None and n.archived


# ---------------------------------------------------------------- undo


def undo_actions(target_run: str, a: JournalAction, state: str | None) -> list[JournalAction]:
    """The reverse of one applied sqlite.* action of run `target_run` (see the module doc).
    `state` is the action's outcome from status.json (None when the run was interrupted: the
    journal, rewritten after each OpenClaw batch, then tells what OpenClaw answered)."""
    state = state or a.get("state")
    if state != "applied":
        if state != "planned":
            return []  # skipped: OpenClaw was never asked, or said no
        return [
            _db_conflict(
                a,
                (
                    f"the run stopped before OpenClaw's answer for {a['key']} was recorded: it may or may not "
                    f"be {'deleted' if a['type'] == 'sqlite.delete' else 'archived'}; see `openclaw sessions "
                    f"--agent {a['agent']} --json`; `sessionctl restore {target_run} --agent {a['agent']}` puts "
                    "back the whole database (gateway stopped)"
                ),
                target_run,
            )
        ]
    if a["type"] == "sqlite.archive":
        if a.get("result", {}).get("status") == "already_archived":
            return []
        return [
            {
                "type": "sqlite.unarchive",
                "agent": a["agent"],
                "db": a["db"],
                "key": a["key"],
                "session_id": a["session_id"],
                "via": "openclaw gateway call sessions.patch (archived: false)",
            }
        ]
    archives = (a.get("result") or {}).get("archived") or []
    where = f"; OpenClaw keeps its transcript as {', '.join(archives)}" if archives else ""
    return [
        _db_conflict(
            a,
            (
                f"{a['key']} was deleted by OpenClaw and cannot be re-created through OpenClaw{where}. "
                f"`sessionctl restore {target_run} --agent {a['agent']}` puts back agent {a['agent']}'s whole "
                "database as it was backed up before this run (only with the gateway stopped; everything written "
                "to that agent since is lost with it)"
            ),
            target_run,
            archives=archives,
        )
    ]


def _db_conflict(a: JournalAction, note: str, target_run: str, **extra: JsonValue) -> JournalAction:
    """The conflict an undo reports for the SQLite-era action `a` it cannot reverse
    through OpenClaw: `note` says why; `restore <target_run>` puts the database back."""
    return {
        "type": "conflict",
        "agent": a["agent"],
        "path": a["db"],
        "key": a["key"],
        "note": note,
        "restore_with": f"sessionctl restore {target_run} --agent {a['agent']}",
        **extra,
    }


def apply_unarchive(ctx: RunContext, actions: list[JournalAction], openclaw: str | None) -> None:
    """Apply sqlite.unarchive actions through the running gateway."""

    todo = [a for a in actions if a["type"] == "sqlite.unarchive"]
    if not todo:
        return
    exe = find_openclaw(openclaw)
    why = None
    if exe is None:
        why = missing_message()
    elif gateway_for(ctx.state_dir) is None:
        why = "no running OpenClaw gateway serves this state dir (unarchiving is a gateway call)"
    for a in todo:
        if why is not None or exe is None:
            skip(a, why)
            continue
        r = unarchive(exe, ctx.state_dir, a["agent"], a["key"], a["session_id"])
        if r.ok:
            a["state"] = "applied"
        else:
            skip(a, f"OpenClaw: {r.error or r.status}")
