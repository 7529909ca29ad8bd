#!/usr/bin/env python3
"""Generate a small REAL state dir with OpenClaw and copy it as a fixture.

usage: python -m interop.generate_sample [--version V] [--dest DIR] [--work DIR]

Runs the fake model, creates ``<work>/state`` (agents ``main`` and ``ops``), drives a
spread of session keys through ``openclaw agent --local``, records timings and any
lock files seen in the sessions folders, then copies openclaw.json (apiKey redacted)
and ``agents/*/sessions/**`` byte for byte to DEST (default
``interop/sample-state-<version>``) and writes ``DEST/../sample-state-<version>.run.json``
with what happened. ``--work`` defaults to ``/tmp/sessionctl-sample-<version>`` so the
absolute ``sessionFile`` paths inside the sample are predictable.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interop import harness as h

HOOK_UUID = "0b5f3c1e-7a52-4d8e-9a0c-2f4b6d8e1a37"

PLAN = [
    ("main", "agent:main:main", "hello from the main session"),
    ("main", "agent:main:telegram:direct:12345", "hi via telegram dm"),
    ("main", "agent:main:discord:group:999", "hello discord group"),
    ("main", "agent:main:explicit:foo", "explicit session foo"),
    ("ops", "agent:ops:cron:nightly", "nightly cron job run"),
    ("ops", f"agent:ops:hook:{HOOK_UUID}", "webhook event"),
    ("main", "agent:main:main", "second turn in main"),
]

PLAN_LEGACY = [
    ("main", "agent:main:main", "hello from the main session"),
    ("main", "agent:main:discord:group:999", "hello discord group"),
    ("main", "agent:main:explicit:foo", "explicit session foo"),
    ("ops", "agent:ops:main", "ops main session"),
    ("main", "agent:main:telegram:direct:12345", "hi via telegram dm (seeded key)"),
    ("ops", "agent:ops:cron:nightly", "nightly cron job run (seeded key)"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default=h.DEFAULT_VERSION)
    ap.add_argument("--dest")
    ap.add_argument("--work")
    args = ap.parse_args(argv)
    version = args.version
    dest = Path(args.dest) if args.dest else h.INTEROP_DIR / f"sample-state-{version}"
    work = Path(args.work) if args.work else Path(f"/tmp/sessionctl-sample-{version}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)

    t0 = time.monotonic()
    h.install(version)
    install_s = time.monotonic() - t0
    legacy = not h.supports_session_key(version)
    plan = PLAN_LEGACY if legacy else PLAN
    report: dict = {"version": version, "install_seconds": round(install_s, 1), "runs": []}
    with h.fake_model() as port:
        state = h.make_state_dir(work, ["main", "ops"], port)
        for agent, key, msg in plan:
            r = h.run_agent(state, agent, key, msg, version=version, watch=True)
            entry = {
                "agent": agent,
                "key": key,
                "argv": r.argv,
                "seconds": round(r.elapsed, 1),
                "durationMs": (r.output or {}).get("meta", {}).get("durationMs"),
                "sessionId": r.session_id,
                "seeded": r.seeded,
                "json_on": "stdout" if h.extract_json(r.stdout) is not None else "stderr",
                "new_files": sorted({n for _, n, c in r.events if c is None}),
                "locks": [
                    {"t": round(t, 3), "name": n, "content": c} for t, n, c in r.events if c is not None
                ],
            }
            report["runs"].append(entry)
            print(json.dumps({k: entry[k] for k in ("key", "seconds", "sessionId", "seeded")}), flush=True)
        for agent in ("main", "ops"):
            sp = h.store_path(state, agent)
            if not sp.exists():
                continue
            for name, fn in (
                ("sessions_json", h.openclaw_sessions_json),
                ("cleanup_dry_run", h.openclaw_cleanup_dry_run),
            ):
                try:
                    report[f"{name}_{agent}"] = fn(state, sp, version=version)
                except h.OpenClawError as e:
                    report[f"{name}_{agent}"] = {"error": str(e)}
    h.copy_sample(state, dest)
    (dest.parent / f"{dest.name}.run.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"sample written to {dest}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
