"""Posts refused for a permission come back when it is fixed, if still in time."""

from __future__ import annotations

from bot.plan.posts import PostStatus

from .conftest import T0, minutes, planned


async def refuse(store, post, reason="403 Missing Permissions (code 50013)"):
    await store.outbox.reconcile([post], scope=post.key.split(":")[0] + ":", now=T0)
    assert await store.outbox.claim(post.key, T0)
    assert await store.outbox.mark_failed(post.key, reason, T0)


async def test_refused_posts_revive_within_their_deadline_and_skip_past_it(store):
    recap = planned("recap:r1")  # no deadline: a recap is news whenever it goes out
    soon = planned("reminder:e1:ama:10m", deadline=T0 + minutes(5))
    gone = planned("reminder:e1:ama:1h", deadline=T0 + minutes(1))
    elsewhere = planned("reminder:e2:ama:1h", channel_id=222, deadline=T0 + minutes(30))
    for post in (recap, soon, gone, elsewhere):
        await refuse(store, post)
    broken = planned("reminder:e3:ama:1h", deadline=T0 + minutes(30))
    await refuse(store, broken, reason="400 Invalid Form Body (code 50035)")

    revived, skipped = await store.outbox.retry_refused({111}, T0 + minutes(2))

    assert sorted(revived) == ["recap:r1", "reminder:e1:ama:10m"]
    assert skipped == ["reminder:e1:ama:1h"]
    for key in revived:
        post = await store.outbox.get(key)
        assert post.status is PostStatus.PENDING and post.reason is None
        assert post.last_error.startswith("403")
    late = await store.outbox.get("reminder:e1:ama:1h")
    assert late.status is PostStatus.SKIPPED
    assert late.reason.startswith("403 Missing Permissions")
    assert "past its deadline when the permission came back" in late.reason
    # Another channel, and a refusal that is not about permissions, stay failed.
    for key in ("reminder:e2:ama:1h", "reminder:e3:ama:1h"):
        assert (await store.outbox.get(key)).status is PostStatus.FAILED
    assert await store.outbox.retry_refused(set(), T0) == ([], [])
