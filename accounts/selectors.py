from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import api_key_hash


def api_key_user(*, key: str) -> User | None:
    """The active user owning ``key``, or None. Touches ``last_used_at`` at most once a minute."""
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=api_key_hash(key=key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key.user


def api_keys_of(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked_at", "-created_at")
