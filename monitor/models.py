"""The chat monitor (issue 15): conversations with a model, watched through chosen sources, and the
steering specs a user built by describing concepts. Per-token activations are computed by the
inference engine on demand and are not stored."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Conversation(models.Model):
    class Mode(models.TextChoices):
        CHAT = "chat", "Chat (the model's chat template)"
        COMPLETION = "completion", "Completion (plain text)"

    model = models.ForeignKey("models_app.Model", on_delete=models.CASCADE, related_name="conversations")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="conversations",
    )
    anon_key = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="cookie key of an anonymous visitor's conversations",
    )
    title = models.CharField(max_length=200, blank=True)
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.CHAT)
    source_ids = ArrayField(
        models.CharField(max_length=128),
        default=list,
        blank=True,
        help_text='watched sources, e.g. ["3-res-demo"]',
    )
    messages = models.JSONField(
        default=list, blank=True, help_text='[{"role": "user"|"assistant", "content": str}]'
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title or f"conversation {self.pk}"


class SteeringSpec(models.Model):
    """One "steer by description" entry: the concept typed, the features it matched, how to steer."""

    class Mode(models.TextChoices):
        STRENGTHEN = "strengthen", "Strengthen (clamp to strength × top quantile)"
        SUPPRESS = "suppress", "Suppress (clamp to 0)"
        ADD = "add", "Add (Neuronpedia's additive steering)"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="steering_specs")
    description = models.CharField(max_length=300)
    exclude = models.JSONField(
        default=list, blank=True, help_text="phrases the features were searched NOT to be about"
    )
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.STRENGTHEN)
    strength = models.FloatField(default=0.75)
    features = models.JSONField(default=list, blank=True, help_text='[{"source": "3-res-demo", "index": 12}]')
    positions = models.JSONField(
        default=dict, blank=True, help_text='{"prompt": [[start, end], ...], "generated": true}'
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.mode} “{self.description}”"
