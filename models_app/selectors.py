"""Reads of models, source sets and sources, honouring visibility."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from models_app.models import Model, Source, SourceSet
from neuronsite.errors import NotFound


def models_visible(*, user) -> QuerySet[Model]:
    return Model.objects.visible_to(user)


def models_with_source_sets(*, user, listed_only: bool = True) -> QuerySet[Model]:
    """Models with their source sets and sources prefetched. ``listed_only`` (lists, the home
    page) leaves out unlisted models, sets and sources (reachable by link, not shown in lists)
    unless the user owns them; otherwise everything visible to the user."""
    scope = "listed_to" if listed_only else "visible_to"
    return getattr(Model.objects, scope)(user).prefetch_related(
        Prefetch(
            "source_sets",
            queryset=getattr(SourceSet.objects, scope)(user).select_related("release").order_by("name"),
        ),
        Prefetch("sources", queryset=getattr(Source.objects, scope)(user).order_by("layer", "name")),
    )


def model_get(*, name: str, user, with_source_sets: bool = False) -> Model:
    qs = (
        models_with_source_sets(user=user, listed_only=False)
        if with_source_sets
        else Model.objects.visible_to(user)
    )
    model = qs.filter(name=name).first()
    if model is None:
        raise NotFound(f"Model '{name}' not found.")
    return model


def source_set_get(*, model_name: str, name: str, user) -> SourceSet:
    source_set = (
        SourceSet.objects.visible_to(user)
        .select_related("model", "release")
        .filter(model__name=model_name, name=name)
        .filter(model__in=Model.objects.visible_to(user))
        .prefetch_related(Prefetch("sources", queryset=Source.objects.visible_to(user).order_by("layer")))
        .first()
    )
    if source_set is None:
        raise NotFound(f"Source set '{model_name}/{name}' not found.")
    return source_set


def source_get(*, model_name: str, name: str, user) -> Source:
    source = (
        Source.objects.visible_to(user)
        .select_related("model", "source_set", "source_set__release")
        .filter(model__name=model_name, name=name)
        .filter(model__in=Model.objects.visible_to(user), source_set__in=SourceSet.objects.visible_to(user))
        .first()
    )
    if source is None:
        raise NotFound(f"Source '{model_name}/{name}' not found.")
    return source


# --- researcher pass (issue 16): the release page ------------------------------------------------


def release_get(*, name: str, user):
    """A visible release with its visible source sets (model, sources) prefetched."""
    from models_app.models import SourceRelease

    release = (
        SourceRelease.objects.visible_to(user)
        .filter(name=name)
        .prefetch_related(
            Prefetch(
                "source_sets",
                queryset=SourceSet.objects.visible_to(user)
                .filter(model__in=Model.objects.visible_to(user))
                .select_related("model")
                .prefetch_related(
                    Prefetch("sources", queryset=Source.objects.visible_to(user).order_by("layer", "name"))
                )
                .order_by("model__name", "name"),
            )
        )
        .first()
    )
    if release is None:
        raise NotFound(f"Release '{name}' not found.")
    return release


def evals_of_source(*, source: Source) -> list:
    """The source's eval results with their types, by type name."""
    from models_app.models import Eval

    return list(Eval.objects.filter(source=source).select_related("type").order_by("type__name"))


def evals_comparison(*, model: Model, user, type_name: str | None = None) -> dict:
    """Eval results of the visible sources of ``model`` side by side: the eval types present,
    the chosen one (``type_name``, else ``core``, else the first), its metric columns (category, metric) and one
    row per source with the values (None where a source lacks a metric)."""
    from models_app.models import Eval

    evals = list(
        Eval.objects.filter(
            source__model=model,
            source__in=Source.objects.visible_to(user),
            source__source_set__in=SourceSet.objects.visible_to(user),
        )
        .select_related("type", "source")
        .order_by("source__layer", "source__name")
    )
    types = sorted({e.type.name for e in evals})
    # SAEBench's "core" eval (L0, reconstruction, KL) is the one people compare first
    chosen = (
        type_name if type_name in types else ("core" if "core" in types else (types[0] if types else None))
    )
    rows, columns = [], []
    for e in evals:
        if e.type.name != chosen:
            continue
        metrics = (e.output or {}).get("eval_result_metrics") or {}
        for category, values in metrics.items():
            for name in values:
                if (category, name) not in columns:
                    columns.append((category, name))
        rows.append((e.source, metrics))
    table = [
        {"source": src, "values": [(metrics.get(c) or {}).get(n) for c, n in columns]}
        for src, metrics in rows
    ]
    return {"types": types, "chosen": chosen, "columns": columns, "rows": table}
