from django.contrib import admin

from monitor.models import Conversation, SteeringSpec


class SteeringSpecInline(admin.TabularInline):
    model = SteeringSpec
    extra = 0


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "model", "owner", "title", "mode", "updated_at")
    list_filter = ("mode", "model")
    search_fields = ("title", "owner__username")
    raw_id_fields = ("owner",)
    inlines = [SteeringSpecInline]
