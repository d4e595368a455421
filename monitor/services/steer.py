"""Steer by description (issue 15, item 5): find features by what their explanations say, then
generate default vs steered with Monitor's clamps or Neuronpedia's additive steering.

Search: the concept is embedded and matched by cosine against stored explanation embeddings
(autointerp's semantic search: visibility in the SQL ``WHERE``, HNSW index): the ``topK`` nearest
explanations, one row per feature.

Exclude phrases (negative descriptions): ``exclude`` names what the matched features must NOT be
about. A feature is left out of the search (the preview and its top-k) when any of its visible
explanations contains one of the phrases (case-insensitive); the ``topK`` nearest explanations are
then taken among the remaining features' explanations, so excluding never shortens the list while
further matches exist. Monitor's own "negative descriptions" (the low tail of a neuron that fires
both ways, ``REFERENCE.md``) have no counterpart for SAE latents, which do not go negative.

Steering modes, per spec (several specs at once, each enabled or not):

- ``strengthen``: clamp the latent to ``strength × top quantile`` (Monitor's default strength
  0.75, at most 1.0). The top quantile is the feature's stored ``0.9999999`` activation quantile
  (Monitor's choice); when a dashboard stored no such quantile, the highest quantile it did
  store; with no quantiles at all, the feature's ``max_act_approx`` (its top activation over the
  dashboard corpus). A feature with none of these cannot be strengthened (400).
- ``suppress``: clamp the latent to 0.
- ``add``: Neuronpedia's additive steering, ``x + strength·W_dec[index]`` (``strength`` is the raw
  coefficient, as in ``/api/steer``).

Positions: ``{"prompt": [[start, end), ...] | "all", "generated": bool}`` over the prompt's token
positions as fed to the model (chat: the chat template's tokens); default: every generated token.

Generation goes through the one steering loop (``inference.services.steer_loop``): the plan is
``inference.services.steering.steer_prepare`` with ``clamps`` (``inference.monitor.clamp``), so
DEFAULT and STEERED are generated with the same seed, cached and shareable like ``/api/steer``.
"""

from __future__ import annotations

from features.models import Feature
from inference import selectors as inference_selectors
from inference.engine import SourceSpec
from inference.monitor.clamp import ADD, CLAMP, ClampTerm
from models_app.models import Model, Source, SourceSet
from neuronsite.errors import NotFound, ValidationFailed

SEARCH_TOP_K_DEFAULT = 50
MAX_EXCLUDE = 16
EXCLUDE_ROUNDS = 8  # pages of topK explanations read past excluded features, at most
SEARCH_TOP_K_MAX = 1000
MAX_SPECS = 16
MAX_CLAMP_TERMS = 2000
STRENGTH_DEFAULT = 0.75
STRENGTH_MAX = 1.0
MONITOR_QUANTILE = "0.9999999"


def top_quantile(feature: Feature) -> tuple[str, float] | None:
    """``(which, value)``: the 0.9999999 quantile, else the highest stored quantile, else
    ``("max", max_act_approx)``; None when the feature has none of these."""
    return _top_quantile(feature.activation_quantiles, feature.max_act_approx)


def _top_quantile(stored: dict | None, max_act_approx: float | None) -> tuple[str, float] | None:
    quantiles = {}
    for key, value in (stored or {}).items():
        try:
            q, v = float(key), float(value)
        except (TypeError, ValueError):
            continue
        quantiles[key] = (q, v)
    if MONITOR_QUANTILE in quantiles:
        return MONITOR_QUANTILE, quantiles[MONITOR_QUANTILE][1]
    if quantiles:
        key = max(quantiles, key=lambda k: quantiles[k][0])
        return key, quantiles[key][1]
    if max_act_approx is not None:
        return "max", float(max_act_approx)
    return None


def _model(*, user, model_id: str) -> Model:
    model = Model.objects.visible_to(user).filter(name=model_id).first()
    if model is None:
        raise NotFound(f"Model '{model_id}' not found.")
    return model


def _visible_sources(*, user, model: Model, names=None) -> dict[str, Source]:
    qs = Source.objects.visible_to(user).filter(
        model=model, source_set__in=SourceSet.objects.visible_to(user)
    )
    if names is not None:
        qs = qs.filter(name__in=set(names))
    return {s.name: s for s in qs.select_related("model", "source_set")}


def steer_search(
    *,
    user,
    model_id: str,
    description: str,
    top_k: int = SEARCH_TOP_K_DEFAULT,
    sources=None,
    vector: list[float] | None = None,
    embedder_name: str | None = None,
    exclude: list[str] | None = None,
) -> list[dict]:
    """Features of ``model_id`` whose explanations are nearest to ``description``, best first:
    the ``top_k`` nearest explanations (Monitor's top_k descriptions), one row per feature (its
    nearest explanation), so a feature explained twice among them counts once:
    ``[{source, index, layer, explanation, explanationId, similarity, topQuantile: {q, value} |
    None, maxActApprox}]``. ``vector`` + ``embedder_name``: an
    already embedded description (benchmarks). ``exclude``: phrases whose features are left out
    (module doc)."""
    from autointerp.selectors import embed_query, explanations_search_semantic

    description = (description or "").strip()
    if len(description) < 3:
        raise ValidationFailed("must be at least 3 characters (the concept to steer)", field="description")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= SEARCH_TOP_K_MAX:
        raise ValidationFailed(f"must be an integer from 1 to {SEARCH_TOP_K_MAX}", field="topK")
    phrases = _exclude_phrases(exclude)
    # The search is scoped to the model's visible sources (a model the user may not see has none),
    # so the model itself is looked up only when the sources are named or nothing was found (404
    # then, not an empty list): one database round trip for a search that finds something.
    model = _model(user=user, model_id=model_id) if sources is not None else None
    if sources is not None:
        found = _visible_sources(user=user, model=model, names=sources)
        unknown = sorted(set(sources) - set(found))
        if unknown:
            # 404 like the conversation's sources (``watchable_sources``): a name that is not there
            raise NotFound(f"unknown sources for model '{model_id}': {', '.join(unknown)}", field="sources")
    search = {
        "query": description,
        "user": user,
        "model_name": model_id,
        "source_names": list(sources) if sources is not None else None,
        "limit": top_k,
        "hydrate": "light",
    }
    if not phrases:
        page, _ = explanations_search_semantic(**search, vector=vector, embedder_name=embedder_name)
    else:
        if vector is None:
            vector, embedder_name = embed_query(description)
        page, excluded, offset = [], set(), 0
        for _ in range(EXCLUDE_ROUNDS):
            batch, more = explanations_search_semantic(
                **search, offset=offset, vector=vector, embedder_name=embedder_name
            )
            excluded |= _excluded_features(
                user=user, feature_ids={e["feature_id"] for e in batch} - excluded, phrases=phrases
            )
            page += [e for e in batch if e["feature_id"] not in excluded][: top_k - len(page)]
            offset += len(batch)
            if len(page) >= top_k or not more:
                break
    if not page and model is None:
        _model(user=user, model_id=model_id)  # NotFound when the user may not see it
    rows, seen = [], set()
    for exp in page:  # plain rows (hydrate="light": ranked and read in one statement)
        if exp["feature_id"] in seen:
            continue
        seen.add(exp["feature_id"])
        top = _top_quantile(exp["activation_quantiles"], exp["max_act_approx"])
        rows.append(
            {
                "source": exp["source"],
                "index": exp["index"],
                "layer": exp["layer"],
                "explanation": exp["description"],
                "explanationId": exp["id"],
                "similarity": exp["similarity"],
                "topQuantile": {"q": top[0], "value": top[1]} if top else None,
                "maxActApprox": exp["max_act_approx"],
            }
        )
    return rows


def _exclude_phrases(exclude) -> list[str]:
    if exclude is None:
        return []
    if not isinstance(exclude, (list, tuple)) or len(exclude) > MAX_EXCLUDE:
        raise ValidationFailed(f"must be a list of at most {MAX_EXCLUDE} phrases", field="exclude")
    phrases = []
    for p in exclude:
        if not isinstance(p, str) or not p.strip():
            raise ValidationFailed("each phrase must be non-empty text", field="exclude")
        phrases.append(p.strip())
    return list(dict.fromkeys(phrases))


def _excluded_features(*, user, feature_ids: set[int], phrases: list[str]) -> set[int]:
    """The features among ``feature_ids`` with a visible explanation containing a phrase (one query)."""
    from django.db.models import Q

    from features.models import Explanation

    if not feature_ids or not phrases:
        return set()
    cond = Q()
    for p in phrases:
        cond |= Q(description__icontains=p)
    rows = (
        Explanation.objects.exclude(status=Explanation.Status.HIDDEN)
        .filter(cond, feature_id__in=feature_ids)
        .values_list("feature_id", flat=True)
    )
    return set(rows)


def _prompt_ranges(raw, *, field: str) -> tuple[tuple[tuple[int, int], ...], bool]:
    if raw == "all":
        return (), True
    if raw is None:
        return (), False
    if not isinstance(raw, list):
        raise ValidationFailed('must be a list of [start, end) ranges or "all"', field=field)
    out = []
    for r in raw:
        ok = isinstance(r, (list, tuple)) and len(r) == 2
        ok = ok and all(isinstance(x, int) and not isinstance(x, bool) for x in r)
        if not ok or not 0 <= r[0] < r[1]:
            raise ValidationFailed(
                f"each range must be [start, end) with 0 <= start < end, got {r!r}", field=field
            )
        out.append((int(r[0]), int(r[1])))
    return tuple(out), False


def clamp_terms(*, user, model: Model, specs: list[dict]) -> list[ClampTerm]:
    """Validate the request's specs (enabled ones) and resolve them to clamp terms."""
    enabled = [(i, s) for i, s in enumerate(specs) if s.get("enabled", True)]
    if not enabled:
        raise ValidationFailed("enable at least one steering spec", field="specs")
    names = {f["source"] for _, s in enabled for f in s["features"]}
    sources = _visible_sources(user=user, model=model, names=names)
    terms: list[ClampTerm] = []
    for i, spec in enabled:
        field = f"specs[{i}]"
        unknown = sorted({f["source"] for f in spec["features"]} - set(sources))
        if unknown:
            raise NotFound(
                f"unknown sources for model '{model.name}': {', '.join(unknown)}", field=f"{field}.features"
            )
        mode = spec.get("mode", "strengthen")
        strength = float(spec.get("strength", STRENGTH_DEFAULT))
        if mode == "strengthen" and not 0.0 <= strength <= STRENGTH_MAX:
            raise ValidationFailed(
                f"must be between 0 and {STRENGTH_MAX} to strengthen", field=f"{field}.strength"
            )
        positions = spec.get("positions") or {}
        ranges, prompt_all = _prompt_ranges(positions.get("prompt", []), field=f"{field}.positions.prompt")
        generated = bool(positions.get("generated", True))
        if not (ranges or prompt_all or generated):
            raise ValidationFailed(
                "choose prompt ranges or generated tokens to steer at", field=f"{field}.positions"
            )
        refs = [(sources[f["source"]], f["index"]) for f in spec["features"]]
        stored = {
            (f.source_id, f.index): f
            for f in Feature.objects.filter(
                source__in={s for s, _ in refs}, index__in={idx for _, idx in refs}
            )
        }
        for source, index in refs:
            inference_selectors.require_sae_weights(source)
            if not source.inference_enabled:
                raise ValidationFailed(
                    f"inference is disabled for source '{source.name}'", field=f"{field}.features"
                )
            feature = stored.get((source.pk, index))
            if feature is None and (source.d_sae is None or index >= source.d_sae):
                raise ValidationFailed(
                    f"feature {source.name}/{index} does not exist", field=f"{field}.features"
                )
            if mode == "strengthen":
                top = top_quantile(feature) if feature is not None else None
                if top is None:
                    raise ValidationFailed(
                        f"feature {source.name}/{index} has no stored quantiles or max activation to "
                        "strengthen to; use add or suppress",
                        field=f"{field}.features",
                    )
                value, kind = strength * top[1], CLAMP
            elif mode == "suppress":
                value, kind = 0.0, CLAMP
            else:
                value, kind = strength, ADD
            terms.append(
                ClampTerm(
                    source=SourceSpec.of(source),
                    index=int(index),
                    mode=kind,
                    value=float(value),
                    prompt_ranges=ranges,
                    prompt_all=prompt_all,
                    generated=generated,
                    spec=i,
                )
            )
    if len(terms) > MAX_CLAMP_TERMS:
        raise ValidationFailed(f"at most {MAX_CLAMP_TERMS} features across the enabled specs", field="specs")
    return terms


def steer_plan(
    *,
    user,
    model_id: str,
    specs: list[dict],
    prompt: str | None = None,
    messages: list | None = None,
    n_tokens: int = 32,
    temperature: float = 0.5,
    freq_penalty: float = 0.0,
    seed: int = 16,
):
    """The steering plan (``SteerPlan``) of a monitor steering request: validated, cached outputs
    looked up; run it with ``steer_run`` or stream it with ``steer_loop.steer_events``."""
    from inference.services.steering import steer_prepare

    if len(specs) > MAX_SPECS:
        raise ValidationFailed(f"at most {MAX_SPECS} specs", field="specs")
    model = _model(user=user, model_id=model_id)
    terms = clamp_terms(user=user, model=model, specs=specs)
    chat = {"default_chat": messages, "steered_chat": messages} if messages is not None else {}
    return steer_prepare(
        user=user,
        model_id=model.name,
        prompt=prompt if messages is None else None,
        temperature=temperature,
        n_tokens=n_tokens,
        freq_penalty=freq_penalty,
        seed=seed,
        clamps=terms,
        **chat,
    )


def steer_run(plan) -> dict:
    """Generate (or fetch from the cache) default vs steered: the one steering loop, to its end."""
    from inference.services.steer_loop import steer_run as run

    return run(plan)
