"""gc policy: where the limits come from (sources: `resolve_policy`, flags >
sessionctl.toml > openclaw.json) and what they expire (plan: `plan_gc`, a pure function
of snapshots, policy, now and transcript-lock facts), over the types both use (model).

The names commands, gc and health use are re-exported here.
"""

from sessionctl.policy.model import (
    Cap,
    ConfigProblem,
    Limit,
    Policy,
    PolicyOverrides,
    Rule,
)
from sessionctl.policy.plan import (
    AgentPlan,
    ArchivePurge,
    Decision,
    FileArchive,
    GcPlan,
    collect_transcript_locks,
    plan_gc,
    refusal_findings,
)
from sessionctl.policy.sources import (
    DEFAULT_KEEP_RUNS,
    resolve_defuse,
    resolve_policy,
    resolve_retention,
)

__all__ = [
    "DEFAULT_KEEP_RUNS",
    "AgentPlan",
    "ArchivePurge",
    "Cap",
    "ConfigProblem",
    "Decision",
    "FileArchive",
    "GcPlan",
    "Limit",
    "Policy",
    "PolicyOverrides",
    "Rule",
    "collect_transcript_locks",
    "plan_gc",
    "refusal_findings",
    "resolve_defuse",
    "resolve_policy",
    "resolve_retention",
]
