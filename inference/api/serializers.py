"""Input serializers for the inference API (Neuronpedia's request field names)."""

from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from inference.engine.steer import STEER_METHODS
from inference.errors import InferenceInputError, check_text
from inference.services import steering as bounds
from models_app.models import Model, Source, SourceSet
from neuronsite.fields_api import (
    FLOAT32_MAX,
    MAX_FEATURE_INDEX,
    NO_NUL,
    NOT_BLANK,
    BoundedIntegerField,
    FeatureIndexField,
    SafeCharField,
    column_max_length,
)
from neuronsite.openapi import schema_extra

# Issue 10 (an OpenAPI that tells the truth): every string here carries a maxLength and every number
# its bounds, each enforced by the field that declares it. Ids are as long as their columns; a text
# is bounded in characters far above what the token limit lets through (the token count, a property
# of the model's tokenizer, is checked by the services and answered 400 naming the limit).
MODEL_ID_MAX = column_max_length(Model, "name")
SOURCE_SET_MAX = column_max_length(SourceSet, "name")
SOURCE_ID_MAX = column_max_length(Source, "name")
TEXT_MAX_CHARS = max(100_000, 64 * settings.INFERENCE_TOKEN_LIMIT)
HOOK_MAX = column_max_length(Source, "hook_name")
VECTOR_MAX_DIM = 65_536  # a d_model bound; the exact length (the model's d_model) is checked by the service


def _documented(schema: dict, **kwargs) -> serializers.JSONField:
    """A JSONField whose OpenAPI schema is ``schema``: the steering service checks the value (one
    place for the API, the websocket and the chat monitor) and names the field; the schema states
    the same bounds, so a request the schema allows is not refused for its numbers."""
    field_class = extend_schema_field(schema)(type("DocumentedJSONField", (serializers.JSONField,), {}))
    return field_class(**kwargs)


def _clean_text(text: str) -> str:
    if len(text) > TEXT_MAX_CHARS:
        raise serializers.ValidationError(f"must be at most {TEXT_MAX_CHARS} characters.")
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
_TEXT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": TEXT_MAX_CHARS, "pattern": NOT_BLANK}
extend_schema_field(
    {"oneOf": [_TEXT_SCHEMA, {"type": "array", "items": _TEXT_SCHEMA, "minItems": 1, "maxItems": 64}]}
)(TextOrList)


def plain_texts(value) -> None:
    for text in [value] if isinstance(value, str) else value:
        ProhibitNullCharactersValidator()(text)
        ProhibitSurrogateCharactersValidator()(text)


@extend_schema_field(
    {"oneOf": [{"type": "number", "enum": [-1]}, {"type": "number", "minimum": 0, "maximum": 1}]}
)
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


@schema_extra(anyOf=[{"required": ["source"]}, {"required": ["layer"]}])
class FeatureRef(serializers.Serializer):
    modelId = SafeCharField(max_length=MODEL_ID_MAX)
    source = SafeCharField(max_length=SOURCE_ID_MAX, required=False)
    layer = SafeCharField(max_length=SOURCE_ID_MAX, required=False)
    index = FeatureIndexField()

    def validate(self, attrs):
        attrs["source"] = attrs.get("source") or attrs.get("layer")
        if not attrs["source"]:
            raise serializers.ValidationError("feature needs its source id in 'source' (or 'layer')")
        return attrs


class ActivationNewInput(serializers.Serializer):
    feature = FeatureRef()
    customText = TextOrList()


class SearchAllInput(serializers.Serializer):
    modelId = SafeCharField(max_length=MODEL_ID_MAX)
    sourceSet = SafeCharField(max_length=SOURCE_SET_MAX)
    text = TextOrList(
        validators=[plain_texts],
        help_text="one text, or a list of texts (one result per text under 'results')",
    )
    selectedLayers = serializers.ListField(
        child=SafeCharField(max_length=SOURCE_ID_MAX),
        required=False,
        default=list,
        max_length=settings.SOURCE_SET_MAX_SOURCES,
    )
    # token positions: inside the text, so below the token limit
    sortIndexes = serializers.ListField(
        child=BoundedIntegerField(min_value=0, max_value=settings.INFERENCE_TOKEN_LIMIT - 1),
        required=False,
        default=list,
        max_length=settings.INFERENCE_TOKEN_LIMIT,
    )
    ignoreBos = serializers.BooleanField(required=False, default=True)
    densityThreshold = DensityThreshold(required=False, allow_null=True, default=None)
    numResults = serializers.IntegerField(required=False, default=50, min_value=1, max_value=500)


class TopkByTokenInput(serializers.Serializer):
    modelId = SafeCharField(max_length=MODEL_ID_MAX)
    source = SafeCharField(max_length=SOURCE_ID_MAX)
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
    modelId = SafeCharField(max_length=MODEL_ID_MAX)
    text = SafeCharField(max_length=TEXT_MAX_CHARS, trim_whitespace=False, schema_pattern=NO_NUL)
    prependBos = serializers.BooleanField(required=False, default=True)


_STEER_FEATURE_SCHEMA = {
    "type": "object",
    "description": "a feature to steer with: its source id in 'layer' (or 'source'), index and strength",
    "properties": {
        "modelId": {"type": "string", "minLength": 1, "maxLength": MODEL_ID_MAX, "pattern": NOT_BLANK},
        "layer": {"type": "string", "minLength": 1, "maxLength": SOURCE_ID_MAX, "pattern": NOT_BLANK},
        "source": {"type": "string", "minLength": 1, "maxLength": SOURCE_ID_MAX, "pattern": NOT_BLANK},
        "index": {"type": "integer", "minimum": 0, "maximum": MAX_FEATURE_INDEX},
        "strength": {"type": "number", "minimum": -bounds.MAX_STRENGTH, "maximum": bounds.MAX_STRENGTH},
    },
    "required": ["index", "strength"],
    "anyOf": [{"required": ["layer"]}, {"required": ["source"]}],
}
_STEER_VECTOR_SCHEMA = {
    "type": "object",
    "description": "a raw steering vector added at a hook; its length is the model's d_model",
    "properties": {
        "hook": {"type": "string", "minLength": 1, "maxLength": HOOK_MAX, "pattern": NOT_BLANK},
        "steering_vector": {
            "type": "array",
            "minItems": 1,
            "maxItems": VECTOR_MAX_DIM,
            "items": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX},
        },
        "strength": {"type": "number", "minimum": -bounds.MAX_STRENGTH, "maximum": bounds.MAX_STRENGTH},
    },
    "required": ["hook", "steering_vector", "strength"],
}


class _SteerTermField(serializers.DictField):
    """One steering term: an object whose numbers the steering service checks (finite, in range)
    and names, one place for the API, the websocket and the chat monitor. Strings are bounded here
    too, so an oversized id or hook is refused before any lookup."""

    def __init__(self, *, limits: dict[str, int], **kwargs):
        self.limits = limits
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        for key, limit in self.limits.items():
            value = data.get(key)
            if isinstance(value, str) and len(value) > limit:
                raise serializers.ValidationError({key: f"must be at most {limit} characters."})
        if isinstance(data.get("steering_vector"), list) and len(data["steering_vector"]) > VECTOR_MAX_DIM:
            raise serializers.ValidationError({"steering_vector": f"at most {VECTOR_MAX_DIM} numbers."})
        return data


SteerFeatureField = extend_schema_field(_STEER_FEATURE_SCHEMA)(
    type("SteerFeatureField", (_SteerTermField,), {})
)
SteerVectorField = extend_schema_field(_STEER_VECTOR_SCHEMA)(type("SteerVectorField", (_SteerTermField,), {}))
SteerMethodField = extend_schema_field(
    {"type": "string", "enum": list(STEER_METHODS), "default": "SIMPLE_ADDITIVE"}
)(type("SteerMethodField", (serializers.CharField,), {}))


class SteerInput(serializers.Serializer):
    """Numbers are checked (finite, in range) by the steering service, which names the field; the
    schema states the same bounds."""

    modelId = SafeCharField(max_length=MODEL_ID_MAX)
    features = serializers.ListField(
        child=SteerFeatureField(
            limits={"modelId": MODEL_ID_MAX, "layer": SOURCE_ID_MAX, "source": SOURCE_ID_MAX}
        ),
        required=False,
        default=list,
        max_length=bounds.MAX_STEER_TERMS,
    )
    vectors = serializers.ListField(
        child=SteerVectorField(limits={"hook": HOOK_MAX}),
        required=False,
        default=list,
        max_length=bounds.MAX_STEER_TERMS,
    )
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
    steer_method = SteerMethodField(
        required=False, default="SIMPLE_ADDITIVE"
    )  # the service names the choices
    stream = serializers.BooleanField(required=False, default=False)


class SteerCompletionInput(SteerInput):
    prompt = SafeCharField(max_length=TEXT_MAX_CHARS, trim_whitespace=False, allow_blank=True)


CHAT_MAX_MESSAGES = 256
CHAT_MESSAGE = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "enum": ["user", "assistant", "system"]},
        "content": {"type": "string", "maxLength": TEXT_MAX_CHARS, "pattern": NO_NUL},
    },
    "required": ["role", "content"],
}
_CHAT_SCHEMA = {
    "type": "array",
    "nullable": True,
    "minItems": 1,
    "maxItems": CHAT_MAX_MESSAGES,
    "description": "the conversation; at least one message with non-blank content",
    "items": CHAT_MESSAGE,
}


class _ChatMessagesField(serializers.JSONField):
    """The shape and the roles are checked by the steering service (which names the field); the
    number of messages and each content's length are bounded here, as the schema says."""

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if isinstance(data, list):
            if len(data) > CHAT_MAX_MESSAGES:
                raise serializers.ValidationError(f"at most {CHAT_MAX_MESSAGES} messages.")
            for m in data:
                if (
                    isinstance(m, dict)
                    and isinstance(m.get("content"), str)
                    and len(m["content"]) > TEXT_MAX_CHARS
                ):
                    raise serializers.ValidationError(f"each content is at most {TEXT_MAX_CHARS} characters.")
        return data


ChatMessagesField = extend_schema_field(_CHAT_SCHEMA)(type("ChatMessagesField", (_ChatMessagesField,), {}))


# At least one of the two conversations, not null (the rule ``validate`` checks).
@schema_extra(
    anyOf=[
        {"required": ["defaultChatMessages"], "properties": {"defaultChatMessages": {"type": "array"}}},
        {"required": ["steeredChatMessages"], "properties": {"steeredChatMessages": {"type": "array"}}},
    ]
)
class SteerChatInput(SteerInput):
    defaultChatMessages = ChatMessagesField(required=False, allow_null=True, default=None)
    steeredChatMessages = ChatMessagesField(required=False, allow_null=True, default=None)
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
