"""search-all, search-topk-by-token, cossim and compute_neighbours against direct computation."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from inference.tests.conftest import HOOK0, HOOK1

TEXT = "Lists are mutable sequences, typically used to store collections."


def _direct_acts(direct, text):
    import torch

    model = direct["model"]
    with torch.no_grad():
        _, cache = model.run_with_cache(text)
        return {
            "0-res-tiny": direct["sae"]("sae0").encode(cache[HOOK0])[0],
            "1-res-tiny": direct["sae"]("sae1").encode(cache[HOOK1])[0],
        }


def test_search_all_ranks_by_max_ignoring_bos_and_is_saved(api_client, tiny, direct):
    body = {"modelId": "tiny", "sourceSet": "res-tiny", "text": TEXT, "numResults": 10}
    res = api_client.post("/api/search-all", body, format="json")
    assert res.status_code == 200, res.content
    data = res.json()
    acts = _direct_acts(direct, TEXT)
    expected = []
    for name, a in acts.items():
        a = a.clone()
        a[0] = 0
        for idx, v in enumerate(a.max(dim=0).values.tolist()):
            expected.append((v, name, idx))
    expected.sort(reverse=True)
    got = [(r["layer"], r["index"]) for r in data["result"]]
    assert got == [(n, i) for _, n, i in expected[:10]]
    for r, (v, _, _) in zip(data["result"], expected, strict=False):
        assert abs(r["maxValue"] - v) <= 1e-5
    assert len(data["counts"]) == 2 and len(data["counts"][1]) == len(data["tokens"])
    assert data["counts"][1][3] == int((acts["1-res-tiny"][3] > 0).sum())
    assert data["result"][0]["neuron"]["index"] == str(data["result"][0]["index"])
    again = api_client.post("/api/search-all", body, format="json").json()
    assert again["cached"] is True and again["id"] == data["id"] and again["result"] == data["result"]
    shared = api_client.get(f"/api/search-all/{data['id']}").json()
    assert shared["result"] == data["result"] and shared["text"] == TEXT


def test_search_all_sort_indexes_density_and_selected_sources(api_client, tiny, direct):
    from features.models import Feature

    acts = _direct_acts(direct, TEXT)["1-res-tiny"]
    sums = acts[[2, 4]].sum(dim=0)
    top = sums.topk(3).indices.tolist()
    Feature.objects.filter(source=tiny["sources"][1], index=top[0]).update(frac_nonzero=0.9)
    res = api_client.post(
        "/api/search-all",
        {
            "modelId": "tiny",
            "sourceSet": "res-tiny",
            "text": TEXT,
            "selectedLayers": ["1-res-tiny"],
            "sortIndexes": [2, 4],
            "densityThreshold": 0.5,
            "numResults": 2,
        },
        format="json",
    )
    assert res.status_code == 200, res.content
    assert [r["index"] for r in res.json()["result"]] == top[1:3]
    assert abs(res.json()["result"][0]["sumValues"] - sums[top[1]].item()) <= 1e-4
    bad = api_client.post(
        "/api/search-all",
        {"modelId": "tiny", "sourceSet": "res-tiny", "text": TEXT, "sortIndexes": [999]},
        format="json",
    )
    assert bad.status_code == 400 and "sortIndexes" in bad.json()["error"]
    missing = api_client.post(
        "/api/search-all", {"modelId": "tiny", "sourceSet": "nope", "text": TEXT}, format="json"
    )
    assert missing.status_code == 404


def test_topk_by_token_matches_direct(api_client, tiny, direct):
    res = api_client.post(
        "/api/search-topk-by-token",
        {"modelId": "tiny", "source": "0-res-tiny", "text": TEXT, "numResults": 3},
        format="json",
    )
    assert res.status_code == 200, res.content
    acts = _direct_acts(direct, TEXT)["0-res-tiny"]
    results = res.json()["results"]
    assert results[0]["position"] == 1  # BOS ignored
    for r in results:
        vals, idx = acts[r["position"]].topk(3)
        exp = [(int(i), float(v)) for v, i in zip(vals, idx, strict=True) if v > 0]
        got = [(f["featureIndex"], f["activationValue"]) for f in r["topFeatures"]]
        assert [g[0] for g in got] == [e[0] for e in exp]
        assert all(abs(g[1] - e[1]) <= 1e-5 for g, e in zip(got, exp, strict=True))


@pytest.mark.parametrize("target", [None, "0-res-tiny"])
def test_cossim_matches_direct(api_client, tiny, direct, target):
    import torch

    body = {"modelId": "tiny", "source": "1-res-tiny", "index": 7, "numResults": 5}
    if target:
        body["targetSource"] = target
    res = api_client.post("/api/cossim", body, format="json")
    assert res.status_code == 200, res.content
    w = direct["sae"]("sae1").W_dec.detach()
    t = direct["sae"]("sae0").W_dec.detach() if target else w
    sims = torch.nn.functional.cosine_similarity(t, w[7][None, :], dim=-1)
    if not target:
        sims[7] = -2
    vals, idx = sims.topk(5)
    got = res.json()["results"]
    assert [r["index"] for r in got] == idx.tolist()
    assert all(abs(r["cosSim"] - v) <= 1e-5 for r, v in zip(got, vals.tolist(), strict=True))
    assert api_client.post("/api/cossim", {**body, "index": 10_000}, format="json").status_code == 404


def test_compute_neighbours_command_stores_neighbours(tiny, direct):
    import torch

    from features.models import Feature

    call_command("compute_neighbours", "--source", "0-res-tiny", "-k", "4")
    f = Feature.objects.get(source=tiny["sources"][0], index=11)
    w = direct["sae"]("sae0").W_dec.detach()
    sims = torch.nn.functional.cosine_similarity(w, w[11][None, :], dim=-1)
    sims[11] = -2
    assert f.topk_cos_sim_indices == sims.topk(4).indices.tolist()
    assert (
        max(abs(a - b) for a, b in zip(f.topk_cos_sim_values, sims.topk(4).values.tolist(), strict=True))
        <= 1e-5
    )
    with pytest.raises(CommandError, match="not found"):
        call_command("compute_neighbours", "--source", "5-nope")
