"""JSON shapes for models, releases and source sets (Neuronpedia's field names)."""

from __future__ import annotations

from rest_framework import serializers

from features.api.serializers import _iso, model_json, source_json
from neuronsite.fields_api import SafeCharField


def release_json(release) -> dict | None:
    if release is None:
        return None
    return {
        "name": release.name,
        "description": release.description,
        "descriptionShort": release.description_short or None,
        "creatorName": release.creator_name or None,
        "urls": release.urls,
        "visibility": release.visibility,
        "featured": release.featured,
    }


def source_set_json(source_set, *, sources=None) -> dict:
    body = {
        "modelId": source_set.model.name,
        "name": source_set.name,
        "type": source_set.type or None,
        "description": source_set.description,
        "creatorName": source_set.creator_name or None,
        "urls": source_set.urls,
        "releaseName": source_set.release.name if source_set.release_id else None,
        "release": release_json(source_set.release) if source_set.release_id else None,
        "visibility": source_set.visibility,
        "hasDashboards": source_set.has_dashboards,
        "allowInferenceSearch": source_set.allow_inference_search,
        "allowSteering": source_set.allow_steering,
        "allowGraphs": source_set.allow_graphs,
        "showUmap": source_set.show_umap,
        "createdAt": _iso(source_set.created_at),
    }
    if sources is not None:
        body["sources"] = [source_json_light(s, source_set) for s in sources]
    return body


def source_json_light(source, source_set) -> dict:
    # The source set and model are the parent here: avoid re-fetching them per source.
    source.source_set = source_set
    source.model = source_set.model
    return source_json(source)


def model_with_sets_json(model) -> dict:
    body = model_json(model)
    sources_by_set: dict[int, list] = {}
    for source in model.sources.all():
        sources_by_set.setdefault(source.source_set_id, []).append(source)
    body["sourceSets"] = []
    for source_set in model.source_sets.all():
        source_set.model = model
        body["sourceSets"].append(source_set_json(source_set, sources=sources_by_set.get(source_set.pk, [])))
    return body


class ModelGetInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
