"""`amabot run` and `amabot demo` as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from testkit import storeview
from testkit.harness import WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]


async def _spawn(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "AMABOT_CONFIG")}
    env.update(extra)
    return env


async def test_run_answers_and_exits_cleanly_on_sigterm(harness):
    sb = harness.sandbox
    env = _env(DISCORD_TOKEN=sb.token, GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET)
    proc = await _spawn("run", "--config", str(harness.config_path), env=env)
    try:
        await sb.wait_for_identify(timeout=20)
        await sb.wait_for_request(
            lambda r: r.method == "PUT" and r.path.endswith("/commands"), timeout=20
        )
        result = await sb.slash(
            harness.member, harness.general, "episode", query="s2e5", timeout=20
        )
        assert result.embeds[0]["title"].startswith("S2:E5")
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    log = out.decode()
    assert "SIGTERM received; shutting down" in log
    assert "stopped" in log
    assert "Traceback" not in log + err.decode()
    assert sb.token not in log + err.decode(), "the token must never be logged"
    database = Path(harness.settings.storage.database)
    # Closed cleanly: the WAL was checkpointed away and the file is consistent.
    assert (
        not Path(str(database) + "-wal").exists()
        or Path(str(database) + "-wal").stat().st_size == 0
    )
    assert storeview.is_consistent(database)


async def test_run_without_a_token_says_so_and_exits_2(harness):
    proc = await _spawn("run", "--config", str(harness.config_path), env=_env())
    out, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    text = out.decode() + err.decode()
    assert proc.returncode == 2
    assert "DISCORD_TOKEN" in text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) == 1, text


async def test_run_with_a_rejected_token_says_so_and_exits_1(harness):
    env = _env(DISCORD_TOKEN="not-the-token", GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET)
    proc = await _spawn("run", "--config", str(harness.config_path), env=env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    text = out.decode() + err.decode()
    assert proc.returncode == 1
    assert "Discord rejected the token in $DISCORD_TOKEN" in text
    assert "Traceback" not in text
    assert "not-the-token" not in text


async def _retries_until_stopped(proc, *, attempts: int = 2) -> str:
    """Read the log until `attempts` "trying again" lines, then SIGTERM: the status is 0."""
    seen, lines = 0, []
    while seen < attempts:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        assert line, "the process ended instead of trying again: " + "".join(lines)
        lines.append(line.decode())
        seen += "trying again in" in lines[-1]
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0
    return "".join(lines) + out.decode() + err.decode()


async def test_run_with_discord_unreachable_keeps_trying_until_stopped(harness, tmp_path):
    config = harness.config_path.read_text().replace(
        harness.sandbox.api_base, "http://127.0.0.1:9/api/v10"
    )
    path = tmp_path / "unreachable.toml"
    path.write_text(config)
    env = _env(DISCORD_TOKEN="x", GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET)
    proc = await _spawn("run", "--config", str(path), env=env)
    text = await _retries_until_stopped(proc)
    assert "could not connect to Discord" in text
    assert "Traceback" not in text


async def test_demo_plays_the_week_in_under_30_seconds():
    started = time.monotonic()
    proc = await _spawn("demo", env=_env())
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    elapsed = time.monotonic() - started
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert elapsed < 30
    assert "Monday livestream in 24 hours" in text
    assert "Friday AMA in 1 hour" in text
    assert "New recap" in text
    for command in ("/schedule", "/episode", "/recap", "/announce"):
        assert f"types: {command}" in text
    assert "matched Discord's" in text
    # The Friday AMA: asked (one anonymously), approved, voted, answered, recorded and pushed.
    assert "question #2 is saved" in text and "Asked by a community member" in text
    assert "Question #1: approved." in text and "[Me too · 2]" in text
    assert "Question #1 is on air." in text and "was answered: https://discord.com/" in text
    assert "pushed the branch amabot/ama/s2-e05" in text and "generated_by: amabot" in text
    record = text.split("pushed the branch", 1)[1]
    assert "answered: 2" in record and "priya" not in record
    # The second series in the same guild: its reminders and its recap in its own channels,
    # pinging its own role; members' answers name it; /schedule lists it under its name.
    talk = text.split("an author merges the Talk Tuesdays S1:E3 recap", 1)[1]
    assert talk.split("\n  #", 1)[1].startswith("talk-tuesdays-announcements")
    assert "New recap: **S1:E3 Vector Search in Practice" in talk
    assert "(pinged: @Talk Tuesdays)" in talk.split("sam types", 1)[0]
    assert "#talk-tuesdays-reminders" in text and "Tuesday livestream in 1 hour" in text
    assert "suggestion: Talk Tuesdays · S1:E3 · Vector Search in Practice" in text
    assert "**Talk Tuesdays: coming up**" in text and "— Talk Tuesdays" in text


async def test_the_installed_amabot_command_plays_the_demo():
    """`amabot demo` exactly as the README's first command runs it: the console script that
    this environment's install made, as a process of its own."""
    script = Path(sys.executable).with_name("amabot")
    assert script.exists(), f"no amabot script beside {sys.executable}: is the project installed?"
    proc = await asyncio.create_subprocess_exec(
        str(script),
        "demo",
        cwd=ROOT,
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "Monday livestream in 24 hours" in text and "New recap" in text


# Blocks the test extra's packages, as on a machine that ran only `pip install -e .`.
_WITHOUT_TEST_EXTRA = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None
sys.meta_path.insert(0, Block())
from bot.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


def _test_extra_modules() -> set[str]:
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["test"]
    names = {req.split(">")[0].split("=")[0].split("<")[0].strip() for req in extra}
    # import names differ from distribution names for a few
    modules = {n.lower().replace("-", "_") for n in names} - {"pytest_timeout"}
    return modules | {"pytest_timeout", "referencing"}


async def test_demo_needs_nothing_from_the_test_extra():
    blocked = _test_extra_modules()
    assert "jsonschema" in blocked
    code = f"BLOCKED = {sorted(blocked)!r}\n" + _WITHOUT_TEST_EXTRA
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        "demo",
        cwd=ROOT,
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "Friday AMA in 1 hour" in text
    assert "Discord API check: skipped" in text


async def test_run_with_the_gateway_unreachable_keeps_trying_in_the_process(harness, tmp_path):
    # A restart-always supervisor would spend one IDENTIFY per start: the process stays up.
    config = harness.config_path.read_text().replace(
        harness.sandbox.gateway_url, "ws://127.0.0.1:9/gateway"
    )
    config = config.replace("[discord]\n", '[discord]\nconnect_timeout = "2s"\n', 1)
    path = tmp_path / "no-gateway.toml"
    path.write_text(config)
    env = _env(DISCORD_TOKEN=harness.sandbox.token, GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET)
    proc = await _spawn("run", "--config", str(path), env=env)
    text = await _retries_until_stopped(proc, attempts=1)
    assert "could not reach the Discord gateway at ws://127.0.0.1:9/gateway" in text
    assert "Traceback" not in text


async def test_run_with_the_webhook_port_taken_says_so_and_exits_2(harness, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = harness.config_path.read_text().replace(
            'listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"'
        )
        path = tmp_path / "port-taken.toml"
        path.write_text(config)
        env = _env(DISCORD_TOKEN=harness.sandbox.token, GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET)
        proc = await _spawn("run", "--config", str(path), env=env)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    text = out.decode() + err.decode()
    assert proc.returncode == 2, text
    assert f"webhook.listen: cannot listen on 127.0.0.1:{port}" in text
    assert "Traceback" not in text
