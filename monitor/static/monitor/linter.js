/* Chat monitor: the AI linter panel (issue 15, item 3).
 *
 * Contract with the monitor page (monitor/page.html, chat.js): this panel sits inside
 * #monitor[data-model-id]; the page dispatches `document` event "monitor:concepts" with
 * detail = [{source, index, layer, position, token, activation, normalised, explanation,
 * explanationId?, score}] (or an object whose `concepts` is that list) whenever the active
 * concepts change, and listens for
 * "monitor:highlight" with detail {tokens: [positions], features: [{source, index}]}.
 *
 * The panel posts the concepts (one entry per feature, its positions merged) to
 * POST /api/monitor/linter and lists the clusters as linter messages; clicking one dispatches
 * monitor:highlight with the cluster's features and positions (click again to clear).
 */
(function () {
  "use strict";
  var root = document.getElementById("monitor");
  var panel = document.getElementById("monitor-linter");
  if (!panel) return;
  var list = document.getElementById("linter-messages");
  var status = document.getElementById("linter-status");
  var auto = document.getElementById("linter-auto");
  var runBtn = document.getElementById("linter-run");
  var concepts = [];
  var timer = null;
  var seq = 0;
  var active = null;

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function modelId() {
    return (root && root.dataset.modelId) || panel.dataset.modelId || "";
  }

  /* One entry per (source, index), positions merged; the explanation the page showed is kept. */
  function payloadConcepts(items) {
    var byKey = {};
    var out = [];
    (items || []).forEach(function (c) {
      if (!c || typeof c.source !== "string" || typeof c.index !== "number") return;
      var key = c.source + "/" + c.index;
      var entry = byKey[key];
      if (!entry) {
        entry = byKey[key] = { source: c.source, index: c.index, positions: [] };
        if (typeof c.explanationId === "number") entry.explanationId = c.explanationId;
        out.push(entry);
      }
      if (typeof c.position === "number" && entry.positions.indexOf(c.position) < 0) entry.positions.push(c.position);
    });
    return out;
  }

  function highlight(detail) {
    document.dispatchEvent(new CustomEvent("monitor:highlight", { detail: detail }));
  }

  function clearActive() {
    if (active) active.setAttribute("aria-pressed", "false");
    active = null;
  }

  function render(body) {
    clearActive();
    list.textContent = "";
    var clusters = body.clusters || [];
    if (!clusters.length) {
      status.textContent = "No groups of 3 or more related concepts (" + body.concepts + " explained concepts).";
      return;
    }
    var how = body.naming === "llm" ? "named by " + body.model : "named offline (no LLM configured): the explanation nearest each group's centre";
    status.textContent = clusters.length + (clusters.length === 1 ? " group" : " groups") + " of " + body.concepts + " explained concepts, " + how + ".";
    clusters.forEach(function (c) {
      var li = el("li");
      var btn = el("button", null, "linter-msg");
      btn.type = "button";
      btn.setAttribute("aria-pressed", "false");
      btn.appendChild(el("span", c.name, "name"));
      if (c.score !== null && c.score !== undefined) {
        var coh = el("span", "coherence " + c.score + "/4", "coh" + (c.score < 3 ? " low" : ""));
        btn.appendChild(coh);
      }
      btn.appendChild(el("span", c.size + " features · " + c.positions.length + " tokens", "meta"));
      var names = c.features.slice(0, 6).map(function (f) { return f.explanation; }).join(" · ");
      if (c.features.length > 6) names += " …";
      btn.appendChild(el("span", names, "feats"));
      btn.addEventListener("click", function () {
        if (active === btn) {
          clearActive();
          highlight({ tokens: [], features: [] });
          return;
        }
        clearActive();
        active = btn;
        btn.setAttribute("aria-pressed", "true");
        highlight({
          tokens: c.positions.slice(),
          features: c.features.map(function (f) { return { source: f.source, index: f.index }; }),
        });
      });
      li.appendChild(btn);
      list.appendChild(li);
    });
  }

  function lint() {
    var payload = payloadConcepts(concepts);
    if (!payload.length) {
      list.textContent = "";
      status.textContent = "No active concepts yet.";
      return;
    }
    var mine = ++seq;
    status.textContent = "Linting " + payload.length + " concepts…";
    fetch("/api/monitor/linter", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ modelId: modelId(), concepts: payload }),
    })
      .then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      })
      .then(function (res) {
        if (mine !== seq) return; // a newer request superseded this one
        if (!res.ok) {
          list.textContent = "";
          status.textContent = "Linter: " + (res.body.error || "failed");
          return;
        }
        render(res.body);
      })
      .catch(function () {
        if (mine === seq) status.textContent = "Linter: the server could not be reached.";
      });
  }

  document.addEventListener("monitor:concepts", function (ev) {
    var d = ev.detail;
    concepts = Array.isArray(d) ? d : (d && Array.isArray(d.concepts) ? d.concepts : []);
    if (!auto || auto.checked) {
      clearTimeout(timer);
      timer = setTimeout(lint, 500);
    } else {
      status.textContent = concepts.length + " active concepts: press Lint now.";
    }
  });
  if (runBtn) runBtn.addEventListener("click", lint);
  window.NeuronsiteMonitor = window.NeuronsiteMonitor || {};
  window.NeuronsiteMonitor.linterConcepts = payloadConcepts;
})();
