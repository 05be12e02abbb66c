"""Issue 23 item 6 in unit: a recap's card given as a repository path, read at send time,
matched in history by its file name, and checked by `amabot check`."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bot.cli.check import run_check
from bot.config import ConfigError, Settings, load_settings
from bot.content.images import MAX_ATTACHMENT_BYTES
from bot.discord.sender import uploads_of
from bot.services.delivery import matches_variant, variant_of

CARD_REF = "./../../season-02/img/S2-E5.png"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def card_payload() -> dict:
    return {
        "content": "📝 New recap: **Agents**",
        "embeds": [{"title": "Agents", "image": {"url": "attachment://S2-E5.png"}}],
        "files": [{"filename": "S2-E5.png", "path": "season-02/img/S2-E5.png"}],
    }


def test_the_card_is_read_from_the_checkout_at_send_time(tmp_path: Path):
    (tmp_path / "season-02" / "img").mkdir(parents=True)
    (tmp_path / "season-02" / "img" / "S2-E5.png").write_bytes(PNG)
    payload = card_payload()
    body, uploads = uploads_of(payload, tmp_path)
    assert [(u.filename, u.data, u.content_type) for u in uploads] == [
        ("S2-E5.png", PNG, "image/png")
    ]
    assert "files" not in body and body["embeds"] == payload["embeds"]
    assert "files" in payload  # the outbox's payload is left as it was, for a resend


def test_a_text_file_is_still_sent_as_markdown():
    payload = {"content": "the record", "files": [{"filename": "s2-e05.md", "text": "# AMA\n"}]}
    _, uploads = uploads_of(payload, None)
    assert [(u.filename, u.data, u.content_type) for u in uploads] == [
        ("s2-e05.md", b"# AMA\n", "text/markdown")
    ]


def test_an_unreadable_card_goes_out_without_it_and_without_its_embed_image(tmp_path: Path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(PNG)
    root = tmp_path / "content"
    (root / "img").mkdir(parents=True)
    big = root / "img" / "big.png"
    with big.open("wb") as out:  # sparse: no 10 MiB written
        out.truncate(MAX_ATTACHMENT_BYTES + 1)
    for path in ("season-02/img/S2-E5.png", "../secret.png", "img/big.png"):
        payload = card_payload()
        payload["files"][0]["path"] = path
        body, uploads = uploads_of(payload, root)
        assert uploads == [], path
        assert "image" not in body["embeds"][0], path
    body, uploads = uploads_of(card_payload(), None)  # no content root at all
    assert uploads == [] and "image" not in body["embeds"][0]


def test_history_recognises_a_post_with_its_attachment():
    variant = variant_of(card_payload())
    assert variant["files"] == ["S2-E5.png"]
    # What Discord returns: the file under `attachments`, the embed image resolved to the CDN.
    cdn = "https://cdn.discordapp.com/attachments/1/2/S2-E5.png"
    message = {
        "content": "📝 New recap: **Agents**",
        "embeds": [{"type": "rich", "title": "Agents", "image": {"url": cdn}}],
        "attachments": [{"id": "2", "filename": "S2-E5.png", "url": cdn}],
    }
    assert matches_variant(message, [variant])
    # Sent without it (the file could not be read then): still the same post.
    assert matches_variant({**message, "attachments": []}, [variant])
    # A file the post never carried: another message.
    other = {**message, "attachments": [{"id": "3", "filename": "other.png", "url": cdn}]}
    assert not matches_variant(other, [variant])
    # Variants recorded before file names were (no "files"): the attachment is not held against it.
    old = {k: v for k, v in variant.items() if k != "files"}
    assert matches_variant(message, [old])


def content_with_card(root: Path, card: bytes | None) -> Path:
    (root / "recaps").mkdir(parents=True)
    (root / "episodes").mkdir()
    (root / "recaps" / "s2-e05.md").write_text(
        "---\ndate:\n  created: 2025-07-14\n---\n\n# S2:E5 Fine Tuning\n\n"
        f"> What we learned.\n\n![Card]({CARD_REF})\n",
        encoding="utf-8",
    )
    if card is not None:
        (root / "season-02" / "img").mkdir(parents=True)
        (root / "season-02" / "img" / "S2-E5.png").write_bytes(card)
    return root


def check(root: Path) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = run_check(root, settings=Settings(), out=out, environ={})
    return code, out.getvalue().splitlines()


def test_check_warns_when_the_card_is_missing(tmp_path: Path):
    root = content_with_card(tmp_path / "content", None)
    code, lines = check(root)
    assert code == 0  # a warning: the recap still goes out
    shown = root.as_posix()
    assert (
        f"{shown}/recaps/s2-e05.md:10: warning: the card image {CARD_REF!r} is missing "
        "(season-02/img/S2-E5.png under the content root); the post goes out without it "
        "[card-image]"
    ) in lines


def test_check_warns_when_the_card_is_too_large_for_discord(tmp_path: Path):
    root = content_with_card(tmp_path / "content", PNG)
    assert not any("card-image" in line for line in check(root)[1])
    os.truncate(root / "season-02" / "img" / "S2-E5.png", MAX_ATTACHMENT_BYTES + 1)
    lines = [line for line in check(root)[1] if "card-image" in line]
    assert lines == [
        f"{root.as_posix()}/recaps/s2-e05.md:10: warning: the card image {CARD_REF!r} is "
        "10.0 MiB, over Discord's 10 MiB upload limit: the post goes out without it; make it "
        "smaller [card-image]"
    ]


def test_site_images_url_is_read_and_must_be_a_web_address(tmp_path: Path):
    config = tmp_path / "amabot.toml"
    config.write_text('[site]\nimages_url = "https://org.github.io/content/"\n', encoding="utf-8")
    assert load_settings(config, environ={}).site.images_url == "https://org.github.io/content/"
    config.write_text('[site]\nimages_url = "org.github.io/content"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="images_url"):
        load_settings(config, environ={})


def test_with_several_checkouts_the_card_is_read_from_the_one_that_has_it(tmp_path: Path):
    first, second = tmp_path / "mondays", tmp_path / "tuesdays"
    first.mkdir()
    (second / "season-02" / "img").mkdir(parents=True)
    (second / "season-02" / "img" / "S2-E5.png").write_bytes(PNG)
    _, uploads = uploads_of(card_payload(), [first, second])
    assert [u.data for u in uploads] == [PNG]
    body, uploads = uploads_of(card_payload(), [first])
    assert uploads == [] and "image" not in body["embeds"][0]
