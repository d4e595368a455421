"""Account writes: sign-up and API key life cycle."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, User

KEY_PREFIX = "ns_"


def api_key_hash(*, key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def user_create(*, username: str, password: str, email: str = "") -> User:
    model = get_user_model()
    if model.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "That username is taken."})
    user = model(username=username, email=email)
    validate_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


@transaction.atomic
def api_key_create(*, user: User, name: str = "default") -> tuple[ApiKey, str]:
    """Create a key and return it with its clear text, which is never stored."""
    clear = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        user=user, name=name[:100] or "default", prefix=clear[:10], key_hash=api_key_hash(key=clear)
    )
    return key, clear


@transaction.atomic
def api_key_revoke(*, user: User, key_id: int) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key_id, user=user)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


@transaction.atomic
def api_key_rotate(*, user: User, key_id: int) -> tuple[ApiKey, str]:
    """Revoke a key and issue a new one with the same name."""
    old = api_key_revoke(user=user, key_id=key_id)
    return api_key_create(user=user, name=old.name)
