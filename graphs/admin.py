from django.contrib import admin

from graphs.models import GraphMetadata, Subgraph
from neuronsite.admin_actions import VISIBILITY_ACTIONS


@admin.register(GraphMetadata)
class GraphMetadataAdmin(admin.ModelAdmin):
    list_display = ("slug", "model", "prompt", "is_featured", "visibility", "owner", "created_at")
    list_filter = ("visibility", "is_featured", "model")
    search_fields = ("slug", "prompt", "title")
    raw_id_fields = ("model", "owner")
    actions = VISIBILITY_ACTIONS


@admin.register(Subgraph)
class SubgraphAdmin(admin.ModelAdmin):
    list_display = ("id", "graph", "display_name", "owner", "pinned", "updated_at")
    raw_id_fields = ("graph", "owner")
    search_fields = ("display_name",)
