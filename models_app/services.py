"""Writes to models, source sets and sources."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import connection, transaction

from models_app.models import Model, Source, SourceRelease, SourceSet
from neuronsite.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from neuronsite.fields import Visibility


@transaction.atomic
def source_features_delete(*, source: Source) -> int:
    """Delete every feature of ``source`` with its activations, explanations and the rest.

    Done in SQL, children first: the ORM's cascade would load millions of activation rows.
    """
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM features_feature WHERE source_id = %s", [source.pk])
        (count,) = cur.fetchone()
        feature_ids = "SELECT id FROM features_feature WHERE source_id = %s"
        explanation_ids = f"SELECT id FROM features_explanation WHERE feature_id IN ({feature_ids})"
        for sql in (
            f"DELETE FROM features_explanationscore WHERE explanation_id IN ({explanation_ids})",
            f"DELETE FROM features_vote WHERE explanation_id IN ({explanation_ids})",
            f"DELETE FROM features_explanation WHERE feature_id IN ({feature_ids})",
            f"DELETE FROM features_activation WHERE feature_id IN ({feature_ids})",
            f"DELETE FROM features_listitem WHERE feature_id IN ({feature_ids})",
            f"DELETE FROM features_comment WHERE feature_id IN ({feature_ids})",
            f"DELETE FROM features_bookmark WHERE feature_id IN ({feature_ids})",
            "DELETE FROM features_feature WHERE source_id = %s",
        ):
            cur.execute(sql, [source.pk])
    return count


# --- creation (imports, /api/model/new, /api/source-set/new) ---------------------------------

MODEL_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
SET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,120}$")


def source_name_for(*, layer: int, set_name: str) -> str:
    """Neuronpedia's source id: ``"{layer}-{source set}"``."""
    return f"{layer}-{set_name}"


def _check_slug(value: str, *, field: str, pattern: re.Pattern) -> str:
    value = (value or "").strip()
    if not pattern.match(value):
        raise ValidationFailed(
            {
                field: f"{value!r} is not valid: use letters, digits, '.', '_' or '-' (starting with a letter or digit)"
            }
        )
    return value


@transaction.atomic
def model_create(
    *,
    name: str,
    layers: int,
    owner=None,
    display_name: str = "",
    website: str = "",
    d_model: int | None = None,
    visibility: str = Visibility.UNLISTED,
    **fields,
) -> Model:
    name = _check_slug(name, field="id", pattern=MODEL_ID_RE)
    if type(layers) is not int or layers < 0 or layers > 10_000:
        raise ValidationFailed({"layers": f"must be an integer between 0 and 10000, got {layers!r}"})
    if Model.objects.filter(name=name).exists():
        raise Conflict({"id": f"Model '{name}' already exists."})
    return Model.objects.create(
        name=name,
        layers=layers,
        owner=owner,
        display_name=display_name or "",
        website=website or "",
        d_model=d_model,
        visibility=visibility,
        **fields,
    )


@transaction.atomic
def source_set_create(
    *,
    model: Model,
    name: str,
    owner=None,
    description: str = "",
    urls: list[str] | None = None,
    visibility: str = Visibility.UNLISTED,
    type: str = "",
    hook_template: str = "",
    **fields,
) -> SourceSet:
    """A source set with one source per layer of its model (``"{layer}-{name}"``)."""
    name = _check_slug(name, field="name", pattern=SET_NAME_RE)
    if SourceSet.objects.filter(model=model, name=name).exists():
        raise Conflict({"name": f"Source set '{model.name}/{name}' already exists."})
    source_set = SourceSet.objects.create(
        model=model,
        name=name,
        owner=owner,
        description=description or "",
        urls=urls or [],
        visibility=visibility,
        type=type,
        **fields,
    )
    Source.objects.bulk_create(
        Source(
            model=model,
            source_set=source_set,
            name=source_name_for(layer=layer, set_name=name),
            layer=layer,
            hook_name=hook_template.format(layer=layer) if hook_template else "",
            owner=owner,
            visibility=visibility,
        )
        for layer in range(model.layers)
    )
    return source_set


@transaction.atomic
def source_set_create_by_user(
    *, user, model_id: str, name: str, description: str = "", urls: list[str] | None = None
) -> SourceSet:
    """POST /api/source-set/new: only the model's owner (or staff) adds a set to a model, and one
    call creates at most ``settings.SOURCE_SET_MAX_SOURCES`` sources (one per layer)."""
    model = Model.objects.visible_to(user).filter(name=model_id).first()
    if model is None:
        raise NotFound(f"Model '{model_id}' not found.")
    if not Model.objects.editable_by(user).filter(pk=model.pk).exists():
        raise PermissionDenied(
            f"Model '{model.name}' is not yours: only its owner can add source sets to it."
        )
    limit = settings.SOURCE_SET_MAX_SOURCES
    if model.layers > limit:
        raise ValidationFailed(
            {
                "modelId": f"Model '{model.name}' has {model.layers} layers: one source-set/new call creates at"
                f" most {limit} sources (one per layer; SOURCE_SET_MAX_SOURCES)."
            }
        )
    return source_set_create(model=model, name=name, owner=user, description=description, urls=urls)


@transaction.atomic
def source_ensure(
    *,
    model_name: str,
    set_name: str,
    layer: int,
    hook_name: str = "",
    create_model: bool = True,
    owner=None,
    d_sae: int | None = None,
    set_defaults: dict | None = None,
    source_defaults: dict | None = None,
) -> Source:
    """The source ``model/{layer}-{set}``, creating the model, source set and source when
    missing (imports). ``create_model=False`` makes an unknown model an error."""
    model_name = _check_slug(model_name, field="model", pattern=MODEL_ID_RE)
    set_name = _check_slug(set_name, field="source set", pattern=SET_NAME_RE)
    if type(layer) is not int or layer < 0:
        raise ValidationFailed({"layer": f"must be a non-negative integer, got {layer!r}"})
    model = Model.objects.filter(name=model_name).first()
    if model is None:
        if not create_model:
            raise NotFound(f"Model '{model_name}' not found.")
        model = Model.objects.create(
            name=model_name, layers=layer + 1, owner=owner, visibility=Visibility.PUBLIC
        )
    elif model.layers <= layer:
        Model.objects.filter(pk=model.pk).update(layers=layer + 1)
        model.layers = layer + 1
    source_set, _ = SourceSet.objects.get_or_create(
        model=model,
        name=set_name,
        defaults={"owner": owner, "type": "sae", "visibility": Visibility.PUBLIC, **(set_defaults or {})},
    )
    name = source_name_for(layer=layer, set_name=set_name)
    source = Source.objects.filter(model=model, name=name).select_related("model", "source_set").first()
    if source is None:
        source = Source.objects.create(
            model=model,
            source_set=source_set,
            name=name,
            layer=layer,
            hook_name=hook_name,
            owner=owner,
            d_sae=d_sae,
            visibility=source_set.visibility,
            **(source_defaults or {}),
        )
    else:
        changed = {}
        if hook_name and not source.hook_name:
            changed["hook_name"] = hook_name
        if d_sae and not source.d_sae:
            changed["d_sae"] = d_sae
        for key, value in (source_defaults or {}).items():
            if value not in (None, "") and getattr(source, key) in (None, ""):
                changed[key] = value
        if changed:
            Source.objects.filter(pk=source.pk).update(**changed)
            for key, value in changed.items():
                setattr(source, key, value)
    return source


def source_set_check_owner(*, source_set: SourceSet, user) -> None:
    if not (user.is_staff or (source_set.owner_id is not None and source_set.owner_id == user.pk)):
        raise PermissionDenied(
            f"Source set '{source_set.model.name}/{source_set.name}' is not yours: only its owner can upload to it."
        )


def release_ensure(*, name: str, **defaults) -> SourceRelease:
    release, _ = SourceRelease.objects.get_or_create(name=name, defaults=defaults)
    return release


# --- researcher pass (issue 16): SAEBench eval results ---------------------------------------------


def _eval_metrics(raw, *, field: str = "eval_result_metrics") -> dict:
    """SAEBench's ``eval_result_metrics``: ``{category: {metric: number | null}}``; anything else
    is refused naming the offending key."""
    if not isinstance(raw, dict) or not raw:
        raise ValidationFailed({field: "must be a non-empty object of metric categories"})
    for category, metrics in raw.items():
        if not isinstance(metrics, dict):
            raise ValidationFailed({f"{field}.{category}": "must be an object of metrics"})
        for name, value in metrics.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValidationFailed({f"{field}.{category}.{name}": f"must be a number, got {value!r}"})
    return raw


def source_for_saebench(*, data: dict, model: Model) -> Source:
    """The source of ``model`` whose sae_lens release and id match the SAEBench output's
    ``sae_lens_release_id`` / ``sae_lens_id``."""
    release, sae_id = data.get("sae_lens_release_id"), data.get("sae_lens_id")
    if not release or not sae_id:
        raise ValidationFailed(
            {"source": "name the source: the file has no sae_lens_release_id / sae_lens_id"}
        )
    source = Source.objects.filter(model=model, sae_release=release, sae_id=sae_id).first()
    if source is None:
        raise NotFound(f"No source of '{model.name}' loads sae_lens {release!r} / {sae_id!r}.")
    return source


@transaction.atomic
def eval_import(*, source: Source, data) -> object:
    """Store one SAEBench eval output (``eval_type_id``, ``eval_result_metrics``, optional
    ``eval_result_details`` / ``eval_result_unstructured``, ``eval_config``, ...; see
    :mod:`models_app.saebench`) for ``source``: one Eval per (source, eval type), replaced by a
    newer import. The type gets SAEBench's title and default-display metrics."""
    from models_app import saebench
    from models_app.models import Eval, EvalType

    if not isinstance(data, dict):
        raise ValidationFailed({"file": "must be a JSON object (one SAEBench result)"})
    type_name = data.get("eval_type_id")
    if not isinstance(type_name, str) or not type_name.strip() or len(type_name) > 100:
        raise ValidationFailed({"eval_type_id": "must be a non-empty string of at most 100 characters"})
    type_name = saebench.ALIASES.get(type_name.strip(), type_name.strip())
    if "eval_result_metrics" not in data and "eval_results" in data:
        raise ValidationFailed(
            {
                "eval_result_metrics": "missing: this is SAEBench's pre-0.3 format (eval_results); re-run the eval"
            }
        )
    metrics = _eval_metrics(data.get("eval_result_metrics"))
    details = data.get("eval_result_details")
    if details is not None and not isinstance(details, (list, dict)):
        raise ValidationFailed({"eval_result_details": "must be a list or an object"})
    title, description, featured = saebench.type_info(type_name)
    eval_type, created = EvalType.objects.get_or_create(
        name=type_name,
        defaults={"display_name": title, "description": description, "featured_metrics": featured},
    )
    if not created and featured and not eval_type.featured_metrics:
        eval_type.display_name, eval_type.description, eval_type.featured_metrics = (
            title,
            description,
            featured,
        )
        eval_type.save(update_fields=["display_name", "description", "featured_metrics"])
    output = {k: v for k, v in data.items() if k not in ("eval_result_details", "eval_result_unstructured")}
    output["eval_type_id"] = type_name
    output["eval_result_metrics"] = metrics
    detailed = {}
    if details:
        detailed["eval_result_details"] = details
    if data.get("eval_result_unstructured") is not None:
        detailed["eval_result_unstructured"] = data["eval_result_unstructured"]
    ev, _ = Eval.objects.update_or_create(
        source=source, type=eval_type, defaults={"output": output, "detailed_metrics": detailed}
    )
    return ev


def _saebench_ids(output: dict) -> tuple:
    return (output.get("sae_lens_release_id"), output.get("sae_lens_id"))


@transaction.atomic
def evals_import(*, model: Model, data, source: Source | None = None) -> list:
    """Every eval output in one SAEBench file (a plain output, or SAEBench's ``run_eval`` result
    keyed by ``{release}_{sae_id}``): each for ``source`` when given, else for the source whose
    sae_lens release / id match it. With ``source`` and a file holding several SAEs' results, only
    the entries whose sae_lens ids are the source's are taken. All or nothing."""
    from models_app import saebench

    outputs = saebench.outputs_of(data)
    if source is not None and len(outputs) > 1:
        mine = (source.sae_release or None, source.sae_id or None)
        outputs = [(k, o) for k, o in outputs if isinstance(o, dict) and _saebench_ids(o) == mine]
        if not outputs:
            raise ValidationFailed(
                {
                    "source": f"the file holds several SAEs' results and none is for {source.name} "
                    f"(sae_lens {mine[0]!r} / {mine[1]!r}); import each SAE's own file"
                }
            )
    out = []
    for _key, output in outputs:
        if not isinstance(output, dict):
            raise ValidationFailed({"file": "must be a JSON object (one SAEBench result)"})
        target = source or source_for_saebench(data=output, model=model)
        out.append(eval_import(source=target, data=output))
    return out


# --- researcher pass (issue 16): /sae/new, an SAE set with how to load each layer -------------------


def parse_layer_loading(text: str, *, layers: int) -> dict[int, dict]:
    """``"LAYER RELEASE SAE_ID"`` (sae_lens) or ``"LAYER /local/folder"`` per line into
    ``{layer: {"sae_release", "sae_id"} | {"local_path"}}``; errors name the line."""
    out: dict[int, dict] = {}
    for n, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if not parts[0].isdigit():
            raise ValidationFailed({"loading": f"line {n}: start with the layer number, got {parts[0]!r}"})
        layer = int(parts[0])
        if layer >= layers:
            raise ValidationFailed(
                {"loading": f"line {n}: layer {layer} is outside the model's {layers} layers"}
            )
        if layer in out:
            raise ValidationFailed({"loading": f"line {n}: layer {layer} is given twice"})
        if len(parts) == 2 and (parts[1].startswith(("/", "./", "~")) or "\\" in parts[1]):
            out[layer] = {"local_path": parts[1]}
        elif len(parts) == 3:
            out[layer] = {"sae_release": parts[1], "sae_id": parts[2]}
        else:
            raise ValidationFailed(
                {
                    "loading": f"line {n}: write 'LAYER RELEASE SAE_ID' (sae_lens) or 'LAYER /path/to/sae-folder'"
                }
            )
    return out


@transaction.atomic
def source_set_create_with_loading(
    *,
    model: Model,
    name: str,
    owner,
    loading: dict[int, dict],
    description: str = "",
    type: str = "sae",
    hook_template: str = "",
    creator_name: str = "",
    visibility: str = Visibility.UNLISTED,
    urls: list[str] | None = None,
) -> SourceSet:
    """:func:`source_set_create` plus each layer's sae_lens release / id or local folder."""
    if model.owner_id is not None and owner is not None and model.owner_id != owner.pk and not owner.is_staff:
        raise PermissionDenied(f"Model '{model.name}' is not yours: only its owner adds SAE sets to it.")
    if hook_template:
        try:
            hook_template.format(layer=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValidationFailed(
                {"hook_template": "may only use {layer}, e.g. blocks.{layer}.hook_resid_post"}
            ) from exc
    source_set = source_set_create(
        model=model,
        name=name,
        owner=owner,
        description=description,
        urls=urls,
        visibility=visibility,
        type=type,
        hook_template=hook_template,
        creator_name=creator_name,
    )
    for layer, how in loading.items():
        fields = dict(how)
        if "local_path" in how:
            fields.update(_local_sae_fields(how["local_path"], layer=layer))
            if hook_template:  # the form's hook name wins over the folder's own
                fields.pop("hook_name", None)
        Source.objects.filter(source_set=source_set, layer=layer).update(**fields)
    return source_set


def _local_sae_fields(path: str, *, layer: int) -> dict:
    """What a local sae_lens folder says about itself (``cfg.json``): d_sae, hook, architecture and
    the config, so that dashboards can be planned and inference finds the hook. A folder that does
    not exist is refused (the form runs where the engine runs); a folder without ``cfg.json`` is kept
    as given."""
    import json
    from pathlib import Path

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValidationFailed({"loading": f"layer {layer}: no folder at {path}"})
    cfg_path = folder / "cfg.json"
    if not cfg_path.is_file():
        return {}
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed({"loading": f"layer {layer}: {cfg_path} is not valid JSON ({exc})"}) from exc
    if not isinstance(cfg, dict):
        raise ValidationFailed({"loading": f"layer {layer}: {cfg_path} is not a JSON object"})
    d_sae = cfg.get("d_sae")
    if d_sae is not None and (type(d_sae) is not int or d_sae < 1):
        raise ValidationFailed({"loading": f"layer {layer}: d_sae in {cfg_path} must be a positive integer"})
    metadata = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    hook = metadata.get("hook_name") or cfg.get("hook_name") or ""
    fields = {"config": cfg, "architecture": str(cfg.get("architecture") or "")[:64]}
    if d_sae is not None:
        fields["d_sae"] = d_sae
    if isinstance(hook, str) and hook:
        fields["hook_name"] = hook[:200]
    return fields
