"""Seat usage from the seat log (``licwiz server report``): what RLM's
reportlog tools and FlexLM's report writers answer, from ``licwiz_seat_log``.

A seat is held from its grant to its release (by the client or by hand) or to
the moment its lease ran out (an expiry row carries that moment, though it is
found later). From those intervals, within the window [since, now]:

- per product: peak seats in use at once (and when), the time-weighted
  average of seats in use, grants, denials, releases, expiries, seat-hours;
- per user (and product): grants, denials, seat-hours;
- per day (UTC, and product): peak, grants, denials, distinct users.

A seat granted before the window and still held (or ended in it) counts from
the window's start. ``usage`` is a pure function of the rows, so the numbers
can be checked exactly.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from . import db

ENDS = ("release", "expire", "admin_release")


@dataclass(frozen=True, slots=True)
class LogRow:
    at: float
    event: str
    product: str
    seat_id: str | None
    user: str
    granted_at: float | None


@dataclass(frozen=True, slots=True)
class Interval:
    product: str
    user: str
    start: float
    end: float


def parse_since(text: str) -> float:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO date and time (UTC unless it says)."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since: {text!r} is not a date (YYYY-MM-DD) or an ISO date and time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


async def load(engine: AsyncEngine, since: float | None, product: str | None,
               ) -> tuple[list[LogRow], list[db.SeatRow]]:
    """The log rows of the window (and the end rows of seats granted before it),
    and the seats in the seat table (still held, or expired and not swept yet)."""
    log = db.seat_log
    q = select(log.c.at, log.c.event, log.c.product, log.c.seat_id, log.c.user_name,
               log.c.granted_at).order_by(log.c.at, log.c.id)
    if since is not None:
        q = q.where(log.c.at >= since)
    if product is not None:
        q = q.where(log.c.product == product)
    s = db.seats.select()
    if product is not None:
        s = s.where(db.seats.c.product == product)
    async with engine.connect() as conn:
        rows = [LogRow(float(r.at), str(r.event), str(r.product), r.seat_id, str(r.user_name),
                       None if r.granted_at is None else float(r.granted_at))
                for r in (await conn.execute(q)).all()]
        held = [db.SeatRow(r.seat_id, r.product, r.slot, r.session, r.host, r.user_name, r.granted_at,
                           r.expires_at) for r in (await conn.execute(s)).all()]
    return rows, held


def intervals(rows: Iterable[LogRow], held: Iterable[db.SeatRow], start: float, end: float) -> list[Interval]:
    """Each seat's time held, clipped to [start, end]."""
    ended: dict[str, LogRow] = {}
    granted: dict[str, LogRow] = {}
    for r in rows:
        if r.seat_id is None:
            continue
        if r.event == "grant":
            granted[r.seat_id] = r
        elif r.event in ENDS:
            ended[r.seat_id] = r
    still = {s.seat_id: s for s in held}
    out: list[Interval] = []
    for seat_id in granted.keys() | ended.keys() | still.keys():
        g, e, s = granted.get(seat_id), ended.get(seat_id), still.get(seat_id)
        if e is not None:
            product, user, begin, stop = e.product, e.user, e.granted_at or start, e.at
        elif s is not None:
            product, user, begin, stop = s.product, s.user, s.granted_at, min(s.expires_at, end)
        elif g is not None:
            product, user, begin, stop = g.product, g.user, g.at, end
        else:  # pragma: no cover - one of the three holds by construction
            continue
        begin, stop = max(begin, start), min(stop, end)
        if stop > begin:
            out.append(Interval(product, user, begin, stop))
    return out


def _day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date().isoformat()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _next_midnight(ts: float) -> float:
    d = dt.datetime.fromtimestamp(ts, dt.UTC).date() + dt.timedelta(days=1)
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()


def _sweep(spans: list[Interval]) -> tuple[int, float, float, dict[str, int]]:
    """(peak, when, integral of seats over time, peak per day) of one product."""
    points = sorted([(i.start, 1) for i in spans] + [(i.end, -1) for i in spans],
                    key=lambda p: (p[0], p[1]))  # at one instant an end comes before a start
    level, peak, peak_at, area = 0, 0, 0.0, 0.0
    per_day: dict[str, int] = {}
    last: float | None = None
    for t, step in points:
        if last is not None:
            area += level * (t - last)
            # a level carried over midnight is that day's too
            midnight = _next_midnight(last)
            while midnight <= t and level > 0:
                per_day[_day(midnight)] = max(per_day.get(_day(midnight), 0), level)
                midnight = _next_midnight(midnight)
        level += step
        last = t
        per_day[_day(t)] = max(per_day.get(_day(t), 0), level)
        if level > peak:
            peak, peak_at = level, t
    return peak, peak_at, area, per_day


def usage(rows: list[LogRow], held: list[db.SeatRow], since: float | None, now: float | None = None,
          ) -> dict[str, Any]:
    """The report as a JSON-ready dict (see the module's doc)."""
    end = time.time() if now is None else now
    firsts = [r.at for r in rows] + [s.granted_at for s in held]
    start = since if since is not None else min(firsts, default=end)
    spans = intervals(rows, held, start, end)
    window = rows if since is None else [r for r in rows if r.at >= since]
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
        ("grants", "denials", "releases", "expiries", "admin_releases"), 0))
    key = {"grant": "grants", "deny": "denials", "release": "releases", "expire": "expiries",
           "admin_release": "admin_releases"}
    users: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"grants": 0, "denials": 0, "seat_hours": 0.0})
    days: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"peak": 0, "grants": 0, "denials": 0, "users": set()})
    for r in window:
        counts[r.product][key[r.event]] += 1
        if r.event in ("grant", "deny"):
            u = users[(r.product, r.user)]
            d = days[(r.product, _day(r.at))]
            field = "grants" if r.event == "grant" else "denials"
            u[field] += 1
            d[field] += 1
            d["users"].add(r.user)
    by_product: dict[str, list[Interval]] = defaultdict(list)
    for i in spans:
        by_product[i.product].append(i)
        users[(i.product, i.user)]["seat_hours"] += (i.end - i.start) / 3600
    products: dict[str, Any] = {}
    for product in sorted(counts.keys() | by_product.keys()):
        peak, peak_at, area, per_day = _sweep(by_product.get(product, []))
        for day, level in per_day.items():
            days[(product, day)]["peak"] = max(days[(product, day)]["peak"], level)
        length = end - start
        products[product] = {
            "peak": peak, "peak_at": _iso(peak_at) if peak else None,
            "average": round(area / length, 3) if length > 0 else 0.0,
            "seat_hours": round(area / 3600, 4), **counts[product]}
    return {
        "since": _iso(start), "until": _iso(end), "products": products,
        "users": [{"product": p, "user": u, "grants": v["grants"], "denials": v["denials"],
                   "seat_hours": round(v["seat_hours"], 4)} for (p, u), v in sorted(users.items())],
        "days": [{"product": p, "day": d, "peak": v["peak"], "grants": v["grants"], "denials": v["denials"],
                  "users": len(v["users"])} for (p, d), v in sorted(days.items())],
    }


CSV_FIELDS = ("kind", "product", "user", "day", "peak", "average", "seat_hours", "grants", "denials",
              "releases", "expiries", "admin_releases", "users")


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report as one table: a row per product, per user and per day (``kind``)."""
    out: list[dict[str, Any]] = []
    for product, p in report["products"].items():
        out.append({"kind": "product", "product": product, **{k: v for k, v in p.items()
                                                               if k in CSV_FIELDS}})
    out += [{"kind": "user", **u} for u in report["users"]]
    out += [{"kind": "day", **d} for d in report["days"]]
    return out
