"""``manage.py seed_demo`` at a tiny size: trains, registers, generates dashboards, explains,
creates the list, loads with the real loaders, and is instant the second time."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

QUICK = [
    "--vocab-size", "300", "--d-model", "32", "--d-mlp", "64", "--n-ctx", "16", "--model-steps", "20",
    "--sae-steps", "40", "--d-sae", "32", "--k", "4", "--n-prompts", "48", "--umap", "false",
]  # fmt: skip


def test_seed_demo_builds_a_loadable_explained_demo_and_skips_next_time(db, tmp_path, capsys):
    import torch

    from features.models import Explanation, Feature, List
    from inference.demo.seed import EXPLAINER_MODEL, EXPLANATION_TYPE, LIST_NAME, MODEL_NAME
    from inference.loading import load_model, load_sae
    from models_app.models import Model

    call_command("seed_demo", "--data-dir", str(tmp_path), *QUICK, verbosity=0)
    model_row = Model.objects.get(name=MODEL_NAME)
    assert model_row.instruct  # chat monitor (issue 15): chat template + chat fine-tune
    sources = list(model_row.sources.filter(source_set__name="res-demo").order_by("layer"))  # tc-demo: graphs
    assert [s.name for s in sources] == ["0-res-demo", "1-res-demo"]
    assert (tmp_path / "demo" / MODEL_NAME / "model" / "tokenizer.json").exists()
    for source in sources:
        assert Feature.objects.filter(source=source).count() == 32
        live = Feature.objects.filter(source=source, frac_nonzero__gt=0)
        assert live.exists()
        explained = Explanation.objects.filter(
            feature__source=source, type__name=EXPLANATION_TYPE, explainer_model__name=EXPLAINER_MODEL
        )
        assert explained.count() == live.filter(activations__bin_min=-1).distinct().count()
        assert explained.filter(author__username="demo").count() == explained.count()
    demo_list = List.objects.get(name=LIST_NAME, owner__username="demo")
    assert demo_list.items.exists()

    # The real loaders read the folders: a live forward pass gives the stored top activation.
    source = sources[1]
    model, sae = load_model(model_row), load_sae(source)
    feature = Feature.objects.filter(source=source).order_by("-max_act_approx").first()
    top = feature.activations.filter(bin_min=-1).first()
    text_ids = [model.tokenizer.bos_token_id] + model.tokenizer.convert_tokens_to_ids(top.tokens)
    with torch.inference_mode():
        _, cache = model.run_with_cache(torch.tensor([text_ids]), names_filter=source.hook_name)
        acts = sae.encode(cache[source.hook_name])[0, 1:, feature.index]
    assert float(acts[top.qualifying_token_index]) == pytest.approx(
        top.values[top.qualifying_token_index], rel=1e-4, abs=1e-5
    )

    capsys.readouterr()
    call_command("seed_demo", "--data-dir", str(tmp_path), *QUICK)
    assert "already seeded" in capsys.readouterr().out


def test_seed_demo_rejects_bad_layers(db, tmp_path):
    with pytest.raises(CommandError, match="--layers"):
        call_command("seed_demo", "--data-dir", str(tmp_path), "--layers", "7", verbosity=0)


def test_top_tokens_explanation_is_deterministic_and_typed_by_agreement():
    from inference.demo.seed import top_tokens_explanation

    assert top_tokens_explanation([" self"] * 8 + [" cls"] * 2, ["("] * 10) == 'the token "self" after "("'
    assert top_tokens_explanation([" a", " b", " c", " a"], ["x", "y", "z", "w"]) == 'tokens "a", "b" and "c"'
    assert top_tokens_explanation([], []) is None
    # whitespace-only tokens are named, not shown as an unreadable quoted blank
    assert top_tokens_explanation([" "] * 7 + ["   "] * 3, ["x"] * 10) == 'the token [space] after "x"'
    assert top_tokens_explanation([" ", "\t", " the", "   "], ["a", "b", "c", "d"]) == (
        'tokens [space], [tab] and "the"'
    )
