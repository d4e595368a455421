"""Features (SAE latents, transcoder latents, neurons, user vectors), their top activations,
explanations with scores and votes, and the social layer: lists, comments, bookmarks."""

from django.conf import settings as django_settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models.functions import Cast
from pgvector.django import HalfVectorField, HnswIndex, VectorField

from models_app.models import VisibleQuerySet, source_chain_visible_q
from neuronsite.fields import RealField, Visibility

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2


def _float_array(**kwargs):
    return ArrayField(RealField(), default=list, blank=True, **kwargs)


def _int_array(**kwargs):
    return ArrayField(models.IntegerField(), default=list, blank=True, **kwargs)


def _text_array(**kwargs):
    return ArrayField(models.TextField(), default=list, blank=True, **kwargs)


class SourceChainQuerySet(models.QuerySet):
    """Rows that hang off a feature (or are one): visible when the feature's source, model and
    source set are (models_app.models.visibility_q is the one rule)."""

    chain_prefix = "source__"

    def visible_to(self, user):
        return self.filter(source_chain_visible_q(user, self.chain_prefix))

    def listed_to(self, user):
        return self.filter(source_chain_visible_q(user, self.chain_prefix, listed=True))


class FeatureQuerySet(SourceChainQuerySet):
    chain_prefix = "source__"


class FeatureChildQuerySet(SourceChainQuerySet):
    chain_prefix = "feature__source__"


class Feature(models.Model):
    """One latent of a source: ``(model, source, index)``. Dashboard statistics use the column
    names of SAEDashboard / Neuronpedia so imports and exports map one to one."""

    source = models.ForeignKey("models_app.Source", on_delete=models.CASCADE, related_name="features")
    index = models.IntegerField()
    max_act_approx = models.FloatField(null=True, blank=True)
    frac_nonzero = models.FloatField(null=True, blank=True, help_text="activation density")
    pos_str = _text_array()
    pos_values = _float_array()
    neg_str = _text_array()
    neg_values = _float_array()
    freq_hist_data_bar_heights = _float_array()
    freq_hist_data_bar_values = _float_array()
    logits_hist_data_bar_heights = _float_array()
    logits_hist_data_bar_values = _float_array()
    neuron_alignment_indices = _int_array()
    neuron_alignment_values = _float_array()
    neuron_alignment_l1 = _float_array()
    correlated_neurons_indices = _int_array()
    correlated_neurons_pearson = _float_array()
    correlated_neurons_l1 = _float_array()
    correlated_features_indices = _int_array()
    correlated_features_pearson = _float_array()
    correlated_features_l1 = _float_array()
    decoder_weights_dist = _float_array()
    topk_cos_sim_indices = _int_array(help_text="nearest features by decoder cosine similarity")
    topk_cos_sim_values = _float_array()
    activation_quantiles = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"0.9999": 3.1, "0.99999": 4.2}'
    )
    umap_x = models.FloatField(null=True, blank=True)
    umap_y = models.FloatField(null=True, blank=True)
    umap_cluster = models.IntegerField(null=True, blank=True)
    umap_log_feature_sparsity = models.FloatField(null=True, blank=True)
    # Steering vectors: user-uploaded vectors are features of "{layer}-neuronpedia-resid-*" sources.
    has_vector = models.BooleanField(default=False)
    vector = ArrayField(RealField(), null=True, blank=True)
    vector_label = models.CharField(max_length=300, blank=True)
    vector_default_steer_strength = models.FloatField(null=True, blank=True)
    hook_name = models.CharField(max_length=200, blank=True)
    creator = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="features",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FeatureQuerySet.as_manager()

    class Meta:
        ordering = ["source_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["source", "index"], name="feature_source_index_uniq"),
            models.CheckConstraint(condition=models.Q(index__gte=0), name="feature_index_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}/{self.index}"


class Activation(models.Model):
    """One top-activating snippet of a feature. The biggest table: bulk-loaded with COPY."""

    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="activations")
    tokens = _text_array(help_text="raw tokenizer strings (e.g. byte-level BPE 'Ġthe')")
    values = _float_array()
    max_value = RealField(default=0)
    max_value_token_index = models.IntegerField(default=0)
    min_value = RealField(default=0)
    bin_min = RealField(null=True, blank=True)
    bin_max = RealField(null=True, blank=True)
    bin_contains = RealField(null=True, blank=True)
    qualifying_token_index = models.IntegerField(null=True, blank=True)
    data_source = models.CharField(max_length=200, blank=True)
    data_index = models.BigIntegerField(null=True, blank=True)
    dfa_values = _float_array()
    dfa_target_index = models.IntegerField(null=True, blank=True)
    dfa_max_value = RealField(null=True, blank=True)
    creator = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["feature", "-max_value"], name="activation_feature_max")]


class ExplanationType(models.Model):
    """The method that produced an explanation (e.g. oai_token-act-pair, delphi, top-tokens)."""

    name = models.CharField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    url = models.URLField(blank=True)
    creator_name = models.CharField(max_length=200, blank=True)
    settings = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.name


class ExplainerModel(models.Model):
    """The LLM (or deterministic program) that wrote or scored explanations."""

    name = models.CharField(max_length=200, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    creator_name = models.CharField(max_length=200, blank=True)
    url = models.URLField(blank=True)

    def __str__(self) -> str:
        return self.name


class ExplanationScoreType(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text="e.g. detection, fuzz, recall, embedding")
    display_name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    url = models.URLField(blank=True)

    def __str__(self) -> str:
        return self.name


class Explanation(models.Model):
    class Status(models.TextChoices):
        APPROVED = "APPROVED", "Approved"
        PENDING = "PENDING", "Pending review"
        HIDDEN = "HIDDEN", "Hidden"

    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="explanations")
    description = models.TextField()
    type = models.ForeignKey(
        ExplanationType, null=True, blank=True, on_delete=models.SET_NULL, related_name="explanations"
    )
    explainer_model = models.ForeignKey(
        ExplainerModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="explanations"
    )
    author = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="explanations",
    )
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.APPROVED)
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    embedding_model = models.CharField(
        max_length=200, blank=True, default="", db_default="", help_text="what produced `embedding`"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FeatureChildQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["feature", "-created_at"], name="explanation_feature"),
            # semantic search walks the embeddings as halfvec (half the bytes per visited vector;
            # the ranking orders by the same expression and reports the float32 cosine):
            # features 0004, autointerp.selectors.SEARCH_ORDER_SQL
            HnswIndex(
                OpClass(
                    Cast("embedding", HalfVectorField(dimensions=EMBEDDING_DIM)),
                    name="halfvec_cosine_ops",
                ),
                name="explanation_embedding_half_hnsw",
                m=16,
                ef_construction=128,
            ),
        ]

    def __str__(self) -> str:
        return self.description[:80]


class ExplanationScore(models.Model):
    explanation = models.ForeignKey(Explanation, on_delete=models.CASCADE, related_name="scores")
    score_type = models.ForeignKey(ExplanationScoreType, on_delete=models.PROTECT, related_name="scores")
    scorer_model = models.ForeignKey(
        ExplainerModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="scores"
    )
    value = models.FloatField()
    details = models.JSONField(default=dict, blank=True)
    author = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(value__gte=0) & models.Q(value__lte=1), name="score_value_0_1"
            ),
        ]
        indexes = [models.Index(fields=["explanation", "score_type"])]


class Vote(models.Model):
    explanation = models.ForeignKey(Explanation, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["explanation", "user"], name="vote_uniq")]


class List(models.Model):
    owner = models.ForeignKey(django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lists")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    default_test_text = models.TextField(blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.UNLISTED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    features = models.ManyToManyField(Feature, through="ListItem", related_name="lists")

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="list_owner")]

    def __str__(self) -> str:
        return self.name


class ListItem(models.Model):
    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="items")
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="list_items")
    note = models.TextField(blank=True)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["added_at"]
        constraints = [models.UniqueConstraint(fields=["list", "feature"], name="listitem_uniq")]


class ListComment(models.Model):
    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="comments")
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="list_comments"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class Comment(models.Model):
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="comments")
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FeatureChildQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["feature", "created_at"], name="comment_feature")]


class Bookmark(models.Model):
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bookmarks"
    )
    feature = models.ForeignKey(Feature, on_delete=models.CASCADE, related_name="bookmarks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "feature"], name="bookmark_uniq")]


class ImportLedger(models.Model):
    """One imported batch (a file, or an API upload): written in the same transaction as the
    batch's rows, so a batch is either fully imported and recorded, or neither. Re-runs skip
    keys already recorded with the same checksum; a new checksum re-imports (replacing)."""

    key = models.CharField(max_length=1000, unique=True, help_text="kind:path or kind:natural key")
    checksum = models.CharField(max_length=64, help_text="sha256 of the batch's bytes")
    kind = models.CharField(max_length=40, blank=True)
    source = models.ForeignKey(
        "models_app.Source", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    features = models.IntegerField(default=0)
    activations = models.IntegerField(default=0)
    explanations = models.IntegerField(default=0)
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return f"{self.key} ({self.checksum[:12]})"
