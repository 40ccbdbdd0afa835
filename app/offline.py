"""Compatibility shim while the wizard's screens move to app/controller.py:
the offline exchange lives in core/exchange.py, ``licwiz request``/``install``
in cli/exchange.py. Delete this module once nothing imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from licwiz.core.acquire import Outcome, ServerTarget
from licwiz.core.exchange import (
    NoPendingRequest,
    OfflineMethod,
    PendingRequest,
    load_pending,
    new_pending,
    pending_for,
    start_phone,
    write_request_file,
)
from licwiz.core.exchange import install_answer_file as _install_answer_file
from licwiz.core.exchange import install_answer_text as _install_answer_text
from licwiz.core.keys import Keyring
from licwiz.core.storage import Scope

__all__ = [
    "NoPendingRequest", "OfflineMethod", "PendingRequest", "install_answer", "install_file_answer",
    "load_pending", "new_pending", "pending_for", "start_phone", "write_request_file",
]


async def install_answer(
    text: str, pending: PendingRequest | None, *, keyring: Keyring, product: str, scope: Scope,
    params: Mapping[str, str], server: ServerTarget | None = None, source: str = "license data file",
) -> Outcome:
    """Old name: ``core.exchange.install_answer_text`` for a known pending request."""
    outcome, _ = await _install_answer_text(
        text, source=source, target=server or scope, keyring=keyring, product=product, params=params,
        pending=pending, require_pending=False,
    )
    return outcome


async def install_file_answer(
    path: Path, *, keyring: Keyring, product: str, scope: Scope, params: Mapping[str, str],
    server: ServerTarget | None = None,
) -> tuple[Outcome, PendingRequest | None]:
    """Old name: ``core.exchange.install_answer_file``."""
    return await _install_answer_file(path, target=server or scope, keyring=keyring, product=product,
                                      params=params)
