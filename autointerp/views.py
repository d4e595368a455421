"""Pages: explanation search with a semantic/keyword switch and scopes, the account's LLM key,
and the dashboard's Generate / Score forms (POST, then back to the feature page)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from autointerp import keys, services
from autointerp.api.search import SEARCH_PAGE_SIZE, search
from autointerp.explainers import EXPLAINERS
from autointerp.scorers import SCORERS
from models_app import selectors as model_selectors
from neuronsite.errors import ApplicationError


def search_page(request):
    """Explanation search, semantic or keyword, in one of four scopes: all models, one model,
    one release (``release``), or chosen sources of a model (``model`` + ``layers``)."""
    from models_app.models import SourceRelease

    query = (request.GET.get("q") or "").strip()
    model_name = request.GET.get("model") or None
    release_name = request.GET.get("release") or None
    mode = "keyword" if request.GET.get("mode") == "keyword" else "semantic"
    layers = [s for s in (request.GET.get("layers") or "").replace(" ", "").split(",") if s]
    try:
        offset = max(0, int(request.GET.get("offset", 0)))
    except ValueError:
        offset = 0
    results, total, has_more, error = [], None, False, None
    if query:
        scope = {}
        if model_name:
            scope["model_name"] = model_name
            if layers:
                scope["source_names"] = layers
        if release_name:
            scope["release_name"] = release_name
        try:
            results, total, has_more = search(
                user=request.user, v={"query": query, "offset": offset, "mode": mode}, hydrate="page", **scope
            )
        except ApplicationError as exc:
            error = exc.message
    return render(
        request,
        "features/search.html",
        {
            "q": query,
            "mode": mode,
            "layers": ",".join(layers),
            "model_name": model_name,
            "release_name": release_name,
            "models": model_selectors.models_visible(user=request.user).only("name", "display_name"),
            "releases": SourceRelease.objects.visible_to(request.user).order_by("name").only("name"),
            "results": results,
            "total": total if total is not None else offset + len(results) + (1 if has_more else 0),
            "semantic": mode == "semantic",
            "offset": offset,
            "next_offset": offset + SEARCH_PAGE_SIZE if has_more else None,
            "prev_offset": max(0, offset - SEARCH_PAGE_SIZE) if offset else None,
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
def llm_key_page(request):
    if request.method == "POST":
        try:
            if request.POST.get("action") == "delete":
                keys.user_llm_key_delete(user=request.user)
                messages.success(request, "Your LLM key was deleted.")
            else:
                keys.user_llm_key_set(
                    user=request.user,
                    base_url=request.POST.get("base_url", ""),
                    api_key=request.POST.get("api_key", ""),
                    default_model=request.POST.get("default_model", ""),
                )
                messages.success(request, "LLM key saved (encrypted). It will not be shown again.")
            return redirect("autointerp-llm-key")
        except ApplicationError as exc:
            return render(
                request,
                "autointerp/llm_key.html",
                {"row": keys.user_llm_key_get(user=request.user), "error": exc.message, "form": request.POST},
                status=400,
            )
    return render(
        request, "autointerp/llm_key.html", {"row": keys.user_llm_key_get(user=request.user), "form": {}}
    )


def _back(model_id, source, index):
    return redirect("feature", model_id, source, index)


@login_required
@require_POST
def generate_from_page(request, model_id: str, source: str, index: str):
    try:
        exp = services.explanation_generate(
            user=request.user,
            model_id=model_id,
            layer=source,
            index=index,
            type_name=request.POST.get("explanation_type", ""),
            explainer_model_name=(request.POST.get("model") or "").strip() or None,
        )
        messages.success(request, f"New explanation: {exp.description}")
    except ApplicationError as exc:
        messages.error(request, f"Could not generate: {exc.message}")
    return _back(model_id, source, index)


@login_required
@require_POST
def score_from_page(request, model_id: str, source: str, index: str, explanation_id: int):
    try:
        score = services.explanation_score(
            user=request.user,
            explanation_id=explanation_id,
            scorer_type=request.POST.get("scorer_type", ""),
            scorer_model=(request.POST.get("model") or "").strip() or None,
        )
        messages.success(request, f"Scored {round(score.value * 100)} ({score.score_type.name}).")
    except ApplicationError as exc:
        messages.error(request, f"Could not score: {exc.message}")
    return _back(model_id, source, index)


def choices() -> dict:
    """Explainer and scorer choices for the dashboard forms."""
    return {"explainer_types": list(EXPLAINERS.values()), "scorer_types": list(SCORERS.values())}


@login_required
def batch_job_page(request, model_id: str, source: str, kind: str):
    """``/autointerp/batch/{model}/{source}/explain|score``: queue a batch explain or score job
    for a source the user owns (or staff); on success the Jobs page shows its live progress."""
    from django.http import Http404

    from autointerp.forms import BatchJobForm
    from autointerp.jobs import autointerp_job_create
    from features.views.create import _owned_source

    if kind not in ("explain", "score"):
        raise Http404(f"No batch action {kind!r}.")
    src = _owned_source(request, model_id, source)
    form = BatchJobForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        try:
            job = autointerp_job_create(source=src, user=request.user, **form.job_kwargs())
        except ApplicationError as exc:
            form.add_error(_FORM_FIELDS.get(getattr(exc, "field", None)), exc.message)
        else:
            messages.success(request, f"Queued job {job.pk}: {job.title}.")
            return redirect("jobs")
    heading = "Explain features" if kind == "explain" else "Score explanations"
    return render(
        request,
        "autointerp/batch_job.html",
        {"form": form, "source": src, "model": src.model, "heading": heading},
        status=400 if form.errors else 200,
    )


# service error fields -> form fields (None: shown above the form)
_FORM_FIELDS = {
    "explanationType": "type_name",
    "scorerType": "type_name",
    "explanationModelName": "llm_model",
    "limit": "limit",
    "features": "features",
    "concurrency": "concurrency",
}
