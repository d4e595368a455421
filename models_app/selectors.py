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


MAX_DETAIL_ROWS = 60  # per-letter / per-dataset details are shown; per-latent ones (core) only counted


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _featured(eval_type) -> list[tuple[str, str, str]]:
    return [
        (f.get("category"), f.get("metric"), f.get("title") or f.get("metric"))
        for f in (eval_type.featured_metrics or [])
        if isinstance(f, dict)
    ]


def _eval_view(ev) -> dict:
    """One eval for display: SAEBench's default-display metrics first (with their titles), every
    metric by category, and its per-row details when they are few enough to read."""
    metrics = (ev.output or {}).get("eval_result_metrics") or {}
    featured = [
        {"title": title, "value": (metrics.get(c) or {}).get(m), "category": c, "metric": m}
        for c, m, title in _featured(ev.type)
        if m in (metrics.get(c) or {})
    ]
    marked = {(f["category"], f["metric"]) for f in featured}
    rows = [
        {"category": c, "name": n, "value": v, "featured": (c, n) in marked}
        for c, values in metrics.items()
        for n, v in values.items()
    ]
    details = (ev.detailed_metrics or {}).get("eval_result_details") or []
    detail_columns: list[str] = []
    shown = []
    if isinstance(details, list) and 0 < len(details) <= MAX_DETAIL_ROWS:
        for row in details:
            if isinstance(row, dict):
                detail_columns += [k for k in row if k not in detail_columns]
        shown = [[_cell(row.get(k)) for k in detail_columns] for row in details if isinstance(row, dict)]
    millis = (ev.output or {}).get("datetime_epoch_millis")
    when = None
    if isinstance(millis, int) and 0 <= millis <= 9_999_999_999_999:
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return {
        "eval": ev,
        "type": ev.type,
        "featured": featured,
        "metrics": rows,
        "details_count": len(details) if isinstance(details, list) else 0,
        "detail_columns": detail_columns,
        "detail_rows": shown,
        "run_at": when,
        "config": (ev.output or {}).get("eval_config") or {},
    }


def evals_of_source(*, source: Source) -> list[dict]:
    """The source's eval results with their types, by type name, ready for display."""
    from models_app.models import Eval

    evals = Eval.objects.filter(source=source).select_related("type").order_by("type__name")
    # SAEBench's core eval first (the one opened), then by name
    return [_eval_view(ev) for ev in sorted(evals, key=lambda ev: ev.type.name != "core")]


def evals_comparison(*, model: Model, user, type_name: str | None = None) -> dict:
    """Eval results of the visible sources of ``model`` side by side: the eval types present
    (``[(name, display name)]``), the chosen one (``type_name``, else ``core``, else the first),
    its metric columns (SAEBench's default-display metrics first) and one row per source with the
    values (None where a source lacks a metric); plus an overview: every type's default-display
    metrics, one row per source."""
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
    by_type = {e.type.name: e.type for e in evals}
    types = sorted(by_type)
    # SAEBench's "core" eval (L0, reconstruction, KL) is the one people compare first
    chosen = (
        type_name if type_name in types else ("core" if "core" in types else (types[0] if types else None))
    )
    rows, columns = [], []
    if chosen:
        columns = [(c, m, title, True) for c, m, title in _featured(by_type[chosen])]
    for e in evals:
        if e.type.name != chosen:
            continue
        metrics = (e.output or {}).get("eval_result_metrics") or {}
        for category, values in metrics.items():
            for name in values:
                if not any(col[:2] == (category, name) for col in columns):
                    columns.append((category, name, name, False))
        rows.append((e.source, metrics))
    present = {(c, n) for _, metrics in rows for c, values in metrics.items() for n in values}
    # featured first (SAEBench's order), the rest by category and name (jsonb reorders keys)
    columns = [col for col in columns if col[3] and col[:2] in present] + sorted(
        col for col in columns if not col[3] and col[:2] in present
    )
    table = [
        {"source": src, "values": [(metrics.get(c) or {}).get(n) for c, n, _t, _f in columns]}
        for src, metrics in rows
    ]
    # the overview: (type, featured metric) columns over every type, one row per source
    overview_cols = [
        (t, c, m, f"{by_type[t].display_name or t}: {title}")
        for t in types
        for c, m, title in _featured(by_type[t])
    ]
    per_source: dict[int, tuple] = {}
    for e in evals:
        entry = per_source.setdefault(e.source.pk, (e.source, {}))
        entry[1][e.type.name] = (e.output or {}).get("eval_result_metrics") or {}
    used = [
        col
        for col in overview_cols
        if any(col[2] in (got.get(col[0], {}).get(col[1]) or {}) for _, got in per_source.values())
    ]
    overview = [
        {"source": src, "values": [((got.get(t) or {}).get(c) or {}).get(m) for t, c, m, _ in used]}
        for src, got in per_source.values()
    ]
    return {
        "types": [(t, by_type[t].display_name or t) for t in types],
        "chosen": chosen,
        "chosen_type": by_type.get(chosen),
        "columns": columns,
        "rows": table,
        "overview_columns": [label for *_, label in used],
        "overview": overview,
    }
