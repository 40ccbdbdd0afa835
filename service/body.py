"""Reading a JSON request body within a size limit.

Each service states its limit and the words of its refusals in ``JsonRules``
(the center and the license server word them differently, and clients match
the codes). The body is refused as soon as it is known to be too large: by
its Content-Length before anything is read, or while it streams in.

Bodies are parsed with orjson (a few times faster than the stdlib on the
hot paths); what orjson refuses is read once more by the stdlib, which
decides: it accepts a lone surrogate escape ("\\ud800"), which the text rules
then refuse naming the field (core/text.py), where orjson would only say
"not JSON". ``read_asgi`` reads straight from ASGI's ``receive`` for routes
answered in front of Starlette (center/fastpath.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from .errors import ApiError

Words = tuple[str, str, str]  # code, brief, detail


@dataclass(frozen=True, slots=True)
class JsonRules:
    max_bytes: int
    too_large: Words  # answered with 413
    not_json: Words  # answered with 400
    not_object: Words | None = None  # answered with 400; None: any JSON document is accepted


class BodySource(Protocol):
    """What is read of a request: its headers and its body as it arrives."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    def stream(self) -> AsyncIterator[bytes]: ...


def too_large(headers: Mapping[str, str], limit: int) -> bool:
    """Whether the declared Content-Length is over ``limit`` (or not a number)."""
    length = headers.get("content-length")
    return length is not None and (not length.isdigit() or int(length) > limit)


def parse(body: bytes, rules: JsonRules) -> Any:
    """The JSON document of ``body`` under ``rules`` (ApiError 400 when it is not one)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            raise ApiError(*rules.not_json, status=400) from None
    if rules.not_object is not None and not isinstance(doc, dict):
        raise ApiError(*rules.not_object, status=400)
    return doc


async def read_json(request: BodySource, rules: JsonRules) -> Any:
    if too_large(request.headers, rules.max_bytes):
        raise ApiError(*rules.too_large, status=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > rules.max_bytes:
            raise ApiError(*rules.too_large, status=413)
    return parse(body, rules)


async def read_asgi(receive: Callable[[], Awaitable[Mapping[str, Any]]], content_length: str | None,
                    rules: JsonRules) -> Any:
    """``read_json`` for an ASGI request: its body from ``receive``, its
    Content-Length header (None when absent) checked first."""
    if content_length is not None and too_large({"content-length": content_length}, rules.max_bytes):
        raise ApiError(*rules.too_large, status=413)
    body = b""
    while True:
        msg = await receive()
        if msg["type"] != "http.request":  # the client went away
            raise ApiError(*rules.not_json, status=400)
        body += msg.get("body", b"")
        if len(body) > rules.max_bytes:
            raise ApiError(*rules.too_large, status=413)
        if not msg.get("more_body", False):
            return parse(body, rules)
