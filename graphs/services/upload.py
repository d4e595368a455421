"""The official client's upload flow: signed PUT, then save-to-db with Neuronpedia's checks."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

from graphs import storage
from graphs.models import GraphMetadata
from graphs.schema import graph_schema_errors
from graphs.services.common import (
    UPLOAD_SALT,
    _check_slug_free,
    check_slug,
    graph_error_ids_unify,
    max_upload_bytes,
)
from graphs.services.generate import graph_store
from models_app.models import Model, SourceSet
from neuronsite.errors import (
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)


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
    if graph_error_ids_unify(data) or gz[:2] != b"\x1f\x8b":
        gz = storage.graph_dumps(data)
    graph = graph_store(model=model, slug=slug, data=data, owner=user, source_set_name=set_name, gz=gz)
    storage.graph_file_delete(name)
    return graph
