"""Models -> Discord message JSON (plain dicts in the shape of Discord's API). Pure: no network.

Every function returns a payload passed through `fit_message`, so whatever the content says
and however long it is, Discord accepts it: long text is cut at a word with "…", never
rejected. Content is data: every payload carries an explicit ``allowed_mentions`` that
parses nothing and allows at most the one role the config names, so ``@everyone`` or
``<@123>`` typed into a recap, a title or an organiser message never pings anyone.

Snowflakes in ``allowed_mentions.roles`` are strings, as Discord's OpenAPI spec describes.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.content.models import Author, Episode, EpisodeStatus, Recap, ShowEvent

Payload = dict[str, Any]

__all__ = [
    "ELLIPSIS",
    "allowed_mentions",
    "announcement_preview",
    "autocomplete_name",
    "cut",
    "discord_timestamp",
    "embed_chars",
    "episode_reply",
    "fit_message",
    "live_now_message",
    "mark_delayed",
    "not_found_reply",
    "nothing_yet_reply",
    "organiser_announcement",
    "recap_announcement",
    "recap_autocomplete_name",
    "recap_reply",
    "recap_url_for",
    "reminder_message",
    "schedule_reply",
    "slugify",
    "when_line",
]

ELLIPSIS = "…"

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_NAME_MAX = 256
EMBED_TOTAL_MAX = 6000
EMBED_URL_MAX = 2048
ROWS_MAX = 5
BUTTONS_PER_ROW = 5
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100
LINK_URL_MAX = 512
CHOICE_NAME_MAX = 100

BUTTON_LINK = 5
EMPTY_FIELD = "—"
ZERO_WIDTH = "\u200b"  # a field name Discord accepts that shows nothing

COLOR_DEFAULT = 0x5865F2
COLOR_LIVE = 0xED4245
COLOR_TBD = 0xFEE75C
COLOR_CANCELLED = 0x99AAB5
COLOR_REPLAY = 0x57F287
COLOR_RECAP = 0x3BA55C

KIND_NAMES = {"livestream": "Livestream", "ama": "AMA"}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# -- small pieces ----------------------------------------------------------------------------


def discord_timestamp(dt: datetime, style: str = "F") -> str:
    """``<t:UNIX:F>``: every member sees the time in their own zone."""
    if dt.tzinfo is None:
        raise ValueError("discord_timestamp needs an aware datetime")
    return f"<t:{int(dt.timestamp())}:{style}>"


def when_line(dt: datetime) -> str:
    return f"{discord_timestamp(dt, 'F')} ({discord_timestamp(dt, 'R')})"


def allowed_mentions(role_id: int = 0) -> dict[str, Any]:
    """Ping nothing except `role_id` when it is non-zero."""
    return {
        "parse": [],
        "roles": [str(role_id)] if role_id else [],
        "users": [],
        "replied_user": False,
    }


def role_mention(role_id: int) -> str:
    return f"<@&{role_id}>" if role_id else ""


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut at a word boundary with an ellipsis."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    head = text[: limit - 1]
    boundary = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    # Only back off to a word boundary when that keeps most of the room; one huge word
    # (a URL, a hash) is cut where it must be.
    if boundary >= (limit - 1) // 2 and not text[limit - 1].isspace():
        head = head[:boundary]
    head = head.rstrip(" \t\n,;:-–—·")
    if not head:
        head = text[: limit - 1]
    return head + ELLIPSIS


def one_line(text: str) -> str:
    return " ".join(str(text).split())


# Characters a URI may not hold unescaped; Discord refuses buttons and embeds with them.
_HTTP_URL = re.compile(r"https?://[^\s/$.?#<>\"{}|\\^`][^\s<>\"{}|\\^`]*$", re.IGNORECASE)


def is_http_url(url: object, max_len: int = EMBED_URL_MAX) -> bool:
    return isinstance(url, str) and len(url) <= max_len and _HTTP_URL.match(url) is not None


def _image_url_ok(url: object) -> bool:
    return is_http_url(url) or (
        isinstance(url, str) and url.startswith("attachment://") and len(url) <= EMBED_URL_MAX
    )


def slugify(text: str) -> str:
    """The slug mkdocs (Python-Markdown's toc.slugify, used by the Material blog) makes."""
    value = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def humanize_offset(td: timedelta) -> str:
    """``1 hour``, ``24 hours``, ``10 minutes``, ``1 hour 30 minutes``."""
    total = int(td.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = []
    for n, word in ((hours, "hour"), (minutes, "minute"), (seconds, "second")):
        if n:
            parts.append(f"{n} {word}" if n == 1 else f"{n} {word}s")
    return " ".join(parts) or "0 minutes"


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
    return f"{title} with {who}" if who else title


# -- fitting ---------------------------------------------------------------------------------


def embed_chars(embed: Mapping[str, Any]) -> int:
    """The characters Discord counts towards the 6000 limit of an embed."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    for f in embed.get("fields") or ():
        total += len(f.get("name") or "") + len(f.get("value") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    return total


def fit_message(payload: Mapping[str, Any]) -> Payload:
    """A copy of `payload` that respects every Discord message limit, whatever its content."""
    # Embeds and components are rebuilt below; copy only the rest (cheap even for huge input).
    out: Payload = {
        k: v if k in ("embeds", "components") else copy.deepcopy(v) for k, v in payload.items()
    }
    if out.get("content") is not None:
        out["content"] = cut(str(out["content"]), CONTENT_MAX)
    if "embeds" in out:
        out["embeds"] = _fit_embeds(out.get("embeds") or [])
    if "components" in out:
        out["components"] = _fit_components(out.get("components") or [])
    if not isinstance(out.get("allowed_mentions"), dict):
        out["allowed_mentions"] = allowed_mentions(0)
    return out


def _fit_embeds(embeds: list[Any]) -> list[dict[str, Any]]:
    fitted = [_fit_embed(e) for e in [e for e in embeds if isinstance(e, Mapping)][:EMBEDS_MAX]]

    def excess() -> int:
        return sum(embed_chars(e) for e in fitted) - EMBED_TOTAL_MAX

    # Give up detail in order of least harm: long descriptions and field values first,
    # then trailing fields, then whole trailing embeds, then the rest.
    for floor in (600, 200):
        for e in reversed(fitted):
            over = excess()
            if over <= 0:
                return fitted
            desc = e.get("description") or ""
            if len(desc) > floor:
                e["description"] = cut(desc, max(floor, len(desc) - over))
        while excess() > 0:
            fields = [f for e in fitted for f in e.get("fields", ()) if len(f["value"]) > floor]
            if not fields:
                break
            longest = max(fields, key=lambda f: len(f["value"]))
            longest["value"] = cut(longest["value"], max(floor, len(longest["value"]) - excess()))
    for e in reversed(fitted):
        while excess() > 0 and e.get("fields"):
            e["fields"].pop()
        if not e.get("fields"):
            e.pop("fields", None)
    while excess() > 0 and len(fitted) > 1:
        fitted.pop()
    for e in fitted:
        for key in ("description", "title"):
            over = excess()
            if over > 0 and e.get(key):
                e[key] = cut(e[key], max(0, len(e[key]) - over))
                if not e[key]:
                    del e[key]
        for key in ("footer", "author"):
            over = excess()
            part = e.get(key)
            name = "text" if key == "footer" else "name"
            if over > 0 and part and part.get(name):
                part[name] = cut(part[name], max(0, len(part[name]) - over))
                if not part[name]:
                    del e[key]
    return fitted


def _fit_embed(embed: Mapping[str, Any]) -> dict[str, Any]:
    raw_fields = embed.get("fields")
    e = copy.deepcopy({k: v for k, v in embed.items() if k != "fields"})
    if raw_fields is not None:
        e["fields"] = list(raw_fields)[:EMBED_FIELDS_MAX] if isinstance(raw_fields, list) else []
    for key, limit in (("title", EMBED_TITLE_MAX), ("description", EMBED_DESCRIPTION_MAX)):
        if key in e:
            value = "" if e[key] is None else str(e[key])
            if key == "title":
                value = one_line(value)
            if value.strip():
                e[key] = cut(value, limit)
            else:
                del e[key]
    if "url" in e and not is_http_url(e["url"]):
        del e["url"]
    for key in ("image", "thumbnail"):
        if key in e and not (isinstance(e[key], Mapping) and _image_url_ok(e[key].get("url"))):
            del e[key]
    if "color" in e:
        try:
            e["color"] = min(max(int(e["color"]), 0), 0xFFFFFF)
        except (TypeError, ValueError):
            del e["color"]
    if "footer" in e:
        footer = dict(e["footer"]) if isinstance(e["footer"], Mapping) else {}
        text = cut(str(footer.get("text") or ""), FOOTER_MAX)
        if text.strip():
            footer["text"] = text
            if "icon_url" in footer and not is_http_url(footer["icon_url"]):
                del footer["icon_url"]
            e["footer"] = footer
        else:
            del e["footer"]
    if "author" in e:
        author = dict(e["author"]) if isinstance(e["author"], Mapping) else {}
        name = cut(one_line(author.get("name") or ""), AUTHOR_NAME_MAX)
        if name:
            author["name"] = name
            for k in ("url", "icon_url"):
                if k in author and not is_http_url(author[k]):
                    del author[k]
            e["author"] = author
        else:
            del e["author"]
    if "fields" in e:
        fields = []
        for f in e.get("fields") or []:
            if not isinstance(f, Mapping):
                continue
            name = cut(one_line(f.get("name") or ""), FIELD_NAME_MAX) or ZERO_WIDTH
            value = str(f.get("value") or "")
            value = cut(value, FIELD_VALUE_MAX) if value.strip() else EMPTY_FIELD
            fields.append({"name": name, "value": value, "inline": bool(f.get("inline", False))})
        if fields:
            e["fields"] = fields
        else:
            del e["fields"]
    return e


def _fit_components(rows: list[Any]) -> list[dict[str, Any]]:
    fitted: list[dict[str, Any]] = []
    for row in rows:
        if not isinstance(row, Mapping) or row.get("type") != 1:
            continue
        buttons: list[dict[str, Any]] = []
        for comp in row.get("components") or ():
            if not isinstance(comp, Mapping):
                continue
            if comp.get("type") != 2:
                # A select menu fills a row on its own.
                fitted.append({"type": 1, "components": [copy.deepcopy(dict(comp))]})
                continue
            button = _fit_button(comp)
            if button is not None:
                buttons.append(button)
        fitted.extend(
            {"type": 1, "components": buttons[i : i + BUTTONS_PER_ROW]}
            for i in range(0, len(buttons), BUTTONS_PER_ROW)
        )
    return fitted[:ROWS_MAX]


def _fit_button(comp: Mapping[str, Any]) -> dict[str, Any] | None:
    b = copy.deepcopy(dict(comp))
    label = cut(one_line(b.get("label") or ""), BUTTON_LABEL_MAX)
    if label:
        b["label"] = label
    else:
        b.pop("label", None)
        if not b.get("emoji"):
            return None
    if b.get("style") == BUTTON_LINK:
        if not is_http_url(b.get("url"), LINK_URL_MAX):
            return None
        b.pop("custom_id", None)
    else:
        custom_id = str(b.get("custom_id") or "")[:CUSTOM_ID_MAX]
        if not custom_id:
            return None
        b["custom_id"] = custom_id
        b.pop("url", None)
    return b


# -- episodes --------------------------------------------------------------------------------


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
) -> Payload:
    """The `/episode` answer: one embed and the link buttons that exist.

    `event_urls` maps "ama"/"livestream" to the Discord scheduled event made for it; the AMA's
    is preferred over a hand-pasted `ama.url` ("Interested?"). With `actions`, a second row
    offers "Add to calendar" and "Remind me" (handled by the bot, not links)."""
    status, color = episode_status(episode, now)
    description = status
    if episode.summary.strip():
        description += "\n\n" + episode.summary.strip()
    fields = []
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
            _field("Recap", f"[{title}]({recap_url})" if is_http_url(recap_url) else title)
        )
    if episode.tags:
        fields.append(_field("Tags", _tags(episode.tags)))
    embed: dict[str, Any] = {
        "title": f"{episode.code} · {one_line(episode.title)}" if episode.title else episode.code,
        "description": description,
        "color": color,
        "fields": fields,
        "footer": {"text": settings.series.name},
    }
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
        buttons.extend(_rows(*episode_action_buttons(episode, now)))
    return fit_message(
        {
            "content": "",
            "embeds": [embed],
            "components": buttons,
            "allowed_mentions": allowed_mentions(0),
        }
    )


ICS_PREFIX = "amabot:ics:"
REMIND_ME_ID = "amabot:remindme"  # + ":<series>" on reminders; bare on /episode (asks which)


def remind_me_button(series: str | None = None) -> dict[str, Any]:
    custom_id = f"{REMIND_ME_ID}:{series}" if series else REMIND_ME_ID
    return {
        "type": 2,
        "style": 2,
        "label": "Remind me",
        "custom_id": custom_id,
    }


def episode_action_buttons(episode: Episode, now: datetime) -> list[dict[str, Any]]:
    """ "Add to calendar" and "Remind me", while a livestream or AMA of the episode is ahead
    (a TBD, aired or cancelled episode has nothing to put in a calendar or remind of)."""
    if episode.status is EpisodeStatus.CANCELLED:
        return []
    if not any(
        e.start is not None and (e.is_ahead(now) or e.is_running(now)) for e in episode.events()
    ):
        return []
    buttons: list[dict[str, Any]] = []
    custom_id = f"{ICS_PREFIX}{episode.id}"
    if len(custom_id) <= CUSTOM_ID_MAX:
        buttons.append(
            {
                "type": 2,
                "style": 2,
                "label": "Add to calendar",
                "custom_id": custom_id,
            }
        )
    buttons.append(remind_me_button())
    return buttons


def autocomplete_name(episode: Episode) -> str:
    """``S2:E5 · Fine Tuning & Distillation — Dave Voutila`` in at most 100 characters."""
    title = one_line(episode.title)
    base = f"{episode.code} · {title}" if title else episode.code
    who = ", ".join(one_line(g) for g in episode.guests if one_line(g))
    if who:
        full = f"{base} — {who}"
        if len(full) <= CHOICE_NAME_MAX:
            return full
        room = CHOICE_NAME_MAX - len(base) - len(" — ")
        if room >= 12:
            return f"{base} — {cut(who, room)}"
    return cut(base, CHOICE_NAME_MAX)


# -- recaps ----------------------------------------------------------------------------------

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
    embed: dict[str, Any] = {
        "title": one_line(recap.title) or recap.id,
        "description": recap.summary.strip(),
        "color": COLOR_RECAP,
        "fields": fields,
        "footer": {"text": settings.series.name},
    }
    if recap_url and is_http_url(recap_url):
        embed["url"] = recap_url
    image = _recap_image(recap, episode)
    if image:
        embed["image"] = {"url": image}
    return fit_message(
        {
            "content": "",
            "embeds": [embed],
            "components": _rows(_link_button("Read the recap", recap_url)),
            "allowed_mentions": allowed_mentions(0),
        }
    )


def _recap_image(recap: Recap, episode: Episode | None) -> str | None:
    for candidate in (recap.image, episode.image if episode else None):
        if is_http_url(candidate):
            return candidate
    return None


def recap_autocomplete_name(recap: Recap, episode: Episode | None) -> str:
    """``S2:E5 · Understanding Fine Tuning … · 2025-07-14`` in at most 100 characters."""
    title = one_line(recap.title) or recap.id
    if episode is not None and not _CODE_IN_TITLE.search(title[:30]):
        title = f"{episode.code} · {title}"
    suffix = f" · {recap.published.date().isoformat()}"
    return cut(title, CHOICE_NAME_MAX - len(suffix)) + suffix


def recap_announcement(
    recap: Recap,
    *,
    episode: Episode | None,
    authors: Mapping[str, Author],
    recap_url: str | None,
    role_id: int,
) -> Payload:
    """The post in the announcements channel when a recap is merged."""
    title = one_line(recap.title) or recap.id
    headline = f"📝 New recap: **{cut(title, 300)}**"
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
    if recap_url and is_http_url(recap_url):
        embed["url"] = recap_url
    image = _recap_image(recap, episode)
    if image:
        embed["image"] = {"url": image}
    return fit_message(
        {
            "content": content,
            "embeds": [embed],
            "components": _rows(_link_button("Read the recap", recap_url)),
            "allowed_mentions": allowed_mentions(role_id),
        }
    )


# -- schedule and not found ------------------------------------------------------------------


def schedule_reply(
    items: list[tuple[Episode, ShowEvent]],
    *,
    now: datetime,
    settings: Settings,
    season: int | None = None,
) -> Payload:
    """`/schedule`: one line pair per coming livestream or AMA."""
    lines: list[str] = []
    used = 0
    shown = 0
    entries = [(ep, ev, ev.start) for ep, ev in items if ev.start is not None]
    for ep, ev, start in entries:
        live = " · 🔴 live now" if ev.is_running(now) else ""
        title = cut(one_line(ep.title), 150)
        entry = f"**{ep.code}** · {title} — {KIND_NAMES[ev.kind]}{live}\n{when_line(start)}"
        if used + len(entry) + 2 > EMBED_DESCRIPTION_MAX - 40:
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
    embed = {
        "title": f"{settings.series.name}: coming up" + (f" (season {season})" if where else ""),
        "description": description,
        "color": COLOR_DEFAULT,
        "footer": {"text": "Times are shown in your own time zone."},
    }
    return fit_message({"content": "", "embeds": [embed], "allowed_mentions": allowed_mentions(0)})


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


# -- reminders -------------------------------------------------------------------------------


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
    when = "starting now" if starting else f"in {humanize_offset(offset)}"
    emoji = "🔴" if starting else "⏰"
    headline = f"{emoji} **{_event_label(episode, event)} {when}:** {_with_guests(episode)}"
    details = f"{when_line(event.start)} · {episode.code} · {settings.series.name}"
    content = "\n".join(p for p in (f"{role_mention(role_id)} {headline}".strip(), details) if p)
    return fit_message(
        {
            "content": content,
            "components": _rows(
                _event_button(event, starting=starting),
                remind_me_button(event.kind) if remind_me else None,
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
            "components": _rows(_event_button(event, starting=True), remind_me_button(event.kind)),
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


# -- organiser announcements -----------------------------------------------------------------


def organiser_announcement(message: str, *, role_id: int) -> Payload:
    """The organiser's text as typed; the chosen role (if any) is pinged, nobody else."""
    text = str(message)
    mention = role_mention(role_id)
    if mention and mention not in text:
        text = f"{mention} {text}"
    return fit_message(
        {"content": cut(text, CONTENT_MAX), "allowed_mentions": allowed_mentions(role_id)}
    )


def announcement_preview(
    payload: Mapping[str, Any], *, due_at: datetime, channel_id: int, role_id: int
) -> Payload:
    """The ephemeral preview before Confirm: where, when, who is pinged, and the post itself.

    The post's text is shown as an embed so it reads exactly as it will; the cog adds its
    Confirm and Cancel buttons to the returned ``components`` (the post's own link buttons
    are kept so the organiser sees them too).
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
