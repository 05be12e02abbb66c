"""Issue 23 item 6: a recap's card given as a repository path (the seed's
``./../../season-02/img/S2-E5.png``) goes out attached to its announcement, once, across a
crash in the send→record gap; a resend after the crash carries it too."""

from __future__ import annotations

import asyncio
import struct
import zlib
from typing import Any

from bot.clock import ManualClock
from bot.plan.posts import PostStatus
from testkit.harness import Harness
from testkit.sandbox.state import ATTACH_FILES
from tests.e2e.conftest import eventually
from tests.e2e.test_exactly_once import (
    LS_START,
    H,
    M,
    S,
    bare_recap,
    bot_messages,
    crash_in_the_gap,
    drive,
    settled,
    world,
)

KEY = "recap:s9-e01-recap"
SEED_CARD = "./../../season-02/img/S2-E5.png"  # as the seed recap writes it


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x20\x60\xc0\x20\x60\xc0" * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = tiny_png()


async def merge_recap_with_card(h: Harness, clock: ManualClock) -> None:
    """The recap and its card image merged together, pulled and planned."""
    card = h.repo.author / "season-02" / "img" / "S2-E5.png"
    card.parent.mkdir(parents=True)
    card.write_bytes(PNG)  # committed with the recap (`git add -A`)
    recap = bare_recap("s9-e01-recap", "Agents", clock(), image=SEED_CARD)
    await h.merge({"recaps/s9-e01.md": recap}, "Recap with its card")
    await h.posting.sync.pull_now("poll", notify=False)
    await asyncio.to_thread(h.bot.index.reload)
    await h.posting.reconcile(events=False)
    row = await h.bot.db.outbox.get(KEY)
    assert row is not None and row.status is PostStatus.PENDING
    assert row.payload["files"] == [{"filename": "S2-E5.png", "path": "season-02/img/S2-E5.png"}]


def assert_carries_the_card(h: Harness, message: dict[str, Any]) -> None:
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "S2-E5.png"
    assert attachment["size"] == len(PNG)
    # Discord resolves the embed's attachment://S2-E5.png to the file's CDN address.
    assert message["embeds"][0]["image"]["url"] == attachment["url"]
    (received,) = h.sandbox.stored(message).attachments_received
    assert (received["filename"], received["size"]) == ("S2-E5.png", len(PNG))
    assert received["content_type"] == "image/png"


async def test_the_seed_card_is_attached_once_across_a_crash_in_the_gap(tmp_path):
    clock = ManualClock(LS_START + 3 * H)
    async with world(tmp_path, clock) as h:
        await merge_recap_with_card(h, clock)
        sent = await crash_in_the_gap(h, h.announcements)
        assert_carries_the_card(h, sent)
        clock.advance(10 * M)  # past the stand-in's nonce window: only the lookup can tell
        await h.start_bot()
        await drive(h, clock, KEY, clock() + H)
        row = await settled(h, KEY)
        # The history lookup recognised the post with its attachment: adopted, not resent.
        assert (row.status, row.message_id) == (PostStatus.SENT, int(sent["id"]))
        assert bot_messages(h, h.announcements) == [sent]
        assert "files" in row.variants[-1] and row.variants[-1]["files"] == ["S2-E5.png"]


async def test_a_resend_after_the_crash_carries_the_card(tmp_path):
    clock = ManualClock(LS_START + 3 * H)
    async with world(tmp_path, clock) as h:
        await merge_recap_with_card(h, clock)
        sent = await crash_in_the_gap(h, h.announcements)
        # Discord lost it meanwhile (a moderator deleted it): the lookup finds nothing.
        h.sandbox.stored(sent).deleted = True
        clock.advance(10 * M)
        await h.start_bot()
        await drive(h, clock, KEY, clock() + H)
        row = await settled(h, KEY)
        assert row.status is PostStatus.SENT
        (resent,) = bot_messages(h, h.announcements)
        assert int(resent["id"]) == row.message_id != int(sent["id"])
        assert_carries_the_card(h, resent)


async def test_a_card_missing_at_send_time_goes_out_without_it(tmp_path):
    clock = ManualClock(LS_START + 3 * H)
    async with world(tmp_path, clock) as h:
        recap = bare_recap("s9-e01-recap", "Agents", clock() - S, image=SEED_CARD)
        await h.merge({"recaps/s9-e01.md": recap}, "Recap, its card forgotten")
        await h.posting.sync.pull_now("poll", notify=False)
        await asyncio.to_thread(h.bot.index.reload)
        await h.posting.reconcile(events=False)
        await drive(h, clock, KEY, clock() + H)
        assert (await settled(h, KEY)).status is PostStatus.SENT
        (message,) = bot_messages(h, h.announcements)
        assert message["attachments"] == [] and "image" not in message["embeds"][0]


async def test_without_attach_files_the_recap_goes_out_without_its_card(tmp_path):
    clock = ManualClock(LS_START + 3 * H)
    async with world(tmp_path, clock) as h:
        bot_id = h.sandbox.bot_user.id
        await h.sandbox.set_overwrite(h.announcements, bot_id, deny=ATTACH_FILES)

        async def attach_files() -> bool:
            channel = h.bot.get_channel(h.announcements.id)
            return bool(channel.permissions_for(channel.guild.me).attach_files)

        await eventually(attach_files, lambda allowed: not allowed)
        await merge_recap_with_card(h, clock)
        await drive(h, clock, KEY, clock() + H)
        # Discord would refuse the whole post (50013): the recap goes out, its card left out.
        assert (await settled(h, KEY)).status is PostStatus.SENT
        (message,) = bot_messages(h, h.announcements)
        assert message["attachments"] == [] and "image" not in message["embeds"][0]


async def test_recap_command_attaches_the_seed_card(tmp_path):
    src = tmp_path / "src"
    (src / "recaps").mkdir(parents=True)
    (src / "episodes").mkdir()
    (src / "authors.yml").write_text("authors:\n  nitya:\n    name: Nitya Narasimhan\n")
    (src / "season-02" / "img").mkdir(parents=True)
    (src / "season-02" / "img" / "S2-E5.png").write_bytes(PNG)
    (src / "recaps" / "s2-e05.md").write_text(
        bare_recap("s2-e05-recap", "S2:E5 Fine Tuning", "2025-07-14", image=SEED_CARD)
    )
    h = Harness(tmp_path / "world", clock=ManualClock(LS_START + 3 * H), content_source=src)
    await h.start()
    try:
        await h.start_bot()
        result = await h.sandbox.slash(h.member, h.general, "recap")
        assert result.embeds[0]["title"] == "S2:E5 Fine Tuning"
        assert [(f["filename"], f["size"]) for f in result.files] == [("S2-E5.png", len(PNG))]
        # Shown from the attachment: Discord answers with its CDN address for the embed.
        (attachment,) = result.message["attachments"]
        assert result.embeds[0]["image"]["url"] == attachment["url"]
        assert result.response["data"]["embeds"][0]["image"]["url"] == "attachment://S2-E5.png"
    finally:
        await h.stop()
    h.sandbox.assert_valid()
