"""Explanations and scores live in features.models; autointerp owns per-user LLM keys and the
records of batch runs."""

from django.conf import settings as django_settings
from django.db import models


class UserLLMKey(models.Model):
    """A user's own OpenAI-compatible provider: base URL, default model and the API key,
    encrypted at rest with Fernet (``autointerp.keys``); the key is never shown again."""

    user = models.OneToOneField(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="llm_key"
    )
    base_url = models.URLField(max_length=500)
    default_model = models.CharField(max_length=200, blank=True)
    encrypted_key = models.BinaryField()
    key_hint = models.CharField(max_length=12, blank=True, help_text="last characters, to recognise the key")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id} → {self.base_url}"


class AutointerpRun(models.Model):
    """One batch run (generate or score) over a source: parameters, counts, per-feature failures."""

    class Kind(models.TextChoices):
        GENERATE = "generate", "Generate explanations"
        SCORE = "score", "Score explanations"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    source = models.ForeignKey("models_app.Source", null=True, on_delete=models.SET_NULL, related_name="+")
    params = models.JSONField(default=dict, blank=True)
    total = models.IntegerField(default=0)
    done = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    calls = models.IntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True, help_text='[{"index": 3, "error": "..."}]')
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
