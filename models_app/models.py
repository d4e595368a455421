"""Models, SAE releases, SAE sets and sources (one SAE / transcoder at one hook), evals.

Identifiers as users see them: model ``gpt2-small``, source set ``res-jb``, source ``6-res-jb``
(``"{layer}-{source set}"``). Surrogate integer keys, natural keys as unique constraints.
"""

from django.conf import settings
from django.db import models

from neuronsite.fields import Visibility

SLUG_RE = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"


def visibility_q(user, prefix: str = "", *, listed: bool = False) -> models.Q:
    """THE visibility rule, for the row at ``prefix`` (e.g. ``"source__model__"``): public and
    unlisted rows for everyone, private rows for their owner, everything for staff. ``listed``
    leaves unlisted rows out (reachable by link, not shown in lists) unless the user owns them."""
    if user is not None and user.is_authenticated and user.is_staff:
        return models.Q()
    shown = [Visibility.PUBLIC] if listed else [Visibility.PUBLIC, Visibility.UNLISTED]
    q = models.Q(**{f"{prefix}visibility__in": shown})
    if user is not None and user.is_authenticated:
        q |= models.Q(**{f"{prefix}owner": user})
    return q


def source_chain_visible_q(user, prefix: str = "source__", *, listed: bool = False) -> models.Q:
    """A row hanging off a Source (a feature, ``prefix="source__"``) is visible when its source,
    that source's model and its source set all are."""
    if user is not None and user.is_authenticated and user.is_staff:
        return models.Q()
    return (
        visibility_q(user, prefix, listed=listed)
        & visibility_q(user, f"{prefix}model__", listed=listed)
        & visibility_q(user, f"{prefix}source_set__", listed=listed)
    )


class VisibleQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Public and unlisted rows for everyone; private rows for their owner (and staff)."""
        return self.filter(visibility_q(user))

    def listed_to(self, user):
        """What lists and the home page show: public rows, plus the user's own."""
        return self.filter(visibility_q(user, listed=True))

    def editable_by(self, user):
        """Rows the user may change or add to: their own (staff: all)."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self if user.is_staff else self.filter(owner=user)


class Model(models.Model):
    name = models.CharField(max_length=128, unique=True, help_text="Model id, e.g. gpt2-small")
    display_name = models.CharField(max_length=200, blank=True)
    display_name_short = models.CharField(max_length=64, blank=True)
    creator_name = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="models"
    )
    layers = models.PositiveIntegerField(default=0)
    d_model = models.PositiveIntegerField(null=True, blank=True)
    tl_model_name = models.CharField(max_length=200, blank=True, help_text="TransformerLens model name")
    local_path = models.CharField(
        max_length=500, blank=True, help_text="Folder with a TransformerLens config, weights and tokenizer"
    )
    hf_model_id = models.CharField(max_length=200, blank=True)
    instruct = models.BooleanField(default=False)
    inference_enabled = models.BooleanField(default=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    default_source_set = models.ForeignKey(
        "SourceSet", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    default_source = models.ForeignKey(
        "Source", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def local_context_length(self) -> int | None:
        """``n_ctx`` from a local model folder's ``config.json``, or None (no folder, no value)."""
        if not self.local_path:
            return None
        import json
        from pathlib import Path

        try:
            n_ctx = json.loads((Path(self.local_path) / "config.json").read_text()).get("n_ctx")
        except (OSError, ValueError, AttributeError):
            return None
        return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None

    def inference_token_limit(self) -> int:
        """The longest text (tokens, BOS included) inference takes, as far as known without loading
        the model: ``min(INFERENCE_TOKEN_LIMIT, n_ctx of a local folder)`` (the engine enforces the
        same rule with the loaded model's context). Pages show it before sending."""
        from django.conf import settings

        limit = settings.INFERENCE_TOKEN_LIMIT
        n_ctx = self.local_context_length()
        return min(limit, n_ctx) if n_ctx else limit

    def __str__(self) -> str:
        return self.name


class SourceRelease(models.Model):
    """A published group of SAEs (e.g. one paper's release), possibly across models."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    description_short = models.CharField(max_length=300, blank=True)
    creator_name = models.CharField(max_length=200, blank=True)
    urls = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="releases"
    )
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    featured = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SourceSet(models.Model):
    """A family of SAEs on one model, one per layer (e.g. ``res-jb``)."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="source_sets")
    name = models.CharField(max_length=128)
    release = models.ForeignKey(
        SourceRelease, null=True, blank=True, on_delete=models.SET_NULL, related_name="source_sets"
    )
    type = models.CharField(max_length=64, blank=True, help_text="e.g. sae, transcoder, neurons, vectors")
    description = models.TextField(blank=True)
    creator_name = models.CharField(max_length=200, blank=True)
    urls = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="source_sets"
    )
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    has_dashboards = models.BooleanField(default=True)
    allow_inference_search = models.BooleanField(default=False)
    allow_steering = models.BooleanField(default=True)
    allow_graphs = models.BooleanField(default=False)
    show_umap = models.BooleanField(default=False)
    default_range_start = models.IntegerField(null=True, blank=True)
    default_range_end = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["model__name", "name"]
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="sourceset_model_name_uniq")]

    def __str__(self) -> str:
        return f"{self.model.name}/{self.name}" if "model" in self.__dict__ or self.model_id else self.name


class Source(models.Model):
    """One SAE or transcoder at one hook: ``{layer}-{source set}``."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="sources")
    source_set = models.ForeignKey(SourceSet, on_delete=models.CASCADE, related_name="sources")
    name = models.CharField(max_length=160, help_text='"{layer}-{source set}"')
    layer = models.IntegerField(default=0)
    hook_name = models.CharField(max_length=200, blank=True)
    sae_release = models.CharField(max_length=200, blank=True, help_text="sae_lens release")
    sae_id = models.CharField(max_length=300, blank=True, help_text="sae_lens SAE id within the release")
    local_path = models.CharField(
        max_length=500, blank=True, help_text="Local sae_lens folder (cfg.json + weights)"
    )
    config = models.JSONField(default=dict, blank=True, help_text="sae_lens config")
    architecture = models.CharField(max_length=64, blank=True)
    d_sae = models.PositiveIntegerField(null=True, blank=True)
    dataset = models.CharField(max_length=300, blank=True)
    num_prompts = models.PositiveIntegerField(null=True, blank=True)
    num_tokens_in_prompt = models.PositiveIntegerField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sources"
    )
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    inference_enabled = models.BooleanField(default=True)
    has_dashboards = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["model__name", "source_set__name", "layer"]
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="source_model_name_uniq")]
        indexes = [models.Index(fields=["source_set", "layer"])]

    def __str__(self) -> str:
        return self.name


class EvalType(models.Model):
    """A kind of SAE evaluation (SAEBench: core, absorption, sparse probing, ...)."""

    name = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    output_schema = models.JSONField(default=dict, blank=True)
    featured_metrics = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.name


class Eval(models.Model):
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="evals")
    type = models.ForeignKey(EvalType, on_delete=models.CASCADE, related_name="evals")
    output = models.JSONField(default=dict)
    detailed_metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "type"], name="eval_source_type_uniq")]
