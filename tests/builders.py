"""The tests' content, built in one place: episode and recap Markdown files, and Episode
objects.

Each builder's defaults are the suites' common case (an episode of season 9 with a Monday
livestream and a Friday AMA in Los Angeles; a recap of s2-e05 with a card image); a suite
whose world differs passes the options, or names its variant once with `functools.partial`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.content.models import Episode, EpisodeStatus, ShowEvent

LA = "America/Los_Angeles"
REGISTER = "https://example.org/register/26109"
JOIN = "https://discord.gg/example?event=1"
CARD = "https://example.org/img/card.png"
TBD = "TBD"  # an event whose start is not known yet: ``start: TBD``

# Monday 2025-07-14 10:30 PDT = 17:30 UTC; Friday 2025-07-18 10:30 PDT = 17:30 UTC.
MONDAY = datetime(2025, 7, 14, 17, 30, tzinfo=UTC)
FRIDAY = datetime(2025, 7, 18, 17, 30, tzinfo=UTC)


def episode_md(
    id: str = "s9-e01",
    *,
    season: int = 9,
    number: int = 1,
    title: str = "Fine Tuning & Distillation",
    summary: str = "Customising a model for your application.",
    status: str = "scheduled",
    timezone: str | None = LA,
    livestream: str | None = "2025-07-14T10:30",
    ama: str | None = "2025-07-18T10:30",
    duration: str = "30m",
    livestream_url: str = REGISTER,
    ama_url: str = JOIN,
    guests: Iterable[str] = ("Dave Voutila",),
    hosts: Iterable[str] = ("Nitya Narasimhan",),
    tags: Iterable[str] = (),
    replay: str | None = None,
    image: str | None = None,
    body: str = "About it.",
) -> str:
    """An episode file. `livestream` / `ama`: its start as written (local to `timezone`
    unless it carries an offset), `TBD`, or None for no such key at all (the loader then
    uses the series' defaults). `duration` is the livestream's; the AMA lasts 30m."""
    guests, hosts, tags = tuple(guests), tuple(hosts), tuple(tags)
    lines = ["---", f"id: {id}", f"season: {season}", f"episode: {number}", f"title: {title!r}"]
    if summary:
        lines.append(f"summary: {summary!r}")
    if guests:
        lines.append(f"guests: [{', '.join(guests)}]")
    if hosts:
        lines.append(f"hosts: [{', '.join(hosts)}]")
    if tags:
        lines.append(f"tags: [{', '.join(tags)}]")
    lines.append(f"status: {status}")
    if timezone:
        lines.append(f"timezone: {timezone}")
    for kind, start, length, url in (
        ("livestream", livestream, duration, livestream_url),
        ("ama", ama, "30m", ama_url),
    ):
        if start == TBD:
            lines += [f"{kind}:", "  start: TBD"]
        elif start is not None:
            lines += [f"{kind}:", f"  start: {start}", f"  duration: {length}", f"  url: {url}"]
    if replay:
        lines += ["links:", f"  replay: {replay}"]
    if image:
        lines.append(f"image: {image}")
    return "\n".join([*lines, "---", body, ""])


def recap_md(
    rid: str | None,
    title: str,
    published: datetime | str,
    *,
    draft: bool = False,
    authors: Iterable[str] = ("nitya", "sharda"),
    categories: Iterable[str] = ("Recaps",),
    tags: Iterable[str] = ("fine-tuning", "distillation"),
    url: str | None = "",
    episode: str | None = "s2-e05",
    summary: str = "What we learned this week.",
    image: str | None = CARD,
    takeaway: str | None = None,
    more: bool = False,
) -> str:
    """A recap file. `rid` None: no ``id`` (the file name is the id). `published`: an
    aware datetime, or the date as written (``2025-07-08``). `url` "": the site's address
    for `rid`; None: no ``url``. `more`: a "## More" section after the summary."""
    created = (
        published.isoformat(timespec="seconds") if isinstance(published, datetime) else published
    )
    if url == "":
        url = f"https://example.org/recaps/{rid}/"
    lines = ["---"]
    if rid is not None:
        lines.append(f"id: {rid}")
    lines += ["date:", f"  created: {created}", f"draft: {'true' if draft else 'false'}"]
    lines += ["authors:", *(f"  - {a}" for a in authors)]
    categories, tags = tuple(categories), tuple(tags)
    if categories:
        lines += ["categories:", *(f"  - {c}" for c in categories)]
    if tags:
        lines += ["tags:", *(f"  - {t}" for t in tags)]
    if url:
        lines.append(f"url: {url}")
    if episode:
        lines.append(f"episode: {episode}")
    lines += ["---", "", f"# {title}", "", f"> {summary}", ""]
    if image:
        lines += [f"![Card]({image})", ""]
    if takeaway:
        lines += ["## Key takeaway", "", takeaway, ""]
    if more:
        lines += ["## More", "", "The rest of the post.", ""]
    return "\n".join(lines)


def make_episode(
    id: str = "s2-e05",
    *,
    ls_at: datetime | None = MONDAY,
    ama_at: datetime | None = FRIDAY,
    zone: str = LA,
    ls_url: str | None = "https://example.org/register",
    ama_url: str | None = "https://discord.gg/abc",
    **fields: Any,
) -> Episode:
    """An Episode of season 2 with a 30-minute livestream at `ls_at` and AMA at `ama_at`
    (None: TBD), in `zone`; `fields` set any other field of the model (title, summary,
    status, ``livestream=None`` for no livestream at all, ...)."""
    length = timedelta(minutes=30)
    values: dict[str, Any] = {
        "id": id,
        "path": f"episodes/{id}.md",
        "season": 2,
        "number": 5,
        "title": "Fine Tuning & Distillation",
        "guests": ("Dave Voutila",),
        "status": EpisodeStatus.SCHEDULED,
        "timezone": zone,
        "livestream": ShowEvent("livestream", ls_at, length, ls_url, zone),
        "ama": ShowEvent("ama", ama_at, length, ama_url, zone),
    }
    values.update(fields)
    return Episode(**values)


# Distinct questions for the AMA suites (no two similar enough to be offered as one).
AMA_QUESTIONS = [
    "How much data do I need before fine-tuning beats prompt engineering?",
    "Which evaluation metrics do you trust for retrieval augmented generation?",
    "Is distillation worth it for models under a billion parameters?",
    "What GPU budget should a small startup plan for inference serving?",
    "How do you keep agent tool calls safe when the tools can spend money?",
    "Would you choose quantised local models over hosted APIs for privacy?",
    "Where do synthetic datasets go wrong in your experience with customers?",
    "Can vector databases be replaced by plain full text search for most apps?",
    "Which open licence would you pick when releasing model weights today?",
    "How should a team version prompts alongside application code reviews?",
    "What surprised you most about multilingual tokenizer behaviour lately?",
    "Do you see small robotics labs benefiting from foundation vision encoders?",
    "When is it sensible to train reward models instead of writing heuristics?",
]
