"""Async HTTP client for the Licensing Center API (v1).

Every failure becomes a ``CenterError`` with the center's stable code, or
``unreachable`` / ``bad_response`` for transport trouble, so the wizard and
``licwiz acquire`` handle one kind of error.

API v1 (the center implements it; see README "Licensing Center API"):

- ``GET  /api/v1/health`` -> ``{"status": "ok", "version": ...}``
- ``GET  /api/v1/keys`` -> ``{"signing": [{"key_id", "pem", "status"}], "sealing": [{"key_id", "pem"}]}``
- ``POST /api/v1/check`` body: ActivationRequest JSON (owner may be empty)
  -> ``{"available": true, "product", "users", "pin_set", "method_family"}``
- ``POST /api/v1/activate`` body: ActivationRequest JSON, header ``Idempotency-Key``
  -> ``{"license": "<.lic text>", "license_id", "users", "supersedes"}``
- ``POST /api/v1/requests`` body: ``{"request": "<armoured request file>"}``
  -> same as activate (the file method, for automation)
- refusals: HTTP 4xx/5xx with ``{"error": {"code", "brief", "detail", "request_id"}}``
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from . import __version__
from .errors import CenterError
from .request import ActivationRequest

API = "/api/v1"
USER_AGENT = f"licwiz/{__version__}"


@dataclass(frozen=True, slots=True)
class Availability:
    available: bool
    product: str
    users: int
    pin_set: str
    method_family: str


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
        retries: int = 0,
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                resp = await self._client.request(method, API + path, json=json, headers=headers)
                break
            except httpx.TimeoutException as exc:
                if attempt < retries:
                    attempt += 1
                    continue
                raise CenterError(
                    "unreachable", "The Licensing Center did not answer in time",
                    f"{method} {self.base_url}{API}{path}: {type(exc).__name__}",
                ) from None
            except httpx.HTTPError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # retrying cannot help; say what to fix
                    raise CenterError(
                        "unreachable", "The Licensing Center's certificate is not trusted",
                        f"{self.base_url}: {exc}. Add the center's CA certificate to the system store, "
                        "or name it in SSL_CERT_FILE.",
                    ) from None
                if attempt < retries and isinstance(exc, httpx.TransportError):
                    attempt += 1
                    continue
                raise CenterError(
                    "unreachable", "The Licensing Center cannot be reached",
                    f"{method} {self.base_url}{API}{path}: {type(exc).__name__}: {exc}",
                ) from None
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
                err["code"], str(err.get("brief", "Refused by the Licensing Center")),
                str(err.get("detail", "")), status=resp.status_code,
                request_id=str(err.get("request_id", request_id)),
            )
        raise CenterError(
            "bad_response", "The Licensing Center gave an answer licwiz does not understand",
            f"HTTP {resp.status_code} from {method} {API}{path}: {resp.text[:300]!r}",
            status=resp.status_code, request_id=request_id,
        )

    async def health(self) -> dict[str, Any]:
        return await self._call("GET", "/health")

    async def keys(self) -> dict[str, Any]:
        return await self._call("GET", "/keys")

    async def check(self, req: ActivationRequest) -> Availability:
        d = await self._call("POST", "/check", json=req.to_dict(), retries=2)
        try:
            return Availability(
                available=bool(d["available"]), product=str(d["product"]),
                users=int(d["users"]), pin_set=str(d["pin_set"]),
                method_family=str(d["method_family"]),
            )
        except (KeyError, TypeError, ValueError):
            raise CenterError("bad_response", "Unexpected availability answer", repr(d)) from None

    async def activate(self, req: ActivationRequest, idempotency_key: str) -> Issued:
        """Spend/recover/update. Retries of transport errors reuse the same
        Idempotency-Key, so a lost response never spends a second PIN."""
        d = await self._call(
            "POST", "/activate", json=req.to_dict(),
            headers={"Idempotency-Key": idempotency_key}, retries=2,
        )
        return _issued(d)

    async def submit_request_file(self, text: str, idempotency_key: str | None = None) -> Issued:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        d = await self._call("POST", "/requests", json={"request": text}, headers=headers, retries=2)
        return _issued(d)


def _issued(d: dict[str, Any]) -> Issued:
    try:
        sup = d.get("supersedes")
        return Issued(
            license_text=str(d["license"]), license_id=str(d["license_id"]),
            users=int(d["users"]), supersedes=str(sup) if sup else None,
            request_id=str(d.get("request_id", "")),
        )
    except (KeyError, TypeError, ValueError):
        raise CenterError("bad_response", "Unexpected activation answer", repr(d)[:300]) from None
