"""Loaders on local folders, and the engine's LRU of SAEs."""

from __future__ import annotations

import pytest

from inference.engine import Engine, ModelSpec, SourceSpec
from inference.loading import LoadError, load_model, load_sae
from inference.tests.conftest import HOOK0, HOOK1


def test_model_folder_loads_with_same_weights_and_tokenizer(tiny_folders, direct):
    import torch

    model = load_model(ModelSpec(name="tiny", local_path=str(tiny_folders["model"])), device="cpu")
    ref = direct["model"]
    assert model.tokenizer.bos_token_id == 1  # non-zero BOS (circuit-tracer skips id 0)
    tokens = model.to_tokens("Hello world, a tiny test.")
    assert tokens[0, 0].item() == 1
    assert torch.equal(model(tokens), ref(tokens))


def test_sae_folder_loads_and_folds_decoder_norms(tiny_folders):
    import torch

    spec = SourceSpec(
        model_name="tiny", name="1-res-tiny", layer=1, hook_name=HOOK1, local_path=str(tiny_folders["sae1"])
    )
    folded = load_sae(spec, device="cpu")
    raw = load_sae(spec, device="cpu", fold=False)
    assert not torch.allclose(raw.W_dec.norm(dim=-1), torch.ones(raw.cfg.d_sae))
    assert torch.allclose(folded.W_dec.norm(dim=-1), torch.ones(folded.cfg.d_sae), atol=1e-5)
    # TopK refuses folding (it would change which latents win): loaded unfolded.
    topk = SourceSpec(
        model_name="tiny", name="1-topk", layer=1, hook_name=HOOK1, local_path=str(tiny_folders["topk1"])
    )
    assert not torch.allclose(load_sae(topk, device="cpu").W_dec.norm(dim=-1), torch.ones(64))


def test_loaders_name_what_is_missing(tmp_path):
    with pytest.raises(LoadError, match="config.json"):
        load_model(ModelSpec(name="nope", local_path=str(tmp_path)))
    with pytest.raises(LoadError, match="neither"):
        load_model(ModelSpec(name="nope"))
    with pytest.raises(LoadError, match="no-such-tl-model"):
        load_model(ModelSpec(name="nope", tl_model_name="no-such-tl-model"))
    with pytest.raises(LoadError, match="no-such-sae-release"):
        load_sae(
            SourceSpec(
                model_name="m",
                name="0-x",
                layer=0,
                hook_name=HOOK0,
                sae_release="no-such-sae-release",
                sae_id="x",
            )
        )
    with pytest.raises(LoadError, match="cfg.json"):
        load_sae(SourceSpec(model_name="m", name="0-x", layer=0, hook_name=HOOK0, local_path=str(tmp_path)))


def test_lru_evicts_least_recently_used_sae_and_reloads_it(tiny_folders):
    engine = Engine(max_loaded_saes=2)
    specs = [
        SourceSpec(model_name="tiny", name=n, layer=1, hook_name=HOOK1, local_path=str(tiny_folders[n]))
        for n in ("sae1", "topk1", "jumprelu1")
    ]
    a = engine.call(engine.sae, specs[0])
    engine.call(engine.sae, specs[1])
    assert engine.call(engine.sae, specs[0]) is a  # hit: now most recently used
    assert engine.sae_loads == 2
    engine.call(engine.sae, specs[2])  # evicts specs[1], the least recently used
    assert engine.loaded_saes() == [specs[0], specs[2]]
    assert engine.sae_loads == 3
    engine.call(engine.sae, specs[1])  # reloaded from disk, evicting specs[0]
    assert engine.sae_loads == 4
    assert engine.loaded_saes() == [specs[2], specs[1]]
    assert engine.call(engine.sae, specs[2]) is not None and engine.sae_loads == 4


def test_engine_runs_everything_on_one_dedicated_thread():
    import asyncio
    import threading

    engine = Engine()
    names = {engine.call(lambda: threading.current_thread().name) for _ in range(3)}
    names.add(asyncio.run(engine.run(lambda: threading.current_thread().name)))
    assert len(names) == 1 and names.pop().startswith("inference-engine")
    assert engine.call(lambda: engine.call(lambda: 5)) == 5  # re-entrant on its own thread
