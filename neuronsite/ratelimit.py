"""Rate limits: one fixed-window counter in the shared cache, used by the API throttle and by
the login / sign-up pages.

The cache is Django's ``default`` cache: a PostgreSQL table by default (shared by every web
process that reaches the database), Redis with ``REDIS_URL``. Limits come from settings
(``RATE_LIMITS``, each ``"N/period"`` with period ``s``/``min``/``h``/``day``; empty or ``0``
switches that limit off) and are listed in the README.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
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
    if cache.add(key, 1, timeout=ttl):
        count = 1
    elif _is_redis():
        try:
            count = cache.incr(key)  # atomic, keeps the key's expiry
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=ttl)
            count = 1
    else:
        # Database cache: read then write with the window's expiry (BaseCache.incr would reset it
        # to the default timeout). Two racing requests may count once: a limit can be passed by
        # the number of concurrent requests, never by more.
        count = int(cache.get(key) or 0) + 1
        cache.set(key, count, timeout=ttl)
    if count > limit:
        retry_after = max(1, math.ceil(window_end - now))
        raise RateLimited(
            f"Too many requests ({scope}): the limit is {settings.RATE_LIMITS.get(scope) if rate is None else rate}"
            f" per {'address' if not ident.startswith(('user:', 'key:')) else 'account'}."
            f" Retry in {retry_after} s.",
            retry_after=retry_after,
        )


def _is_redis() -> bool:
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    return isinstance(caches["default"], RedisCache)


def client_address(request) -> str:
    """The caller's address: ``REMOTE_ADDR``, or with ``NUM_PROXIES`` = n > 0 the n-th address from
    the right of ``X-Forwarded-For`` (the one our own proxies saw). Without trusted proxies the
    header is ignored, so a client cannot pick its own bucket."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    proxies = getattr(settings, "NUM_PROXIES", 0) or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [part.strip() for part in forwarded.split(",") if part.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return remote


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


__all__ = ["PageWriteRateLimitMiddleware", "client_address", "parse_rate", "rate_limit_hit"]
