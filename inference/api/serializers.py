"""Input serializers for the inference API (Neuronpedia's request field names)."""

from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from inference.errors import InferenceInputError, check_text
from inference.services import steering as bounds
from neuronsite.fields_api import NOT_BLANK, BoundedIntegerField, FeatureIndexField, SafeCharField


def _documented(schema: dict, **kwargs) -> serializers.JSONField:
    """A JSONField whose OpenAPI schema is ``schema``: the steering service checks the value (one
    place for the API, the websocket and the chat monitor) and names the field; the schema states
    the same bounds, so a request the schema allows is not refused for its numbers."""
    field_class = extend_schema_field(schema)(type("DocumentedJSONField", (serializers.JSONField,), {}))
    return field_class(**kwargs)


def _clean_text(text: str) -> str:
    try:
        return check_text(text, field="customText")
    except InferenceInputError as exc:
        raise serializers.ValidationError(exc.detail["customText"]) from None


class TextOrList(serializers.Field):
    """``customText``: one string or a non-empty list of strings."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            return _clean_text(data)
        if isinstance(data, list) and data and all(isinstance(t, str) for t in data):
            if len(data) > 64:
                raise serializers.ValidationError("at most 64 texts per request")
            return [_clean_text(t) for t in data]
        raise serializers.ValidationError("must be a string or a non-empty list of strings")

    def to_representation(self, value):
        return value


# Issue 11 (``text`` lists in search): TextOrList's OpenAPI shape, and what CharField refused
# before ``text`` could be a list (NUL, lone surrogates: the tokenizer cannot take them).
# Each text: no NUL, not only whitespace (the tokenizer step refuses both).
_TEXT_SCHEMA = {"type": "string", "minLength": 1, "pattern": NOT_BLANK}
extend_schema_field(
    {"oneOf": [_TEXT_SCHEMA, {"type": "array", "items": _TEXT_SCHEMA, "minItems": 1, "maxItems": 64}]}
)(TextOrList)


def plain_texts(value) -> None:
    for text in [value] if isinstance(value, str) else value:
        ProhibitNullCharactersValidator()(text)
        ProhibitSurrogateCharactersValidator()(text)


class DensityThreshold(serializers.FloatField):
    """Neuronpedia's ``densityThreshold``: a density in [0, 1] above which features are left
    out, or -1 for "no threshold" (served as None). With ``zero_is_none``, 0 also means none."""

    def __init__(self, *, zero_is_none: bool = False, **kwargs):
        self.zero_is_none = zero_is_none
        kwargs.setdefault(
            "help_text", "density in [0, 1] above which features are dropped; -1 = no threshold"
        )
        super().__init__(min_value=-1, max_value=1, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value == -1 or (self.zero_is_none and value == 0):
            return None
        if value < 0:
            raise serializers.ValidationError("must be -1 (no threshold) or a density in [0, 1]")
        return value

    def run_validators(self, value):
        if value is not None:  # None = "no threshold" after the mapping above
            super().run_validators(value)


class FeatureRef(serializers.Serializer):
    modelId = serializers.CharField()
    source = serializers.CharField(required=False)
    layer = serializers.CharField(required=False)
    index = serializers.IntegerField(min_value=0)

    def validate(self, attrs):
        attrs["source"] = attrs.get("source") or attrs.get("layer")
        if not attrs["source"]:
            raise serializers.ValidationError("feature needs its source id in 'source' (or 'layer')")
        return attrs


class ActivationNewInput(serializers.Serializer):
    feature = FeatureRef()
    customText = TextOrList()


class SearchAllInput(serializers.Serializer):
    modelId = serializers.CharField()
    sourceSet = serializers.CharField()
    text = TextOrList(
        validators=[plain_texts],
        help_text="one text, or a list of texts (one result per text under 'results')",
    )
    selectedLayers = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    sortIndexes = serializers.ListField(
        child=serializers.IntegerField(min_value=0), required=False, default=list
    )
    ignoreBos = serializers.BooleanField(required=False, default=True)
    densityThreshold = DensityThreshold(required=False, allow_null=True, default=None)
    numResults = serializers.IntegerField(required=False, default=50, min_value=1, max_value=500)


class TopkByTokenInput(serializers.Serializer):
    modelId = serializers.CharField()
    source = serializers.CharField()
    text = TextOrList(
        validators=[plain_texts],
        help_text="one text, or a list of texts (one result per text under 'results')",
    )
    numResults = serializers.IntegerField(required=False, default=5, min_value=1, max_value=100)
    ignoreBos = serializers.BooleanField(required=False, default=True)
    # Neuronpedia treats a falsy threshold here as "none": 0 means no threshold too.
    densityThreshold = DensityThreshold(required=False, allow_null=True, default=None, zero_is_none=True)


class CossimInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    source = SafeCharField(max_length=160)
    index = FeatureIndexField()
    targetSource = SafeCharField(max_length=160, required=False, allow_null=True, default=None)
    numResults = BoundedIntegerField(required=False, default=10, min_value=1, max_value=1000)


class TokenizeInput(serializers.Serializer):
    modelId = serializers.CharField()
    text = serializers.CharField(trim_whitespace=False)
    prependBos = serializers.BooleanField(required=False, default=True)


class SteerInput(serializers.Serializer):
    """Numbers are checked (finite, in range) by the steering service; here only the shape."""

    modelId = serializers.CharField()
    features = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    vectors = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    temperature = _documented(
        {"type": "number", "minimum": 0, "maximum": bounds.MAX_TEMPERATURE}, required=False, default=0.5
    )
    n_tokens = _documented(
        {"type": "integer", "minimum": 1, "maximum": settings.INFERENCE_MAX_NEW_TOKENS},
        required=False,
        default=32,
    )
    freq_penalty = _documented(
        {"type": "number", "minimum": -bounds.MAX_FREQ_PENALTY, "maximum": bounds.MAX_FREQ_PENALTY},
        required=False,
        default=0.0,
    )
    seed = _documented(
        {"type": "integer", "minimum": bounds.SEED_MIN, "maximum": bounds.SEED_MAX},
        required=False,
        default=16,
    )
    strength_multiplier = _documented(
        {"type": "number", "minimum": -bounds.MAX_STRENGTH, "maximum": bounds.MAX_STRENGTH},
        required=False,
        default=1.0,
    )
    steer_method = serializers.CharField(required=False, default="SIMPLE_ADDITIVE")
    stream = serializers.BooleanField(required=False, default=False)


class SteerCompletionInput(SteerInput):
    prompt = serializers.CharField(trim_whitespace=False, allow_blank=True)


class SteerChatInput(SteerInput):
    defaultChatMessages = serializers.JSONField(required=False, default=None)
    steeredChatMessages = serializers.JSONField(required=False, default=None)
    steer_special_tokens = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if attrs.get("defaultChatMessages") is None and attrs.get("steeredChatMessages") is None:
            raise serializers.ValidationError("give defaultChatMessages and/or steeredChatMessages")
        return attrs


def steer_kwargs(data: dict) -> dict:
    return {
        "model_id": data["modelId"],
        "features": data["features"],
        "vectors": data["vectors"],
        "temperature": data["temperature"],
        "n_tokens": data["n_tokens"],
        "freq_penalty": data["freq_penalty"],
        "seed": data["seed"],
        "strength_multiplier": data["strength_multiplier"],
        "steer_method": data["steer_method"],
    }


MAX_NEW_TOKENS = settings.INFERENCE_MAX_NEW_TOKENS
