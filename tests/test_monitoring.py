"""Fleet monitoring: the shipped Prometheus rules (contrib/prometheus) and Grafana dashboard
(contrib/grafana) use only metric names sessionctl really emits — read from real
`health --format prometheus`, `gc --metrics` and `prestart --metrics` runs — so renaming a
metric breaks CI, not the pager; every alert has a promtool unit test that fires it; and
(marker `promtool`, run by .ci/run with SESSIONCTL_PROMTOOL=1) promtool accepts the rules,
passes their unit tests, and the rules fire the expected alerts on the demo state's real
metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from support.helpers import NOW_ISO, NOW_MS, REPO, run_cli

RULES = REPO / "contrib" / "prometheus" / "sessionctl.rules.yml"
RULE_TESTS = REPO / "contrib" / "prometheus" / "sessionctl.rules.test.yml"
DASHBOARD = REPO / "contrib" / "grafana" / "sessionctl.json"
DEMO = REPO / "fixtures" / "demo-state"
METRIC = re.compile(r"\bsessionctl_[a-z0-9_]+\b")


def emitted(text: str) -> set[str]:
    """Metric names of the sample lines of a textfile (not the HELP/TYPE comments)."""
    return {m.group(0) for line in text.splitlines() if not line.startswith("#") if (m := METRIC.match(line))}


@cache
def demo_health_metrics() -> str:
    res = run_cli("health", "--state-dir", str(DEMO), "--now", NOW_ISO, "--format", "prometheus")
    assert res.rc == 2, res.stderr  # the demo has critical findings
    return res.stdout


def run_metrics_of_the_demo(tmp_path: Path) -> tuple[str, str]:
    """gc --metrics and prestart --metrics on a copy of the demo state (they change it)."""
    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy, symlinks=True)
    gc_prom, pre_prom = tmp_path / "gc.prom", tmp_path / "prestart.prom"
    res = run_cli(
        "gc", "--state-dir", str(copy), "--now", NOW_ISO, "--max-age", "20d", "--metrics", str(gc_prom), "-q"
    )
    assert res.rc == 0, res.stderr
    res = run_cli(
        "prestart",
        "--state-dir",
        str(copy),
        "--now",
        NOW_ISO,
        "--max-age",
        "10d",
        "--metrics",
        str(pre_prom),
        "-q",
    )
    assert res.rc == 0, res.stderr
    return gc_prom.read_text(), pre_prom.read_text()


def alert_names() -> list[str]:
    return re.findall(r"^\s*- alert: (\w+)\s*$", RULES.read_text(), flags=re.M)


# ---------------------------------------------------------------- fast tests


def test_every_metric_the_rules_and_the_dashboard_use_is_emitted(tmp_path: Path) -> None:
    health = demo_health_metrics()
    gc_text, prestart_text = run_metrics_of_the_demo(tmp_path)
    demo = emitted(health) | emitted(gc_text) | emitted(prestart_text)
    used_by_rules = set(METRIC.findall(RULES.read_text()))
    used_by_dashboard = set(METRIC.findall(DASHBOARD.read_text()))
    assert len(used_by_rules) >= 10 and len(used_by_dashboard) >= 10
    assert demo >= used_by_rules | used_by_dashboard, sorted((used_by_rules | used_by_dashboard) - demo)
    # the rule tests feed the same names
    assert set(METRIC.findall(RULE_TESTS.read_text())) <= demo


def test_the_labels_the_rules_select_exist() -> None:
    """check ids in the rules are documented check ids; every series carries state_dir;
    gc and prestart metrics carry command."""
    documented = set(
        re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", (REPO / "docs" / "health.md").read_text(), re.M)
    )
    selected: set[str] = set()
    for sel in re.findall(r'check=~?"([^"]+)"', RULES.read_text()):
        selected.update(c.replace("\\\\", "").replace("\\", "") for c in sel.split("|"))
    assert selected and selected <= documented, sorted(selected - documented)
    for line in demo_health_metrics().splitlines():
        if not line.startswith("#"):
            assert f'{{state_dir="{DEMO.resolve()}"' in line, line


def test_every_alert_has_a_rule_test_that_fires_it() -> None:
    names = alert_names()
    assert len(names) >= 12
    tested: set[str] = set()
    for chunk in re.split(r"\n\s*alertname: ", RULE_TESTS.read_text())[1:]:
        name = chunk.split()[0]
        if "exp_labels" in chunk.split("- eval_time")[0]:
            tested.add(name)
    assert set(names) <= tested, sorted(set(names) - tested)


def test_every_alert_names_the_command_to_run() -> None:
    blocks = re.split(r"\n\s*- alert: ", RULES.read_text())[1:]
    assert len(blocks) == len(alert_names())
    for block in blocks:
        runbook = re.search(r'^\s*runbook: "(.*)"$', block, re.M)
        assert runbook, block.split()[0]
        assert re.search(r"\bsessionctl [a-z]+\b", runbook.group(1)), block.split()[0]
        assert "{{ $labels.state_dir }}" in runbook.group(1) and "{{ $labels.instance }}" in runbook.group(1)


def test_the_dashboard_is_per_host_state_dir_and_agent() -> None:
    dash = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert {"datasource", "instance", "state_dir", "agent"} <= set(variables)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert exprs and all('instance=~"$instance"' in e and 'state_dir=~"$state_dir"' in e for e in exprs)
    titles = {p["title"] for p in dash["panels"]}
    for wanted in (
        "Sessions by kind",
        "Store bytes",
        "Transcript bytes",
        "Findings by severity",
        "Resume set at the next start",
        "Sessions removed per run",
    ):
        assert wanted in titles
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- promtool (marker)


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: it comes with Debian's `prometheus` package "
            "(apt-get install --no-install-recommends prometheus); .ci/run installs it"
        )
    return path


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.promtool
def test_promtool_checks_the_rules_and_runs_their_tests() -> None:
    res = run_promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(alert_names()) + 5} rules found" in res.stdout + res.stderr
    res = run_promtool("test", "rules", RULE_TESTS.name, cwd=RULES.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout + res.stderr


@pytest.mark.promtool
def test_the_rules_fire_on_the_demo_states_real_metrics(tmp_path: Path) -> None:
    """The demo's real health metrics, as node_exporter would export them (plus instance and
    job), through the shipped rules: the alerts its findings call for fire, no others."""
    series = []
    for line in demo_health_metrics().splitlines():
        if line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        name_labels = name_labels.replace("{", '{instance="demo:9100",job="node",', 1)
        series.append(f"      - series: '{name_labels}'\n        values: '{value}x10'")
    test = (
        f"rule_files: [{RULES}]\n"
        "evaluation_interval: 1m\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series:\n" + "\n".join(series) + "\n"
        "    promql_expr_test:\n"
        '      - expr: count by (alertname, agent) (ALERTS{alertstate="firing"})\n'
        "        eval_time: 5m\n"
        "        exp_samples:\n"
    )
    # main and illarion have critical findings; marketer a spawn storm; illarion an oversized
    # transcript (docs/health.md and the README describe the demo's problems)
    for alert, agent in (
        ("SessionctlCriticalFindings", "main"),
        ("SessionctlCriticalFindings", "illarion"),
        ("SessionctlSpawnStorm", "marketer"),
        ("SessionctlTranscriptOversized", "illarion"),
    ):
        test += f'          - labels: \'{{alertname="{alert}",agent="{agent}"}}\'\n            value: 1\n'
    path = tmp_path / "demo.test.yml"
    path.write_text(test)
    res = run_promtool("test", "rules", str(path), cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


# ---------------------------------------------------------------- gc / prestart --metrics


def test_gc_metrics_say_what_the_run_removed_and_how_it_ended(tmp_path: Path) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy, symlinks=True)
    prom = tmp_path / "textfile" / "sessionctl-gc.prom"
    prom.parent.mkdir()
    res = run_cli(
        "gc", "--state-dir", str(copy), "--now", NOW_ISO, "--max-age", "20d", "--metrics", str(prom), "--json"
    )
    assert res.rc == 0, res.stderr
    summary = json.loads(res.stdout)["summary"]["agents"]
    text = prom.read_text()
    sd = f'state_dir="{copy.resolve()}",command="gc"'
    assert f"sessionctl_run_exit_code{{{sd}}} 0" in text
    assert f"sessionctl_run_timestamp_seconds{{{sd}}} {NOW_MS / 1000!r}" in text
    for agent, s in summary.items():
        assert f'sessionctl_run_expired_sessions{{{sd},agent="{agent}"}} {s["expired"]}' in text
        assert f'sessionctl_run_archived_files{{{sd},agent="{agent}"}} {s["archived_files"]}' in text
    assert sum(s["expired"] for s in summary.values()) > 0
    assert sorted(p.name for p in prom.parent.iterdir()) == ["sessionctl-gc.prom"]  # no temp file left
    # health counts the run folder gc made, and its bytes
    health = run_cli("health", "--state-dir", str(copy), "--now", NOW_ISO, "--format", "prometheus").stdout
    runs = [d for d in (copy / "sessionctl" / "runs").iterdir() if d.is_dir()]
    size = sum(f.stat().st_size for d in runs for f in d.rglob("*") if f.is_file())
    assert len(runs) == 1 and size > 0
    assert f'sessionctl_runs{{state_dir="{copy.resolve()}"}} 1' in health
    assert f'sessionctl_runs_bytes{{state_dir="{copy.resolve()}"}} {size}' in health


def test_a_failed_gc_still_writes_its_exit_code_and_a_usage_error_writes_nothing(tmp_path: Path) -> None:
    prom = tmp_path / "gc.prom"
    missing = tmp_path / "no-such-state"
    res = run_cli("gc", "--state-dir", str(missing), "--max-age", "2d", "--metrics", str(prom))
    assert res.rc == 66, res.stderr
    assert f'sessionctl_run_exit_code{{state_dir="{missing}",command="gc"}} 66' in prom.read_text()
    prom.unlink()
    res = run_cli("gc", "--state-dir", str(DEMO), "--max-age", "2d", "--dry-run", "--metrics", str(prom))
    assert res.rc == 64 and "--metrics is for real runs" in res.stderr
    assert not prom.exists()


def test_an_unwritable_metrics_file_fails_the_run(tmp_path: Path) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy, symlinks=True)
    res = run_cli(
        "gc",
        "--state-dir",
        str(copy),
        "--now",
        NOW_ISO,
        "--max-age",
        "20d",
        "--metrics",
        str(tmp_path / "no" / "x.prom"),
    )
    assert res.rc == 73 and "cannot write metrics" in res.stderr and "Traceback" not in res.stderr


def test_prestart_metrics_count_failed_steps(tmp_path: Path) -> None:
    _gc, text = run_metrics_of_the_demo(tmp_path)
    sd = f'state_dir="{(tmp_path / "demo").resolve()}",command="prestart"'
    assert f"sessionctl_run_exit_code{{{sd}}} 0" in text
    assert f"sessionctl_run_failed_steps{{{sd}}} 0" in text
    assert f'sessionctl_run_expired_sessions{{{sd},agent="main"}}' in text


@pytest.mark.parametrize("command", ["gc", "prestart"])
def test_metrics_never_land_in_a_sessions_folder(tmp_path: Path, command: str) -> None:
    """--metrics goes through the one output-path check: a path inside a sessions folder
    is a usage error (64) before anything changes, and nothing is written there."""
    copy = tmp_path / "demo"
    shutil.copytree(DEMO, copy, symlinks=True)
    sessions = copy / "agents" / "main" / "sessions"
    before = sorted(p.name for p in sessions.iterdir())
    store = (sessions / "sessions.json").read_bytes()
    target = sessions / "sessionctl.prom"
    res = run_cli(
        command, "--state-dir", str(copy), "--now", NOW_ISO, "--max-age", "20d", "--metrics", str(target)
    )
    assert res.rc == 64 and "--metrics" in res.stderr, res.stderr
    assert sorted(p.name for p in sessions.iterdir()) == before
    assert (sessions / "sessions.json").read_bytes() == store
    assert not (copy / "sessionctl" / "runs").exists() or not any((copy / "sessionctl" / "runs").iterdir())
