"""The metadata rows of Neuronpedia's export layout (``model.jsonl``, ``release.jsonl``,
``sourceset.jsonl``, ``source.jsonl``): the model, release, source set and source of an export
folder, created when missing, and the users that rows name as creators or authors."""

from __future__ import annotations

from pathlib import Path

import orjson
from django.contrib.auth import get_user_model
from django.db import transaction

from features.importers.neuronpedia_layout import parse_iso
from models_app.models import Model, Source, SourceRelease, SourceSet
from neuronsite.fields import Visibility


class ExportImportError(ValueError):
    """Bad input in an export folder; the message names the file (and line, feature, field)."""


class ExportUsers:
    """creatorId/authorId (usernames in our exports) -> user id; unknown names become inactive
    placeholder accounts so that attribution survives a round trip."""

    def __init__(self):
        self.cache: dict[str, int] = {}

    def id(self, name) -> int | None:
        if name in (None, ""):
            return None
        name = str(name)[:150]
        if name not in self.cache:
            User = get_user_model()
            user = User.objects.filter(username=name).first()
            if user is None:
                user = User(username=name, is_active=False)
                user.set_unusable_password()
                user.save()
            self.cache[name] = user.pk
        return self.cache[name]

    def get(self, name):
        pk = self.id(name)
        return None if pk is None else get_user_model().objects.get(pk=pk)


class UploaderUsers(ExportUsers):
    """For an import into one source set by its owner (not staff): every row the export credits
    to someone is credited to the uploader, and no account is created for the names it carries
    (an upload must not claim or squat other people's usernames)."""

    def __init__(self, user_id: int):
        super().__init__()
        self.user_id = user_id

    def id(self, name) -> int | None:
        return None if name in (None, "") else self.user_id


def _read_one(path: Path) -> dict | None:
    if not path.is_file():
        return None
    for line in path.read_bytes().splitlines():
        if line.strip():
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ExportImportError(f"{path}: malformed JSON ({exc})") from None
            if type(row) is not dict:
                raise ExportImportError(f"{path}: expected a JSON object per line")
            return row
    return None


def _meta(source_dir: Path, name: str) -> dict | None:
    return _read_one(source_dir / name) or _read_one(source_dir.parent / name)


def _vis(value, default=Visibility.PUBLIC) -> str:
    return value if value in Visibility.values else default


def _stamp(obj_model, pk, row, fields=("createdAt", "updatedAt")) -> None:
    updates = {}
    if "createdAt" in fields and row.get("createdAt"):
        updates["created_at"] = parse_iso(row["createdAt"])
    if "updatedAt" in fields and row.get("updatedAt"):
        updates["updated_at"] = parse_iso(row["updatedAt"])
    if updates:
        obj_model.objects.filter(pk=pk).update(**updates)


def source_target(source_dir: Path) -> tuple[str, str, str]:
    """(model id, source set name, source id) that one export folder writes into."""
    model_row = _meta(source_dir, "model.jsonl") or {"id": source_dir.parent.name}
    source_row = _meta(source_dir, "source.jsonl") or {"id": source_dir.name}
    set_row = _meta(source_dir, "sourceset.jsonl")
    model_id = model_row.get("id") or source_row.get("modelId")
    source_id = source_row.get("id") or source_dir.name
    set_name = source_row.get("setName") or (set_row or {}).get("name") or str(source_id).partition("-")[2]
    if not model_id or not set_name:
        raise ExportImportError(
            f"{source_dir}: cannot tell the model and source set (model.jsonl / source.jsonl)"
        )
    return str(model_id), str(set_name), str(source_id)


def check_into(*, source_dir: Path, into: SourceSet, label: str | None = None) -> Source | None:
    """An export folder imported into the one source set ``into`` (an owner's upload) may write
    only there: its model and set must be ``into``'s, and a source it names that exists must be
    in ``into``. Returns that existing source (None when it is new)."""
    model_id, set_name, source_id = source_target(source_dir)
    label = label or str(source_dir)
    if (model_id, set_name) != (into.model.name, into.name):
        raise ExportImportError(
            f"{label}: the archive writes into {model_id}/{set_name} ({source_id}); this upload may only "
            f"import into {into.model.name}/{into.name}"
        )
    existing = Source.objects.filter(model=into.model, name=source_id).first()
    if existing is not None and existing.source_set_id != into.pk:
        raise ExportImportError(
            f"{label}: source {into.model.name}/{source_id} belongs to another source set; this upload "
            f"may only import into {into.model.name}/{into.name}"
        )
    return existing


def _source_into(*, source_dir: Path, into: SourceSet) -> Source:
    """The source of one export folder inside ``into`` (created there when missing, owned like the
    set); the model, release and other sets are left as they are."""
    source = check_into(source_dir=source_dir, into=into)
    if source is None:
        source_row = _meta(source_dir, "source.jsonl") or {}
        _, _, source_id = source_target(source_dir)
        try:
            layer = int(source_row.get("layerNumber", source_id.partition("-")[0]))
        except (TypeError, ValueError):
            layer = 0
        source = Source.objects.create(
            model=into.model,
            source_set=into,
            name=source_id,
            layer=layer,
            hook_name=source_row.get("hookName") or "",
            config=source_row.get("saelensConfig") or {},
            sae_release=source_row.get("saelensRelease") or "",
            sae_id=source_row.get("saelensSaeId") or "",
            architecture=source_row.get("architecture") or "",
            d_sae=source_row.get("dSae") or None,
            visibility=into.visibility,
            owner_id=into.owner_id,
        )
    return Source.objects.select_related("model", "source_set").get(pk=source.pk)


@transaction.atomic
def source_meta_import(*, source_dir: Path, users: ExportUsers, into: SourceSet | None = None) -> Source:
    """Create the model, release, source set and source of one export folder when missing. With
    ``into`` (an owner's upload into one source set) only that set's sources are touched."""
    if into is not None:
        return _source_into(source_dir=source_dir, into=into)
    model_row = _meta(source_dir, "model.jsonl") or {"id": source_dir.parent.name}
    source_row = _meta(source_dir, "source.jsonl") or {"id": source_dir.name}
    set_row = _meta(source_dir, "sourceset.jsonl")
    release_row = _meta(source_dir, "release.jsonl")
    model_id, set_name, source_id = source_target(source_dir)
    try:
        layer = int(source_row.get("layerNumber", source_id.partition("-")[0]))
    except (TypeError, ValueError):
        layer = 0

    model = Model.objects.filter(name=model_id).first()
    if model is None:
        model = Model.objects.create(
            name=model_id,
            display_name=model_row.get("displayName") or "",
            display_name_short=model_row.get("displayNameShort") or "",
            owner_id=users.id(model_row.get("creatorId")),
            tl_model_name=model_row.get("tlensId") or "",
            hf_model_id=model_row.get("hfModelId") or "",
            d_model=model_row.get("dimension"),
            visibility=_vis(model_row.get("visibility")),
            inference_enabled=bool(model_row.get("inferenceEnabled", True)),
            instruct=bool(model_row.get("instruct", False)),
            layers=max(int(model_row.get("layers") or 0), layer + 1),
            creator_name=model_row.get("owner") or "",
            website=model_row.get("website") or "",
        )
        _stamp(Model, model.pk, model_row)
    release = None
    if release_row and release_row.get("name"):
        release = SourceRelease.objects.filter(name=release_row["name"]).first()
        if release is None:
            release = SourceRelease.objects.create(
                name=release_row["name"],
                visibility=_vis(release_row.get("visibility")),
                featured=bool(release_row.get("featured", False)),
                description=release_row.get("description") or "",
                description_short=release_row.get("descriptionShort") or "",
                urls=release_row.get("urls") or [],
                creator_name=release_row.get("creatorName") or "",
                owner_id=users.id(release_row.get("creatorId")),
            )
            _stamp(SourceRelease, release.pk, release_row, fields=("createdAt",))
    set_row = set_row or {}
    source_set = SourceSet.objects.filter(model=model, name=set_name).first()
    if source_set is None:
        source_set = SourceSet.objects.create(
            model=model,
            name=set_name,
            release=release,
            type=set_row.get("type") or "",
            description=set_row.get("description") or "",
            creator_name=set_row.get("creatorName") or "",
            urls=set_row.get("urls") or [],
            owner_id=users.id(set_row.get("creatorId")),
            visibility=_vis(set_row.get("visibility")),
            has_dashboards=bool(set_row.get("hasDashboards", True)),
            allow_inference_search=bool(set_row.get("allowInferenceSearch", False)),
            allow_steering=bool(set_row.get("allowSteering", True)),
            allow_graphs=bool(set_row.get("hasGraphs", False) or set_row.get("graphEnabled", False)),
            show_umap=bool(set_row.get("showUmap", False)),
        )
        _stamp(SourceSet, source_set.pk, set_row, fields=("createdAt",))
    source = Source.objects.filter(model=model, name=source_id).first()
    if source is None:
        source = Source.objects.create(
            model=model,
            source_set=source_set,
            name=source_id,
            layer=layer,
            hook_name=source_row.get("hookName") or "",
            has_dashboards=bool(source_row.get("hasDashboards", True)),
            inference_enabled=bool(source_row.get("inferenceEnabled", True)),
            config=source_row.get("saelensConfig") or {},
            sae_release=source_row.get("saelensRelease") or "",
            sae_id=source_row.get("saelensSaeId") or "",
            architecture=source_row.get("architecture") or "",
            d_sae=source_row.get("dSae") or (model_row.get("neuronsPerLayer") or None),
            visibility=_vis(source_row.get("visibility")),
            owner_id=users.id(source_row.get("creatorId")),
            num_prompts=source_row.get("num_prompts"),
            num_tokens_in_prompt=source_row.get("num_tokens_in_prompt"),
            dataset=source_row.get("dataset") or "",
        )
        _stamp(Source, source.pk, source_row, fields=("createdAt",))
    # Defaults of the model, once what they name exists.
    updates = {}
    if not model.default_source_set_id and model_row.get("defaultSourceSetName"):
        updates["default_source_set"] = SourceSet.objects.filter(
            model=model, name=model_row["defaultSourceSetName"]
        ).first()
    if not model.default_source_id and model_row.get("defaultSourceId"):
        updates["default_source"] = Source.objects.filter(
            model=model, name=model_row["defaultSourceId"]
        ).first()
    updates = {k: v for k, v in updates.items() if v is not None}
    if updates:
        Model.objects.filter(pk=model.pk).update(**updates)
    return Source.objects.select_related("model", "source_set").get(pk=source.pk)
