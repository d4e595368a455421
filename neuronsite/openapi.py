"""What ``/api/schema/`` says beyond the serializers: the ``x-api-key`` scheme, the ``Error``
component and the error statuses every operation can answer, and small JSON-schema builders for
response bodies that are plain dicts (``features/api/serializers.py`` builds them by hand).

Registered from ``neuronsite/urls.py`` (the extension) and ``SPECTACULAR_SETTINGS``
(``POSTPROCESSING_HOOKS``).
"""

from __future__ import annotations

import copy

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string", "description": "what is wrong, naming the field"}},
    "required": ["error"],
}
_ERROR_TEXT = {
    "400": "Invalid input (the message names the field) or a malformed body.",
    "401": "Authentication required, or an invalid x-api-key.",
    "403": "Not allowed for this user.",
    "404": "Not found (or not visible to this user).",
    "413": "Request body too large.",
    "429": "Too many requests (see Retry-After).",
    # Issue 10 (helper U): statuses served but not documented before.
    "409": "Conflict with the stored data: an existing name or slug, inference switched off for the "
    "model or source, a source without SAE weights.",
    "502": "The LLM endpoint (OpenAI-compatible) failed; the message says how.",
    "503": "The GPUs are busy (the generation queue is full); see Retry-After.",
}
# Operations that call an LLM endpoint (502 when it fails) or may find the GPU queue full (503).
_UPSTREAM_PATHS = ("/api/explanation/generate", "/api/explanation/score", "/api/monitor/linter")
_GPU_QUEUE_PATHS = ("/api/graph/generate", "/api/graph/generate-job")


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "x-api-key"}


_SCHEMA_EXTRA: dict[str, dict] = {}


def schema_extra(**keywords):
    """Class decorator for an input serializer: JSON-schema keywords its component gets on top of
    its fields', for rules between fields (``anyOf=[{"required": ["source"]}, {"required":
    ["layer"]}]``: one of two fields is required). The serializer still enforces the rule."""

    def register(cls):
        name = getattr(getattr(cls, "Meta", None), "ref_name", None) or cls.__name__
        _SCHEMA_EXTRA[name] = keywords
        return cls

    return register


def _merge(target: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def postprocess(result, generator, request, public):
    """Every operation documents the ``{"error": string}`` body of each status it can fail with."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in schemas.items():
        extra = _SCHEMA_EXTRA.get(name.removesuffix("Request")) or _SCHEMA_EXTRA.get(name)
        if extra:
            _merge(component, copy.deepcopy(extra))
    schemas.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for path, path_item in result.get("paths", {}).items():
        for method, op in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            if "requestBody" in op and method in {"post", "put", "patch"}:
                # A body is always sent (an empty object where every field is optional).
                op["requestBody"]["required"] = True
            responses = op.setdefault("responses", {})
            codes = ["400", "401", "403", "404", "429"]
            if "requestBody" in op:
                codes.append("413")
            if method != "get":  # a write, or an engine call, can meet a conflicting state (409)
                codes.append("409")
            if path in _UPSTREAM_PATHS:
                codes.append("502")
            if path in _GPU_QUEUE_PATHS:
                codes.append("503")
            for code in codes:
                responses.setdefault(
                    code, {"description": _ERROR_TEXT[code], "content": {"application/json": {"schema": ref}}}
                )
            for code, response in responses.items():
                if code.startswith("2") and code != "204" and "content" not in response:
                    # Plain-dict bodies not described yet: JSON, shape per Neuronpedia's API.
                    response["content"] = {"application/json": {"schema": {}}}
    return result


# --- small JSON-schema builders for hand-built response bodies --------------------------------

STR = {"type": "string"}
STR_N = {"type": "string", "nullable": True}
INT_N = {"type": "integer", "nullable": True}
NUM_N = {"type": "number", "nullable": True}
BOOL = {"type": "boolean"}
ANY = {}


def obj(required: tuple[str, ...] = (), **properties) -> dict:
    """``{"type": "object", "properties": ..., "required": [...]}`` (extra keys allowed)."""
    body: dict = {"type": "object", "properties": properties}
    if required:
        body["required"] = list(required)
    return body


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def ok(schema: dict, description: str = "OK") -> dict:
    """``responses=ok(...)`` for ``extend_schema``: the 200 body (errors are added by the hook)."""
    return {200: OpenApiResponse(response=schema, description=description)}


MESSAGE = obj(("message",), message=STR)


def path_params(**patterns: str) -> list:
    """Path parameters with their pattern, so generated requests reach the view (``index="^[0-9]{1,9}$"``)."""
    from drf_spectacular.utils import OpenApiParameter

    return [OpenApiParameter(name, str, OpenApiParameter.PATH, pattern=p) for name, p in patterns.items()]


NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
ID_PATTERN = "^[1-9][0-9]{0,17}$"
INDEX_PATTERN = "^[0-9]{1,9}$"
INT = {"type": "integer"}
NUM = {"type": "number"}

# ``neuronsite.jobs.events.job_payload``: a job as ``/api/jobs`` and the job-starting operations answer it.
JOB = obj(
    ("id", "kind", "title", "state", "done", "log", "cancel_requested"),
    id=INT,
    kind=STR,
    title=STR,
    owner=STR_N,
    state=STR,
    unit=STR,
    done=INT,
    total=INT_N,
    percent=NUM_N,
    rate=NUM_N,
    eta_seconds=NUM_N,
    log=array(STR),
    results=ANY,
    error=STR_N,
    cancel_requested=BOOL,
    created_at=STR_N,
    started_at=STR_N,
    finished_at=STR_N,
)
JOB_BODY = obj(("job",), job=JOB)


def as_json_schema(node, components: dict | None = None):
    """An OpenAPI 3.0 schema as JSON Schema (for ``jsonschema`` in tests): ``nullable: true``
    admits null, ``$ref`` to ``#/components/schemas/X`` is inlined from ``components``."""
    if isinstance(node, list):
        return [as_json_schema(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node and components is not None:
        return as_json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    out = {k: as_json_schema(v, components) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def documented_body(schema: dict, path: str, method: str = "post", code: str = "200") -> dict:
    """The JSON body ``/api/schema/`` documents for one operation's answer, as JSON Schema."""
    body = schema["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
    assert body, (path, method, code, "documents no body")
    return as_json_schema(body, schema.get("components", {}).get("schemas", {}))
