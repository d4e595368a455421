"""Each class of "schema-valid request refused" the fuzzer found (issue 10), through the API:
the schema states the rule, and the server answers what the schema promises."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuronsite.fields_api import URL_PATTERN


@pytest.fixture
def schema(api_client, db):
    return api_client.get("/api/schema/", {"format": "json"}).json()


def _component(schema, path, method="post"):
    ref = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _enum(schema, prop) -> list:
    for part in [prop, *prop.get("allOf", [])]:
        if "$ref" in part:
            part = schema["components"]["schemas"][part["$ref"].rsplit("/", 1)[1]]
        if "enum" in part:
            return part["enum"]
    return []


@pytest.fixture
def signed_in(api_client, make_user):
    api_client.force_authenticate(make_user())
    return api_client


def test_url_schema_pattern_is_what_the_server_accepts(schema, signed_in):
    url = _component(schema, "/api/source-set/new")["properties"]["url"]
    assert url["oneOf"][0]["pattern"] == URL_PATTERN and "format" not in url["oneOf"][0]
    # The fuzzer's URL: 63-character labels, a host over DNS's 253 characters -> outside the schema.
    long_host = "https://" + ".".join(["a" * 63] * 5) + ".org"
    assert not re.search(URL_PATTERN, long_host)
    for bad in (long_host, "javascript:alert(1)", "ftp://files.example.org/x", "http://localhost/"):
        r = signed_in.post("/api/model/new", {"id": "m-url", "layers": 1, "url": bad}, format="json")
        assert r.status_code == 400 and r.json()["error"].startswith("url:"), (bad, r.content)


def test_every_url_the_schema_allows_is_accepted(db, signed_in):
    from models_app.models import Model

    seen = []

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(URL_PATTERN).filter(lambda u: len(u) <= 200))
    def check(url):
        name = f"m-url-{len(seen)}"
        seen.append(url)
        r = signed_in.post("/api/model/new", {"id": name, "layers": 1, "url": url}, format="json")
        assert r.status_code == 200, (url, r.content)
        assert Model.objects.get(name=name).website == url.strip()

    check()
    assert len(seen) >= 10


def test_model_with_inference_disabled_is_a_conflict_not_a_bad_request(api_client, make_source):
    source = make_source(model="off-model")
    source.model.inference_enabled = False
    source.model.save()
    r = api_client.post(
        "/api/activation/source",
        {"customText": "", "modelId": "off-model", "source": "0"},
        format="json",
    )
    assert r.status_code == 409 and "disabled" in r.json()["error"]


def test_list_get_with_a_non_numeric_id_is_not_found(api_client, db):
    r = api_client.get("/api/list/get", {"listId": "fuzz-model"})
    assert r.status_code == 404 and "fuzz-model" in r.json()["error"]


def test_export_requires_a_model_id_in_schema_and_server(schema, api_client, db):
    params = {p["name"]: p for p in schema["paths"]["/api/explanation/export"]["get"]["parameters"]}
    assert params["modelId"]["schema"]["minLength"] == 1 and params["modelId"]["required"]
    assert api_client.get("/api/explanation/export", {"modelId": ""}).status_code == 400


def test_activation_get_documents_query_parameters_and_source_or_layer(schema, api_client, make_feature):
    params = {p["name"] for p in schema["paths"]["/api/activation/get"]["get"]["parameters"]}
    assert {"modelId", "source", "index"} <= params
    body = _component(schema, "/api/activation/get")
    assert body["anyOf"] == [{"required": ["source"]}, {"required": ["layer"]}]
    make_feature(index=3)
    for ref in ({"source": "0-res-test"}, {"layer": "0-res-test"}):
        r = api_client.post("/api/activation/get", {"modelId": "tiny", "index": 3, **ref}, format="json")
        assert r.status_code == 200, r.content
    r = api_client.get("/api/activation/get", {"modelId": "tiny", "source": "0-res-test", "index": 3})
    assert r.status_code == 200
    r = api_client.post("/api/activation/get", {"modelId": "tiny", "index": 3}, format="json")
    assert r.status_code == 400 and "source" in r.json()["error"]


def test_generate_components_are_distinct_and_carry_their_rules(schema):
    graph = _component(schema, "/api/graph/generate")
    assert graph["anyOf"] == [{"required": ["prompt"]}, {"required": ["messages"]}]
    assert graph["properties"]["prompt"]["maxLength"] == 10_000
    assert (
        graph["properties"]["maxNLogits"]["minimum"] == 5
        and graph["properties"]["maxNLogits"]["maximum"] == 15
    )
    explain = _component(schema, "/api/explanation/generate")
    assert "top-tokens" in _enum(schema, explain["properties"]["explanationType"])
    assert "oneOf" in explain["properties"]["index"]
    score = _component(schema, "/api/explanation/score")
    assert "recall_alt" in _enum(schema, score["properties"]["scorerType"])


def test_graph_generate_parameter_ranges_are_400_before_any_model_work(signed_in):
    r = signed_in.post(
        "/api/graph/generate", {"modelId": "nope", "prompt": "hi", "maxNLogits": 99}, format="json"
    )
    assert r.status_code == 400 and "maxNLogits" in r.json()["error"]
    r = signed_in.post("/api/graph/generate", {"modelId": "nope", "messages": []}, format="json")
    assert r.status_code == 400


def test_steer_logits_ablate_and_delta_rule_is_in_schema_and_checked_first(schema, api_client, db):
    feature = schema["components"]["schemas"]["SteerFeatureInputRequest"]
    assert len(feature["oneOf"]) == 2
    base = {"modelId": "no-such-model", "prompt": "hi"}
    one = {"layer": 0, "index": 1, "token_active_position": 0}
    r = api_client.post(
        "/api/steer-logits", {**base, "features": [{**one, "ablate": True, "delta": 1.0}]}, format="json"
    )
    assert r.status_code == 400 and "When ablate is True, delta must be None" in r.json()["error"]
    r = api_client.post("/api/steer-logits", {**base, "features": [one]}, format="json")
    assert r.status_code == 400 and "delta must be provided" in r.json()["error"]
    r = api_client.post("/api/steer-logits", {**base, "features": [{**one, "delta": 1.0}]}, format="json")
    assert r.status_code == 404


def test_subgraph_delete_documents_and_checks_its_id(schema, signed_in):
    body = _component(schema, "/api/graph/subgraph/delete")
    assert body["required"] == ["subgraphId"] and body["properties"]["subgraphId"]["minimum"] == 1
    assert (
        signed_in.post("/api/graph/subgraph/delete", {"subgraphId": 987654}, format="json").status_code == 404
    )
    r = signed_in.post("/api/graph/subgraph/delete", {"subgraphId": [1]}, format="json")
    assert r.status_code == 400 and "subgraphId" in r.json()["error"]


def test_graph_upload_cap_is_in_the_schema(schema, settings):
    from graphs.services import max_upload_bytes

    body = _component(schema, "/api/graph/signed-put")
    assert body["properties"]["contentLength"]["maximum"] == max_upload_bytes()


def test_list_comment_and_human_explanation_text_must_not_be_blank_in_schema(schema):
    for path, field in (("/api/list/comment/new", "text"), ("/api/explanation/new", "description")):
        prop = _component(schema, path)["properties"][field]
        assert prop.get("minLength") == 1 and "pattern" in prop, (path, prop)


def test_cossim_fields_are_bounded_in_schema_and_server(schema, api_client, db):
    body = _component(schema, "/api/cossim")
    assert body["properties"]["numResults"]["maximum"] == 1000 and "oneOf" in body["properties"]["index"]
    r = api_client.post("/api/cossim", {"modelId": "m", "source": "0-x", "index": 2**63}, format="json")
    assert r.status_code == 400 and r.json()["error"].startswith("index")
    r = api_client.post("/api/cossim", {"modelId": "m\x00", "source": "0-x", "index": 1}, format="json")
    assert r.status_code == 400 and "modelId" in r.json()["error"]


def test_saedashboard_upload_documents_its_multipart_body(schema):
    body = schema["paths"]["/api/jobs/upload-saedashboard"]["post"]["requestBody"]
    form = body["content"]["multipart/form-data"]["schema"]
    assert body["required"] and set(form["required"]) == {"model", "sourceSet", "files"}


def test_saedashboard_upload_refuses_nul_in_names_without_storing(signed_in):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from models_app.models import Model

    files = [SimpleUploadedFile("files.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")]
    r = signed_in.post(
        "/api/jobs/upload-saedashboard",
        {"model": "m\x00x", "sourceSet": "0", "files": files},
        format="multipart",
    )
    assert r.status_code == 400 and r.json()["error"].startswith("model"), r.content
    assert not Model.objects.filter(name__startswith="m").exists()
