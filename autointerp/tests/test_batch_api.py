"""``POST /api/explanation/batch``: queue a batch generate / score job over a source (or a feature
range) through the API, with the source page's owner/staff rules and the commands' validation;
nothing is queued when the request is refused."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.urls import resolve
from rest_framework.test import APIClient

from neuronsite.fields import Visibility
from neuronsite.jobs.models import Job
from neuronsite.jobs.testing import clear_queue
from neuronsite.throttling import INFERENCE_ROUTES, READ_ROUTES, request_scope

URL = "/api/explanation/batch"


@pytest.fixture
def owned(make_user, make_source, make_feature):
    """A source with 5 features owned by ``owner``; an empty Procrastinate queue."""
    owner = make_user()
    source = make_source(model="tiny", set_name="res-bapi", layer=0, owner=owner)
    for i in range(5):
        make_feature(source=source, index=i)
    clear_queue()
    return owner, source


def _queued(job: Job) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, queue_name, status, args FROM procrastinate_jobs WHERE (args->>'job_id')::int = %s",
            [job.pk],
        )
        return [
            (*row[:3], json.loads(row[3]) if isinstance(row[3], str) else row[3]) for row in cursor.fetchall()
        ]


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_anonymous_caller_gets_401_and_nothing_is_queued(owned):
    r = APIClient().post(
        URL, {"modelId": "tiny", "layer": "0-res-bapi", "action": "generate",
              "explanationType": "np_max-act-logits"}, format="json",
    )  # fmt: skip
    assert r.status_code == 401 and "error" in r.json()
    assert not Job.objects.exists()


def test_generate_job_with_an_api_key_is_queued_and_readable_back(llm, owned, settings):
    from accounts.services import api_key_create

    owner, _source = owned
    _key, clear = api_key_create(user=owner, name="batch")
    client = APIClient()
    r = client.post(
        URL,
        {"modelId": "tiny", "layer": "0-res-bapi", "action": "generate", "explanationType": "np_max-act-logits",
         "features": "1:4", "limit": 2, "concurrency": 3},
        format="json", HTTP_X_API_KEY=clear,
    )  # fmt: skip
    assert r.status_code == 202, r.json()
    body = r.json()
    job = Job.objects.get(pk=body["jobId"])
    assert body["jobUrl"].endswith(f"/api/jobs/{job.pk}") and body["url"].endswith("/jobs/")
    assert (job.kind, job.owner, job.state, job.unit, job.total) == (
        "autointerp-explain", owner, "queued", "features", 2,
    )  # fmt: skip
    (part,) = job.parts
    assert part["kwargs"] == {
        "model": "tiny", "source": "0-res-bapi", "type_name": "np_max-act-logits",
        "llm_model": "scripted-explainer", "features": "1:4", "limit": 2, "concurrency": 3,
        "user_id": owner.pk,
    }  # fmt: skip
    ((task, queue, status, args),) = _queued(job)
    assert (task, queue, status) == ("autointerp.explain_batch", settings.JOBS_CPU_QUEUE, "todo")
    assert args["type_name"] == "np_max-act-logits" and args["features"] == "1:4"
    # the job the answer points at reads back for the same caller
    got = client.get(f"/api/jobs/{job.pk}", HTTP_X_API_KEY=clear)
    assert got.status_code == 200
    assert got.json()["job"] == {**body["job"], "log": got.json()["job"]["log"]}
    assert got.json()["job"]["state"] == "queued"


def test_score_job_for_staff_on_a_source_they_do_not_own(llm, owned, make_user):
    staff = make_user(is_staff=True)
    r = _client(staff).post(
        URL, {"modelId": "tiny", "layer": "0-res-bapi", "action": "score", "scorerType": "recall_alt",
              "explanationType": "np_max-act-logits", "scorerModel": "my-scorer"}, format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.json()
    job = Job.objects.get(pk=r.json()["jobId"])
    assert (job.kind, job.owner, job.unit) == ("autointerp-score", staff, "explanations")
    kwargs = job.parts[0]["kwargs"]
    assert (kwargs["type_name"], kwargs["llm_model"], kwargs["explanation_type"], kwargs["features"]) == (
        "recall_alt", "my-scorer", "np_max-act-logits", None,
    )  # fmt: skip
    assert [row[0] for row in _queued(job)] == ["autointerp.score_batch"]


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"features": "5:2"}, "features", 400),
        ({"features": "abc"}, "features", 400),
        ({"features": "-1:3"}, "features", 400),
        ({"limit": 0}, "limit", 400),
        ({"concurrency": 0}, "concurrency", 400),
        ({"concurrency": 513}, "concurrency", 400),
        ({"explanationType": "no-such-type"}, "explanationType", 400),
        ({"explanationType": ""}, "explanationType", 400),
        ({"action": "delete"}, "action", 400),
        ({"action": "score"}, "scorerType", 400),
        ({"action": "score", "scorerType": "nope"}, "scorerType", 400),
        ({"action": "score", "scorerType": "recall_alt", "explanationType": "nope"}, "explanationType", 400),
        ({"layer": "0-res-nope"}, None, 404),
    ],
)
def test_bad_requests_name_the_field_and_queue_nothing(llm, owned, body, field, status):
    owner, _source = owned
    payload = {
        "modelId": "tiny",
        "layer": "0-res-bapi",
        "action": "generate",
        "explanationType": "np_max-act-logits",
    }
    r = _client(owner).post(URL, {**payload, **body}, format="json")
    assert r.status_code == status, r.json()
    if field:
        assert r.json()["error"].startswith(f"{field}:"), r.json()
    assert not Job.objects.exists() and not _queued_any()


def _queued_any() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM procrastinate_jobs")
        return cursor.fetchone()[0] > 0


def test_no_llm_configured_says_how_to_configure_one(owned, settings):
    settings.OPENAI_API_KEY = ""
    owner, _source = owned
    r = _client(owner).post(
        URL, {"modelId": "tiny", "layer": "0-res-bapi", "action": "generate",
              "explanationType": "np_max-act-logits"}, format="json",
    )  # fmt: skip
    assert r.status_code == 400 and "OPENAI_BASE_URL" in r.json()["error"]
    assert not Job.objects.exists()


def test_owner_rules_as_the_page(llm, owned, make_user, make_source):
    owner, _source = owned
    stranger = make_user()
    r = _client(stranger).post(
        URL, {"modelId": "tiny", "layer": "0-res-bapi", "action": "generate",
              "explanationType": "np_max-act-logits"}, format="json",
    )  # fmt: skip
    assert r.status_code == 403 and "owner" in r.json()["error"]
    # a private source of someone else is not found at all
    make_source(model="tiny", set_name="res-secret", layer=1, owner=owner, visibility=Visibility.PRIVATE)
    r = _client(stranger).post(
        URL, {"modelId": "tiny", "layer": "1-res-secret", "action": "generate",
              "explanationType": "np_max-act-logits"}, format="json",
    )  # fmt: skip
    assert r.status_code == 404 and "error" in r.json()
    assert not Job.objects.exists()


def test_is_rate_limited_as_a_write_and_in_the_schema(api_client):
    assert resolve(URL).url_name == "api-explanation-batch"
    assert "api-explanation-batch" not in READ_ROUTES | INFERENCE_ROUTES

    class _Req:  # request_scope reads only these two
        method = "POST"
        resolver_match = resolve(URL)

    assert request_scope(_Req()) == "write"
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    op = schema["paths"]["/api/explanation/batch"]["post"]
    assert "202" in op["responses"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    props = schema["components"]["schemas"][ref]["properties"]
    assert {"modelId", "layer", "action", "explanationType", "scorerType", "features", "limit"} <= set(props)
