"""The official ``neuronpedia`` client (1.2.1, unchanged) against a live Neuronsite (issue 11).

daphne serves this test database on a free port, holding a tiny real model + SAE (an "instruct"
model: its tokenizer has a chat template). The client is pointed at it the way its own code
allows: its base URL is the class attribute ``NPRequest.BASE_URL`` (what ``USE_LOCALHOST`` sets at
import) and the key comes from ``NEURONPEDIA_API_KEY``. Every public helper except the graph ones
is called; answers are checked against the database and against each other.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = "tiny-client"
SET = "res-client"
SOURCE = f"1-{SET}"
HOOK = "blocks.1.hook_resid_pre"
D_MODEL = 32
D_SAE = 64
TEXT = "The quick brown fox jumps over the lazy dog."
TEXTS = [TEXT, "import os and sys for the path"]
CHAT = [{"role": "user", "content": "Tell me about the fox."}]

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_client_folders(tmp_path_factory):
    from inference.testing import build_tiny_model, build_tiny_sae

    root = tmp_path_factory.mktemp("tiny-client")
    return {
        "model": build_tiny_model(root / "model", n_layers=2, d_model=D_MODEL, seed=0),
        "sae": build_tiny_sae(root / "sae", d_in=D_MODEL, d_sae=D_SAE, hook_name=HOOK, seed=2),
    }


@pytest.fixture(scope="module")
def live_server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne (ASGI, as ``make run`` serves) on a free port over this test database."""
    from django.db import connection

    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    port = _free_port()
    env = {
        **os.environ,
        "EMBEDDED_DB_NAME": db_name,
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "neuronsite.settings",
    }
    daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or "daphne"
    log_path = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [daphne, "-b", "127.0.0.1", "-p", str(port), "neuronsite.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:  # wait for the listening socket (the process's readiness signal)
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"daphne did not start: {log_path.read_text()[-2000:]}") from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def np_client(live_server_url, make_user, monkeypatch):
    """The client module pointed at the live server, with a fresh user's API key."""
    from neuronpedia.requests.base_request import NPRequest

    from accounts.services import api_key_create

    user = make_user(username="researcher")
    _key, clear = api_key_create(user=user)
    monkeypatch.setattr(NPRequest, "BASE_URL", f"{live_server_url}/api")
    monkeypatch.setenv("NEURONPEDIA_API_KEY", clear)
    monkeypatch.setenv("USE_LOCALHOST", "true")
    return {"user": user, "key": clear}


@pytest.fixture
def tiny(db, tiny_client_folders):
    """The inference model (instruct) with one SAE source and a Feature row per latent; feature
    5 has a stored top-group activation (SAEDashboard's bin_contains = -1) and an interval one."""
    from features.models import Activation, Explanation, ExplanationType, Feature
    from inference.testing import register_tiny

    model, source_set, sources = register_tiny(
        model_name=MODEL,
        model_folder=tiny_client_folders["model"],
        sae_folders={1: tiny_client_folders["sae"]},
        set_name=SET,
        instruct=True,
        create_features=True,
    )
    feature = Feature.objects.get(source=sources[0], index=5)
    feature.frac_nonzero = 0.125
    feature.save(update_fields=["frac_nonzero"])
    Activation.objects.create(
        feature=feature,
        tokens=["a", "b"],
        values=[0.0, 3.0],
        max_value=3.0,
        max_value_token_index=1,
        bin_min=-1,
        bin_max=3.0,
        bin_contains=-1,
    )
    Activation.objects.create(
        feature=feature,
        tokens=["c", "d"],
        values=[1.0, 0.5],
        max_value=1.0,
        bin_min=0.75,
        bin_max=1.5,
        bin_contains=0.25,
    )
    Explanation.objects.create(
        feature=feature, description="foxes", type=ExplanationType.objects.get_or_create(name="np_max-act")[0]
    )
    return {"model": model, "set": source_set, "source": sources[0]}


def _direct_latents(folders, text: str):
    """All latents of the SAE at each position of ``text`` (BOS included), with the libraries
    used directly (decoder norms folded, as the engine serves them)."""
    import torch
    from sae_lens import SAE
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import AutoTokenizer

    raw = json.loads((folders["model"] / "config.json").read_text())
    raw["dtype"] = torch.float32
    raw["device"] = "cpu"
    model = HookedTransformer(
        HookedTransformerConfig.from_dict(raw),
        tokenizer=AutoTokenizer.from_pretrained(str(folders["model"])),
        move_to_device=False,
    )
    model.load_state_dict(load_file(str(folders["model"] / "model.safetensors")), strict=False)
    model.eval()
    sae = SAE.load_from_disk(folders["sae"], device="cpu")
    try:
        sae.fold_W_dec_norm()
    except NotImplementedError:
        pass
    with torch.no_grad():
        _, cache = model.run_with_cache(text)
        return sae.encode(cache[HOOK])[0].float()


# --- features, uploads, models, source sets, lists ------------------------------------------------


def test_client_feature_get_both_classes_and_bin_mapping(np_client, tiny):
    from neuronpedia.np_activation import Activation
    from neuronpedia.np_feature import Feature
    from neuronpedia.np_sae_feature import SAEFeature
    from neuronpedia.requests.feature_request import FeatureRequest
    from neuronpedia.requests.sae_feature_request import SAEFeatureRequest

    feature = FeatureRequest().get(MODEL, SOURCE, 5)
    assert (feature.modelId, feature.source, feature.index, feature.density) == (MODEL, SOURCE, "5", 0.125)
    assert [a.quantileFraction for a in feature.activations] == [None, 0.25]
    assert [a.source for a in feature.activations] == [SOURCE, SOURCE]
    assert [(e.text, e.method, e.source) for e in feature.explanations] == [("foxes", "np_max-act", SOURCE)]
    assert isinstance(feature.activations[0], Activation)
    assert Feature.get(MODEL, SOURCE, 5) == feature

    sae_feature = SAEFeatureRequest().get(MODEL, SOURCE, "5")
    assert sae_feature.source == SOURCE
    # SAEDashboard's top group stays recognisable in the raw JSON: binMin -1 with binContains null.
    raw = json.loads(sae_feature.jsonData)
    assert [(a["binMin"], a["binContains"]) for a in raw["activations"]] == [(-1, None), (0.75, 0.25)]
    assert SAEFeature.get(MODEL, SOURCE, "5").jsonData == sae_feature.jsonData


def test_client_model_source_set_uploads_and_lists(np_client):
    from neuronpedia.np_activation import Activation
    from neuronpedia.np_explanation import Explanation
    from neuronpedia.np_feature import Feature, Logit
    from neuronpedia.np_list import NPList, NPListItem
    from neuronpedia.np_model import Model
    from neuronpedia.np_sae_feature import SAEFeature
    from neuronpedia.np_source_set import SourceSet
    from neuronpedia.requests.activation_request import ActivationRequest
    from neuronpedia.requests.list_request import ListRequest
    from neuronpedia.requests.model_request import ModelRequest
    from neuronpedia.requests.source_set_request import SourceSetRequest

    from features.models import Activation as ActivationRow
    from features.models import Explanation as ExplanationRow

    model = ModelRequest().new(id="pup-model", layers=3, display_name="Pup", url="https://example.org/pup")
    assert (model.id, model.layers, model.display_name, model.url) == (
        "pup-model",
        3,
        "Pup",
        "https://example.org/pup",
    )
    assert Model.new("pup-model-2", 2).id == "pup-model-2"

    created = SourceSetRequest().new("pupscope", "pup-model", description="res", url="https://example.org/s")
    assert sorted(s.id for s in created.sources) == ["0-pupscope", "1-pupscope", "2-pupscope"]
    fetched = SourceSet.get("pup-model", "pupscope")
    assert (fetched.description, fetched.url) == ("res", "https://example.org/s")
    source = fetched.get_source_for_layer_number(1)
    assert SourceSet.new("otherscope", "pup-model-2").name == "otherscope"

    feature = Feature(
        modelId="pup-model",
        source=source.id,
        index=7,
        density=0.01,
        top_logits=[Logit("Ġpup", 0.9), Logit("Ġdog", 0.5)],
        bottom_logits=[Logit("Ġcat", -0.4)],
        activations=[
            Activation("pup-model", source.id, 7, ["a", "b"], [0.0, 2.0], 2.0, 1.0, 0.5),
        ],
        explanations=[Explanation("pup-model", source.id, 7, "puppies", "human", "me")],
    )
    uploaded = source.upload_batch([feature])
    assert uploaded["features"] == 1
    back = Feature.get("pup-model", source.id, 7)
    assert back.density == 0.01 and [e.text for e in back.explanations] == ["puppies"]
    assert [(a.values, a.quantileFraction) for a in back.activations] == [([0.0, 2.0], 0.5)]

    stats = json.loads(SAEFeature.get("pup-model", source.id, "7").jsonData)
    assert (stats["pos_str"], stats["pos_values"], stats["neg_str"]) == (
        ["Ġpup", "Ġdog"],
        [0.9, 0.5],
        ["Ġcat"],
    )

    more = [Activation("pup-model", source.id, 7, ["x", "y", "z"], [0.1, 0.2, 0.3])]
    assert ActivationRequest().upload_batch("pup-model", source.id, "7", more)["activations"] == 1
    assert ActivationRow.objects.filter(feature__source__name=source.id, feature__index=7).count() == 2
    assert ExplanationRow.objects.filter(description="puppies").count() == 1

    lst = NPList.new("my list", "about pups")
    assert (lst.name, lst.description, lst.items) == ("my list", "about pups", [])
    lst = lst.add_items([NPListItem("pup-model", source.id, "7", "a good pup")])
    assert [(i.model_id, i.source, i.index) for i in lst.items] == [("pup-model", source.id, "7")]
    got = NPList.get(lst.id)
    assert (got.name, [(i.source, i.index) for i in got.items]) == ("my list", [(source.id, "7")])
    owned = ListRequest().get_owned()
    assert [x.id for x in owned] == [lst.id] and NPList.get_owned()[0].name == "my list"


# --- inference --------------------------------------------------------------------------------------


def test_client_activations_and_source_activations(np_client, tiny, tiny_client_folders):
    from neuronpedia.requests.activation_request import ActivationRequest

    request = ActivationRequest()
    one = request.compute_activation_for_text(MODEL, SOURCE, 5, TEXT)
    many = request.compute_activation_for_texts(MODEL, SOURCE, "5", TEXTS)
    assert [a.values for a in many][0] == one.values and len(many) == 2
    direct = _direct_latents(tiny_client_folders, TEXT)
    assert one.values == pytest.approx(direct[1:, 5].tolist(), abs=1e-4)

    results = request.compute_all_source_activations_for_text(MODEL, SOURCE, TEXT)
    assert len(results) == 1 and len(results[0]["tokens"]) == direct.shape[0]
    active = results[0]["activeFeatures"]
    expected = {
        str(i): [
            [p, pytest.approx(float(direct[p, i]), abs=1e-4)]
            for p in range(1, direct.shape[0])
            if direct[p, i] > 0
        ]
        for i in range(D_SAE)
    }
    assert active == {k: v for k, v in expected.items() if v}
    both = request.compute_all_source_activations_for_text(MODEL, SOURCE, TEXTS)
    assert [r["tokens"] for r in both][0] == results[0]["tokens"] and len(both) == 2


def _make_dense(tiny, index: int, density: float = 0.5) -> None:
    from features.models import Feature

    Feature.objects.filter(source=tiny["source"], index=index).update(frac_nonzero=density)


def test_client_top_features_for_text_and_texts(np_client, tiny):
    from neuronpedia.requests.source_activation_request import SourceActivationRequest

    request = SourceActivationRequest()
    top = request.compute_top_features_for_text(MODEL, SOURCE, TEXT, num_results=10)
    assert 0 < len(top) <= 10 and all(a.source == SOURCE for a in top)
    best = int(top[0].index)
    _make_dense(tiny, best)
    # densityThreshold -1 (the client's default) means no threshold; 0.3 drops the dense one.
    again = request.compute_top_features_for_text(MODEL, SOURCE, TEXT, num_results=10, density_threshold=-1)
    assert [int(a.index) for a in again] == [int(a.index) for a in top]
    tighter = request.compute_top_features_for_text(
        MODEL, SOURCE, TEXT, num_results=10, density_threshold=0.3
    )
    assert best not in [int(a.index) for a in tighter] and tighter

    batch = request.compute_top_features_for_texts(MODEL, [SOURCE], TEXTS, num_results=10)
    assert len(batch) == 2
    assert [(a.index, a.values) for a in batch[0]] == [(a.index, a.values) for a in top]
    assert batch[1][0].tokens != batch[0][0].tokens
    single_second = request.compute_top_features_for_text(MODEL, SOURCE, TEXTS[1], num_results=10)
    assert [(a.index, a.values) for a in batch[1]] == [(a.index, a.values) for a in single_second]


def test_client_topk_by_token_for_text_and_texts(np_client, tiny):
    from neuronpedia.requests.topk_by_token_request import TopKByTokenRequest

    request = TopKByTokenRequest()
    single = request.compute_top_features_by_token_for_text(MODEL, SOURCE, TEXT, num_results=3)
    assert single and all(len(r.topFeatures) <= 3 for r in single)
    assert all(f.feature.source == SOURCE for r in single for f in r.topFeatures)
    firsts = [r.topFeatures[0].feature.index for r in single if r.topFeatures]
    assert firsts
    _make_dense(tiny, firsts[0])
    # The client's default densityThreshold is 0.0, which Neuronpedia reads as "no threshold"
    # (a literal 0 would drop every feature with any density); -1 is "none" too; 0.3 drops it.
    indexes = [[f.feature.index for f in r.topFeatures] for r in single]
    for threshold in (0.0, -1):
        again = request.compute_top_features_by_token_for_text(
            MODEL, SOURCE, TEXT, num_results=3, density_threshold=threshold
        )
        assert [[f.feature.index for f in r.topFeatures] for r in again] == indexes
    tighter = request.compute_top_features_by_token_for_text(
        MODEL, SOURCE, TEXT, num_results=3, density_threshold=0.3
    )
    assert firsts[0] not in {f.feature.index for r in tighter for f in r.topFeatures}

    batch = request.compute_top_features_by_token_for_texts(MODEL, SOURCE, TEXTS, num_results=3)
    assert len(batch) == 2
    assert [(r.position, r.token) for r in batch[0]] == [(r.position, r.token) for r in single]
    assert [(r.position, r.token) for r in batch[1]] != [(r.position, r.token) for r in batch[0]]


def test_client_steer_completion_and_chat(np_client, tiny):
    from neuronpedia.np_feature import SteerFeature
    from neuronpedia.requests.steer_request import SteerChatRequest, SteerCompletionRequest

    features = [SteerFeature(modelId=MODEL, source=SOURCE, index=5, strength=40)]
    completion = SteerCompletionRequest().steer_features(
        MODEL, features, prompt=TEXT, n_tokens=4, temperature=0
    )
    assert completion["STEERED"] and completion["DEFAULT"]
    chat = SteerChatRequest().steer_features(
        MODEL, features, default_chat_messages=CHAT, steered_chat_messages=CHAT, n_tokens=4, temperature=0
    )
    assert chat["STEERED"] and chat["DEFAULT"]


# --- vectors ------------------------------------------------------------------------------------


def test_client_vectors_lifecycle_and_steering(np_client, tiny):
    from neuronpedia.np_activation import Activation
    from neuronpedia.np_vector import NPVector
    from neuronpedia.requests.steer_request import SteerChatRequest, SteerCompletionRequest
    from neuronpedia.requests.vector_request import VectorRequest

    values = [0.5 if i % 2 else -0.25 for i in range(D_MODEL)]
    vector = NPVector.new("fox direction", MODEL, 1, "hook_resid_pre", values, default_steer_strength=8)
    assert (vector.label, vector.model_id, vector.values, vector.default_steer_strength) == (
        "fox direction",
        MODEL,
        values,
        8,
    )
    assert vector.hook_name == HOOK
    assert NPVector.get(MODEL, vector.source, vector.index) == vector
    assert VectorRequest().get(MODEL, vector.source, vector.index) == vector
    assert [v.index for v in NPVector.get_owned()] == [vector.index]

    completion = vector.steer_completion(prompt=TEXT)
    assert completion["STEERED"] and completion["DEFAULT"]
    chat = vector.steer_chat(steered_chat_messages=CHAT)
    assert chat["STEERED"] and chat["DEFAULT"]
    assert SteerCompletionRequest().steer(MODEL, [vector], prompt=TEXT, n_tokens=3)["STEERED"]
    assert SteerChatRequest().steer(MODEL, [vector], n_tokens=3)["STEERED"]

    act = vector.compute_activation_for_text(TEXT)
    assert len(act.tokens) == len(act.values) > 0
    assert vector.upload_activations([Activation(MODEL, vector.source, vector.index, act.tokens, act.values)])

    vector.delete()
    assert VectorRequest().get_owned() == []


# --- errors the client can read ---------------------------------------------------------------------


def test_client_reads_errors(np_client, tiny, monkeypatch):
    import neuronpedia
    import requests
    from neuronpedia.requests.base_request import NPUnauthorizedError
    from neuronpedia.requests.feature_request import FeatureRequest
    from neuronpedia.requests.list_request import ListRequest
    from neuronpedia.requests.source_activation_request import SourceActivationRequest

    with pytest.raises(requests.exceptions.HTTPError, match="Resource not found"):
        FeatureRequest().get(MODEL, SOURCE, 999)
    with pytest.raises(requests.exceptions.HTTPError, match="Resource not found"):
        FeatureRequest().get("no-such-model", SOURCE, 1)
    # A 400 carries JSON the client can print (not a JSONDecodeError).
    with pytest.raises(requests.exceptions.HTTPError, match="densityThreshold"):
        SourceActivationRequest().compute_top_features_for_text(MODEL, SOURCE, TEXT, density_threshold=-5)
    with pytest.raises(requests.exceptions.HTTPError, match="name"):
        ListRequest().new("x" * 300)
    monkeypatch.setenv("NEURONPEDIA_API_KEY", "np-wrong-key")
    with pytest.raises(NPUnauthorizedError):
        ListRequest().get_owned()
    # The client's other ways to give the key: a parameter, a context, a global setting.
    assert ListRequest(api_key=np_client["key"]).get_owned() == []
    with neuronpedia.api_key(np_client["key"]):
        assert ListRequest().get_owned() == []
    neuronpedia.set_api_key(np_client["key"])
    try:
        assert ListRequest().get_owned() == []
    finally:
        neuronpedia.set_api_key(None)


def test_explanation_export_streams_under_asgi(np_client, tiny, live_server_url):
    """The JSONL export over daphne (its async, chunk-by-chunk path), slash spelling included."""
    import requests

    from features.models import Explanation, Feature

    # More rows than one database chunk (2,000) and one sent chunk (500 lines).
    features = list(Feature.objects.filter(source=tiny["source"]).order_by("index"))
    Explanation.objects.bulk_create(
        [Explanation(feature=f, description=f"about {f.index} #{k}") for f in features for k in range(33)]
    )
    with requests.get(
        f"{live_server_url}/api/explanation/export/", params={"modelId": MODEL, "source": SOURCE}, stream=True
    ) as r:
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-ndjson"
        rows = [json.loads(line) for line in r.iter_lines() if line]
    assert len(rows) == 64 * 33 + 1  # plus the fixture's own explanation of feature 5
    assert [x["description"] for x in rows[:2]] == ["about 0 #0", "about 0 #1"]
    assert [int(x["index"]) for x in rows] == sorted(int(x["index"]) for x in rows)
    r = requests.get(f"{live_server_url}/api/explanation/export", params={"modelId": "nope"})
    assert r.status_code == 404 and r.json()["error"] == "Model 'nope' not found."
