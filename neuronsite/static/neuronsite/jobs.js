// Live job progress: one websocket on /ws/jobs/, each frame carries a job's whole state.
(function () {
  const lists = document.querySelectorAll("[data-live-jobs]");
  if (!lists.length) return;

  function fmtEta(s) {
    if (s == null) return "";
    if (s < 90) return Math.round(s) + " s left";
    if (s < 5400) return Math.round(s / 60) + " min left";
    return (s / 3600).toFixed(1) + " h left";
  }

  function render(li, job) {
    li.dataset.state = job.state;
    li.querySelector(".job-state").textContent = job.state;
    const bar = li.querySelector(".job-bar");
    bar.max = job.total || 1;
    bar.value = job.done;
    bar.textContent = job.percent + "%";
    li.querySelector(".job-count").textContent = job.done + " / " + job.total + " " + job.unit;
    const rate = li.querySelector(".job-rate");
    rate.textContent = job.rate ? job.rate + " " + job.unit + "/s " + fmtEta(job.eta_seconds) : "";
    li.querySelector(".job-log").textContent = (job.log || []).join("\n");
    const err = li.querySelector(".job-error");
    err.textContent = job.error || "";
    err.hidden = !job.error;
    const results = li.querySelector(".job-results");
    results.replaceChildren(...(job.results || []).map((r) => {
      const a = document.createElement("a");
      a.href = r.url;
      a.textContent = r.label;
      return a;
    }));
    const active = ["queued", "running", "cancelling"].includes(job.state);
    const cancel = li.querySelector(".job-cancel");
    if (cancel) cancel.hidden = !active;
    const retry = li.querySelector(".job-retry");
    if (retry) retry.hidden = !["failed", "cancelled"].includes(job.state);
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(proto + "://" + location.host + "/ws/jobs/");
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "ready") document.body.dataset.jobsLive = "1";
      if (msg.type !== "job") return;
      lists.forEach((list) => {
        const li = list.querySelector('[data-job-id="' + msg.job.id + '"]');
        if (li) {
          render(li, msg.job);
          if (msg.job.state === "succeeded" && list.hasAttribute("data-reload-on-success")) location.reload();
        }
      });
    };
    ws.onclose = () => setTimeout(connect, 2000);
  }
  connect();
})();

// Web upload: files or folders dropped (or picked) go to the import API as one job.
(function () {
  const form = document.getElementById("upload");
  if (!form) return;
  const zone = document.getElementById("dropzone");
  const status = form.querySelector(".upload-status");
  let dropped = [];

  async function entries(entry, out) {
    if (entry.isFile) {
      out.push(await new Promise((ok, ko) => entry.file(ok, ko)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((ok, ko) => reader.readEntries(ok, ko));
        if (!batch.length) break;
        for (const e of batch) await entries(e, out);
      }
    }
  }

  zone.addEventListener("dragover", (ev) => { ev.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (ev) => {
    ev.preventDefault();
    zone.classList.remove("over");
    const out = [];
    for (const item of ev.dataTransfer.items) {
      const entry = item.webkitGetAsEntry && item.webkitGetAsEntry();
      if (entry) await entries(entry, out);
      else if (item.getAsFile()) out.push(item.getAsFile());
    }
    dropped = out.filter((f) => /^batch-\d+\.json$/.test(f.name) || /\.(zip|tar|tar\.gz|tgz)$/.test(f.name));
    status.textContent = dropped.length + " file(s) ready";
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = new FormData();
    const picked = Array.from(form.elements.files.files || []);
    const chosen = dropped.length ? dropped : picked;
    const archive = chosen.find((f) => /\.(zip|tar|tar\.gz|tgz)$/.test(f.name));
    let url = form.dataset.url;
    if (archive) {  // a Neuronpedia export archive, into the chosen source set: its own endpoint
      url = form.dataset.archiveUrl;
      data.append("archive", archive, archive.name);
      data.append("model", form.elements.model.value);
      data.append("sourceSet", form.elements.sourceSet.value);
    } else {
      data.append("model", form.elements.model.value);
      data.append("sourceSet", form.elements.sourceSet.value);
      for (const f of chosen) data.append("files", f, f.name);
    }
    const token = document.querySelector('meta[name="csrf-token"]').content;
    const res = await fetch(url, { method: "POST", body: data, headers: { "X-CSRFToken": token } });
    const body = await res.json().catch(() => ({ error: "HTTP " + res.status }));
    if (res.ok) location.reload();
    else status.textContent = body.error;
  });
})();
