"""The organiser announcement workflow's decisions: what a draft is, when it may be
confirmed, what key its post gets, how the pending list pages. Pure: `now` is passed in.

An organiser's `/announce create` becomes a draft (kept in the bot state, `DRAFT_PREFIX` +
a random id) until they confirm it, cancel it or it expires after `DRAFT_TTL`. The post's
number is fixed when the draft is made, so Confirm is idempotent: a double click, or a click
again after a crash between writing the post and dropping the draft, finds the post already
there instead of scheduling it twice or losing it. bot/services/announcements.py runs this
against the store; cogs/organisers.py only parses, calls, renders and replies.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.plan.kinds import announce_key
from bot.plan.posts import PlannedPost
from bot.plan.when import WhenError, parse_when
from bot.render.limits import CONTENT_MAX, role_mention
from bot.render.messages import discord_timestamp

DRAFT_TTL = timedelta(minutes=30)
DRAFT_PREFIX = "announce.draft:"
LIST_PAGE = 10
MAX_PAGE = 1000
_DRAFT_ID = re.compile(r"[0-9a-f]{16}")


class AnnouncementError(Exception):
    """A refusal the organiser can act on; the text is shown to them as is."""


def check_message(message: str, role_id: int) -> None:
    """Refuse a text Discord would not take once the role mention is put in front."""
    mention = role_mention(role_id)
    length = len(message) + (len(mention) + 1 if mention and mention not in message else 0)
    if length > CONTENT_MAX:
        extra = " with the role mention" if length != len(message) else ""
        raise AnnouncementError(
            f"That message is {length} characters{extra}; Discord allows {CONTENT_MAX}. "
            "Shorten it and try again."
        )
    if not message.strip():
        raise AnnouncementError("The message is empty.")


def due_time(when: str, *, now: datetime, tz: str) -> datetime:
    """The organiser's time as aware UTC, refused when it cannot be read or has passed."""
    try:
        due = parse_when(when, now=now, tz=tz)
    except WhenError as exc:
        raise AnnouncementError(str(exc)) from exc
    if due <= now:
        raise AnnouncementError(
            f"{discord_timestamp(due)} is in the past. Pick a time ahead, e.g. `in 2h`."
        )
    return due


def new_draft_id() -> str:
    return secrets.token_hex(8)


def is_draft_id(text: str) -> bool:
    """Whether a button's argument can name a draft (anything else is a stale or forged id)."""
    return _DRAFT_ID.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Draft:
    """An announcement shown to its author but not yet scheduled."""

    author: int
    channel_id: int
    role_id: int
    due_at: datetime
    payload: dict[str, Any]
    expires_at: datetime
    number: int
    series: str = ""  # the series it is about (its channel's); "" = the whole community

    @property
    def key(self) -> str:
        return announce_key(self.number)

    def expired(self, now: datetime) -> bool:
        return self.expires_at < now

    def post(self, by: int) -> PlannedPost:
        return PlannedPost(
            key=self.key,
            kind="announce",
            due_at=self.due_at,
            channel_id=self.channel_id,
            payload=self.payload,
            created_by=by,
            subject=f"by {by}",
            series=self.series,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["due_at"] = self.due_at.isoformat()
        data["expires_at"] = self.expires_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Draft:
        return cls(
            author=int(data["author"]),
            channel_id=int(data["channel_id"]),
            role_id=int(data.get("role_id") or 0),
            due_at=datetime.fromisoformat(data["due_at"]),
            payload=data["payload"],
            expires_at=datetime.fromisoformat(data["expires_at"]),
            number=int(data["number"]),
            series=str(data.get("series") or ""),
        )


def page_of(total: int, page: int) -> tuple[int, int, int]:
    """(page, pages, offset) for `page` of a list of `total`, the page clamped into range."""
    pages = max((total + LIST_PAGE - 1) // LIST_PAGE, 1)
    page = min(max(page, 1), pages)
    return page, pages, (page - 1) * LIST_PAGE
