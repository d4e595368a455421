"""Writes to features and the social layer (comments, bookmarks, votes)."""

from __future__ import annotations

from django.db import transaction

from features.models import Bookmark, Comment, Explanation, Feature, List, ListComment, ListItem, Vote
from neuronsite.errors import NotFound, PermissionDenied, ValidationFailed
from neuronsite.fields import Visibility

MAX_COMMENT_LENGTH = 10_000


@transaction.atomic
def comment_create(*, user, feature: Feature, text: str) -> Comment:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed({"text": "must not be empty"})
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationFailed({"text": f"longer than {MAX_COMMENT_LENGTH} characters"})
    return Comment.objects.create(user=user, feature=feature, text=text)


@transaction.atomic
def comment_delete(*, user, comment_id: int) -> None:
    deleted, _ = Comment.objects.filter(pk=comment_id, user=user).delete()
    if not deleted:
        raise NotFound(f"Comment {comment_id} not found (or not yours).")


# --- votes, explanations, bookmarks -------------------------------------------------------------

MAX_LIST_NAME_LENGTH = 200
MAX_LIST_TEXT_LENGTH = 10_000
MAX_LIST_FEATURES_PER_CALL = 1_000


def _explanation_for_write(*, user, explanation_id) -> Explanation:
    """An explanation the user can see (the one visibility rule: its feature's source, model and
    source set); 404 otherwise, so private models' explanations are neither voted on nor probed."""

    try:
        pk = int(str(explanation_id))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed({"id": f"must be an integer explanation id, got {explanation_id!r}"}) from exc
    explanation = (
        Explanation.objects.visible_to(user).filter(pk=pk).exclude(status=Explanation.Status.HIDDEN).first()
    )
    if explanation is None:
        raise NotFound(f"Explanation {explanation_id} not found.")
    return explanation


@transaction.atomic
def explanation_vote(*, user, explanation_id) -> int:
    """Up-vote an explanation (idempotent). Returns the explanation's vote count."""

    explanation = _explanation_for_write(user=user, explanation_id=explanation_id)
    Vote.objects.get_or_create(explanation=explanation, user=user)
    return Vote.objects.filter(explanation=explanation).count()


@transaction.atomic
def explanation_unvote(*, user, explanation_id) -> int:

    explanation = _explanation_for_write(user=user, explanation_id=explanation_id)
    Vote.objects.filter(explanation=explanation, user=user).delete()
    return Vote.objects.filter(explanation=explanation).count()


@transaction.atomic
def explanation_delete(*, user, explanation_id) -> None:
    """Authors delete their own explanations; staff delete any."""
    explanation = _explanation_for_write(user=user, explanation_id=explanation_id)
    if explanation.author_id != user.pk and not user.is_staff:
        raise PermissionDenied(f"Explanation {explanation_id} is not yours to delete.")
    explanation.delete()


@transaction.atomic
def bookmark_add(*, user, feature: Feature) -> Bookmark:

    bookmark, _ = Bookmark.objects.get_or_create(user=user, feature=feature)
    return bookmark


@transaction.atomic
def bookmark_delete(*, user, feature: Feature) -> None:

    deleted, _ = Bookmark.objects.filter(user=user, feature=feature).delete()
    if not deleted:
        raise NotFound("That feature is not bookmarked.")


# --- lists --------------------------------------------------------------------------------------


def _clean_list_fields(*, name=None, description=None, test_text=None, visibility=None) -> dict:
    fields: dict = {}
    if name is not None:
        name = str(name).strip()
        if not name:
            raise ValidationFailed({"name": "must not be empty"})
        if len(name) > MAX_LIST_NAME_LENGTH:
            raise ValidationFailed({"name": f"longer than {MAX_LIST_NAME_LENGTH} characters"})
        fields["name"] = name
    for key, value, column in (
        ("description", description, "description"),
        ("testText", test_text, "default_test_text"),
    ):
        if value is not None:
            value = str(value)
            if len(value) > MAX_LIST_TEXT_LENGTH:
                raise ValidationFailed({key: f"longer than {MAX_LIST_TEXT_LENGTH} characters"})
            fields[column] = value
    if visibility is not None:
        visibility = str(visibility).upper()
        if visibility not in Visibility.values:
            raise ValidationFailed({"visibility": f"must be one of {', '.join(Visibility.values)}"})
        fields["visibility"] = visibility
    return fields


def _list_owned(*, user, list_id) -> List:

    try:
        pk = int(str(list_id))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed({"listId": f"must be an integer list id, got {list_id!r}"}) from exc
    lst = List.objects.select_for_update().filter(pk=pk, owner=user).first()
    if lst is None:
        raise NotFound(f"List {list_id} not found (or not yours).")
    return lst


@transaction.atomic
def list_create(
    *, user, name: str, description: str = "", test_text: str = "", visibility: str | None = None
) -> List:

    fields = _clean_list_fields(
        name=name, description=description or "", test_text=test_text or "", visibility=visibility
    )
    return List.objects.create(owner=user, **fields)


@transaction.atomic
def list_update(*, user, list_id, name=None, description=None, test_text=None, visibility=None) -> List:
    lst = _list_owned(user=user, list_id=list_id)
    fields = _clean_list_fields(
        name=name, description=description, test_text=test_text, visibility=visibility
    )
    for key, value in fields.items():
        setattr(lst, key, value)
    lst.save()
    return lst


@transaction.atomic
def list_delete(*, user, list_id) -> None:
    _list_owned(user=user, list_id=list_id).delete()


@transaction.atomic
def list_features_add(*, user, list_id, features: list[tuple[Feature, str]]) -> list[ListItem]:
    """Add ``(feature, note)`` pairs; a feature already in the list keeps its item (its note is
    updated when a new one is given). Returns the items for the given features, in order."""

    if len(features) > MAX_LIST_FEATURES_PER_CALL:
        raise ValidationFailed({"featuresToAdd": f"at most {MAX_LIST_FEATURES_PER_CALL} per call"})
    lst = _list_owned(user=user, list_id=list_id)
    existing = {item.feature_id: item for item in ListItem.objects.filter(list=lst)}
    items = []
    for feature, note in features:
        note = (note or "")[:MAX_LIST_TEXT_LENGTH]
        item = existing.get(feature.pk)
        if item is None:
            item = ListItem.objects.create(list=lst, feature=feature, note=note)
            existing[feature.pk] = item
        elif note and note != item.note:
            item.note = note
            item.save(update_fields=["note"])
        item.feature = feature
        items.append(item)
    lst.save(update_fields=["updated_at"])
    return items


@transaction.atomic
def list_feature_remove(*, user, list_id, feature: Feature) -> None:

    lst = _list_owned(user=user, list_id=list_id)
    deleted, _ = ListItem.objects.filter(list=lst, feature=feature).delete()
    if not deleted:
        raise NotFound("That feature is not in the list.")
    lst.save(update_fields=["updated_at"])


@transaction.atomic
def list_item_note_update(*, user, list_id, item_id: int, note: str) -> ListItem:

    lst = _list_owned(user=user, list_id=list_id)
    item = ListItem.objects.filter(pk=item_id, list=lst).first()
    if item is None:
        raise NotFound(f"Item {item_id} is not in list {list_id}.")
    note = note or ""
    if len(note) > MAX_LIST_TEXT_LENGTH:
        raise ValidationFailed({"note": f"longer than {MAX_LIST_TEXT_LENGTH} characters"})
    item.note = note
    item.save(update_fields=["note"])
    return item


@transaction.atomic
def list_comment_create(*, user, lst: List, text: str) -> ListComment:

    text = (text or "").strip()
    if not text:
        raise ValidationFailed({"text": "must not be empty"})
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationFailed({"text": f"longer than {MAX_COMMENT_LENGTH} characters"})
    return ListComment.objects.create(user=user, list=lst, text=text)


@transaction.atomic
def list_comment_delete(*, user, comment_id: int) -> None:

    deleted, _ = ListComment.objects.filter(pk=comment_id, user=user).delete()
    if not deleted:
        raise NotFound(f"Comment {comment_id} not found (or not yours).")


# --- explanations written by autointerp (helper F): generated, human, scores, embeddings --------


@transaction.atomic
def explanation_create(
    *,
    feature: Feature,
    description: str,
    type_name: str,
    explainer_model_name: str | None = None,
    author=None,
    type_defaults: dict | None = None,
) -> Explanation:
    from features.models import ExplainerModel, ExplanationType

    description = (description or "").strip()
    if not description:
        raise ValidationFailed({"description": "must not be empty"})
    if len(description) > MAX_COMMENT_LENGTH:
        raise ValidationFailed({"description": f"longer than {MAX_COMMENT_LENGTH} characters"})
    etype, _ = ExplanationType.objects.get_or_create(name=type_name, defaults=type_defaults or {})
    model = None
    if explainer_model_name:
        model, _ = ExplainerModel.objects.get_or_create(name=explainer_model_name)
    return Explanation.objects.create(
        feature=feature, description=description, type=etype, explainer_model=model, author=author
    )


@transaction.atomic
def explanation_score_create(
    *,
    explanation: Explanation,
    score_type_name: str,
    scorer_model_name: str | None,
    value: float,
    details,
    author=None,
):
    from features.models import ExplainerModel, ExplanationScore, ExplanationScoreType

    if not 0.0 <= float(value) <= 1.0:
        raise ValidationFailed({"value": f"must be within [0, 1], got {value!r}"})
    stype, _ = ExplanationScoreType.objects.get_or_create(name=score_type_name)
    model = None
    if scorer_model_name:
        model, _ = ExplainerModel.objects.get_or_create(name=scorer_model_name)
    return ExplanationScore.objects.create(
        explanation=explanation,
        score_type=stype,
        scorer_model=model,
        value=float(value),
        details=details,
        author=author,
    )


@transaction.atomic
def explanation_embeddings_set(*, vectors: dict[int, list[float]], model_name: str) -> int:
    """Store embeddings (by explanation id) and the name of the model that produced them."""
    rows = list(Explanation.objects.filter(pk__in=list(vectors)))
    for row in rows:
        row.embedding = vectors[row.pk]
        row.embedding_model = model_name
    Explanation.objects.bulk_update(rows, ["embedding", "embedding_model"], batch_size=1000)
    return len(rows)


@transaction.atomic
def explanations_create_bulk(
    *,
    rows: list[tuple[Feature, str]],
    type_name: str,
    explainer_model_name: str | None,
    author=None,
    type_defaults: dict | None = None,
) -> list[int]:
    """Many ``(feature, description)`` explanations of one type and model in one INSERT; their ids.

    One ``INSERT ... SELECT FROM unnest(arrays)`` with two array parameters rather than
    ``bulk_create`` (which builds and binds a placeholder per field per row): a batch autointerp
    run writes while its LLM calls are in flight in the same process, and the ORM's per-row
    Python work took the GIL from them (bench/autointerp)."""
    from django.db import connection
    from django.utils import timezone

    from features.models import ExplainerModel, ExplanationType

    etype, _ = ExplanationType.objects.get_or_create(name=type_name, defaults=type_defaults or {})
    model = (
        ExplainerModel.objects.get_or_create(name=explainer_model_name)[0] if explainer_model_name else None
    )
    feature_ids, descriptions = [], []
    for feature, description in rows:
        description = (description or "").strip()[:MAX_COMMENT_LENGTH]
        if description:
            feature_ids.append(feature.pk)
            descriptions.append(description)
    if not feature_ids:
        return []
    table = connection.ops.quote_name(Explanation._meta.db_table)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (feature_id, description, type_id, explainer_model_id, author_id,
                    notes, status, embedding_model, created_at, updated_at)
                SELECT f, d, %s, %s, %s, '', %s, '', %s, %s
                FROM unnest(%s::bigint[], %s::text[]) AS r(f, d)
                RETURNING id""",
            [
                etype.pk, model.pk if model else None, author.pk if author else None,
                Explanation.Status.APPROVED, now, now, feature_ids, descriptions,
            ],
        )  # fmt: skip
        return [row[0] for row in cursor.fetchall()]


@transaction.atomic
def explanation_scores_create_bulk(
    *,
    rows: list[tuple[Explanation, float, object]],
    score_type_name: str,
    scorer_model_name: str | None,
    author=None,
) -> int:
    """Many ``(explanation, value, details)`` scores of one type and model in one INSERT."""
    from features.models import ExplainerModel, ExplanationScore, ExplanationScoreType

    stype, _ = ExplanationScoreType.objects.get_or_create(name=score_type_name)
    model = ExplainerModel.objects.get_or_create(name=scorer_model_name)[0] if scorer_model_name else None
    objs = []
    for explanation, value, details in rows:
        if not 0.0 <= float(value) <= 1.0:
            raise ValidationFailed({"value": f"must be within [0, 1], got {value!r}"})
        objs.append(
            ExplanationScore(
                explanation=explanation,
                score_type=stype,
                scorer_model=model,
                value=float(value),
                details=details,
                author=author,
            )
        )
    return len(ExplanationScore.objects.bulk_create(objs))
