"""The service recipes in deploy/ keep the settings README's "Running it for real" promises."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _unit() -> configparser.ConfigParser:
    # systemd units are INI-like; keys are case-sensitive and may repeat (not here).
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "amabot.service").read_text(encoding="utf-8"))
    return parser


def test_the_systemd_unit_restarts_the_bot_and_is_hardened() -> None:
    service = _unit()["Service"]
    assert service["Restart"] in {"always", "on-failure"}
    assert service["User"] == "amabot"
    assert "amabot run" in service["ExecStart"]
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    writable = service["ReadWritePaths"].split()
    assert any(path.endswith("/data") for path in writable)
    assert any(path.endswith("/content") for path in writable)
    # The token comes from the environment, never from the unit itself.
    assert "DISCORD_TOKEN=" not in service.get("Environment", "")
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"


def _instructions() -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = pending + line
        pending = ""
        keyword, _, rest = whole.partition(" ")
        lines.append((keyword.upper(), rest.strip()))
    return lines


def test_the_container_runs_as_a_non_root_user_with_a_health_check() -> None:
    instructions = _instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0][0] == "FROM" and "python" in instructions[0][1]
    assert "slim" in instructions[0][1]
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    # The last USER comes before the command runs, so the bot itself is not root.
    assert keywords.index("USER") < keywords.index("CMD")
    (health,) = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    assert "/healthz" in health
    installs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "git" in shlex.split(installs)
    assert any("run" in rest for keyword, rest in instructions if keyword == "CMD")
