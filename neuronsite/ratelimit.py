"""Rate limits: one fixed-window counter in the shared cache, used by the API throttle and by
the login / sign-up pages.

The cache is Django's ``default`` cache: a PostgreSQL table by default (shared by every web
process that reaches the database), Redis with ``REDIS_URL``. Limits come from settings
(``RATE_LIMITS``, each ``"N/period"`` with period ``s``/``min``/``h``/``day``; empty or ``0``
switches that limit off) and are listed in the README. Counting is atomic on both backends
(:func:`rate_count`): concurrent requests never share a count.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.http import HttpResponse
from django.utils.deprecation import MiddlewareMixin

from neuronsite.errors import RateLimited

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_PERIODS |= {"d": 86400, "day": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"30/min"`` -> ``(30, 60)``; ``None`` when the limit is off ("", "0", "off")."""
    if not rate or str(rate).strip().lower() in {"0", "off", "none"}:
        return None
    count, _, period = str(rate).strip().partition("/")
    period = period.strip().lower() or "s"
    multiple = ""
    while period and period[0].isdigit():  # "5/10min"
        multiple, period = multiple + period[0], period[1:]
    if period not in _PERIODS or not count.strip().isdigit():
        raise ValueError(f"rate limit {rate!r}: expected 'N/period' with period s, min, h or day")
    seconds = _PERIODS[period] * (int(multiple) if multiple else 1)
    return (int(count), seconds) if int(count) > 0 else None


def rate_limit_hit(*, scope: str, ident: str, rate: str | None = None) -> None:
    """Count one request of ``ident`` (an address, ``user:<id>`` or ``key:<id>``) against the
    limit of ``scope`` (``settings.RATE_LIMITS[scope]`` unless ``rate`` is given); raise
    :class:`RateLimited` with ``retry_after`` once the limit is passed in the current window."""
    parsed = parse_rate(settings.RATE_LIMITS.get(scope) if rate is None else rate)
    if parsed is None:
        return
    limit, period = parsed
    now = time.time()
    window = int(now // period)
    window_end = (window + 1) * period
    key = f"rl:{scope}:{ident}:{period}:{window}"
    ttl = max(1, math.ceil(window_end - now)) + 1
    count = rate_count(key, ttl=ttl)
    if count > limit:
        retry_after = max(1, math.ceil(window_end - now))
        raise RateLimited(
            f"Too many requests ({scope}): the limit is {settings.RATE_LIMITS.get(scope) if rate is None else rate}"
            f" per {'address' if not ident.startswith(('user:', 'key:')) else 'account'}."
            f" Retry in {retry_after} s.",
            retry_after=retry_after,
        )


def rate_count(key: str, *, ttl: int) -> int:
    """Add one to the counter ``key`` (created with ``ttl`` seconds to live) and return its new
    value, atomically: concurrent callers each see a different count, none is lost.

    - Database cache (the default): one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on the
      cache table itself (PostgreSQL locks the row, so increments serialise). The counter is stored
      as plain digits under a key Django's own cache keys (``:1:...``) never take, and
      ``cache.clear()`` resets it with everything else.
    - Redis: ``add`` then ``INCR`` (atomic, keeps the key's expiry).
    - Any other backend (a test's local memory): ``add`` then ``incr``.
    """
    from django.core.cache import caches
    from django.core.cache.backends.db import DatabaseCache

    backend = caches["default"]
    if isinstance(backend, DatabaseCache):
        return _db_count(backend, key, ttl)
    if backend.add(key, 1, timeout=ttl):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.add(key, 1, timeout=ttl)
        return 1


_DB_KEY_MAX = 250  # the cache table's key column is varchar(255)


def _db_count(backend, key: str, ttl: int) -> int:
    import hashlib
    import random
    from datetime import timedelta

    from django.db import connections, router
    from django.utils import timezone

    if len(key) > _DB_KEY_MAX:
        key = key[:180] + ":" + hashlib.sha256(key.encode()).hexdigest()
    connection = connections[router.db_for_write(backend.cache_model_class)]
    table = connection.ops.quote_name(backend._table)
    now = timezone.now()
    expires = now + timedelta(seconds=ttl)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (cache_key, value, expires) VALUES (%s, '1', %s)
            ON CONFLICT (cache_key) DO UPDATE SET
              value = CASE WHEN {table}.expires < %s OR {table}.value !~ '^[0-9]{{1,15}}$' THEN '1'
                           ELSE ({table}.value::bigint + 1)::text END,
              expires = CASE WHEN {table}.expires < %s THEN EXCLUDED.expires ELSE {table}.expires END
            RETURNING value::bigint""",
            [key, expires, now, now],
        )
        count = int(cursor.fetchone()[0])
        if random.random() < 0.01:  # past windows' counters: nothing else reads or culls them
            cursor.execute(f"DELETE FROM {table} WHERE cache_key LIKE 'rl:%%' AND expires < %s", [now])
    return count


def client_address(request) -> str:
    """The caller's address: ``REMOTE_ADDR``, or with ``NUM_PROXIES`` = n > 0 the n-th address from
    the right of ``X-Forwarded-For`` (the one our own proxies saw). Without trusted proxies the
    header is ignored, so a client cannot pick its own bucket."""
    return _address(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""))


def _address(remote: str, forwarded: str) -> str:
    remote = remote or "unknown"
    proxies = getattr(settings, "NUM_PROXIES", 0) or 0
    if proxies > 0 and forwarded:
        hops = [part.strip() for part in forwarded.split(",") if part.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return remote


def scope_address(scope) -> str:
    """:func:`client_address` for a websocket's ASGI scope."""
    client = scope.get("client") or ("",)
    forwarded = next(
        (value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"x-forwarded-for"),
        "",
    )
    return _address(str(client[0] or ""), forwarded)


def ws_rate_limit_hit(scope, *, kind: str) -> None:
    """Count one websocket frame against the HTTP budget ``kind`` (``"inference"`` or ``"write"``):
    ``user_<kind>`` per signed-in user (the same bucket as their HTTP requests with a session),
    ``anon_<kind>`` per address otherwise. Raises :class:`RateLimited` (sync: run it through
    ``database_sync_to_async``)."""
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        rate_limit_hit(scope=f"user_{kind}", ident=f"user:{user.pk}")
    else:
        rate_limit_hit(scope=f"anon_{kind}", ident=scope_address(scope))


def rate_limited_frame(exc: RateLimited, request_id=None) -> dict:
    """The error frame a websocket sends for a frame over its limit (the socket stays open)."""
    return {
        "type": "error",
        "requestId": request_id,
        "error": exc.message,
        "retryAfter": exc.retry_after or 60,
    }


PAGE_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OWN_LIMITS = frozenset({"login", "signup"})  # the sign-in and sign-up views count their own


class PageWriteRateLimitMiddleware(MiddlewareMixin):
    """Writes through the pages (forms, htmx posts: comments, votes, lists, bookmarks, keys) count
    against the same per-address / per-account write limits as the API. The API's own throttle
    (neuronsite/throttling.py) covers ``/api/``; the admin is left to staff."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method not in PAGE_WRITE_METHODS or request.path.startswith(("/api/", "/admin/")):
            return None
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name in OWN_LIMITS:
            return None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            scope, ident = "user_write", f"user:{user.pk}"
        else:
            scope, ident = "anon_write", client_address(request)
        try:
            rate_limit_hit(scope=scope, ident=ident)
        except RateLimited as exc:
            response = HttpResponse(exc.message, status=429, content_type="text/plain; charset=utf-8")
            response["Retry-After"] = str(exc.retry_after or 60)
            return response
        return None


__all__ = [
    "PageWriteRateLimitMiddleware",
    "client_address",
    "parse_rate",
    "rate_count",
    "rate_limit_hit",
    "rate_limited_frame",
    "scope_address",
    "ws_rate_limit_hit",
]
