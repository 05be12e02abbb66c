"""Buttons: link buttons, "Add to calendar", "Remind me", an announcement draft's Confirm and
Cancel, a pending list's Previous and Next (their custom ids are routed by cogs/buttons.py).
Pure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.content.models import Episode, EpisodeStatus
from bot.render.limits import BUTTON_LINK, BUTTONS_PER_ROW, LINK_URL_MAX, is_http_url


def _link_button(label: str, url: str | None) -> dict[str, Any] | None:
    if not url or not is_http_url(url, LINK_URL_MAX):
        return None
    return {"type": 2, "style": BUTTON_LINK, "label": label, "url": url}


def _rows(*buttons: dict[str, Any] | None) -> list[dict[str, Any]]:
    kept = [b for b in buttons if b is not None]
    return [
        {"type": 1, "components": kept[i : i + BUTTONS_PER_ROW]}
        for i in range(0, len(kept), BUTTONS_PER_ROW)
    ]


ICS_PREFIX = "amabot:ics:"
# What the one button router (cogs/buttons.py) reads after "amabot:"; longer ids never reach
# a handler.
ROUTER_REST_MAX = 90
_HASHED = "#"


def ics_target(episode_id: str, series: str | None = None) -> str:
    """What an "Add to calendar" button names: the episode id, ``<series>:<id>`` when the
    community has several series (an id without a series means the first: the buttons
    posted before there were several)."""
    return f"{series}:{episode_id}" if series else episode_id


def ics_custom_id(episode_id: str, series: str | None = None) -> str:
    """The "Add to calendar" id: its target (`ics_target`), or a short hash of it when too
    long for the router (`ics_episode_id` finds the episode again)."""
    target = ics_target(episode_id, series)
    custom_id = f"{ICS_PREFIX}{target}"
    if len(custom_id) - len("amabot:") <= ROUTER_REST_MAX:
        return custom_id
    return f"{ICS_PREFIX}{_HASHED}{_short_hash(target)}"


def ics_episode_id(arg: str, episode_ids: Iterable[str]) -> str | None:
    """The target an "Add to calendar" click names (what follows ``amabot:ics:``), found
    among `episode_ids` (the `ics_target`s of the episodes) when it was hashed."""
    if not arg.startswith(_HASHED):
        return arg or None
    wanted = arg[len(_HASHED) :]
    return next((i for i in episode_ids if _short_hash(i) == wanted), None)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


REMIND_ME_ID = "amabot:remindme"  # + ":<stream>" on reminders; bare on /episode (asks which)
# Between a button's stream and its series: ``amabot:remindme:ama@talk-tuesdays``. A button
# without one (every button posted before several series existed) means the home series.
SERIES_MARK = "@"


def with_series(arg: str, series: str = "") -> str:
    """``ama`` + ``talk-tuesdays`` -> ``ama@talk-tuesdays``; no series: `arg` as it is."""
    return f"{arg}{SERIES_MARK}{series}" if series else arg


def split_series(arg: str) -> tuple[str, str]:
    """``ama@talk-tuesdays`` -> ("ama", "talk-tuesdays"); ``ama`` -> ("ama", "") (home)."""
    head, _, series = arg.partition(SERIES_MARK)
    return head, series


def button_series(settings: Settings) -> str:
    """The series a post's buttons name: none for the home series (its buttons stay as
    they always were), its id for every other (`SeriesSettings.key_prefix`)."""
    return settings.series.id if settings.series.key_prefix else ""


def remind_me_button(stream: str | None = None, series: str = "") -> dict[str, Any]:
    """ "Remind me": with a stream, its chooser; bare, asks which stream first."""
    arg = with_series(stream or "", series)
    custom_id = f"{REMIND_ME_ID}:{arg}" if arg else REMIND_ME_ID
    return {
        "type": 2,
        "style": 2,
        "label": "Remind me",
        "custom_id": custom_id,
    }


ASK_EPISODE_ID = "amabot:ama:ask-episode:"  # + the episode id: its AMA's ask form


def ask_button(episode_id: str) -> dict[str, Any] | None:
    """ "Ask a question" on an AMA's reminders: opens the AMA's question form (the cog finds
    the episode's session; too long an id for the router gets no button)."""
    custom_id = f"{ASK_EPISODE_ID}{episode_id}"
    if len(custom_id) - len("amabot:") > ROUTER_REST_MAX:
        return None
    return {"type": 2, "style": 1, "label": "Ask a question", "custom_id": custom_id}


def episode_action_buttons(
    episode: Episode, now: datetime, series: str | None = None
) -> list[dict[str, Any]]:
    """ "Add to calendar" and "Remind me", while a livestream or AMA of the episode is ahead
    (a TBD, aired or cancelled episode has nothing to put in a calendar or remind of).
    `series`: the episode's series' id when the community has several."""
    if episode.status is EpisodeStatus.CANCELLED:
        return []
    if not any(
        e.start is not None and (e.is_ahead(now) or e.is_running(now)) for e in episode.events()
    ):
        return []
    buttons: list[dict[str, Any]] = []
    buttons.append(
        {
            "type": 2,
            "style": 2,
            "label": "Add to calendar",
            "custom_id": ics_custom_id(episode.id, series),
        }
    )
    buttons.append(remind_me_button(series=series or ""))
    return buttons


def _action_button(label: str, custom_id: str, *, disabled: bool = False) -> dict[str, Any]:
    return {"type": 2, "style": 2, "label": label, "custom_id": custom_id, "disabled": disabled}


def draft_buttons(draft_id: str) -> list[dict[str, Any]]:
    """Confirm and Cancel under an announcement preview (`amabot:confirm|discard:<id>`)."""
    return [
        {
            "type": 1,
            "components": [
                {
                    "type": 2,
                    "style": 3,
                    "label": "Confirm",
                    "custom_id": f"amabot:confirm:{draft_id}",
                },
                {
                    "type": 2,
                    "style": 2,
                    "label": "Cancel",
                    "custom_id": f"amabot:discard:{draft_id}",
                },
            ],
        }
    ]


def page_buttons(page: int, pages: int) -> list[dict[str, Any]]:
    """Previous and Next under a list of pending posts (`amabot:list:<page>`); none for one page."""
    if pages <= 1:
        return []
    return [
        {
            "type": 1,
            "components": [
                _action_button("Previous", f"amabot:list:{page - 1}", disabled=page <= 1),
                _action_button("Next", f"amabot:list:{page + 1}", disabled=page >= pages),
            ],
        }
    ]
