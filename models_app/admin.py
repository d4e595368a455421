from django.contrib import admin, messages

from models_app import services
from models_app.models import Eval, EvalType, Model, Source, SourceRelease, SourceSet
from neuronsite.admin_actions import VISIBILITY_ACTIONS


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "display_name",
        "layers",
        "d_model",
        "tl_model_name",
        "instruct",
        "inference_enabled",
        "visibility",
    )
    list_filter = ("visibility", "instruct", "inference_enabled")
    search_fields = ("name", "display_name", "tl_model_name", "creator_name")
    raw_id_fields = ("owner", "default_source_set", "default_source")
    actions = VISIBILITY_ACTIONS


@admin.register(SourceRelease)
class SourceReleaseAdmin(admin.ModelAdmin):
    list_display = ("name", "creator_name", "featured", "visibility", "created_at")
    list_filter = ("visibility", "featured")
    search_fields = ("name", "description", "creator_name")
    raw_id_fields = ("owner",)
    actions = VISIBILITY_ACTIONS


@admin.register(SourceSet)
class SourceSetAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "model",
        "type",
        "release",
        "visibility",
        "has_dashboards",
        "allow_inference_search",
    )
    list_filter = ("visibility", "type", "has_dashboards", "allow_inference_search", "allow_graphs", "model")
    search_fields = ("name", "model__name", "description", "creator_name")
    list_select_related = ("model", "release")
    raw_id_fields = ("model", "release", "owner")
    actions = VISIBILITY_ACTIONS


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "model",
        "source_set",
        "layer",
        "hook_name",
        "d_sae",
        "architecture",
        "visibility",
        "inference_enabled",
    )
    list_filter = ("visibility", "inference_enabled", "architecture", "model")
    search_fields = ("name", "hook_name", "sae_release", "sae_id", "model__name")
    list_select_related = ("model", "source_set")
    raw_id_fields = ("model", "source_set", "owner")

    @admin.action(description="Delete all features (and activations, explanations) of selected sources")
    def delete_features(self, request, queryset):
        total = 0
        for source in queryset:
            total += services.source_features_delete(source=source)
        self.message_user(request, f"Deleted {total} feature(s).", messages.SUCCESS)

    actions = [*VISIBILITY_ACTIONS, "delete_features"]


@admin.register(EvalType)
class EvalTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "display_name")
    search_fields = ("name", "display_name")


@admin.register(Eval)
class EvalAdmin(admin.ModelAdmin):
    list_display = ("source", "type", "created_at")
    list_filter = ("type",)
    search_fields = ("source__name", "source__model__name")
    raw_id_fields = ("source",)
    list_select_related = ("source", "type")
