"""JSON schemas of the graph API's response bodies (issue 10: every operation documents its body;
``graphs/api/serializers.py`` and ``graphs/api/views.py`` build them as plain dicts)."""

from __future__ import annotations

from neuronsite.openapi import ANY, BOOL, INT, JOB, NUM_N, STR, STR_N, array, obj

# graph_metadata_json
GRAPH = obj(
    ("id", "modelId", "slug", "url"),
    id=STR,
    modelId=STR,
    slug=STR,
    promptTokens=array(ANY),
    prompt=STR,
    titlePrefix=STR_N,
    url=STR,
    sourceSetName=STR_N,
    isFeatured=BOOL,
    visibility=STR,
    userId=STR_N,
    generationSettings=ANY,
    pruningSettings=ANY,
    createdAt=STR_N,
)
# subgraph_json
SUBGRAPH = obj(
    ("id", "pinnedIds"),
    id=INT,
    displayName=STR_N,
    pinnedIds=array(ANY),
    supernodes=ANY,
    clerps=ANY,
    pruningThreshold=NUM_N,
    densityThreshold=NUM_N,
    featured=BOOL,
    userId=STR_N,
    updatedAt=STR_N,
)
GENERATED = obj(
    ("message", "url"),
    message=STR,
    s3url=STR,
    url=STR,
    numNodes=INT,
    numLinks=INT,
    jobId=INT,
)
GENERATE_PENDING = obj(("message", "jobId", "jobUrl", "url"), message=STR, jobId=INT, jobUrl=STR, url=STR)
GENERATE_JOB = obj(("job", "url"), job=JOB, url=STR)
SAVED = obj(("message", "url"), message=STR, url=STR)
SIGNED_PUT = obj(("url", "putRequestId"), url=STR, putRequestId=STR)
VALIDATION = obj(("valid", "errors"), valid=BOOL, errors=array(ANY))
STEER_LOGITS = obj(
    ("DEFAULT_GENERATION", "STEERED_GENERATION"),
    DEFAULT_GENERATION=STR,
    STEERED_GENERATION=STR,
    DEFAULT_LOGITS_BY_TOKEN=array(ANY),
    STEERED_LOGITS_BY_TOKEN=array(ANY),
)
