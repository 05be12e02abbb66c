"""A recap keeps its identity across renames and moves (issue 15, item 1), end to end.

The shipped recaps set no ``id:``: their id is their file name. Renaming or moving the file
must not announce it again; an explicit ``id:`` still decides. Real bot, stand-in, real git
repository (the rename is a real commit pulled through the webhook), real SQLite.
"""

from __future__ import annotations

import io
import shutil
from datetime import timedelta

from bot.cli.check import run_check
from testkit.harness import SAMPLE_CONTENT
from tests.e2e.test_recaps import NOW, announced, merge_and_push, recap_md, started


def no_id(text: str) -> str:
    """The recap as the shipped ones are written: no `id:`, the file name is the id."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("id: ")) + "\n"


def announcements_titled(h, title: str) -> list:
    return [
        r
        for r in h.sandbox.requests_to("POST", f"/channels/{h.announcements.id}/messages")
        if isinstance(r.json, dict) and r.json.get("embeds", [{}])[0].get("title") == title
    ]


async def test_git_mv_of_a_recap_without_id_does_not_announce_it_again(harness):
    h = harness
    await started(h)
    text = no_id(recap_md("s2-e08", "Agents, week 8"))
    await merge_and_push(h, {"recaps/s2-e08.md": text}, "Recap of week 8")
    first = await announced(h, "Agents, week 8")
    await merge_and_push(
        h, {"recaps/s2-e08.md": None, "recaps/2025/s2-e08-agents.md": text}, "git mv"
    )
    await h.restart_bot()
    await h.posting.sync.wait_idle()
    await h.posting.deliver_due()
    assert len(announcements_titled(h, "Agents, week 8")) == 1
    # The renamed file still owns the announcement: an edit to it edits the message.
    edited = text.replace("# Agents, week 8", "# Agents, week 8 (updated)")
    await merge_and_push(h, {"recaps/2025/s2-e08-agents.md": edited}, "Better title")
    await h.sandbox.wait_for(
        lambda: (
            h.sandbox.messages(h.announcements)[-1]["embeds"][0]["title"]
            == "Agents, week 8 (updated)"
        )
    )
    assert h.sandbox.messages(h.announcements)[-1]["id"] == first["id"]
    assert announcements_titled(h, "Agents, week 8 (updated)") == []


async def test_a_moved_and_rewritten_recap_is_known_by_its_episode_and_day(harness):
    h = harness
    await started(h)
    published = NOW - timedelta(minutes=5)
    old = no_id(recap_md("a", "Week 8", published=published, episode="s2-e05"))
    await merge_and_push(h, {"recaps/week-8.md": old}, "Recap")
    await announced(h, "Week 8")
    # Too different for git's rename detection; same episode, same day.
    new = no_id(
        recap_md(
            "b",
            "Distillation in practice",
            published=published,
            episode="s2-e05",
            summary="Entirely rewritten: " + "new words " * 40,
            tags=("other",),
        )
    )
    await merge_and_push(h, {"recaps/week-8.md": None, "recaps/s2/distillation.md": new}, "Rewrite")
    await h.posting.deliver_due()
    assert announcements_titled(h, "Distillation in practice") == []
    assert len(h.sandbox.requests_to("POST", f"/channels/{h.announcements.id}/messages")) == 1


async def test_an_explicit_id_still_wins(harness):
    h = harness
    await started(h)
    await merge_and_push(h, {"recaps/x.md": recap_md("first-id", "Explicit")}, "Recap")
    await announced(h, "Explicit")
    # Renamed and given a new explicit id: a new recap as far as the bot is concerned.
    await merge_and_push(
        h, {"recaps/x.md": None, "recaps/y.md": recap_md("second-id", "Explicit")}, "new id"
    )
    await h.sandbox.wait_for(lambda: len(announcements_titled(h, "Explicit")) == 2)
    assert (await h.bot.db.outbox.get("recap:second-id")) is not None


def test_check_warns_when_two_recaps_share_an_identity(tmp_path, harness):
    content = tmp_path / "c"
    (content / "recaps").mkdir(parents=True)
    shutil.copytree(SAMPLE_CONTENT / "episodes", content / "episodes")
    published = NOW - timedelta(days=1)
    for name in ("one", "two"):
        text = no_id(recap_md(name, f"Recap {name}", published=published, episode="s2-e05"))
        (content / "recaps" / f"{name}.md").write_text(text)
    out = io.StringIO()
    run_check(content, settings=harness.settings, out=out, environ={})
    text = out.getvalue()
    assert "0 errors, 2 warnings" in text, text
    assert "recaps/one.md" in text and "recaps/two.md" in text
    assert text.count("give each an `id:`") == 2
