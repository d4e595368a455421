"""Transcoder sets (per-layer transcoders or one cross-layer transcoder) in circuit-tracer's own
folder formats.

A per-layer transcoder set folder holds ``config.yaml`` (circuit-tracer's ``model_kind: transcoder_set``
config: ``feature_input_hook``, ``feature_output_hook``, ``transcoders`` = one path per layer,
relative paths resolved against the folder) and ``layer_{i}.safetensors`` written by
circuit-tracer's ``SingleLayerTranscoder.to_safetensors``. It is loaded through circuit-tracer's
own ``load_transcoders`` (local folder) or ``load_transcoder_from_hub`` (an ``hf://`` or
``owner/repo`` reference), so the same files work with bare circuit-tracer.

A cross-layer transcoder (CLT) folder holds ``config.yaml`` (``model_kind:
cross_layer_transcoder``, ``feature_input_hook``, ``feature_output_hook``, as in circuit-tracer's
hub repositories) and ``W_enc_{i}.safetensors`` / ``W_dec_{i}.safetensors`` written by
``CrossLayerTranscoder.to_safetensors``. circuit-tracer's ``load_transcoders`` only reads a CLT
from the hub (it calls ``snapshot_download(config["repo_id"])``); a local CLT folder is loaded
with its own ``load_clt(folder, …)``, the function that call ends in, with the config's hooks and
scan. A hub CLT goes through ``load_transcoder_from_hub`` like a per-layer set.
"""

from __future__ import annotations

from pathlib import Path

INPUT_HOOK = "mlp.hook_in"
OUTPUT_HOOK = "mlp.hook_out"
CLT_KIND = "cross_layer_transcoder"
CLT_INPUT_HOOK = "hook_resid_mid"  # circuit-tracer's CLT defaults
CLT_OUTPUT_HOOK = "hook_mlp_out"


def _clt_layers(folder: Path) -> list[str]:
    return sorted(
        (str(p) for p in Path(folder).glob("W_enc_*.safetensors")),
        key=lambda p: int(Path(p).stem.rsplit("_", 1)[1]),
    )


def read_config(folder: Path) -> dict:
    import yaml

    folder = Path(folder)
    path = folder / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{folder} is not a transcoder set folder (no config.yaml)")
    config = yaml.safe_load(path.read_text()) or {}
    if config.get("model_kind") == CLT_KIND:
        # One file of encoder weights per layer (the layer's features read there).
        config["transcoders"] = _clt_layers(folder)
        if not config["transcoders"]:
            raise FileNotFoundError(f"{folder} is a CLT folder without W_enc_*.safetensors files")
        config.setdefault("feature_input_hook", CLT_INPUT_HOOK)
        config.setdefault("feature_output_hook", CLT_OUTPUT_HOOK)
        config.setdefault("scan", folder.name)
        config["clt_path"] = str(folder)
        return config
    paths = config.get("transcoders") or sorted(
        (str(p) for p in folder.glob("layer_*.safetensors")),
        key=lambda p: int(Path(p).stem.split("_")[1]),
    )
    config["transcoders"] = [
        p if p.startswith("hf://") or Path(p).is_absolute() else str(folder / p) for p in paths
    ]
    config.setdefault("model_kind", "transcoder_set")
    config.setdefault("scan", folder.name)
    return config


def write_config(folder: Path, *, n_layers: int, scan: str, model_name: str = "") -> Path:
    import yaml

    folder = Path(folder)
    config = {
        "model_name": model_name,
        "model_kind": "transcoder_set",
        "scan": scan,
        "feature_input_hook": INPUT_HOOK,
        "feature_output_hook": OUTPUT_HOOK,
        "transcoders": [f"layer_{i}.safetensors" for i in range(n_layers)],
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def n_layers_of(transcoders) -> int:
    """Layers a loaded ``TranscoderSet`` or ``CrossLayerTranscoder`` covers."""
    n_layers = getattr(transcoders, "n_layers", None)
    return int(n_layers) if n_layers is not None else len(transcoders)


def load_transcoder_set(ref: str, *, device: str = "cpu", dtype=None):
    """A circuit-tracer ``TranscoderSet`` from a local folder or a hub reference, loaded eagerly
    (no lazy decoder reads) with the given device and dtype (circuit-tracer's own defaults are
    bfloat16 / CUDA when present)."""
    import torch
    from circuit_tracer.utils.hf_utils import load_transcoder_from_hub, load_transcoders

    dtype = dtype or torch.float32
    device = torch.device(device)
    if Path(ref).is_dir():
        config = read_config(Path(ref))
        if config["model_kind"] == CLT_KIND:
            from circuit_tracer.transcoder.cross_layer_transcoder import load_clt

            return load_clt(
                config["clt_path"],
                feature_input_hook=config["feature_input_hook"],
                feature_output_hook=config["feature_output_hook"],
                scan=config["scan"],
                device=device,
                dtype=dtype,
                lazy_decoder=False,
                lazy_encoder=False,
            )
        return load_transcoders(config, device, dtype, lazy_encoder=False, lazy_decoder=False)
    transcoders, _ = load_transcoder_from_hub(ref, device=device, dtype=dtype, lazy_decoder=False)
    return transcoders


def build_tiny_transcoders(
    folder: Path,
    *,
    n_layers: int,
    d_model: int,
    d_transcoder: int,
    scan: str,
    model_name: str = "",
    seed: int = 0,
    jumprelu: bool = False,
) -> Path:
    """Random-weight per-layer transcoders saved with circuit-tracer's ``to_safetensors``.
    Encoder biases are shifted so that a good share of features fire on typical inputs."""
    import torch
    import torch.nn.functional as F
    from circuit_tracer.transcoder import SingleLayerTranscoder
    from circuit_tracer.transcoder.activation_functions import JumpReLU

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    for layer in range(n_layers):
        if jumprelu:
            act = JumpReLU(torch.rand(d_transcoder, generator=gen) * 0.1, 0.1)
        else:
            act = F.relu
        tc = SingleLayerTranscoder(
            d_model, d_transcoder, act, layer, device=torch.device("cpu"), dtype=torch.float32
        )
        with torch.no_grad():
            tc.W_enc.copy_(torch.randn(d_transcoder, d_model, generator=gen) / d_model**0.5)
            tc.b_enc.copy_(torch.randn(d_transcoder, generator=gen) * 0.1 - 0.3)
            tc.W_dec.copy_(torch.randn(d_transcoder, d_model, generator=gen) / d_transcoder**0.5)
            tc.b_dec.copy_(torch.randn(d_model, generator=gen) * 0.02)
        tc.to_safetensors(str(folder / f"layer_{layer}.safetensors"))
    return write_config(folder, n_layers=n_layers, scan=scan, model_name=model_name)


def write_clt_config(folder: Path, *, scan: str, model_name: str = "", **hooks) -> Path:
    import yaml

    folder = Path(folder)
    config = {
        "model_name": model_name,
        "model_kind": CLT_KIND,
        "scan": scan,
        "feature_input_hook": hooks.get("feature_input_hook", CLT_INPUT_HOOK),
        "feature_output_hook": hooks.get("feature_output_hook", CLT_OUTPUT_HOOK),
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def build_tiny_clt(
    folder: Path,
    *,
    n_layers: int,
    d_model: int,
    d_transcoder: int,
    scan: str,
    model_name: str = "",
    seed: int = 0,
    jumprelu: bool = False,
) -> Path:
    """A random-weight cross-layer transcoder built with circuit-tracer's ``CrossLayerTranscoder``
    and saved with its ``to_safetensors`` (features of layer ``l`` decode into layers ``l…n-1``).
    Encoder biases are shifted so that a good share of features fire on typical inputs."""
    import torch
    from circuit_tracer.transcoder.cross_layer_transcoder import CrossLayerTranscoder

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    clt = CrossLayerTranscoder(
        n_layers,
        d_transcoder,
        d_model,
        activation_function="jump_relu" if jumprelu else "relu",
        lazy_decoder=False,
        lazy_encoder=False,
        feature_input_hook=CLT_INPUT_HOOK,
        feature_output_hook=CLT_OUTPUT_HOOK,
        scan=scan,
        device=torch.device("cpu"),
        dtype=torch.float32,
    )
    with torch.no_grad():
        clt.W_enc.copy_(torch.randn(n_layers, d_transcoder, d_model, generator=gen) / d_model**0.5)
        clt.b_enc.copy_(torch.randn(n_layers, d_transcoder, generator=gen) * 0.1 - 0.3)
        clt.b_dec.copy_(torch.randn(n_layers, d_model, generator=gen) * 0.02)
        for layer, w_dec in enumerate(clt.W_dec):
            # Spread each feature's output over the layers it writes to.
            scale = (d_transcoder * (n_layers - layer)) ** 0.5
            w_dec.copy_(torch.randn(d_transcoder, n_layers - layer, d_model, generator=gen) / scale)
        if jumprelu:
            clt.activation_function.threshold.copy_(
                torch.rand(n_layers, 1, d_transcoder, generator=gen) * 0.1
            )
    clt.to_safetensors(str(folder))
    return write_clt_config(folder, scan=scan, model_name=model_name)
