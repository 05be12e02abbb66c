"""What a sent reminder becomes when its event moves or is cancelled. Pure.

Discord has no "retract": the convention in servers is to edit the message, strike the old
text through (``~~…~~``) and say what changed on a line of its own. The edit pings nobody
(an edit never notifies, and `allowed_mentions` says so explicitly).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.render.limits import allowed_mentions, fit_message
from bot.render.messages import when_line

Payload = dict[str, Any]


def _struck(content: str) -> str:
    lines = [ln.strip() for ln in content.splitlines() if ln.strip()]
    return "\n".join(f"~~{ln}~~" for ln in lines)


def reminder_moved(original: Mapping[str, Any], new_start: datetime | None) -> Payload:
    """The reminder, struck through, and where the event went: ``📅 Moved to <t:…:F>``, or
    "new time to be announced" when it has no time now. Buttons stay: the link still leads
    to the (moved) event."""
    if new_start is None:
        note = "📅 **Postponed:** the new time will be announced."
    else:
        note = f"📅 **Moved to {when_line(new_start)}**"
    content = _struck(str(original.get("content") or ""))
    return fit_message(
        {
            "content": f"{content}\n{note}" if content else note,
            "components": list(original.get("components") or []),
            "allowed_mentions": allowed_mentions(0),
        }
    )


def reminder_cancelled(original: Mapping[str, Any]) -> Payload:
    """The reminder, struck through, and ``❌ Cancelled.``; no buttons (nothing to join)."""
    note = "❌ **Cancelled.**"
    content = _struck(str(original.get("content") or ""))
    return fit_message(
        {
            "content": f"{content}\n{note}" if content else note,
            "components": [],
            "allowed_mentions": allowed_mentions(0),
        }
    )
