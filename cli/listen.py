"""Whether a service can listen on its address, asked before it starts.

uvicorn reports a port in use in a log line of its own, after the service
printed its banner and opened (and upgraded) its database, and exits 3 (its
STARTUP_FAILURE). ``serve`` asks first, the way uvicorn will bind (every
address the host name gives, SO_REUSEADDR so a port left in TIME_WAIT by a
restart is not "in use"), and says what is wrong in one line with the same
exit code (``ServiceExit.ADDRESS``). The check and the real bind are a moment
apart: a program taking the port in between gets uvicorn's line, still exit 3.
"""

from __future__ import annotations

import contextlib
import errno
import socket

from licwiz.core.i18n import N_
from licwiz.core.message import Msg


def listen_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on now, or None if it can."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        return Msg(N_("{host!r} is not a host name or address of this computer ({reason})"), host=host,
                   reason=str(exc))
    with contextlib.ExitStack() as stack:
        for family, kind, proto, _name, address in infos:
            try:
                sock = stack.enter_context(socket.socket(family, kind, proto))
            except OSError:
                continue  # e.g. IPv6 disabled: uvicorn skips it the same way
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return _why(exc, host, port)
    return None


def _why(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return Msg(N_("port {port} on {host} is already in use (another licwiz service or another "
                      "program; see: ss -ltnp 'sport = :{port}')"), port=port, host=host)
    if exc.errno == errno.EACCES:
        return Msg(N_("no permission to listen on port {port} (ports below 1024 need root or "
                      "CAP_NET_BIND_SERVICE)"), port=port)
    if exc.errno == errno.EADDRNOTAVAIL:
        return Msg(N_("{host} is not an address of this computer"), host=host)
    return Msg(N_("cannot listen on {host}:{port}: {reason}"), host=host, port=port,
               reason=exc.strerror or str(exc))
