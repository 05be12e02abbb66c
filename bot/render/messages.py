"""The bot's messages as Discord message JSON (plain dicts in the shape of Discord's API). Pure.

The replies to members (`/episode`, `/recap`, `/schedule`, not found, nothing yet), the posts
the bot makes (reminders, "live now", recap and organiser announcements, the "(delayed)"
mark), and what organisers see (an announcement's preview, the pending list); plus the small
texts they share (Discord timestamps, autocomplete names, recap links).

Every payload here goes through `limits.fit_message` and carries `limits.allowed_mentions`,
so ``@everyone`` or ``<@123>`` typed into a recap, a title or an organiser message never
pings anyone. The buttons come from `components`.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.content.ama_records import AmaRecord
from bot.content.images import attachment_name, repository_image
from bot.content.models import Author, Episode, EpisodeStatus, Recap, ShowEvent
from bot.durations import spoken_duration
from bot.render.components import (
    _link_button,
    _rows,
    ask_button,
    button_series,
    episode_action_buttons,
    page_buttons,
    remind_me_button,
)
from bot.render.limits import (
    CHOICE_NAME_MAX,
    CONTENT_MAX,
    EMBED_DESCRIPTION_MAX,
    EMBEDS_MAX,
    Payload,
    allowed_mentions,
    cut,
    escape_markdown,
    fit_message,
    is_http_url,
    link_text,
    one_line,
    role_mention,
)

COLOR_DEFAULT = 0x5865F2


COLOR_LIVE = 0xED4245


COLOR_TBD = 0xFEE75C


COLOR_CANCELLED = 0x99AAB5


COLOR_REPLAY = 0x57F287


COLOR_RECAP = 0x3BA55C


KIND_NAMES = {"livestream": "Livestream", "ama": "AMA"}


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def discord_timestamp(dt: datetime, style: str = "F") -> str:
    """``<t:UNIX:F>``: every member sees the time in their own zone."""
    if dt.tzinfo is None:
        raise ValueError("discord_timestamp needs an aware datetime")
    return f"<t:{int(dt.timestamp())}:{style}>"


def when_line(dt: datetime) -> str:
    return f"{discord_timestamp(dt, 'F')} ({discord_timestamp(dt, 'R')})"


def slugify(text: str) -> str:
    """The slug mkdocs (Python-Markdown's toc.slugify, used by the Material blog) makes."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def _join_names(names: Sequence[str]) -> str:
    names = [one_line(n) for n in names if one_line(n)]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _tags(tags: Sequence[str]) -> str:
    return " ".join(
        f"`{one_line(t).replace('`', '')}`" for t in tags if one_line(t).replace("`", "")
    )


def _field(name: str, value: str, inline: bool = False) -> dict[str, Any]:
    return {"name": name, "value": value, "inline": inline}


def _event_zone(event: ShowEvent, episode: Episode | None = None) -> ZoneInfo:
    for name in (event.timezone, episode.timezone if episode else None, "UTC"):
        if name:
            try:
                return ZoneInfo(name)
            except (KeyError, ValueError):
                continue
    return ZoneInfo("UTC")


def _weekday(event: ShowEvent, episode: Episode) -> str:
    if event.start is None:
        return ""
    return _WEEKDAYS[event.start.astimezone(_event_zone(event, episode)).weekday()]


def _with_guests(episode: Episode, max_title: int = 200) -> str:
    """``Fine Tuning & Distillation with Dave Voutila`` (guests omitted when in the title)."""
    title = cut(one_line(episode.title) or episode.code, max_title)
    guests = [g for g in episode.guests if one_line(g) and one_line(g).lower() not in title.lower()]
    who = cut(_join_names(guests), 150)
    # Inside a headline that is bold up to here: a title's own `*` or `_` must not be read.
    title, who = escape_markdown(title), escape_markdown(who)
    return f"{title} with {who}" if who else title


def _running_kind(episode: Episode, now: datetime) -> str | None:
    for event in episode.events():
        if event.is_running(now):
            return event.kind
    return None


def _next_event(episode: Episode, now: datetime) -> ShowEvent | None:
    ahead = [e for e in episode.events() if e.is_ahead(now)]
    return min(ahead, key=lambda e: e.start) if ahead else None  # type: ignore[arg-type,return-value]


def episode_status(episode: Episode, now: datetime) -> tuple[str, int]:
    """The one line that says where an episode stands, and the embed colour that goes with it."""
    replay = bool(episode.links.get("replay"))
    if episode.status is EpisodeStatus.CANCELLED:
        return "❌ **Cancelled**", COLOR_CANCELLED
    running = _running_kind(episode, now)
    if running or episode.status is EpisodeStatus.LIVE:
        what = f": the {KIND_NAMES[running]} is on" if running else ""
        return f"🔴 **Live now**{what}", COLOR_LIVE
    upcoming = _next_event(episode, now)
    if episode.status is EpisodeStatus.TBD or episode.first_start() is None:
        line, color = "🗓️ **Date to be announced**", COLOR_TBD
    elif upcoming is not None and upcoming.start is not None:
        line = (
            f"📅 **Upcoming**: {KIND_NAMES[upcoming.kind]} {discord_timestamp(upcoming.start, 'R')}"
        )
        color = COLOR_DEFAULT
    else:
        line, color = "✅ **Aired**", COLOR_DEFAULT
    if replay:
        line += " · ▶️ **Replay available**"
        if upcoming is None:
            color = COLOR_REPLAY
    return line, color


def _event_value(event: ShowEvent | None, episode: Episode, now: datetime) -> str:
    if event is None or event.start is None:
        return "TBD"
    value = when_line(event.start)
    if episode.status is EpisodeStatus.CANCELLED:
        return f"~~{value}~~ cancelled"
    if event.is_running(now):
        value += " · 🔴 live now"
    return value


def episode_reply(
    episode: Episode,
    *,
    now: datetime,
    recap: Recap | None = None,
    recap_url: str | None = None,
    image_url: str | None = None,
    settings: Settings,
    event_urls: Mapping[str, str] | None = None,
    actions: bool = False,
    ama_record: AmaRecord | None = None,
    series: str | None = None,
) -> Payload:
    """The `/episode` answer: one embed and the link buttons that exist; its footer names
    the series (`settings` is the episode's series' view).

    `event_urls` maps "ama"/"livestream" to the Discord scheduled event made for it; the AMA's
    is preferred over a hand-pasted `ama.url` ("Interested?"). With `actions`, a second row
    offers "Add to calendar" and "Remind me" (handled by the bot, not links); `series`, the
    series' id when there are several, goes into their ids."""
    status, color = episode_status(episode, now)
    description = status
    if episode.summary.strip():
        description += "\n\n" + episode.summary.strip()
    embed: dict[str, Any] = {
        "title": f"{episode.code} · {one_line(episode.title)}" if episode.title else episode.code,
        "description": description,
        "color": color,
        "fields": _episode_fields(episode, now, recap, recap_url),
        "footer": {"text": settings.series.name},
    }
    if ama_record is not None:
        embed["fields"].append(ama_record_field(ama_record, settings))
    if image_url:
        embed["image"] = {"url": image_url}
    ls, ama = episode.livestream, episode.ama
    upcoming_ls = ls is not None and (ls.start is None or ls.is_ahead(now) or ls.is_running(now))
    ama_event = (event_urls or {}).get("ama")
    buttons = _rows(
        _link_button("Register" if upcoming_ls else "Livestream page", ls.url if ls else None),
        _link_button("Interested?", ama_event)
        or _link_button("Join the AMA", ama.url if ama else None),
        _link_button("Watch the replay", episode.links.get("replay")),
        _link_button("Read the recap", recap_url),
    )
    if actions:
        buttons.extend(_rows(*episode_action_buttons(episode, now, series)))
    return fit_message(
        {
            "content": "",
            "embeds": [embed],
            "components": buttons,
            "allowed_mentions": allowed_mentions(0),
        }
    )


def _episode_fields(
    episode: Episode, now: datetime, recap: Recap | None, recap_url: str | None
) -> list[dict[str, Any]]:
    """The `/episode` embed's fields: people, the two events, the recap, the tags."""
    fields: list[dict[str, Any]] = []
    if episode.guests:
        fields.append(
            _field(
                "Guests" if len(episode.guests) > 1 else "Guest", _join_names(episode.guests), True
            )
        )
    if episode.hosts:
        fields.append(
            _field("Hosts" if len(episode.hosts) > 1 else "Host", _join_names(episode.hosts), True)
        )
    fields.append(_field("Livestream", _event_value(episode.livestream, episode, now)))
    fields.append(_field("AMA", _event_value(episode.ama, episode, now)))
    if recap is not None:
        title = one_line(recap.title)
        fields.append(
            _field(
                "Recap",
                f"[{link_text(title)}]({recap_url})"
                if is_http_url(recap_url)
                else escape_markdown(title),
            )
        )
    if episode.tags:
        fields.append(_field("Tags", _tags(episode.tags)))
    return fields


def ama_record_field(record: AmaRecord, settings: Settings) -> dict[str, Any]:
    """ "AMA Q&A: 12 questions answered", linked to the record when `[site] ama_url` says
    where records are published."""
    answered = f"{record.answered} question{'s' if record.answered != 1 else ''} answered"
    if record.not_reached:
        answered += f", {record.not_reached} not reached"
    url = settings.site.ama_url.replace("{id}", record.episode_id) if settings.site.ama_url else ""
    value = f"[{answered}]({url})" if is_http_url(url) else answered
    return _field("AMA Q&A", value)


def autocomplete_name(episode: Episode, series: str | None = None) -> str:
    """``S2:E5 · Fine Tuning & Distillation — Dave Voutila`` in at most 100 characters;
    ``Model Mondays · S2:E5 · …`` when `series` (its series' name) is given."""
    prefix = series_prefix(series)
    limit = CHOICE_NAME_MAX - len(prefix)
    title = one_line(episode.title)
    base = f"{episode.code} · {title}" if title else episode.code
    who = ", ".join(one_line(g) for g in episode.guests if one_line(g))
    if who:
        full = f"{base} — {who}"
        if len(full) <= limit:
            return prefix + full
        room = limit - len(base) - len(" — ")
        if room >= 12:
            return f"{prefix}{base} — {cut(who, room)}"
    return prefix + cut(base, limit)


SERIES_NAME_MAX = 32  # of a choice's 100 characters: the rest is the episode's


def series_prefix(series: str | None) -> str:
    """``Model Mondays · `` before a choice or suggestion naming its series ("" for none)."""
    name = one_line(series or "")
    return f"{cut(name, SERIES_NAME_MAX)} · " if name else ""


_CODE_IN_TITLE = re.compile(r"\bS\d+\s*:?\s*E\d+", re.IGNORECASE)


def recap_url_for(recap: Recap, settings: Settings) -> str | None:
    """`url:` from the frontmatter, else the `[site] recaps_url` pattern, else None.

    Pattern placeholders: {yyyy} {mm} {dd} (the publication date in the series zone, as the
    blog dates it), {slug} (the title slugified the way the mkdocs Material blog does; the file
    name when there is no title) and {id}.
    """
    if recap.url and is_http_url(recap.url):
        return recap.url
    pattern = settings.site.recaps_url
    if not pattern:
        return None
    try:
        tz = ZoneInfo(settings.series.timezone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    local = recap.published.astimezone(tz)
    stem = recap.path.rsplit("/", 1)[-1].rsplit(".", 1)[0] if recap.path else recap.id
    slug = slugify(recap.title) or slugify(stem) or recap.id
    url = pattern
    for name, value in (
        ("yyyy", f"{local.year:04d}"),
        ("mm", f"{local.month:02d}"),
        ("dd", f"{local.day:02d}"),
        ("slug", slug),
        ("id", recap.id),
    ):
        url = url.replace("{" + name + "}", value)
    return url if is_http_url(url) else None


def _author_names(recap: Recap, authors: Mapping[str, Author]) -> str:
    return _join_names(
        [authors[k].name if k in authors and authors[k].name else k for k in recap.authors]
    )


def _episode_label(recap: Recap, episode: Episode | None) -> str | None:
    if episode is not None:
        return f"{episode.code} · {one_line(episode.title)}" if episode.title else episode.code
    return recap.episode_id


def recap_reply(
    recap: Recap,
    *,
    episode: Episode | None = None,
    authors: Mapping[str, Author],
    recap_url: str | None = None,
    settings: Settings,
    ama_record: AmaRecord | None = None,
) -> Payload:
    """The `/recap` answer."""
    fields = []
    if recap.key_takeaway and recap.key_takeaway.strip():
        fields.append(_field("Key takeaway", recap.key_takeaway.strip()))
    names = _author_names(recap, authors)
    if names:
        fields.append(_field("Authors" if len(recap.authors) > 1 else "Author", names, True))
    fields.append(_field("Published", discord_timestamp(recap.published, "D"), True))
    label = _episode_label(recap, episode)
    if label:
        fields.append(_field("Episode", label, True))
    if recap.tags:
        fields.append(_field("Tags", _tags(recap.tags)))
    if ama_record is not None:
        fields.append(ama_record_field(ama_record, settings))
    embed: dict[str, Any] = {
        "title": one_line(recap.title) or recap.id,
        "description": recap.summary.strip(),
        "color": COLOR_RECAP,
        "fields": fields,
        "footer": {"text": settings.series.name},
    }
    return _recap_message(
        "", embed, recap, episode, recap_url, role_id=0, images_url=settings.site.images_url
    )


def _recap_message(
    content: str,
    embed: dict[str, Any],
    recap: Recap,
    episode: Episode | None,
    recap_url: str | None,
    *,
    role_id: int,
    images_url: str = "",
) -> Payload:
    """A recap's embed with its link, its image and a "Read the recap" button."""
    if recap_url and is_http_url(recap_url):
        embed["url"] = recap_url
    image, attached = _recap_image(recap, episode, images_url)
    if image:
        embed["image"] = {"url": image}
    payload = fit_message(
        {
            "content": content,
            "embeds": [embed],
            "components": _rows(_link_button("Read the recap", recap_url)),
            "allowed_mentions": allowed_mentions(role_id),
        }
    )
    if attached is not None:
        # Read from the content checkout when sent (bot/discord/sender.py), so the outbox row
        # stays small and a resend after a crash carries the same file.
        payload["files"] = [{"filename": attachment_name(attached), "path": str(attached)}]
    return payload


def _recap_image(
    recap: Recap, episode: Episode | None, images_url: str = ""
) -> tuple[str | None, PurePosixPath | None]:
    """(the embed's image URL, the repository file to attach for it). A web address is used
    as is; a repository path through `[site] images_url` when set, else attached."""
    sources = [(recap.image, recap.path)]
    if episode is not None:
        sources.append((episode.image, episode.path))
    for candidate, document in sources:
        if is_http_url(candidate):
            return candidate, None
        path = repository_image(candidate, document)
        if path is None:
            continue
        if images_url:
            url = images_url.rstrip("/") + "/" + quote(str(path))
            if is_http_url(url):
                return url, None
            continue
        return f"attachment://{attachment_name(path)}", path
    return None, None


def recap_autocomplete_name(
    recap: Recap, episode: Episode | None, series: str | None = None
) -> str:
    """``S2:E5 · Understanding Fine Tuning … · 2025-07-14`` in at most 100 characters;
    ``Model Mondays · S2:E5 · …`` when `series` (its series' name) is given."""
    prefix = series_prefix(series)
    title = one_line(recap.title) or recap.id
    if episode is not None and not _CODE_IN_TITLE.search(title[:30]):
        title = f"{episode.code} · {title}"
    suffix = f" · {recap.published.date().isoformat()}"
    return prefix + cut(title, CHOICE_NAME_MAX - len(prefix) - len(suffix)) + suffix


def recap_announcement(
    recap: Recap,
    *,
    episode: Episode | None,
    authors: Mapping[str, Author],
    recap_url: str | None,
    role_id: int,
    images_url: str = "",
) -> Payload:
    """The post in the announcements channel when a recap is merged. Its card, given as a
    repository path, is shown from `images_url` (`[site] images_url`) or else attached."""
    title = one_line(recap.title) or recap.id
    headline = f"📝 New recap: **{escape_markdown(cut(title, 300))}**"
    content = f"{role_mention(role_id)} {headline}" if role_id else headline
    fields = []
    label = _episode_label(recap, episode)
    if label:
        fields.append(_field("Episode", label, True))
    names = _author_names(recap, authors)
    if names:
        fields.append(_field("Authors" if len(recap.authors) > 1 else "Author", names, True))
    if recap.tags:
        fields.append(_field("Tags", _tags(recap.tags)))
    embed: dict[str, Any] = {
        "title": title,
        "description": recap.summary.strip(),
        "color": COLOR_RECAP,
        "fields": fields,
        "timestamp": recap.published.astimezone(UTC).isoformat(),
    }
    return _recap_message(
        content, embed, recap, episode, recap_url, role_id=role_id, images_url=images_url
    )


def schedule_reply(
    items: list[tuple[Episode, ShowEvent]],
    *,
    now: datetime,
    settings: Settings,
    season: int | None = None,
) -> Payload:
    """`/schedule`: one line pair per coming livestream or AMA."""
    embed = _schedule_embed(
        settings.series.name, items, now=now, season=season, budget=EMBED_DESCRIPTION_MAX - 40
    )
    embed["footer"] = {"text": SCHEDULE_FOOTER}
    return fit_message({"content": "", "embeds": [embed], "allowed_mentions": allowed_mentions(0)})


SCHEDULE_FOOTER = "Times are shown in your own time zone."
_SCHEDULE_TOTAL = 5600  # of an message's 6000 embed characters, leaving room for titles


def schedule_by_series_reply(
    groups: Sequence[tuple[str, list[tuple[Episode, ShowEvent]]]],
    *,
    now: datetime,
    season: int | None = None,
) -> Payload:
    """`/schedule` across several series: one embed per series (its name, its coming
    livestreams and AMAs), in the order given; the message's room shared between them."""
    shown = list(groups)
    if len(shown) > EMBEDS_MAX:
        shown = [g for g in shown if g[1]] or shown  # the series with nothing coming go first
    left_out = len(shown) - EMBEDS_MAX
    shown = shown[:EMBEDS_MAX]
    titles = sum(min(len(one_line(name)), 200) + 40 for name, _items in shown)
    budget = max(200, min(EMBED_DESCRIPTION_MAX - 40, (_SCHEDULE_TOTAL - titles) // len(shown)))
    embeds = [
        _schedule_embed(name, items, now=now, season=season, budget=budget) for name, items in shown
    ]
    footer = SCHEDULE_FOOTER
    if left_out > 0:
        footer += f" {left_out} more series: pick one with the series option."
    embeds[-1]["footer"] = {"text": footer}
    return fit_message({"content": "", "embeds": embeds, "allowed_mentions": allowed_mentions(0)})


def _schedule_embed(
    series_name: str,
    items: list[tuple[Episode, ShowEvent]],
    *,
    now: datetime,
    season: int | None,
    budget: int,
) -> dict[str, Any]:
    """One series' coming livestreams and AMAs, in at most `budget` characters."""
    lines: list[str] = []
    used = 0
    shown = 0
    entries = [(ep, ev, ev.start) for ep, ev in items if ev.start is not None]
    for ep, ev, start in entries:
        live = " · 🔴 live now" if ev.is_running(now) else ""
        title = escape_markdown(cut(one_line(ep.title), 150))
        entry = f"**{ep.code}** · {title} — {KIND_NAMES[ev.kind]}{live}\n{when_line(start)}"
        if used + len(entry) + 2 > budget:
            break
        lines.append(entry)
        used += len(entry) + 2
        shown += 1
    if shown < len(entries):
        lines.append(f"…and {len(entries) - shown} more")
    where = f" in season {season}" if season is not None else ""
    description = (
        "\n\n".join(lines) if lines else f"Nothing is scheduled{where} right now. Check back soon!"
    )
    return {
        "title": cut(f"{one_line(series_name)}: coming up", 200)
        + (f" (season {season})" if where else ""),
        "description": description,
        "color": COLOR_DEFAULT,
    }


def not_found_reply(kind: str, query: str, suggestions: list[str]) -> Payload:
    """Unknown query: say so, with up to 3 "did you mean" choices (sent ephemeral by the cog)."""
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    shown = cut(one_line(query).replace("`", "'"), 100)
    text = f"I couldn't find {article} {kind} matching “{shown}”."
    picks = [cut(one_line(s), 100) for s in suggestions if one_line(s)][:3]
    if picks:
        text += "\nDid you mean:\n" + "\n".join(f"• {p}" for p in picks)
    return fit_message({"content": text, "allowed_mentions": allowed_mentions(0)})


def nothing_yet_reply(kind: str) -> Payload:
    """No query and nothing to show: the content folder has no episode (or recap) yet."""
    plural = "episodes" if kind == "episode" else f"published {kind}s"
    return fit_message(
        {
            "content": f"There are no {plural} yet. Check back soon!",
            "allowed_mentions": allowed_mentions(0),
        }
    )


def _event_label(episode: Episode, event: ShowEvent) -> str:
    what = "AMA" if event.kind == "ama" else "livestream"
    weekday = _weekday(event, episode)
    return f"{weekday} {what}" if weekday else what


def _event_button(event: ShowEvent, *, starting: bool) -> dict[str, Any] | None:
    if event.kind == "ama":
        return _link_button("Join the AMA", event.url)
    return _link_button(
        "Join the livestream" if starting else "Register for the livestream", event.url
    )


def reminder_message(
    episode: Episode,
    event: ShowEvent,
    offset: timedelta,
    *,
    role_id: int,
    settings: Settings,
    remind_me: bool = True,
) -> Payload:
    """``Friday AMA in 1 hour: Fine Tuning & Distillation with Dave Voutila`` + time + button."""
    if event.start is None:
        raise ValueError("a reminder needs an event with a start time")
    starting = offset <= timedelta(0)
    when = "starting now" if starting else f"in {spoken_duration(offset)}"
    emoji = "🔴" if starting else "⏰"
    headline = f"{emoji} **{_event_label(episode, event)} {when}:** {_with_guests(episode)}"
    details = f"{when_line(event.start)} · {episode.code} · {settings.series.name}"
    content = "\n".join(p for p in (f"{role_mention(role_id)} {headline}".strip(), details) if p)
    return fit_message(
        {
            "content": content,
            "components": _rows(
                _event_button(event, starting=starting),
                ask_button(episode.id) if event.kind == "ama" and settings.ama.enabled else None,
                remind_me_button(event.kind, button_series(settings)) if remind_me else None,
            ),
            "allowed_mentions": allowed_mentions(role_id),
        }
    )


def live_now_message(
    episode: Episode, event: ShowEvent, role_id: int, settings: Settings
) -> Payload:
    """Sent instead of a late "starting now" reminder while the event is running."""
    if event.start is None:
        raise ValueError("a live-now message needs an event with a start time")
    headline = f"🔴 **{_event_label(episode, event)} is live now:** {_with_guests(episode)}"
    details = (
        f"Started {discord_timestamp(event.start, 'R')} · {episode.code} · {settings.series.name}"
    )
    content = f"{role_mention(role_id)} {headline}".strip() + "\n" + details
    return fit_message(
        {
            "content": content,
            "components": _rows(
                _event_button(event, starting=True),
                remind_me_button(event.kind, button_series(settings)),
            ),
            "allowed_mentions": allowed_mentions(role_id),
        }
    )


def mark_delayed(payload: Mapping[str, Any]) -> Payload:
    """Say "(delayed)" at the end of the first line; idempotent."""
    out = copy.deepcopy(dict(payload))
    content = str(out.get("content") or "")
    first, sep, rest = content.partition("\n")
    if "(delayed)" not in first:
        first = f"{first} (delayed)" if first else "(delayed)"
    out["content"] = first + sep + rest
    if len(out["content"]) > CONTENT_MAX:
        # Keep the marker: shorten what follows the first line, then the line itself.
        keep_rest = max(0, CONTENT_MAX - len(first) - len(sep))
        rest = cut(rest, keep_rest)
        if not rest:
            first = cut(first[: -len(" (delayed)")], CONTENT_MAX - len(" (delayed)")) + " (delayed)"
            sep = ""
        out["content"] = first + sep + rest
    return fit_message(out)


def organiser_announcement(message: str, *, role_id: int) -> Payload:
    """The organiser's text as typed; the chosen role (if any) is pinged, nobody else."""
    text = str(message)
    mention = role_mention(role_id)
    if mention and mention not in text:
        text = f"{mention} {text}"
    return fit_message(
        {"content": cut(text, CONTENT_MAX), "allowed_mentions": allowed_mentions(role_id)}
    )


def failure_alert(key: str, channel_id: int, reason: str, *, what: str) -> Payload:
    """The note to the organisers when Discord refuses a post for good (`what`: its kind's
    noun, bot/plan/kinds.py). Plain text, pings nobody: it is read in their own channel."""
    text = (
        f"⚠️ I could not post the {what} `{key}` in <#{channel_id}>: {reason}.\n"
        "Check my permissions there (`amabot doctor` says which are missing). Once they are "
        "back I send it, if still in time; `amabot plan` lists failed posts."
    )
    return {"content": text[:2000], "allowed_mentions": {"parse": []}}


def announcement_preview(
    payload: Mapping[str, Any], *, due_at: datetime, channel_id: int, role_id: int
) -> Payload:
    """The ephemeral preview before Confirm: where, when, who is pinged, and the post itself.

    The post's text is shown as an embed so it reads exactly as it will; the cog puts its
    Confirm and Cancel buttons (`components.draft_buttons`) in the returned ``components``.
    """
    pinged = (
        f"it will ping {role_mention(role_id)} and nobody else"
        if role_id
        else "it will ping nobody"
    )
    where = f"<#{channel_id}>" if channel_id else "the default channel"
    header = f"**Preview**: posted in {where} at {when_line(due_at)}; {pinged}."
    post_text = str(payload.get("content") or "")
    embeds: list[dict[str, Any]] = [
        {"title": "The post", "description": post_text or "(no text)", "color": COLOR_DEFAULT}
    ]
    embeds.extend(copy.deepcopy(list(payload.get("embeds") or []))[: EMBEDS_MAX - 1])
    return fit_message(
        {
            "content": header,
            "embeds": embeds,
            "components": copy.deepcopy(list(payload.get("components") or [])),
            "allowed_mentions": allowed_mentions(0),
        }
    )


def pending_list(posts: Sequence[Any], *, page: int, pages: int, total: int) -> Payload:
    """One page of pending posts (`/announce list`): key, channel, when; Previous and Next."""
    lines = [f"`{p.key}` → <#{p.channel_id}> {discord_timestamp(p.wake_at, 'R')}" for p in posts]
    payload: dict[str, Any] = {
        "embeds": [
            {
                "title": f"Pending posts: page {page} of {pages} ({total} in all)",
                "description": "\n".join(lines) if lines else "Nothing is pending.",
            }
        ],
        "allowed_mentions": allowed_mentions(0),
    }
    buttons = page_buttons(page, pages)
    if buttons:
        payload["components"] = buttons
    return fit_message(payload)
