"""A tiny real instruct model (chat template) with two SAEs, Feature rows carrying thresholds."""

from __future__ import annotations

import pytest

HOOK0 = "blocks.0.hook_resid_post"
HOOK1 = "blocks.1.hook_resid_pre"
D_MODEL = 32
D_SAE = 64
THRESHOLD = 0.15  # every latent's "0.99999" quantile in these tests (low: random SAEs fire weakly)


@pytest.fixture(scope="session")
def monitor_folders(tmp_path_factory):
    from inference.testing import build_tiny_model, build_tiny_sae

    root = tmp_path_factory.mktemp("monitor-tiny")
    return {
        "model": build_tiny_model(root / "model", n_layers=2, d_model=D_MODEL, n_ctx=128, seed=0),
        "sae0": build_tiny_sae(root / "sae0", d_in=D_MODEL, d_sae=D_SAE, hook_name=HOOK0, seed=1),
        "sae1": build_tiny_sae(root / "sae1", d_in=D_MODEL, d_sae=D_SAE, hook_name=HOOK1, seed=2),
    }


@pytest.fixture
def mtiny(db, monitor_folders):
    """Instruct model ``mtiny`` (set ``res-tiny``: layers 0 and 1). Latent thresholds: the stored
    0.99999 quantile for even latents, only ``max_act_approx`` (the fallback) for odd ones."""
    from features.models import Feature
    from inference.testing import register_tiny

    model, source_set, sources = register_tiny(
        model_name="mtiny",
        model_folder=monitor_folders["model"],
        sae_folders={0: monitor_folders["sae0"], 1: monitor_folders["sae1"]},
        create_features=True,
        instruct=True,
    )
    for f in Feature.objects.filter(source__in=sources):
        if f.index % 2 == 0:
            f.activation_quantiles = {"0.9999": THRESHOLD / 2, "0.99999": THRESHOLD}
        else:
            f.max_act_approx = THRESHOLD * 2
        f.save()
    return {"model": model, "set": source_set, "sources": sources}


@pytest.fixture
def plain_model(db, monitor_folders):
    """The same weights registered as a non-instruct model ``mplain``."""
    from inference.testing import register_tiny

    model, _, sources = register_tiny(
        model_name="mplain",
        model_folder=monitor_folders["model"],
        sae_folders={1: monitor_folders["sae1"]},
        create_features=True,
        instruct=False,
    )
    return {"model": model, "sources": sources}
