from django.contrib import admin

from inference.models import SavedSearch, SteerOutput


@admin.register(SteerOutput)
class SteerOutputAdmin(admin.ModelAdmin):
    list_display = ("id", "model", "kind", "chat", "created_at")
    list_filter = ("kind", "chat", "model")
    search_fields = ("input_text", "output_text", "cache_key")
    raw_id_fields = ("model", "creator")
    show_full_result_count = False


@admin.register(SavedSearch)
class SavedSearchAdmin(admin.ModelAdmin):
    list_display = ("id", "model", "source_set", "text", "created_at")
    list_filter = ("model",)
    search_fields = ("text", "cache_key")
    raw_id_fields = ("model", "source_set", "creator")
    show_full_result_count = False


import inference.admin_dashboards  # noqa: E402,F401  (/admin/dashboards/ and the "Generate dashboards" action on Source)
