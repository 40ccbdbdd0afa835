"""Placeholder: the offline-channels work (issue 5) fills this module."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute


def web_routes(ctx: Any) -> list[BaseRoute]:
    return []
