"""health: validate every store and transcript and report findings. Read-only.

Every check is a function of (snapshot, thresholds, now) that returns Findings; the
check ids are a public contract (docs/health.md). Nothing here writes, prints or exits.

One module per level of checks — store, entries, transcripts, folder (orphans, locks,
temp files, archives), storms (spawn storms), stale (entry.stale, resume_on_start),
cross_agent (peers, bindings), runs — over stats (AgentStats, the file kinds); report is
the driver (run_health, HealthReport, SqliteHealth) and the only one that imports them all.

Clocks: entry ages, idle times, binding expiry and spawn storms use the run's clock
(`ctx.now_ms`, `--now`). Lock ages, temp-file ages and leftovers use the wall clock:
they are about processes and files that exist *now*, whatever `--now` says.
"""

from sessionctl.health.report import HealthReport, SqliteHealth, run_health
from sessionctl.health.stats import AgentStats

__all__ = ["AgentStats", "HealthReport", "SqliteHealth", "run_health"]
