/* Chat monitor: the steer-by-description panel (issue 15, item 5).
 *
 * Type a concept → POST /api/monitor/steer/search (live, debounced) → a preview table of matched
 * features; choose mode, strength and token ranges → "Add steering spec" (several specs, each
 * toggled on/off) → "Regenerate with steering" → POST /api/monitor/steer → default vs steered
 * side by side. On a conversation (data-conversation-id), specs are saved with it through
 * /api/monitor/conversation/{id}/specs (add = POST, on/off = PATCH, remove = DELETE) and loaded back.
 *
 * Inside #monitor[data-model-id, data-conversation-id?, data-mode?]. With a conversation id, the
 * conversation (GET /api/monitor/conversation/{id}) is what gets steered: its last answer is
 * dropped and regenerated with and without steering; without one (or when it has no messages),
 * the panel's own prompt box is used. Optional events from the page (the panel works without
 * them): "monitor:conversation" {detail: {messages: [{role, content}]}} — the conversation as it
 * is now; "monitor:selection" {detail: {positions: [token positions]}} — offers "use selected
 * tokens" for the prompt ranges.
 */
(function () {
  "use strict";
  var root = document.getElementById("monitor");
  var panel = document.getElementById("monitor-steer");
  if (!panel) return;
  function $(id) { return document.getElementById(id); }
  var description = $("steer-description"), topk = $("steer-topk"), exclude = $("steer-exclude");
  var searchStatus = $("steer-search-status"), preview = $("steer-preview");
  var mode = $("steer-mode"), strength = $("steer-strength");
  var generated = $("steer-generated"), ranges = $("steer-ranges"), useSel = $("steer-use-selection");
  var specList = $("steer-specs"), runStatus = $("steer-run-status");
  var promptText = $("steer-prompt-text"), chatMode = $("steer-chat-mode"), sourceNote = $("steer-source-note");
  var matched = [];
  var specs = [];
  var conversation = null;
  var selection = [];
  var searchSeq = 0, timer = null;

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
  function modelId() { return (root && root.dataset.modelId) || panel.dataset.modelId || ""; }
  function post(url, body) { return send("POST", url, body); }
  function send(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (r) {
      if (r.status === 204) return { ok: true, body: {} };
      return r.json().then(function (b) { return { ok: r.ok, body: b }; });
    });
  }

  /* "3-7, 12" → [[3, 8], [12, 13]] (inclusive as typed, half-open for the API); "all" → "all". */
  function parseRanges(text) {
    text = (text || "").trim();
    if (!text) return [];
    if (text.toLowerCase() === "all") return "all";
    var out = [];
    text.split(",").forEach(function (part) {
      var m = part.trim().match(/^(\d+)(?:\s*-\s*(\d+))?$/);
      if (!m) throw new Error("Prompt tokens: write ranges like 3-7, 12 or all.");
      var a = parseInt(m[1], 10), b = m[2] === undefined ? a : parseInt(m[2], 10);
      if (b < a) throw new Error("Prompt tokens: a range must not end before it starts.");
      out.push([a, b + 1]);
    });
    return out;
  }
  function rangesText(list) {
    if (list === "all") return "all prompt tokens";
    return list.map(function (r) { return r[1] - r[0] === 1 ? String(r[0]) : r[0] + "-" + (r[1] - 1); }).join(", ");
  }

  // ---- search ------------------------------------------------------------------------------
  /* "dogs, source code" → ["dogs", "source code"]: phrases the matched features must not be about. */
  function excludePhrases() {
    return (exclude ? exclude.value : "").split(",").map(function (p) { return p.trim(); }).filter(function (p) { return p; });
  }
  function renderPreview(rows) {
    var body = preview.querySelector("tbody");
    body.textContent = "";
    rows.forEach(function (r, i) {
      var tr = el("tr");
      var td = el("td");
      var box = el("input");
      box.type = "checkbox"; box.checked = true; box.dataset.i = String(i);
      box.setAttribute("aria-label", "use " + r.source + "/" + r.index);
      td.appendChild(box); tr.appendChild(td);
      var link = el("a", r.source + "/" + r.index);
      link.href = "/" + encodeURIComponent(modelId()) + "/" + encodeURIComponent(r.source) + "/" + r.index;
      link.target = "_blank"; link.rel = "noopener";
      td = el("td"); td.appendChild(link); tr.appendChild(td);
      tr.appendChild(el("td", r.explanation));
      tr.appendChild(el("td", r.similarity.toFixed(3)));
      tr.appendChild(el("td", r.topQuantile ? r.topQuantile.value.toFixed(3) + " (" + r.topQuantile.q + ")" : "—"));
      body.appendChild(tr);
    });
    preview.hidden = !rows.length;
  }

  function search() {
    var text = description.value.trim();
    if (text.length < 3) { searchStatus.textContent = "Type at least 3 characters."; return; }
    var mine = ++searchSeq;
    searchStatus.textContent = "Searching…";
    post("/api/monitor/steer/search", { modelId: modelId(), description: text, topK: parseInt(topk.value, 10) || 50, exclude: excludePhrases() })
      .then(function (res) {
        if (mine !== searchSeq) return;
        if (!res.ok) { searchStatus.textContent = res.body.error || "Search failed."; return; }
        matched = res.body.features;
        var not = excludePhrases().length ? " (leaving out " + excludePhrases().join(", ") + ")" : "";
        searchStatus.textContent = (matched.length ? matched.length + " features match “" + text + "”" : "No explained features match") + not + ".";
        renderPreview(matched);
      })
      .catch(function () { if (mine === searchSeq) searchStatus.textContent = "The server could not be reached."; });
  }
  $("steer-search-form").addEventListener("submit", function (ev) { ev.preventDefault(); search(); });
  function later() {
    clearTimeout(timer);
    if (description.value.trim().length >= 3) timer = setTimeout(search, 400);
  }
  description.addEventListener("input", later);
  if (exclude) exclude.addEventListener("input", later);

  // ---- specs -------------------------------------------------------------------------------
  mode.addEventListener("change", function () {
    if (mode.value === "strengthen") {
      strength.disabled = false; strength.min = "0"; strength.max = "1"; strength.value = "0.75";
    } else if (mode.value === "add") {
      strength.disabled = false; strength.removeAttribute("min"); strength.removeAttribute("max"); strength.value = "8";
    } else {
      strength.disabled = true;
    }
  });

  function renderSpecs() {
    specList.textContent = "";
    if (!specs.length) {
      specList.appendChild(el("li", "None yet: find features above and add a spec.", "muted small empty"));
      return;
    }
    specs.forEach(function (s, i) {
      var li = el("li", null, s.enabled ? "" : "off");
      var label = el("label");
      var box = el("input");
      box.type = "checkbox"; box.checked = s.enabled;
      box.addEventListener("change", function () {
        s.enabled = box.checked; renderSpecs();
        if (s.id) saved("PATCH", "/" + s.id, { enabled: s.enabled }).then(function (res) {
          if (!res.ok) { s.enabled = !s.enabled; renderSpecs(); searchStatus.textContent = res.body.error || "Could not save."; }
        });
      });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" on"));
      li.appendChild(label);
      var where = [];
      if (s.positions.prompt === "all" || s.positions.prompt.length) where.push(rangesText(s.positions.prompt));
      if (s.positions.generated) where.push("generated tokens");
      var how = s.mode === "suppress" ? "suppress" : s.mode + " " + s.strength;
      li.appendChild(el("span", "“" + s.description + "”" + (s.exclude && s.exclude.length ? " not " + s.exclude.join(", ") : "") + ": " + how + ", " + s.features.length + " features, at " + where.join(" + "), "what small"));
      var rm = el("button", "remove", "small secondary");
      rm.type = "button";
      rm.addEventListener("click", function () {
        if (!s.id) { specs.splice(i, 1); renderSpecs(); return; }
        saved("DELETE", "/" + s.id).then(function (res) {
          if (!res.ok) { searchStatus.textContent = res.body.error || "Could not remove."; return; }
          specs.splice(specs.indexOf(s), 1); renderSpecs();
        });
      });
      li.appendChild(rm);
      specList.appendChild(li);
    });
  }

  $("steer-add-spec").addEventListener("click", function () {
    var chosen = [];
    preview.querySelectorAll("tbody input[type=checkbox]").forEach(function (box) {
      if (box.checked) { var r = matched[parseInt(box.dataset.i, 10)]; chosen.push({ source: r.source, index: r.index }); }
    });
    if (!chosen.length) { searchStatus.textContent = "Find and check at least one feature first."; return; }
    var prompt;
    try { prompt = parseRanges(ranges.value); } catch (e) { searchStatus.textContent = e.message; return; }
    if (!generated.checked && (prompt !== "all" && !prompt.length)) {
      searchStatus.textContent = "Choose prompt tokens or generated tokens to steer at.";
      return;
    }
    var spec = {
      description: description.value.trim(),
      exclude: excludePhrases(),
      mode: mode.value,
      strength: parseFloat(strength.value) || 0,
      features: chosen,
      positions: { prompt: prompt, generated: generated.checked },
      enabled: true,
    };
    if (!/^\d+$/.test(conversationId())) { specs.push(spec); renderSpecs(); return; }
    // On a conversation, specs are saved with it (POST /api/monitor/conversation/{id}/specs).
    saved("POST", "", spec).then(function (res) {
      if (!res.ok) { searchStatus.textContent = res.body.error || "Could not save the spec."; return; }
      specs.push(res.body); renderSpecs();
    }).catch(function () { searchStatus.textContent = "The server could not be reached."; });
  });
  function saved(method, tail, body) {
    return send(method, "/api/monitor/conversation/" + conversationId() + "/specs" + tail, body);
  }
  if (/^\d+$/.test(conversationId())) {
    saved("GET", "").then(function (res) {
      if (res.ok && Array.isArray(res.body.specs) && !specs.length) { specs = res.body.specs; renderSpecs(); }
    }).catch(function () {});
  }

  document.addEventListener("monitor:selection", function (ev) {
    selection = (ev.detail && Array.isArray(ev.detail.positions)) ? ev.detail.positions.slice().sort(function (a, b) { return a - b; }) : [];
    useSel.hidden = !selection.length;
  });
  useSel.addEventListener("click", function () {
    var parts = [], start = null, prev = null;
    selection.forEach(function (p) {
      if (start === null) { start = prev = p; return; }
      if (p === prev + 1) { prev = p; return; }
      parts.push(start === prev ? String(start) : start + "-" + prev);
      start = prev = p;
    });
    if (start !== null) parts.push(start === prev ? String(start) : start + "-" + prev);
    ranges.value = parts.join(", ");
  });

  // ---- generation --------------------------------------------------------------------------
  function useConversation(messages) {
    var msgs = Array.isArray(messages) ? messages.slice() : [];
    while (msgs.length && msgs[msgs.length - 1].role === "assistant") msgs.pop();
    conversation = msgs.length ? msgs : null;
    promptText.disabled = !!conversation;
    sourceNote.textContent = conversation
      ? "Regenerates the conversation's last answer (" + conversation.length + (conversation.length === 1 ? " message" : " messages") + ") with and without steering."
      : "No conversation yet: type a prompt.";
  }
  document.addEventListener("monitor:conversation", function (ev) {
    useConversation(ev.detail && ev.detail.messages);
  });
  function conversationId() { return (root && root.dataset.conversationId) || ""; }
  /* The conversation as stored now (the chat may have moved on since the page loaded). */
  function refreshConversation() {
    var id = conversationId();
    if (!/^\d+$/.test(id)) return Promise.resolve();
    return fetch("/api/monitor/conversation/" + id, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) { if (c && Array.isArray(c.messages)) useConversation(c.messages); })
      .catch(function () {});
  }
  if (root && root.dataset.mode === "completion") chatMode.value = "completion";
  if (root && root.dataset.instruct === "false") chatMode.value = "completion";

  function show(id, value) {
    var text = value && typeof value === "object" ? value.raw : value;
    $(id).textContent = text || "";
  }

  $("steer-run-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!specs.some(function (s) { return s.enabled; })) { runStatus.textContent = "Add and enable at least one steering spec."; return; }
    var body = {
      modelId: modelId(),
      specs: specs.map(function (s) {
        return { description: s.description, exclude: s.exclude || [], mode: s.mode, strength: s.strength, features: s.features,
                 positions: s.positions, enabled: s.enabled };
      }),
      nTokens: parseInt($("steer-ntokens").value, 10) || 32,
      temperature: parseFloat($("steer-temperature").value) || 0,
      seed: parseInt($("steer-seed").value, 10) || 0,
    };
    runStatus.textContent = "Generating default and steered…";
    $("steer-regenerate").disabled = true;
    refreshConversation()
      .then(function () {
        var completion = chatMode.value === "completion";
        if (conversation && completion) {
          body.prompt = conversation.map(function (m) { return m.content; }).join("");
        } else if (conversation) {
          body.messages = conversation;
        } else if (!completion) {
          body.messages = [{ role: "user", content: promptText.value }];
        } else {
          body.prompt = promptText.value;
        }
        return post("/api/monitor/steer", body);
      })
      .then(function (res) {
        if (!res.ok) { runStatus.textContent = res.body.error || "Steering failed."; return; }
        $("steer-outputs").hidden = false;
        show("steer-out-default", res.body.DEFAULT);
        show("steer-out-steered", res.body.STEERED);
        runStatus.textContent = res.body.cached ? "Done (from the cache)." : "Done.";
      })
      .catch(function () { runStatus.textContent = "The server could not be reached."; })
      .then(function () { $("steer-regenerate").disabled = false; });
  });

  window.NeuronsiteMonitor = window.NeuronsiteMonitor || {};
  window.NeuronsiteMonitor.steerRanges = parseRanges;
})();
