"""Writes for graphs: register transcoder sets, generate, upload, save, delete, subgraphs.

Generation runs circuit-tracer through ``inference.graphs`` on the inference engine's thread;
everything that touches the database (labels, rows) happens here, outside that thread.
"""

from __future__ import annotations

import json
import re
import secrets
import struct
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from graphs import selectors, storage
from graphs.models import GraphMetadata, Subgraph
from graphs.schema import graph_schema_errors
from models_app.models import Model, SourceSet
from neuronsite.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from neuronsite.fields import Visibility

SLUG_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")
UPLOAD_SALT = "graphs.upload"
FEATURE_TYPE = "cross layer transcoder"

# Neuronpedia's parameter ranges (REFERENCE §3): name → (min, max, default).
GENERATE_RANGES = {
    "maxNLogits": (5, 15, 10),
    "desiredLogitProb": (0.6, 0.99, 0.95),
    "nodeThreshold": (0.5, 0.95, 0.8),
    "edgeThreshold": (0.65, 0.98, 0.85),
    "maxFeatureNodes": (1500, 10000, 5000),
}


def max_prompt_tokens() -> int:
    return int(getattr(settings, "GRAPH_MAX_PROMPT_TOKENS", 64))


def max_upload_bytes() -> int:
    return int(getattr(settings, "GRAPH_MAX_UPLOAD_BYTES", 100 * 1024 * 1024))


def max_graph_nodes() -> int:
    return int(getattr(settings, "GRAPH_MAX_NODES", 50_000))


def check_slug(value: str, *, field: str) -> str:
    if not isinstance(value, str) or not SLUG_RE.match(value) or len(value) > 200:
        raise ValidationFailed(
            "Invalid scan or slug", extra={"message": f"{field} must match [a-zA-Z0-9_.-]+"}
        )
    return value


# ---- transcoder sets ----------------------------------------------------------------------------
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
    circuit-tracer's format (``config.yaml`` + ``layer_{i}.safetensors``, kept in each source's
    ``config["set_folder"]``). ``sae_folders`` (``{layer: sae_lens folder}`` holding the same
    encoder) become the sources' ``local_path`` so the dashboards engine can load them; without
    them ``local_path`` is the circuit-tracer folder."""
    from inference.graphs.transcoders import read_config
    from models_app.services import source_ensure

    folder = Path(folder).resolve()
    try:
        config = read_config(folder)
    except FileNotFoundError as exc:
        raise ValidationFailed(str(exc), field="folder") from exc
    sources = []
    for layer, path in enumerate(config["transcoders"]):
        d_transcoder = _safetensors_shape(Path(path), "b_enc")[0]
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
                    "type": "transcoder",
                    "allow_graphs": True,
                    "description": description,
                    "visibility": visibility,
                },
                source_defaults={
                    "local_path": str(Path(sae_folder).resolve()) if sae_folder else str(folder),
                    "architecture": "transcoder",
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
    SourceSet.objects.filter(pk=source_set.pk).update(type="transcoder", allow_graphs=True)
    source_set.refresh_from_db()
    return source_set


# ---- generation ---------------------------------------------------------------------------------
def _param(params: dict, name: str):
    low, high, default = GENERATE_RANGES[name]
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValidationFailed(
            "Validation error", extra={"message": f"{name} must be between {low} and {high}"}
        )
    return int(value) if isinstance(default, int) else float(value)


def graph_labels_apply(*, data: dict, source_set: SourceSet) -> int:
    """Fill empty ``clerp`` of feature nodes from our best explanations and add each feature's
    ``density`` (dashboard ``frac_nonzero``, for the viewer's density filter); returns how many
    labels were filled."""
    keys = set()
    for node in data.get("nodes", []):
        if node.get("feature_type") == FEATURE_TYPE:
            layer, index, _ = str(node["node_id"]).split("_")
            keys.add((int(layer), int(index)))
    labels = selectors.feature_labels(source_set=source_set, keys=keys)
    densities = selectors.feature_densities(source_set=source_set, keys=keys)
    count = 0
    for node in data.get("nodes", []):
        if node.get("feature_type") != FEATURE_TYPE:
            continue
        layer, index, _ = str(node["node_id"]).split("_")
        key = (int(layer), int(index))
        if key in densities:
            node["density"] = densities[key]
        label = labels.get(key)
        if label and not node.get("clerp"):
            node["clerp"] = label
            count += 1
    return count


def graph_generate(
    *,
    user,
    model_name: str,
    prompt: str | None = None,
    messages: list[dict] | None = None,
    source_set_name: str | None = None,
    slug: str | None = None,
    params: dict | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> GraphMetadata:
    """Generate a graph with circuit-tracer and store it. Plain service: a job may wrap it and
    pass ``progress``; on any failure nothing is written."""
    from inference.engine import ModelSpec, get_engine
    from inference.graphs.engine import GraphEngineError, PromptTooLong, TranscoderSpec, generate_for

    params = params or {}
    if not prompt and not messages:
        raise ValidationFailed("Validation error", extra={"message": "prompt or messages is required"})
    if prompt is not None and len(prompt) > 10_000:
        raise ValidationFailed("Prompt Too Long", extra={"message": "prompt is over 10,000 characters"})
    settings_ = {name: _param(params, name) for name in GENERATE_RANGES}
    model = selectors.model_for_graphs(model_name=model_name, user=user)
    if not model.inference_enabled:
        raise Conflict(f"Model '{model.name}' has inference disabled.", field="modelId")
    source_set = selectors.transcoder_set_for(model=model, set_name=source_set_name, user=user)
    slug = check_slug(slug, field="slug") if slug else f"graph-{secrets.token_hex(6)}"
    _check_slug_free(model=model, slug=slug, user=user, generate=True)
    spec = TranscoderSpec(
        model_name=model.name, set_name=source_set.name, ref=selectors.transcoder_ref(source_set=source_set)
    )
    try:
        data = get_engine().call(
            generate_for,
            ModelSpec.of(model),
            spec,
            prompt=prompt,
            messages=messages,
            max_tokens=max_prompt_tokens(),
            slug=slug,
            scan=model.name,
            source_set=source_set.name,
            max_n_logits=settings_["maxNLogits"],
            desired_logit_prob=settings_["desiredLogitProb"],
            node_threshold=settings_["nodeThreshold"],
            edge_threshold=settings_["edgeThreshold"],
            max_feature_nodes=settings_["maxFeatureNodes"],
            progress=progress,
        )
    except PromptTooLong as exc:
        raise ValidationFailed("Prompt Too Long", extra={"message": str(exc)}) from exc
    except GraphEngineError as exc:
        raise ValidationFailed(str(exc), field="modelId") from exc
    graph_labels_apply(data=data, source_set=source_set)
    return graph_store(
        model=model,
        slug=slug,
        data=data,
        owner=_owner(user),
        source_set_name=source_set.name,
        prompt=prompt if prompt else json.dumps(messages),
    )


def _owner(user):
    return user if user is not None and user.is_authenticated else None


def _check_slug_free(*, model: Model, slug: str, user, generate: bool = False) -> None:
    existing = GraphMetadata.objects.filter(model=model, slug=slug).first()
    if existing is None:
        return
    if generate or existing.owner_id is None or existing.owner_id != getattr(user, "pk", None):
        raise ValidationFailed(
            "Model + Slug/ID Exists",
            extra={"message": f"A graph '{model.name}/{slug}' already exists."},
        )


def graph_store(
    *,
    model: Model,
    slug: str,
    data: dict,
    owner=None,
    source_set_name: str = "",
    gz: bytes | None = None,
    visibility: str = Visibility.PUBLIC,
    prompt: str | None = None,
) -> GraphMetadata:
    """Write the gzip file, then upsert the row (the file is removed again if the row fails)."""
    meta = data["metadata"]
    n_nodes = len(data.get("nodes", []))
    if n_nodes > max_graph_nodes():
        raise PayloadTooLarge(f"The graph has {n_nodes} nodes; the cap is {max_graph_nodes()}.")
    name = storage.graph_file_save(model_name=model.name, slug=slug, gz=gz or storage.graph_dumps(data))
    fields = {
        "prompt": prompt if prompt is not None else meta.get("prompt", ""),
        "prompt_tokens": [str(t) for t in meta.get("prompt_tokens", [])],
        "title": str(meta.get("title_prefix", "") or "")[:300],
        "file": name,
        "source_set_name": source_set_name,
        "generation_settings": meta.get("generation_settings") or {},
        "pruning_settings": meta.get("pruning_settings") or {},
        "visibility": visibility,
        "owner": owner,
    }
    try:
        with transaction.atomic():
            old = GraphMetadata.objects.select_for_update().filter(model=model, slug=slug).first()
            if old is not None:
                old_name = old.file.name
                for key, value in fields.items():
                    setattr(old, key, value)
                old.save()
                graph = old
                transaction.on_commit(lambda: storage.graph_file_delete(old_name))
            else:
                graph = GraphMetadata.objects.create(model=model, slug=slug, **fields)
    except BaseException:  # the row was not written: remove the file again
        storage.graph_file_delete(name)
        raise
    graph.num_nodes = n_nodes
    graph.num_links = len(data.get("links", []))
    return graph


@transaction.atomic
def graph_delete(*, user, model_name: str, slug: str) -> None:
    graph = GraphMetadata.objects.select_for_update().filter(model__name=model_name, slug=slug).first()
    if graph is None:
        raise NotFound(f"Graph '{model_name}/{slug}' not found.")
    if not (user.is_staff or (graph.owner_id is not None and graph.owner_id == user.pk)):
        raise PermissionDenied("Only the graph's owner can delete it.")
    name = graph.file.name
    graph.delete()
    transaction.on_commit(lambda: storage.graph_file_delete(name))


# ---- upload: signed PUT, then save-to-db --------------------------------------------------------
def graph_upload_begin(*, user, filename: str, content_length: int) -> str:
    """A signed upload token (the ``putRequestId``) for one gzip file of ``content_length``."""
    if content_length > max_upload_bytes():
        raise PayloadTooLarge(f"The file is over the {max_upload_bytes() // (1024 * 1024)} MB upload cap.")
    since = timezone.now() - timedelta(days=1)
    per_day = int(getattr(settings, "GRAPH_UPLOADS_PER_DAY", 200))
    if GraphMetadata.objects.filter(owner=user, created_at__gte=since).count() >= per_day:
        raise RateLimited(f"At most {per_day} graph uploads per day.")
    return signing.dumps(
        {"u": user.pk, "id": secrets.token_hex(12), "n": int(content_length), "f": filename[:200]},
        salt=UPLOAD_SALT,
    )


def _upload_token(token: str, *, max_age: int = 3600) -> dict:
    try:
        return signing.loads(token, salt=UPLOAD_SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise PermissionDenied("The upload URL has expired: ask for a new one.") from exc
    except signing.BadSignature as exc:
        raise PermissionDenied("The upload URL is not valid.") from exc


def graph_upload_receive(*, token: str, stream, content_length: int | None) -> None:
    """Store the PUT body for a signed upload (read in chunks, capped)."""
    info = _upload_token(token)
    cap = max_upload_bytes()
    if content_length is not None and content_length > cap:
        raise PayloadTooLarge(f"The file is over the {cap // (1024 * 1024)} MB upload cap.")
    chunks, total = [], 0
    while True:
        chunk = stream.read(1024 * 1024)
        if not chunk:
            break
        total += len(chunk)
        if total > cap:
            raise PayloadTooLarge(f"The file is over the {cap // (1024 * 1024)} MB upload cap.")
        chunks.append(chunk)
    if not total:
        raise ValidationFailed("The upload is empty.", field="file")
    storage.upload_file_save(upload_id=info["id"], gz=b"".join(chunks))


def _upload_name(info: dict) -> str:
    return f"graphs/uploads/{info['id']}.json.gz"


def graph_save_to_db(*, user, put_request_id: str) -> GraphMetadata:
    """Neuronpedia's save checks, in order, then the upsert."""
    info = _upload_token(put_request_id, max_age=24 * 3600)
    if info["u"] != user.pk:
        raise PermissionDenied("This upload belongs to another user.")
    name = _upload_name(info)
    store = storage.graph_storage()
    if not store.exists(name):
        raise NotFound("No file was uploaded for this putRequestId.", field="putRequestId")
    gz = storage.graph_file_bytes(name)
    data = storage.inflate_json(gz, max_bytes=max_upload_bytes() * 10)
    errors = graph_schema_errors(data)
    if errors:
        raise ValidationFailed(
            "Invalid graph format. Please check the schema.", field="file", extra={"details": errors}
        )
    meta = data["metadata"]
    scan = check_slug(meta["scan"], field="scan")
    slug = check_slug(meta["slug"], field="slug")
    model = Model.objects.visible_to(user).filter(name=scan).first()
    if model is None:
        raise NotFound(f"Model '{scan}' (metadata.scan) not found.", field="scan")
    _check_slug_free(model=model, slug=slug, user=user)
    set_name = ((meta.get("feature_details") or {}).get("neuronpedia_source_set")) or ""
    if set_name and not SourceSet.objects.visible_to(user).filter(model=model, name=set_name).exists():
        raise NotFound(f"Source set '{model.name}/{set_name}' not found.", field="neuronpedia_source_set")
    if gz[:2] != b"\x1f\x8b":
        gz = storage.graph_dumps(data)
    graph = graph_store(model=model, slug=slug, data=data, owner=user, source_set_name=set_name, gz=gz)
    storage.graph_file_delete(name)
    return graph


# ---- subgraphs ----------------------------------------------------------------------------------
@transaction.atomic
def subgraph_save(*, user, graph: GraphMetadata, fields: dict, subgraph_id: int | None = None) -> Subgraph:
    if subgraph_id is not None:
        sub = Subgraph.objects.select_for_update().filter(pk=subgraph_id, graph=graph).first()
        if sub is None:
            raise NotFound(f"Subgraph {subgraph_id} not found.", field="subgraphId")
        if sub.owner_id != user.pk and not user.is_staff:
            raise PermissionDenied("Only the subgraph's owner can change it.")
    else:
        sub = Subgraph(graph=graph, owner=user)
    for key, value in fields.items():
        setattr(sub, key, value)
    sub.save()
    return sub


@transaction.atomic
def subgraph_delete(*, user, subgraph_id: int) -> None:
    sub = Subgraph.objects.select_for_update().filter(pk=subgraph_id).first()
    if sub is None:
        raise NotFound(f"Subgraph {subgraph_id} not found.", field="subgraphId")
    if sub.owner_id != user.pk and not user.is_staff:
        raise PermissionDenied("Only the subgraph's owner can delete it.")
    sub.delete()


# ---- graph steering -----------------------------------------------------------------------------
def graph_steer_logits(
    *,
    user,
    model_name: str,
    prompt: str,
    features: list[dict],
    source_set_name: str | None = None,
    n_tokens: int = 10,
    top_k: int = 5,
    freeze_attention: bool = True,
    temperature: float = 0.0,
    freq_penalty: float = 0.0,
    seed: int = 16,
) -> dict:
    """Default vs steered generations (circuit-tracer interventions, set-point semantics)."""
    from inference.engine import ModelSpec, get_engine
    from inference.graphs.engine import GraphEngineError, PromptTooLong, TranscoderSpec
    from inference.graphs.steer import SteerFeature, steer_for

    model = selectors.model_for_graphs(model_name=model_name, user=user)
    source_set = selectors.transcoder_set_for(model=model, set_name=source_set_name, user=user)
    spec = TranscoderSpec(
        model_name=model.name, set_name=source_set.name, ref=selectors.transcoder_ref(source_set=source_set)
    )
    try:
        return get_engine().call(
            steer_for,
            ModelSpec.of(model),
            spec,
            prompt=prompt,
            features=[SteerFeature(**f) for f in features],
            max_tokens=max_prompt_tokens(),
            n_tokens=n_tokens,
            top_k=top_k,
            freeze_attention=freeze_attention,
            temperature=temperature,
            freq_penalty=freq_penalty,
            seed=seed,
        )
    except PromptTooLong as exc:
        raise ValidationFailed("Prompt Too Long", extra={"message": str(exc)}) from exc
    except GraphEngineError as exc:
        raise ValidationFailed(str(exc)) from exc
