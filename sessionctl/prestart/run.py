"""prestart's driver: setup (state dir, configs, policy, the gateway refusal) → plan →
each step through `run_step` (the deadline checked before it, its stop check at its
safe points, its outcome recorded) → validate."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from sessionctl.config import (
    SessionctlConfig,
    load_openclaw_config,
    load_sessionctl_config,
    resolve_state_dir,
)
from sessionctl.context import RunContext
from sessionctl.discovery import discover
from sessionctl.errors import (
    ConfigError,
    NotFoundError,
    PermissionDenied,
    SessionctlError,
    StepStopped,
    from_os_error,
)
from sessionctl.fsio import anchor
from sessionctl.gateway import Gateway, find_gateways
from sessionctl.policy.model import Policy, PolicyOverrides
from sessionctl.policy.sources import resolve_defuse, resolve_policy
from sessionctl.prestart import steps
from sessionctl.prestart.deadline import Deadline, fmt_ms
from sessionctl.prestart.estimate import (
    cpu_gc,
    cpu_health,
    cpu_repair,
    est_backup,
    est_bindings,
    est_gc,
    est_health,
    est_repair,
    repair_read_facts,
)
from sessionctl.prestart.plan import PlanOverrun, plan
from sessionctl.prestart.report import MUTATING, STEPS, PrestartReport, StepReport
from sessionctl.prestart.state import LogFn, PrestartOptions, PrestartState
from sessionctl.result import LogLevel
from sessionctl.timeutil import parse_now


class _NothingToDo(Exception):
    pass


def run_prestart(opts: PrestartOptions, deadline: Deadline, log: LogFn) -> PrestartReport:
    """Run prestart (see the package docstring). Returns the report; raises only for a bad
    command line (UsageError) and a store it may not read (PermissionDenied, 77, before any
    change); everything else becomes a step outcome in the report."""

    rep = PrestartReport(None, 0, deadline.budget_ms)
    rep.now_ms = parse_now(opts.now)  # a bad --now is a usage error (64)
    try:
        p = setup(opts, deadline, log, rep)
    except _NothingToDo as stop:
        rep.note = str(stop)
        for s in rep.steps:
            s.status, s.reason = "skipped", str(stop)
        rep.elapsed_ms = deadline.elapsed_ms()
        return rep
    try:
        plan(p)
    except PlanOverrun:
        left = max(0, p.deadline.remaining_ms())
        p.stopped = (
            f"deadline: reading the stores for the plan used it up ({fmt_ms(left)} left); nothing is changed"
        )
        rep.stopped_at = "backup"
        p.log(
            "warning",
            f"prestart: stopping before backup (reading the stores for the plan used up the deadline, "
            f"{fmt_ms(left)} left); skipped: {', '.join(STEPS)}",
        )
    except PermissionDenied:
        raise  # sessionctl runs as the wrong user: 77 with the one hint, nothing changed
    except (SessionctlError, OSError) as exc:
        err = exc if isinstance(exc, SessionctlError) else from_os_error(exc, "cannot plan")
        p.stopped = f"could not plan: {err.message}"
        rep.errors.append({**err.to_json(), "step": "plan"})
        p.log("error", f"prestart: {p.stopped}; nothing is changed")
    # each estimate is made when its step comes: it uses what the steps before measured
    c = p.costs
    run_step(p, "backup", est_backup(c), steps.backup_step)
    run_step(p, "repair", est_repair(c), steps.repair_step, lambda: cpu_repair(c))
    run_step(
        p,
        "gc",
        est_gc(c, repair_read_facts(rep)),
        steps.gc_step,
        lambda: cpu_gc(c, repair_read_facts(rep)),
    )
    run_step(p, "bindings", est_bindings(c), steps.bindings_step)
    run_step(p, "retention", 20, steps.retention_step)
    run_step(p, "health", est_health(c), steps.health_step, lambda: cpu_health(c))
    steps.validate(p)
    rep.elapsed_ms = p.deadline.elapsed_ms()
    skipped = rep.skipped()
    tail = f"; skipped: {', '.join(skipped)}" if skipped else ""
    level: LogLevel = "notice" if rep.valid else "error"
    p.log(level, f"prestart: finished in {fmt_ms(rep.elapsed_ms)} of {fmt_ms(rep.deadline_ms)}{tail}")
    return rep


def refusal(reason: str, gws: Sequence[Gateway]) -> dict[str, object]:
    """report.refused: why nothing (more) is changed, and the gateways that were seen."""
    return {
        "reason": reason,
        "gateways": [{"pid": x.pid, "version": x.version, "cmdline": " ".join(x.cmdline)[:200]} for x in gws],
    }


def setup(opts: PrestartOptions, deadline: Deadline, log: LogFn, rep: PrestartReport) -> PrestartState:
    """The state dir, the configs and the policy, read-only (a bad flag is 64 whatever
    runs); _NothingToDo without a state dir or with a gateway running for it."""

    try:
        sd = resolve_state_dir(opts.state_dir)
    except NotFoundError as exc:
        log("warning", f"prestart: {exc.message}; nothing to do (OpenClaw creates it on first start)")
        raise _NothingToDo(f"{exc.message}: nothing to do") from None
    rep.state_dir = str(sd)

    anchor(sd)  # writes below it walk from its verified fd (fsio.open_dir)
    # read-only first: the configs and the policy, so a bad flag is exit 64 whatever runs
    oc = load_openclaw_config(sd)
    policy_error: str | None = None
    try:
        sc = load_sessionctl_config(opts.config, sd)
    except ConfigError as exc:
        sc = SessionctlConfig()
        policy_error = exc.message
        config_error: SessionctlError | None = exc
    else:
        config_error = sc.error
        if sc.error is not None:  # health still runs, with the default thresholds
            policy_error = sc.error.message
            sc = SessionctlConfig()
    disc = discover(sd, oc, opts.agents or None)
    ctx = RunContext(
        sd,
        rep.now_ms,
        opts.now is not None,
        oc,
        sc,
        disc,
        opts.agents or None,
        opts.progress,
    )

    overrides = opts.overrides or PolicyOverrides()
    usable: Policy | None = None
    try:
        policy = resolve_policy(ctx, overrides)  # UsageError (a bad flag) propagates: 64
        # the restart resume set: limited at every start (defaults 4 and 1h)
        policy.defuse = resolve_defuse(ctx, opts.max_resume, opts.resume_within)
    except ConfigError as exc:
        policy_error = policy_error or exc.message
        config_error = config_error or exc
    else:
        if config_error is None:
            usable = policy

    gws = find_gateways(sd)
    if gws:
        g = gws[0]
        rep.refused = refusal("gateway_running", gws)
        msg = (
            f"{g.describe()} is running for {sd} (command line: {' '.join(g.cmdline)[:120]}); "
            "prestart changes nothing while a gateway runs — it belongs in the unit's ExecStartPre=, "
            "which runs while the gateway is stopped"
        )
        log("warning", f"prestart: {msg}")
        raise _NothingToDo("a gateway is running for this state dir: nothing was done")
    if oc.error:
        log("warning", f"prestart: {oc.error} (read as an empty config)")
    for sk in disc.skipped:
        log("warning", f"prestart: {sk.what} {sk.path}: {sk.reason}")
    if config_error is not None:
        rep.errors.append({**config_error.to_json(), "step": "gc"})
        log(
            "error",
            f"prestart: {config_error.message}; gc and run retention are skipped, the other steps run",
        )
    return PrestartState(opts, deadline, log, rep, ctx, usable, policy_error)


def run_step(
    p: PrestartState,
    name: str,
    estimate_ms: int,
    fn: Callable[[PrestartState, StepReport], None],
    cpu_model: Callable[[], float] | None = None,
) -> None:
    """Run one step if the deadline, a gateway and the steps before allow it; record its
    outcome in its StepReport (an error of the step is its `failed` outcome)."""

    st = p.report.step(name)
    st.estimate_ms = estimate_ms
    p.ctx.tick(name, STEPS.index(name), len(STEPS))
    if p.stopped is not None:
        st.status, st.reason = "skipped", p.stopped
        return
    if name in MUTATING and p.no_change is not None:
        st.status, st.reason = "skipped", p.no_change
        return
    if name in MUTATING and gateway_appeared(p):
        return
    if not p.deadline.fits(estimate_ms):
        left = max(0, p.deadline.remaining_ms())
        p.stopped = f"deadline: stopped before {name} ({fmt_ms(left)} left, it needs ~{fmt_ms(estimate_ms)})"
        p.report.stopped_at = name
        st.status, st.reason = "skipped", p.stopped
        rest = [s.name for s in p.report.steps if s.status == "skipped" and s.reason is None]
        p.log(
            "warning",
            f"prestart: stopping before {name} ({fmt_ms(left)} of the deadline left, {name} needs "
            f"~{fmt_ms(estimate_ms)}); skipped: {', '.join([name, *rest])}",
        )
        return
    t0 = p.deadline.elapsed_ms()
    cpu = cpu_model() if cpu_model is not None else None
    p.ctx.stop_check = stop_check(p.deadline, name, estimate_ms)
    try:
        fn(p, st)
    except StepStopped as exc:
        st.status, st.reason = "stopped", exc.message
        p.stopped = exc.message
        p.report.stopped_at = name
        p.log("warning", f"prestart: {name}: {exc.message}")
    except SessionctlError as exc:
        st.status, st.reason = "failed", exc.message
        p.report.errors.append({**exc.to_json(), "step": name})
    except OSError as exc:
        err = from_os_error(exc, f"{name} failed")
        st.status, st.reason = "failed", err.message
        p.report.errors.append({**err.to_json(), "step": name})
    except Exception as exc:
        if os.environ.get("SESSIONCTL_DEBUG"):
            raise
        st.status, st.reason = "failed", f"internal error: {type(exc).__name__}: {exc}"
        p.report.errors.append(
            {
                "code": "internal",
                "message": f"{name}: {st.reason}",
                "hint": "this is a bug in sessionctl; rerun with SESSIONCTL_DEBUG=1 for the traceback",
                "step": name,
            }
        )
    finally:
        p.ctx.stop_check = None
    st.elapsed_ms = p.deadline.elapsed_ms() - t0
    if cpu is not None and st.status in ("done", "nothing_to_do"):
        p.costs.learn(cpu, st.elapsed_ms)
    if st.status == "failed":
        p.log("warning", f"prestart: {name}: {st.status} — {st.reason}")


def stop_check(dl: Deadline, name: str, estimate_ms: int) -> Callable[[], str | None]:
    """What the running step asks at its safe points (RunContext.checkpoint): once it
    has used up the deadline but its reserve, it stops there. (It was started only
    because its estimate fitted: reaching the reserve means it overran that estimate.)"""

    def check() -> str | None:
        left = dl.remaining_ms() - dl.reserve_ms
        if left > 0:
            return None
        return (
            f"deadline: {name} overran its estimate (~{fmt_ms(estimate_ms)}) and was stopped at a "
            f"safe point with {fmt_ms(max(0, dl.remaining_ms()))} of the deadline left"
        )

    return check


def gateway_appeared(p: PrestartState) -> bool:

    gws = find_gateways(p.ctx.state_dir)
    if not gws:
        return False
    g = gws[0]
    p.stopped = f"{g.describe()} started while prestart ran; nothing more is changed"
    p.report.refused = refusal("gateway_started", gws)
    for s in p.report.steps:
        if s.status == "skipped" and s.reason is None:
            s.reason = p.stopped
    p.log("warning", f"prestart: {p.stopped}")
    return True
