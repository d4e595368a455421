from django.contrib import admin

from autointerp.models import AutointerpRun, UserLLMKey


@admin.register(AutointerpRun)
class AutointerpRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "source",
        "total",
        "done",
        "skipped",
        "failed",
        "calls",
        "started_at",
    )
    list_filter = ("kind", "status")
    raw_id_fields = ("source", "user")
    readonly_fields = ("failures", "params")
    show_full_result_count = False


@admin.register(UserLLMKey)
class UserLLMKeyAdmin(admin.ModelAdmin):
    list_display = ("user", "base_url", "default_model", "key_hint", "updated_at")
    exclude = ("encrypted_key",)  # never shown, not even to staff
    readonly_fields = ("key_hint",)
    raw_id_fields = ("user",)
