"""prestart for SQLite-era agents: report, never change.

prestart runs while the gateway is stopped (ExecStartPre=). In the SQLite era that is exactly
when OpenClaw cannot change a session: `openclaw sessions delete|archive` and the patch that
would defuse a resume are gateway calls, and sessionctl never writes SQL (spec §6.3). And a
sessions.json must never appear (the gateway refuses to start while one exists, spec §5.7).
So for each SQLite-era agent prestart reads the database (read-only) and says:

- which sessions the start will resume (`sessions.resume_on_start`, sessionctl/resume.py),
  with the stale ones — it cannot defuse them;
- what gc's policy would delete or archive there — done by `sessionctl gc` once the gateway
  runs (the gc timer), not by prestart.

The health summary step covers these agents like every other.
"""

from __future__ import annotations

from sessionctl.context import RunContext
from sessionctl.jsonjs import JsonObj
from sessionctl.policy import Policy, plan_gc
from sessionctl.resume import sqlite_resumes_on_start
from sessionctl.sqlite.reader import read_agent_db
from sessionctl.sqlite.snapshot import is_synthetic, sqlite_snapshot

NOT_DONE = (
    "OpenClaw changes SQLite-era sessions only through its running gateway (`openclaw sessions "
    "delete|archive` are gateway calls) and sessionctl never writes to the databases: prestart reports "
    "these agents and changes nothing in them; `sessionctl gc` applies the policy once the gateway runs"
)


def sqlite_report(
    ctx: RunContext, policy: Policy | None, resume_window_ms: int
) -> tuple[JsonObj | None, list[tuple[str, str]]]:
    """(the `sqlite` part of prestart's report, log lines). None when there is no SQLite-era agent."""

    stores = [s for s in ctx.discovery.stores if s.layout == "sqlite" and s.sqlite_path is not None]
    if not stores:
        return None, []
    logs: list[tuple[str, str]] = []
    agents: list[JsonObj] = []
    gc_snaps = []
    for st in stores:
        assert st.sqlite_path is not None
        adb = read_agent_db(st.agent_id, st.sqlite_path, st.sessions_dir, integrity=None)
        entry: JsonObj = {
            "agent": st.agent_id,
            "db": str(st.sqlite_path),
            "status": adb.status,
            "message": adb.error or (adb.problem[1] if adb.problem else None),
            "resume_on_start": [],
            "gc": {"delete": [], "archive": []},
        }
        agents.append(entry)
        if not adb.ok:
            logs.append(
                ("warning", f"prestart: agent {st.agent_id}: SQLite database not read: {entry['message']}")
            )
            continue
        snap = sqlite_snapshot(st, adb, main_key=ctx.openclaw.main_key)
        nodes = {n.key: n for n in adb.nodes}
        for ev in snap.entries:
            if sqlite_resumes_on_start(ev.key, ev.obj, nodes[ev.key].status):
                active, _src = ev.last_active_ms()
                idle = max(0, ctx.now_ms - active) if active is not None else None
                entry["resume_on_start"].append(
                    {"key": ev.key, "idle_ms": idle, "stale": idle is None or idle > resume_window_ms}
                )
        resume = entry["resume_on_start"]
        if resume:
            stale = sum(1 for r in resume if r["stale"])
            logs.append(
                (
                    "warning" if stale else "notice",
                    f"prestart: agent {st.agent_id}: {len(resume)} session(s) will be resumed when the gateway "
                    f"starts ({stale} stale): {', '.join(r['key'] for r in resume[:5])}"
                    + (" …" if len(resume) > 5 else "")
                    + " — prestart cannot defuse them in the SQLite era (a gateway call)",
                )
            )
        gc_snaps.append(sqlite_snapshot(st, adb, main_key=ctx.openclaw.main_key, include="gc"))
    if policy is not None and policy.openclaw_only:
        logs.append(
            (
                "info",
                "prestart: SQLite-era agents: OpenClaw applies its own session.maintenance to them itself; "
                "gc plans them only with a policy of its own (flags or [gc])",
            )
        )
    elif policy is not None and policy.has_expiry and gc_snaps:
        plan = plan_gc(gc_snaps, policy, ctx.now_ms)
        by_agent = {a["agent"]: a for a in agents}
        for ap in plan.agents:
            for d in ap.expired:
                by_agent[ap.agent]["gc"]["delete" if is_synthetic(d.key) else "archive"].append(d.key)
        for a in agents:
            n_del, n_arch = len(a["gc"]["delete"]), len(a["gc"]["archive"])
            if n_del or n_arch:
                logs.append(
                    (
                        "notice",
                        f"prestart: agent {a['agent']}: gc would delete {n_del} and archive {n_arch} session(s) "
                        "through OpenClaw — left for `sessionctl gc` once the gateway runs",
                    )
                )
    return {"agents": agents, "not_done": NOT_DONE}, logs
