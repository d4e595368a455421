"""Errors raised by inference code that name what is wrong in the request.

They are DRF ``APIException``s, so views answer ``{"error": ...}`` with the right status through the
project's exception handler, and consumers send ``str(exc.detail)`` in an error frame.
"""

from rest_framework import status
from rest_framework.exceptions import APIException


class InferenceInputError(APIException):
    """Bad input for an inference request (token limit, dimension, empty prompt, ...): 400."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Bad inference request."
    default_code = "bad_inference_request"


class InferenceNotFound(APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."
    default_code = "not_found"
