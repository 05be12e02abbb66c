"""Periodic faults: every n-th matching request fails, some of the 429s global."""

from __future__ import annotations

import aiohttp

from testkit.sandbox import Sandbox, SandboxClient


async def _statuses(sb: Sandbox, path: str, n: int) -> list[tuple[int, bool | None]]:
    out = []
    headers = {"Authorization": f"Bot {sb.token}"}
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            async with session.get(sb.api_base + path, headers=headers) as resp:
                body = await resp.json(content_type=None)
                out.append((resp.status, body.get("global") if resp.status == 429 else None))
    return out


async def test_every_third_request_is_rate_limited_and_every_second_of_those_globally():
    async with Sandbox() as sb:
        guild = sb.add_guild("g")
        channel = sb.add_channel(guild, "general")
        async with SandboxClient(sb.base_url) as client:
            await client.fail_every(3, 429, "GET /channels/*", retry_after=0.1, global_every=2)
        got = await _statuses(sb, f"/channels/{channel.id}", 9)
        assert [s for s, _ in got] == [200, 200, 429] * 3
        assert [g for s, g in got if s == 429] == [False, True, False]
        limited = [r for r in sb.requests if r.status == 429]
        assert len(limited) == 3 and limited[1].response["global"] is True


async def test_periodic_fault_stops_after_count_and_ignores_other_routes():
    async with Sandbox() as sb:
        guild = sb.add_guild("g")
        channel = sb.add_channel(guild, "general")
        sb.fail_every(2, 503, "GET /channels/{channel_id}", count=2)
        got = await _statuses(sb, f"/channels/{channel.id}", 6)
        assert [s for s, _ in got] == [200, 503, 200, 503, 200, 200]
        # Requests to other routes neither fail nor advance the count.
        sb.fail_every(2, 503, "GET /channels/{channel_id}")
        other = await _statuses(sb, f"/channels/{channel.id}/messages", 3)
        assert [s for s, _ in other] == [200, 200, 200]
        assert [s for s, _ in await _statuses(sb, f"/channels/{channel.id}", 2)] == [200, 503]
        sb.clear_faults()
        assert [s for s, _ in await _statuses(sb, f"/channels/{channel.id}", 2)] == [200, 200]
