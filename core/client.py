"""Async HTTP client for the Licensing Center API (v1).

Every failure becomes a ``CenterError`` with the center's stable code, or
``unreachable`` / ``bad_response`` for transport trouble, so the wizard and
``licwiz acquire`` handle one kind of error.

API v1 (the center implements it; see README "Licensing Center API"):

- ``GET  /api/v1/health`` -> ``{"status": "ok", "version": ...}``
- ``GET  /api/v1/keys`` -> ``{"signing": [{"key_id", "pem", "status"}], "sealing": [...]}`` (current first)
- ``POST /api/v1/check`` body: ActivationRequest JSON (owner may be empty)
  -> ``{"available": true, "product", "users", "pin_set", "method_family", "signing_key_id"}``
- ``POST /api/v1/activate`` body: ActivationRequest JSON, header ``Idempotency-Key``
  -> ``{"license": "<.lic text>", "license_id", "users", "supersedes"}``
- ``POST /api/v1/requests`` body: ``{"request": "<armoured request file>"}``
  -> same as activate (the file method, for automation)
- refusals: HTTP 4xx/5xx with ``{"error": {"code", "brief", "detail", "request_id"}}``
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import random
import ssl
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from . import __version__
from .errors import CenterError
from .i18n import N_
from .message import Msg
from .request import ActivationRequest

API = "/api/v1"
USER_AGENT = f"licwiz/{__version__}"

# Transport retries. A center restart (systemd's Restart=, an upgrade) closes
# its port for about a second, so two immediate retries gave up within
# milliseconds of it. Four tries with waits of 0.15, 0.35 and 0.9 s (1.4 s)
# outlast it and still fail fast against a center that is really gone. Each
# wait is jittered by up to a quarter either way (the last try comes 1.05 to
# 1.75 s after the first), so that the clients one restart cut off do not all
# come back in the same instant.
RETRY_DELAYS: tuple[float, ...] = (0.15, 0.35, 0.9)
RETRY_JITTER = 0.25
# A 502/503/504 may say when to come back (Retry-After: the center's database
# outage says 2 s). That is honoured while it is at most RETRY_AFTER_CAP and the
# waits of one call stay within RETRY_BUDGET: a wizard waiting on a progress
# line should hear "busy, try again" rather than sit for a minute.
RETRY_AFTER_CAP = 3.0
RETRY_BUDGET = 6.0
_RETRY_STATUSES = frozenset({502, 503, 504})

# Which failures a call may repeat: "all" for calls the center can safely see
# twice (reads, check, an activation with its Idempotency-Key): transport
# errors and 502/503/504; "connect" for one it cannot: only when the request
# never left (no connection), since then the center saw nothing.
Retry = Literal["all", "connect"]


@dataclass(frozen=True, slots=True)
class Availability:
    available: bool
    product: str
    users: int
    pin_set: str
    method_family: str
    # The key that would sign the license; None from a center older than staged key rotation.
    signing_key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    license_text: str
    license_id: str
    users: int
    supersedes: str | None
    request_id: str


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class CenterClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            verify=verify,
            headers={"User-Agent": USER_AGENT},
        )

    async def __aenter__(self) -> CenterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
        retry: Retry = "all",
    ) -> dict[str, Any]:
        attempt = 0
        slept = 0.0
        while True:
            try:
                resp = await self._client.request(method, API + path, json=json, headers=headers)
            except httpx.HTTPError as exc:
                reason = untrusted_certificate(exc)
                if reason is not None:  # retrying cannot help; say what to fix
                    raise CenterError(
                        "untrusted_certificate",
                        Msg(N_("The Licensing Center's certificate is not trusted ({reason})"),
                            reason=reason),
                        Msg(N_("{url}: {reason}. Add the center's CA certificate to the system "
                               "store, or name it in SSL_CERT_FILE."), url=self.base_url, reason=reason),
                    ) from None
                wait = retry_wait(attempt, slept) if _may_retry(exc, retry) else None
                if wait is None:
                    raise _transport_error(method, self.base_url + API + path, exc) from None
            else:
                wait = None
                if resp.status_code in _RETRY_STATUSES and retry == "all":
                    wait = retry_wait(attempt, slept, retry_after(resp.headers.get("Retry-After")))
                if wait is None:
                    return _answer(resp, method, path)
                await resp.aclose()
            attempt += 1
            slept += wait
            await asyncio.sleep(wait)

    async def health(self) -> dict[str, Any]:
        return await self._call("GET", "/health")

    async def keys(self) -> dict[str, Any]:
        return await self._call("GET", "/keys")

    async def check(self, req: ActivationRequest) -> Availability:
        d = await self._call("POST", "/check", json=req.to_dict())  # spends nothing: safe to repeat
        try:
            return Availability(
                available=bool(d["available"]), product=str(d["product"]),
                users=int(d["users"]), pin_set=str(d["pin_set"]),
                method_family=str(d["method_family"]),
                signing_key_id=str(d["signing_key_id"]) if d.get("signing_key_id") else None,
            )
        except (KeyError, TypeError, ValueError):
            raise CenterError("bad_response", Msg(N_("Unexpected availability answer")), repr(d)) from None

    async def activate(self, req: ActivationRequest, idempotency_key: str) -> Issued:
        """Spend/recover/update. A retry (transport error, 502/503/504) sends the
        same body with the same Idempotency-Key, so a lost response never spends
        a second PIN: the center answers the retry with the license it issued."""
        d = await self._call(
            "POST", "/activate", json=req.to_dict(),
            headers={"Idempotency-Key": idempotency_key},
        )
        return _issued(d)

    async def submit_request_file(self, text: str, idempotency_key: str | None = None) -> Issued:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        # Without a key a repeat after a lost answer could spend a second PIN: then
        # only a call that never reached the center is tried again.
        d = await self._call("POST", "/requests", json={"request": text}, headers=headers,
                             retry="all" if idempotency_key else "connect")
        return _issued(d)


def retry_wait(attempt: int, slept: float = 0.0, after: float | None = None) -> float | None:
    """Seconds to wait before try ``attempt + 2``, or None to give up:
    ``slept`` is what this call has waited so far, ``after`` the server's
    Retry-After in seconds, if it gave one."""
    if attempt >= len(RETRY_DELAYS):
        return None
    if after is not None:
        wait = after if after <= RETRY_AFTER_CAP else None
    else:
        wait = RETRY_DELAYS[attempt] * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
    if wait is None or slept + wait > RETRY_BUDGET:
        return None
    return wait


def retry_after(value: str | None) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) in seconds, None if absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def untrusted_certificate(exc: BaseException) -> str | None:
    """Why the server's certificate was refused (``ssl.SSLCertVerificationError``
    anywhere in the exception chain: httpx and httpcore wrap it), else None."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ssl.SSLCertVerificationError):
            return str(cur.verify_message or cur.reason or "certificate verify failed")
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _may_retry(exc: httpx.HTTPError, retry: Retry) -> bool:
    if retry == "connect":
        # refused, unreachable, or no connection in time: nothing was sent
        return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    return isinstance(exc, httpx.TransportError)


def _transport_error(method: str, url: str, exc: httpx.HTTPError) -> CenterError:
    if isinstance(exc, httpx.TimeoutException):
        return CenterError("unreachable", Msg(N_("The Licensing Center did not answer in time")),
                           f"{method} {url}: {type(exc).__name__}")
    return CenterError("unreachable", Msg(N_("The Licensing Center cannot be reached")),
                       f"{method} {url}: {type(exc).__name__}: {exc}")


def _answer(resp: httpx.Response, method: str, path: str) -> dict[str, Any]:
    """The body of a success, else the center's refusal as a CenterError."""
    request_id = resp.headers.get("X-Request-Id", "")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.is_success and isinstance(body, dict):
        return body
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        raise CenterError(
            # the center's English as it came (--json, support); shown through refusal_words
            err["code"], str(err.get("brief", "Refused by the Licensing Center")),
            str(err.get("detail", "")), status=resp.status_code,
            request_id=str(err.get("request_id", request_id)),
        )
    raise CenterError(
        "bad_response", Msg(N_("The Licensing Center gave an answer licwiz does not understand")),
        f"HTTP {resp.status_code} from {method} {API}{path}: {resp.text[:300]!r}",
        status=resp.status_code, request_id=request_id,
    )


def _issued(d: dict[str, Any]) -> Issued:
    try:
        sup = d.get("supersedes")
        return Issued(
            license_text=str(d["license"]), license_id=str(d["license_id"]),
            users=int(d["users"]), supersedes=str(sup) if sup else None,
            request_id=str(d.get("request_id", "")),
        )
    except (KeyError, TypeError, ValueError):
        raise CenterError("bad_response", Msg(N_("Unexpected activation answer")), repr(d)[:300]) from None
