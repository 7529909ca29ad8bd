"""Text from stores and config values sessionctl cannot use, at the edges:

- a session key (or any string from a store or file) is printed terminal-safe in human
  output: control characters, ESC sequences, newlines and bidi overrides are escaped, so a
  key cannot recolour the terminal or forge a log line;
- an unreadable `session.maintenance.*` value is a `config.unparseable` warning with
  OpenClaw's defaults, never UNKNOWN without findings (docs/health.md);
- a plain-JSON openclaw.json is parsed by orjson; the (slow) JSON5 parser reads only what
  orjson refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.helpers import DAY_MS, NOW_ISO, NOW_MS, StateDir, run_clis, run_json

from sessionctl.config import load_openclaw_config

# ------------------------------------------------------------ terminal-safe text

FORGED = "status: OK — 0 critical, 0 warning, 0 info"
HOSTILE_KEYS = [
    "agent:main:explicit:clear\x1b[2J\x1b[31mred",
    f"agent:main:explicit:forge\n{FORGED}",
    "agent:main:explicit:cr\rover\u202eevil\x9b1m\x07",
]
RAW = ("\x1b", "\r", "\x9b", "\u202e", "\x07")


def _hostile_state(state: StateDir) -> None:
    state.write_config({"session": {"maintenance": {"pruneAfter": "1d"}}})
    state.add_session("main", "agent:main:main", updated_at=NOW_MS)
    for key in HOSTILE_KEYS:
        state.add_session("main", key, updated_at=NOW_MS - 3 * DAY_MS)


def test_store_keys_are_printed_terminal_safe_and_cannot_forge_a_line(state: StateDir) -> None:
    _hostile_state(state)
    sd = ["--state-dir", str(state.root), "--now", NOW_ISO]
    results = run_clis(
        ["list", *sd],
        ["list", *sd, "--format", "tsv"],
        ["health", *sd, "-v"],
        ["gc", *sd, "--dry-run", "-v"],
        ["gc", *sd, "--dry-run", "-q"],
    )
    lst, tsv, health, gc, quiet = results
    assert quiet.stdout.count("\n") == 1
    for res in results:
        assert res.rc in (0, 1, 2), res
        for ch in RAW:
            assert ch not in res.stdout and ch not in res.stderr, (repr(ch), res)
        lines = (res.stdout + res.stderr).splitlines()
        assert not any(ln.startswith("status: OK") for ln in lines), res.stdout
    # each key is one line, shown with visible escapes
    for res in (lst, gc):
        assert "agent:main:explicit:clear\\x1b[2J\\x1b[31mred" in res.stdout
        assert f"agent:main:explicit:forge\\n{FORGED}" in res.stdout
        assert "agent:main:explicit:cr\\rover\\u202eevil\\x9b1m\\x07" in res.stdout
    assert len(lst.stdout.splitlines()) == 1 + 1 + len(HOSTILE_KEYS)
    assert len(tsv.stdout.splitlines()) == 1 + 1 + len(HOSTILE_KEYS)
    assert all(
        len(ln.split("\t")) == len(tsv.stdout.splitlines()[0].split("\t")) for ln in tsv.stdout.splitlines()
    )
    # health names the stale sessions by key: escaped there too
    assert "forge\\n" in health.stdout and "entry.stale" in health.stdout
    # the JSON envelope keeps the exact key (JSON escapes it itself)
    _rc, env, _ = run_json("list", *sd)
    assert sorted(r["key"] for r in env["sessions"]) == sorted(["agent:main:main", *HOSTILE_KEYS])


def test_safe_escapes_controls_and_keeps_printable_text() -> None:
    from sessionctl.views.fmt import safe

    assert safe("agent:main:telegram:direct:日本語 ✓ [bold]") == "agent:main:telegram:direct:日本語 ✓ [bold]"
    assert safe("a\nb\tc\x1b[0m\x7f\u2028\ud800") == "a\\nb\\tc\\x1b[0m\\x7f\\u2028\\ud800"


# ------------------------------------------------------------ session.maintenance values


@pytest.mark.parametrize(
    ("literal", "key"),
    [
        ('{"pruneAfter": null}', "pruneAfter"),
        ('{"pruneAfter": 30}', "pruneAfter"),
        ("{pruneAfter: Infinity}", "pruneAfter"),  # JSON5, as OpenClaw's config allows
        ('{"pruneAfter": "1mo"}', "pruneAfter"),
        ('{"maxEntries": "lots"}', "maxEntries"),
        ('{"maxEntries": -1}', "maxEntries"),
    ],
)
def test_an_unreadable_maintenance_value_is_a_warning_with_defaults(
    state: StateDir, literal: str, key: str
) -> None:
    state.write_config('{"session": {"maintenance": ' + literal + "}}")
    state.add_session("main", "agent:main:main", updated_at=NOW_MS)
    state.add_session("main", "agent:main:telegram:direct:1", updated_at=NOW_MS - 40 * DAY_MS)
    sd = ["--state-dir", str(state.root), "--now", NOW_ISO]
    rc, env, err = run_json("health", *sd)
    assert rc != 3 and env["status"] != "unknown", (env["errors"], err)
    found = [f for f in env["findings"] if f["check"] == "config.unparseable"]
    assert len(found) == 1, env["findings"]
    assert found[0]["severity"] == "warning"
    assert f"session.maintenance.{key}" in found[0]["message"] and "OpenClaw's default" in found[0]["message"]
    # the defaults apply: 30d idle makes the 40-day-old session stale, as OpenClaw would prune it
    assert any(f["check"] == "entry.stale" for f in env["findings"]), env["findings"]
    # a dry run warns and goes on; a real gc refuses to guess (78), naming the key
    rc, _dry, err = run_json("gc", *sd, "--dry-run")
    assert rc == 0 and f"session.maintenance.{key}" in err, err
    rc, real, _ = run_json("gc", *sd)
    assert rc == 78 and f"session.maintenance.{key}" in real["errors"][0]["message"]


# ------------------------------------------------------------ openclaw.json: orjson first


def _refuse_json5(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import json5

    calls: list[str] = []

    def slow_path(text: str, *a: Any, **k: Any) -> Any:
        calls.append(text[:40])
        raise AssertionError("plain JSON must not reach the JSON5 parser")

    monkeypatch.setattr(json5, "loads", slow_path)
    return calls


def test_a_10mb_plain_json_openclaw_json_never_reaches_the_json5_parser(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = [
        {"id": f"agent{i}", "name": "x" * 200, "tools": {"allow": ["a" * 50] * 20}} for i in range(7000)
    ]
    config = {"agents": {"list": [{"id": "main", "default": True}, *agents]}, "session": {"dmScope": "main"}}
    path = state.write_config(config)
    assert path.stat().st_size > 10_000_000
    calls = _refuse_json5(monkeypatch)
    cfg = load_openclaw_config(state.root)
    assert cfg.error is None and calls == []
    assert len(cfg.agents) == 7001 and cfg.default_agent == "main" and cfg.dm_scope == "main"


def test_json5_syntax_still_goes_to_the_json5_parser(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.write_config(
        '// comment\n{agents: {list: [{id: "ops", default: true},]}, session: {mainKey: "Home"}}'
    )
    cfg = load_openclaw_config(state.root)
    assert cfg.error is None and cfg.agents == ["ops"] and cfg.main_key == "home"
    # and a file orjson refuses for a value (a lone surrogate escape) is read by JSON5, as Node does
    state.write_config(
        json.dumps({"agents": {"list": [{"id": "main"}]}, "x": "\\ud83d"}).replace("\\\\", "\\")
    )
    assert load_openclaw_config(state.root).agents == ["main"]


def test_openclaw_json_that_is_neither_is_reported(state: StateDir, tmp_path: Path) -> None:
    state.write_config("{agents: [")
    cfg = load_openclaw_config(state.root)
    assert cfg.error is not None and "is not valid JSON5" in cfg.error
