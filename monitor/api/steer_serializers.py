"""Input serializers for the linter and steer-by-description APIs (issue 15, items 3 and 5)."""

from __future__ import annotations

from rest_framework import serializers

from inference.api.serializers import CHAT_MAX_MESSAGES, CHAT_MESSAGE
from inference.services.steering import MAX_FREQ_PENALTY, MAX_STRENGTH, MAX_TEMPERATURE
from monitor.services.steer import MAX_EXCLUDE, MAX_SPECS, SEARCH_TOP_K_MAX
from neuronsite.fields_api import BoundedIntegerField, FiniteFloatField, SafeCharField
from neuronsite.openapi import schema_extra

_INDEX = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
# One active concept, as ``monitor.services.linter.linter_units`` checks it.
CONCEPT_SCHEMA = {
    "type": "object",
    "properties": {
        "source": {"type": "string", "minLength": 1, "maxLength": 160},
        "index": _INDEX,
        "position": {**_INDEX, "nullable": True},
        "positions": {"type": "array", "items": _INDEX, "nullable": True, "maxItems": 4096},
        "explanationId": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    },
    "required": ["source", "index"],
}


# Either conversationId, or modelId with concepts (the rule ``validate`` checks).
@schema_extra(
    properties={"concepts": {"items": CONCEPT_SCHEMA}},
    anyOf=[{"required": ["conversationId"]}, {"required": ["modelId", "concepts"]}],
)
class LinterInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128, required=False)
    conversationId = BoundedIntegerField(
        min_value=1, required=False, help_text="lint this conversation's active concepts (its sources)"
    )
    concepts = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        allow_empty=False,
        max_length=2000,
        help_text="active concepts: [{source, index, position?, positions?, explanationId?}]",
    )
    minScore = BoundedIntegerField(
        min_value=1, max_value=4, required=False, default=1, help_text="drop LLM-named clusters scored lower"
    )

    def validate(self, attrs):
        if "conversationId" not in attrs:
            for name in ("modelId", "concepts"):
                if name not in attrs:
                    raise serializers.ValidationError(
                        {name: "This field is required (or give conversationId)."}
                    )
        return attrs


class SteerSearchInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    description = SafeCharField(
        min_length=3, max_length=300, help_text="the concept, in words (3 characters or more)"
    )
    topK = BoundedIntegerField(min_value=1, max_value=SEARCH_TOP_K_MAX, required=False, default=50)
    sources = serializers.ListField(
        child=SafeCharField(max_length=160), required=False, allow_empty=False, max_length=1000
    )
    exclude = serializers.ListField(
        child=SafeCharField(max_length=300),
        required=False,
        max_length=MAX_EXCLUDE,
        help_text="phrases the features must not be about: features with an explanation containing one are left out",
    )


class FeatureRefInput(serializers.Serializer):
    source = SafeCharField(max_length=160, help_text='source id, e.g. "6-res-jb"')
    index = BoundedIntegerField(min_value=0)


class PositionsInput(serializers.Serializer):
    prompt = serializers.JSONField(
        required=False,
        default=list,
        help_text='prompt token ranges [[start, end), ...] (0-based, end exclusive) or "all"',
    )
    generated = serializers.BooleanField(required=False, default=True, help_text="every generated token")


class SpecInput(serializers.Serializer):
    description = SafeCharField(max_length=300, required=False, allow_blank=True, default="")
    exclude = serializers.ListField(
        child=SafeCharField(max_length=300),
        required=False,
        default=list,
        max_length=MAX_EXCLUDE,
        help_text="the exclude phrases the features were searched with (kept with the spec)",
    )
    mode = serializers.ChoiceField(
        choices=["strengthen", "suppress", "add"], required=False, default="strengthen"
    )
    strength = FiniteFloatField(
        required=False,
        default=0.75,
        min_value=-MAX_STRENGTH,
        max_value=MAX_STRENGTH,
        help_text="strengthen: fraction of the top quantile (0..1); add: the coefficient; suppress: unused",
    )
    features = FeatureRefInput(many=True, allow_empty=False)
    positions = PositionsInput(required=False)
    enabled = serializers.BooleanField(required=False, default=True)


# conversationId alone, or modelId + specs + one of prompt / messages (the rule ``validate`` checks).
@schema_extra(
    properties={
        "messages": {"maxItems": CHAT_MAX_MESSAGES, "items": CHAT_MESSAGE},
    },
    anyOf=[
        {
            "required": ["conversationId"],
            "not": {"anyOf": [{"required": ["prompt"]}, {"required": ["messages"]}]},
        },
        {
            "required": ["modelId", "specs", "prompt"],
            "not": {"anyOf": [{"required": ["messages"]}, {"required": ["conversationId"]}]},
        },
        {
            "required": ["modelId", "specs", "messages"],
            "not": {"anyOf": [{"required": ["prompt"]}, {"required": ["conversationId"]}]},
        },
    ],
)
class SteerInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128, required=False)
    conversationId = BoundedIntegerField(
        min_value=1,
        required=False,
        help_text="steer this conversation's last answer (its messages; its enabled saved specs when specs is absent)",
    )
    prompt = serializers.CharField(
        required=False, allow_blank=True, max_length=100_000, trim_whitespace=False
    )
    messages = serializers.ListField(child=serializers.JSONField(), required=False, allow_empty=False)
    specs = SpecInput(many=True, allow_empty=False, max_length=MAX_SPECS, required=False)
    nTokens = BoundedIntegerField(min_value=1, required=False, default=32)
    temperature = FiniteFloatField(min_value=0.0, max_value=MAX_TEMPERATURE, required=False, default=0.5)
    freqPenalty = FiniteFloatField(
        min_value=-MAX_FREQ_PENALTY, max_value=MAX_FREQ_PENALTY, required=False, default=0.0
    )
    seed = BoundedIntegerField(min_value=-(2**63), max_value=2**64 - 1, required=False, default=16)

    def validate(self, attrs):
        if "conversationId" in attrs:
            if "prompt" in attrs or "messages" in attrs:
                raise serializers.ValidationError(
                    {"conversationId": "give conversationId or prompt/messages, not both"}
                )
            return attrs
        for name in ("modelId", "specs"):
            if name not in attrs:
                raise serializers.ValidationError({name: "This field is required (or give conversationId)."})
        if ("prompt" in attrs) == ("messages" in attrs):
            raise serializers.ValidationError({"prompt": "give either prompt or messages"})
        return attrs


# --- integration (helper N): saved specs and conversationId on the linter / steer APIs -----------
class SpecSaveInput(SpecInput):
    """A steering spec to save on a conversation (the fields of one ``specs`` entry)."""


class SpecUpdateInput(serializers.Serializer):
    description = SafeCharField(max_length=300, required=False, allow_blank=True)
    exclude = serializers.ListField(
        child=SafeCharField(max_length=300), required=False, max_length=MAX_EXCLUDE
    )
    mode = serializers.ChoiceField(choices=["strengthen", "suppress", "add"], required=False)
    strength = FiniteFloatField(required=False, min_value=-MAX_STRENGTH, max_value=MAX_STRENGTH)
    features = FeatureRefInput(many=True, allow_empty=False, required=False)
    positions = PositionsInput(required=False)
    enabled = serializers.BooleanField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError({"enabled": "give at least one field to change"})
        return attrs
