"""Stored results of inference: steering outputs (cached and shareable) and saved searches.

This module is plain Django: the engine that fills these rows lives in inference/engine and
is imported lazily.
"""

import secrets

from django.conf import settings as django_settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


def new_share_id() -> str:
    """An unguessable id for share URLs: 128 random bits (22 URL-safe characters). Sequential
    primary keys never appear in URLs, so stored results cannot be enumerated."""
    return secrets.token_urlsafe(16)


SHARE_ID_FIELD = dict(max_length=32, unique=True, default=new_share_id, editable=False)


class SteerOutput(models.Model):
    """One generated text, DEFAULT (no steering) or STEERED. ``cache_key`` is a hash of everything
    that determines the output, so a repeated request is served from here; the DEFAULT row's key
    leaves the features out, so it is shared by every feature set with the same settings."""

    class Kind(models.TextChoices):
        DEFAULT = "DEFAULT", "Default"
        STEERED = "STEERED", "Steered"

    model = models.ForeignKey("models_app.Model", on_delete=models.CASCADE, related_name="steer_outputs")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    cache_key = models.CharField(max_length=64, unique=True)
    share_id = models.CharField(**SHARE_ID_FIELD)
    chat = models.BooleanField(default=False)
    input_text = models.TextField(blank=True)
    input_chat = models.JSONField(default=list, blank=True)
    output_text = models.TextField(blank=True)
    output_chat = models.JSONField(default=list, blank=True)
    features = models.JSONField(
        default=list, blank=True, help_text="[{modelId, layer, index, strength}] or vectors"
    )
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="temperature, n_tokens, seed, freq_penalty, strength_multiplier, steer_method, ...",
    )
    logprobs = models.JSONField(
        null=True,
        blank=True,
        help_text="per generated token: {token, logprob, topLogprobs: [{token, id, logprob}]} (top 5); "
        "null for outputs stored before they were kept",
    )
    creator = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class SavedSearch(models.Model):
    """A search-via-inference result for one text, cached and shareable by URL."""

    model = models.ForeignKey("models_app.Model", on_delete=models.CASCADE, related_name="saved_searches")
    source_set = models.ForeignKey(
        "models_app.SourceSet", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    cache_key = models.CharField(max_length=64, unique=True)
    share_id = models.CharField(**SHARE_ID_FIELD)
    text = models.TextField()
    selected_sources = ArrayField(models.CharField(max_length=160), default=list, blank=True)
    sort_indexes = ArrayField(models.IntegerField(), default=list, blank=True)
    ignore_bos = models.BooleanField(default=True)
    density_threshold = models.FloatField(null=True, blank=True)
    num_results = models.PositiveIntegerField(default=50)
    result = models.JSONField(default=dict)
    creator = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
