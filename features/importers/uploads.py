"""Services behind Neuronpedia's upload APIs: feature/activation batches and steering vectors."""

from __future__ import annotations

import struct

import orjson
from django.db import transaction
from django.db.models import Max

from features.importers.ledger import bytes_checksum
from features.importers.validation import FeatureDataError, check_float_list, normalize_activation
from features.importers.writer import (
    BatchWriteResult,
    activation_row,
    activations_copy,
    features_batch_write,
)
from features.models import Activation, ExplainerModel, Explanation, ExplanationType, Feature
from models_app.models import Model, Source, SourceSet
from models_app.services import source_name_for, source_set_check_owner
from neuronsite.errors import NotFound, PermissionDenied, ValidationFailed
from neuronsite.fields import Visibility

MAX_FEATURES_PER_UPLOAD = 128
MAX_ACTIVATIONS_PER_UPLOAD = 1000
VECTOR_HOOK_TYPES = {"hook_resid_pre": "neuronpedia-resid-pre", "hook_resid_post": "neuronpedia-resid-post"}


def _f32(x: float) -> float:
    """The value a PostgreSQL real column keeps."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _bad(exc: FeatureDataError, prefix: str = "") -> ValidationFailed:
    return ValidationFailed(f"{prefix}{exc}")


def _logits(entries, *, field: str, index) -> tuple[list, list]:
    if entries is None:
        return [], []
    if type(entries) is not list:
        raise FeatureDataError("must be a list of {token, value}", feature_index=index, field=field)
    tokens, values = [], []
    for i, e in enumerate(entries):
        if type(e) is not dict or "token" not in e or "value" not in e:
            raise FeatureDataError("must be {token, value}", feature_index=index, field=f"{field}[{i}]")
        tokens.append(e["token"])
        values.append(e["value"])
    return tokens, values


def _to_dashboard_feature(raw: dict, position: int) -> dict:
    """Neuronpedia's upload shape -> SAEDashboard's feature dict (what the writer takes)."""
    if type(raw) is not dict:
        raise FeatureDataError(f"features[{position}] must be an object")
    if "index" not in raw:
        raise FeatureDataError("is missing", field=f"features[{position}].index")
    index = raw["index"]
    pos_str, pos_values = _logits(raw.get("topLogits"), field="topLogits", index=index)
    neg_str, neg_values = _logits(raw.get("bottomLogits"), field="bottomLogits", index=index)
    acts = raw.get("activations") or []
    if type(acts) is not list:
        raise FeatureDataError("must be a list", feature_index=index, field="activations")
    activations = []
    for i, a in enumerate(acts):
        if type(a) is not dict:
            raise FeatureDataError("must be an object", feature_index=index, field=f"activations[{i}]")
        activations.append(
            {
                "tokens": a.get("tokens"),
                "values": a.get("values"),
                "bin_max": a.get("quantileMax"),
                "bin_min": a.get("quantileMin"),
                "bin_contains": a.get("quantileFraction"),
            }
        )
        for key in ("tokens", "values"):
            if key not in a:
                raise FeatureDataError("is missing", feature_index=index, field=f"activations[{i}].{key}")
    return {
        "feature_index": index,
        "frac_nonzero": raw.get("density"),
        "pos_str": pos_str,
        "pos_values": pos_values,
        "neg_str": neg_str,
        "neg_values": neg_values,
        "activations": activations,
    }


def _owned_source(*, model_id: str, source_name: str, user) -> Source:
    source = (
        Source.objects.visible_to(user)
        .select_related("model", "source_set", "source_set__model")
        .filter(model__name=model_id, name=source_name)
        .first()
    )
    if source is None:
        raise NotFound(f"Source '{model_id}/{source_name}' not found.")
    source_set_check_owner(source_set=source.source_set, user=user)
    return source


@transaction.atomic
def features_upload(*, user, model_id: str, source_name: str, features: list) -> BatchWriteResult:
    """POST /api/feature/upload-batch: up to 128 features (with activations and explanations)
    into a source whose source set the user owns. Same payload twice -> written once."""
    source = _owned_source(model_id=model_id, source_name=source_name, user=user)
    if type(features) is not list or not features:
        raise ValidationFailed({"features": "must be a non-empty list"})
    if len(features) > MAX_FEATURES_PER_UPLOAD:
        raise ValidationFailed(
            {"features": f"at most {MAX_FEATURES_PER_UPLOAD} per request, got {len(features)}"}
        )
    try:
        converted = [_to_dashboard_feature(f, i) for i, f in enumerate(features)]
        payload = orjson.dumps(features, option=orjson.OPT_SORT_KEYS)
        result = features_batch_write(
            source=source,
            features=converted,
            ledger_key=f"api-upload:{source.pk}:{bytes_checksum(payload)}",
            checksum=bytes_checksum(payload),
            kind="api-upload",
            creator=user,
            required=("feature_index",),
        )
    except FeatureDataError as exc:
        raise _bad(exc) from None
    except orjson.JSONEncodeError as exc:
        raise ValidationFailed({"features": f"not JSON-serialisable: {exc}"}) from None
    if not result.skipped:
        _explanations_create(source=source, features=features, ids=result.feature_ids, user=user)
    return result


def _explanations_create(*, source: Source, features: list, ids: dict[int, int], user) -> None:
    rows = []
    for raw in features:
        index = int(raw["index"])
        for i, e in enumerate(raw.get("explanations") or []):
            if type(e) is not dict or type(e.get("text")) is not str or not e["text"].strip():
                raise ValidationFailed(
                    f"feature {index}, field 'explanations[{i}].text': must be non-empty text"
                )
            etype = (
                ExplanationType.objects.get_or_create(name=e["methodName"])[0]
                if e.get("methodName")
                else None
            )
            emodel = (
                ExplainerModel.objects.get_or_create(name=e["modelName"])[0] if e.get("modelName") else None
            )
            rows.append(
                Explanation(
                    feature_id=ids[index],
                    description=e["text"].strip(),
                    type=etype,
                    explainer_model=emodel,
                    author=user,
                )
            )
    Explanation.objects.bulk_create(rows)


@transaction.atomic
def activations_upload(*, user, model_id: str, source_name: str, index, activations: list) -> int:
    """POST /api/activation/upload-batch: add snippets to a feature (of a source set you own, or a
    vector you created). Snippets already on the feature (same tokens and values) are skipped."""
    from features.selectors import parse_index

    index = parse_index(index)
    feature = (
        Feature.objects.visible_to(user)
        .select_related("source", "source__source_set", "source__model")
        .filter(source__model__name=model_id, source__name=source_name, index=index)
        .first()
    )
    if feature is None:
        raise NotFound(f"Feature '{model_id}/{source_name}/{index}' not found.")
    if feature.creator_id != user.pk:
        source_set_check_owner(source_set=feature.source.source_set, user=user)
    if type(activations) is not list or not activations:
        raise ValidationFailed({"activations": "must be a non-empty list"})
    if len(activations) > MAX_ACTIVATIONS_PER_UPLOAD:
        raise ValidationFailed({"activations": f"at most {MAX_ACTIVATIONS_PER_UPLOAD} per request"})
    try:
        normalized = [normalize_activation(a, index=index, position=i) for i, a in enumerate(activations)]
    except FeatureDataError as exc:
        raise _bad(exc) from None
    existing = {
        (tuple(t), tuple(map(_f32, v)))
        for t, v in Activation.objects.filter(feature=feature).values_list("tokens", "values")
    }
    from django.utils import timezone

    now = timezone.now()
    new = []
    for a in normalized:
        key = (tuple(a["tokens"]), tuple(map(_f32, a["values"])))
        if key not in existing:
            existing.add(key)
            new.append(activation_row(feature_id=feature.pk, a=a, creator_id=user.pk, created_at=now))
    count = activations_copy(rows=new)
    if count:
        best = max(a["max_value"] for a in normalized)
        if feature.max_act_approx is None or best > feature.max_act_approx:
            Feature.objects.filter(pk=feature.pk).update(max_act_approx=best)
    return count


# --- steering vectors -------------------------------------------------------------------------


def vector_json(feature: Feature) -> dict:
    return {
        "modelId": feature.source.model.name,
        "source": feature.source.name,
        "layer": feature.source.name,
        "index": str(feature.index),
        "label": feature.vector_label,
        "vectorLabel": feature.vector_label,
        "hookName": feature.hook_name or feature.source.hook_name,
        "values": feature.vector or [],
        "vector": feature.vector or [],
        "defaultSteerStrength": feature.vector_default_steer_strength,
        "vectorDefaultSteerStrength": feature.vector_default_steer_strength,
        "creatorId": feature.creator_id,
        "createdAt": feature.created_at.isoformat().replace("+00:00", "Z") if feature.created_at else None,
    }


@transaction.atomic
def vector_create(
    *, user, model_id: str, layer_number, hook_type: str, vector, label: str, default_steer_strength=None
) -> Feature:
    """A user steering vector: a feature of the "{layer}-neuronpedia-resid-pre|post" source."""
    model = Model.objects.visible_to(user).filter(name=model_id).first()
    if model is None:
        raise NotFound(f"Model '{model_id}' not found.")
    if hook_type not in VECTOR_HOOK_TYPES:
        raise ValidationFailed(
            {"hookType": f"must be one of {', '.join(VECTOR_HOOK_TYPES)}, got {hook_type!r}"}
        )
    if type(layer_number) is not int or layer_number < 0 or (model.layers and layer_number >= model.layers):
        raise ValidationFailed(
            {"layerNumber": f"must be a layer of {model.name} (0..{model.layers - 1}), got {layer_number!r}"}
        )
    label = (label or "").strip()
    if not label:
        raise ValidationFailed({"vectorLabel": "must not be empty"})
    try:
        values = check_float_list(vector, field="vector", index=None)
        strength = None
        if default_steer_strength is not None:
            from features.importers.validation import check_float

            strength = check_float(default_steer_strength, field="vectorDefaultSteerStrength", index=None)
    except FeatureDataError as exc:
        raise _bad(exc) from None
    if not values:
        raise ValidationFailed({"vector": "must be a non-empty list of numbers"})
    if model.d_model and len(values) != model.d_model:
        raise ValidationFailed(
            {"vector": f"has {len(values)} values; {model.name} has d_model {model.d_model}"}
        )
    set_name = VECTOR_HOOK_TYPES[hook_type]
    source_set, _ = SourceSet.objects.get_or_create(
        model=model,
        name=set_name,
        defaults={
            "type": "vectors",
            "visibility": Visibility.PUBLIC,
            "has_dashboards": False,
            "allow_steering": True,
        },
    )
    hook_name = f"blocks.{layer_number}.{hook_type}"
    source, _ = Source.objects.get_or_create(
        model=model,
        name=source_name_for(layer=layer_number, set_name=set_name),
        defaults={
            "source_set": source_set,
            "layer": layer_number,
            "hook_name": hook_name,
            "visibility": Visibility.PUBLIC,
        },
    )
    Source.objects.select_for_update().filter(pk=source.pk).first()  # serialise index allocation
    last = Feature.objects.filter(source=source).aggregate(m=Max("index"))["m"]
    next_index = 0 if last is None else last + 1
    feature = Feature.objects.create(
        source=source,
        index=next_index,
        has_vector=True,
        vector=[float(v) for v in values],
        vector_label=label[:300],
        vector_default_steer_strength=strength if strength is not None else 10.0,
        hook_name=hook_name,
        creator=user,
    )
    feature.source = source
    source.model = model
    return feature


def vector_get(*, user, model_id: str, source_name: str, index) -> Feature:
    from features.selectors import parse_index

    feature = (
        Feature.objects.visible_to(user)
        .select_related("source", "source__model")
        .filter(
            source__model__name=model_id, source__name=source_name, index=parse_index(index), has_vector=True
        )
        .first()
    )
    if feature is None:
        raise NotFound(f"Vector '{model_id}/{source_name}/{index}' not found.")
    return feature


def vectors_owned(*, user) -> list[Feature]:
    return list(
        Feature.objects.select_related("source", "source__model")
        .filter(creator=user, has_vector=True)
        .order_by("source__model__name", "source__name", "index")
    )


@transaction.atomic
def vector_delete(*, user, model_id: str, source_name: str, index) -> None:
    feature = vector_get(user=user, model_id=model_id, source_name=source_name, index=index)
    if feature.creator_id != user.pk and not user.is_staff:
        raise PermissionDenied("Only the creator of a vector can delete it.")
    feature.delete()
