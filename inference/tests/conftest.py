"""Tiny real models and SAEs, built once per test session into a temp folder."""

from __future__ import annotations

import pytest

HOOK1 = "blocks.1.hook_resid_pre"
HOOK0 = "blocks.0.hook_resid_post"
D_MODEL = 32
D_SAE = 64


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory):
    from inference.testing import build_tiny_model, build_tiny_sae

    root = tmp_path_factory.mktemp("tiny")
    return {
        "model": build_tiny_model(root / "model", n_layers=2, d_model=D_MODEL, seed=0),
        "sae0": build_tiny_sae(root / "sae0", d_in=D_MODEL, d_sae=D_SAE, hook_name=HOOK0, seed=1),
        "sae1": build_tiny_sae(root / "sae1", d_in=D_MODEL, d_sae=D_SAE, hook_name=HOOK1, seed=2),
        "topk1": build_tiny_sae(
            root / "topk1", d_in=D_MODEL, d_sae=D_SAE, hook_name=HOOK1, architecture="topk", k=6, seed=3
        ),
        "jumprelu1": build_tiny_sae(
            root / "jr1", d_in=D_MODEL, d_sae=D_SAE, hook_name=HOOK1, architecture="jumprelu", seed=4
        ),
    }


@pytest.fixture
def tiny(db, tiny_folders):
    """Model ``tiny`` with source set ``res-tiny`` (layers 0 and 1) and a Feature row per latent,
    plus sets ``topk-tiny`` and ``jr-tiny`` on layer 1."""
    from inference.testing import register_tiny

    model, source_set, sources = register_tiny(
        model_name="tiny",
        model_folder=tiny_folders["model"],
        sae_folders={0: tiny_folders["sae0"], 1: tiny_folders["sae1"]},
        create_features=True,
        instruct=True,
    )
    _, _, topk = register_tiny(
        model_name="tiny",
        model_folder=tiny_folders["model"],
        sae_folders={1: tiny_folders["topk1"]},
        set_name="topk-tiny",
        instruct=True,
    )
    _, _, jr = register_tiny(
        model_name="tiny",
        model_folder=tiny_folders["model"],
        sae_folders={1: tiny_folders["jumprelu1"]},
        set_name="jr-tiny",
        instruct=True,
    )
    return {"model": model, "set": source_set, "sources": sources, "topk": topk[0], "jumprelu": jr[0]}


@pytest.fixture(scope="session")
def direct(tiny_folders):
    """The libraries used directly (no Neuronsite code): the model via TransformerLens from the same
    folder files, SAEs via ``SAE.load_from_disk`` + ``fold_W_dec_norm``."""
    import json

    import torch
    from sae_lens import SAE
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import AutoTokenizer

    folder = tiny_folders["model"]
    raw = json.loads((folder / "config.json").read_text())
    raw["dtype"] = torch.float32
    raw["device"] = "cpu"
    model = HookedTransformer(
        HookedTransformerConfig.from_dict(raw),
        tokenizer=AutoTokenizer.from_pretrained(str(folder)),
        move_to_device=False,
    )
    model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
    model.eval()

    def sae(name):
        s = SAE.load_from_disk(tiny_folders[name], device="cpu")
        try:
            s.fold_W_dec_norm()
        except NotImplementedError:
            pass
        return s

    return {"model": model, "sae": sae}
