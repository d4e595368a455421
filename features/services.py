"""Writes to features and the social layer (comments, bookmarks, votes)."""

from __future__ import annotations

from django.db import transaction
from rest_framework.exceptions import NotFound, ValidationError

from features.models import Comment, Feature

MAX_COMMENT_LENGTH = 10_000


@transaction.atomic
def comment_create(*, user, feature: Feature, text: str) -> Comment:
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "must not be empty"})
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationError({"text": f"longer than {MAX_COMMENT_LENGTH} characters"})
    return Comment.objects.create(user=user, feature=feature, text=text)


@transaction.atomic
def comment_delete(*, user, comment_id: int) -> None:
    deleted, _ = Comment.objects.filter(pk=comment_id, user=user).delete()
    if not deleted:
        raise NotFound(f"Comment {comment_id} not found (or not yours).")
