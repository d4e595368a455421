"""Conditional GET for read endpoints: an ``ETag`` (a hash of the rendered body) on every 200,
and ``304 Not Modified`` when the request's ``If-None-Match`` names it, so clients and caches
that poll a feature do not download it again."""

from __future__ import annotations

import hashlib

from django.http import HttpResponseNotModified
from django.utils.http import parse_etags
from rest_framework.response import Response


def conditional_json(request, body) -> Response:
    response = Response(body)

    def tag(rendered):
        if rendered.status_code != 200:
            return None
        etag = f'"{hashlib.blake2b(rendered.content, digest_size=16).hexdigest()}"'
        rendered["ETag"] = etag
        wanted = parse_etags(request.META.get("HTTP_IF_NONE_MATCH", ""))
        if etag in wanted or "*" in wanted:
            not_modified = HttpResponseNotModified()
            not_modified["ETag"] = etag
            return not_modified
        return None

    response.add_post_render_callback(tag)
    return response
