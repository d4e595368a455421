"""Server-rendered pages for browsing models, source sets and features."""

from django.http import Http404
from django.shortcuts import render
from rest_framework.exceptions import NotFound, ValidationError

from features import selectors
from models_app import selectors as model_selectors


def home(request):
    models = model_selectors.models_with_source_sets(user=request.user)
    return render(request, "features/home.html", {"models": models})


def feature_page(request, model_id: str, source: str, index: str):
    try:
        feature = selectors.feature_get(
            model_name=model_id, source_name=source, index=index, user=request.user
        )
    except (NotFound, ValidationError) as exc:
        raise Http404(str(exc.detail if hasattr(exc, "detail") else exc)) from exc
    activations = list(feature.activations.all())
    for act in activations:
        act.tokens_values = list(zip(act.tokens, act.values, strict=False))
    return render(
        request,
        "features/feature.html",
        {
            "feature": feature,
            "source": feature.source,
            "model": feature.source.model,
            "activations": activations,
            "explanations": list(feature.explanations.all()),
            "lists": list(feature.lists.all()),
            "comments": list(feature.comments.all()),
            "pos_logits": list(zip(feature.pos_str, feature.pos_values, strict=False)),
            "neg_logits": list(zip(feature.neg_str, feature.neg_values, strict=False)),
        },
    )
