"""prestart's steps, each a function of (state, its StepReport) run by
`run.run_step`: backup → safe repairs → gc → expired thread bindings → run retention →
health; `validate` decides the exit code. A step records its outcome in its StepReport
and leaves what the next step needs in the PrestartState."""

from __future__ import annotations

import os
from dataclasses import replace

from sessionctl import backup, bindings, repair
from sessionctl.actions import apply_rewrite
from sessionctl.bindings import BindingFile
from sessionctl.context import RunContext
from sessionctl.discovery import AgentStore
from sessionctl.errors import SessionctlError
from sessionctl.execute import Plan, RunSteps, exclusive, public_action, run_journaled, run_plan
from sessionctl.findings import SEVERITY_RANK
from sessionctl.fsio import sha256_bytes
from sessionctl.gc import run_gc
from sessionctl.health.report import run_health
from sessionctl.jsonjs import JsonObj
from sessionctl.policy.sources import DEFAULT_KEEP_RUNS
from sessionctl.prestart.report import StepReport, StoreCheck
from sessionctl.prestart.state import PrestartState, file_stamp
from sessionctl.runs import Run, prune_runs
from sessionctl.store import load_store, valid_for_openclaw
from sessionctl.timeutil import now_ms
from sessionctl.units import bytes_h

# the repairs prestart makes: nothing here guesses (no salvage, no line dropping,
# no entry removal); a bad-header transcript is renamed aside, because OpenClaw would
# otherwise replace it with a fresh header on its next load and lose the history
SAFE_REPAIRS = ("locks", "leftovers", "store", "transcripts")
SAFE_CHECKS = (
    "lock.stale",
    "leftover.store_tmp",
    "leftover.repair",
    "store.",
    "transcript.truncated_tail",
    "transcript.bad_header",
)


def backup_step(p: PrestartState, st: StepReport) -> None:
    """A backup run (backup.take_backup): every store as it is (damaged ones too: their
    bytes are evidence), the prompt blobs its entries reference, the thread-binding
    files — journaled, before anything else changes."""

    if p.costs.store_files == 0 and p.costs.binding_files == 0:
        st.status, st.reason = "nothing_to_do", "no sessions.json and no thread-binding file to back up"
        return
    t0 = p.deadline.elapsed_ms()
    try:
        # SQLite-era databases: prestart changes nothing in them, so no copy at every start
        out = backup.take_backup(p.ctx, argv=p.opts.argv, sqlite=False)
    except (SessionctlError, OSError) as exc:
        why = exc.message if isinstance(exc, SessionctlError) else str(exc)
        p.no_change = f"the backup failed ({why}): nothing is changed without one"
        raise
    for level, msg in out.logs:
        p.relay(level, f"prestart: backup: {msg}")
    files = len(out.backups)
    nbytes = sum(int(b.get("size") or 0) for b in out.backups)
    # in CPU-equivalent ms, as every model: the estimates multiply by the load
    p.costs.calibrate_copy(nbytes, 2 * files, int((p.deadline.elapsed_ms() - t0) / p.costs.load))
    st.run_id = p.backup_run = out.run_id
    st.status = "done"
    st.detail = {"files": files, "bytes": nbytes, "run_dir": out.run_dir}
    st.reason = f"{files} file(s), {bytes_h(nbytes)}"


def repair_step(p: PrestartState, st: StepReport) -> None:

    opts = repair.RepairOptions(only=SAFE_REPAIRS)
    safe = SAFE_CHECKS

    def make_plan() -> Plan:
        plan = repair.plan_repair(p.ctx, opts)
        plan.actions = [a for a in plan.actions if str(a.get("check", "")).startswith(safe)]
        return plan

    out = run_plan(p.ctx, make_plan, dry_run=False, force_online=False, phases=repair.repair_phases())
    plan = out.plan
    for exc in plan.refusals:
        p.log("error", f"prestart: repair: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
        p.report.errors.append({**exc.to_json(), "step": "repair"})
    for f in plan.problems:
        if f.severity != "info":
            p.log("warning", f"prestart: repair: {f.agent or '-'}: {f.message}")
    by_check: dict[str, int] = {}
    for a in plan.actions:
        if a.get("state") == "applied":
            c = str(a.get("check") or a["type"])
            by_check[c] = by_check.get(c, 0) + 1
    st.run_id = out.run_id
    st.changes = out.applied
    st.detail = {
        "applied": by_check,
        "skipped": [public_action(a, repair.REPAIR_TO_HEALTH) for a in out.skipped],
        "refused": [e.to_json() for e in plan.refusals],
    }
    if plan.refusals and not out.applied:
        st.status = "failed"
        st.reason = "; ".join(e.message for e in plan.refusals)
    elif out.applied:
        st.status = "done"
        st.reason = ", ".join(f"{n} {c}" for c, n in sorted(by_check.items()))
        if plan.refusals:
            st.reason += f"; refused: {'; '.join(e.message for e in plan.refusals)}"
    else:
        st.status = "nothing_to_do"
        st.reason = "no stale lock, leftover, truncated tail, bad header or damaged store"


def ok_agents_ctx(p: PrestartState) -> tuple[RunContext, list[str]]:
    """The context narrowed to the stores that parse (gc never cleans a store it
    cannot read; one damaged store must not stop gc for the others)."""
    keep: list[AgentStore] = []
    dropped: list[str] = []
    for store in p.ctx.discovery.stores:
        if store.layout == "sqlite":
            continue  # reported by _sqlite_plan: OpenClaw changes them only through its gateway
        if store.layout == "file" and not store.legacy_pending:
            path = str(store.store_path)
            if p.status_before.get(path) == "ok" and file_stamp(store.store_path) == p.stat_before.get(path):
                status = "ok"  # as the plan read it, untouched since
            else:
                status = load_store(store.store_path, slim=True).status
            if status not in ("ok", "missing"):
                dropped.append(store.agent_id)
                continue
        keep.append(store)
    # the same discovery (openclaw.json, skipped paths, agent folders), fewer stores
    disc = replace(p.ctx.discovery, stores=keep, skipped=list(p.ctx.discovery.skipped))
    return replace(p.ctx, discovery=disc), dropped


def gc_step(p: PrestartState, st: StepReport) -> None:
    if p.policy is None:
        st.status = "failed"
        st.reason = f"no usable gc policy: {p.policy_error}"
        return

    ctx, dropped = ok_agents_ctx(p)
    for agent in dropped:
        p.log("warning", f"prestart: gc: agent {agent} skipped: its sessions.json does not parse")
    if not p.policy.has_expiry:
        p.log(
            "notice",
            "prestart: gc: no gc policy is configured ([gc] in sessionctl.toml, flags, or OpenClaw's "
            "session.maintenance): no session expires by age, idle time or count",
        )
    out = run_gc(
        ctx,
        p.policy,
        dry_run=False,
        lock_timeout_s=p.lock_timeout_s(),
        argv=p.opts.argv,
    )
    p.gc_ran = True
    for level, msg in out.logs:
        p.relay(level, f"prestart: gc: {msg}")
    summary = out.summary()
    total = summary.get("total", {})
    st.run_id = out.run_id
    expired = int(total.get("expired", 0))
    archived = int(total.get("archived_files", 0))
    st.changes = expired + archived + int(summary.get("bindings_removed", 0))
    st.detail = {
        "policy": p.policy.describe(),
        "policy_source": p.policy.source,
        "expired": expired,
        "archived_files": archived,
        "bindings_removed": summary.get("bindings_removed", 0),
        "skipped_agents": [
            *out.skipped_agents,
            *({"agent": a, "reason": "store does not parse"} for a in dropped),
        ],
        "by_agent": {
            a: {"expired": s["expired"], "kept": s["kept"], "defused": s.get("defused", 0)}
            for a, s in summary["agents"].items()
        },
        "refused_agents": list(summary.get("refused_agents") or []),
        "resume_era": summary.get("resume_era"),
        "resume": [r.to_json() for ap in out.plan.agents for r in ap.defuse],
        "defused": int(total.get("defused", 0)),
    }
    defused = int(total.get("defused", 0))
    st.changes += defused
    for ap in out.plan.agents:
        if ap.refused:  # a warning: the other agents are cleaned all the same
            p.log("warning", f"prestart: gc: {ap.refused}")
    kept = [r for ap in out.plan.agents for r in ap.defuse if r.action == "keep"]
    if defused or kept:
        p.log(
            "notice",
            f"prestart: gc: restart resume set: {len(kept)} kept for the start "
            f"({', '.join(r.key for r in kept[:5])}{' …' if len(kept) > 5 else ''}), {defused} defused",
        )
    if out.errors:
        # part of gc could not run (a store stayed locked, ...): say so, never hide it
        msgs = [getattr(e, "message", str(e)) for e in out.errors]
        st.detail["errors"] = msgs
        for m in msgs:
            p.log("warning", f"prestart: gc: {m}")
        st.status = "failed"
        st.reason = f"gc stopped part-way ({len(msgs)} error(s)): {msgs[0]}" + (
            f"; run {out.run_id} holds what was done" if out.run_id else ""
        )
    elif out.run_id is None:
        st.status = "nothing_to_do"
        st.reason = f"no session exceeds the policy ({p.policy.describe()})"
    else:
        st.status = "done"
        st.reason = (
            f"{expired} session(s) expired, {archived} file(s) archived, {defused} resume(s) defused "
            f"({p.policy.describe()})"
        )
    if out.plan.refusals:
        st.reason = f"{st.reason}; left untouched (would be emptied): agent " + ", ".join(
            ap.agent for ap in out.plan.agents if ap.refused
        )


def bindings_step(p: PrestartState, st: StepReport) -> None:
    gc_step = p.report.step("gc")
    if gc_step.status in ("done", "nothing_to_do") and p.gc_ran:
        n = int(gc_step.detail.get("bindings_removed", 0))
        st.run_id = gc_step.run_id if n else None
        st.changes = n
        st.status = "done" if n else "nothing_to_do"
        st.reason = (
            f"{n} expired or dangling thread binding(s) removed by gc" if n else "no expired thread binding"
        )
        return
    expire_bindings_alone(p, st)


def expire_bindings_alone(p: PrestartState, st: StepReport) -> None:
    """When gc did not run: drop only bindings expired by their own limits (the
    gateway's sweeper rule), each file rewritten atomically after a backup."""

    now = p.ctx.now_ms
    edits: list[tuple[BindingFile, bytes, list[JsonObj]]] = []
    for bf in bindings.load_bindings(p.ctx.state_dir):
        if bf.error is not None or bf.raw is None:
            continue
        drop = [(b, why) for b in bf.bindings if (why := bindings.expired(b, now)) is not None]
        if drop:
            data = bindings.serialize(bf, bindings.without(bf, [b for b, _ in drop]))
            edits.append((bf, data, [{**b.to_json(), "reason": f"expired: {w}"} for b, w in drop]))
    if not edits:
        st.status, st.reason = "nothing_to_do", "no expired thread binding"
        return
    acts: list[tuple[JsonObj, bytes]] = []

    def record(run: Run) -> None:
        st.run_id = run.run_id
        for bf, data, removed in edits:
            assert bf.raw is not None  # files without their bytes were left out above
            a = run.add(
                {
                    "type": "file.rewrite",
                    "path": str(bf.path.relative_to(p.ctx.state_dir)),
                    "channel": bf.channel,
                    "before_sha256": sha256_bytes(bf.raw),
                    "after_sha256": sha256_bytes(data),
                    "removed_bindings": removed,
                    "reason": f"{len(removed)} expired thread binding(s) removed",
                }
            )
            a["backup"] = run.backup_file(bf.path, kind="binding")
            acts.append((a, data))

    def apply(run: Run) -> None:
        for a, data in acts:
            apply_rewrite(run, a, data)

    steps = RunSteps(
        record,
        apply,
        status=lambda run: "done" if all(a["state"] == "applied" for a, _ in acts) else "failed",
    )
    with exclusive(p.ctx, lock_timeout_s=p.lock_timeout_s()):
        run_journaled(p.ctx, "prestart", steps, argv=p.opts.argv)
    n = sum(len(a["removed_bindings"]) for a, _ in acts if a["state"] == "applied")
    st.changes = n
    st.status = "done"
    st.reason = f"{n} expired thread binding(s) removed"


def retention_step(p: PrestartState, st: StepReport) -> None:
    """Keep the run folders within --keep-runs / --keep-within ([gc] keep-runs /
    keep-within); without either, the newest DEFAULT_KEEP_RUNS (policy/sources.py). Never this run's."""

    if p.policy_error is not None:
        st.status = "skipped"
        st.reason = (
            "sessionctl.toml could not be read: its keep-runs / keep-within are unknown, nothing pruned"
        )
        return
    keep_runs = p.policy.keep_runs if p.policy is not None else None
    kw = p.policy.keep_within if p.policy is not None else None
    keep_within_ms = kw.ms if kw is not None else None
    if keep_runs is None and keep_within_ms is None:
        keep_runs = DEFAULT_KEEP_RUNS
    removed = prune_runs(
        p.ctx.state_dir,
        keep_runs=keep_runs,
        keep_within_ms=keep_within_ms,
        now=now_ms(),  # run folders are dated by the wall clock
        protect={s.run_id for s in p.report.steps if s.run_id},  # every run of this prestart
    )
    st.changes = len(removed)
    st.detail = {"keep_runs": keep_runs, "keep_within_ms": keep_within_ms, "removed": removed}
    st.status = "done" if removed else "nothing_to_do"
    st.reason = f"{len(removed)} old run folder(s) removed" if removed else "no run folder past retention"


def health_step(p: PrestartState, st: StepReport) -> None:

    rep = run_health(p.ctx)
    counts = rep.counts()
    status = "critical" if counts["critical"] else "warning" if counts["warning"] else "ok"
    top = sorted(
        (f for f in rep.findings if f.severity != "info"),
        key=lambda f: -SEVERITY_RANK[f.severity],
    )
    p.report.health = {
        "status": status,
        "summary": counts,
        "by_check": rep.by_check(),
        "agents": [
            {
                "agent": a.agent,
                "layout": a.layout,
                "store_status": a.store_status,
                "entries": a.entries,
                "store_bytes": a.store_bytes,
                "transcripts": a.transcripts,
            }
            for a in rep.agents
        ],
        "top": [
            {
                "check": f.check,
                "severity": f.severity,
                "agent": f.agent,
                "key": f.key,
                "message": f.message,
                "fix": f.fix,
            }
            for f in top[:8]
        ],
        "more": max(0, len(top) - 8),
    }
    st.status = "done"
    st.reason = (
        f"{status.upper()}: {counts['critical']} critical, {counts['warning']} warning, {counts['info']} info"
    )


def validate(p: PrestartState) -> None:
    """Is every store OpenClaw reads left valid? Re-read the ones that changed (or
    were bad); trust the plan's read for the ones nobody touched."""

    for store in p.ctx.discovery.stores:
        path = str(store.store_path)
        if store.legacy_pending:
            p.report.stores.append(
                StoreCheck(
                    store.agent_id,
                    path,
                    "legacy",
                    True,
                    "legacy store pending SQLite migration; not read by OpenClaw",
                )
            )
            continue
        if store.layout != "file":
            appeared = path in p.no_store_before and os.path.lexists(path)
            msg = (
                "a sessions.json appeared beside the SQLite database during prestart: OpenClaw refuses to start"
                if appeared
                else None
            )
            p.report.stores.append(StoreCheck(store.agent_id, path, store.layout, not appeared, msg))
            if appeared:
                p.log("error", f"prestart: agent {store.agent_id}: {msg} ({path})")
            continue
        before = p.status_before.get(path)
        if before == "ok" and file_stamp(store.store_path) == p.stat_before.get(path):
            status, msg = "ok", None
        else:
            load = load_store(store.store_path, slim=True)  # the status is the same as a full parse's
            status, msg = load.status, load.error
        valid = valid_for_openclaw(status, msg)  # what OpenClaw loads with its entries
        p.report.stores.append(StoreCheck(store.agent_id, path, status, valid, msg))
        if not valid:
            p.log(
                "error",
                f"prestart: agent {store.agent_id}: {path} is left {status} ({msg}); OpenClaw would read it "
                "as empty and overwrite it — exit 65 keeps the gateway from starting (ExecStartPre=- would "
                f"start it anyway); fix: sessionctl repair --only store --agent {store.agent_id}",
            )
            p.report.errors.append(
                {
                    "code": "invalid_data",
                    "message": f"agent {store.agent_id}: sessions.json is left {status}: {msg}",
                    "path": path,
                    "hint": f"sessionctl repair --only store --agent {store.agent_id} (or sessionctl restore)",
                }
            )
