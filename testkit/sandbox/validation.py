"""Check requests (and the sandbox's own responses) against Discord's OpenAPI spec.

Needs jsonschema (the `test` extra); the sandbox imports this module only when it validates,
so `amabot demo` runs from a plain install and validates when jsonschema is there.

The spec (testkit/sandbox/spec/openapi.json, discord/discord-api-spec, MIT) is loaded and
indexed once per process; validators are compiled lazily per route and cached.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .violations import Violation

SPEC_PATH = Path(__file__).resolve().parent / "spec" / "openapi.json"
_SPEC_URI = "urn:discord-openapi"
_REQUEST_URI = "urn:discord-openapi-requests"
_METHODS = ("get", "put", "post", "patch", "delete")


@dataclass
class _Route:
    template: str
    pattern: re.Pattern[str]
    literals: int
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class SpecValidator:
    def __init__(self, spec_path: Path = SPEC_PATH) -> None:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        self.spec = spec
        # Two deliberate departures, both where the spec is stricter than Discord itself:
        # requests may send snowflakes as JSON integers (Discord parses them; discord.py sends
        # attachment ids as 0, 1, ...), and field errors carry string codes such as
        # "BASE_TYPE_MAX_LENGTH" (what Discord returns; the spec says integer).
        schemas = spec["components"]["schemas"]
        inner = {
            **schemas["InnerErrors"],
            "properties": {
                "_errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": ["integer", "string"]},
                            "message": {"type": "string"},
                        },
                    },
                }
            },
        }
        strict = {
            **spec,
            "components": {**spec["components"], "schemas": {**schemas, "InnerErrors": inner}},
        }
        lenient = {
            **strict,
            "components": {
                **strict["components"],
                "schemas": {
                    **strict["components"]["schemas"],
                    "SnowflakeType": {
                        "anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0}]
                    },
                },
            },
        }
        self.registry: Registry = Registry().with_resources(
            [
                (_SPEC_URI, Resource.from_contents(strict, default_specification=DRAFT202012)),
                (_REQUEST_URI, Resource.from_contents(lenient, default_specification=DRAFT202012)),
            ]
        )
        self._by_len: dict[int, list[_Route]] = {}
        for template, item in spec["paths"].items():
            segs = template.strip("/").split("/")
            regex = "/".join(
                "[^/]+" if s.startswith("{") and s.endswith("}") else re.escape(s) for s in segs
            )
            route = _Route(
                template=template,
                pattern=re.compile(f"^{regex}$"),
                literals=sum(not s.startswith("{") for s in segs),
                ops={m: item[m] for m in _METHODS if m in item},
            )
            for op in route.ops.values():
                op.setdefault("parameters", [])
                op["parameters"] = op["parameters"] + item.get("parameters", [])
            self._by_len.setdefault(len(segs), []).append(route)
        for routes in self._by_len.values():
            routes.sort(key=lambda r: -r.literals)  # /users/@me beats /users/{user_id}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    def match(self, path: str) -> _Route | None:
        segs = path.strip("/").split("/")
        for route in self._by_len.get(len(segs), []):
            if route.pattern.match("/".join(segs)):
                return route
        return None

    def template(self, method: str, path: str) -> str | None:
        route = self.match(path)
        return route.template if route and method.lower() in route.ops else None

    def _validator(self, pointer: str, uri: str) -> jsonschema.protocols.Validator:
        key = f"{uri}#/{pointer}"
        v = self._validators.get(key)
        if v is None:
            v = jsonschema.Draft202012Validator({"$ref": key}, registry=self.registry)
            self._validators[key] = v
        return v

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            ref = node["$ref"].removeprefix("#/")
            cur: Any = self.spec
            for part in ref.split("/"):
                cur = cur[part.replace("~1", "/").replace("~0", "~")]
            node = cur
        return node

    def _errors(self, pointer: str, body: Any, uri: str) -> list[tuple[str, str]]:
        validator = self._validator(pointer, uri)
        error = jsonschema.exceptions.best_match(validator.iter_errors(body))
        if error is None:
            return []
        # For unions keyed by `type` (callbacks, scheduled events), report the errors of
        # the branch the body claims to be: best_match often names the wrong branch.
        schema = self._resolve(self._node(pointer))
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if not branches or not isinstance(body, dict):
                continue
            for disc in ("type", "entity_type"):
                if disc not in body:
                    continue
                for i, branch in enumerate(branches):
                    props = self._resolve(branch).get("properties", {})
                    allowed = _allowed_values(self, self._resolve(props.get(disc, {})))
                    if allowed is not None and body[disc] in allowed:
                        return self._errors(f"{pointer}/{key}/{i}", body, uri)
        while error.context:
            # An unresolved union: the branch with the fewest errors is the one meant.
            branches: dict[Any, list[jsonschema.ValidationError]] = {}
            for sub in error.context:
                branches.setdefault(sub.relative_schema_path[0], []).append(sub)
            closest = min(branches.values(), key=len)
            error = max(closest, key=lambda e: len(e.absolute_path))
        where = "/".join(str(p) for p in error.absolute_path)
        return [(_describe(error), where)]

    def _node(self, pointer: str) -> Any:
        cur: Any = self.spec
        for part in pointer.split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            cur = cur[int(key)] if isinstance(cur, list) else cur[key]
        return cur

    def check_request(
        self, method: str, path: str, query: dict[str, str], body: Any, content_type: str
    ) -> list[Violation]:
        m = method.lower()
        route = self.match(path)
        if route is None or m not in route.ops:
            return [Violation("route", method, path, None, "no such route in the spec")]
        op = route.ops[m]
        out: list[Violation] = []
        names = {
            p.get("name")
            for p in (self._resolve(p) for p in op["parameters"])
            if p.get("in") == "query"
        }
        for q in query:
            if q not in names:
                out.append(
                    Violation(
                        "query", method, path, route.template, f"unknown query parameter {q!r}"
                    )
                )
        rb = op.get("requestBody")
        if rb is None:
            return out
        rb = self._resolve(rb)
        if body is None:
            if rb.get("required"):
                out.append(Violation("request", method, path, route.template, "missing body"))
            return out
        ctype = "application/json"
        if ctype not in rb.get("content", {}):
            return out
        ptr = _pointer("paths", route.template, m, "requestBody", "content", ctype, "schema")
        if "$ref" in op["requestBody"]:
            ref = op["requestBody"]["$ref"].removeprefix("#/")
            ptr = ref + "/" + _pointer("content", ctype, "schema")
        for message, where in self._errors(ptr, body, _REQUEST_URI):
            out.append(Violation("request", method, path, route.template, message, where))
        return out

    def check_response(self, method: str, path: str, status: int, body: Any) -> list[Violation]:
        m = method.lower()
        route = self.match(path)
        if route is None or m not in route.ops:
            return []
        responses = route.ops[m]["responses"]
        key = str(status) if str(status) in responses else f"{str(status)[0]}XX"
        if key not in responses:
            return [
                Violation(
                    "response", method, path, route.template, f"status {status} not documented"
                )
            ]
        resp = self._resolve(responses[key])
        content = resp.get("content", {})
        if body is None:
            if content:
                return [
                    Violation(
                        "response", method, path, route.template, f"status {status} needs a body"
                    )
                ]
            return []
        if "application/json" not in content:
            return [
                Violation(
                    "response",
                    method,
                    path,
                    route.template,
                    f"status {status} has no JSON body in the spec",
                )
            ]
        if "$ref" in responses[key]:
            base = responses[key]["$ref"].removeprefix("#/")
        else:
            base = _pointer("paths", route.template, m, "responses", key)
        ptr = base + "/" + _pointer("content", "application/json", "schema")
        return [
            Violation("response", method, path, route.template, msg, where)
            for msg, where in self._errors(ptr, body, _SPEC_URI)
        ]


def _describe(error: jsonschema.ValidationError) -> str:
    if len(error.message) <= 300:
        return error.message
    # Long messages embed the whole instance; say what rule failed instead.
    return f"{error.validator} {json.dumps(error.validator_value)[:120]} failed"


def _allowed_values(v: SpecValidator, schema: dict[str, Any]) -> set[Any] | None:
    if "const" in schema:
        return {schema["const"]}
    if "enum" in schema:
        return set(schema["enum"])
    for key in ("allOf", "oneOf", "anyOf"):
        if key in schema:
            vals: set[Any] = set()
            for sub in schema[key]:
                got = _allowed_values(v, v._resolve(sub))
                if got is None:
                    return None
                vals |= got
            return vals
    return None


@functools.cache
def get_validator() -> SpecValidator:
    """One parsed, indexed spec per process."""
    return SpecValidator()
