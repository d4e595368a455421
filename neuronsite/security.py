"""Content-Security-Policy for every response (issue 10).

The site serves all its scripts itself, so scripts come from 'self' only: no inline scripts, no
inline event handlers, no eval. Style *elements* come from 'self' only (an injected ``<style>``
cannot restyle the page to leak data); style *attributes* stay allowed because the activation
heat maps colour each token with one. Embed pages (views that set ``xframe_options_exempt``)
may be framed by any site; every other page by none, matching ``X-Frame-Options: DENY``.
The API docs (Swagger UI, Redoc) inject their own styles and workers, so they get a policy with
inline styles and blob: workers, still with scripts from 'self' only.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin

BASE = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "style-src-elem": "'self'",
    "style-src-attr": "'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
DOCS = {
    **BASE,
    "style-src": "'self' 'unsafe-inline'",
    "style-src-elem": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "worker-src": "'self' blob:",
}
DOCS_PATHS = ("/api/docs/", "/api/redoc/")


def _render(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def policy_for(request, response) -> str:
    directives = DOCS if request.path.startswith(DOCS_PATHS) else BASE
    if getattr(response, "xframe_options_exempt", False):
        directives = {**directives, "frame-ancestors": settings.EMBED_FRAME_ANCESTORS}
    return _render(directives)


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Sync and async capable (MiddlewareMixin), so streaming views stay async under ASGI."""

    def process_response(self, request, response):
        if settings.CONTENT_SECURITY_POLICY and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy_for(request, response)
        return response
