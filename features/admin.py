from django.contrib import admin

from features.models import (
    Activation,
    Bookmark,
    Comment,
    ExplainerModel,
    Explanation,
    ExplanationScore,
    ExplanationScoreType,
    ExplanationType,
    Feature,
    List,
    ListComment,
    ListItem,
    Vote,
)
from neuronsite.admin_actions import VISIBILITY_ACTIONS


@admin.register(Feature)
class FeatureAdmin(admin.ModelAdmin):
    list_display = ("__str__", "source", "index", "max_act_approx", "frac_nonzero", "has_vector")
    list_filter = ("has_vector",)
    search_fields = ("=index", "source__name", "vector_label")
    list_select_related = ("source",)
    raw_id_fields = ("source", "creator")
    show_full_result_count = False
    exclude = ("vector",)


@admin.register(Activation)
class ActivationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "feature",
        "max_value",
        "max_value_token_index",
        "bin_min",
        "bin_max",
        "data_source",
    )
    raw_id_fields = ("feature", "creator")
    show_full_result_count = False
    search_fields = ("=feature__id",)


class ExplanationScoreInline(admin.TabularInline):
    model = ExplanationScore
    extra = 0
    raw_id_fields = ("author",)


@admin.register(Explanation)
class ExplanationAdmin(admin.ModelAdmin):
    list_display = ("description", "feature", "type", "explainer_model", "author", "status", "created_at")
    list_filter = ("status", "type", "explainer_model")
    search_fields = ("description",)
    list_select_related = ("feature", "type", "explainer_model", "author")
    raw_id_fields = ("feature", "author")
    show_full_result_count = False
    exclude = ("embedding",)
    inlines = [ExplanationScoreInline]
    actions = ["approve", "hide", "mark_pending"]

    @admin.action(description="Approve selected explanations")
    def approve(self, request, queryset):
        self.message_user(request, f"{queryset.update(status=Explanation.Status.APPROVED)} approved.")

    @admin.action(description="Hide selected explanations")
    def hide(self, request, queryset):
        self.message_user(request, f"{queryset.update(status=Explanation.Status.HIDDEN)} hidden.")

    @admin.action(description="Mark selected explanations as pending review")
    def mark_pending(self, request, queryset):
        self.message_user(request, f"{queryset.update(status=Explanation.Status.PENDING)} marked pending.")


@admin.register(ExplanationType, ExplainerModel, ExplanationScoreType)
class NamedAdmin(admin.ModelAdmin):
    list_display = ("name", "display_name")
    search_fields = ("name", "display_name")


@admin.register(ExplanationScore)
class ExplanationScoreAdmin(admin.ModelAdmin):
    list_display = ("explanation", "score_type", "scorer_model", "value", "created_at")
    list_filter = ("score_type", "scorer_model")
    raw_id_fields = ("explanation", "author")
    show_full_result_count = False


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("explanation", "user", "created_at")
    raw_id_fields = ("explanation", "user")


class ListItemInline(admin.TabularInline):
    model = ListItem
    extra = 0
    raw_id_fields = ("feature",)


@admin.register(List)
class ListAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "visibility", "updated_at")
    list_filter = ("visibility",)
    search_fields = ("name", "description", "owner__username")
    raw_id_fields = ("owner",)
    inlines = [ListItemInline]
    list_select_related = ("owner",)
    actions = VISIBILITY_ACTIONS


@admin.register(ListComment)
class ListCommentAdmin(admin.ModelAdmin):
    list_display = ("list", "user", "text", "created_at")
    raw_id_fields = ("list", "user")
    search_fields = ("text",)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("feature", "user", "text", "created_at")
    raw_id_fields = ("feature", "user")
    search_fields = ("text", "user__username")
    show_full_result_count = False


@admin.register(Bookmark)
class BookmarkAdmin(admin.ModelAdmin):
    list_display = ("feature", "user", "created_at")
    raw_id_fields = ("feature", "user")
