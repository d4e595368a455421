"""Errors raised by inference code that name what is wrong in the request.

They are the project's domain errors (``neuronsite.errors``): the API's exception handler answers
``{"error": ...}`` with their status, and consumers send ``exc.message`` in an error frame.
"""

from neuronsite.errors import Conflict, NotFound, ValidationFailed


class InferenceInputError(ValidationFailed):
    """Bad input for an inference request (token limit, dimension, empty prompt, ...): 400."""

    default_message = "Bad inference request."


class InferenceDisabled(Conflict):
    """The model or source exists but inference is switched off for it: a state of the data, not a
    fault of the request (409, so a schema-valid request is never answered 400 for it)."""

    default_message = "Inference is disabled."


class InferenceNotFound(NotFound):
    default_message = "Not found."


def check_text(text: str, *, field: str) -> str:
    """Refuse text the tokenizer or PostgreSQL cannot take: a lone surrogate (``"\\ud800"``, valid
    JSON but not Unicode that UTF-8 can encode) or a NUL character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InferenceInputError(
            f"contains a lone surrogate ({text[exc.start]!r} at position {exc.start}); send valid Unicode.",
            field=field,
        ) from None
    if "\x00" in text:
        raise InferenceInputError("must not contain NUL (\\u0000) characters.", field=field)
    return text
