"""When `[events] auto_start` may start an AMA's stage (or voice) event. Pure.

Discord ends an active stage or voice event a few minutes after its channel is left empty.
Started at the exact start time with nobody there yet, the AMA would be COMPLETED before
the hosts walk in. So the event is started, once its start time has come:

- as soon as a host (a member with one of the `[organisers] role_ids`) is in the channel;
- or, `[events] auto_start_after` after the start time, if anyone at all is in it (a guest
  host without the organisers' role);
- never into an empty channel. An event nobody joined stays scheduled; the organisers can
  start it by hand, and the reconciler ends what it started once its time is over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.content.models import utc
from bot.plan.scheduled_events import EntityType, EventSpec


@dataclass(frozen=True, slots=True)
class StagePresence:
    """Who is in a stage or voice channel right now."""

    hosts: int = 0
    people: int = 0  # hosts included


def may_start(spec: EventSpec, now: datetime, presence: StagePresence, after: timedelta) -> bool:
    if spec.start is None or utc(now) < spec.start:
        return False
    if presence.hosts > 0:
        return True
    return presence.people > 0 and utc(now) >= spec.start + after


def start_check_times(plan: Iterable[EventSpec], now: datetime, after: timedelta) -> list[datetime]:
    """The moments the reconciler must look again for people in the channel: `after` past
    each coming start of a stage or voice event (hosts joining are seen as they join)."""
    now = utc(now)
    return sorted(
        {
            spec.start + after
            for spec in plan
            if not spec.cancel
            and spec.start is not None
            and spec.entity_type in (EntityType.STAGE_INSTANCE, EntityType.VOICE)
            and spec.start + after > now
        }
    )
