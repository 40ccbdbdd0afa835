"""Reading a JSON request body within a size limit.

Each service states its limit and the words of its refusals in ``JsonRules``
(the center and the license server word them differently, and clients match
the codes). The body is refused as soon as it is known to be too large: by
its Content-Length before anything is read, or while it streams in.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

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


async def read_json(request: BodySource, rules: JsonRules) -> Any:
    if too_large(request.headers, rules.max_bytes):
        raise ApiError(*rules.too_large, status=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > rules.max_bytes:
            raise ApiError(*rules.too_large, status=413)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(*rules.not_json, status=400) from None
    if rules.not_object is not None and not isinstance(doc, dict):
        raise ApiError(*rules.not_object, status=400)
    return doc
