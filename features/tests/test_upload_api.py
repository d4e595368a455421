"""POST /api/feature/upload-batch and /api/activation/upload-batch (Neuronpedia's request shapes)."""

from __future__ import annotations

import pytest

from features.models import Activation, Explanation, Feature


def _feature(index, n_acts=2):
    return {
        "index": index,
        "density": 0.01,
        "topLogits": [{"token": "Ġthe", "value": 0.5}],
        "bottomLogits": [{"token": "Ċ", "value": -0.25}],
        "activations": [
            {
                "tokens": ["a", "Ġb", "c"],
                "values": [0.0, 1.5 + i, 0.25],
                "quantileMax": 2.0,
                "quantileMin": 1.0,
                "quantileFraction": 0.5,
            }
            for i in range(n_acts)
        ],
        "explanations": [{"text": f"feature {index}", "methodName": "manual", "modelName": "human"}],
    }


@pytest.fixture
def owned(api_client, make_user, make_source):
    owner = make_user()
    source = make_source(model="up", set_name="mine", owner=owner)
    api_client.force_authenticate(owner)
    return api_client, owner, source


def test_feature_upload_batch_writes_and_is_idempotent(owned):
    client, owner, source = owned
    body = {"modelId": "up", "source": source.name, "features": [_feature(0), _feature(5, 3)]}
    r = client.post("/api/feature/upload-batch", body, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["features"] == 2 and r.json()["activations"] == 5
    f5 = Feature.objects.get(source=source, index=5)
    assert f5.frac_nonzero == 0.01 and f5.pos_str == ["Ġthe"] and f5.neg_values == [-0.25]
    assert f5.max_act_approx == pytest.approx(3.5)
    act = f5.activations.order_by("-max_value").first()
    assert (
        act.max_value == 3.5
        and act.max_value_token_index == 1
        and act.bin_max == 2.0
        and act.creator_id == owner.pk
    )
    assert Explanation.objects.get(feature=f5).description == "feature 5"
    # same payload again: nothing duplicated
    r = client.post("/api/feature/upload-batch", body, format="json")
    assert r.status_code == 200 and r.json()["skipped"] is True
    assert Activation.objects.filter(feature__source=source).count() == 5 and Explanation.objects.count() == 2
    # the same index with new data replaces its activations
    r = client.post("/api/feature/upload-batch", {**body, "features": [_feature(5, 1)]}, format="json")
    assert r.status_code == 200 and Activation.objects.filter(feature=f5).count() == 1


def test_feature_upload_batch_errors(owned, api_client, make_user, make_source):
    client, owner, source = owned
    url = "/api/feature/upload-batch"
    bad = _feature(1)
    bad["activations"][0]["values"] = [1.0]
    r = client.post(
        url, {"modelId": "up", "source": source.name, "features": [_feature(0), bad]}, format="json"
    )
    assert r.status_code == 400
    assert "features[1].activations[0].values" in r.json()["error"]
    assert not Feature.objects.filter(source=source).exists()  # nothing of the batch written
    r = client.post(
        url,
        {"modelId": "up", "source": source.name, "features": [_feature(i) for i in range(129)]},
        format="json",
    )
    assert r.status_code == 400 and "128" in r.json()["error"]
    r = client.post(url, {"modelId": "up", "source": "9-nope", "features": [_feature(0)]}, format="json")
    assert r.status_code == 404 and "9-nope" in r.json()["error"]
    r = client.post(url, {"source": source.name, "features": [_feature(0)]}, format="json")
    assert r.status_code == 400 and "modelId" in r.json()["error"]
    other = make_source(model="up", set_name="theirs", owner=make_user())
    r = client.post(url, {"modelId": "up", "source": other.name, "features": [_feature(0)]}, format="json")
    assert r.status_code == 403 and "not yours" in r.json()["error"]
    client.force_authenticate(None)
    r = client.post(url, {"modelId": "up", "source": source.name, "features": [_feature(0)]}, format="json")
    assert r.status_code == 401


def test_activation_upload_batch(owned, make_feature):
    client, owner, source = owned
    feature = make_feature(source=source, index=7, max_act_approx=1.0)
    url = "/api/activation/upload-batch"
    acts = [{"tokens": ["x", "y"], "values": [0.5, 2.25]}, {"tokens": ["z"], "values": [0.75]}]
    r = client.post(
        url, {"modelId": "up", "source": source.name, "index": "7", "activations": acts}, format="json"
    )
    assert r.status_code == 200 and r.json()["activations"] == 2
    r = client.post(
        url, {"modelId": "up", "source": source.name, "index": 7, "activations": acts}, format="json"
    )
    assert r.json()["activations"] == 0  # already there
    assert feature.activations.count() == 2
    feature.refresh_from_db()
    assert feature.max_act_approx == 2.25
    raw = (
        '{"modelId": "up", "source": "%s", "index": 7, "activations": [{"tokens": ["x"], "values": [1e999]}]}'
    )
    r = client.post(url, raw % source.name, content_type="application/json")
    assert (
        r.status_code == 400
        and "finite" in r.json()["error"]
        and "activations[0].values" in r.json()["error"]
    )
    r = client.post(
        url, {"modelId": "up", "source": source.name, "index": 8, "activations": acts}, format="json"
    )
    assert r.status_code == 404
