"""JSON schemas of the hand-built response bodies in ``features/api/serializers.py`` and the
model/source-set bodies (``/api/schema/`` documents them; only always-present keys are required)."""

from __future__ import annotations

from neuronsite.openapi import ANY, BOOL, INT_N, NUM_N, STR, STR_N, array, obj

INT = {"type": "integer"}

EXPLANATION = obj(
    ("id", "description"),
    id=STR,
    modelId=STR,
    layer=STR,
    index=STR,
    description=STR,
    typeName=STR_N,
    explanationModelName=STR_N,
    authorId=INT_N,
    votes=INT_N,
    voted=BOOL,
    scores=array(obj(("id",), id=STR, value=NUM_N)),
)
LIST = obj(("id", "name"), id=STR, name=STR, description=STR, testText=STR_N, visibility=STR, userId=INT_N)
LIST_ITEM = obj(("modelId", "layer", "index"), modelId=STR, layer=STR, index=STR, description=STR, listId=STR)
LIST_FULL = {
    **LIST,
    "properties": {**LIST["properties"], "neurons": array(LIST_ITEM), "comments": array(obj())},
}
COMMENT = obj(("id", "text"), id=STR, modelId=STR, layer=STR, index=STR, text=STR, userId=INT_N)
MODEL = obj(("id",), id=STR, displayName=STR, layers=INT, dimension=INT_N, visibility=STR, ownerId=INT_N)
SOURCE = obj(("id",), id=STR, modelId=STR, setName=STR, layer=INT, hookName=STR, dSae=INT_N)
SOURCE_SET = obj(
    ("modelId", "name"), modelId=STR, name=STR, type=STR_N, visibility=STR, sources=array(SOURCE)
)
MODEL_WITH_SETS = {**MODEL, "properties": {**MODEL["properties"], "sourceSets": array(SOURCE_SET)}}
ACTIVATION = obj(("id", "tokens", "values"), id=STR, tokens=array(STR), values=array({"type": "number"}))
FEATURE = obj(
    ("modelId", "layer", "index"),
    modelId=STR,
    layer=STR,
    index=STR,
    maxActApprox=NUM_N,
    frac_nonzero=NUM_N,
    model=MODEL,
    source=SOURCE,
    activations=array(ACTIVATION),
    explanations=array(EXPLANATION),
    lists=array(obj(("list",), list=LIST)),
    comments=array(COMMENT),
)
VECTOR = obj(
    ("modelId", "source", "index"),
    modelId=STR,
    source=STR,
    layer=STR,
    index=STR,
    label=STR,
    hookName=STR,
    values=array({"type": "number"}),
    defaultSteerStrength=NUM_N,
    creatorId=INT_N,
)
SEARCH = obj(
    ("results", "resultsCount", "hasMore", "nextOffset"),
    request=ANY,
    results=array({**EXPLANATION, "properties": {**EXPLANATION["properties"], "neuron": obj()}}),
    resultsCount=INT,
    hasMore=BOOL,
    nextOffset=INT,
)
VOTE = obj(("id", "voted", "votes"), id=STR, voted=BOOL, votes=INT)
BOOKMARK = obj(("modelId", "layer", "index"), modelId=STR, layer=STR, index=STR, userId=INT)
FEATURE_UPLOAD = obj(
    ("message", "features", "activations", "skipped"),
    message=STR,
    features=INT,
    activations=INT,
    skipped=BOOL,
)
ACTIVATION_UPLOAD = obj(("message", "activations"), message=STR, activations=INT)
