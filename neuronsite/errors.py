"""The project's own errors (HackSoft's ``ApplicationError`` pattern).

Services, selectors and engine kernels raise these; each interface maps them once:
``neuronsite.api.exception_handler`` (JSON ``{"error": ...}`` with ``status``), pages
(``message`` shown to the user), websocket consumers (an error frame with ``message``) and
management commands (``as_command_error``). Nothing here imports ``rest_framework``.

``ValidationFailed`` takes either a message plus the field it is about, or a ``{field: message}``
mapping (the shape DRF's ``ValidationError`` used, so conversions stay mechanical)::

    raise ValidationFailed("must not be empty", field="text")
    raise ValidationFailed({"text": "must not be empty"})
"""

from __future__ import annotations

from typing import Any


def flatten_message(detail: Any) -> str:
    """``{"a": ["x"], "b": {"c": "y"}}`` → ``"a: x; b: c: y"`` (field names kept)."""
    if isinstance(detail, dict):
        parts = []
        for key, value in detail.items():
            text = flatten_message(value)
            parts.append(text if key in ("non_field_errors", "detail", "__all__") else f"{key}: {text}")
        return "; ".join(parts)
    if isinstance(detail, (list, tuple)):
        return "; ".join(flatten_message(item) for item in detail)
    return str(detail)


class ApplicationError(Exception):
    """Base class: a problem with the request that the caller can fix (HTTP 400 by default)."""

    status: int = 400
    default_message: str = "Bad request."

    def __init__(self, message: Any = None, *, field: str | None = None, extra: dict | None = None):
        if message is None:
            message = self.default_message
        if field is not None and not isinstance(message, (dict, list)):
            message = {field: message}
        self.detail = message
        self.field = field if field is not None else _first_field(message)
        self.extra = dict(extra or {})
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return flatten_message(self.detail)

    def as_dict(self) -> dict:
        """The JSON body interfaces send: ``{"error": message, **extra}``."""
        return {"error": self.message, **self.extra}

    def as_command_error(self, prefix: str = ""):
        from django.core.management.base import CommandError

        return CommandError(f"{prefix}{self.message}")


def _first_field(detail: Any) -> str | None:
    if isinstance(detail, dict) and detail:
        key = next(iter(detail))
        return None if key in ("non_field_errors", "detail", "__all__") else str(key)
    return None


class ValidationFailed(ApplicationError):
    status = 400
    default_message = "Invalid input."


class NotAuthenticated(ApplicationError):
    status = 401
    default_message = "Authentication required: sign in or send an API key in the x-api-key header."


class PermissionDenied(ApplicationError):
    status = 403
    default_message = "You do not have permission to do this."


class NotFound(ApplicationError):
    status = 404
    default_message = "Not found."


class Conflict(ApplicationError):
    status = 409
    default_message = "Conflict."


class PayloadTooLarge(ApplicationError):
    status = 413
    default_message = "Request body too large."


class RateLimited(ApplicationError):
    status = 429
    default_message = "Too many requests."

    def __init__(self, message: Any = None, *, retry_after: int | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class UpstreamError(ApplicationError):
    """An outside service (an LLM provider, S3) failed: 502 with the provider's message."""

    status = 502
    default_message = "An upstream service failed."


class ServiceUnavailable(ApplicationError):
    status = 503
    default_message = "Service temporarily unavailable."


__all__ = [
    "ApplicationError",
    "ValidationFailed",
    "NotAuthenticated",
    "PermissionDenied",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "RateLimited",
    "UpstreamError",
    "ServiceUnavailable",
    "flatten_message",
]
