"""What the tests share (no tests here; tests/conftest.py puts tests/ on sys.path, so
import them as ``from support.helpers import ...``):

- ``helpers``: state dirs built from real files, the CLI in-process (``run_cli``,
  ``run_json``) and as a subprocess (``run_cli_subprocess``), tree snapshots;
- ``gc``: the real gc planner on a real state dir, the standard gc state;
- ``repair``: builders and checks of the repair / archive / dedupe tests;
- ``reliability``: crash scenarios, invariants after a kill, the gateway simulator;
- ``sqlite_fixture``: SQLite-era databases from OpenClaw's own schema;
- ``sample``: a copy of the state dir the real OpenClaw 2026.5.28 wrote;
- ``js_json_corpus``: odd JSON with Node's verdict on each.
"""
