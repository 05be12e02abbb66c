"""Discord's message limits, and fitting any payload into them. Pure.

Every renderer passes its payload through `fit_message`, so whatever the content says
and however long it is, Discord accepts it: long text is cut at a word with "…", never
rejected. Content is data: every payload carries an explicit ``allowed_mentions`` that
parses nothing and allows at most the one role the config names.

Snowflakes in ``allowed_mentions.roles`` are strings, as Discord's OpenAPI spec describes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

Payload = dict[str, Any]


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


# discord.utils.escape_markdown's rules (discord.py 2.7, as_needed=False, ignore_links=True),
# written here because bot/render must not import discord: URLs are left alone; emphasis,
# code, strike, spoiler and backslashes are escaped, and so are quotes, headings, list marks
# and masked links at the start of a line.
_MD_COMMON = r"^>(?:>>)?\s|\[.+\]\(.+\)|^#{1,3}|^\s*-"
_MD_URL = r"(?P<url><[^: >]+:\/[^ >]+>|(?:https?|steam):\/\/[^\s<]+[^<.,:;\"\'\]\s])"
_MD_ESCAPE = re.compile(rf"(?:{_MD_URL}|(?P<markdown>[_\\~|\*`]|{_MD_COMMON}))", re.MULTILINE)


def escape_markdown(text: str) -> str:
    """`text` shown literally inside Markdown: ``**{escape_markdown(title)}**``."""
    return _MD_ESCAPE.sub(lambda m: m["url"] or "\\" + m["markdown"], text)


def link_text(text: str) -> str:
    """Text for ``[text](url)``: escaped, and without brackets that would end the link."""
    return escape_markdown(text).replace("[", "\\[").replace("]", "\\]")


# Characters a URI may not hold unescaped; Discord refuses buttons and embeds with them.
_HTTP_URL = re.compile(r"https?://[^\s/$.?#<>\"{}|\\^`][^\s<>\"{}|\\^`]*$", re.IGNORECASE)


def is_http_url(url: object, max_len: int = EMBED_URL_MAX) -> bool:
    return isinstance(url, str) and len(url) <= max_len and _HTTP_URL.match(url) is not None


def _image_url_ok(url: object) -> bool:
    return is_http_url(url) or (
        isinstance(url, str) and url.startswith("attachment://") and len(url) <= EMBED_URL_MAX
    )


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
