"""Errors raised by inference code that name what is wrong in the request.

They are the project's domain errors (``neuronsite.errors``): the API's exception handler answers
``{"error": ...}`` with their status, and consumers send ``exc.message`` in an error frame.
"""

from neuronsite.errors import NotFound, ValidationFailed


class InferenceInputError(ValidationFailed):
    """Bad input for an inference request (token limit, dimension, empty prompt, ...): 400."""

    default_message = "Bad inference request."


class InferenceNotFound(NotFound):
    default_message = "Not found."
