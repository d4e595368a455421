"""Per-user LLM provider keys, encrypted at rest with Fernet (``cryptography``), and the choice
of endpoint for a request: the user's own provider when they saved one, else the server default.

The Fernet key comes from ``LLM_KEY_ENCRYPTION_KEY`` (urlsafe base64 of 32 bytes), or is derived
from ``SECRET_KEY`` when that is unset; rotating it makes saved keys unreadable (users re-enter).
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlparse

from django.conf import settings
from django.db import transaction

from autointerp.llm import NOT_CONFIGURED, LLMEndpoint, server_endpoint
from autointerp.models import UserLLMKey
from neuronsite.errors import NotFound, ValidationFailed


def _fernet():
    from cryptography.fernet import Fernet

    key = settings.LLM_KEY_ENCRYPTION_KEY
    if not key:
        digest = hashlib.sha256(("neuronsite-llm-keys:" + settings.SECRET_KEY).encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key.encode() if isinstance(key, str) else key)


def _check_url(base_url: str) -> str:
    base_url = (base_url or "").strip()
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationFailed("must be an http(s) URL such as https://openrouter.ai/api/v1", field="baseUrl")
    return base_url.rstrip("/")


@transaction.atomic
def user_llm_key_set(*, user, base_url: str, api_key: str, default_model: str = "") -> UserLLMKey:
    api_key = (api_key or "").strip()
    if not api_key:
        raise ValidationFailed("must not be empty", field="apiKey")
    if len(api_key) > 1000:
        raise ValidationFailed("longer than 1000 characters", field="apiKey")
    base_url = _check_url(base_url)
    row, _ = UserLLMKey.objects.update_or_create(
        user=user,
        defaults={
            "base_url": base_url,
            "default_model": (default_model or "").strip()[:200],
            "encrypted_key": _fernet().encrypt(api_key.encode()),
            "key_hint": api_key[-4:],
        },
    )
    return row


@transaction.atomic
def user_llm_key_delete(*, user) -> None:
    deleted, _ = UserLLMKey.objects.filter(user=user).delete()
    if not deleted:
        raise NotFound("You have no LLM key saved.")


def user_llm_key_get(*, user) -> UserLLMKey | None:
    if user is None or not user.is_authenticated:
        return None
    return UserLLMKey.objects.filter(user=user).first()


def endpoint_for(*, user, model: str | None, purpose: str = "explainer") -> LLMEndpoint:
    """The endpoint a request by ``user`` uses: their own key if saved, else the server's;
    400 saying how to configure one when neither exists."""
    row = user_llm_key_get(user=user)
    if row is not None:
        from cryptography.fernet import InvalidToken

        try:
            api_key = _fernet().decrypt(bytes(row.encrypted_key)).decode()
        except InvalidToken:
            raise ValidationFailed(
                "Your saved LLM key can no longer be decrypted (the server's encryption key changed); "
                "enter it again on your account page.",
                field="apiKey",
            ) from None
        default = row.default_model or (
            settings.AUTOINTERP_EXPLAINER_MODEL
            if purpose == "explainer"
            else settings.AUTOINTERP_SCORER_MODEL
        )
        return LLMEndpoint(base_url=row.base_url, api_key=api_key, model=model or default, owner="user")
    endpoint = server_endpoint(model=model, purpose=purpose)
    if endpoint is None:
        raise ValidationFailed(
            NOT_CONFIGURED, field="explanationModelName" if purpose == "explainer" else "scorerModel"
        )
    return endpoint
