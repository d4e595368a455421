"""Neuronpedia's autointerp APIs: ``/api/explanation/generate``, ``/api/explanation/score``,
``/api/explanation/new`` (a human explanation). Shapes follow Neuronpedia's webapp.
``/api/explanation/batch`` (ours) queues a batch generate / score job over a source."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from autointerp import services
from autointerp.explainers import EXPLAINERS
from autointerp.forms import LIMIT_MAX
from autointerp.scorers import SCORERS
from features.api.serializers import _iso
from features.services import MAX_COMMENT_LENGTH
from neuronsite.api import validated
from neuronsite.fields_api import BoundedIntegerField, FeatureIndexField, SafeCharField, SchemaPattern
from neuronsite.jobs.events import job_payload
from neuronsite.openapi import ANY, INT_N, NUM_N, STR, STR_N, obj, ok, schema_extra


class FeatureRefInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    layer = SafeCharField(max_length=160, help_text='source id, e.g. "6-res-jb"')
    index = FeatureIndexField()


class GenerateInput(FeatureRefInput):
    explanationType = serializers.ChoiceField(choices=list(EXPLAINERS), help_text="the explainer method")
    explanationModelName = SafeCharField(max_length=200, required=False, allow_blank=True, default="")
    useOpenRouter = serializers.BooleanField(required=False, default=False)

    class Meta:
        ref_name = "ExplanationGenerateInput"  # graphs has a GenerateInput too


class NewInput(FeatureRefInput):
    description = SafeCharField(max_length=MAX_COMMENT_LENGTH)


class ScoreInput(serializers.Serializer):
    explanationId = serializers.CharField(max_length=32, validators=[SchemaPattern(r"^[0-9]{1,18}$")])
    scorerType = serializers.ChoiceField(choices=list(SCORERS), help_text="the scorer method")
    scorerModel = SafeCharField(max_length=200, required=False, allow_blank=True, allow_null=True, default="")


# Response bodies (the Neuronpedia shapes ``explanation_body`` / ``score_body`` build).
EXPLANATION_BODY = obj(
    ("id", "modelId", "layer", "index", "description"),
    id=STR,
    modelId=STR,
    layer=STR,
    index=STR,
    description=STR,
    authorId=INT_N,
    triggeredByUserId=INT_N,
    typeName=STR_N,
    explanationModelName=STR_N,
    createdAt=STR_N,
)
SCORE_BODY = obj(
    ("id", "value", "explanationId", "explanationScoreTypeName"),
    id=STR,
    initiatedByUserId=INT_N,
    value=NUM_N,
    explanationId=STR,
    explanationScoreTypeName=STR,
    explanationScoreModelName=STR_N,
    jsonDetails=ANY,
    createdAt=STR_N,
)


def explanation_body(exp) -> dict:
    feature = exp.feature
    return {
        "id": str(exp.pk),
        "modelId": feature.source.model.name,
        "layer": feature.source.name,
        "index": str(feature.index),
        "description": exp.description,
        "authorId": exp.author_id,
        "triggeredByUserId": exp.author_id,
        "typeName": exp.type.name if exp.type_id else None,
        "explanationModelName": exp.explainer_model.name if exp.explainer_model_id else None,
        "createdAt": _iso(exp.created_at),
    }


def score_body(score) -> dict:
    return {
        "id": str(score.pk),
        "initiatedByUserId": score.author_id,
        "value": score.value,
        "explanationId": str(score.explanation_id),
        "explanationScoreTypeName": score.score_type.name,
        "explanationScoreModelName": score.scorer_model.name if score.scorer_model_id else None,
        "jsonDetails": score.details,
        "createdAt": _iso(score.created_at),
    }


@extend_schema(
    request=GenerateInput,
    responses=ok(obj(("explanation",), explanation=EXPLANATION_BODY)),
    summary="Generate an explanation for a feature with an LLM",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def explanation_generate(request):
    v = validated(GenerateInput, request)
    exp = services.explanation_generate(
        user=request.user,
        model_id=v["modelId"],
        layer=v["layer"],
        index=v["index"],
        type_name=v["explanationType"],
        explainer_model_name=v["explanationModelName"] or None,
    )
    return Response({"explanation": explanation_body(exp)})


@extend_schema(
    request=NewInput,
    responses=ok(obj(("explanation",), explanation=EXPLANATION_BODY)),
    summary="Add a human explanation to a feature",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def explanation_new(request):
    v = validated(NewInput, request)
    exp = services.explanation_human_create(
        user=request.user,
        model_id=v["modelId"],
        layer=v["layer"],
        index=v["index"],
        description=v["description"],
    )
    return Response({"explanation": explanation_body(exp)})


@extend_schema(
    request=ScoreInput, responses=ok(obj(("score",), score=SCORE_BODY)), summary="Score an explanation"
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def explanation_score(request):
    v = validated(ScoreInput, request)
    score = services.explanation_score(
        user=request.user,
        explanation_id=v["explanationId"],
        scorer_type=v["scorerType"],
        scorer_model=v["scorerModel"] or None,
    )
    return Response({"score": score_body(score)})


# The rule between fields ``validate`` checks (generate needs explanationType, score scorerType) and
# the names ``autointerp_job_create`` accepts; ``features`` is "a:b" with a < b.
@schema_extra(
    properties={
        "explanationType": {"enum": ["", *EXPLAINERS]},
        "scorerType": {"enum": ["", *SCORERS]},
        "features": {"pattern": "^([0-9]{0,9}:[0-9]{0,9})?$"},
    },
    anyOf=[
        {
            "properties": {"action": {"enum": ["generate"]}, "explanationType": {"minLength": 1}},
            "required": ["explanationType"],
        },
        {
            "properties": {"action": {"enum": ["score"]}, "scorerType": {"minLength": 1}},
            "required": ["scorerType"],
        },
    ],
)
class BatchInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    layer = SafeCharField(max_length=160, help_text='source id, e.g. "6-res-jb"')
    action = serializers.ChoiceField(
        choices=["generate", "score"], help_text="generate explanations, or score existing ones"
    )
    explanationType = SafeCharField(
        max_length=100, required=False, allow_blank=True, default="",
        help_text="generate: the explainer type (required); score: only explanations of this type",
    )  # fmt: skip
    explanationModelName = SafeCharField(
        max_length=200, required=False, allow_blank=True, default="",
        help_text="generate: the explainer LLM (empty: your key's or the server's default)",
    )  # fmt: skip
    scorerType = SafeCharField(max_length=100, required=False, allow_blank=True, default="",
                               help_text="score: the scorer type (required)")  # fmt: skip
    scorerModel = SafeCharField(
        max_length=200, required=False, allow_blank=True, default="",
        help_text="score: the scorer LLM (empty: your key's or the server's default)",
    )  # fmt: skip
    features = SafeCharField(
        max_length=40, required=False, allow_blank=True, default="",
        help_text="feature index range a:b (b exclusive); empty: all features of the source",
    )  # fmt: skip
    limit = BoundedIntegerField(min_value=1, max_value=LIMIT_MAX, required=False, allow_null=True, default=None,
                                help_text="at most this many not yet done")  # fmt: skip
    concurrency = BoundedIntegerField(min_value=1, max_value=512, required=False, default=8,
                                      help_text="LLM calls in flight")  # fmt: skip

    class Meta:
        ref_name = "ExplanationBatchInput"

    def validate(self, data):
        needed = "explanationType" if data["action"] == "generate" else "scorerType"
        if not data.get(needed):
            raise serializers.ValidationError(
                {needed: f"This field is required when action is {data['action']}."}
            )
        return data


class BatchJobOutput(serializers.Serializer):
    job = serializers.DictField(help_text="the job, as GET /api/jobs/{id} answers it")
    jobId = serializers.IntegerField()
    jobUrl = serializers.CharField(help_text="GET it to follow the job's progress")
    url = serializers.CharField(help_text="the Jobs page (live progress)")


@extend_schema(
    request=BatchInput,
    responses={202: BatchJobOutput},
    summary="Queue a batch job that generates or scores explanations over a source (or a feature range)",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])  # 401 before any validation (the auth matrix's rule)
def explanation_batch(request):
    """The source page's batch form as an API: signed-in users or API keys, on sources they own
    (or their source set, or staff). Validation as ``generate_explanations`` / ``score_explanations``;
    nothing is queued when anything is wrong."""
    from autointerp.jobs import autointerp_batch_job_start

    v = validated(BatchInput, request)
    generate = v["action"] == "generate"
    job = autointerp_batch_job_start(
        user=request.user,
        model_id=v["modelId"],
        source_id=v["layer"],
        kind="explain" if generate else "score",
        type_name=v["explanationType"] if generate else v["scorerType"],
        llm_model=(v["explanationModelName"] if generate else v["scorerModel"]) or None,
        features=v["features"] or None,
        limit=v["limit"],
        concurrency=v["concurrency"],
        explanation_type=None if generate else (v["explanationType"] or None),
    )
    return Response(
        {
            "job": job_payload(job),
            "jobId": job.pk,
            "jobUrl": request.build_absolute_uri(f"/api/jobs/{job.pk}"),
            "url": request.build_absolute_uri("/jobs/"),
        },
        status=202,
    )
