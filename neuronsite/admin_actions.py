"""Admin actions shared by the apps whose rows have a visibility."""

from django.contrib import admin, messages

from neuronsite.fields import Visibility


def _set_visibility(value: str, label: str):
    @admin.action(description=f"Make selected {label}", permissions=["change"])
    def action(modeladmin, request, queryset):
        updated = queryset.update(visibility=value)
        modeladmin.message_user(request, f"{updated} row(s) now {value.lower()}.", messages.SUCCESS)

    action.__name__ = f"make_{value.lower()}"
    return action


make_public = _set_visibility(Visibility.PUBLIC, "public")
make_unlisted = _set_visibility(Visibility.UNLISTED, "unlisted")
make_private = _set_visibility(Visibility.PRIVATE, "private")
VISIBILITY_ACTIONS = [make_public, make_unlisted, make_private]
