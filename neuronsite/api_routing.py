"""Routing rules for everything under ``/api/`` (issue 10, issue 11):

- every API route answers with and without a trailing slash. The ``neuronpedia`` client builds
  ``f"{base}/{endpoint}/{uri}"`` and so calls ``/api/steer/`` when ``uri`` is empty; a POST cannot
  follow a redirect, so the other spelling is dispatched in place (no APPEND_SLASH redirect);
- any other path under ``/api/`` is a JSON 404, never an HTML page route or a CSRF 403 page;
- the error handlers answer JSON ``{"error": ...}`` for ``/api/`` paths (400/403/404/500) and
  Django's usual pages elsewhere.

Routes are declared once, without the slash, in each app's ``api/urls.py``; ``api_fallback`` is the
last ``/api/`` pattern in ``neuronsite/urls.py``.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync, iscoroutinefunction
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

API_PREFIX = "/api/"


def _other_spelling(path: str) -> str:
    return path.rstrip("/") if path.endswith("/") else path + "/"


@csrf_exempt
def api_fallback(request, rest: str = ""):
    """Dispatch ``/api/x/`` to the view of ``/api/x`` (and back); otherwise a JSON 404."""
    path = request.path_info
    alternative = _other_spelling(path)
    if alternative.startswith(API_PREFIX) and alternative != API_PREFIX:
        try:
            match = resolve(alternative)
        except Resolver404:
            match = None
        if match is not None and match.func is not api_fallback:
            request.resolver_match = match
            view = match.func
            if iscoroutinefunction(view):  # an async view (e.g. a streaming one) behind this sync one
                view = async_to_sync(view)
            return view(request, *match.args, **match.kwargs)
    return JsonResponse({"error": f"No API endpoint at {path} ({request.method})."}, status=404)


def _is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def handler400(request, exception=None):
    if _is_api(request):
        return JsonResponse({"error": f"Bad request: {exception or 'malformed request'}."}, status=400)
    return defaults.bad_request(request, exception)


def handler403(request, exception=None):
    if _is_api(request):
        return JsonResponse({"error": str(exception or "") or "Forbidden."}, status=403)
    return defaults.permission_denied(request, exception)


def handler404(request, exception=None):
    if _is_api(request):
        return JsonResponse({"error": f"No API endpoint at {request.path_info}."}, status=404)
    return defaults.page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return JsonResponse({"error": "Internal server error (logged on the server)."}, status=500)
    return defaults.server_error(request)


__all__ = ["api_fallback", "handler400", "handler403", "handler404", "handler500"]
