"""The monitor page: ``/{model}/monitor`` (chat, token strip, concept table, attribution; the
linter and steer panels are included from their own templates), and ``/monitor`` to pick a model."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render

from inference import selectors as inference_selectors
from models_app.models import Model
from monitor import selectors
from monitor.services import chat
from neuronsite.errors import ApplicationError


def monitor_index(request):
    """The first inference-enabled model (instruct ones first) the visitor can see."""
    model = (
        Model.objects.visible_to(request.user)
        .filter(inference_enabled=True, sources__isnull=False)
        .order_by("-instruct", "name")
        .first()
    )
    if model is None:
        raise Http404("No model with inference and sources to monitor.")
    return redirect("monitor", model_id=model.name)


def monitor_page(request, model_id: str):
    try:
        model = selectors.monitor_model(name=model_id, user=request.user)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    new_key = None
    key = None
    if not request.user.is_authenticated:
        key = request.COOKIES.get(chat.ANON_COOKIE) or None
        if not key:
            key = new_key = chat.new_anon_key()
    conv = None
    if request.GET.get("c"):
        try:
            conv = selectors.conversation_get(
                conversation_id=request.GET["c"], user=request.user, anon_key=key
            )
        except ApplicationError as exc:
            raise Http404(exc.message) from exc
        if conv.model_id != model.pk:
            return redirect(f"/{conv.model.name}/monitor?c={conv.pk}")
    if conv is None and not request.GET.get("new"):
        # the latest one; none yet (or ?new=1): created by the first message (a GET writes nothing)
        conv = chat.conversation_for_page(user=request.user, anon_key=key, model=model)
    history = selectors.conversations_list(user=request.user, anon_key=key, model_name=model.name, limit=30)
    if conv is not None:
        mode, watched = conv.mode, set(conv.source_ids)
    else:
        mode = chat.default_mode(model)
        watched = {s.name for s in selectors.watchable_sources(model=model, user=request.user)}
    sources = [
        s
        for s in model.sources.visible_to(request.user)
        .filter(inference_enabled=True)
        .select_related("source_set")
        .order_by("layer", "name")
        if inference_selectors.has_sae_weights(s)
    ]
    response = render(
        request,
        "monitor/page.html",
        {
            "model": model,
            "conversation": conv,
            "mode": mode,
            "history": history,
            "sources": sources,
            "watched": watched,
            "max_new_tokens": 32,
        },
    )
    if new_key:
        response.set_cookie(chat.ANON_COOKIE, new_key, max_age=365 * 86400, httponly=True, samesite="Lax")
    return response
