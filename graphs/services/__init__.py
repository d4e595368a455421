"""Writes for graphs: register transcoder sets, generate (inline or as a job), upload, save,
delete, subgraphs, graph steering.

Generation runs circuit-tracer through ``inference.graphs`` on the inference engine's thread;
everything that touches the database (labels, rows, job progress) happens outside that thread.
"""

from graphs.services.common import (
    FEATURE_TYPE,
    GENERATE_RANGES,
    SLUG_RE,
    UPLOAD_SALT,
    check_slug,
    max_graph_nodes,
    max_prompt_tokens,
    max_upload_bytes,
)
from graphs.services.generate import graph_delete, graph_generate, graph_labels_apply, graph_store
from graphs.services.subgraphs import graph_steer_logits, subgraph_delete, subgraph_save
from graphs.services.transcoders import transcoder_set_register
from graphs.services.upload import graph_save_to_db, graph_upload_begin, graph_upload_receive

__all__ = [
    "FEATURE_TYPE",
    "GENERATE_RANGES",
    "SLUG_RE",
    "UPLOAD_SALT",
    "check_slug",
    "graph_delete",
    "graph_generate",
    "graph_labels_apply",
    "graph_save_to_db",
    "graph_steer_logits",
    "graph_store",
    "graph_upload_begin",
    "graph_upload_receive",
    "max_graph_nodes",
    "max_prompt_tokens",
    "max_upload_bytes",
    "subgraph_delete",
    "subgraph_save",
    "transcoder_set_register",
]
