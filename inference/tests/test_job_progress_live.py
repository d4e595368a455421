"""Live job progress across processes, for real:

* scale-out: a real ``redis-server``, two web processes (daphne A and B) and a job worker, all
  with ``REDIS_URL``; a websocket client on A and the Jobs page in Chromium on B both follow the
  progress the worker reports (the bar moves, then fills);
* one machine without Redis: a worker's progress reaches a socket of this process through
  PostgreSQL NOTIFY (``neuronsite.jobs.bridge``)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import pytest

from neuronsite.jobs.testing import clear_queue, start_redis, start_web, start_worker, stop

CHROMIUM = "/usr/bin/chromium"
HOOK = "blocks.1.hook_resid_pre"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from inference.testing import build_tiny_model, build_tiny_sae

    base = tmp_path_factory.mktemp("livejobs")
    model = build_tiny_model(base / "model", n_ctx=32, vocab_size=300)
    sae = build_tiny_sae(base / "sae", d_in=32, d_sae=48, hook_name=HOOK, model_name="live-tiny")
    return model, sae


@pytest.fixture
def public_job(folders):
    from inference.dashboards.sharding import dashboards_job_create
    from inference.testing import register_tiny

    clear_queue()
    _, _, (source,) = register_tiny(
        model_name="live-tiny", model_folder=folders[0], sae_folders={1: folders[1]}
    )

    def make(batch: int):
        return dashboards_job_create(
            source=source, public=True, n_prompts=24, ctx_len=16, batch_size=batch, features_per_pass=batch,
            umap=False,
        )  # fmt: skip

    return make


class SocketClient(threading.Thread):
    """A websocket client (aiohttp) in its own thread, collecting job frames until one is final."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.frames: list[dict] = []
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.ready.set()

    async def _main(self):
        import aiohttp

        origin = "http://" + self.url.split("/")[2]
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(self.url, headers={"Origin": origin}) as ws,
        ):
            async for msg in ws:
                frame = json.loads(msg.data)
                if frame["type"] == "ready":
                    self.ready.set()
                elif frame["type"] == "job":
                    self.frames.append(frame["job"])
                    if frame["job"]["state"] in ("succeeded", "failed", "cancelled"):
                        return


def test_progress_through_redis_reaches_a_socket_on_one_web_process_and_the_page_on_another(
    public_job, tmp_path
):
    from playwright.sync_api import sync_playwright

    from neuronsite.jobs.models import Job

    job = public_job(batch=2)  # 24 batches
    procs = []
    try:
        redis, redis_url = start_redis(tmp_path)
        procs.append(redis)
        web_a, host_a = start_web(tmp_path, REDIS_URL=redis_url)
        web_b, host_b = start_web(tmp_path, REDIS_URL=redis_url)
        procs += [web_a, web_b]
        client = SocketClient(f"ws://{host_a}/ws/jobs/")
        client.start()
        assert client.ready.wait(60) and client.error is None, client.error

        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(f"http://{host_b}/jobs/")
            bar = page.locator(f'[data-job-id="{job.pk}"] progress.job-bar')
            assert bar.get_attribute("value") == "0"
            page.wait_for_selector("body[data-jobs-live]", state="attached", timeout=30_000)
            worker = start_worker("live", tmp_path, REDIS_URL=redis_url)
            procs.append(worker)
            # the bar moves: some progress, not yet all of it (the worker reports 24 batches)
            page.wait_for_function(
                f"""() => {{ const b = document.querySelector('[data-job-id="{job.pk}"] progress');
                            return b.value > 0 && b.value < b.max; }}""",
                timeout=120_000,
            )
            moving = float(
                bar.get_attribute("value") or page.evaluate("document.querySelector('progress').value")
            )
            page.wait_for_selector(f'[data-job-id="{job.pk}"][data-state="succeeded"]', timeout=180_000)
            final = page.evaluate(f"document.querySelector('[data-job-id=\"{job.pk}\"] progress').value")
            page.screenshot(path=str(tmp_path / "jobs.png"))
            browser.close()
        client.join(60)
    finally:
        stop(*reversed(procs))
    assert client.error is None, client.error
    assert Job.objects.get(pk=job.pk).state == "succeeded"
    assert 0 <= moving < 24 and final == 24
    done = [f["done"] for f in client.frames]
    assert done == sorted(done) and done[-1] == 24 and len(set(done)) > 2
    assert client.frames[-1]["state"] == "succeeded" and client.frames[-1]["percent"] == 100


def test_without_redis_a_workers_progress_reaches_this_process_through_postgres(public_job, tmp_path):
    from channels.testing import WebsocketCommunicator

    from neuronsite.jobs.consumers import JobConsumer

    job = public_job(batch=8)  # 6 batches

    async def scenario():
        ws = WebsocketCommunicator(JobConsumer.as_asgi(), "/ws/jobs/")
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=30))["type"] == "ready"  # listening
        worker = await asyncio.to_thread(start_worker, "bridge", tmp_path)
        frames = []
        try:
            while not frames or frames[-1]["state"] not in ("succeeded", "failed"):
                frame = await ws.receive_json_from(timeout=180)
                if frame["type"] == "job" and frame["job"]["id"] == job.pk:
                    frames.append(frame["job"])
        finally:
            await asyncio.to_thread(stop, worker)
            await ws.disconnect()
        return frames

    frames = asyncio.run(scenario())
    assert frames[-1]["state"] == "succeeded", Path(tmp_path / "bridge.log").read_text()[-2000:]
    assert [f["done"] for f in frames][-1] == 6 and len({f["done"] for f in frames}) > 2
