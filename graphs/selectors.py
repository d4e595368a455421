"""Reads for graphs: visible graph rows, owned rows, labels for feature nodes."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery

from graphs.models import GraphMetadata, Subgraph
from models_app.models import Model, SourceSet
from neuronsite.compiled_query import (
    USER_ID,
    compiled,
    sentinel_int,
    sentinel_str,
    user_kind,
    user_stand_in,
)
from neuronsite.errors import Conflict, NotFound


def graphs_visible(*, user) -> QuerySet[GraphMetadata]:
    return GraphMetadata.objects.visible_to(user).select_related("model", "owner")


def graph_get(*, model_name: str, slug: str, user) -> GraphMetadata:
    graph = graphs_visible(user=user).filter(model__name=model_name, slug=slug).first()
    if graph is None:
        raise NotFound(f"Graph '{model_name}/{slug}' not found.")
    return graph


def graphs_owned(*, user) -> QuerySet[GraphMetadata]:
    return GraphMetadata.objects.filter(owner=user).select_related("model", "owner")


def graphs_for_model(*, model: Model, user) -> QuerySet[GraphMetadata]:
    return graphs_visible(user=user).filter(model=model)


def subgraphs_for(*, graph: GraphMetadata, user) -> QuerySet[Subgraph]:
    from django.db.models import Q

    qs = Subgraph.objects.filter(graph=graph).select_related("owner")
    if user is not None and user.is_authenticated:
        return qs.filter(Q(owner=user) | Q(pinned=True))
    return qs.filter(pinned=True)


def model_for_graphs(*, model_name: str, user) -> Model:
    model = Model.objects.visible_to(user).filter(name=model_name).first()
    if model is None:
        raise NotFound(f"Model '{model_name}' not found.", field="modelId")
    return model


def transcoder_set_for(*, model: Model, set_name: str | None, user) -> SourceSet:
    """The named source set (or the model's first graph-capable set); it must hold transcoders."""
    qs = SourceSet.objects.visible_to(user).filter(model=model)
    if set_name:
        source_set = qs.filter(name=set_name).first()
        if source_set is None:
            raise NotFound(f"Source set '{model.name}/{set_name}' not found.", field="sourceSetName")
    else:
        source_set = qs.filter(allow_graphs=True).order_by("name").first()
        if source_set is None:
            raise NotFound(f"Model '{model.name}' has no transcoder set for graphs.", field="sourceSetName")
    if not source_set.allow_graphs or source_set.type not in ("transcoder", "clt"):
        # a state of the data, not a fault of the request (issue 10): 409
        raise Conflict(
            f"Source set '{model.name}/{source_set.name}' has no transcoders (graphs need a transcoder set).",
            field="sourceSetName",
        )
    return source_set


def transcoder_ref(*, source_set: SourceSet) -> str:
    """Where circuit-tracer finds the set: its sources' local folder, else a hub reference."""
    source = source_set.sources.order_by("layer").first()
    if source is None:
        raise Conflict(f"Source set '{source_set.name}' has no sources.", field="sourceSetName")
    ref = (source.config or {}).get("set_folder") or source.local_path or source.sae_release
    if not ref:
        raise Conflict(
            f"Source set '{source_set.name}' names no transcoder folder or hub reference.",
            field="sourceSetName",
        )
    return ref


@dataclass(frozen=True)
class GraphTarget:
    """What a generation runs on: the model, its transcoder set, where circuit-tracer finds the set,
    and whether the slug is already taken for the model."""

    model: Model
    source_set: SourceSet
    ref: str
    slug_taken: bool = False


TRANSCODER_TYPES = ("transcoder", "clt")


def _graph_target_query(*, user, by_set: bool, with_slug: bool):
    """``graph_target``'s lookup, compiled once per shape (``neuronsite.compiled_query``: its
    compile cost ~6 ms of CPU, PostgreSQL's run under 1 ms)."""
    kind = user_kind(user)

    def build():
        from models_app.models import Source

        stand_in = user_stand_in(kind)
        sentinels = {"model": sentinel_str("model")}
        first_source = Source.objects.filter(source_set=OuterRef("pk")).order_by("layer")
        qs = (
            SourceSet.objects.visible_to(stand_in)
            .filter(model__in=Model.objects.visible_to(stand_in).filter(name=sentinels["model"]))
            .select_related("model")
            .annotate(
                _src_config=Subquery(first_source.values("config")[:1]),
                _src_path=Subquery(first_source.values("local_path")[:1]),
                _src_release=Subquery(first_source.values("sae_release")[:1]),
            )
        )
        if by_set:
            sentinels["set"] = sentinel_str("set")
            qs = qs.filter(name=sentinels["set"])
        else:
            qs = qs.filter(allow_graphs=True).order_by("name")
        if with_slug:
            sentinels["slug"] = sentinel_str("slug")
            taken = GraphMetadata.objects.filter(model=OuterRef("model"), slug=sentinels["slug"])
            qs = qs.annotate(_slug_taken=Exists(taken))
        if kind == "user":
            sentinels["user"] = USER_ID
        return (qs if qs.ordered else qs.order_by("pk"))[:1], sentinels

    return compiled(("graphs.graph_target", kind, by_set, with_slug), build)


def graph_target(
    *, model_name: str, set_name: str | None, user, slug: str | None = None, require_inference: bool = False
) -> GraphTarget:
    """``model_for_graphs`` → (``require_inference``: the model's inference flag) →
    ``transcoder_set_for`` → ``transcoder_ref`` (+ whether ``slug`` is taken) in ONE query when all
    is in order (bench/graphs: every round trip counts in a job's fixed cost); otherwise those
    step-by-step selectors run and raise their usual errors, in their usual order."""
    row = _graph_target_query(user=user, by_set=bool(set_name), with_slug=bool(slug)).first(
        model=model_name, set=set_name, slug=slug, user=getattr(user, "pk", None)
    )
    if row is not None and row.allow_graphs and row.type in TRANSCODER_TYPES:
        ref = (row._src_config or {}).get("set_folder") or row._src_path or row._src_release
        if ref and (row.model.inference_enabled or not require_inference):
            return GraphTarget(
                model=row.model, source_set=row, ref=ref, slug_taken=bool(getattr(row, "_slug_taken", False))
            )
    # Something is wrong: the step-by-step selectors name it.
    model = model_for_graphs(model_name=model_name, user=user)
    if require_inference and not model.inference_enabled:
        raise Conflict(f"Model '{model.name}' has inference disabled.", field="modelId")
    source_set = transcoder_set_for(model=model, set_name=set_name, user=user)
    ref = transcoder_ref(source_set=source_set)
    taken = bool(slug) and GraphMetadata.objects.filter(model=model, slug=slug).exists()
    return GraphTarget(model=model, source_set=source_set, ref=ref, slug_taken=taken)


def _labels_query():
    """``feature_labels_and_densities``' lookup, compiled once (``neuronsite.compiled_query``);
    the layers and indices go in as two arrays (one parameter each, whatever their length)."""

    def build():
        from django.db.models.expressions import RawSQL

        from features.models import Explanation, Feature

        sentinels = {"source_set": sentinel_int(1), "layers": [], "indices": []}
        best = (
            Explanation.objects.filter(feature=OuterRef("pk"))
            .exclude(status=Explanation.Status.HIDDEN)
            .annotate(_votes=Count("votes"))
            .order_by("-_votes", "-created_at", "id")
            .values("description")[:1]
        )
        qs = (
            Feature.objects.filter(
                source__source_set_id=sentinels["source_set"],
                source__layer__in=RawSQL("SELECT unnest(%s::integer[])", (sentinels["layers"],)),
                index__in=RawSQL("SELECT unnest(%s::integer[])", (sentinels["indices"],)),
            )
            .annotate(_label=Subquery(best))
            .values_list("source__layer", "index", "frac_nonzero", "_label")
        )
        return qs, sentinels

    return compiled("graphs.feature_labels_and_densities", build)


def feature_labels_and_densities(
    *, source_set: SourceSet, keys: set[tuple[int, int]]
) -> tuple[dict[tuple[int, int], str], dict[tuple[int, int], float]]:
    """``feature_labels`` and ``feature_densities`` in one query (per feature of the set: its
    density and its best explanation, as a subquery)."""
    if not keys:
        return {}, {}
    rows = _labels_query().rows(
        source_set=source_set.pk,
        layers=sorted({layer for layer, _ in keys}),
        indices=sorted({index for _, index in keys}),
    )
    labels: dict[tuple[int, int], str] = {}
    densities: dict[tuple[int, int], float] = {}
    for layer, index, density, label in rows:
        key = (layer, index)
        if key not in keys:
            continue
        if density is not None:
            densities[key] = float(density)
        if label is not None:
            labels[key] = label
    return labels, densities


def feature_labels(*, source_set: SourceSet, keys: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Our best explanation (most votes, then newest) for each (layer, index) in the set."""
    from features.models import Explanation

    if not keys:
        return {}
    layers = {layer for layer, _ in keys}
    indices = {index for _, index in keys}
    rows = (
        Explanation.objects.filter(
            feature__source__source_set=source_set,
            feature__source__layer__in=layers,
            feature__index__in=indices,
        )
        .exclude(status=Explanation.Status.HIDDEN)
        .annotate(_votes=Count("votes"))
        .order_by("feature__source__layer", "feature__index", "-_votes", "-created_at", "id")
        .values_list("feature__source__layer", "feature__index", "description")
    )
    labels: dict[tuple[int, int], str] = {}
    for layer, index, description in rows:
        if (layer, index) in keys:
            labels.setdefault((layer, index), description)
    return labels


def subgraph_get(*, subgraph_id: int, user) -> Subgraph:
    """A subgraph by id (share links): readable by anyone who can see its graph."""
    sub = (
        Subgraph.objects.select_related("graph", "graph__model")
        .filter(pk=subgraph_id, graph__in=GraphMetadata.objects.visible_to(user))
        .first()
    )
    if sub is None:
        raise NotFound(f"Subgraph {subgraph_id} not found.", field="subgraphId")
    return sub


def feature_densities(*, source_set: SourceSet, keys: set[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """Each (layer, index)'s activation density (``frac_nonzero``) where its dashboard has one."""
    from features.models import Feature

    if not keys:
        return {}
    rows = Feature.objects.filter(
        source__source_set=source_set,
        source__layer__in={layer for layer, _ in keys},
        index__in={index for _, index in keys},
        frac_nonzero__isnull=False,
    ).values_list("source__layer", "index", "frac_nonzero")
    return {(layer, index): float(d) for layer, index, d in rows if (layer, index) in keys}
