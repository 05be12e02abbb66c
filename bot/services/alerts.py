"""What the posting service does when Discord refuses a post for good, and its other notes
to the organisers: one outbox row of kind "alert" per note in `[organisers]
alerts_channel_id`, so a 429, a 5xx or a crash cannot lose it and a restart does not repeat
it. A DM refused because the member closed their DMs is the member's choice, not a fault:
recorded in the opt-in store, never told to the organisers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.plan.kinds import KINDS, alert_key, declared, is_ama_dm_key
from bot.plan.optin import dm_recipient, is_dm_closed_error
from bot.plan.posts import PlannedPost, Post, PostStatus
from bot.render.messages import failure_alert
from bot.services.gitsync import PullResult
from bot.services.wakeups import Wakeups
from bot.store import Store

log = logging.getLogger("amabot.posting")

ALERT_PREFIX = KINDS["alert"].prefix  # organiser alerts: one outbox row per refused post


class OrganiserAlerts:
    """Notes to the organisers through the outbox, and the refusals that lead to them."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        wakeups: Wakeups,
    ):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.wakeups = wakeups
        # Told of a member's AMA note that could not be DMed: (key, member, text).
        self.on_dm_closed: Callable[[str, int, str], Awaitable[None]] | None = None

    async def post_refused(self, post: Post, reason: str) -> None:
        """A post Discord refused for good (403, 404): say so in `[organisers]
        alerts_channel_id`, once per post. The row and the log already hold the reason.

        A DM refused because the member closed their DMs is the member's choice, not a fault:
        it is recorded (no more DMs planned until they opt in again) and their other pending
        DMs are cancelled, so the bot does not knock on a closed door for every event."""
        if post.kind == "dm":
            await self._dm_refused(post, reason)
            return
        channel_id = self.settings.organisers.alerts_channel_id
        if not channel_id or channel_id == post.channel_id:
            return  # no alerts channel, or it is the very channel that refuses us
        if post.kind == "alert":
            return  # the alerts channel itself refuses us: the log and /healthz say so
        alert = failure_alert(post.key, post.channel_id, reason, what=declared(post.kind).noun)
        await self.alert(post.key, alert, subject=post.key, series=post.series)

    async def history_rewritten(self, result: PullResult) -> None:
        """Tell the organisers once per rewrite, through the outbox (so a crash or an outage
        does not lose it and a restart does not repeat it)."""
        if not self.settings.organisers.alerts_channel_id:
            log.warning("content history rewritten; no [organisers] alerts_channel_id to say so")
            return
        await self.alert(
            f"rewritten:{result.after}", history_rewritten_alert(result), subject="content"
        )

    async def alert(
        self, key: str, payload: dict[str, Any], *, subject: str, series: str = ""
    ) -> None:
        """One note in `[organisers] alerts_channel_id`, once per key. An outbox row like
        every other post, so a 429, a 5xx or a crash cannot lose it; of kind "alert", so it
        is never dropped for being late and never published."""
        channel_id = self.settings.organisers.alerts_channel_id
        if not channel_id:
            return
        now = self.clock()
        alert = PlannedPost(
            key=alert_key(key),
            kind="alert",
            due_at=now,
            channel_id=channel_id,
            payload=payload,
            subject=subject,
            series=series,  # the series the refused post was of; "" for the whole bot
        )
        if await self.store.outbox.add_once(alert, now):
            self.wakeups.schedule(alert.key, now)

    async def _dm_refused(self, post: Post, reason: str) -> None:
        if not is_dm_closed_error(reason):
            log.warning("DM %s failed for good: %s", post.key, reason)
            return
        member = dm_recipient(post.key)
        now = self.clock()
        await self.store.optin.mark_dm_closed(member, reason, now)
        cancelled = []
        for key in await self.store.outbox.keys_with_prefix(f"dm:{member}:", [PostStatus.PENDING]):
            if await self.store.outbox.cancel(key, "the member's DMs are closed", now):
                self.wakeups.unschedule(key)
                cancelled.append(key)
        # A note that must reach the member (their AMA question answered) takes another way.
        if self.on_dm_closed is not None:
            for key in [post.key, *cancelled]:
                if is_ama_dm_key(key):
                    row = post if key == post.key else await self.store.outbox.get(key)
                    text = str((row.payload if row else {}).get("content", ""))
                    await self.on_dm_closed(key, member, text)
        log.info("member %s has closed DMs: DM reminders paused until they opt in again", member)


def history_rewritten_alert(result: PullResult) -> dict[str, Any]:
    """The note to the organisers after a force-push was followed. Plain text, pings nobody."""
    before, after = (result.before or "?")[:12], (result.after or "?")[:12]
    text = (
        f"⚠️ The content repository's history was rewritten (force-push on "
        f"`{result.branch or 'the content branch'}`). I followed it: my copy went from "
        f"`{before}` to `{after}` ({len(result.changed_paths)} files differ) and I re-planned "
        "from the new tree. What was already posted stays posted and is not announced again; "
        "new content is announced as usual. Nothing for you to do unless that is a surprise."
    )
    return {"content": text[:2000], "allowed_mentions": {"parse": []}}
