"""``POST /api/activation/source``: all activations of one source for a text or texts (issue 11;
``ActivationRequest.compute_all_source_activations_for_text`` in the official client)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from inference.api.serializers import TextOrList, plain_texts
from inference.services.source_activations import source_activations
from neuronsite.api import validated
from neuronsite.fields_api import SafeCharField
from neuronsite.openapi import STR, array, obj, ok


class SourceActivationsInput(serializers.Serializer):
    modelId = SafeCharField(max_length=10_000)
    source = SafeCharField(max_length=10_000, help_text='source id, e.g. "6-res-jb"')
    customText = TextOrList(validators=[plain_texts], help_text="one text or a list of texts")


@extend_schema(
    request=SourceActivationsInput,
    responses=ok(
        obj(
            ("modelId", "source", "results"),
            modelId=STR,
            source=STR,
            results=array(
                obj(
                    ("tokens", "activeFeatures"),
                    tokens=array(STR),
                    activeFeatures={
                        "type": "object",
                        "description": "latent index -> [[token position, activation], ...]",
                        "additionalProperties": array(array({"type": "number"})),
                    },
                )
            ),
        )
    ),
    summary="Every non-zero latent of one source on each text: results[i] = {tokens, activeFeatures}",
)
@api_view(["POST"])
def activation_source(request):
    data = validated(SourceActivationsInput, request)
    texts = data["customText"]
    return Response(
        source_activations(
            user=request.user,
            model_id=data["modelId"],
            source_name=data["source"],
            texts=[texts] if isinstance(texts, str) else texts,
        )
    )
