"""health, entry.stale and sessions.resume_on_start: what gc's policy would expire and
what the next gateway start resumes."""

from __future__ import annotations

from sessionctl.context import RunContext
from sessionctl.findings import Finding, fix_cmd
from sessionctl.health.stats import AgentStats
from sessionctl.policy.model import Policy
from sessionctl.policy.plan import collect_transcript_locks, plan_gc, refusal_findings
from sessionctl.resume import detect_era, file_resume_finding
from sessionctl.snapshot import AgentSnapshot
from sessionctl.thresholds import HealthThresholds


def _rule_source(policy: Policy, kind: str, rule: str | None) -> str | None:
    r = policy.rule_for(kind)
    if rule == "max-age" and r.max_age is not None:
        return str(r.max_age.source)
    if rule == "idle" and r.idle is not None:
        return str(r.idle.source)
    if rule == "cap":
        cap = r.cap or policy.cap
        return str(cap.source) if cap is not None else None
    return None


def resume_checks(
    ctx: RunContext, snaps: list[AgentSnapshot], stats: list[AgentStats], thr: HealthThresholds, now_ms: int
) -> list[Finding]:
    """sessions.resume_on_start of the file-era agents: the resume set of the release that
    will start (sessionctl/resume.py: a running gateway's version, else the installed
    openclaw's, else the widest file-era rule)."""

    file_snaps = [s for s in snaps if s.store.layout == "file" and s.load.data is not None]
    if not file_snaps:
        return []
    info = detect_era(ctx.state_dir)
    by_agent = {s.agent: s for s in stats if s.layout == "file"}
    out: list[Finding] = []
    for snap in file_snaps:
        n, f = file_resume_finding(snap, info, thr, now_ms)
        st = by_agent.get(snap.agent_id)
        if st is not None:
            st.resume_on_start = n
        if f is not None:
            out.append(f)
    return out


def stale_checks(snaps: list[AgentSnapshot], policy: Policy, now_ms: int) -> list[Finding]:
    """entry.stale: the sessions the configured gc policy would expire, from gc's own
    pure planner (sessionctl.policy.plan.plan_gc) — the same decision `gc --dry-run` shows."""

    if not policy.has_expiry:
        return []
    locks = collect_transcript_locks(snaps)  # gc keeps sessions whose transcript is locked
    plan = plan_gc(snaps, policy, now_ms, transcript_locks=locks, files=False)  # no file is moved

    out: list[Finding] = refusal_findings(plan, "info")
    for ap in plan.agents:
        refused = (
            " (gc leaves this agent untouched: it would expire every session of the agent)"
            if ap.refused
            else ""
        )
        for d in ap.would_expire:
            src = _rule_source(policy, d.kind, d.rule)
            out.append(
                Finding(
                    "entry.stale",
                    "info",
                    ap.agent,
                    f"gc would expire it: {d.reason}" + (f" ({src})" if src else "") + refused,
                    key=d.key,
                    fix=fix_cmd("gc", ap.agent),
                    data={
                        "rule": d.rule,
                        "reasons": d.reasons,
                        "source": src,
                        "age_ms": d.age_ms,
                        "idle_ms": d.idle_ms,
                        "gc_refuses": bool(ap.refused),
                    },
                )
            )
    return out
