"""The post-kind registry (bot/plan/kinds.py): every kind is declared once, its keys read back
byte for byte, and the outbox, the late policy and delivery follow what it declares."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.config import AnnouncementSettings, OrganiserSettings, ReminderSettings, Settings
from bot.plan import kinds
from bot.plan.kinds import (
    KINDS,
    OUTBOX_KINDS,
    Late,
    Target,
    UnknownKind,
    channel_for,
    declared,
    kind_of_key,
    publish_settings_on,
)
from bot.plan.late import Action, late_decision
from bot.plan.posts import PlannedPost, Post, PostStatus
from bot.services.delivery import DeliveryPolicy, Dispatcher
from bot.store import open_store
from tests.test_delivery import RecordingSender

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 7, 14, 17, 0, tzinfo=UTC)
START = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)
H = timedelta(hours=1)

# One sample key per kind, exactly as rows in databases already in use spell them, with the
# builder's arguments and what the parser gives back.
SAMPLES = {
    "recap": ("recap:s2-e05", ("s2-e05",), "s2-e05"),
    "reminder": (
        "reminder:s2:e05:ama:1h@20250718T173000Z",
        ("s2:e05", "ama", H, START),
        ("s2:e05", "ama", H, START),
    ),
    "announce": ("announce:42", (42,), 42),
    "alert": (
        "alert:reminder:s2-e05:ama:1h",
        ("reminder:s2-e05:ama:1h",),
        "reminder:s2-e05:ama:1h",
    ),
    "dm": (
        "dm:42:s2-e05:livestream:10m@20250718T173000Z",
        (42, "s2-e05", "livestream", timedelta(minutes=10), START),
        (42, "s2-e05", "livestream", "10m", START),
    ),
    "event": ("event:s2-e05:ama", ("s2-e05", "ama"), ("s2-e05", "ama")),
}


def test_every_kind_the_bot_posts_is_declared():
    assert set(KINDS) == {"recap", "reminder", "announce", "alert", "dm", "event"}
    assert {"recap", "reminder", "announce", "alert", "dm"} == OUTBOX_KINDS
    # Every `kind="..."` a product module writes names a declared kind.
    used = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "PlannedPost":
                for kw in node.keywords:
                    if kw.arg == "kind" and isinstance(kw.value, ast.Constant):
                        used.add(kw.value.value)
    assert used and used <= OUTBOX_KINDS
    for name, spec in KINDS.items():
        assert spec.name == name
        assert spec.prefix == f"{name}:"
        assert spec.noun


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_keys_are_built_and_read_back_byte_for_byte(name):
    key, args, parsed = SAMPLES[name]
    spec = declared(name)
    assert spec.key(*args) == key
    assert spec.parse(key) == parsed
    assert key.startswith(spec.prefix)
    assert kind_of_key(key) is spec
    with pytest.raises(ValueError):
        spec.parse("other:" + key)


def test_old_key_shapes_and_recap_dms_still_read():
    assert kinds.reminder_key("s2-e05", "ama", H) == "reminder:s2-e05:ama:1h"  # round 1
    assert kinds.parse_reminder_key_at("reminder:s2-e05:ama:1h") == ("s2-e05", "ama", H, None)
    assert kinds.recap_dm_key(42, "s2-e05") == "dm:42:recap:s2-e05"
    assert declared("dm").parse("dm:42:recap:s2-e05") == (42, "s2-e05")
    assert kinds.dm_recipient("dm:42:recap:s2-e05") == 42
    assert kinds.dm_recipient("dm:7:s2-e05:ama:1h") == 7
    with pytest.raises(ValueError):
        kinds.parse_recap_dm_key("dm:42:s2-e05:ama:1h")  # an event DM is never a recap DM


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_renderer_resolves_to_a_function_in_render_or_plan(name):
    spec = declared(name)
    assert spec.render.split(":")[0].split(".")[:2] in (["bot", "render"], ["bot", "plan"])
    assert inspect.isfunction(spec.renderer())


def test_the_channel_is_chosen_as_declared():
    settings = dataclasses.replace(
        Settings(),
        announcements=AnnouncementSettings(channel_id=1),
        reminders=ReminderSettings(channel_id=2, ama_channel_id=3),
        organisers=OrganiserSettings(alerts_channel_id=4),
    )
    assert channel_for("recap", settings) == 1
    assert channel_for("reminder", settings, "livestream") == 2
    assert channel_for("reminder", settings, "ama") == 3
    assert channel_for("alert", settings) == 4
    assert declared("dm").target is Target.MEMBER_DM
    assert declared("announce").target is Target.ORGANISER
    for name in ("dm", "announce"):
        with pytest.raises(ValueError):
            channel_for(name, settings)


def test_the_registry_decides_who_is_published():
    off = publish_settings_on(Settings())
    on = publish_settings_on(
        dataclasses.replace(Settings(), reminders=ReminderSettings(publish=True))
    )
    assert (off, on) == (frozenset(), frozenset({"reminders.publish"}))
    table = {
        name: (declared(name).may_publish(off), declared(name).may_publish(on))
        for name in OUTBOX_KINDS
    }
    assert table == {
        "recap": (True, True),
        "announce": (True, True),
        "reminder": (False, True),
        "alert": (False, False),
        "dm": (False, False),
    }


def _late(name: str, key: str, **kw) -> PlannedPost:
    return PlannedPost(key=key, kind=name, due_at=T0, channel_id=10, payload={"content": key}, **kw)


def test_the_registry_decides_the_late_policy_of_each_kind():
    two_days = T0 + 48 * H
    assert {name: declared(name).late for name in KINDS} == {
        "recap": Late.ALWAYS,
        "alert": Late.ALWAYS,
        "announce": Late.LIMIT,
        "reminder": Late.EVENT,
        "dm": Late.EVENT,
        "event": None,
    }
    # Two days late: news still goes out unmarked, the rest is past its limit or its event.
    assert late_decision(_late("recap", "recap:a"), two_days).action is Action.SEND
    assert late_decision(_late("alert", "alert:recap:a"), two_days).action is Action.SEND
    assert late_decision(_late("announce", "announce:1"), two_days).action is Action.SKIP
    reminder = _late("reminder", "reminder:e:ama:1h", event_start=T0 + H, deadline=T0 + H)
    assert late_decision(reminder, two_days).action is Action.SKIP
    # A recap DM follows the recap's policy, an event DM the reminder's (declared per key).
    assert late_decision(_late("dm", "dm:42:recap:a"), two_days).action is Action.SEND
    event_dm = _late("dm", "dm:42:e:ama:1h", event_start=T0 + H, deadline=T0 + H)
    assert late_decision(event_dm, two_days).action is Action.SKIP
    half_hour = T0 + timedelta(minutes=30)
    assert late_decision(_late("announce", "announce:1"), half_hour).action is Action.SEND_DELAYED


def test_changing_a_declaration_changes_what_the_late_policy_does(monkeypatch):
    reminder = _late("reminder", "reminder:e:ama:1h", event_start=T0 + H, deadline=T0 + H)
    assert late_decision(reminder, T0 + 2 * H).action is Action.SKIP
    monkeypatch.setitem(KINDS, "reminder", dataclasses.replace(KINDS["reminder"], late=Late.ALWAYS))
    assert late_decision(reminder, T0 + 2 * H).action is Action.SEND


def test_an_undeclared_kind_is_refused():
    with pytest.raises(UnknownKind):
        _late("question", "question:1")
    with pytest.raises(UnknownKind):
        _late("event", "event:s2-e05:ama")  # declared, but not an outbox post
    with pytest.raises(UnknownKind):
        declared("question")
    with pytest.raises(UnknownKind):
        kind_of_key("question:1")
    row = Post(
        key="question:1",
        kind="question",
        due_at=T0,
        channel_id=10,
        payload={},
        status=PostStatus.PENDING,
        content_hash="",
    )
    with pytest.raises(UnknownKind):
        late_decision(row, T0)


@pytest.fixture
async def world(tmp_path):
    clock = ManualClock(T0)
    store = await open_store(tmp_path / "amabot.sqlite3", clock=clock)
    sender = RecordingSender(clock)
    sender.news_channels.add(10)
    yield clock, store, sender
    await store.close()


async def _deliver_reminder(clock, store, sender, policy=None) -> Post:
    post = _late("reminder", "reminder:e:ama:1h", event_start=T0 + H, deadline=T0 + H)
    await store.outbox.reconcile([post], scope="reminder:", now=clock())
    await Dispatcher(store.outbox, sender, clock=clock, policy=policy).deliver_due()
    return await store.outbox.get(post.key)


async def test_delivery_publishes_what_the_registry_allows(world):
    clock, store, sender = world
    row = await _deliver_reminder(clock, store, sender)
    assert row.status is PostStatus.SENT and sender.published == []  # setting off: not published


async def test_delivery_publishes_a_kind_under_its_setting(world):
    clock, store, sender = world
    policy = DeliveryPolicy(publish_settings=frozenset({"reminders.publish"}))
    row = await _deliver_reminder(clock, store, sender, policy)
    assert row.status is PostStatus.SENT and sender.published == [row.message_id]


async def test_delivery_reads_the_declaration_not_the_kind_name(world, monkeypatch):
    clock, store, sender = world
    monkeypatch.setitem(KINDS, "reminder", dataclasses.replace(KINDS["reminder"], publish="always"))
    row = await _deliver_reminder(clock, store, sender)
    assert row.status is PostStatus.SENT and sender.published == [row.message_id]
