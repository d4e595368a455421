"""JSON schemas of the monitor API's response bodies (issue 10: every operation documents its
body). Top-level keys that are always present are required; rows are open objects (extra keys
allowed) so additive fields stay within the schema."""

from __future__ import annotations

from inference.api.views import STEER_BODY
from neuronsite.openapi import ANY, BOOL, INT, NUM_N, STR, STR_N, array, obj

# monitor.services.chat.conversation_json
CONVERSATION = obj(
    ("id", "modelId", "mode", "sources", "messages", "createdAt", "updatedAt"),
    id=INT,
    modelId=STR,
    instruct=BOOL,
    mode=STR,
    title=STR_N,
    sources=array(STR),
    messages=array(obj()),
    createdAt=STR,
    updatedAt=STR,
)
# monitor.services.concepts._feature_rows: one active latent (at a token)
CONCEPT_ROW = obj(
    ("source", "index"),
    source=STR,
    index=INT,
    layer=INT,
    position=INT,
    token=STR,
    url=STR,
    explanation=STR_N,
    explanationScore=NUM_N,
)
# monitor.services.concepts.concepts_json
CONCEPTS = obj(
    ("conversationId", "modelId", "sources", "tokens", "concepts", "truncated"),
    conversationId=INT,
    modelId=STR,
    sources=array(STR),
    quantile=ANY,
    tokens=array(obj(("position",), position=INT, token=STR, text=STR, role=STR_N, special=BOOL)),
    concepts=array(CONCEPT_ROW),
    truncated=BOOL,
)
# monitor.services.chat.chat_run: the saved conversation and its concepts
CHAT_RESULT = obj(("conversation", "concepts"), conversation=CONVERSATION, concepts=obj())
ATTRIBUTION = obj(
    ("conversationId", "position", "attributions"),
    conversationId=INT,
    position=INT,
    token=STR,
    logprob=NUM_N,
    attributions=array(CONCEPT_ROW),
)
# monitor.services.specs.spec_json
SPEC = obj(
    ("id", "conversationId", "mode", "features", "enabled"),
    id=INT,
    conversationId=INT,
    description=STR,
    exclude=array(STR),
    mode=STR,
    strength=NUM_N,
    features=array(obj()),
    positions=ANY,
    enabled=BOOL,
)
LINTER = obj(
    ("clusters", "concepts", "skipped"),
    clusters=array(obj()),
    naming=ANY,
    model=STR_N,
    concepts=INT,
    skipped=array(obj()),
)
STEER_SEARCH = obj(
    ("modelId", "description", "exclude", "features"),
    modelId=STR,
    description=STR,
    exclude=array(STR),
    features=array(obj()),
)
MONITOR_STEER = STEER_BODY
