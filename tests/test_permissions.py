"""The permission table: one source for the invite, the README and the doctor."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bot.cli.main import main
from bot.config import AmaSettings, EventsSettings, OptinSettings, Settings
from bot.plan import permissions as p

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_permission_list_is_generated_from_the_table():
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- permissions:start -->\n(.*)\n<!-- permissions:end -->", text, re.S)
    assert found, "README lost its permission markers"
    assert found[1] == p.readme_section(), "run `amabot invite --markdown` and paste it"


def test_invite_permissions_follow_the_configured_features():
    posts = p.VIEW_CHANNEL | p.SEND_MESSAGES | p.EMBED_LINKS | p.READ_MESSAGE_HISTORY
    posts |= p.ATTACH_FILES  # a recap's card
    assert p.invite_permissions(Settings()) == posts
    optin = replace(Settings(), optin=OptinSettings(ama_role_id=5))
    assert p.invite_permissions(optin) == posts | p.MANAGE_ROLES
    stage = replace(Settings(), events=EventsSettings(enabled=True, ama_stage_channel_id=9))
    assert p.invite_permissions(stage) == (
        posts | p.MANAGE_EVENTS | p.MANAGE_CHANNELS | p.MUTE_MEMBERS | p.MOVE_MEMBERS
    )
    voice = replace(Settings(), events=EventsSettings(enabled=True, ama_voice_channel_id=9))
    assert p.invite_permissions(voice) == posts | p.MANAGE_EVENTS | p.CONNECT
    threads = p.CREATE_PUBLIC_THREADS | p.CREATE_PRIVATE_THREADS | p.SEND_MESSAGES_IN_THREADS
    ama = replace(Settings(), ama=AmaSettings(enabled=True, channel_id=1, review_channel_id=2))
    assert p.invite_permissions(ama) == posts | threads
    no_review = replace(Settings(), ama=AmaSettings(enabled=True, channel_id=1, review="off"))
    assert p.invite_permissions(no_review) == (
        posts | p.CREATE_PUBLIC_THREADS | p.SEND_MESSAGES_IN_THREADS
    )
    assert p.invite_permissions() == posts | p.MANAGE_ROLES | p.MANAGE_EVENTS | threads | (
        p.MANAGE_CHANNELS | p.MUTE_MEMBERS | p.MOVE_MEMBERS | p.CONNECT
    )


def test_amabot_invite_prints_the_url(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no ./config.toml: the defaults
    monkeypatch.delenv("AMABOT_CONFIG", raising=False)
    assert main(["invite", "--application-id", "1234"]) == 0
    url = urlsplit(capsys.readouterr().out.strip())
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("discord.com", "/oauth2/authorize")
    assert query["client_id"] == ["1234"]
    assert query["scope"] == ["bot applications.commands"]
    assert query["permissions"] == [str(p.invite_permissions(Settings()))]
    assert main(["invite", "--markdown"]) == 0
    assert capsys.readouterr().out.strip() == p.readme_section()


def test_overwrites_apply_in_discords_order():
    guild, me, role_a, role_b = 1, 2, 3, 4
    base = p.base_permissions(p.VIEW_CHANNEL | p.SEND_MESSAGES, [p.EMBED_LINKS])
    ows = [
        p.Overwrite(guild, 0, deny=p.SEND_MESSAGES | p.EMBED_LINKS),
        p.Overwrite(role_a, 0, allow=p.SEND_MESSAGES),
        p.Overwrite(role_b, 0, deny=p.SEND_MESSAGES),  # role allow wins over role deny
        p.Overwrite(me, 1, deny=p.VIEW_CHANNEL),
    ]
    got = p.channel_permissions(
        base, guild_id=guild, member_id=me, member_roles=[role_a, role_b], overwrites=ows
    )
    assert got & p.SEND_MESSAGES
    assert not got & p.EMBED_LINKS
    assert not got & p.VIEW_CHANNEL
    admin = p.base_permissions(0, [p.ADMINISTRATOR])
    assert (
        p.channel_permissions(admin, guild_id=guild, member_id=me, member_roles=[], overwrites=ows)
        == p.ALL
    )
