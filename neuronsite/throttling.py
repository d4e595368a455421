"""The API's rate limit (DRF throttle): inference calls and writes, per address for anonymous
callers and per API key / user otherwise. Plain reads (GET, and the POST endpoints that only
read) are not limited. Over the limit: 429 ``{"error": ...}`` with ``Retry-After`` (the
``RateLimited`` domain error, mapped in neuronsite/api.py)."""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from neuronsite.ratelimit import client_address, rate_limit_hit

# URL names of endpoints that run the model (or an outside LLM): the costly ones.
INFERENCE_ROUTES = frozenset(
    {
        "api-activation-new",
        "api-search-all",
        "api-search-topk-by-token",
        "api-activation-source",
        "api-cossim",
        "api-tokenize",
        "api-steer",
        "api-steer-chat",
        "api-explanation-generate",
        "api-explanation-score",
        "api-graph-generate",
        "api-graph-generate-job",  # graphs (helper G): the viewer's queued generation
        "api-steer-logits",
        # monitor (issue 15): chat, active concepts, attribution
        "api-monitor-send",
        "api-monitor-regenerate",
        "api-monitor-concepts",
        "api-monitor-attribution",
        # monitor: steering by description runs the engine; the linter calls the LLM
        "api-monitor-steer",
        "api-monitor-linter",
    }
)
# POST endpoints that only read (Neuronpedia's API reads with POST in places).
READ_ROUTES = frozenset(
    {
        "api-features",
        "api-model-get",
        "api-model-list",
        "api-vector-get",
        "api-vector-list-owned",
        "api-list-get",
        "api-list-list",
        "api-explanation-search",
        "api-explanation-search-all",
        "api-explanation-search-model",
        "api-explanation-search-release",
        "api-explanation-search-semantic",
        "api-explanation-search-all-semantic",
        "api-explanation-search-model-semantic",
        "api-explanation-search-release-semantic",
        "api-explanation-export",
        "api-explanation-get",
        "api-features-batch",
        "api-activation-get",
        "api-user-bookmarks",
        "api-jobs",
        "api-job",
        "api-graph-list-owned",
        "api-graph-validate",
        "api-subgraph-list",
        "api-monitor-steer-search",  # monitor: description search only reads
    }
)
# Writes open to anonymous callers, scoped to their own cookie (still rate-limited as writes):
# the chat monitor's conversations (issue 15: "anonymous ones under a cookie").
ANON_WRITE_ROUTES = frozenset(
    {
        "api-monitor-conversation-new",
        "api-monitor-sources",
        "api-monitor-clear",
        "api-monitor-specs",  # a conversation's saved steering specs
        "api-monitor-spec",
        "api-monitor-conversation",  # DELETE a conversation
    }
)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_scope(request) -> str | None:
    """``"inference"``, ``"write"`` or None (not limited) for an API request."""
    match = getattr(request, "resolver_match", None)
    name = match.url_name if match else None
    if name in INFERENCE_ROUTES:
        return "inference"
    if request.method in WRITE_METHODS and name not in READ_ROUTES:
        return "write"
    return None


def request_ident(request) -> tuple[str, str]:
    """(``"anon"`` or ``"user"``, the bucket): an API key's own bucket, else the user's, else the
    caller's address."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        key_id = getattr(request.auth, "pk", None) if request.auth is not None else None
        return "user", f"key:{key_id}" if key_id is not None else f"user:{user.pk}"
    return "anon", client_address(request)


class ApiRateThrottle(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        scope = request_scope(request)
        if scope is None:
            return True
        who, ident = request_ident(request)
        rate_limit_hit(scope=f"{who}_{scope}", ident=ident)  # raises RateLimited (429)
        return True


__all__ = ["ApiRateThrottle", "INFERENCE_ROUTES", "READ_ROUTES", "request_scope"]
