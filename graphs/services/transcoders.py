"""Transcoder sets: graph-capable source sets in circuit-tracer's folder format."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from django.db import transaction

from models_app.models import SourceSet
from neuronsite.errors import (
    ValidationFailed,
)
from neuronsite.fields import Visibility


def _safetensors_shape(path: Path, key: str) -> list[int]:
    with open(path, "rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    return header[key]["shape"]


@transaction.atomic
def transcoder_set_register(
    *,
    model_name: str,
    set_name: str,
    folder: str | Path,
    sae_folders: dict[int, Path] | None = None,
    owner=None,
    description: str = "",
    visibility: str = Visibility.PUBLIC,
) -> SourceSet:
    """A graph-capable source set whose sources (one per layer) point at a transcoder folder in
    circuit-tracer's format (``config.yaml`` + ``layer_{i}.safetensors``, or a cross-layer
    transcoder's ``W_enc_{i}``/``W_dec_{i}.safetensors``: set type ``clt``; the folder is kept in
    each source's ``config["set_folder"]``). ``sae_folders`` (``{layer: sae_lens folder}`` holding the same
    encoder) become the sources' ``local_path`` so the dashboards engine can load them; without
    them ``local_path`` is the circuit-tracer folder."""
    from inference.graphs.transcoders import CLT_KIND, read_config
    from models_app.services import source_ensure

    folder = Path(folder).resolve()
    try:
        config = read_config(folder)
    except FileNotFoundError as exc:
        raise ValidationFailed(str(exc), field="folder") from exc
    clt = config.get("model_kind") == CLT_KIND
    set_type = "clt" if clt else "transcoder"
    sources = []
    for layer, path in enumerate(config["transcoders"]):
        # A CLT keeps layer i's encoder (and the number of its features) in W_enc_{i}.safetensors.
        d_transcoder = _safetensors_shape(Path(path), f"b_enc_{layer}" if clt else "b_enc")[0]
        sae_folder = (sae_folders or {}).get(layer)
        sae_cfg = {}
        if sae_folder is not None:
            sae_cfg = json.loads((Path(sae_folder) / "cfg.json").read_text())
        sources.append(
            source_ensure(
                model_name=model_name,
                set_name=set_name,
                layer=layer,
                hook_name=(sae_cfg.get("metadata") or {}).get("hook_name")
                or f"blocks.{layer}.{config.get('feature_input_hook', 'mlp.hook_in')}",
                create_model=False,
                owner=owner,
                d_sae=d_transcoder,
                set_defaults={
                    "type": set_type,
                    "allow_graphs": True,
                    "description": description,
                    "visibility": visibility,
                },
                source_defaults={
                    "local_path": str(Path(sae_folder).resolve()) if sae_folder else str(folder),
                    "architecture": set_type,
                    "config": {
                        **sae_cfg,
                        "format": "circuit-tracer",
                        "set_folder": str(folder),
                        "path": path,
                    },
                },
            )
        )
    source_set = sources[0].source_set
    SourceSet.objects.filter(pk=source_set.pk).update(type=set_type, allow_graphs=True)
    source_set.refresh_from_db()
    return source_set
