"""Which command lines count as a running OpenClaw gateway (format doc §6)."""

from __future__ import annotations

import pytest

from sessionctl.gateway import looks_like_gateway


@pytest.mark.parametrize(
    "argv",
    [
        ["openclaw-gateway"],  # the process title OpenClaw sets for `openclaw gateway`
        ["openclaw-gateway", "", ""],
        ["openclaw", "gateway"],
        ["openclaw", "gateway", "run", "--port", "18789"],
        ["node", "/usr/lib/node_modules/openclaw/openclaw.mjs", "gateway"],
        [
            "/usr/bin/node",
            "/home/u/.npm-global/lib/node_modules/openclaw/dist/index.js",
            "gateway",
            "--verbose",
        ],
        ["python3", "-c", "import time; time.sleep(60)", "openclaw", "gateway"],  # the tests' fake gateway
    ],
)
def test_gateway_command_lines_are_recognised(argv: list[str]) -> None:
    assert looks_like_gateway(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["journalctl", "--user", "-fu", "openclaw-gateway"],
        ["systemctl", "--user", "restart", "openclaw-gateway.service"],
        ["less", "/var/log/openclaw/gateway.log"],
        ["openclaw", "agent", "--message", "restart the gateway"],
        ["vim", "openclaw.json"],
        ["node", "/usr/lib/node_modules/openclaw/openclaw.mjs", "sessions", "cleanup"],
        [],
    ],
)
def test_tools_that_mention_the_gateway_are_not_a_gateway(argv: list[str]) -> None:
    assert not looks_like_gateway(argv)
