"""The bot's Prometheus metrics, defined in one place: `/metrics` (bot/web/metrics.py) serves
them in Prometheus' text format.

Each bot has its own registry (never the library's global one), so several bots in one process
(the tests) count apart. Names follow Prometheus' conventions: `amabot_` first, `_total` for
counters, `_seconds` for durations; labels stay low in cardinality (a post's kind, the series'
id, a status), never a key, a member or a message.

What is counted as it happens (posts, lateness, interactions, AMA questions and votes) is
observed by the services through the methods below; what is a state (the outbox's depth, the
gateway's latency, the lease) is read at scrape time, the outbox through the store's interface.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.plan.posts import PostStatus
from bot.store.interface import Outbox

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds after the due time: a reminder on time is well under a second late; the grace of a
# late policy is minutes.
LATENESS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# The bot's own time per interaction; Discord allows 3 s.
INTERACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5)


class BotMetrics:
    """One bot's metrics, in their own registry. `series` is `[series] id`."""

    def __init__(self, series: str):
        self.series = series
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["kind", "series"]
        r = self.registry
        self.posts_sent = Counter(
            "amabot_posts_sent",
            "Posts Discord has (sent, or found sent after a crash).",
            labels,
            registry=r,
        )
        self.posts_failed = Counter(
            "amabot_posts_failed",
            "Posts Discord refused for good (403, 404, ...).",
            labels,
            registry=r,
        )
        self.posts_skipped = Counter(
            "amabot_posts_skipped",
            "Posts deliberately not sent (late policy, the first start's backlog).",
            labels,
            registry=r,
        )
        self.post_lateness = Histogram(
            "amabot_post_lateness_seconds",
            "Seconds from a post's due time to its send (reminders: how late they went out).",
            labels,
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.outbox_depth = Gauge(
            "amabot_outbox_posts",
            "Outbox rows by status, read at scrape time.",
            ["status"],
            registry=r,
        )
        self.interaction_seconds = Histogram(
            "amabot_interaction_handling_seconds",
            "The bot's own time per interaction: its arrival to the first answer leaving.",
            buckets=INTERACTION_BUCKETS,
            registry=r,
        )
        self.gateway_latency = Gauge(
            "amabot_gateway_latency_seconds",
            "Discord gateway heartbeat latency (NaN while not connected).",
            registry=r,
        )
        self.lease_held = Gauge(
            "amabot_lease_held", "1 while this process holds the database's lease.", registry=r
        )
        self.ama_questions = Counter(
            "amabot_ama_questions", "AMA questions stored.", ["series"], registry=r
        )
        self.ama_votes = Counter(
            "amabot_ama_votes", 'AMA "Me too" clicks taken.', ["series", "action"], registry=r
        )
        self._outbox: Outbox | None = None

    # What happens, as it happens.

    def post_outcome(
        self, kind: str, outcome: str, lateness: float | None = None, *, series: str = ""
    ) -> None:
        """A post `sent`, `failed` or `skipped`; a sent one's seconds after its due time.
        `series`: the post's series ("" = none named: the first series')."""
        series = series or self.series
        counter = {
            "sent": self.posts_sent,
            "failed": self.posts_failed,
            "skipped": self.posts_skipped,
        }.get(outcome)
        if counter is None:
            return
        counter.labels(kind=kind, series=series).inc()
        if lateness is not None:
            self.post_lateness.labels(kind=kind, series=series).observe(max(lateness, 0.0))

    def interaction_handled(self, milliseconds: float) -> None:
        self.interaction_seconds.observe(milliseconds / 1000)

    def question_asked(self, series: str = "") -> None:
        self.ama_questions.labels(series=series or self.series).inc()

    def vote_taken(self, voted: bool, series: str = "") -> None:
        """A "Me too" toggled: on (`added`) or off (`removed`)."""
        action = "added" if voted else "removed"
        self.ama_votes.labels(series=series or self.series, action=action).inc()

    # What is, read at scrape time.

    def watch(
        self,
        *,
        outbox: Outbox | None = None,
        gateway_latency: Callable[[], float] | None = None,
        lease_held: Callable[[], bool] | None = None,
    ) -> None:
        """The states read at each scrape."""
        if outbox is not None:
            self._outbox = outbox
        if gateway_latency is not None:
            self.gateway_latency.set_function(lambda: _finite(gateway_latency()))
        if lease_held is not None:
            self.lease_held.set_function(lambda: 1.0 if lease_held() else 0.0)

    async def scrape(self) -> bytes:
        """The text exposition, the outbox's depth read first."""
        if self._outbox is not None:
            counts = await self._outbox.counts()
            for status in PostStatus:
                self.outbox_depth.labels(status=status.value).set(counts.get(status, 0))
        return generate_latest(self.registry)


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan
