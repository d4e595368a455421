"""Attribution graphs (circuit-tracer output) and user subgraphs. The graph JSON itself is a
gzip file in Django storage (local or S3); this table holds what lists and search need."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from models_app.models import VisibleQuerySet
from neuronsite.fields import Visibility


class GraphMetadata(models.Model):
    model = models.ForeignKey("models_app.Model", on_delete=models.CASCADE, related_name="graphs")
    slug = models.SlugField(max_length=200)
    prompt = models.TextField()
    prompt_tokens = ArrayField(models.TextField(), default=list, blank=True)
    title = models.CharField(max_length=300, blank=True)
    file = models.FileField(upload_to="graphs/", max_length=500, blank=True)
    source_set_name = models.CharField(
        max_length=128, blank=True, help_text="transcoder set the graph was traced with"
    )
    generation_settings = models.JSONField(default=dict, blank=True)
    pruning_settings = models.JSONField(default=dict, blank=True)
    is_featured = models.BooleanField(default=False)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="graphs"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["model", "slug"], name="graph_model_slug_uniq")]


class Subgraph(models.Model):
    graph = models.ForeignKey(GraphMetadata, on_delete=models.CASCADE, related_name="subgraphs")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="subgraphs"
    )
    display_name = models.CharField(max_length=300, blank=True)
    pinned_ids = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    supernodes = models.JSONField(default=list, blank=True)
    clerps = models.JSONField(default=list, blank=True)
    prune_threshold = models.FloatField(null=True, blank=True)
    density_threshold = models.FloatField(null=True, blank=True)
    pinned = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
