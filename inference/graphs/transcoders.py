"""Per-layer transcoder sets in circuit-tracer's own folder format.

A transcoder set folder holds ``config.yaml`` (circuit-tracer's ``model_kind: transcoder_set``
config: ``feature_input_hook``, ``feature_output_hook``, ``transcoders`` = one path per layer,
relative paths resolved against the folder) and ``layer_{i}.safetensors`` written by
circuit-tracer's ``SingleLayerTranscoder.to_safetensors``. It is loaded through circuit-tracer's
own ``load_transcoders`` (local folder) or ``load_transcoder_from_hub`` (an ``hf://`` or
``owner/repo`` reference), so the same files work with bare circuit-tracer.
"""

from __future__ import annotations

from pathlib import Path

INPUT_HOOK = "mlp.hook_in"
OUTPUT_HOOK = "mlp.hook_out"


def read_config(folder: Path) -> dict:
    import yaml

    folder = Path(folder)
    path = folder / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{folder} is not a transcoder set folder (no config.yaml)")
    config = yaml.safe_load(path.read_text()) or {}
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


def load_transcoder_set(ref: str, *, device: str = "cpu", dtype=None):
    """A circuit-tracer ``TranscoderSet`` from a local folder or a hub reference, loaded eagerly
    (no lazy decoder reads) with the given device and dtype (circuit-tracer's own defaults are
    bfloat16 / CUDA when present)."""
    import torch
    from circuit_tracer.utils.hf_utils import load_transcoder_from_hub, load_transcoders

    dtype = dtype or torch.float32
    device = torch.device(device)
    if Path(ref).is_dir():
        return load_transcoders(read_config(Path(ref)), device, dtype, lazy_encoder=False, lazy_decoder=False)
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
