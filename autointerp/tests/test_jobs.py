"""Batch explain / score runs and embedding backfills as jobs (issue 13 with the jobs of issue 12):
started from the source page, the admin and the commands (``--enqueue``), run by a real worker
process (``manage.py run_jobs_worker``) against the scripted LLM server over real HTTP; live
progress on the Job row; a cancelled job stops and says so; a retried job resumes."""

from __future__ import annotations

import threading

import pytest
from django.core.management import CommandError, call_command

from autointerp.models import AutointerpRun
from features.models import Activation, Explanation, ExplanationScore
from neuronsite.jobs.models import Job
from neuronsite.jobs.testing import clear_queue, start_worker, stop, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
N = 6


@pytest.fixture
def owned(make_user, make_source, make_feature):
    """A source with N features (activations on "word{i}") owned by ``owner``."""
    owner = make_user()
    source = make_source(model="tiny", set_name="res-jobs", layer=0, owner=owner)
    for i in range(N):
        feature = make_feature(source=source, index=i)
        Activation.objects.create(
            feature=feature, tokens=["Ġthe", f"Ġword{i}"], values=[0.0, 2.0], max_value=2.0
        )
        Activation.objects.create(
            feature=feature, tokens=["Ġzero", "Ġtext"], values=[0.0, 0.0], max_value=0.0
        )
    clear_queue()
    return owner, source


def answer(messages):
    """np_max-act-logits: "the token wordI"; recall_alt: a match when the text holds "word"."""
    prompt = messages[-1]["content"]
    if "Does it match?" in prompt:
        text = prompt.split("Text:", 1)[1]
        return '{"match": %s, "reason": "scripted"}' % ("true" if "word" in text else "false")
    word = next(
        w.strip("[]'") for w in prompt.replace("[[", " ").replace("]]", " ").split() if w.startswith("word")
    )
    return f"the token {word}"


def worker_settings(llm) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": llm.url,
        "OPENAI_API_KEY": "server-key",
        "AUTOINTERP_EXPLAINER_MODEL": "scripted-explainer",
        "AUTOINTERP_SCORER_MODEL": "scripted-scorer",
        "AUTOINTERP_BACKOFF_S": "0",
        "AUTOINTERP_MAX_RETRIES": "0",
        # embeddings of new explanations through the scripted /embeddings endpoint (no torch)
        "EXPLANATION_EMBEDDER": "openai",
        "EXPLANATION_EMBEDDING_MODEL": "scripted-embedder",
        "AUTOINTERP_EMBED_ON_WRITE": "1",
        "JOBS_WORKER_QUEUES": "cpu",
    }


def _settled(job_id):
    return Job.objects.filter(pk=job_id, state__in=("succeeded", "failed", "cancelled")).first()


def test_source_page_and_command_jobs_explain_score_and_embed(llm, owned, client, settings, tmp_path, capsys):
    owner, source = owned
    llm.answer = answer
    llm.embed = lambda text: [1.0 if "word" in text else 0.0] + [0.0] * 383
    settings.AUTOINTERP_EMBED_ON_WRITE = True
    client.force_login(owner)

    page = client.get("/tiny/0-res-jobs").content.decode()
    assert 'id="autointerp-explain-form"' in page and 'id="autointerp-score-form"' in page
    r = client.post(
        "/autointerp/batch/tiny/0-res-jobs/explain",
        {"explain-type_name": "np_max-act-logits", "explain-llm_model": "", "explain-limit": "2",
         "explain-concurrency": "2"},
    )  # fmt: skip
    assert r.status_code == 302 and r["Location"] == "/jobs/"
    job = Job.objects.get()
    assert (job.kind, job.owner, job.state, job.unit, job.total) == (
        "autointerp-explain",
        owner,
        "queued",
        "features",
        2,
    )
    (part,) = job.parts
    assert (part["task"], part["queue"]) == ("autointerp.explain_batch", settings.JOBS_CPU_QUEUE)
    assert part["kwargs"]["llm_model"] == "scripted-explainer" and part["kwargs"]["limit"] == 2

    worker = start_worker("ai", tmp_path, **worker_settings(llm))
    try:
        done = wait_until(lambda: _settled(job.pk), what="the explain job", logs=[tmp_path / "ai.log"])
        assert done.state == "succeeded", done.error
        assert (done.done, done.total) == (2, 2)
        assert "2 done, 0 skipped (already done), 0 failed of 2; 2 LLM calls" in done.log
        rows = Explanation.objects.order_by("feature__index")
        assert [
            (e.feature.index, e.description, e.type.name, e.explainer_model.name, e.author) for e in rows
        ] == [
            (0, "the token word0", "np_max-act-logits", "scripted-explainer", owner),
            (1, "the token word1", "np_max-act-logits", "scripted-explainer", owner),
        ]
        # the rest through the command, as a job: the two done are skipped
        call_command("generate_explanations", "--model", "tiny", "--source", "0-res-jobs",
                     "--type", "np_max-act-logits", "--enqueue", verbosity=0)  # fmt: skip
        second = Job.objects.latest("id")
        assert f"Queued job {second.pk}" in capsys.readouterr().out
        second = wait_until(lambda: _settled(second.pk), what="the second job", logs=[tmp_path / "ai.log"])
        assert second.state == "succeeded" and (second.done, second.total) == (N, N), second.error
        assert "4 done, 2 skipped (already done), 0 failed of 6; 4 LLM calls" in second.log
        assert Explanation.objects.count() == N
        assert len(llm.chat_requests()) == N
        run = AutointerpRun.objects.get(params__job=second.pk)
        assert (run.status, run.done, run.skipped) == ("done", 4, 2)

        # score from the source page
        r = client.post(
            "/autointerp/batch/tiny/0-res-jobs/score",
            {"score-type_name": "recall_alt", "score-concurrency": "4"},
        )
        assert r.status_code == 302
        scoring = Job.objects.latest("id")
        assert scoring.kind == "autointerp-score" and scoring.parts[0]["task"] == "autointerp.score_batch"
        scoring = wait_until(lambda: _settled(scoring.pk), what="the score job", logs=[tmp_path / "ai.log"])
        assert scoring.state == "succeeded" and (scoring.done, scoring.total) == (N, N), scoring.error
        scores = ExplanationScore.objects.all()
        assert len(scores) == N and {s.value for s in scores} == {1.0}
        assert {s.scorer_model.name for s in scores} == {"scripted-scorer"}

        # each new explanation got its embedding from a job (autointerp.embed_new), not inline
        wait_until(
            lambda: not Explanation.objects.filter(embedding__isnull=True).exists(),
            what="the embeddings of new explanations", logs=[tmp_path / "ai.log"],
        )  # fmt: skip
        assert set(Explanation.objects.values_list("embedding_model", flat=True)) == {
            "openai:scripted-embedder"
        }
    finally:
        stop(worker)


def test_a_cancelled_job_stops_says_so_and_resumes_when_retried(llm, owned, api_client, tmp_path):
    owner, source = owned
    gate = threading.Event()
    seen = []

    def held(messages):  # the second call waits until the test opens the gate
        seen.append(1)
        if len(seen) >= 2:
            gate.wait(60)
        return answer(messages)

    llm.answer = held
    call_command("generate_explanations", "--model", "tiny", "--source", "0-res-jobs",
                 "--type", "np_max-act-logits", "--concurrency", "1", "--enqueue", verbosity=0)  # fmt: skip
    job = Job.objects.get()
    job.owner = owner  # the command queues without an owner; give it one to cancel through the API
    job.save(update_fields=["owner"])
    worker = start_worker("cancel", tmp_path, **worker_settings(llm))
    try:
        wait_until(lambda: len(seen) >= 2, what="the second LLM call", logs=[tmp_path / "cancel.log"])
        api_client.force_authenticate(owner)
        r = api_client.post(f"/api/jobs/{job.pk}/cancel")
        assert r.status_code == 200 and r.json()["job"]["state"] == "cancelling"
        cancelled = wait_until(
            lambda: _settled(job.pk), what="the cancellation", logs=[tmp_path / "cancel.log"]
        )
        assert cancelled.state == "cancelled"
        assert "stopped: cancelled" in cancelled.log
        assert Explanation.objects.count() == 1  # the first answer is kept, the held call is not
        run = AutointerpRun.objects.get(params__job=job.pk)
        assert (run.status, run.done) == ("cancelled", 1)

        gate.set()
        llm.answer = answer
        r = api_client.post(f"/api/jobs/{job.pk}/retry")
        assert r.status_code == 200, r.content
        resumed = wait_until(lambda: _settled(job.pk), what="the retried job", logs=[tmp_path / "cancel.log"])
        assert resumed.state == "succeeded", resumed.error
        assert (resumed.done, resumed.total) == (N, N)
        assert Explanation.objects.count() == N
        last = AutointerpRun.objects.filter(params__job=job.pk).latest("id")
        assert (last.status, last.done, last.skipped) == ("done", N - 1, 1)
    finally:
        gate.set()
        stop(worker)


def test_bad_input_is_named_and_queues_nothing(llm, owned, client, make_user, settings):
    owner, source = owned
    client.force_login(owner)
    url = "/autointerp/batch/tiny/0-res-jobs/explain"
    cases = [
        ({"explain-type_name": "nope", "explain-concurrency": "2"}, "Select a valid choice"),
        ({"explain-type_name": "top-tokens", "explain-concurrency": "0"}, "Concurrent LLM calls must be at least 1."),
        ({"explain-type_name": "top-tokens", "explain-concurrency": "2", "explain-limit": "0"}, "Limit must be at least 1."),
        ({"explain-type_name": "top-tokens", "explain-concurrency": "2", "explain-features": "x"}, "Features must look like 0:100."),
        ({"explain-type_name": "top-tokens", "explain-concurrency": "2", "explain-features": "5:2"}, "start &lt; stop"),
    ]  # fmt: skip
    for data, message in cases:
        r = client.post(url, data)
        assert r.status_code == 400, data
        assert message in r.content.decode(), (data, r.content.decode()[-2000:])
    settings.OPENAI_API_KEY = ""
    r = client.post(url, {"explain-type_name": "np_max-act-logits", "explain-concurrency": "2"})
    assert r.status_code == 400 and "No LLM is configured" in r.content.decode()
    assert client.post("/autointerp/batch/tiny/0-res-jobs/nope", {}).status_code == 404
    with pytest.raises(CommandError, match="No LLM is configured"):
        call_command("score_explanations", "--model", "tiny", "--source", "0-res-jobs", "--scorer", "recall_alt",
                     "--enqueue")  # fmt: skip
    with pytest.raises(CommandError, match="Source 'tiny/9-x' not found"):
        call_command("generate_explanations", "--model", "tiny", "--source", "9-x", "--type", "top-tokens",
                     "--enqueue")  # fmt: skip

    other = make_user()
    client.force_login(other)
    assert 'id="autointerp-explain-form"' not in client.get("/tiny/0-res-jobs").content.decode()
    assert (
        client.post(url, {"explain-type_name": "top-tokens", "explain-concurrency": "2"}).status_code == 403
    )
    client.logout()
    assert (
        client.post(url, {"explain-type_name": "top-tokens", "explain-concurrency": "2"}).status_code == 302
    )
    assert not Job.objects.exists() and not AutointerpRun.objects.exists()


def test_admin_action_and_page_queue_jobs(llm, owned, client):
    from accounts.models import User

    owner, source = owned
    staff = User.objects.create_superuser(username="boss", password="x-y-z-w-1234", email="b@example.com")
    client.force_login(staff)
    r = client.post(
        "/admin/models_app/source/",
        {"action": "autointerp_jobs_action", "_selected_action": [source.pk]},
    )
    assert r.status_code == 302 and r["Location"] == f"/admin/autointerp-jobs/?source={source.pk}"
    page = client.get(r["Location"]).content.decode()
    assert 'id="explain-form"' in page and f'<option value="{source.pk}" selected>' in page
    r = client.post(
        "/admin/autointerp-jobs/",
        {"kind": "score", "score-source": source.pk, "score-type_name": "recall_alt", "score-concurrency": "4",
         "score-limit": "3"},
    )  # fmt: skip
    assert r.status_code == 302, r.content.decode()[-3000:]
    job = Job.objects.get()
    assert (job.kind, job.owner, job.total) == ("autointerp-score", staff, 3)
    assert job.parts[0]["kwargs"]["type_name"] == "recall_alt"
    assert (
        "Score explanations of tiny/0-res-jobs: recall_alt with scripted-scorer"
        in client.get("/jobs/").content.decode()
    )
    assert client.get(f"/api/jobs/{job.pk}").json()["job"]["total"] == 3
    r = client.post("/admin/autointerp-jobs/", {"kind": "explain", "explain-source": source.pk,
                                                 "explain-type_name": "nope", "explain-concurrency": "4"})  # fmt: skip
    assert r.status_code == 400 and Job.objects.count() == 1
    r = client.post("/admin/autointerp-jobs/", {"kind": "embed"})
    assert r.status_code == 302
    embed = Job.objects.latest("id")
    assert (embed.kind, embed.parts[0]["task"]) == ("embeddings", "autointerp.embed_explanations")
