/* The viewer's Generate form: queue the generation as a job (POST /api/graph/generate-job), follow
   it on the jobs websocket (/ws/jobs/, which pushes the job's whole state on every change) with a
   progress bar, stage and time estimate, and open the graph when the job succeeds. The socket is
   open before the job is queued, so no event is missed; GET /api/jobs/{id} is read as well if the
   socket fails. While the job is queued or running, Cancel asks POST /api/jobs/{id}/cancel: a
   queued job never starts, a running one stops at its next attribution batch. */
(function () {
  "use strict";
  const form = document.getElementById("graph-generate");
  if (!form) return;
  const NS = (window.NSGraph = window.NSGraph || {});
  const $ = (id) => document.getElementById(id);
  const FINAL = ["succeeded", "failed", "cancelled"];

  function fmtEta(s) {
    if (s == null) return "";
    if (s < 90) return " · about " + Math.max(1, Math.round(s)) + " s left";
    return " · about " + Math.round(s / 60) + " min left";
  }

  function stageOf(job) {
    const last = (job.log || []).filter((l) => !/part \d|retried|cancel/.test(l)).slice(-1)[0] || "";
    return last.replace(/^\d\d:\d\d:\d\d /, "");
  }

  function show(job) {
    const bar = $("graph-progress"), text = $("graph-progress-text");
    bar.hidden = false;
    bar.max = job.total || 1000;
    bar.value = job.done;
    bar.dataset.state = job.state;
    const head = job.state === "queued" ? "queued, waiting for a GPU worker" : job.state === "running" ? stageOf(job) || "running" : job.state;
    text.textContent = `${head} · ${job.percent}%` + (job.state === "running" ? fmtEta(job.eta_seconds) : "");
  }

  function followJob(body) {
    return new Promise((resolve, reject) => {
      let jobId = null, started = false, finished = false, poll = null, ws = null;
      const end = (fn, value) => {
        if (finished) return;
        finished = true;
        if (poll) clearInterval(poll);
        if (ws) ws.close();
        $("graph-cancel-btn").hidden = true;
        fn(value);
      };
      const handle = (job) => {
        if (finished || job.id !== jobId) return;
        show(job);
        if (job.state === "succeeded") end(resolve, job);
        else if (FINAL.includes(job.state)) end(reject, new Error(job.error || "the job was " + job.state));
      };
      form.followHandle = handle;
      const start = async () => {
        if (started) return;
        started = true;
        try {
          const out = await NS.api("/api/graph/generate-job", body);
          jobId = out.job.id;
          form.dataset.jobId = String(jobId);
          $("graph-cancel-btn").hidden = false;
          handle(out.job);
          poll = setInterval(async () => {
            if (ws && ws.readyState === WebSocket.OPEN) return;
            try { handle((await NS.api(`/api/jobs/${jobId}`)).job); } catch (e) { /* try again */ }
          }, 3000);
        } catch (e) { end(reject, e); }
      };
      const proto = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(proto + "://" + location.host + "/ws/jobs/");
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data);
        if (msg.type === "ready") start();
        else if (msg.type === "job") handle(msg.job);
      };
      ws.onerror = () => start();
      ws.onclose = () => start();
    });
  }

  $("graph-cancel-btn").addEventListener("click", async () => {
    const button = $("graph-cancel-btn"), jobId = form.dataset.jobId;
    if (!jobId) return;
    button.disabled = true;
    try {
      // The answer is the job's new state (cancelled, or cancelling until its next batch): it is
      // handled like any update from the socket, so a final state ends the follow.
      const out = await NS.api(`/api/jobs/${jobId}/cancel`, {});
      (form.followHandle || show)(out.job);
    } catch (err) {
      $("graph-status").textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("graph-generate-btn");
    button.disabled = true;
    $("graph-status").textContent = "Generating…";
    $("graph-progress").hidden = true;
    try {
      const body = { modelId: NS.model, prompt: $("graph-prompt").value, sourceSetName: $("graph-set").value || null };
      if ($("graph-new-slug").value) body.slug = $("graph-new-slug").value;
      const job = await followJob(body);
      const result = (job.results || [])[0] || {};
      await NS.openGraph(result.slug);
      $("graph-status").textContent = `Generated: ${result.numNodes} nodes, ${result.numLinks} links`;
    } catch (err) {
      $("graph-status").textContent = err.status === 503 && err.retryAfter
        ? `${err.message} (retry in ${err.retryAfter} s)` : err.message;
    } finally {
      button.disabled = false;
    }
  });
})();
