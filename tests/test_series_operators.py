"""Operators with several series: `amabot check` reads every series' folders and names the
series in each diagnostic; `amabot plan` lists each series; the doctor's (and the invite's)
permission table has one set of rows per series, a shared channel listed once."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli.check import run_check
from bot.cli.plan import collect_plan, render_text
from bot.config import (
    AnnouncementSettings,
    ContentSettings,
    EventsSettings,
    ReminderSettings,
    Settings,
    StorageSettings,
)
from bot.plan.doctor import DiscordFacts, check_discord, check_local, configured_channels
from bot.plan.permissions import MANAGE_EVENTS, invite_permissions
from bot.plan.posts import PlannedPost
from bot.services.selfcheck import local_facts
from bot.store import open_store
from tests.builders import episode_md

NOW = datetime(2025, 7, 13, 16, 0, tzinfo=UTC)


def two_series(root: Path, **first: object) -> Settings:
    base = Settings(content=ContentSettings(path=root), **first)  # type: ignore[arg-type]

    def view(series_id: str, name: str, folder: str, **sections: object) -> Settings:
        return replace(
            base,
            series=replace(base.series, id=series_id, name=name),
            content=replace(base.content, episodes=f"{folder}/episodes", recaps=f"{folder}/recaps"),
            **sections,  # type: ignore[arg-type]
        )

    a = view("model-mondays", "Model Mondays", "mm")
    b = view(
        "talk-tuesdays",
        "Talk Tuesdays",
        "tt",
        announcements=AnnouncementSettings(channel_id=222),
        events=EventsSettings(enabled=True),
    )
    return replace(a, lineup=(a, b))


def content(root: Path) -> Path:
    (root / "mm" / "episodes").mkdir(parents=True)
    (root / "tt" / "episodes").mkdir(parents=True)
    (root / "mm" / "episodes" / "s1-e01.md").write_text(episode_md("s1-e01", season=1))
    (root / "tt" / "episodes" / "s1-e01.md").write_text(
        episode_md("s1-e01", season=1, duration="30 minutes please")
    )
    return root


def test_check_reads_every_series_and_names_it(tmp_path):
    settings = two_series(content(tmp_path / "content"))
    out = io.StringIO()
    assert run_check(None, settings=settings, out=out, environ={}, clock=lambda: NOW) == 1
    lines = out.getvalue().splitlines()
    [error] = [line for line in lines if ": error: " in line]
    assert error.startswith(f"{tmp_path}/content/tt/episodes/s1-e01.md:")
    assert ": error: talk-tuesdays: bad duration '30 minutes please'" in error
    assert lines[-1] == "2 files checked: 1 error, 0 warnings"

    out = io.StringIO()
    run_check(None, settings=settings, fmt="json", out=out, environ={}, clock=lambda: NOW)
    doc = json.loads(out.getvalue())
    assert [(s["id"], s["episodes"]) for s in doc["series"]] == [
        ("model-mondays", 1),
        ("talk-tuesdays", 1),
    ]
    assert [p["series"] for p in doc["problems"]] == ["talk-tuesdays"]

    # One file: checked with the series whose folders hold it.
    out = io.StringIO()
    one = tmp_path / "content" / "tt" / "episodes" / "s1-e01.md"
    assert run_check(one, settings=settings, out=out, environ={}, clock=lambda: NOW) == 1
    assert "talk-tuesdays: bad duration" in out.getvalue()


async def test_plan_lists_each_series(tmp_path):
    settings = replace(
        two_series(content(tmp_path / "content")),
        storage=StorageSettings(database=tmp_path / "db.sqlite3"),
    )
    settings = replace(
        settings,
        lineup=tuple(replace(v, storage=settings.storage) for v in settings.lineup),
    )
    # Three organisers' notes held: one per series, one to everyone.
    async with await open_store(settings.storage.database, clock=lambda: NOW) as store:
        for n, series in enumerate(("model-mondays", "talk-tuesdays", "")):
            note = {"content": f"note {n}", "allowed_mentions": {"parse": []}}
            due = NOW + timedelta(hours=n + 1)
            await store.outbox.add(
                PlannedPost(f"announce:{n + 1}", "announce", due, 7, note, series=series), NOW
            )
    plan = await collect_plan(settings, days=14, clock=lambda: NOW)
    assert [s["id"] for s in plan["series"]] == ["model-mondays", "talk-tuesdays"]
    assert [[p["key"] for p in s["pending"]] for s in plan["series"]] == [
        ["announce:1"],
        ["announce:2"],
    ]
    assert [p["key"] for p in plan["community"]["pending"]] == ["announce:3"]
    text = render_text(plan)
    mm, talk = text.split("== Talk Tuesdays (talk-tuesdays)")
    assert "== Model Mondays (model-mondays)" in mm and "announce:1" in mm
    talk, community = talk.split("== Of no series")
    assert "announce:2" in talk and "announce:1" not in talk and "announce:3" in community


def test_permission_rows_per_series_and_a_shared_channel_once():
    settings = two_series(
        Path("content"),
        announcements=AnnouncementSettings(channel_id=111),
        reminders=ReminderSettings(channel_id=333),
    )
    channels = {(c.id, c.use): c for c in configured_channels(settings)}
    # Each series' announcements channel: its own row, named and keyed by its series.
    assert channels[(111, "announce")].label == "Model Mondays: announcements"
    assert channels[(222, "announce")].label == "Talk Tuesdays: announcements"
    assert channels[(222, "announce")].key == "series[talk-tuesdays].announcements.channel_id"
    # The reminders channel both series use: one row, both named.
    shared = channels[(333, "post")]
    assert shared.label == (
        "Model Mondays: livestream reminders, Model Mondays: AMA reminders, "
        "Talk Tuesdays: livestream reminders, Talk Tuesdays: AMA reminders"
    )
    assert len([c for c in configured_channels(settings) if c.id == 333]) == 1
    # The invite asks for what any series needs: Talk Tuesdays makes Discord events.
    assert invite_permissions(settings) & MANAGE_EVENTS
    assert not invite_permissions(settings.lineup[0]) & MANAGE_EVENTS


def test_doctor_checks_every_series_channels():
    settings = two_series(
        Path("content"),
        announcements=AnnouncementSettings(channel_id=111),
        discord=replace(Settings().discord, guild_id=1),
    )
    settings = replace(
        settings, lineup=tuple(replace(v, discord=settings.discord) for v in settings.lineup)
    )
    facts = DiscordFacts(application_id=5, application_name="amabot", bot_id=9, guild_id=1)
    checks = [f.check for f in check_discord(settings, facts)]
    assert "channel Model Mondays: announcements (111)" in checks
    assert "channel Talk Tuesdays: announcements (222)" in checks
    assert any(c.startswith("Talk Tuesdays: events") for c in checks)


async def test_doctor_looks_at_every_series_checkout(tmp_path):
    """A series with its own checkout gets its own content check: a second repository whose
    branch is not on its remote is named, while the first one's check passes."""
    import subprocess

    def git(*args: str, cwd: Path) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)

    def repo(name: str, branch: str) -> Path:
        remote, clone = tmp_path / f"{name}.git", tmp_path / name
        git("init", "-q", "--bare", "-b", "main", str(remote), cwd=tmp_path)
        git("clone", "-q", str(remote), str(clone), cwd=tmp_path)
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
            "-m", "start", cwd=clone)  # fmt: skip
        git("push", "-q", "origin", "HEAD:main", cwd=clone)
        if branch != "main":
            git("checkout", "-q", "-b", branch, cwd=clone)
        return clone

    first, second = repo("mm", "main"), repo("tt", "not-pushed")
    settings = two_series(first)
    a, b = settings.lineup
    b = replace(b, content=replace(b.content, path=second))
    settings = replace(a, lineup=(a, b))

    local = await local_facts(settings, {}, bind=False)
    findings = {f.check: f for f in check_local(settings, local)}
    assert findings[f"content {first}"].ok
    assert "not-pushed is not on origin" in findings[f"content {second}"].problem
