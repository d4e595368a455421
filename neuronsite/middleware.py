"""Text PostgreSQL cannot take, refused before any view runs.

A NUL character (``%00``) in the path or the query string reached lookups such as
``/user/%00/`` or ``/search?q=%00`` and PostgreSQL answered "text fields cannot contain NUL" (500).
Nothing legitimate carries one: 400 (JSON ``{"error": ...}`` under ``/api/``, plain text elsewhere).
"""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        field = _nul_field(request)
        if field is not None:
            message = f"{field}: NUL characters are not allowed."
            if request.path.startswith("/api/"):
                return JsonResponse({"error": message}, status=400)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _nul_field(request) -> str | None:
    if "\x00" in request.path:
        return "path"
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in v for v in values):
            return key.replace("\x00", "\\x00") or "query"
    return None
