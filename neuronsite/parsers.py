"""The API's JSON parser: bounded size and depth, clear 4xx errors instead of 500s.

DRF's stock ``JSONParser`` recurses in Python (a body nested 50,000 deep raised RecursionError ->
500) and leaves the size check to Django's ``request.body`` (an HTML 400 page). This one reads at
most ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes (413 JSON beyond), parses with orjson (depth limit
1024, invalid UTF-8 and lone surrogates refused) and answers 400 naming the problem. Numbers too
large for a double (``1e999``) are parsed by the standard library as infinity so that the field
that holds them is named by its serializer.
"""

from __future__ import annotations

import json

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from neuronsite.errors import PayloadTooLarge

MAX_DEPTH = 64


def _max_body_bytes() -> int:
    return int(getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None) or 2_621_440)


def read_bounded(stream, limit: int) -> bytes:
    """At most ``limit`` bytes of ``stream``; PayloadTooLarge (413) when there are more."""
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise PayloadTooLarge(f"Request body too large: the limit is {limit} bytes.")
    return data


def _depth(value, limit: int) -> int:
    """Nesting depth of parsed JSON, stopping once past ``limit`` (iterative: no recursion)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return deepest


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes, *, allow_array: bool = False):
    """Parse a request body: ParseError (400) for anything that is not bounded, valid JSON."""
    if not raw.strip():
        raise ParseError("JSON parse error: the body is empty.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        if "depth limit" in message:
            raise ParseError(f"JSON parse error: nested deeper than {MAX_DEPTH} levels.") from None
        if "infinity" not in message:
            raise ParseError(f"JSON parse error: {message}") from None
        # 1e999: let the serializer field that holds it say "must be a finite number".
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc2:
            raise ParseError(f"JSON parse error: {exc2}") from None
    if allow_array and not isinstance(data, (dict, list)):
        raise ParseError(
            f"JSON parse error: the body must be a JSON array (features), got {type(data).__name__}."
        )
    if not isinstance(data, dict) and not (isinstance(data, list) and allow_array):
        raise ParseError(f"JSON parse error: the body must be a JSON object, got {type(data).__name__}.")
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise ParseError(f"JSON parse error: nested deeper than {MAX_DEPTH} levels.")
    return data


class BoundedJSONParser(BaseParser):
    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        view = (parser_context or {}).get("view")
        allow_array = bool(getattr(view, "json_array_body", False))
        return loads(read_bounded(stream, _max_body_bytes()), allow_array=allow_array)
