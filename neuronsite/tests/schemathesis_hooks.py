"""schemathesis hooks for ``test_schemathesis.py`` and ``make fuzz`` (``SCHEMATHESIS_HOOKS``).

One rule of the upload batches has no JSON Schema keyword: each snippet's ``values`` has as many
entries as its ``tokens`` (equal lengths of two arrays; the schema says it in words). The hook
trims the longer of the two in generated bodies, so the fuzzer's schema-valid requests keep that
rule and positive data acceptance can be checked on everything else. Negative (schema-invalid)
bodies and bodies of other operations pass through unchanged.
"""

from __future__ import annotations

import schemathesis

_UPLOADS = {"/api/feature/upload-batch", "/api/activation/upload-batch"}


def _equal_lengths(snippet) -> None:
    if isinstance(snippet, dict):
        tokens, values = snippet.get("tokens"), snippet.get("values")
        if isinstance(tokens, list) and isinstance(values, list) and tokens and values:
            n = min(len(tokens), len(values))
            snippet["tokens"], snippet["values"] = tokens[:n], values[:n]


def _snippets(body):
    if not isinstance(body, dict):
        return
    activations = body.get("activations")
    if isinstance(activations, list):
        yield from activations
    features = body.get("features")
    if isinstance(features, list):
        for feature in features:
            if isinstance(feature, dict) and isinstance(feature.get("activations"), list):
                yield from feature["activations"]


@schemathesis.hook
def map_case(context, case):
    operation = context.operation
    if operation is None or operation.path not in _UPLOADS:
        return case
    meta = getattr(case, "meta", None)
    if meta is not None and not meta.generation.mode.is_positive:
        return case
    for snippet in _snippets(case.body):
        _equal_lengths(snippet)
    return case
