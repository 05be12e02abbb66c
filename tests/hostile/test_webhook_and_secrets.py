"""The webhook receiver of the running bot under hostile deliveries, and secrets never shown.

Webhook: truncated, wrong-algorithm and empty signatures, valid signatures over bodies that
are not JSON objects (deeply nested, not UTF-8, arrays), a slow client trickling its body:
nothing is pulled (the checkout's HEAD and the pull count stay put) and the bot still answers
/episode meanwhile. Cases already in tests/e2e/test_recaps.py (wrong and missing signature,
a replayed signature on a changed body, a 2 MiB body) are not repeated.

Secrets: with a distinctive token and webhook secret, neither appears in any log record, any
request body the bot sent to Discord, or `amabot plan` / `amabot check` output.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.config import load_settings
from bot.web.webhook import sign
from testkit.harness import Harness
from tests.e2e.test_reminders import SUNDAY

REPO = Path(__file__).resolve().parents[2]
SECRET = "hostile-suite-webhook-secret-7f3a9c"


async def started(tmp_path: Path) -> Harness:
    h = Harness(tmp_path / "world", clock=ManualClock(SUNDAY))
    await h.start()
    h.environ["GITHUB_WEBHOOK_SECRET"] = SECRET
    h.settings = load_settings(h.config_path, environ=h.environ)
    await h.start_bot()
    await h.posting.sync.wait_for_attempts(1)
    await h.posting.sync.wait_idle()
    return h


async def still_answers(h: Harness) -> None:
    result = await h.sandbox.slash(h.member, h.general, "episode", query="s2e5")
    assert result.response_type == 4 and result.embeds


def body_for(h: Harness) -> bytes:
    return json.dumps({"ref": "refs/heads/main", "after": "f" * 40}).encode()


async def test_hostile_deliveries_pull_nothing_and_the_bot_keeps_answering(tmp_path):
    h = await started(tmp_path)
    try:
        head, pulls = h.repo.head(), h.posting.sync.attempts
        await h.merge({"recaps/pending.md": "---\ndate: 2025-07-13\n---\n# Not yet\n"}, "New")
        good = body_for(h)
        valid = sign(good, SECRET.encode())
        sha1 = "sha1=" + hmac.new(SECRET.encode(), good, hashlib.sha1).hexdigest()
        bad_signatures = [
            valid[: len(valid) // 2],  # truncated
            valid[:-1],
            "sha256=",
            "sha256",
            valid.replace("sha256=", "sha512="),
            sha1,  # right secret, wrong algorithm
            valid + "00",
            "sha256=" + "\u0660" * 64,  # Arabic-Indic digits: not hex
            sign(good, b""),  # an empty secret
            sign(good, SECRET.encode()[:-1]),
        ]
        for signature in bad_signatures:
            assert await h.send_webhook(body=good, signature=signature) == 401, signature
        # Properly signed, but not a push we can use.
        for body in (
            b"[" * 100_000 + b"]" * 100_000,
            b"\xff\xfe{}",
            b"[]",
            b"null",
            b'{"ref": ' + b'"' + b"a" * 100_000 + b'"}',
            b'{"ref": "refs/heads/main", "after": ' + b"9" * 5000 + b"}",
        ):
            status = await h.send_webhook(body=body, signature=sign(body, SECRET.encode()))
            assert status in (202, 400), (body[:40], status)
        # A truncated JSON body with the signature of the whole one.
        assert await h.send_webhook(body=good[:-5], signature=valid) == 401

        # A client that sends its headers and then trickles its body.
        url = h.bot.webhook.url
        host, port = url.removeprefix("http://").split(":")
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-GitHub-Event: push\r\nX-Hub-Signature-256: "
            + valid.encode()
            + b"\r\nContent-Length: 100000\r\n\r\n{"
        )
        await writer.drain()
        await still_answers(h)
        assert await h.send_webhook(body=b"{}", signature=sign(b"{}", b"wrong")) == 401
        writer.close()

        await still_answers(h)
        assert h.repo.head() == head
        assert h.posting.sync.attempts == pulls
        assert h.sandbox.messages(h.announcements) == []
    finally:
        await h.stop()
    h.sandbox.assert_valid()


def _amabot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "AMABOT_CONFIG")}
    environ.update(env, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_token_and_webhook_secret_appear_nowhere(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    h = await started(tmp_path)
    token = h.sandbox.token
    assert len(token) >= 20
    try:
        sb = h.sandbox
        # Errors of every kind the bot reports: bad signatures, unknown commands, refusals,
        # bad input, forged buttons; and ordinary answers.
        assert await h.send_webhook(body=b"{}", signature="sha256=" + "0" * 64) == 401
        assert await h.send_webhook(body=b"x", signature=sign(b"x", SECRET.encode())) == 400
        await sb.send_interaction(
            h.member, h.general, 2, {"id": "1234567890123456789", "name": "gone", "type": 1}
        )
        await sb.slash(h.member, h.general, "announce", subcommand="list")
        await sb.slash(
            h.organiser,
            h.general,
            "announce",
            subcommand="create",
            message="hello",
            when="whenever",
        )
        await sb.slash(h.organiser, h.general, "announce", subcommand="cancel", key="nope")
        await sb.slash(h.member, h.general, "episode", query="nothing like this")
        await sb.slash(h.member, None, "recap")
        await still_answers(h)
        await sb.wait_for(lambda: all(r.acknowledged for r in sb.interactions.values()))
    finally:
        await h.stop()

    for record in caplog.records:
        text = record.getMessage() + (
            logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        )
        assert token not in text, record.name
        assert SECRET not in text, record.name
    sent = [json.dumps(r.json) for r in h.sandbox.requests if r.json is not None]
    assert [b for b in sent if token in b or SECRET in b] == []

    env = {"DISCORD_TOKEN": token, "GITHUB_WEBHOOK_SECRET": SECRET}
    for args in (
        ("plan", "--config", str(h.config_path)),
        ("plan", "--config", str(h.config_path), "--format", "json"),
        ("check", "--config", str(h.config_path)),
    ):
        done = _amabot(*args, env=env, cwd=tmp_path)
        assert done.returncode in (0, 1), (args, done.stderr[-1000:])
        assert token not in done.stdout + done.stderr, args
        assert SECRET not in done.stdout + done.stderr, args
    # A config error names the setting, never its value.
    bad = tmp_path / "bad.toml"
    bad.write_text(h.config_path.read_text() + '\n[webhook]\nlisten = "nope"\n')
    done = _amabot("plan", "--config", str(bad), env=env, cwd=tmp_path)
    assert token not in done.stdout + done.stderr and SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("value", ["", "short"])
def test_plan_with_an_unusable_token_does_not_echo_it(tmp_path, value):
    config = tmp_path / "amabot.toml"
    config.write_text(
        f'[content]\npath = "{REPO / "content"}"\n'
        f'[storage]\ndatabase = "{tmp_path / "db.sqlite3"}"\n'
    )
    marker = f"{value}-tok-9d8c7b6a5f4e3d2c1b0a" if value else ""
    done = _amabot(
        "plan",
        "--config",
        str(config),
        env={"DISCORD_TOKEN": marker, "GITHUB_WEBHOOK_SECRET": SECRET},
        cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    assert SECRET not in out and (not marker or marker not in out)
