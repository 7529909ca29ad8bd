"""Where gc's limits come from: command line > [gc.kinds.<kind>] > [gc] of
sessionctl.toml > openclaw.json session.maintenance; bad values are config errors (78)
or usage errors (64) that say what to write. Durations are systemd style."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.gc import decision, plan_for
from support.helpers import DAY_MS, HOUR_MS, NOW_ISO, NOW_MS, StateDir

from sessionctl.context import make_context
from sessionctl.errors import ConfigError, UsageError
from sessionctl.policy import PolicyOverrides, resolve_policy
from sessionctl.timeutil import parse_duration


def _toml(state: StateDir, text: str) -> Path:
    p = state.root / "sessionctl.toml"
    p.write_text(text)
    return p


def _policy(state: StateDir, **ov: object):  # type: ignore[no-untyped-def]
    ctx = make_context(state_dir=str(state.root), now=NOW_ISO)
    return resolve_policy(ctx, PolicyOverrides(**ov))  # type: ignore[arg-type]


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("30s", 30_000),
        ("15min", 900_000),
        ("120h", 120 * HOUR_MS),
        ("5d", 5 * DAY_MS),
        ("1w", 7 * DAY_MS),
        ("2d12h", 60 * HOUR_MS),
        ("1h 30min", 90 * 60_000),
    ],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("5", "has no unit: write a number with a unit: 30s, 15min, 120h, 5d, 1w"),
        ("5m", "'m' is ambiguous; write 'min' for minutes (e.g. 15min)"),
        ("3 fortnights", "unknown unit"),
        ("", "empty duration"),
        ("h5", "cannot read duration"),
    ],
)
def test_bad_durations_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_duration(text)
    assert says in e.value.message


def test_a_bad_flag_duration_names_the_flag(state: StateDir) -> None:
    with pytest.raises(UsageError) as e:
        _policy(state, max_age="5m")
    assert e.value.message.startswith("--max-age: duration '5m': 'm' is ambiguous")


# ------------------------------------------------------------------ sources and precedence


def test_sessionctl_toml_per_kind_policies(state: StateDir) -> None:
    _toml(
        state,
        """
[gc]
idle = "30d"
[gc.kinds.cron-run]
idle = "24h"
[gc.kinds.subagent]
idle = "7d"
[gc.kinds.group]
idle = "90d"
[gc.kinds.explicit]
protect = true
""",
    )
    state.add_session("main", "agent:main:main", transcript=False)
    state.add_session("main", "agent:main:cron:j:run:1", updated_at=NOW_MS - 2 * DAY_MS, transcript=False)
    state.add_session("main", "agent:main:subagent:s", updated_at=NOW_MS - 2 * DAY_MS, transcript=False)
    state.add_session(
        "main", "agent:main:telegram:group:-1", updated_at=NOW_MS - 40 * DAY_MS, transcript=False
    )
    state.add_session("main", "agent:main:direct:p", updated_at=NOW_MS - 40 * DAY_MS, transcript=False)
    state.add_session("main", "agent:main:explicit:x", updated_at=NOW_MS - 400 * DAY_MS, transcript=False)
    plan = plan_for(state)
    assert "sessionctl.toml" in plan.policy.source
    assert decision(plan, "agent:main:cron:j:run:1").reason == "idle 2d > 24h"
    assert decision(plan, "agent:main:subagent:s").action == "keep"
    assert decision(plan, "agent:main:telegram:group:-1").action == "keep"
    assert decision(plan, "agent:main:direct:p").reason == "idle 40d > 30d"
    assert decision(plan, "agent:main:explicit:x").reason == "protected: kind explicit ([gc.kinds.explicit])"


def test_a_flag_replaces_that_limit_for_every_kind(state: StateDir) -> None:
    _toml(state, '[gc]\nidle = "30d"\nmax-age = "90d"\n[gc.kinds.cron-run]\nidle = "24h"\n')
    pol = _policy(state, idle="3d")
    assert pol.source.startswith("command line + sessionctl.toml")
    assert pol.rule_for("direct").idle.text == "3d"
    assert pol.rule_for("cron-run").idle.source == "--idle"
    assert pol.rule_for("cron-run").max_age.text == "90d"
    off = _policy(state, max_age="off")
    assert off.rule_for("direct").max_age is None
    assert off.rule_for("cron-run").idle.text == "24h"


def test_openclaw_maintenance_is_the_fallback_and_says_so(state: StateDir) -> None:
    state.write_config({"session": {"maintenance": {"mode": "enforce", "pruneAfter": "7d", "maxEntries": 3}}})
    pol = _policy(state)
    assert pol.source == "openclaw.json session.maintenance (pruneAfter → idle 7d, maxEntries 3)"
    assert pol.default.idle is not None and pol.default.idle.ms == 7 * DAY_MS
    assert pol.cap is not None and pol.cap.n == 3
    assert any("OpenClaw's own session.maintenance" in n for n in pol.notes)
    # any limit of ours replaces it entirely
    assert _policy(state, max_age="1d").cap is None


def test_openclaw_maintenance_defaults_fill_missing_fields(state: StateDir) -> None:
    state.write_config({"session": {"maintenance": {"mode": "warn"}}})
    pol = _policy(state)
    assert pol.default.idle is not None and pol.default.idle.ms == 30 * DAY_MS
    assert pol.cap is not None and (pol.cap.n, pol.cap.source) == (500, "OpenClaw default maxEntries")


def test_openclaw_json_without_maintenance_means_openclaws_defaults(state: StateDir) -> None:
    """OpenClaw prunes with its defaults when session.maintenance is absent (format doc
    §8); so does gc's fallback, and it says so."""
    state.write_config({"agents": {"list": [{"id": "main"}]}})
    pol = _policy(state)
    assert pol.default.idle is not None and pol.default.idle.ms == 30 * DAY_MS
    assert pol.default.idle.source == "OpenClaw default pruneAfter"
    assert pol.cap is not None and (pol.cap.n, pol.cap.source) == (500, "OpenClaw default maxEntries")
    assert "OpenClaw's defaults" in pol.source
    assert any("has no session.maintenance" in n and "OpenClaw's own defaults" in n for n in pol.notes)


def test_no_policy_anywhere_is_a_usage_error_for_gc(state: StateDir) -> None:
    ctx = make_context(state_dir=str(state.root), now=NOW_ISO)
    assert not resolve_policy(ctx).has_expiry  # health may ask: no limits, no error
    with pytest.raises(UsageError) as e:
        resolve_policy(ctx, require_expiry=True)
    assert "no gc policy" in e.value.message and "--max-age" in (e.value.hint or "")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[gc]\nidle = 24\n", 'write a quoted duration like "24h"'),
        ('[gc]\nidle = "24"\n', "has no unit"),
        ('[gc]\nmax_age = "5m"\n', "'m' is ambiguous"),
        ('[gc]\nmaxage = "5d"\n', "unknown key(s) in [gc]: maxage"),
        ('[gc.kinds.cronrun]\nidle = "1d"\n', "[gc.kinds.cronrun]: unknown kind"),
        ('[gc.kinds.hook]\nidel = "1d"\n', "unknown key(s) in [gc.kinds.hook]: idel"),
        ("[gc]\nmax-entries = -1\n", "max-entries must be an integer ≥ 0"),
        ("[gc]\nprotect = [1]\n", "protect must be a list of key globs"),
        ('[gc]\nallow-empty = "yes"\n', "allow-empty must be true or false"),
        ("gc = 3\n", "[gc] must be a table"),
    ],
)
def test_bad_sessionctl_toml_is_a_config_error(state: StateDir, text: str, says: str) -> None:
    _toml(state, text)
    with pytest.raises(ConfigError) as e:
        _policy(state)
    assert says in e.value.message


def test_unreadable_openclaw_prune_after_is_a_config_error_only_when_used(state: StateDir) -> None:
    state.write_config({"session": {"maintenance": {"pruneAfter": 30}}})
    with pytest.raises(ConfigError) as e:
        _policy(state)
    assert "session.maintenance.pruneAfter = 30" in e.value.message
    assert _policy(state, idle="1d").default.idle is not None  # our own limit: not consulted


def test_unknown_kind_flag_is_a_usage_error(state: StateDir) -> None:
    with pytest.raises(UsageError) as e:
        _policy(state, max_age="1d", kinds=["cron"])
    assert "--kind 'cron': unknown kind" in e.value.message


def test_policy_json_names_every_source(state: StateDir) -> None:
    _toml(state, '[gc]\nprotect = ["agent:*:explicit:pin-*"]\n[gc.kinds.hook]\nidle = "1d"\n')
    js = _policy(state, max_age="120h", protect=["agent:main:direct:vip"]).to_json()
    assert js["default"]["max_age"] == {"ms": 120 * HOUR_MS, "text": "120h", "source": "--max-age"}
    assert js["kinds"]["hook"]["idle"]["source"] == "[gc.kinds.hook]"
    assert js["protect"] == [
        {"glob": "agent:*:explicit:pin-*", "source": "[gc] protect"},
        {"glob": "agent:main:direct:vip", "source": "--protect"},
    ]


# ------------------------------------------------------------------ an openclaw.json that cannot be used


def test_a_wrongly_typed_openclaw_json_is_reported_and_refused_for_real_changes(state: StateDir) -> None:
    """sessionctl reads where stores live, the agents and the routing from openclaw.json:
    a field of the wrong type is named; health and dry runs go on, a real gc refuses (78)
    and changes nothing."""
    from support.helpers import run_cli, run_json, tree_snapshot

    state.add_session("main", "agent:main:main", updated_at=NOW_MS - 40 * DAY_MS)
    state.write_config({"agents": {"list": "main"}, "session": {"store": 7}})
    before = tree_snapshot(state.root)
    rc, env, _err = run_json("health", "--state-dir", str(state.root), "--now", NOW_ISO)
    assert rc == 1, env  # a warning
    msgs = [f["message"] for f in env["findings"] if f["check"] == "config.unparseable"]
    assert msgs == [
        f"{state.root / 'openclaw.json'}: `agents.list` is a string, not an array; "
        "`session.store` is a number, not a string"
    ]
    dry = run_cli("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--max-age", "30d", "--dry-run")
    assert dry.rc == 0 and "`session.store` is a number" in dry.stderr, dry
    assert "agent:main:main" in dry.stdout
    real = run_cli("gc", "--state-dir", str(state.root), "--now", NOW_ISO, "--max-age", "30d")
    assert real.rc == 78, real
    assert "`agents.list` is a string, not an array" in real.stderr and "nothing was changed" in real.stderr
    assert tree_snapshot(state.root) == before


def test_a_sessionctl_toml_that_is_not_a_file_is_a_config_error(state: StateDir) -> None:
    from support.helpers import run_cli, run_clis

    state.add_session("main", "agent:main:main", updated_at=NOW_MS)
    (state.root / "sessionctl.toml").mkdir()
    gc, health, lst = run_clis(
        ["gc", "--state-dir", str(state.root), "--dry-run"],
        ["health", "--state-dir", str(state.root)],
        ["list", "--state-dir", str(state.root)],
    )
    assert gc.rc == 78 and "sessionctl.toml is not a regular file" in gc.stderr, gc
    assert health.rc == 3 and "sessionctl.toml is not a regular file" in health.stderr, health
    # list uses no sessionctl.toml: it fails only on configuration it uses
    assert lst.rc == 0 and "agent:main:main" in lst.stdout, lst
    assert run_cli("list", "--state-dir", str(state.root), "--config", str(state.root / "nope.toml")).rc == 78
