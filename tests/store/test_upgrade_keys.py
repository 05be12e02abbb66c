"""Round 1's reminder keys given their event's instant (`Outbox.upgrade_reminder_keys`), the
same on every backend: the instant to the second, UTC; a key already taken is left alone."""

from __future__ import annotations

from datetime import timedelta

from .conftest import T0, planned

EVENT = T0 + timedelta(hours=2, microseconds=250_000)


async def test_old_reminder_and_dm_keys_gain_their_events_instant_once(store):
    old = [
        planned("reminder:s2-e05:ama:1h", event_start=EVENT),
        planned("reminder:s2-e06:ama:1h", event_start=EVENT),
        planned("reminder:s2-e06:ama:1h@20250714T140000Z", event_start=EVENT),  # taken
        planned("reminder:no-event:ama:1h"),
    ]
    await store.outbox.reconcile(old, scope="reminder:", now=T0)
    await store.outbox.reconcile(
        [planned("dm:5:s2-e05:ama:1h", event_start=EVENT)], scope="dm:", now=T0
    )
    assert await store.outbox.upgrade_reminder_keys() == 2
    assert await store.outbox.keys_with_prefix("reminder:") + await store.outbox.keys_with_prefix(
        "dm:"
    ) == [
        "reminder:no-event:ama:1h",
        "reminder:s2-e05:ama:1h@20250714T140000Z",
        "reminder:s2-e06:ama:1h",
        "reminder:s2-e06:ama:1h@20250714T140000Z",
        "dm:5:s2-e05:ama:1h@20250714T140000Z",
    ]
    assert await store.outbox.upgrade_reminder_keys() == 0
