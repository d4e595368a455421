"""The graph viewer page ``/{model}/graph?slug=…`` (the drawing is graphs/static/graphs/graph.js)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from graphs import selectors
from models_app.models import SourceSet
from neuronsite.errors import NotFound


def graph_page(request, model_id: str):
    try:
        model = selectors.model_for_graphs(model_name=model_id, user=request.user)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    graphs = selectors.graphs_for_model(model=model, user=request.user)
    user = request.user if request.user.is_authenticated else None
    context = {
        "model": model,
        "slug": request.GET.get("slug", ""),
        "embed": request.GET.get("embed") == "true",
        "own": [g for g in graphs[:200] if user and g.owner_id == user.pk],
        "featured": [g for g in graphs[:200] if g.is_featured],
        "public": [g for g in graphs.filter(visibility="PUBLIC")[:50]],
        "transcoder_sets": list(
            SourceSet.objects.visible_to(request.user).filter(model=model, allow_graphs=True).order_by("name")
        ),
    }
    return render(request, "graphs/graph.html", context)


def graph_validator_page(request):
    """Check a graph JSON file against the upload schema before uploading it."""
    return render(request, "graphs/validate.html")
