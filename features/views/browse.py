"""Browsing pages: home, model, source set, source (feature browser), feature dashboard."""

from __future__ import annotations

import json
from pathlib import Path

from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from features import selectors, selectors_fast
from features.jinja_pages import render_page
from models_app import selectors as model_selectors
from neuronsite.errors import NotFound, ValidationFailed

PAGE_SIZE = 50
SNIPPETS_PER_GROUP = 15
EMBED_TOGGLES = ("plots", "explanation", "test", "activations", "link", "steer")


def _not_found(exc) -> Http404:
    return Http404(str(exc.message if hasattr(exc, "message") else exc))


def _slash_redirect(request):
    """``/account`` and friends: the one- and two-segment model routes would shadow Django's
    APPEND_SLASH redirect, so give it back when the slashed path exists."""
    from django.urls import Resolver404, resolve

    if request.path.endswith("/"):
        return None
    try:
        resolve(request.path + "/")
    except Resolver404:
        return None
    return redirect(request.path + "/")


def _int_param(request, name: str, default: int, lo: int = 0, hi: int = 10**9) -> int:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return max(lo, min(hi, value))


_FAVICON = Path(__file__).resolve().parents[2] / "neuronsite" / "static" / "neuronsite" / "favicon.ico"


def favicon(request):
    """``/favicon.ico``, which browsers and crawlers ask for whatever the page says."""
    response = HttpResponse(_FAVICON.read_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def home(request):
    models = model_selectors.models_with_source_sets(user=request.user)
    return render(request, "features/home.html", {"models": models})


def jump(request):
    """``?feature=model/source/index`` (the home page's jump box) -> that dashboard."""
    raw = (request.GET.get("feature") or "").strip().strip("/")
    if not raw and request.GET.get("index"):
        raw = f"{request.GET.get('model', '')}/{request.GET.get('source', '')}/{request.GET.get('index', '')}"
    parts = [p.strip() for p in raw.replace("@", "/").replace(":", "/").split("/") if p.strip()]
    if len(parts) != 3 or not (parts[2].isascii() and parts[2].isdigit()):
        return render(
            request,
            "features/jump_error.html",
            {
                "value": raw,
                "error": "Write a feature as model / source / index, e.g. gpt2-small/6-res-jb/1234.",
            },
            status=400,
        )
    return redirect("feature", parts[0], parts[1], parts[2])


def random_feature(request):
    """A random feature, of one source with ``?model=&source=`` (the source-set page's links)."""
    source = None
    if request.GET.get("model") and request.GET.get("source"):
        source = _source_or_404(request, request.GET["model"], request.GET["source"])
    feature = selectors.feature_random(user=request.user, source=source)
    if feature is None:
        raise Http404("No features yet.")
    return redirect("feature", feature.source.model.name, feature.source.name, feature.index)


def _source_or_404(request, model_id: str, source: str):
    try:
        return model_selectors.source_get(model_name=model_id, name=source, user=request.user)
    except NotFound as exc:
        raise _not_found(exc) from exc


def umap_page(request, model_id: str, source: str):
    """The UMAP of a source's features: a scatter coloured by cluster (drawn by umap.js from
    ``umap.json``); hover shows the explanation, click opens the feature, drag a box to select
    and add the selection to a list."""
    src = _source_or_404(request, model_id, source)
    return render(
        request,
        "features/umap.html",
        {
            "source": src,
            "model": src.model,
            "my_lists": list(selectors.lists_owned(user=request.user)),
        },
    )


def umap_data(request, model_id: str, source: str):
    src = _source_or_404(request, model_id, source)
    points = selectors.source_umap_points(source=src)
    return JsonResponse(
        {
            "modelId": src.model.name,
            "source": src.name,
            "fields": ["index", "x", "y", "cluster", "explanation"],
            "points": [list(p) for p in points],
        }
    )


def release_page(request, name: str):
    """A release: its description, links, and its SAE sets with their sources, by model."""
    try:
        release = model_selectors.release_get(name=name, user=request.user)
    except NotFound as exc:
        raise _not_found(exc) from exc
    return render(request, "features/release.html", {"release": release})


def model_page(request, model_id: str):
    try:
        model = model_selectors.model_get(name=model_id, user=request.user, with_source_sets=True)
    except NotFound as exc:
        slashed = _slash_redirect(request)
        if slashed is not None:
            return slashed
        raise _not_found(exc) from exc
    return render(request, "features/model.html", {"model": model})


def model_child_page(request, model_id: str, name: str):
    """``/{model}/{name}``: a source (``6-res-jb``: the feature browser) or a source set."""
    try:
        source = model_selectors.source_get(model_name=model_id, name=name, user=request.user)
    except NotFound:
        source = None
    if source is None:
        try:
            source_set = model_selectors.source_set_get(model_name=model_id, name=name, user=request.user)
        except NotFound as exc:
            slashed = _slash_redirect(request)
            if slashed is not None:
                return slashed
            raise _not_found(exc) from exc
        return render(
            request,
            "features/source_set.html",
            {
                "source_set": source_set,
                "model": source_set.model,
                "can_manage": _can_manage_set(request.user, source_set),
            },
        )
    offset = _int_param(request, "offset", 0)
    limit = _int_param(request, "limit", PAGE_SIZE, lo=1, hi=500)
    features, has_more = selectors.source_features_page(source=source, offset=offset, limit=limit)
    return render(
        request,
        "features/source.html",
        {
            "source": source,
            "model": source.model,
            "features": features,
            "offset": offset,
            "limit": limit,
            "prev_offset": max(0, offset - limit) if offset else None,
            "next_offset": offset + limit if has_more else None,
            "config_items": sorted((source.config or {}).items())[:40],
            "evals": model_selectors.evals_of_source(source=source),
            "dash_form": _dashboards_form(request.user, source),
        },
    )


def _dashboards_form(user, source):
    """The owner's "Generate dashboards" form (None for anyone else: no actions shown)."""
    from features.views.create import DashboardsGenerateForm, source_manageable

    return DashboardsGenerateForm() if source_manageable(user, source) else None


def _can_manage_set(user, source_set) -> bool:
    return bool(user.is_authenticated and (user.is_staff or source_set.owner_id == user.pk))


def model_evals_page(request, model_id: str):
    """SAEBench results of a model's sources side by side, one eval type at a time."""
    try:
        model = model_selectors.model_get(name=model_id, user=request.user)
    except NotFound as exc:
        raise _not_found(exc) from exc
    table = model_selectors.evals_comparison(
        model=model, user=request.user, type_name=request.GET.get("type")
    )
    return render(request, "features/model_evals.html", {"model": model, **table})


def _embed_options(request) -> dict | None:
    if request.GET.get("embed", "").lower() not in ("true", "1", "yes"):
        return None
    return {
        name: request.GET.get(f"embed{name}", "true").lower() not in ("false", "0", "no")
        for name in EMBED_TOGGLES
    }


def feature_page(request, model_id: str, source: str, index: str):
    try:
        feature = selectors_fast.feature_dashboard_get(
            model_name=model_id,
            source_name=source,
            index=index,
            user=request.user,
            per_group=SNIPPETS_PER_GROUP,
        )
    except (NotFound, ValidationFailed) as exc:
        raise _not_found(exc) from exc
    embed = _embed_options(request)
    # the fast selector's row carries them (selectors.feature_adjacent's values)
    prev_index, next_index, bookmarked = feature.prev_index, feature.next_index, feature.bookmarked
    source_obj = feature.source
    scale = feature.max_act_approx or max(
        (a.max_value for g in feature.activation_groups for a in g["activations"]), default=0.0
    )
    context = {
        "feature": feature,
        "source": source_obj,
        "model": source_obj.model,
        "source_set": source_obj.source_set,
        "groups": feature.activation_groups,
        "scale": scale,
        "explanations": list(feature.explanations.all()),
        "lists": list(feature.lists.all()),
        "comments": list(feature.comments.all()),
        "pos_logits": list(zip(feature.pos_str, feature.pos_values, strict=False)),
        "neg_logits": list(zip(feature.neg_str, feature.neg_values, strict=False)),
        "neighbours": selectors_fast.feature_neighbours_explained(feature=feature),
        "prev_index": prev_index,
        "next_index": next_index,
        "embed": embed,
        "bookmarked": bookmarked,
        "my_lists": (
            list(selectors.lists_owned(user=request.user))
            if not embed and request.user.is_authenticated
            else []
        ),
        "quantiles": sorted((feature.activation_quantiles or {}).items()),
        "page_size": SNIPPETS_PER_GROUP,
        "can_infer": source_obj.inference_enabled and source_obj.model.inference_enabled,
        "token_limit": source_obj.model.inference_token_limit(),  # shown before sending (issue 10)
        # researcher pass (issue 16): embed-code generator, SAE config, OpenGraph, cos-sim match
        "embed_toggles": EMBED_TOGGLES,
        "config_json": json.dumps(source_obj.config, indent=2, sort_keys=True) if source_obj.config else "",
        "page_url": request.build_absolute_uri(
            reverse("feature", args=[source_obj.model.name, source_obj.name, feature.index])
        ),
    }
    # Jinja2, base layout and fragments included (features/jinja_pages.py)
    response = render_page(request, "features/feature.html", context)
    if embed is not None:
        response.xframe_options_exempt = True  # embeds are meant for other sites' iframes
    return response


def feature_vector_download(request, model_id: str, source: str, index: str):
    """A vector feature's steering vector as a JSON file (the fields ``/api/vector/new`` takes)."""
    try:
        feature = selectors.feature_ref_get(
            model_name=model_id, source_name=source, index=index, user=request.user
        )
    except (NotFound, ValidationFailed) as exc:
        raise _not_found(exc) from exc
    if not feature.vector:
        raise Http404(f"Feature {model_id}/{source}/{feature.index} has no vector.")
    body = {
        "modelId": feature.source.model.name,
        "source": feature.source.name,
        "index": feature.index,
        "hookName": feature.hook_name or feature.source.hook_name,
        "label": feature.vector_label,
        "defaultSteerStrength": feature.vector_default_steer_strength,
        "vector": list(feature.vector),
    }
    response = JsonResponse(body)
    filename = f"{feature.source.model.name}-{feature.source.name}-{feature.index}-vector.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def activations_more(request, model_id: str, source: str, index: str):
    """More snippets of one quantile group (htmx "show more")."""
    try:
        feature = selectors.feature_ref_get(
            model_name=model_id, source_name=source, index=index, user=request.user
        )
    except (NotFound, ValidationFailed) as exc:
        raise _not_found(exc) from exc
    try:
        bin_min = float(request.GET["bin_min"]) if request.GET.get("bin_min") else None
        bin_max = float(request.GET["bin_max"]) if request.GET.get("bin_max") else None
    except ValueError:
        return HttpResponseBadRequest("bin_min and bin_max must be numbers")
    offset = _int_param(request, "offset", 0)
    limit = _int_param(request, "limit", 100, lo=1, hi=500)
    rows, has_more = selectors.activations_group_page(
        feature=feature, bin_min=bin_min, bin_max=bin_max, offset=offset, limit=limit
    )
    more_url = None
    if has_more:
        more_url = reverse("feature-activations", args=[model_id, source, feature.index]) + (
            f"?offset={offset + limit}&limit={limit}"
            + (f"&bin_min={bin_min!r}&bin_max={bin_max!r}" if bin_min is not None else "")
        )
    return render(
        request,
        "features/_snippets.html",
        {"activations": rows, "scale": feature.max_act_approx, "more_url": more_url},
    )
