"""Async client of the site's license server (API v1, see server/app.py).

Configuration (first found wins):

- server address ``HOST:PORT``: the caller's argument, env ``LICWIZ_SERVER``,
  ``"server"`` in ``~/.config/licwiz/server.json``, then ``/etc/licwiz/server.json``;
- client token (seat calls): env ``LICWIZ_SERVER_CLIENT_TOKEN``, ``"client_token"``
  in those files;
- admin token (installing a license): env ``LICWIZ_SERVER_TOKEN``, else the
  first line of ``~/.config/licwiz/server-token`` (keep it mode 0600);
- TLS: ``"tls": true`` and optionally ``"ca": "/path/ca.pem"`` in the files,
  or env ``LICWIZ_SERVER_TLS=1`` / ``LICWIZ_SERVER_CA``.

Every failure is a ``ServerError`` with a stable ``code`` (the server's code, or
``unreachable`` / ``bad_response`` for transport trouble), except "no seat
free", which is core's ``SeatError`` with the holders, as for local seats.
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import platformdirs

from . import __version__
from .client import untrusted_certificate
from .errors import InputError, LicwizError, SeatError
from .i18n import N_
from .message import Msg

API = "/api/v1"
DEFAULT_PORT = 8475
SITE_CONFIG = Path("/etc/licwiz/server.json")


class ServerError(LicwizError):
    """The license server refused, or could not be reached."""

    code = "server"

    def __init__(
        self, code: str, brief: str, detail: str = "", *, status: int = 0, request_id: str = ""
    ) -> None:
        super().__init__(brief, detail, code=code)
        self.status = status
        self.request_id = request_id

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "status": self.status, "request_id": self.request_id}


@dataclass(frozen=True, slots=True)
class Seat:
    seat_id: str
    slot: int
    product: str
    lease: float
    since: str


def parse_address(text: str, field: str = "server") -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``, port 8475; ``[v6]:PORT`` for IPv6)."""
    t = text.strip()
    if not t:
        raise InputError(field, Msg(N_("the server address is empty")))
    if t.startswith("["):
        host, sep, rest = t[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not sep or (rest and not rest.startswith(":")):
            raise InputError(field, Msg(N_("{text!r} is not HOST:PORT"), text=text))
    else:
        host, _, port_text = t.rpartition(":") if ":" in t else (t, "", "")
    if not host or any(c.isspace() for c in host):
        raise InputError(field, Msg(N_("{text!r} has no valid host name"), text=text))
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InputError(field, Msg(N_("port {port!r} must be a number from 1 to 65535"), port=port_text))
    return host, int(port_text)


def _config_files() -> list[Path]:
    return [Path(platformdirs.user_config_dir("licwiz")) / "server.json", SITE_CONFIG]


def load_config() -> dict[str, Any]:
    """The merged server.json settings (user's file over the site's)."""
    merged: dict[str, Any] = {}
    for path in reversed(_config_files()):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            raise LicwizError(Msg(N_("{path}: cannot read the license server settings"), path=path), str(exc),
                              code="bad_config") from None
        if isinstance(doc, dict):
            merged.update(doc)
    return merged


def configured_server() -> str | None:
    env = os.environ.get("LICWIZ_SERVER")
    if env:
        return env
    v = load_config().get("server")
    return v if isinstance(v, str) and v else None


def client_token() -> str | None:
    env = os.environ.get("LICWIZ_SERVER_CLIENT_TOKEN")
    if env:
        return env.strip()
    v = load_config().get("client_token")
    return v.strip() if isinstance(v, str) and v.strip() else None


def admin_token() -> str | None:
    env = os.environ.get("LICWIZ_SERVER_TOKEN")
    if env:
        return env.strip()
    path = Path(platformdirs.user_config_dir("licwiz")) / "server-token"
    try:
        line = path.read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return line or None


def tls_settings() -> tuple[bool, bool | str]:
    """(use TLS, httpx verify value) from env or server.json."""
    cfg = load_config()
    ca = os.environ.get("LICWIZ_SERVER_CA") or cfg.get("ca")
    tls = os.environ.get("LICWIZ_SERVER_TLS", "") in ("1", "true", "yes") or bool(cfg.get("tls")) or bool(ca)
    return tls, (str(ca) if ca else True)


class ServerClient:
    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        token: str | None = None,
        tls: bool = False,
        verify: bool | str = True,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        h = f"[{host}]" if ":" in host else host
        self.base_url = f"{'https' if tls else 'http'}://{h}:{port}"
        headers = {"User-Agent": f"licwiz/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(verify, str):  # a CA bundle path (httpx wants an SSL context for that)
            try:
                verify_arg: bool | ssl.SSLContext = ssl.create_default_context(cafile=verify)
            except (OSError, ssl.SSLError) as exc:
                raise ServerError("bad_ca", Msg(N_("cannot use {path} as the server's CA certificate"),
                                                path=verify),
                                  str(exc)) from None
        else:
            verify_arg = verify
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, verify=verify_arg,
                                         headers=headers, transport=transport)

    async def __aenter__(self) -> ServerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, *, json_body: Any = None,
                    params: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            resp = await self._client.request(method, API + path, json=json_body, params=params)
        except httpx.TimeoutException:
            raise ServerError("unreachable", Msg(N_("the license server at {url} did not answer in time"),
                                              url=self.base_url)) from None
        except httpx.HTTPError as exc:
            reason = untrusted_certificate(exc)
            if reason is not None:  # found by type (ssl.SSLCertVerificationError), not by its words
                raise ServerError(
                    "unreachable",
                    Msg(N_("the license server's certificate at {url} is not trusted ({reason})"),
                                       url=self.base_url, reason=reason),
                    Msg(N_("Name its CA certificate in LICWIZ_SERVER_CA or \"ca\" in server.json.")),
                ) from None
            raise ServerError("unreachable", Msg(N_("cannot reach the license server at {url}"),
                                                 url=self.base_url),
                              f"{exc.__class__.__name__}: {exc}") from None
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise ServerError("bad_response", Msg(N_("the license server at {url} gave a non-JSON answer"),
                                               url=self.base_url),
                              f"HTTP {resp.status_code}", status=resp.status_code)
        if resp.is_success:
            return doc
        err = doc.get("error")
        if not isinstance(err, dict):
            raise ServerError("bad_response", Msg(N_("the license server refused (HTTP {status})"),
                                                  status=resp.status_code),
                              status=resp.status_code)
        code = str(err.get("code") or "server")
        brief = str(err.get("brief") or "") or Msg(N_("the license server refused (HTTP {status})"),
                                                   status=resp.status_code)
        detail = str(err.get("detail") or brief)
        if code == "no_seat":
            holders = err.get("holders")
            raise SeatError(brief, detail, holders=holders if isinstance(holders, list) else [])
        raise ServerError(code, brief, detail, status=resp.status_code,
                          request_id=str(err.get("request_id") or ""))

    async def health(self) -> dict[str, Any]:
        return await self._call("GET", "/health")

    async def parameters(self, product: str | None = None) -> dict[str, str]:
        """The server computer's parameters: what a license installed on it is bound to."""
        doc = await self._call("GET", "/parameters", params={"product": product} if product else None)
        params = doc.get("params")
        if not isinstance(params, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in params.items()):
            raise ServerError("bad_response", Msg(N_("the license server sent malformed parameters")))
        return dict(params)

    async def install(self, license_text: str) -> dict[str, Any]:
        """Upload a license (admin token): {"license_id", "product", "users", "not_after", "new"}."""
        return await self._call("POST", "/licenses", json_body={"license": license_text})

    async def licenses(self) -> dict[str, Any]:
        return await self._call("GET", "/licenses")

    async def seats(self, product: str | None = None) -> list[dict[str, Any]]:
        doc = await self._call("GET", "/seats", params={"product": product} if product else None)
        rows = doc.get("seats")
        return rows if isinstance(rows, list) else []

    async def acquire_seat(self, session: str, host: str, user: str, product: str | None = None) -> Seat:
        body: dict[str, str] = {"session": session, "host": host, "user": user}
        if product:
            body["product"] = product
        doc = await self._call("POST", "/seats", json_body=body)
        try:
            return Seat(str(doc["seat_id"]), int(doc["slot"]), str(doc["product"]), float(doc["lease"]),
                        str(doc["since"]))
        except (KeyError, TypeError, ValueError):
            raise ServerError("bad_response", Msg(N_("the license server sent a malformed seat"))) from None

    async def heartbeat(self, seat: Seat) -> float:
        """Renew the seat's lease; raises ServerError(code="seat_lost") if it is gone."""
        doc = await self._call("POST", f"/seats/{seat.seat_id}/heartbeat")
        lease = doc.get("lease")
        return float(lease) if isinstance(lease, int | float) else seat.lease

    async def release(self, seat: Seat) -> bool:
        doc = await self._call("DELETE", f"/seats/{seat.seat_id}")
        return bool(doc.get("released"))


def client_from_config(address: str | None = None, *, admin: bool = False) -> ServerClient:
    """A client for ``address`` (or the configured server) with the configured token and TLS."""
    addr = address or configured_server()
    if not addr:
        raise InputError("server", Msg(N_("no license server is configured")),
                         Msg(N_("give --server HOST:PORT, set LICWIZ_SERVER, or put \"server\" in "
                                "~/.config/licwiz/server.json or /etc/licwiz/server.json")))
    host, port = parse_address(addr)
    tls, verify = tls_settings()
    return ServerClient(host, port, token=admin_token() if admin else client_token(), tls=tls, verify=verify)
