"""Modals: what Discord accepts when the bot shows one, and what its client lets a member
submit (receiving-and-responding.mdx "Modal"; components/reference.mdx Text Input, Label,
String Select).

The bot shows a modal with callback type 9; Discord's client then submits only that modal,
with its declared inputs, and refuses to send values outside an input's `required`,
`min_length`/`max_length` (text) or `min_values`/`max_values`/options (select).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .state import SandboxError, form_error

ACTION_ROW, STRING_SELECT, TEXT_INPUT, LABEL = 1, 3, 4, 18
MAX_TITLE = 45  # receiving-and-responding.mdx, Modal: title max 45 characters
MAX_CUSTOM_ID = 100
MAX_COMPONENTS = 5  # "Between 1 and 5 (inclusive) components that make up the modal"
MAX_TEXT = 4000  # components/reference.mdx, Text Input: min/max_length 0-4000 / 1-4000


class ModalRefused(SandboxError):
    """Discord's client would not send this submission (no such modal shown to the
    member, an undeclared field, or a value outside the input's limits)."""


@dataclass
class ShownModal:
    """A modal the bot showed a member (callback type 9), open until submitted."""

    user_id: int
    channel_id: int
    interaction_id: int
    data: dict[str, Any]
    message: dict[str, Any] | None = None
    submitted: bool = False
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # custom_id -> component

    @property
    def custom_id(self) -> str:
        return str(self.data.get("custom_id", ""))


def _inputs(components: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(wrapper, input) pairs: wrapper "row" (Action Row) or "label" (Label)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for c in components:
        if c.get("type") == ACTION_ROW:
            for inner in c.get("components") or []:
                out.append(("row", inner))
        elif c.get("type") == LABEL:
            # components/reference.mdx, Label: label <= 45, description <= 100 characters.
            label, desc = c.get("label") or "", c.get("description") or ""
            if (
                not 1 <= len(label) <= 45
                or len(desc) > 100
                or not isinstance(c.get("component"), dict)
            ):
                raise form_error("data.components", "BASE_TYPE_BAD_LENGTH", "Invalid Label.")
            out.append(("label", c["component"]))
        else:
            raise form_error(
                "data.components", "COMPONENT_TYPE_INVALID", f"Component type {c.get('type')}."
            )
    return out


def check_modal(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Refuse (400 50035) a modal Discord would refuse; return its inputs by custom_id."""
    custom_id = data.get("custom_id")
    if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
        raise form_error("data.custom_id", "BASE_TYPE_BAD_LENGTH", "Must be 1-100 in length.")
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE:
        raise form_error("data.title", "BASE_TYPE_BAD_LENGTH", "Must be 1-45 in length.")
    components = data.get("components") or []
    if not 1 <= len(components) <= MAX_COMPONENTS:
        raise form_error("data.components", "BASE_TYPE_BAD_LENGTH", "Must be 1-5 in length.")
    inputs: dict[str, dict[str, Any]] = {}
    for wrapper, c in _inputs(components):
        ctype = c.get("type")
        if ctype not in (TEXT_INPUT, STRING_SELECT) or (wrapper == "row" and ctype != TEXT_INPUT):
            raise form_error(
                "data.components", "COMPONENT_TYPE_INVALID", f"Component type {ctype} invalid."
            )
        cid = c.get("custom_id")
        if not isinstance(cid, str) or not 1 <= len(cid) <= MAX_CUSTOM_ID or cid in inputs:
            raise form_error(
                "data.components", "COMPONENT_CUSTOM_ID_DUPLICATED", f"Bad custom_id {cid!r}."
            )
        if ctype == TEXT_INPUT:
            lo, hi = c.get("min_length") or 0, c.get("max_length") or MAX_TEXT
            if not (0 <= lo <= MAX_TEXT and 1 <= hi <= MAX_TEXT and lo <= hi):
                raise form_error("data.components", "BASE_TYPE_BAD_LENGTH", "Bad length limits.")
            if wrapper == "row" and not c.get("label"):
                raise form_error("data.components", "BASE_TYPE_REQUIRED", "label is required.")
        inputs[cid] = c
    if not inputs:
        raise form_error("data.components", "BASE_TYPE_REQUIRED", "A modal needs an input.")
    return inputs


def _text_value(c: dict[str, Any], given: Any) -> str:
    cid = c["custom_id"]
    value = c.get("value") or "" if given is None else given
    if not isinstance(value, str):
        raise ModalRefused(f"text input {cid!r} takes a string, not {value!r}")
    required = c.get("required", True) is not False
    if not value:
        if required:
            raise ModalRefused(f"text input {cid!r} is required")
        return ""
    lo, hi = c.get("min_length") or 0, c.get("max_length") or MAX_TEXT
    if not lo <= len(value) <= hi:
        raise ModalRefused(f"text input {cid!r} takes {lo}-{hi} characters, not {len(value)}")
    return value


def _select_values(c: dict[str, Any], given: Any) -> list[str]:
    cid = c["custom_id"]
    values = [] if given is None else ([given] if isinstance(given, str) else list(given))
    required = c.get("required", True) is not False
    lo = c.get("min_values", 1) if c.get("min_values") is not None else 1
    hi = c.get("max_values", 1) if c.get("max_values") is not None else 1
    options = {o.get("value") for o in c.get("options") or []}
    if not values and not required:
        return []
    if not lo <= len(values) <= hi:
        raise ModalRefused(f"select {cid!r} takes {lo}-{hi} values, not {len(values)}")
    unknown = [v for v in values if v not in options]
    if unknown:
        raise ModalRefused(f"select {cid!r} has no option(s) {unknown}")
    return values


def submission(shown: ShownModal, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The `data.components` Discord's client sends for `fields` (custom_id -> text, or a
    list of values for a select), shaped like the modal (Action Rows or Labels)."""
    undeclared = sorted(set(fields) - set(shown.inputs))
    if undeclared:
        raise ModalRefused(
            f"modal {shown.custom_id!r} has no input(s) {undeclared} (has {sorted(shown.inputs)})"
        )
    counter = itertools.count(1)
    out: list[dict[str, Any]] = []

    def answered(c: dict[str, Any]) -> dict[str, Any]:
        cid = c["custom_id"]
        item: dict[str, Any] = {"type": c["type"], "id": c.get("id") or next(counter)}
        item["custom_id"] = cid
        if c["type"] == TEXT_INPUT:
            item["value"] = _text_value(c, fields.get(cid))
        else:
            item["values"] = _select_values(c, fields.get(cid))
        return item

    for top in shown.data.get("components") or []:
        if top.get("type") == ACTION_ROW:
            row_id = top.get("id") or next(counter)
            inner = [answered(c) for c in top.get("components") or []]
            out.append({"type": ACTION_ROW, "id": row_id, "components": inner})
        elif top.get("type") == LABEL:
            label_id = top.get("id") or next(counter)
            out.append({"type": LABEL, "id": label_id, "component": answered(top["component"])})
    return out
