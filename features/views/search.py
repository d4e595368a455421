"""Search pages: explanation text search (plain text; semantic search arrives with autointerp),
search via inference, and steering (the last two are driven by the inference engine)."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render

from features import selectors
from models_app import selectors as model_selectors
from neuronsite.errors import ValidationFailed

SEARCH_PAGE_SIZE = 20


def search_page(request):
    query = (request.GET.get("q") or "").strip()
    model_name = request.GET.get("model") or None
    try:
        offset = min(max(0, int(request.GET.get("offset", 0))), 100_000)  # 2^63 overflowed the query
    except ValueError:
        offset = 0
    results, total, error = [], 0, None
    if query:
        try:
            results, total = selectors.explanations_search_text(
                query=query, user=request.user, model_name=model_name, offset=offset, limit=SEARCH_PAGE_SIZE
            )
        except ValidationFailed as exc:
            error = exc.message
    return render(
        request,
        "features/search.html",
        {
            "q": query,
            "model_name": model_name,
            "models": model_selectors.models_visible(user=request.user).only("name", "display_name"),
            "results": results,
            "total": total,
            "offset": offset,
            "next_offset": offset + SEARCH_PAGE_SIZE if offset + SEARCH_PAGE_SIZE < total else None,
            "prev_offset": max(0, offset - SEARCH_PAGE_SIZE) if offset else None,
            "error": error,
        },
        status=400 if error else 200,
    )


def search_inference_page(request):
    models = list(model_selectors.models_with_source_sets(user=request.user))
    for m in models:
        m.token_limit = m.inference_token_limit()  # shown before sending (issue 10)
    return render(request, "features/search_inference.html", {"models": models})


def _max_new_tokens(model) -> int:
    """The most tokens a steering run may ask of ``model``: the server's cap, and for a local
    model folder whose config names its context (``n_ctx``), less than that context."""
    cap = settings.INFERENCE_MAX_NEW_TOKENS
    n_ctx = model.local_context_length()
    return min(cap, n_ctx - 1) if n_ctx is not None and n_ctx > 1 else cap


def steer_page(request):
    models = list(model_selectors.models_with_source_sets(user=request.user))
    for m in models:
        m.max_new_tokens = _max_new_tokens(m)
        m.token_limit = m.inference_token_limit()
    return render(request, "features/steer.html", {"models": models})
