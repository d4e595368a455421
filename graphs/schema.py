"""Neuronpedia's graph JSON schema ("Anthropic Attribution Graph" 1.0.0, draft-07, extra keys
allowed) and the validator used by uploads. ``graph_schema_errors`` lists every failing path."""

from __future__ import annotations

_NUM = {"type": "number"}
_STR = {"type": "string"}

GRAPH_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Anthropic Attribution Graph",
    "version": "1.0.0",
    "type": "object",
    "required": ["metadata", "qParams", "nodes", "links"],
    "properties": {
        "metadata": {
            "type": "object",
            "required": ["slug", "scan", "prompt_tokens", "prompt"],
            "properties": {
                "slug": _STR,
                "scan": _STR,
                "prompt_tokens": {"type": "array", "items": _STR},
                "prompt": _STR,
                "node_threshold": _NUM,
                "schema_version": {"type": "integer"},
                "replacement_score": _NUM,
                "completeness_score": _NUM,
                "transcoder_list": {"type": "array", "items": _STR},
                "feature_details": {
                    "type": "object",
                    "properties": {
                        "feature_json_base_url": _STR,
                        "neuronpedia_source_set": _STR,
                    },
                },
                "info": {"type": "object"},
                "generation_settings": {
                    "type": "object",
                    "properties": {
                        "max_n_logits": _NUM,
                        "desired_logit_prob": _NUM,
                        "batch_size": _NUM,
                        "max_feature_nodes": {"type": ["number", "null"]},
                    },
                },
                "pruning_settings": {
                    "type": "object",
                    "properties": {"node_threshold": _NUM, "edge_threshold": _NUM},
                },
            },
        },
        "qParams": {
            "type": "object",
            "properties": {
                "pinnedIds": {"type": "array", "items": _STR},
                "supernodes": {"type": "array", "items": {"type": "array", "items": _STR}},
                "linkType": _STR,
                "clickedId": _STR,
                "sg_pos": _STR,
            },
        },
        "nodes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp"],
                "properties": {
                    "node_id": _STR,
                    "feature": {"type": ["integer", "null"]},
                    "layer": {"type": ["string", "integer"]},
                    "ctx_idx": {"type": "integer"},
                    "feature_type": _STR,
                    "jsNodeId": _STR,
                    "clerp": _STR,
                    "influence": {"type": ["number", "null"]},
                    "activation": {"type": ["number", "null"]},
                },
            },
        },
        "links": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["source", "target", "weight"],
                "properties": {"source": _STR, "target": _STR, "weight": _NUM},
            },
        },
        "qk_only_nodes": {"type": "array"},
    },
}


def graph_schema_errors(data, *, limit: int = 50) -> list[str]:
    """``["nodes/3/ctx_idx: 'x' is not of type 'integer'", ...]`` (empty when valid)."""
    from jsonschema import Draft7Validator

    validator = Draft7Validator(GRAPH_SCHEMA)
    errors = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path = "/".join(str(part) for part in error.absolute_path) or "(root)"
        errors.append(f"{path}: {error.message}")
        if len(errors) >= limit:
            break
    return errors
