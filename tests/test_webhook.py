"""The GitHub webhook receiver on a real socket (WebhookServer on 127.0.0.1:0)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from bot.config import ConfigError, parse_listen
from bot.web.webhook import WebhookServer, make_webhook_app, sign, signature_valid
from tests.test_gitsync import _isolated_git  # noqa: F401  (autouse: git env for the e2e test)

SECRET = b"s3cret-hook-value-\xf0\x9f\x94\x91"
SECRET_TEXT = "s3cret-hook-value-"


def push(ref: str = "refs/heads/main", after: str = "a" * 40) -> dict:
    return {"ref": ref, "before": "0" * 40, "after": after, "repository": {"name": "content"}}


def headers(body: bytes, event: str = "push", *, signature: str | None = None, **extra) -> dict:
    out = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": signature if signature is not None else sign(body, SECRET),
    }
    out.update(extra)
    return out


class Receiver:
    def __init__(self, **kwargs):
        self.pushes: list[dict] = []
        self.pushed = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

        async def on_push(payload: dict) -> None:
            self.pushes.append(payload)
            self.pushed.set()
            await self.release.wait()

        async def health() -> dict:
            return {
                "commit": "b" * 40,
                "last_reload_at": datetime(2025, 7, 14, 17, 30, tzinfo=UTC),
                "posts": {"pending": 2, "sent": 40, "failed": 1},
            }

        kwargs.setdefault("branch", "main")
        self.app = make_webhook_app(secret=SECRET, on_push=on_push, health=health, **kwargs)
        self.server = WebhookServer(self.app, "127.0.0.1:0")

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
async def receiver():
    rec = Receiver()
    await rec.server.start()
    async with aiohttp.ClientSession() as session:
        rec.session = session
        yield rec
    await rec.server.stop()


async def post(rec: Receiver, body: bytes, hdrs: dict) -> tuple[int, dict]:
    async with rec.session.post(rec.url + "/github", data=body, headers=hdrs) as resp:
        return resp.status, await resp.json()


async def test_valid_push_is_accepted_without_waiting_for_the_pull(receiver):
    receiver.release.clear()  # the pull "hangs"; the response must not
    body = json.dumps(push()).encode()
    status, data = await post(receiver, body, headers(body))
    assert status == 202
    assert data == {"accepted": True, "ref": "refs/heads/main", "after": "a" * 40}
    await receiver.pushed.wait()
    assert receiver.pushes == [push()]
    receiver.release.set()


async def test_same_delivery_twice_requests_again(receiver):
    body = json.dumps(push()).encode()
    for _ in range(2):
        status, _data = await post(receiver, body, headers(body))
        assert status == 202
    assert len(receiver.pushes) == 2


async def test_branch_may_be_looked_up_per_delivery():
    calls: list[dict] = []

    async def current() -> str:
        return "release"

    rec = Receiver(branch=current)
    await rec.server.start()
    try:
        async with aiohttp.ClientSession() as session:
            rec.session = session
            for ref in ("refs/heads/release", "refs/heads/main"):
                body = json.dumps(push(ref)).encode()
                status, data = await post(rec, body, headers(body))
                calls.append(data)
                assert status == 202
    finally:
        await rec.server.stop()
    assert calls[0]["accepted"] is True
    assert "ignored" in calls[1]
    assert [p["ref"] for p in rec.pushes] == ["refs/heads/release"]


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [
        ("push", push("refs/heads/feature/x"), "refs/heads/feature/x"),
        ("push", push("refs/tags/v1.0"), "refs/tags/v1.0"),
        ("push", {**push(), "deleted": True, "after": "0" * 40}, "deleted"),
        ("pull_request", {"action": "closed"}, "pull_request"),
        ("issues", {"action": "opened"}, "issues"),
    ],
)
async def test_other_events_and_branches_are_ignored(receiver, event, payload, reason):
    body = json.dumps(payload).encode()
    status, data = await post(receiver, body, headers(body, event))
    assert status == 202
    assert reason in data["ignored"]
    assert receiver.pushes == []


async def test_ping(receiver):
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    status, data = await post(receiver, body, headers(body, "ping"))
    assert (status, data) == (200, {"ok": True})


async def test_form_encoded_delivery_is_understood(receiver):
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(push())}).encode()
    hdrs = headers(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    status, _data = await post(receiver, body, hdrs)
    assert status == 202
    assert receiver.pushes == [push()]


def _bad_signatures(body: bytes) -> dict[str, dict]:
    good = sign(body, SECRET)
    return {
        "missing": {"X-Hub-Signature-256": None},
        "empty": {"X-Hub-Signature-256": ""},
        "wrong secret": {"X-Hub-Signature-256": sign(body, b"not-the-secret")},
        "truncated": {"X-Hub-Signature-256": good[:-2]},
        "no prefix": {"X-Hub-Signature-256": good.removeprefix("sha256=")},
        "sha1 style": {"X-Hub-Signature-256": "sha1=" + good[7:47]},
        "padded": {"X-Hub-Signature-256": good + "00"},
        "non-hex": {"X-Hub-Signature-256": "sha256=" + "z" * 64},
    }


@pytest.mark.parametrize("case", list(_bad_signatures(b"")))
async def test_bad_signatures_are_refused_and_nothing_happens(receiver, case):
    body = json.dumps(push()).encode()
    hdrs = headers(body)
    override = _bad_signatures(body)[case]["X-Hub-Signature-256"]
    if override is None:
        del hdrs["X-Hub-Signature-256"]
    else:
        hdrs["X-Hub-Signature-256"] = override
    status, data = await post(receiver, body, hdrs)
    assert status == 401
    assert data == {"error": "bad signature"}
    assert receiver.pushes == []


async def test_replayed_signature_on_a_modified_body_is_refused(receiver):
    original = json.dumps(push("refs/heads/other")).encode()
    captured = sign(original, SECRET)
    forged = json.dumps(push("refs/heads/main")).encode()
    status, _ = await post(receiver, forged, headers(forged, signature=captured))
    assert status == 401
    # Same bytes plus one trailing space: still not the signed body.
    status, _ = await post(receiver, original + b" ", headers(original, signature=captured))
    assert status == 401
    assert receiver.pushes == []


async def test_malformed_json_with_a_valid_signature_is_400(receiver):
    for body in (b"{not json", b"[1, 2, 3]", b'"a string"', b"\xff\xfe\x00", b"[" * 100_000):
        status, data = await post(receiver, body, headers(body))
        assert status == 400, body[:10]
        assert "error" in data
    assert receiver.pushes == []


async def test_two_mebibyte_body_is_413(receiver):
    body = b'{"ref": "refs/heads/main", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, data = await post(receiver, body, headers(body))
    assert status == 413
    assert data == {"error": "body too large"}
    assert receiver.pushes == []


async def test_chunked_body_over_the_limit_is_413(receiver):
    body = json.dumps({**push(), "pad": "x" * (2 * 1024 * 1024)}).encode()

    async def chunks():
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    try:
        async with receiver.session.post(
            receiver.url + "/github", data=chunks(), headers=headers(body)
        ) as resp:
            assert resp.status == 413
            assert "Content-Length" not in resp.request_info.headers
    except aiohttp.ClientOSError:
        # The server may close before the client finished sending: also a refusal.
        pass
    assert receiver.pushes == []


async def test_body_at_the_limit_is_read(receiver):
    payload = push()
    payload["pad"] = ""
    size = len(json.dumps(payload).encode())
    payload["pad"] = "x" * (1024 * 1024 - size)
    body = json.dumps(payload).encode()
    assert len(body) == 1024 * 1024
    status, _ = await post(receiver, body, headers(body))
    assert status == 202


async def test_healthz_serves_what_health_returns(receiver):
    async with receiver.session.get(receiver.url + "/healthz") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        data = await resp.json()
    assert data == {
        "commit": "b" * 40,
        "last_reload_at": "2025-07-14T17:30:00+00:00",
        "posts": {"pending": 2, "sent": 40, "failed": 1},
    }


async def test_wrong_methods_and_paths(receiver):
    async with receiver.session.get(receiver.url + "/github") as resp:
        assert resp.status == 405
    async with receiver.session.post(receiver.url + "/nope", data=b"{}") as resp:
        assert resp.status == 404
    assert receiver.pushes == []


async def test_a_slow_client_does_not_block_others_and_is_cut_off():
    rec = Receiver(read_timeout=0.5)
    await rec.server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", rec.server.port)
        writer.write(
            b"POST /github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=" + b"0" * 64 + b"\r\n"
            b'Content-Length: 5000\r\n\r\n{"ref":'
        )
        await writer.drain()

        async with aiohttp.ClientSession() as session:
            rec.session = session
            body = json.dumps(push()).encode()
            status, _ = await asyncio.wait_for(post(rec, body, headers(body)), timeout=0.4)
            assert status == 202

        # The trickler gets 408 and a closed connection once its time is up.
        response = await asyncio.wait_for(reader.read(), timeout=5)
        assert response.startswith(b"HTTP/1.1 408")
        writer.close()
    finally:
        await rec.server.stop()
    assert len(rec.pushes) == 1


async def test_a_header_trickler_is_disconnected():
    rec = Receiver()
    rec.server = WebhookServer(rec.app, "127.0.0.1:0", idle_timeout=0.3)
    await rec.server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", rec.server.port)
        writer.write(b"POST /github HTTP/1.1\r\nHost: x\r\nX-GitHub-Ev")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed on us
        writer.close()
    finally:
        await rec.server.stop()
    assert rec.pushes == []


async def test_secret_and_signature_never_logged(receiver, caplog):
    caplog.set_level(logging.DEBUG)
    body = json.dumps(push()).encode()
    good = sign(body, SECRET)
    await post(receiver, body, headers(body))
    await post(receiver, body, headers(body, signature=good[:-1] + "0"))
    await post(receiver, b"{oops", headers(b"{oops"))
    body2 = json.dumps(push("refs/heads/x")).encode()
    await post(receiver, body2, headers(body2, signature=sign(body, SECRET)))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "refused" in text and "webhook push" in text
    assert SECRET_TEXT not in text
    assert good[7:] not in text and good[7:-1] not in text
    assert sign(body2, SECRET)[7:] not in text


async def test_push_handler_errors_are_contained(caplog):
    async def broken(payload: dict) -> None:
        raise RuntimeError("pull exploded")

    async def health() -> dict:
        raise RuntimeError("db gone")

    app = make_webhook_app(secret=SECRET, branch="main", on_push=broken, health=health)
    server = WebhookServer(app, "127.0.0.1:0")
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = json.dumps(push()).encode()
            async with session.post(server.url + "/github", data=body, headers=headers(body)) as r:
                assert r.status == 202
            async with session.get(server.url + "/healthz") as r:
                assert r.status == 500
                assert (await r.json())["ok"] is False
            async with session.get(server.url + "/healthz") as r:  # still serving
                assert r.status == 500
    finally:
        await server.stop()


async def test_healthz_is_503_with_the_reasons_and_readyz_follows_its_source():
    """A supervisor reads the status alone: 503 while something is wrong, 200 when all is
    well; /readyz is 503 until the process serves (the first load, a standby)."""
    state: dict = {"ok": False, "reasons": ["reminder:x overdue by 5m"]}
    readiness: dict = {"ready": False, "reasons": ["loading the content"]}

    async def health() -> dict:
        return dict(state)

    app = make_webhook_app(
        secret=SECRET,
        branch="main",
        on_push=lambda p: None,
        health=health,
        ready=lambda: dict(readiness),
    )
    server = WebhookServer(app, "127.0.0.1:0")
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/healthz") as r:
                assert r.status == 503
                assert (await r.json())["reasons"] == ["reminder:x overdue by 5m"]
            async with session.get(server.url + "/readyz") as r:
                assert r.status == 503
                assert (await r.json())["reasons"] == ["loading the content"]
            state.update(ok=True, reasons=[])
            readiness.update(ready=True, reasons=[])
            async with session.get(server.url + "/healthz") as r:
                assert (r.status, (await r.json())["ok"]) == (200, True)
            async with session.get(server.url + "/readyz") as r:
                assert (r.status, await r.json()) == (200, {"ready": True, "reasons": []})
    finally:
        await server.stop()


async def test_sync_on_push_and_extra_routes():
    requested: list[str] = []

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    async def health() -> dict:
        return {}

    app = make_webhook_app(
        secret=SECRET,
        branch=lambda: "main",
        on_push=lambda payload: requested.append(payload["after"]),
        health=health,
        extra_routes=[web.get("/hello", hello)],
    )
    server = WebhookServer(app, "127.0.0.1:0")
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = json.dumps(push()).encode()
            async with session.post(server.url + "/github", data=body, headers=headers(body)) as r:
                assert r.status == 202
            async with session.get(server.url + "/hello") as r:
                assert await r.text() == "hi"
    finally:
        await server.stop()
    assert requested == ["a" * 40]


def test_no_secret_is_a_config_error():
    async def health() -> dict:
        return {}

    with pytest.raises(ConfigError, match=r"webhook\.secret_env"):
        make_webhook_app(secret=b"", branch="main", on_push=lambda p: None, health=health)


def test_signature_helpers():
    assert sign(b"hello", b"k") == (
        "sha256=406e4b43f87095aa86ca6299d25e875921fefa180f02043bb29bec5681c0c2d0"
    )
    assert signature_valid(b"hello", sign(b"hello", b"k").upper().replace("SHA", "sha"), b"k")
    assert not signature_valid(b"hello", "sha256=é" + "0" * 63, b"k")


def test_parse_listen():
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("0.0.0.0:9000") == ("0.0.0.0", 9000)  # noqa: S104
    assert parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("8080", "host:", "host:99999", "a:b:c", "", ":9000"):
        with pytest.raises(ValueError):
            parse_listen(bad)


@pytest.mark.parametrize("listen", [":9000", "host:99999", "8080"])
def test_the_server_refuses_what_the_config_refuses(listen):
    # One reader: an address the config check turns down never reaches a running receiver.
    with pytest.raises(ConfigError) as refused:
        WebhookServer(web.Application(), listen)
    assert refused.value.key == "webhook.listen"
    with pytest.raises(ValueError):
        parse_listen(listen)


async def test_port_in_use_is_a_config_error(receiver):
    async def health() -> dict:
        return {}

    app = make_webhook_app(secret=SECRET, branch="main", on_push=lambda p: None, health=health)
    clash = WebhookServer(app, f"127.0.0.1:{receiver.server.port}")
    with pytest.raises(ConfigError, match="cannot listen"):
        await clash.start()


@pytest.mark.usefixtures("_isolated_git")
async def test_end_to_end_push_pulls_the_checkout_and_bad_ones_do_not(tmp_path):
    from bot.services.gitsync import ContentSync, GitContent

    from .test_gitsync import Repos

    repos = Repos(tmp_path)
    reloaded: asyncio.Queue = asyncio.Queue()

    async def on_change(result) -> None:
        await reloaded.put(result)

    content = GitContent(repos.content)
    sync = ContentSync(content, on_change=on_change, interval=3600)

    async def health() -> dict:
        return sync.status()

    app = make_webhook_app(
        secret=SECRET,
        branch=content.current_branch,
        on_push=lambda payload: sync.request_pull(f"webhook {payload.get('after', '')[:12]}"),
        health=health,
    )
    server = WebhookServer(app, "127.0.0.1:0")
    await server.start()
    runner = asyncio.create_task(sync.run())
    try:
        async with aiohttp.ClientSession() as session:
            before = repos.content_head()
            target = repos.push("recaps/s2-e06.md", "# S2:E6\n")
            body = json.dumps(push(after=target)).encode()
            refused = [
                headers(body, signature=sign(body, b"wrong")),
                {k: v for k, v in headers(body).items() if k != "X-Hub-Signature-256"},
            ]
            for hdrs in refused:
                async with session.post(server.url + "/github", data=body, headers=hdrs) as r:
                    assert r.status == 401
            big = b"x" * (2 * 1024 * 1024)
            async with session.post(server.url + "/github", data=big, headers=headers(big)) as r:
                assert r.status == 413
            assert sync.attempts == 0 and repos.content_head() == before

            started = asyncio.get_running_loop().time()
            async with session.post(server.url + "/github", data=body, headers=headers(body)) as r:
                assert r.status == 202
            result = await reloaded.get()
            latency = asyncio.get_running_loop().time() - started
            assert result.after == target == repos.content_head()
            assert result.changed_paths == ("recaps/s2-e06.md",)
            assert latency < 2, latency

            async with session.get(server.url + "/healthz") as r:
                assert (await r.json())["commit"] == target
    finally:
        sync.stop()
        await runner
        await server.stop()
