/* The steer dialog, opened on the pinned nodes or on a supernode: POST /api/steer-logits with each
   feature node at its own position (set-point semantics: the server sets value = the feature's
   current activation at that position + delta, or 0 when ablating). The UI's delta is the
   feature's top activation (maxActApprox, from the batched /api/features details) × the
   multiplier, falling back to the node's activation in this prompt. Chat-template and other
   special-token positions cannot be steered and are left out. */
(function () {
  "use strict";
  const dialog = document.getElementById("graph-steer-dialog");
  if (!dialog) return;
  const NS = (window.NSGraph = window.NSGraph || {});
  const $ = (id) => document.getElementById(id);
  let current = [];

  const special = (n) => /^<\|.*\|>$|^<s>$|^<\/s>$|^<bos>$/.test(((NS.graph().metadata.prompt_tokens) || [])[n.ctx_idx] || "");

  function topActivation(n) {
    const d = NS.detail(n);
    if (d && d.maxActApprox) return Number(d.maxActApprox);
    return n.activation ? Math.abs(n.activation) : 1;
  }

  function deltaFor(n) {
    return topActivation(n) * parseFloat($("graph-steer-mult").value || "1");
  }

  function renderFeatures() {
    const ul = $("graph-steer-features");
    ul.replaceChildren();
    const ablate = $("graph-steer-ablate").checked;
    current.forEach((n) => {
      const li = document.createElement("li");
      li.dataset.nodeId = n.node_id;
      li.textContent = `${NS.label(n)} · L${n.layer} #${NS.featureIndex(n)} @ ${n.ctx_idx} · ` + (ablate ? "ablate" : `delta ${deltaFor(n).toFixed(2)}`);
      ul.appendChild(li);
    });
    if (!current.length) ul.appendChild(Object.assign(document.createElement("li"), { textContent: "No steerable feature nodes here." }));
  }

  NS.openSteer = ({ title, nodes }) => {
    const features = (nodes || []).filter((n) => n && NS.kind(n) === "feature");
    current = features.filter((n) => !special(n));
    const skipped = (nodes || []).length - current.length;
    $("graph-steer-title").textContent = "Steer " + title;
    $("graph-steer-note").textContent = skipped ? `${skipped} node(s) left out: only feature nodes at ordinary token positions can be steered.` : "";
    $("graph-steer-default").textContent = ""; $("graph-steer-steered").textContent = "";
    $("graph-steer-table").replaceChildren();
    NS.ensureDetails(current).then(renderFeatures);
    renderFeatures();
    if (!dialog.open) dialog.showModal ? dialog.showModal() : dialog.setAttribute("open", "");
  };

  function table(out) {
    const t = $("graph-steer-table");
    t.replaceChildren();
    const head = document.createElement("tr");
    ["#", "default token (p)", "steered token (p)"].forEach((s) => head.appendChild(Object.assign(document.createElement("th"), { textContent: s })));
    t.appendChild(head);
    const fmt = (step) => step ? JSON.stringify(step.token) + (step.top_logits && step.top_logits.length
      ? " (" + step.top_logits.map((x) => JSON.stringify(x.token) + " " + x.prob.toFixed(2)).join(", ") + ")" : "") : "";
    (out.STEERED_LOGITS_BY_TOKEN || []).forEach((step, i) => {
      const tr = document.createElement("tr");
      [String(i + 1), fmt(out.DEFAULT_LOGITS_BY_TOKEN[i]), fmt(step)].forEach((s) => tr.appendChild(Object.assign(document.createElement("td"), { textContent: s })));
      t.appendChild(tr);
    });
  }

  ["graph-steer-mult", "graph-steer-ablate"].forEach((id) => $(id).addEventListener("input", renderFeatures));
  $("graph-steer-close").addEventListener("click", () => dialog.close ? dialog.close() : dialog.removeAttribute("open"));
  $("graph-steer-run").addEventListener("click", async () => {
    if (!current.length) return;
    const graph = NS.graph(), toks = graph.metadata.prompt_tokens || [];
    let prompt = graph.metadata.prompt || "";
    // The stored prompt text starts with the BOS token's text; the server adds BOS itself.
    if (toks.length && prompt.startsWith(toks[0]) && /^<.*>$/.test(toks[0])) prompt = prompt.slice(toks[0].length);
    const ablate = $("graph-steer-ablate").checked, generated = $("graph-steer-generated").checked;
    $("graph-steer-steered").textContent = "Running…";
    try {
      const out = await NS.api("/api/steer-logits", {
        modelId: NS.model, sourceSetName: NS.sourceSet() || null, prompt,
        nTokens: parseInt($("graph-steer-tokens").value || "8", 10), topK: 3, freezeAttention: true, temperature: 0, seed: 16,
        features: current.map((n) => ({
          layer: parseInt(n.layer, 10), index: NS.featureIndex(n), token_active_position: n.ctx_idx,
          steer_position: null, steer_generated_tokens: generated,
          delta: ablate ? null : deltaFor(n), ablate,
        })),
      });
      $("graph-steer-default").textContent = out.DEFAULT_GENERATION;
      $("graph-steer-steered").textContent = out.STEERED_GENERATION;
      table(out);
    } catch (e) { $("graph-steer-steered").textContent = e.message; }
  });
})();
