/* Neuronsite attribution-graph viewer (own code, no CDN). State lives in the URL with
   Neuronpedia's parameter names: slug, pinnedIds, supernodes, clerps, pruningThreshold,
   densityThreshold, clickedId, subgraph, embed. */
(function () {
  "use strict";
  const app = document.getElementById("graph-app");
  if (!app) return;
  const MODEL = app.dataset.model;
  const SVGNS = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const params = new URLSearchParams(location.search);
  const parseJSON = (s, d) => { try { return s ? JSON.parse(s) : d; } catch (e) { return d; } };
  const state = {
    slug: params.get("slug") || app.dataset.slug || "",
    pinned: new Set((params.get("pinnedIds") || "").split(",").filter(Boolean)),
    supernodes: parseJSON(params.get("supernodes"), []),
    clerps: new Map(parseJSON(params.get("clerps"), [])),
    pruning: parseFloat(params.get("pruningThreshold") || "0.6"),
    density: parseFloat(params.get("densityThreshold") || "1"),
    clickedId: params.get("clickedId") || "",
    subgraph: params.get("subgraph") || "",
    embed: params.get("embed") === "true",
  };
  let graph = null, byId = new Map(), linksIn = new Map(), linksOut = new Map();

  async function api(path, body, method) {
    const res = await fetch(path, {
      method: method || (body === undefined ? "GET" : "POST"),
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({ error: "bad response" }));
    if (!res.ok) throw new Error(data.message ? data.error + ": " + data.message : data.error || res.statusText);
    return data;
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
  function label(n) {
    const k = kind(n);
    if (k === "feature") return state.clerps.get(featureKey(n)) || n.clerp || ("feature " + featureKey(n));
    if (k === "embedding") return "Emb: " + JSON.stringify((graph.metadata.prompt_tokens || [])[n.ctx_idx] || "");
    if (k === "error") return "Error L" + n.layer + " @" + n.ctx_idx;
    return n.clerp || ("logit " + n.feature);
  }
  function visible(n) {
    const k = kind(n);
    if (k === "embedding" || k === "logit" || state.pinned.has(n.node_id)) return true;
    if (n.influence != null && n.influence > state.pruning) return false;
    if (n.density != null && n.density > state.density) return false;
    return true;
  }

  // ---- drawing --------------------------------------------------------------------------------
  function draw() {
    const svg = $("graph-svg");
    svg.replaceChildren();
    if (!graph) return;
    const nodes = graph.nodes.filter(visible);
    const shown = new Set(nodes.map((n) => n.node_id));
    const nCtx = Math.max(1, (graph.metadata.prompt_tokens || []).length);
    const layerNum = (n) => n.layer === "E" ? 0 : parseInt(n.layer, 10) + 1;
    const nRows = Math.max(...graph.nodes.map(layerNum)) + 1;
    const W = Math.max(svg.clientWidth || 800, nCtx * 40), H = 560, padB = 40, padT = 20;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const colW = W / nCtx, rowH = (H - padB - padT) / Math.max(1, nRows - 1);
    const cells = new Map();
    nodes.forEach((n) => { const key = n.ctx_idx + ":" + layerNum(n); (cells.get(key) || cells.set(key, []).get(key)).push(n); });
    const pos = new Map();
    cells.forEach((list) => list.forEach((n, i) => {
      const x = n.ctx_idx * colW + colW * (i + 1) / (list.length + 1);
      const y = H - padB - layerNum(n) * rowH;
      pos.set(n.node_id, [x, y]);
    }));
    const maxW = Math.max(1e-9, ...graph.links.map((l) => Math.abs(l.weight)));
    const gl = document.createElementNS(SVGNS, "g");
    const focus = state.clickedId;
    graph.links.forEach((l) => {
      if (!shown.has(l.source) || !shown.has(l.target)) return;
      if (focus && l.source !== focus && l.target !== focus) return;
      const [x1, y1] = pos.get(l.source), [x2, y2] = pos.get(l.target);
      const e = document.createElementNS(SVGNS, "line");
      e.setAttribute("x1", x1); e.setAttribute("y1", y1); e.setAttribute("x2", x2); e.setAttribute("y2", y2);
      e.setAttribute("class", "glink " + (l.weight >= 0 ? "pos" : "neg"));
      const w = Math.abs(l.weight) / maxW;
      e.setAttribute("stroke-width", (0.3 + 3 * w).toFixed(2));
      e.setAttribute("stroke-opacity", (0.15 + 0.8 * w).toFixed(2));
      gl.appendChild(e);
    });
    svg.appendChild(gl);
    (graph.metadata.prompt_tokens || []).forEach((t, i) => {
      const tx = document.createElementNS(SVGNS, "text");
      tx.setAttribute("x", i * colW + colW / 2); tx.setAttribute("y", H - 8);
      tx.setAttribute("text-anchor", "middle"); tx.setAttribute("class", "gtoken");
      tx.textContent = t; svg.appendChild(tx);
    });
    const gn = document.createElementNS(SVGNS, "g");
    nodes.forEach((n) => {
      const [x, y] = pos.get(n.node_id);
      const c = document.createElementNS(SVGNS, "circle");
      c.setAttribute("cx", x); c.setAttribute("cy", y); c.setAttribute("r", kind(n) === "feature" ? 6 : 5);
      let cls = "gnode " + kind(n);
      if (state.pinned.has(n.node_id)) cls += " pinned";
      if (n.node_id === state.clickedId) cls += " clicked";
      c.setAttribute("class", cls);
      c.dataset.nodeId = n.node_id;
      c.addEventListener("mouseenter", (ev) => tooltip(n, x, y));
      c.addEventListener("mouseleave", () => { $("graph-tooltip").hidden = true; });
      c.addEventListener("click", (ev) => (ev.ctrlKey || ev.metaKey) ? togglePin(n.node_id) : clickNode(n.node_id));
      gn.appendChild(c);
    });
    svg.appendChild(gn);
    renderSide();
  }

  function tooltip(n, x, y) {
    const t = $("graph-tooltip");
    const svg = $("graph-svg"), box = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal;
    t.textContent = label(n) + (n.activation != null ? "  (act " + n.activation.toFixed(3) + ")" : "");
    const px = x * box.width / vb.width;
    // Near the right edge the tooltip opens to the left of the node instead of being clipped.
    if (px > box.width * 0.6) { t.style.left = ""; t.style.right = (box.width - px + 10) + "px"; }
    else { t.style.right = ""; t.style.left = (px + 10) + "px"; }
    t.style.top = (y * box.height / vb.height + 10) + "px";
    t.hidden = false;
  }

  function clickNode(id) { state.clickedId = state.clickedId === id ? "" : id; writeURL(); draw(); }
  function togglePin(id) { state.pinned.has(id) ? state.pinned.delete(id) : state.pinned.add(id); writeURL(); draw(); }

  // ---- side panels ----------------------------------------------------------------------------
  function connTable(title, rows, pick) {
    const wrap = document.createElement("div");
    const h = document.createElement("h3"); h.textContent = title; wrap.appendChild(h);
    const table = document.createElement("table");
    rows.slice().sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, 30).forEach((l) => {
      const other = byId.get(pick(l)); if (!other) return;
      const tr = document.createElement("tr");
      const a = document.createElement("td"); a.textContent = label(other); a.className = "conn"; a.dataset.nodeId = other.node_id;
      a.addEventListener("click", () => clickNode(other.node_id));
      const b = document.createElement("td"); b.textContent = l.weight.toFixed(4);
      tr.append(a, b); table.appendChild(tr);
    });
    wrap.appendChild(table);
    return wrap;
  }

  function renderSide() {
    const body = $("graph-node-body");
    body.replaceChildren();
    const n = byId.get(state.clickedId);
    if (n) {
      const h = document.createElement("p"); h.id = "graph-node-label"; h.textContent = label(n); body.appendChild(h);
      const meta = document.createElement("p"); meta.className = "small muted";
      meta.textContent = `${n.node_id} · layer ${n.layer} · pos ${n.ctx_idx}` + (n.influence != null ? ` · influence ${n.influence.toFixed(3)}` : "");
      body.appendChild(meta);
      if (kind(n) === "feature") {
        const set = (graph.metadata.feature_details || {}).neuronpedia_source_set || (graph.metadata.info || {}).source_set;
        if (set) {
          const a = document.createElement("a"); a.href = `/${MODEL}/${n.layer}-${set}/${featureIndex(n)}`;
          a.textContent = "Feature page"; a.id = "graph-feature-link"; body.appendChild(a);
          loadActivations(body, `${n.layer}-${set}`, featureIndex(n));
        }
        const edit = document.createElement("input"); edit.type = "text"; edit.id = "graph-label-edit";
        edit.placeholder = "edit label"; edit.setAttribute("aria-label", "Edit label"); edit.value = state.clerps.get(featureKey(n)) || "";
        edit.addEventListener("change", () => {
          edit.value ? state.clerps.set(featureKey(n), edit.value) : state.clerps.delete(featureKey(n)); writeURL(); draw();
        });
        body.appendChild(edit);
      }
      body.appendChild(connTable("Input connections", linksIn.get(n.node_id) || [], (l) => l.source));
      body.appendChild(connTable("Output connections", linksOut.get(n.node_id) || [], (l) => l.target));
    }
    const ul = $("graph-pinned"); ul.replaceChildren();
    state.pinned.forEach((id) => {
      const p = byId.get(id); if (!p) return;
      const li = document.createElement("li"); li.textContent = label(p); li.dataset.nodeId = id; ul.appendChild(li);
    });
    const su = $("graph-supernodes"); su.replaceChildren();
    state.supernodes.forEach((group, gi) => {
      const li = document.createElement("li");
      const name = document.createElement("input"); name.type = "text"; name.value = group[0]; name.size = 14;
      name.setAttribute("aria-label", "Rename supernode"); name.className = "supernode-name";
      name.addEventListener("change", () => { state.supernodes[gi][0] = name.value; writeURL(); });
      const count = document.createElement("span"); count.textContent = ` ${group.length - 1} nodes `;
      const pin = document.createElement("button"); pin.type = "button"; pin.className = "small secondary"; pin.textContent = "Pin";
      pin.addEventListener("click", () => { group.slice(1).forEach((id) => state.pinned.add(id)); writeURL(); draw(); });
      const rm = document.createElement("button"); rm.type = "button"; rm.className = "small secondary"; rm.textContent = "Ungroup";
      rm.addEventListener("click", () => { state.supernodes.splice(gi, 1); writeURL(); renderSide(); });
      li.append(name, count, pin, rm); su.appendChild(li);
    });
    $("graph-sub-scores").textContent = subgraphScores();
  }

  async function loadActivations(body, source, index) {
    try {
      const f = await api(`/api/feature/${MODEL}/${source}/${index}`);
      const acts = (f.activations || []).slice(0, 3);
      const ul = document.createElement("ul"); ul.className = "small"; ul.id = "graph-activations";
      acts.forEach((a) => { const li = document.createElement("li"); li.textContent = (a.tokens || []).join("") + "  (max " + (a.maxValue != null ? Number(a.maxValue).toFixed(2) : "?") + ")"; ul.appendChild(li); });
      if (acts.length) body.appendChild(ul);
    } catch (e) { /* no dashboard for this feature yet */ }
  }

  // Subgraph scores: of the |weight| flowing into the pinned nodes, the share that comes from
  // pinned nodes or token embeddings (replacement) and from anything but error nodes (completeness).
  function subgraphScores() {
    if (!state.pinned.size) return "–";
    let total = 0, fromPinned = 0, nonError = 0;
    state.pinned.forEach((id) => (linksIn.get(id) || []).forEach((l) => {
      const src = byId.get(l.source); if (!src) return;
      const w = Math.abs(l.weight); total += w;
      if (state.pinned.has(l.source) || kind(src) === "embedding") fromPinned += w;
      if (kind(src) !== "error") nonError += w;
    }));
    if (!total) return "–";
    return `replacement ${(fromPinned / total).toFixed(2)} · completeness ${(nonError / total).toFixed(2)}`;
  }

  // ---- loading --------------------------------------------------------------------------------
  async function load() {
    if (!state.slug) return;
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
  }

  async function listSubgraphs() {
    try {
      const subs = await api("/api/graph/subgraph/list", { modelId: MODEL, slug: state.slug });
      const ul = $("graph-sub-list"); ul.replaceChildren();
      subs.forEach((s) => {
        const li = document.createElement("li"); const a = document.createElement("a");
        a.href = shareURL(s.id); a.textContent = (s.displayName || "subgraph " + s.id) + (s.featured ? " ★" : "");
        li.appendChild(a); ul.appendChild(li);
      });
      return subs;
    } catch (e) { return []; }
  }

  async function applySubgraph(id) {
    const s = await api(`/api/graph/subgraph/${encodeURIComponent(id)}`);
    state.pinned = new Set(s.pinnedIds); state.supernodes = s.supernodes || [];
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
  $("graph-group").addEventListener("click", () => {
    if (!state.pinned.size) return;
    state.supernodes.push([$("graph-supernode-name").value || "group " + (state.supernodes.length + 1), ...state.pinned]);
    writeURL(); renderSide();
  });
  $("graph-sub-clear").addEventListener("click", () => { state.pinned.clear(); state.supernodes = []; state.subgraph = ""; writeURL(); draw(); });
  $("graph-sub-save").addEventListener("click", async () => {
    try {
      const out = await api("/api/graph/subgraph/save", {
        modelId: MODEL, slug: state.slug, displayName: $("graph-sub-name").value,
        pinnedIds: [...state.pinned], supernodes: state.supernodes, clerps: [...state.clerps],
        pruningThreshold: state.pruning, densityThreshold: state.density, featured: $("graph-sub-featured").checked,
      });
      state.subgraph = String(out.subgraph.id); writeURL();
      const a = document.createElement("a"); a.id = "graph-share-link"; a.href = shareURL(out.subgraph.id); a.textContent = a.href;
      $("graph-share").replaceChildren("Share: ", a);
      listSubgraphs();
    } catch (e) { $("graph-share").textContent = e.message; }
  });
  $("graph-steer-run").addEventListener("click", async () => {
    // Chat-template / special-token positions cannot be steered: leave those nodes out.
    const special = (n) => /^<\|.*\|>$/.test((graph.metadata.prompt_tokens || [])[n.ctx_idx] || "");
    const feats = [...state.pinned].map((id) => byId.get(id)).filter((n) => n && kind(n) === "feature" && !special(n));
    if (!feats.length) { $("graph-steer-steered").textContent = "Pin feature nodes first."; return; }
    const ablate = $("graph-steer-ablate").checked, mult = parseFloat($("graph-steer-mult").value || "1");
    const toks = graph.metadata.prompt_tokens || [];
    let prompt = graph.metadata.prompt || "";
    if (toks.length && prompt.startsWith(toks[0]) && /^<.*>$/.test(toks[0])) prompt = prompt.slice(toks[0].length);
    $("graph-steer-steered").textContent = "Running…";
    try {
      const out = await api("/api/steer-logits", {
        modelId: MODEL, sourceSetName: (graph.metadata.feature_details || {}).neuronpedia_source_set || null, prompt,
        nTokens: parseInt($("graph-steer-tokens").value || "8", 10), topK: 5, freezeAttention: true, temperature: 0, seed: 16,
        features: feats.map((n) => ({
          layer: parseInt(n.layer, 10), index: featureIndex(n), token_active_position: n.ctx_idx,
          steer_position: null, steer_generated_tokens: false,
          delta: ablate ? null : (n.activation || 1) * mult, ablate,
        })),
      });
      $("graph-steer-default").textContent = out.DEFAULT_GENERATION;
      $("graph-steer-steered").textContent = out.STEERED_GENERATION;
    } catch (e) { $("graph-steer-steered").textContent = e.message; }
  });
  const form = $("graph-generate");
  if (form) form.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("graph-status").textContent = "Generating…";
    try {
      const body = { modelId: MODEL, prompt: $("graph-prompt").value, sourceSetName: $("graph-set").value || null };
      if ($("graph-new-slug").value) body.slug = $("graph-new-slug").value;
      const out = await api("/api/graph/generate", body);
      const slug = new URL(out.url).searchParams.get("slug");
      state.slug = slug; state.pinned.clear(); state.supernodes = []; state.clickedId = ""; state.subgraph = "";
      writeURL(); await load();
      $("graph-status").textContent = `Generated: ${out.numNodes} nodes, ${out.numLinks} links`;
    } catch (err) { $("graph-status").textContent = err.message; }
  });
  syncControls();
  load().catch((e) => { $("graph-status") && ($("graph-status").textContent = e.message); });
})();
