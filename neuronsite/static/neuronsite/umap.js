/* The UMAP page (issue 16): a canvas scatter of a source's features coloured by cluster. Hover
 * shows the explanation, click opens the feature, dragging a box selects features, and the
 * selection goes into a list through /api/list/add-features or /api/list/new-with-features.
 * Strings from the server go in with textContent only. */
(function () {
  "use strict";
  var page = document.getElementById("umap-page");
  if (!page) return;
  var canvas = document.getElementById("umap-canvas"), ctx = canvas.getContext("2d");
  var tip = document.getElementById("umap-tip"), status = document.getElementById("umap-status");
  var points = [], selected = [], box = null, drag = null, hover = -1;
  var PAD = 14, R = 3;
  function csrf() { var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; }
  function colour(c) { return c === null || c === undefined ? "#8892a6" : "hsl(" + ((c * 137.508) % 360).toFixed(1) + ",62%,48%)"; }
  var bounds = null;
  function layout() {
    var xs = points.map(function (p) { return p.x; }), ys = points.map(function (p) { return p.y; });
    bounds = { x0: Math.min.apply(null, xs), x1: Math.max.apply(null, xs), y0: Math.min.apply(null, ys), y1: Math.max.apply(null, ys) };
    var w = canvas.width - 2 * PAD, h = canvas.height - 2 * PAD;
    var sx = w / ((bounds.x1 - bounds.x0) || 1), sy = h / ((bounds.y1 - bounds.y0) || 1);
    points.forEach(function (p) { p.px = PAD + (p.x - bounds.x0) * sx; p.py = PAD + (bounds.y1 - p.y) * sy; });
  }
  function draw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    var chosen = {};
    selected.forEach(function (p) { chosen[p.index] = true; });
    points.forEach(function (p) {
      ctx.beginPath(); ctx.arc(p.px, p.py, R, 0, 2 * Math.PI);
      ctx.fillStyle = colour(p.cluster); ctx.globalAlpha = selected.length && !chosen[p.index] ? 0.25 : 0.85; ctx.fill();
      if (chosen[p.index]) { ctx.globalAlpha = 1; ctx.lineWidth = 1.5; ctx.strokeStyle = "#111"; ctx.stroke(); }
    });
    ctx.globalAlpha = 1;
    if (hover >= 0) { var h = points[hover]; ctx.beginPath(); ctx.arc(h.px, h.py, R + 3, 0, 2 * Math.PI); ctx.lineWidth = 2; ctx.strokeStyle = "#2f6fba"; ctx.stroke(); }
    if (box) {
      ctx.fillStyle = "rgba(47,111,186,.12)"; ctx.strokeStyle = "#2f6fba"; ctx.lineWidth = 1;
      ctx.fillRect(box.x, box.y, box.w, box.h); ctx.strokeRect(box.x, box.y, box.w, box.h);
    }
  }
  function toCanvas(ev) {
    var r = canvas.getBoundingClientRect();
    return { x: (ev.clientX - r.left) * canvas.width / r.width, y: (ev.clientY - r.top) * canvas.height / r.height };
  }
  function nearest(pt) {
    var best = -1, bestD = (R + 4) * (R + 4);
    for (var i = 0; i < points.length; i++) {
      var dx = points[i].px - pt.x, dy = points[i].py - pt.y, d = dx * dx + dy * dy;
      if (d <= bestD) { best = i; bestD = d; }
    }
    return best;
  }
  function showTip(i, ev) {
    if (i < 0) { tip.hidden = true; return; }
    var p = points[i], r = canvas.getBoundingClientRect(), wrap = canvas.parentNode.getBoundingClientRect();
    tip.textContent = p.index + (p.explanation ? " — " + p.explanation : " (no explanation)") + (p.cluster !== null ? "  · cluster " + p.cluster : "");
    tip.hidden = false;
    tip.style.left = (p.px * r.width / canvas.width + r.left - wrap.left + 8) + "px";
    tip.style.top = (p.py * r.height / canvas.height + r.top - wrap.top + 8) + "px";
  }
  function renderSelection() {
    var list = document.getElementById("umap-selected"), count = document.getElementById("umap-count"), add = document.getElementById("umap-add");
    list.textContent = "";
    count.textContent = selected.length ? selected.length + " feature" + (selected.length === 1 ? "" : "s") : "none — drag a box on the plot";
    if (add) add.disabled = !selected.length;
    selected.slice(0, 200).forEach(function (p) {
      var li = el("li"), a = el("a", String(p.index));
      a.href = page.dataset.featureBase + p.index;
      li.appendChild(a); li.appendChild(el("span", p.explanation ? " " + p.explanation : " —", p.explanation ? "" : "muted"));
      list.appendChild(li);
    });
    if (selected.length > 200) list.appendChild(el("li", "… and " + (selected.length - 200) + " more", "muted"));
  }
  canvas.addEventListener("pointerdown", function (ev) {
    canvas.setPointerCapture(ev.pointerId);
    drag = toCanvas(ev); box = null;
  });
  canvas.addEventListener("pointermove", function (ev) {
    var pt = toCanvas(ev);
    if (drag) {
      box = { x: Math.min(drag.x, pt.x), y: Math.min(drag.y, pt.y), w: Math.abs(pt.x - drag.x), h: Math.abs(pt.y - drag.y) };
      draw(); return;
    }
    var i = nearest(pt);
    if (i !== hover) { hover = i; draw(); }
    showTip(i, ev);
  });
  canvas.addEventListener("pointerup", function (ev) {
    var pt = toCanvas(ev), start = drag;
    drag = null;
    if (box && (box.w > 4 || box.h > 4)) {
      var b = box;
      selected = points.filter(function (p) { return p.px >= b.x && p.px <= b.x + b.w && p.py >= b.y && p.py <= b.y + b.h; });
      box = null; draw(); renderSelection();
      return;
    }
    box = null;
    var i = nearest(start || pt);
    if (i >= 0) window.location.href = page.dataset.featureBase + points[i].index;
  });
  canvas.addEventListener("pointerleave", function () { if (!drag) { hover = -1; tip.hidden = true; draw(); } });

  var form = document.getElementById("umap-list-form");
  if (form) {
    document.getElementById("umap-clear").addEventListener("click", function () { selected = []; draw(); renderSelection(); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var st = document.getElementById("umap-list-status"), listId = document.getElementById("umap-list").value;
      var name = document.getElementById("umap-new-list").value.trim();
      if (!selected.length) { st.textContent = "Select features first: drag a box on the plot."; return; }
      if (!listId && !name) { st.textContent = "Choose a list or name a new one."; return; }
      var feats = selected.map(function (p) { return { modelId: page.dataset.model, layer: page.dataset.source, index: p.index }; });
      var url = listId ? "/api/list/add-features" : "/api/list/new-with-features";
      var body = listId ? { listId: listId, featuresToAdd: feats } : { name: name, features: feats };
      st.textContent = "Adding…";
      fetch(url, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() }, body: JSON.stringify(body) })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
        .then(function (res) {
          if (!res.ok) { st.textContent = "Error: " + (res.body.error || "could not add"); return; }
          var id = listId || (res.body.id || (res.body.list && res.body.list.id));
          st.textContent = "Added " + feats.length + " feature" + (feats.length === 1 ? "" : "s") + ". ";
          if (id) { var a = el("a", "Open the list"); a.href = "/list/" + id + "/"; a.id = "umap-list-link"; st.appendChild(a); }
        }, function () { st.textContent = "Error: request failed."; });
    });
  }

  fetch(page.dataset.src, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (body) {
    points = (body.points || []).map(function (p) { return { index: p[0], x: p[1], y: p[2], cluster: p[3], explanation: p[4] }; });
    if (!points.length) { status.textContent = "No UMAP coordinates for this source yet (generate_dashboards computes them)."; return; }
    layout(); draw();
    var clusters = {};
    points.forEach(function (p) { if (p.cluster !== null) clusters[p.cluster] = true; });
    status.textContent = points.length + " features · " + Object.keys(clusters).length + " clusters";
    page.dataset.ready = "true";
  }, function () { status.textContent = "Could not load the coordinates."; });
})();
