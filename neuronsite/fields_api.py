"""Input fields every API serializer uses, so that each number and string is checked at the edge.

A request the OpenAPI schema allows must be accepted and one the server refuses must be outside
the schema: each field here both validates and declares its bounds (``minimum``/``maximum``,
``minLength``/``maxLength``, ``pattern``), which drf-spectacular copies into ``/api/schema/``.

- :class:`FiniteFloatField`: a finite number inside float32's range (activations, logits and
  steering values are stored as ``real`` or fed to float32 tensors; 1e39 overflows both).
- :class:`BoundedIntegerField`: an integer with bounds (default: PostgreSQL ``integer``), never a
  bool, never a non-ASCII digit.
- :class:`SafeCharField`: text with a ``max_length`` (take it from the column with
  :func:`column_max_length`), no NUL, no lone surrogate (PostgreSQL and tokenizers refuse both).
- :class:`FeatureIndexField`: a feature index as an integer or a string of ASCII digits.
- :class:`FloatListField`: a bounded list of :class:`FiniteFloatField`.
- :func:`error_responses`: the ``{"error": string}`` body for each error status of an operation.

Copy these into every new endpoint instead of ``JSONField`` or bare ``CharField``/``IntegerField``.
"""

from __future__ import annotations

import math
import re

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers

FLOAT32_MAX = 3.4028234663852886e38
# Below this a float32 is 0, and PostgreSQL refuses such a double cast to real ("underflow"):
# flushed to 0.0 at the edge.
FLOAT32_TINY = 1e-45
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_FEATURE_INDEX = INT32_MAX

_ASCII_INT = re.compile(r"[+-]?[0-9]{1,19}")
_ASCII_INDEX = re.compile(r"[0-9]{1,10}")


def column_max_length(model, field_name: str) -> int:
    """The ``max_length`` of a model's ``CharField`` column (so the API and the table agree)."""
    return model._meta.get_field(field_name).max_length


class FiniteFloatField(serializers.FloatField):
    """A finite number within float32's range, or the tighter ``min_value``/``max_value`` given."""

    default_error_messages = {
        "invalid": "A valid number is required.",
        "not_finite": "must be a finite number (float32 range, |x| <= 3.4e38).",
    }

    def __init__(self, *, min_value: float | None = None, max_value: float | None = None, **kwargs):
        min_value = -FLOAT32_MAX if min_value is None else max(min_value, -FLOAT32_MAX)
        max_value = FLOAT32_MAX if max_value is None else min(max_value, FLOAT32_MAX)
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and not data.isascii():
            self.fail("invalid")
        try:
            value = float(data)
        except (TypeError, ValueError):
            self.fail("invalid")
        except OverflowError:
            self.fail("not_finite")
        if not math.isfinite(value):
            self.fail("not_finite")
        return value if abs(value) >= FLOAT32_TINY else 0.0


class BoundedIntegerField(serializers.IntegerField):
    """An integer within ``min_value``..``max_value`` (default: PostgreSQL ``integer``).

    Refuses bools, fractions and digits outside ASCII (``"²"``, ``"①"``, ``"١"``): only what a
    program means as a number is one."""

    default_error_messages = {"invalid": "A valid integer is required."}

    def __init__(self, *, min_value: int | None = INT32_MIN, max_value: int | None = INT32_MAX, **kwargs):
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            return data
        if isinstance(data, float):
            if not math.isfinite(data) or not data.is_integer():
                self.fail("invalid")
            return int(data)
        if isinstance(data, str) and _ASCII_INT.fullmatch(data.strip()):
            return int(data.strip())
        self.fail("invalid")


def ascii_index(text) -> int | None:
    """A feature index written as ASCII digits (``"12"``) -> 12; anything else -> ``None``."""
    if isinstance(text, str) and _ASCII_INDEX.fullmatch(text.strip()):
        return int(text.strip())
    return None


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 0, "maximum": MAX_FEATURE_INDEX},
            {"type": "string", "pattern": "^[0-9]{1,9}$"},
        ],
        "description": "feature index: an integer (or a string of ASCII digits)",
    }
)
class FeatureIndexField(serializers.Field):
    """A feature index: ``12`` or ``"12"``, 0..2^31-1 (the schema shows strings of up to 9 digits)."""

    default_error_messages = {
        "invalid": "must be a non-negative integer.",
        "range": f"must be between 0 and {MAX_FEATURE_INDEX}.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, float) and math.isfinite(data) and data.is_integer():
            data = int(data)
        if not isinstance(data, int):
            data = ascii_index(data)
            if data is None:
                self.fail("invalid")
        if not 0 <= data <= MAX_FEATURE_INDEX:
            self.fail("range")
        return data

    def to_representation(self, value):
        return str(value)


class SchemaPattern(RegexValidator):
    """A ``pattern`` for the OpenAPI schema only: what it says is enforced by the field itself."""

    def __call__(self, value):
        return None


# Non-empty: with allow_blank the schema says oneOf [this, maxLength 0], and "" must match one only.
NO_NUL = "^[^\\x00]+$"
# What str.strip() removes (JSON Schema's \\s, ECMA's, leaves out \\x1c-\\x1f and \\x85).
WHITESPACE = (
    "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
NOT_BLANK = f"^[^\\x00]*[^{WHITESPACE}\\x00][^\\x00]*$"


class SafeCharField(serializers.CharField):
    """Text PostgreSQL and tokenizers can take: ``max_length`` required, no NUL, no lone surrogate
    (DRF's ``CharField`` validators), and never a JSON number/bool/object coerced to text.

    The schema carries ``maxLength`` and a ``pattern`` saying "no NUL" (and "not only whitespace"
    unless ``allow_blank``); pass ``pattern=`` for a stricter, enforced one (e.g. an id's)."""

    default_error_messages = {"invalid": "Not a valid string."}

    def __init__(
        self,
        *,
        max_length: int,
        pattern: str | None = None,
        pattern_message: str = "",
        schema_pattern: str | None = None,
        **kwargs,
    ):
        if max_length is None:
            raise TypeError("SafeCharField needs a max_length (use column_max_length(Model, 'field')).")
        super().__init__(max_length=max_length, **kwargs)
        if pattern is not None:
            self.validators.append(
                RegexValidator(pattern, message=pattern_message or f"must match {pattern}")
            )
        else:
            self.validators.append(
                SchemaPattern(schema_pattern or (NO_NUL if self.allow_blank else NOT_BLANK))
            )

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# An http(s) URL: the schema's ``pattern`` and the server's check are this one expression, so they
# cannot disagree. Host: up to 7 dot-separated labels of 1-32 lowercase letters, digits or inner
# hyphens, then a 2-10 letter TLD (at most 253 characters, as DNS allows); an optional port; an
# optional path, query and fragment of URL-safe characters. Narrower than Django's URLValidator
# (every URL it admits passes that too).
_URL_LABEL = r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?"
URL_PATTERN = (
    rf"^https?://{_URL_LABEL}(\.{_URL_LABEL}){{0,6}}\.[a-z]{{2,10}}(:[1-9][0-9]{{0,3}})?"
    r"(/[A-Za-z0-9._~/%+=&?#-]{0,500})?$"
)
URL_MAX_LENGTH = 800
_URL_RE = re.compile(URL_PATTERN.removesuffix("$") + r"\Z")


class UrlField(SafeCharField):
    """An http(s) URL matching :data:`URL_PATTERN` (schema: that ``pattern`` and ``maxLength``)."""

    default_error_messages = {
        "invalid": "Not a valid string.",
        "url": "must be an http:// or https:// URL such as https://example.org/page",
    }

    def __init__(self, *, max_length: int, **kwargs):
        super().__init__(max_length=min(max_length, URL_MAX_LENGTH), schema_pattern=URL_PATTERN, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value and not _URL_RE.match(value):
            self.fail("url")
        return value


def url_field(*, max_length: int, **kwargs) -> UrlField:
    """An http(s) URL field whose schema ``pattern`` is exactly what the server accepts."""
    return UrlField(max_length=max_length, **kwargs)


class FloatListField(serializers.ListField):
    """A list of finite float32 numbers with a bounded length."""

    def __init__(self, *, max_length: int, min_value=None, max_value=None, **kwargs):
        kwargs.setdefault("child", FiniteFloatField(min_value=min_value, max_value=max_value))
        super().__init__(max_length=max_length, **kwargs)

    def to_internal_value(self, data):
        values = _fast_float_list(self, data)  # the length bounds are validators, run after this
        if not self.allow_empty and not values:
            self.fail("empty")
        return values


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API: ``{"error": "field: what is wrong"}``."""

    error = serializers.CharField(help_text="what is wrong, naming the field when one is at fault")

    class Meta:
        ref_name = "Error"


_ERROR_TEXT = {
    400: "Invalid input (the message names the field).",
    401: "Authentication required: sign in or send an x-api-key header.",
    403: "Not allowed for this user.",
    404: "Not found (or not visible to this user).",
    409: "Conflict with existing data.",
    413: "Request body too large.",
    429: "Too many requests.",
    502: "An upstream service failed.",
    503: "Service temporarily unavailable.",
}


def error_responses(*codes: int) -> dict:
    """``{400: OpenApiResponse(Error), ...}`` for ``extend_schema(responses={200: ..., **error_responses(400, 404)})``.

    400 and 413 are always included (every JSON body can be malformed or too large)."""
    wanted = sorted({400, 413, *codes})
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT.get(code, "Error.")) for code in wanted
    }


def error_paths(detail, prefix: str = "") -> list[str]:
    """DRF's nested error detail as ``["features[1].activations[0].values: must hold numbers only."]``
    (``flatten_message`` drops list positions; nested upload payloads need them)."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if key in ("non_field_errors", "detail"):
                out += error_paths(value, prefix)
            elif isinstance(key, int):
                out += error_paths(value, f"{prefix}[{key}]")
            else:
                out += error_paths(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(detail, list):
        if detail and all(isinstance(d, (dict, list)) or d == {} for d in detail):
            out = []
            for i, d in enumerate(detail):
                if d:
                    out += error_paths(d, f"{prefix}[{i}]")
            return out
        text = " ".join(str(d) for d in detail)
        return [f"{prefix}: {text}" if prefix else text]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def validated_data(serializer_class, data, **kwargs) -> dict:
    """Run an input serializer; on failure raise ``ValidationFailed`` (400) naming each field by
    its path."""
    from neuronsite.errors import ValidationFailed

    serializer = serializer_class(data=data, **kwargs)
    if not serializer.is_valid():
        paths = error_paths(serializer.errors) or ["Invalid input."]
        exc = ValidationFailed("; ".join(paths[:5]))
        exc.field = paths[0].split(":", 1)[0]
        raise exc
    return serializer.validated_data


# A free-form JSON object in a response (documented as an object with any properties).
AnyObject = OpenApiTypes.OBJECT

__all__ = [
    "FLOAT32_MAX",
    "INT32_MIN",
    "INT32_MAX",
    "INT64_MAX",
    "MAX_FEATURE_INDEX",
    "column_max_length",
    "ascii_index",
    "FiniteFloatField",
    "BoundedIntegerField",
    "FeatureIndexField",
    "SafeCharField",
    "FloatListField",
    "URL_PATTERN",
    "UrlField",
    "url_field",
    "ErrorSerializer",
    "error_responses",
    "error_paths",
    "validated_data",
    "AnyObject",
]


def _fast_float_list(field: serializers.ListField, data):
    """Bulk check of a list of numbers (C-level passes; a body can hold 10^5 of them)."""
    if not isinstance(data, list):
        field.fail("not_a_list", input_type=type(data).__name__)
    if data and not set(map(type, data)) <= {int, float}:
        raise serializers.ValidationError("must hold numbers only.")
    lo, hi = field.child.min_value, field.child.max_value
    if data:
        try:
            total = math.fsum(data)
        except OverflowError:
            total = math.inf
        if not math.isfinite(total) or min(data) < lo or max(data) > hi:
            bad = next((v for v in data if not (math.isfinite(v) and lo <= v <= hi)), None)
            if bad is not None:
                at = data.index(bad)
                raise serializers.ValidationError(f"[{at}] = {bad} is not a finite number in {lo:g}..{hi:g}.")
    return [float(v) if abs(v) >= FLOAT32_TINY else 0.0 for v in data]
