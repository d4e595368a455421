"""Autointerp writes: generate an explanation, add a human one, score one, embed them.

Explanation and score rows belong to ``features``; they are written through its services. The
LLM work is async (``autointerp.llm``); these sync services run it with ``asyncio.run`` and
write only after every call succeeded and parsed, so a failure leaves no row behind.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from django.db import transaction

from autointerp.explainers import EXPLAINERS, TOP_TOKENS_MODEL, Example
from autointerp.scorers import N_TOP, N_ZERO, SCORERS
from features import selectors as feature_selectors
from features import services as feature_services
from features.models import Activation, Explanation, ExplanationScore, Feature
from features.tokens import token_display
from neuronsite.errors import NotFound, ValidationFailed

HUMAN = "human"
MAX_ACTIVATION_ROWS = 200


# --- inputs -------------------------------------------------------------------------------------


def _example(row: Activation) -> Example:
    return Example(tokens=[token_display(t) for t in row.tokens], values=[float(v) for v in row.values])


def feature_top_examples(*, feature: Feature, n: int) -> list[Example]:
    """The feature's top activating texts by max value, de-duplicated by joined text."""
    rows = Activation.objects.filter(feature=feature, max_value__gt=0).order_by("-max_value", "id")
    seen, out = set(), []
    for row in rows[:MAX_ACTIVATION_ROWS].only("tokens", "values"):
        example = _example(row)
        if example.text in seen or not example.tokens:
            continue
        seen.add(example.text)
        out.append(example)
        if len(out) >= n:
            break
    return out


def feature_zero_examples(*, feature: Feature, n: int = N_ZERO) -> list[Example]:
    rows = Activation.objects.filter(feature=feature, max_value__lte=0).order_by("id")[:n]
    return [e for e in (_example(r) for r in rows.only("tokens", "values")) if e.tokens]


def check_explanation_type(type_name: str):
    spec = EXPLAINERS.get(type_name)
    if spec is None:
        raise ValidationFailed(
            f"unsupported explanation type '{type_name}'; supported: {', '.join(EXPLAINERS)}",
            field="explanationType",
        )
    return spec


def check_scorer_type(type_name: str):
    spec = SCORERS.get(type_name)
    if spec is None:
        raise ValidationFailed(
            f"unsupported scorer type '{type_name}'; supported: {', '.join(SCORERS)}", field="scorerType"
        )
    return spec


# --- generate -----------------------------------------------------------------------------------


def explanation_exists(*, feature: Feature, type_name: str, model_name: str) -> bool:
    return Explanation.objects.filter(
        feature=feature, type__name=type_name, explainer_model__name=model_name
    ).exists()


async def explain_feature_async(*, type_name: str, examples: list[Example], feature: Feature, llm) -> str:
    from autointerp.explainers import explain

    return await explain(
        type_name, examples, llm=llm, top_logits=[token_display(t) for t in feature.pos_str or []]
    )


def _write_explanation(*, feature, type_name, spec, model_name, description, user) -> Explanation:
    return feature_services.explanation_create(
        feature=feature,
        description=description,
        type_name=type_name,
        explainer_model_name=model_name,
        author=user if user is not None and user.is_authenticated else None,
        type_defaults={"display_name": spec.display_name, "description": spec.description},
    )


def explanation_generate(
    *, user, model_id: str, layer: str, index, type_name: str, explainer_model_name: str | None = None
) -> Explanation:
    """Explain one feature with ``type_name`` (Neuronpedia's ``/api/explanation/generate``)."""
    spec = check_explanation_type(type_name)
    feature = feature_selectors.feature_ref_get(
        model_name=model_id, source_name=layer, index=index, user=user
    )
    examples = feature_top_examples(feature=feature, n=spec.n_examples)
    if not examples:
        raise ValidationFailed("No activations found for this neuron", field="index")
    if not spec.uses_llm:
        model_name = TOP_TOKENS_MODEL
        endpoint = None
    else:
        from autointerp.keys import endpoint_for

        endpoint = endpoint_for(user=user, model=explainer_model_name or None, purpose="explainer")
        model_name = endpoint.model
    if explanation_exists(feature=feature, type_name=type_name, model_name=model_name):
        raise ValidationFailed("An auto-interp with this explanation type and model already exists.")

    async def run() -> str:
        if endpoint is None:
            return await explain_feature_async(
                type_name=type_name, examples=examples, feature=feature, llm=None
            )
        from autointerp.llm import LLMClient

        async with LLMClient(endpoint) as llm:
            return await explain_feature_async(
                type_name=type_name, examples=examples, feature=feature, llm=llm
            )

    description = asyncio.run(run())
    explanation = _write_explanation(
        feature=feature,
        type_name=type_name,
        spec=spec,
        model_name=model_name,
        description=description,
        user=user,
    )
    embed_on_commit([explanation.pk])
    return explanation


def explanation_human_create(*, user, model_id: str, layer: str, index, description: str) -> Explanation:
    """A human-written explanation (type ``human``, no explainer model)."""
    feature = feature_selectors.feature_ref_get(
        model_name=model_id, source_name=layer, index=index, user=user
    )
    explanation = feature_services.explanation_create(
        feature=feature,
        description=description,
        type_name=HUMAN,
        author=user,
        type_defaults={"display_name": "Human", "description": "Written by a person."},
    )
    embed_on_commit([explanation.pk])
    return explanation


# --- score --------------------------------------------------------------------------------------


def explanation_for_scoring(*, explanation_id, user) -> Explanation:
    try:
        pk = int(str(explanation_id))
    except (TypeError, ValueError):
        raise ValidationFailed(
            f"must be an integer explanation id, got {explanation_id!r}", field="explanationId"
        ) from None
    from models_app.models import Model, Source, SourceSet

    explanation = (
        Explanation.objects.select_related("feature", "feature__source", "feature__source__model")
        .filter(
            pk=pk,
            feature__source__in=Source.objects.visible_to(user),
            feature__source__model__in=Model.objects.visible_to(user),
            feature__source__source_set__in=SourceSet.objects.visible_to(user),
        )
        .exclude(status=Explanation.Status.HIDDEN)
        .first()
    )
    if explanation is None:
        raise NotFound(f"Explanation {explanation_id} not found.")
    return explanation


async def score_async(*, type_name: str, explanation: Explanation, top, zero, llm):
    from autointerp.scorers import score

    return await score(type_name, explanation.description, top, zero, llm=llm)


def explanation_score(
    *, user, explanation_id, scorer_type: str, scorer_model: str | None = None
) -> ExplanationScore:
    """Score an explanation (Neuronpedia's ``/api/explanation/score``); re-scoring adds a row."""
    spec = check_scorer_type(scorer_type)
    explanation = explanation_for_scoring(explanation_id=explanation_id, user=user)
    top = feature_top_examples(feature=explanation.feature, n=N_TOP)
    if not top:
        raise ValidationFailed("No activations found for this neuron", field="explanationId")
    zero = feature_zero_examples(feature=explanation.feature)
    endpoint = None
    if spec.uses_llm:
        from autointerp.keys import endpoint_for

        endpoint = endpoint_for(user=user, model=scorer_model or None, purpose="scorer")
        model_name = endpoint.model
    else:
        from autointerp.engines.embeddings import LOCAL_MODEL_NAME

        model_name = LOCAL_MODEL_NAME

    async def run():
        if endpoint is None:
            return await score_async(
                type_name=scorer_type, explanation=explanation, top=top, zero=zero, llm=None
            )
        from autointerp.llm import LLMClient

        async with LLMClient(endpoint) as llm:
            return await score_async(
                type_name=scorer_type, explanation=explanation, top=top, zero=zero, llm=llm
            )

    value, details = asyncio.run(run())
    return feature_services.explanation_score_create(
        explanation=explanation,
        score_type_name=scorer_type,
        scorer_model_name=model_name,
        value=value,
        details=details,
        author=user if user is not None and user.is_authenticated else None,
    )


# --- embeddings ---------------------------------------------------------------------------------


def explanations_embed(
    *,
    ids: list[int] | None = None,
    batch_size: int = 256,
    force: bool = False,
    progress=None,
    encode_batch_size: int = 64,
) -> int:
    """Embed explanations that have no embedding, or one from another model (or all, ``force``).
    Returns how many were written. ``progress(done, total)`` is called after each batch of
    ``batch_size`` rows (one write); the model encodes ``encode_batch_size`` texts at a time.

    Longest text first, as sentence-transformers orders the texts of one ``encode`` call: every
    model batch holds texts of similar length (little padding) although the rows are encoded and
    written a chunk at a time (bench/search compares this path with one bare ``encode`` call)."""
    from autointerp.engines.embeddings import get_embedder

    embedder = get_embedder()
    qs = Explanation.objects.all()
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    if not force:
        from django.db.models import Q

        qs = qs.filter(Q(embedding__isnull=True) | ~Q(embedding_model=embedder.name))
    pending = sorted(qs.order_by("pk").values_list("pk", "description"), key=lambda row: -len(row[1]))
    done = 0
    if progress is not None:
        progress(0, len(pending))
    chunks = [pending[start : start + batch_size] for start in range(0, len(pending), batch_size)]

    def encode(chunk):
        return embedder.encode([d for _, d in chunk], batch_size=min(batch_size, encode_batch_size))

    # The next chunk encodes in a thread while this one (which keeps the database connection)
    # writes the chunk before it: PostgreSQL updates the rows and the HNSW index in its own
    # process meanwhile (bench/search: the write was ~1/4 of the time when the two ran in turn).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-encode") as pool:
        future = pool.submit(encode, chunks[0]) if chunks else None
        for i, chunk in enumerate(chunks):
            vectors = future.result()
            if i + 1 < len(chunks):
                future = pool.submit(encode, chunks[i + 1])
            done += feature_services.explanation_embeddings_set(
                vectors={pk: v for (pk, _), v in zip(chunk, vectors, strict=True)}, model_name=embedder.name
            )
            if progress is not None:
                progress(done, len(pending))
    return done


def embed_on_commit(ids: list[int]) -> None:
    """After the write commits, queue the embedding of the new explanations as a job
    (``autointerp.embed_new`` on the cpu queue), so requests never wait for the model.
    ``manage.py embed_explanations`` (or its ``--enqueue`` job) backfills anything missed."""
    from django.conf import settings

    if not ids or not getattr(settings, "AUTOINTERP_EMBED_ON_WRITE", True):
        return

    def defer():
        from autointerp.tasks import embed_new_task

        embed_new_task.defer(ids=[int(i) for i in ids])

    transaction.on_commit(defer)
