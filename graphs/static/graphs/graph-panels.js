/* The viewer's side panels: the clicked node (label, feature page link, top activations from the
   batched details, label edit, input/output connections by weight), a supernode (rename, members,
   steer, ungroup), the pinned list, the supernode list and the subgraph scores. Reads the viewer's
   state through window.NSGraph (graph.js). */
(function () {
  "use strict";
  const app = document.getElementById("graph-app");
  if (!app) return;
  const NS = (window.NSGraph = window.NSGraph || {});
  const $ = (id) => document.getElementById(id);
  const { h, state, kind, label, featureKey, featureIndex, sourceSet, clickNode, ungroup, renameGroup, groupNodes, writeURL, draw } = NS;
  const MODEL = NS.model;
  const byId = { get: (id) => NS.byId().get(id) };
  const linksIn = { get: (id) => NS.linksIn().get(id) };
  const linksOut = { get: (id) => NS.linksOut().get(id) };
  const details = { get: (key) => NS.details.get(key) };

  // ---- side panels ----------------------------------------------------------------------------

  function connTable(title, rows, pick) {
    const table = h("table");
    rows.slice().sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, 30).forEach((l) => {
      const other = byId.get(pick(l)); if (!other) return;
      const a = h("td", { className: "conn", textContent: label(other), dataset: { nodeId: other.node_id } });
      a.addEventListener("click", () => clickNode(other.node_id));
      table.appendChild(h("tr", {}, a, h("td", { textContent: l.weight.toFixed(4) })));
    });
    return h("div", {}, h("h3", { textContent: title }), table);
  }

  function steerButton(text, nodes, title) {
    const b = h("button", { type: "button", className: "small", textContent: text });
    b.addEventListener("click", () => NS.openSteer && NS.openSteer({ title, nodes: nodes() }));
    return b;
  }

  function renameInput(gi, id) {
    const name = h("input", { type: "text", value: state.supernodes[gi][0], size: 14, className: "supernode-name" });
    name.setAttribute("aria-label", "Rename supernode");
    if (id) name.id = id;
    name.addEventListener("change", () => renameGroup(gi, name.value.trim()));
    return name;
  }

  function renderGroupPanel(body, gi) {
    const g = state.supernodes[gi]; if (!g) return;
    body.append(h("p", { id: "graph-node-label", textContent: "Supernode: " + g[0] }),
      h("p", { className: "small muted", textContent: `${g.length - 1} nodes grouped` }),
      renameInput(gi, "graph-group-rename"));
    const ul = h("ul", { className: "small", id: "graph-group-members" });
    groupNodes(gi).forEach((n) => ul.appendChild(h("li", { textContent: label(n), dataset: { nodeId: n.node_id } })));
    const ungroupBtn = h("button", { type: "button", className: "small secondary", textContent: "Ungroup" });
    ungroupBtn.addEventListener("click", () => ungroup(gi));
    body.append(ul, h("div", { className: "row" }, steerButton("Steer supernode", () => groupNodes(gi), g[0]), ungroupBtn));
  }

  NS.renderSide = function renderSide() {
    const body = $("graph-node-body");
    body.replaceChildren();
    const n = byId.get(state.clickedId);
    if (state.selectedGroup >= 0) renderGroupPanel(body, state.selectedGroup);
    else if (n) {
      body.append(h("p", { id: "graph-node-label", textContent: label(n) }), h("p", {
        className: "small muted",
        textContent: `${n.node_id} · layer ${n.layer} · pos ${n.ctx_idx}` + (n.influence != null ? ` · influence ${n.influence.toFixed(3)}` : ""),
      }));
      if (kind(n) === "feature") {
        const set = sourceSet();
        if (set) body.append(h("a", { href: `/${MODEL}/${n.layer}-${set}/${featureIndex(n)}`, textContent: "Feature page", id: "graph-feature-link" }));
        const d = details.get(featureKey(n));
        if (d && (d.activations || []).length) {
          const ul = h("ul", { className: "small", id: "graph-activations" });
          d.activations.slice(0, 3).forEach((a) => ul.appendChild(h("li", {
            textContent: (a.tokens || []).join("") + "  (max " + (a.maxValue != null ? Number(a.maxValue).toFixed(2) : "?") + ")",
          })));
          body.append(ul);
        }
        const edit = h("input", { type: "text", id: "graph-label-edit", placeholder: "edit label", value: state.clerps.get(featureKey(n)) || "" });
        edit.setAttribute("aria-label", "Edit label");
        edit.addEventListener("change", () => {
          edit.value ? state.clerps.set(featureKey(n), edit.value) : state.clerps.delete(featureKey(n)); writeURL(); draw();
        });
        body.append(edit);
      }
      body.append(connTable("Input connections", linksIn.get(n.node_id) || [], (l) => l.source),
        connTable("Output connections", linksOut.get(n.node_id) || [], (l) => l.target));
    }
    const ul = $("graph-pinned"); ul.replaceChildren();
    state.pinned.forEach((id) => { const p = byId.get(id); if (p) ul.appendChild(h("li", { textContent: label(p), dataset: { nodeId: id } })); });
    const su = $("graph-supernodes"); su.replaceChildren();
    state.supernodes.forEach((g, gi) => {
      const pin = h("button", { type: "button", className: "small secondary", textContent: "Pin" });
      pin.addEventListener("click", () => { g.slice(1).forEach((id) => state.pinned.add(id)); writeURL(); draw(); });
      const rm = h("button", { type: "button", className: "small secondary", textContent: "Ungroup" });
      rm.addEventListener("click", () => ungroup(gi));
      su.appendChild(h("li", { dataset: { group: String(gi) } }, renameInput(gi), h("span", { textContent: ` ${g.length - 1} nodes ` }),
        pin, steerButton("Steer", () => groupNodes(gi), g[0]), rm));
    });
    $("graph-sub-scores").textContent = subgraphScores();
  };

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

})();
