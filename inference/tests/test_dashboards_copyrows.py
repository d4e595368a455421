"""The generator's activation rows encoded straight from its arrays (``copyrows.py``) are byte
for byte the rows of the importers' dict path, and a generation stores exactly the same rows
either way (real tiny model and SAE, real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

torch = pytest.importorskip("torch")

HOOK = "blocks.1.hook_resid_pre"
N_FEATURES = 24


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from inference.testing import build_dashboard_tiny

    t = build_dashboard_tiny(tmp_path_factory.mktemp("tok"), n_features=N_FEATURES)
    return t["model"], t["sae"], t["tokens"], t["vocab"], t["ignore"]


def _arrays(tiny, **cfg):
    from inference.dashboards.engine import DashboardConfig, compute_dashboards_arrays

    model, sae, tokens, vocab, ignore = tiny
    return compute_dashboards_arrays(
        model=model, sae=sae, hook_name=HOOK, tokens=tokens, feature_indices=range(N_FEATURES),
        vocab=vocab, config=DashboardConfig(ignore_token_ids=ignore, **cfg),
    )  # fmt: skip


def _decorate(d: dict) -> dict:
    d["hook_name"] = HOOK
    d["umap_x"], d["umap_cluster"] = 0.25 * d["feature_index"], d["feature_index"] % 3
    for a in d["activations"]:
        a["data_source"] = "pydoc ☃"
    return d


@pytest.mark.parametrize(
    ("cfg", "creator_id"),
    [({}, None), ({"cache_bytes": 0, "prompt_batch_size": 5}, 7)],
    ids=["kept-activations", "streamed-with-creator"],
)
def test_rows_from_arrays_are_the_bytes_of_the_importers_path(tiny, cfg, creator_id):
    from features.importers.prepare import features_prepare
    from inference.dashboards.copyrows import SnippetEncoder, encodable

    arrays = _arrays(tiny, **cfg)
    assert encodable(arrays)
    dicts = [_decorate(d) for d in arrays.to_dicts()]
    n_snippets = sum(len(d["activations"]) for d in dicts)
    assert n_snippets == len(arrays.snip_seq) > 100
    assert any(not d["activations"] for d in dicts)  # a dead feature is in the batch too
    encoder = SnippetEncoder(arrays, data_source="pydoc ☃")
    created = datetime(2026, 11, 27, 21, 0, 1, 123456, tzinfo=UTC)
    for start, stop in [(0, 10), (10, N_FEATURES), (5, 6)]:
        old = features_prepare(dicts[start:stop], d_sae=N_FEATURES, creator_id=creator_id, created_at=created)
        new = encoder.prepare(
            start, stop, decorate=_decorate, d_sae=N_FEATURES, creator_id=creator_id, created_at=created
        )
        assert new.n_rows == old.n_rows
        assert bytes(new.rows) == bytes(old.rows)
        assert new.row_offsets.tolist() == old.row_offsets.tolist()
        assert new.row_feature.tolist() == old.row_feature.tolist()
        assert new.snippet_positions == old.snippet_positions
        strip = lambda fs: [{k: v for k, v in f.items() if k != "activations"} for f in fs]  # noqa: E731
        assert strip(new.features) == strip(old.features)
        ids = list(range(1000, 1000 + len(new.snippet_positions)))
        assert bytes(new.rows_with_ids(ids)) == bytes(old.rows_with_ids(ids))


def test_data_the_fast_encoder_does_not_take_goes_to_the_explaining_path(tiny):
    from inference.dashboards.copyrows import encodable

    arrays = _arrays(tiny)
    arrays.snip_values[3, 2] = float("nan")
    assert not encodable(arrays)
    arrays = _arrays(tiny)
    arrays.vocab = [t + "\x00" for t in arrays.vocab]
    assert not encodable(arrays)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from inference.testing import build_tiny_model, build_tiny_sae

    base = tmp_path_factory.mktemp("rows")
    model = build_tiny_model(base / "model", n_ctx=32, vocab_size=300)
    sae = build_tiny_sae(base / "sae", d_in=32, d_sae=40, hook_name=HOOK, model_name="rows-tiny")
    return model, sae


def _rows(source) -> list[tuple]:
    from features.models import Activation, Feature

    skip = {"id", "source", "source_id", "created_at", "updated_at"}
    f_fields = [f.attname for f in Feature._meta.concrete_fields if f.attname not in skip]
    a_fields = [f.attname for f in Activation._meta.concrete_fields if f.attname not in skip | {"feature_id"}]
    feats = list(Feature.objects.filter(source=source).order_by("index").values_list(*f_fields))
    acts = list(
        Activation.objects.filter(feature__source=source)
        .order_by("feature__index", "id")
        .values_list("feature__index", *a_fields)
    )
    return [*feats, *acts]


def test_a_generation_stores_the_same_rows_as_through_the_importers_dict_path(db, folders):
    from inference.dashboards.services import dashboards_generate
    from inference.testing import register_tiny

    stored = []
    for fast in (True, False):
        _, _, (source,) = register_tiny(
            model_name="rows-tiny", model_folder=folders[0], sae_folders={1: folders[1]},
            set_name=f"res-{'fast' if fast else 'dicts'}",
        )  # fmt: skip
        result = dashboards_generate(
            source=source, n_prompts=24, ctx_len=16, batch_size=16, features_per_pass=32, umap=False,
            fast_rows=fast,
        )  # fmt: skip
        assert result.batches_written == 3 and result.activations_written > 100
        stored.append(_rows(source))
    assert len(stored[0]) > 40 + 100
    assert stored[0] == stored[1]
