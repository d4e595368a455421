(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  $("validate-file").addEventListener("change", async (e) => {
    const f = e.target.files[0]; if (f) $("validate-text").value = await f.text();
  });
  $("validate-run").addEventListener("click", async () => {
    const out = $("validate-result"), list = $("validate-errors");
    list.replaceChildren();
    let data;
    try { data = JSON.parse($("validate-text").value); } catch (err) { out.textContent = "Not valid JSON: " + err.message; return; }
    const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
    const res = await fetch("/api/graph/validate", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify(data),
    });
    const body = await res.json();
    out.textContent = body.valid ? "Valid graph." : `${body.errors.length} problem(s):`;
    (body.errors || []).forEach((e) => { const li = document.createElement("li"); li.textContent = e; list.appendChild(li); });
  });
})();
