"""Attribution-graph engine: circuit-tracer behind a small interface (imported lazily).

- ``transcoders``: per-layer transcoder folders in circuit-tracer's own format (``config.yaml`` +
  ``layer_{i}.safetensors``), a tiny builder for tests and the demo, and the loader;
- ``engine``: the replacement model (TransformerLens backend), ``generate_graph`` (attribute →
  prune_graph → graph JSON equal to ``create_graph_files`` plus our documented additions) and
  ``steer_logits`` (feature interventions with set-point semantics);
- ``progress``: circuit-tracer's phases and attribution batches as progress events (jobs show them
  with an ETA).

Nothing here is imported at Django start-up; torch and circuit_tracer are imported inside
functions.
"""
