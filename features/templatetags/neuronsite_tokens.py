"""Template helpers for token display: byte-level BPE markers to readable text, and the
colour of an activation value scaled to the feature's maximum."""

from django import template
from django.utils.html import format_html

from features.tokens import token_display

register = template.Library()


@register.filter
def display_token(raw: str) -> str:
    return token_display(raw)


@register.simple_tag
def token_span(token: str, value: float, max_value: float):
    strength = 0.0 if not max_value or value <= 0 else min(1.0, value / max_value)
    text = token_display(token)
    return format_html(
        '<span class="tok" style="background: rgba(34, 139, 34, {})" title="{}">{}</span>',
        f"{strength:.3f}",
        f"{value:.3f}",
        text,
    )
