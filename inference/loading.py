"""Loading models and SAEs: pure loaders (no caching) and the engine's cached accessors.

``load_model(model_row)`` and ``load_sae(source_row)`` take a ``models_app`` Model / Source row (or
anything with the same attributes, e.g. the engine's frozen specs) and return a fresh
``HookedTransformer`` / sae_lens ``SAE`` on the inference device:

- Model: a local folder (``Model.local_path``: ``config.json`` = ``HookedTransformerConfig`` as a
  dict, ``model.safetensors``, tokenizer files from ``save_pretrained``), else
  ``HookedTransformer.from_pretrained_no_processing(Model.tl_model_name)`` as Neuronpedia does.
- SAE: a local sae_lens folder (``Source.local_path``) via ``SAE.load_from_disk``, else
  ``SAE.from_pretrained(Source.sae_release, Source.sae_id)``. Decoder norms are folded into the
  encoder where the architecture allows it (as Neuronpedia does); TopK SAEs without
  ``rescale_acts_by_decoder_norm`` refuse, and are used unfolded.

The engine (``inference.engine``) caches what these return; this module knows nothing of it.

torch is imported inside the functions; importing this module is cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from neuronsite.errors import ApplicationError


class LoadError(ApplicationError):
    """A model or SAE cannot be loaded (missing folder, no loader configured, bad config): a 409
    naming the model or source, never an unmapped 500. It is a state of the stored model or
    source, not a fault of the request (a schema-valid request is never answered 400 for it)."""

    status = 409
    default_message = "The model or SAE cannot be loaded."


def inference_device() -> str:
    if settings.INFERENCE_DEVICE:
        return settings.INFERENCE_DEVICE
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(name: str):
    import torch

    dtype = getattr(torch, str(name).removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype):
        raise LoadError(f"unknown dtype {name!r} (e.g. float32, float16, bfloat16)")
    return dtype


def load_model(model_row: Any, *, device: str | None = None, dtype: str | None = None):
    """A fresh ``HookedTransformer`` for a Model row (local folder first, then TL name)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    device = device or inference_device()
    dtype_name = dtype or settings.INFERENCE_DTYPE
    local_path = getattr(model_row, "local_path", "") or ""
    tl_name = getattr(model_row, "tl_model_name", "") or ""
    name = getattr(model_row, "name", "?")
    if local_path:
        folder = Path(local_path)
        if not (folder / "config.json").exists() or not (folder / "model.safetensors").exists():
            raise LoadError(
                f"Model '{name}': {folder} must hold config.json and model.safetensors "
                "(a TransformerLens config, its weights and a saved tokenizer)"
            )
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        try:
            raw = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise LoadError(f"Model '{name}': unreadable config.json in {folder}: {exc}") from exc
        if not isinstance(raw, dict):
            raise LoadError(f"Model '{name}': config.json in {folder} must hold a JSON object")
        raw["dtype"] = torch_dtype(dtype_name)
        raw["device"] = device
        raw["tokenizer_name"] = str(folder)
        raw.pop("n_devices", None)
        try:
            cfg = HookedTransformerConfig.from_dict(raw)
        except (TypeError, ValueError, AssertionError) as exc:
            raise LoadError(f"Model '{name}': bad config.json in {folder}: {exc}") from exc
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
        state = load_file(str(folder / "model.safetensors"))
        model.load_state_dict(state, strict=False)
        model.to(device, print_details=False)
        model.to(torch_dtype(dtype_name), print_details=False)
        model.eval()
        return model
    if tl_name:
        try:
            model = HookedTransformer.from_pretrained_no_processing(
                tl_name, device=device, dtype=torch_dtype(dtype_name)
            )
        except (OSError, ValueError, KeyError) as exc:  # unknown name, no network, no cached weights
            raise LoadError(f"Model '{name}': TransformerLens cannot load {tl_name!r}: {exc}") from exc
        model.eval()
        return model
    raise LoadError(f"Model '{name}' has neither a local_path nor a TransformerLens name")


def load_sae(source_row: Any, *, device: str | None = None, dtype: str | None = None, fold: bool = True):
    """A fresh sae_lens SAE for a Source row (local folder first, then release/id)."""
    from sae_lens import SAE

    device = device or inference_device()
    dtype_name = dtype or settings.INFERENCE_SAE_DTYPE
    local_path = getattr(source_row, "local_path", "") or ""
    release = getattr(source_row, "sae_release", "") or ""
    sae_id = getattr(source_row, "sae_id", "") or ""
    name = getattr(source_row, "name", "?")
    if local_path:
        folder = Path(local_path)
        if not (folder / "cfg.json").exists():
            raise LoadError(f"Source '{name}': {folder} is not a sae_lens folder (no cfg.json)")
        sae = SAE.load_from_disk(folder, device=device, dtype=dtype_name)
    elif release and sae_id:
        try:
            loaded = SAE.from_pretrained(release, sae_id, device=device, dtype=dtype_name)
        except (OSError, ValueError, KeyError) as exc:  # unknown release/id, no network
            raise LoadError(f"Source '{name}': sae_lens cannot load {release!r} / {sae_id!r}: {exc}") from exc
        sae = loaded[0] if isinstance(loaded, tuple) else loaded
    else:
        raise LoadError(f"Source '{name}' has neither a local_path nor a sae_lens release and id")
    if fold:
        try:
            sae.fold_W_dec_norm()
        except NotImplementedError:
            pass  # e.g. TopK without rescale_acts_by_decoder_norm: folding would change the top k
    sae.eval()
    return sae
