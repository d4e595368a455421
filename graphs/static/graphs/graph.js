/* Neuronsite attribution-graph viewer (own code, no CDN). State lives in the URL with
   Neuronpedia's parameter names: slug, pinnedIds, supernodes, clerps, pruningThreshold,
   densityThreshold, clickedId, subgraph, embed. Companions (loaded after this file, called at
   event time): graph-jobs.js (Generate as a job with a progress bar), graph-steer.js (the steer
   dialog). Shared helpers live on window.NSGraph. */
(function () {
  "use strict";
  const app = document.getElementById("graph-app");
  if (!app) return;
  const NS = (window.NSGraph = window.NSGraph || {});
  const MODEL = app.dataset.model;
  const SVGNS = "http://www.w3.org/2000/svg";
  const DETAIL_BATCH = 256; // POST /api/features takes at most 256 features per request
  const PREFETCH_MAX = 1024;
  const $ = (id) => document.getElementById(id);
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const params = new URLSearchParams(location.search);
  const parseJSON = (s, d) => { try { return s ? JSON.parse(s) : d; } catch (e) { return d; } };
  const state = {
    slug: params.get("slug") || app.dataset.slug || "",
    pinned: new Set((params.get("pinnedIds") || "").split(",").filter(Boolean)),
    supernodes: cleanGroups(parseJSON(params.get("supernodes"), [])),
    clerps: new Map(parseJSON(params.get("clerps"), [])),
    pruning: parseFloat(params.get("pruningThreshold") || "0.6"),
    density: parseFloat(params.get("densityThreshold") || "1"),
    clickedId: params.get("clickedId") || "",
    subgraph: params.get("subgraph") || "",
    embed: params.get("embed") === "true",
    selectedGroup: -1, // a supernode opened in the node panel (not part of the URL)
  };
  let graph = null, byId = new Map(), linksIn = new Map(), linksOut = new Map();
  const details = new Map(); // "layer_index" → /api/features row, or null (asked, none stored)
  let detailRequests = 0;

  async function api(path, body, method) {
    const res = await fetch(path, {
      method: method || (body === undefined ? "GET" : "POST"),
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({ error: "bad response" }));
    if (!res.ok) {
      const err = new Error(data.message ? data.error + ": " + data.message : data.error || res.statusText);
      err.status = res.status; err.retryAfter = res.headers.get("Retry-After");
      throw err;
    }
    return data;
  }

  function cleanGroups(groups) {
    // [[label, nodeId, ...], ...]; a node belongs to one group at most.
    const seen = new Set();
    return (Array.isArray(groups) ? groups : []).map((g) => {
      if (!Array.isArray(g) || g.length < 2) return null;
      const ids = g.slice(1).map(String).filter((id) => !seen.has(id) && seen.add(id));
      return ids.length ? [String(g[0]), ...ids] : null;
    }).filter(Boolean);
  }

  function writeURL() {
    const p = new URLSearchParams();
    if (state.slug) p.set("slug", state.slug);
    if (state.pinned.size) p.set("pinnedIds", [...state.pinned].join(","));
    if (state.supernodes.length) p.set("supernodes", JSON.stringify(state.supernodes));
    if (state.clerps.size) p.set("clerps", JSON.stringify([...state.clerps]));
    if (state.pruning !== 0.6) p.set("pruningThreshold", state.pruning.toFixed(2));
    if (state.density !== 1) p.set("densityThreshold", state.density.toFixed(2));
    if (state.clickedId) p.set("clickedId", state.clickedId);
    if (state.subgraph) p.set("subgraph", state.subgraph);
    if (state.embed) p.set("embed", "true");
    history.replaceState(null, "", location.pathname + "?" + p.toString());
  }

  // ---- node helpers (both error-id forms are accepted: the type decides) ----------------------
  const kind = (n) => n.feature_type === "embedding" ? "embedding" : n.feature_type === "logit" ? "logit"
    : n.feature_type === "mlp reconstruction error" ? "error" : "feature";
  function featureKey(n) { const p = String(n.node_id).split("_"); return p[0] + "_" + p[1]; }
  function featureIndex(n) { return parseInt(String(n.node_id).split("_")[1], 10); }
  function sourceSet() {
    const m = graph ? graph.metadata : {};
    return (m.feature_details || {}).neuronpedia_source_set || (m.info || {}).source_set || "";
  }
  function label(n) {
    const k = kind(n);
    if (k === "feature") {
      const d = details.get(featureKey(n));
      const explained = d && d.explanations && d.explanations.length ? d.explanations[0].description : "";
      return state.clerps.get(featureKey(n)) || n.clerp || explained || ("feature " + featureKey(n));
    }
    if (k === "embedding") return "Emb: " + JSON.stringify((graph.metadata.prompt_tokens || [])[n.ctx_idx] || "");
    if (k === "error") return "Error L" + n.layer + " @" + n.ctx_idx;
    return n.clerp || ("logit " + n.feature);
  }
  function groupOf() {
    const m = new Map();
    state.supernodes.forEach((g, gi) => g.slice(1).forEach((id) => m.set(id, gi)));
    return m;
  }
  function visible(n, groups) {
    const k = kind(n);
    if (k === "embedding" || k === "logit" || state.pinned.has(n.node_id) || groups.has(n.node_id)) return true;
    if (n.influence != null && n.influence > state.pruning) return false;
    if (n.density != null && n.density > state.density) return false;
    return true;
  }

  // ---- node details: POST /api/features in batches (never one request per node) ---------------
  async function ensureDetails(nodes) {
    const set = sourceSet();
    if (!set) return;
    const want = [], seen = new Set();
    nodes.forEach((n) => {
      if (!n || kind(n) !== "feature") return;
      const key = featureKey(n);
      if (details.has(key) || seen.has(key)) return;
      seen.add(key); want.push(n);
    });
    for (let i = 0; i < want.length; i += DETAIL_BATCH) {
      const chunk = want.slice(i, i + DETAIL_BATCH);
      chunk.forEach((n) => details.set(featureKey(n), null));
      detailRequests += 1;
      app.dataset.detailRequests = String(detailRequests);
      try {
        const rows = await api("/api/features", chunk.map((n) => ({
          modelId: MODEL, layer: `${n.layer}-${set}`, index: featureIndex(n), maxActsToReturn: 3,
        })));
        rows.forEach((f) => details.set(parseInt(f.layer, 10) + "_" + f.index, f));
      } catch (e) { /* features without dashboards stay null */ }
    }
    if (want.length) renderSide();
  }

  // ---- drawing --------------------------------------------------------------------------------
  const el = (name, attrs) => {
    const e = document.createElementNS(SVGNS, name);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    return e;
  };

  function draw() {
    const svg = $("graph-svg");
    svg.replaceChildren();
    if (!graph) return;
    const groups = groupOf();
    const nodes = graph.nodes.filter((n) => visible(n, groups));
    const shown = new Set(nodes.map((n) => n.node_id));
    const nCtx = Math.max(1, (graph.metadata.prompt_tokens || []).length);
    const layerNum = (n) => n.layer === "E" ? 0 : parseInt(n.layer, 10) + 1;
    const nRows = Math.max(...graph.nodes.map(layerNum)) + 1;
    const W = Math.max(svg.clientWidth || 800, nCtx * 40), H = 560, padB = 40, padT = 30;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const colW = W / nCtx, rowH = (H - padB - padT) / Math.max(1, nRows - 1);
    const cells = new Map();
    nodes.forEach((n) => { const key = n.ctx_idx + ":" + layerNum(n); (cells.get(key) || cells.set(key, []).get(key)).push(n); });
    const pos = new Map();
    cells.forEach((list) => list.forEach((n, i) => {
      pos.set(n.node_id, [n.ctx_idx * colW + colW * (i + 1) / (list.length + 1), H - padB - layerNum(n) * rowH]);
    }));
    // Supernodes: one box at the mean position of its shown members, which are not drawn.
    const boxes = new Map(); // "sn:gi" → {gi, x, y, name, members}
    state.supernodes.forEach((g, gi) => {
      const members = g.slice(1).filter((id) => shown.has(id));
      if (!members.length) return;
      const x = members.reduce((s, id) => s + pos.get(id)[0], 0) / members.length;
      const y = members.reduce((s, id) => s + pos.get(id)[1], 0) / members.length;
      boxes.set("sn:" + gi, { gi, x, y, name: g[0], members });
      pos.set("sn:" + gi, [x, y]);
    });
    const endpoint = (id) => groups.has(id) && boxes.has("sn:" + groups.get(id)) ? "sn:" + groups.get(id) : id;
    const merged = new Map();
    graph.links.forEach((l) => {
      if (!shown.has(l.source) || !shown.has(l.target)) return;
      const s = endpoint(l.source), t = endpoint(l.target);
      if (s === t) return; // inside one supernode
      const key = s + "|" + t;
      merged.set(key, (merged.get(key) || 0) + l.weight);
    });
    const focus = state.clickedId ? endpoint(state.clickedId) : state.selectedGroup >= 0 ? "sn:" + state.selectedGroup : "";
    const maxW = Math.max(1e-9, ...[...merged.values()].map(Math.abs));
    const gl = el("g");
    merged.forEach((weight, key) => {
      const [s, t] = key.split("|");
      if (focus && s !== focus && t !== focus) return;
      const [x1, y1] = pos.get(s), [x2, y2] = pos.get(t);
      const w = Math.abs(weight) / maxW;
      gl.appendChild(el("line", {
        x1, y1, x2, y2, class: "glink " + (weight >= 0 ? "pos" : "neg"),
        "stroke-width": (0.3 + 3 * w).toFixed(2), "stroke-opacity": (0.15 + 0.8 * w).toFixed(2),
      }));
    });
    svg.appendChild(gl);
    const gt = el("g");
    (graph.metadata.prompt_tokens || []).forEach((t, i) => {
      const tx = el("text", { x: i * colW + colW / 2, y: H - 8, "text-anchor": "middle", class: "gtoken" });
      tx.textContent = t; gt.appendChild(tx);
    });
    svg.appendChild(gt);
    const gn = el("g");
    nodes.forEach((n) => {
      if (groups.has(n.node_id) && boxes.has("sn:" + groups.get(n.node_id))) return;
      const [x, y] = pos.get(n.node_id);
      let cls = "gnode " + kind(n);
      if (state.pinned.has(n.node_id)) cls += " pinned";
      if (n.node_id === state.clickedId) cls += " clicked";
      const c = el("circle", { cx: x, cy: y, r: kind(n) === "feature" ? 6 : 5, class: cls });
      c.dataset.nodeId = n.node_id;
      gn.appendChild(c);
    });
    boxes.forEach((b, key) => {
      const g = el("g", { class: "gsupernode" + (b.gi === state.selectedGroup ? " selected" : "") });
      g.dataset.group = String(b.gi);
      const wBox = Math.max(48, Math.min(180, 7 * b.name.length + 16));
      g.appendChild(el("rect", { x: b.x - wBox / 2, y: b.y - 10, width: wBox, height: 20, rx: 4 }));
      const tx = el("text", { x: b.x, y: b.y + 4, "text-anchor": "middle" });
      tx.textContent = b.name.length > 24 ? b.name.slice(0, 23) + "…" : b.name;
      g.appendChild(tx);
      gn.appendChild(g);
    });
    svg.appendChild(gn);
    renderSide();
  }

  // One set of listeners on the SVG (cheap for 5,000-node graphs).
  const svgEl = $("graph-svg");
  function targetOf(ev) {
    const box = ev.target.closest && ev.target.closest("g.gsupernode");
    if (box) return { group: parseInt(box.dataset.group, 10) };
    const id = ev.target.dataset && ev.target.dataset.nodeId;
    return id ? { node: byId.get(id) } : null;
  }
  svgEl.addEventListener("mouseover", (ev) => {
    const t = targetOf(ev); if (!t) return;
    if (t.node) tooltip(label(t.node) + (t.node.activation != null ? "  (act " + t.node.activation.toFixed(3) + ")" : ""), ev);
    else { const g = state.supernodes[t.group]; tooltip(g[0] + " (" + (g.length - 1) + " nodes)", ev); }
  });
  svgEl.addEventListener("mouseout", (ev) => { if (targetOf(ev)) $("graph-tooltip").hidden = true; });
  svgEl.addEventListener("click", (ev) => {
    const t = targetOf(ev); if (!t) return;
    if (t.group != null) return selectGroup(t.group);
    if (ev.ctrlKey || ev.metaKey) togglePin(t.node.node_id); else clickNode(t.node.node_id);
  });

  function tooltip(text, ev) {
    const t = $("graph-tooltip"), box = $("graph-canvas").getBoundingClientRect();
    t.textContent = text;
    const px = ev.clientX - box.left, py = ev.clientY - box.top;
    // Near the right edge the tooltip opens to the left of the node instead of being clipped.
    if (px > box.width * 0.6) { t.style.left = ""; t.style.right = (box.width - px + 10) + "px"; }
    else { t.style.right = ""; t.style.left = (px + 10) + "px"; }
    t.style.top = (py + 10) + "px";
    t.hidden = false;
  }

  function clickNode(id) {
    state.clickedId = state.clickedId === id ? "" : id; state.selectedGroup = -1;
    writeURL(); draw();
    const n = byId.get(state.clickedId);
    if (n) ensureDetails([n, ...(linksIn.get(n.node_id) || []).map((l) => byId.get(l.source)),
      ...(linksOut.get(n.node_id) || []).map((l) => byId.get(l.target))]);
  }
  function selectGroup(gi) {
    state.selectedGroup = state.selectedGroup === gi ? -1 : gi; state.clickedId = "";
    writeURL(); draw();
  }
  function togglePin(id) { state.pinned.has(id) ? state.pinned.delete(id) : state.pinned.add(id); writeURL(); draw(); }

  // ---- supernodes -----------------------------------------------------------------------------
  function groupPinned(name) {
    const ids = [...state.pinned];
    if (!ids.length) return;
    state.supernodes = cleanGroups([
      ...state.supernodes.map((g) => [g[0], ...g.slice(1).filter((id) => !state.pinned.has(id))]),
      [name || "group " + (state.supernodes.length + 1), ...ids],
    ]);
    state.selectedGroup = -1;
    writeURL(); draw();
  }
  function renameGroup(gi, name) { if (state.supernodes[gi] && name) { state.supernodes[gi][0] = name; writeURL(); draw(); } }
  function ungroup(gi) { state.supernodes.splice(gi, 1); state.selectedGroup = -1; writeURL(); draw(); }
  function groupNodes(gi) { return (state.supernodes[gi] || []).slice(1).map((id) => byId.get(id)).filter(Boolean); }

  const h = (NS.h = (tag, props, ...children) => {
    const e = document.createElement(tag);
    Object.entries(props || {}).forEach(([k, v]) => { if (k === "dataset") Object.assign(e.dataset, v); else if (k in e) e[k] = v; else e.setAttribute(k, v); });
    children.forEach((c) => e.append(c));
    return e;
  });

  // ---- side panels: graph-panels.js (NS.renderSide) ------------------------------------------
  const renderSide = () => NS.renderSide && NS.renderSide();

  // ---- loading --------------------------------------------------------------------------------
  async function load() {
    if (!state.slug) return;
    app.dataset.ready = "";
    $("graph-status") && ($("graph-status").textContent = "Loading…");
    const meta = await api(`/api/graph/${MODEL}/${encodeURIComponent(state.slug)}`);
    const res = await fetch(meta.url, { credentials: "same-origin" });
    graph = await res.json();
    byId = new Map(graph.nodes.map((n) => [n.node_id, n]));
    linksIn = new Map(); linksOut = new Map();
    graph.links.forEach((l) => {
      (linksIn.get(l.target) || linksIn.set(l.target, []).get(l.target)).push(l);
      (linksOut.get(l.source) || linksOut.set(l.source, []).get(l.source)).push(l);
    });
    const m = graph.metadata;
    $("graph-scores").textContent = m.replacement_score != null
      ? `Graph: replacement ${m.replacement_score.toFixed(2)} · completeness ${m.completeness_score.toFixed(2)} · ${graph.nodes.length} nodes` : `${graph.nodes.length} nodes`;
    $("graph-status") && ($("graph-status").textContent = "");
    if (state.subgraph) await applySubgraph(state.subgraph);
    draw();
    app.dataset.ready = "1";
    listSubgraphs();
    // Labels and top activations for what is on screen, a few batched requests.
    const groups = groupOf();
    const onScreen = graph.nodes.filter((n) => kind(n) === "feature" && visible(n, groups))
      .sort((a, b) => (a.influence ?? 1) - (b.influence ?? 1)).slice(0, PREFETCH_MAX);
    const first = byId.get(state.clickedId);
    ensureDetails(first ? [first, ...onScreen] : onScreen);
  }

  async function listSubgraphs() {
    try {
      const subs = await api("/api/graph/subgraph/list", { modelId: MODEL, slug: state.slug });
      const ul = $("graph-sub-list"); ul.replaceChildren();
      subs.forEach((s) => ul.appendChild(h("li", {}, h("a", {
        href: shareURL(s.id), textContent: (s.displayName || "subgraph " + s.id) + (s.featured ? " ★" : ""),
      }))));
      return subs;
    } catch (e) { return []; }
  }

  async function applySubgraph(id) {
    const s = await api(`/api/graph/subgraph/${encodeURIComponent(id)}`);
    state.pinned = new Set(s.pinnedIds); state.supernodes = cleanGroups(s.supernodes || []);
    state.clerps = new Map(s.clerps || []);
    if (s.pruningThreshold != null) state.pruning = s.pruningThreshold;
    if (s.densityThreshold != null) state.density = s.densityThreshold;
    syncControls();
  }

  function shareURL(id) {
    return `${location.origin}/${MODEL}/graph?slug=${encodeURIComponent(state.slug)}&subgraph=${id}`;
  }

  function syncControls() {
    $("graph-pruning").value = state.pruning; $("graph-pruning-value").textContent = state.pruning.toFixed(2);
    $("graph-density").value = state.density; $("graph-density-value").textContent = state.density.toFixed(2);
  }

  // ---- controls -------------------------------------------------------------------------------
  $("graph-pruning").addEventListener("input", (e) => { state.pruning = parseFloat(e.target.value); syncControls(); writeURL(); draw(); });
  $("graph-density").addEventListener("input", (e) => { state.density = parseFloat(e.target.value); syncControls(); writeURL(); draw(); });
  $("graph-fullscreen").addEventListener("click", () => app.requestFullscreen && app.requestFullscreen());
  $("graph-embed-link").addEventListener("click", (e) => {
    e.preventDefault(); const u = new URL(location.href); u.searchParams.set("embed", "true");
    $("graph-share").textContent = u.toString();
  });
  $("graph-group").addEventListener("click", () => groupPinned($("graph-supernode-name").value.trim()));
  $("graph-sub-clear").addEventListener("click", () => {
    state.pinned.clear(); state.supernodes = []; state.subgraph = ""; state.selectedGroup = -1; writeURL(); draw();
  });
  $("graph-steer-open").addEventListener("click", () => NS.openSteer && NS.openSteer({
    title: "pinned nodes", nodes: [...state.pinned].map((id) => byId.get(id)).filter(Boolean),
  }));
  $("graph-sub-save").addEventListener("click", async () => {
    try {
      const out = await api("/api/graph/subgraph/save", {
        modelId: MODEL, slug: state.slug, displayName: $("graph-sub-name").value,
        pinnedIds: [...state.pinned], supernodes: state.supernodes, clerps: [...state.clerps],
        pruningThreshold: state.pruning, densityThreshold: state.density, featured: $("graph-sub-featured").checked,
      });
      state.subgraph = String(out.subgraph.id); writeURL();
      const a = h("a", { id: "graph-share-link", href: shareURL(out.subgraph.id) }); a.textContent = a.href;
      $("graph-share").replaceChildren("Share: ", a);
      listSubgraphs();
    } catch (e) { $("graph-share").textContent = e.message; }
  });

  // Opened by graph-jobs.js when a generation job ends.
  NS.openGraph = async (slug) => {
    state.slug = slug; state.pinned.clear(); state.supernodes = []; state.clickedId = ""; state.subgraph = "";
    state.selectedGroup = -1; details.clear();
    writeURL(); await load();
  };
  Object.assign(NS, {
    api, model: MODEL, state, kind, label, featureKey, featureIndex, sourceSet, details,
    graph: () => graph, byId: () => byId, linksIn: () => linksIn, linksOut: () => linksOut,
    detail: (n) => details.get(featureKey(n)), ensureDetails,
    clickNode, ungroup, renameGroup, groupNodes, writeURL, draw,
  });
  syncControls();
  // After every deferred companion script (graph-panels.js, graph-jobs.js, graph-steer.js) has run.
  const start = () => load().catch((e) => { $("graph-status") && ($("graph-status").textContent = e.message); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
