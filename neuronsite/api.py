"""Shared API plumbing: the JSON error shape ``{"error": ...}`` for every failure."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from neuronsite.errors import ApplicationError, PayloadTooLarge, RateLimited, ValidationFailed
from neuronsite.errors import flatten_message as flatten_detail


def application_error_response(exc: ApplicationError) -> Response:
    """The one mapping of the project's domain errors to HTTP: ``{"error": ...}`` + status."""
    response = Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        response["Retry-After"] = str(int(exc.retry_after))
    return response


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return application_error_response(exc)
    if isinstance(exc, RequestDataTooBig):
        return application_error_response(PayloadTooLarge(f"Request body too large: {exc}"))
    if isinstance(exc, SuspiciousOperation):  # too many form fields or files, bad multipart
        return application_error_response(ValidationFailed(f"Malformed request: {exc}"))
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(exc, exceptions.ValidationError):
        message = flatten_detail(detail)
    elif isinstance(detail, dict) and "detail" in detail:
        message = str(detail["detail"])
    else:
        message = flatten_detail(detail)
    if isinstance(exc, Http404) and message == "No  matches the given query.":
        message = "Not found."
    response.data = {"error": message}
    return response


def validated(serializer_class, request) -> dict:
    """The request body checked by a plain input ``Serializer`` (400 ``{"error": ...}`` if not)."""
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return data.validated_data


def error(message: str, status_code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"error": message}, status=status_code)


__all__ = ["exception_handler", "application_error_response", "error", "validated", "flatten_detail"]
