"""Static files served by the ASGI app itself, where a path that climbs out of the static
directories (``/static/%2e%2e/...``) is a 404, not a SuspiciousFileOperation 500."""

from __future__ import annotations

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404


class SafeASGIStaticFilesHandler(ASGIStaticFilesHandler):
    def serve(self, request):
        try:
            return super().serve(request)
        except SuspiciousFileOperation:
            raise Http404("Not found.") from None
