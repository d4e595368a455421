/* The chat monitor page (protocol: monitor/consumers.py). Chat over /ws/monitor/, a token strip
 * (hover a token or drag over a range to narrow the table; click an answer token for its
 * attribution), the active-concepts table with a keyword filter over explanations.
 * Other panels (linter, steer) listen for "monitor:concepts" on document (detail = the concepts
 * JSON) and send "monitor:highlight" ({tokens: [positions], features: [{source, index}]}).
 * The token range the user selected (drag over tokens; Escape clears) is announced as
 * "monitor:selection" ({tokens: [positions], positions: [the same]}) and kept in #monitor's
 * data-selection (JSON list). The conversation as stored is announced as "monitor:conversation"
 * ({conversationId, messages: [{role, content}]}) on load and whenever it changes. Token positions
 * are those of the conversation rendered through the chat template (completion mode: the messages'
 * texts joined, BOS first), the same positions /api/monitor/steer takes for prompt ranges.
 * Every server or user string goes in with textContent, never as HTML. */
(function () {
  "use strict";
  var root = document.getElementById("monitor");
  if (!root) return;
  /* 0 until the first message: visiting the page creates nothing, the first send creates the
   * conversation (POST /api/monitor/conversation/new with the checked sources and the page's mode). */
  var convId = Number(root.dataset.conversationId) || 0;
  var MAX_ROWS = 300;
  var state = { concepts: null, hover: null, range: null, anchor: null, dragging: false,
                attribution: null, highlight: { tokens: [], features: [] } };
  var ws = null, wsReady = null, nextId = 1, handlers = {};

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function csrf() { var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; }
  function status(text) { $("monitor-status").textContent = text || ""; }
  function fmt(x) { return (x === null || x === undefined) ? "" : Number(x).toFixed(3); }
  function visible(text) { return String(text).replace(/\n/g, "\u21b5").replace(/ /g, "\u00b7") || "\u2205"; }

  function checkedSources() {
    return Array.prototype.map.call(document.querySelectorAll('#monitor-sources input[name="source"]:checked'), function (i) { return i.value; });
  }
  function createConversation() {
    return fetch("/api/monitor/conversation/new", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ modelId: root.dataset.modelId, sources: checkedSources(), mode: root.dataset.mode })
    }).then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.statusText); return j; }); });
  }
  function ensureConversation() {
    if (convId) return Promise.resolve(convId);
    return createConversation().then(function (c) {
      convId = c.id;
      root.dataset.conversationId = String(c.id);
      var sel = $("monitor-conversations");
      var opt = sel.querySelector('option[value=""]') || document.createElement("option");
      opt.value = String(c.id);
      opt.textContent = "Conversation #" + c.id;
      if (!opt.parentNode) sel.insertBefore(opt, sel.firstChild);
      sel.value = String(c.id);
      if (window.history && history.replaceState) history.replaceState(null, "", location.pathname + "?c=" + c.id);
      return convId;
    });
  }

  function api(path, body) {
    return fetch("/api/monitor/conversation/" + convId + path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.statusText); return j; });
    });
  }

  function socket() {
    if (wsReady) return wsReady;
    wsReady = new Promise(function (resolve, reject) {
      ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/monitor/");
      ws.onopen = function () { resolve(ws); };
      ws.onerror = function () { wsReady = null; reject(new Error("websocket failed")); };
      ws.onclose = function () { wsReady = null; };
      ws.onmessage = function (ev) {
        var frame = JSON.parse(ev.data);
        var h = handlers[frame.requestId];
        if (h) h(frame);
        else if (frame.type === "error") status(frame.error);
      };
    });
    return wsReady;
  }
  function request(frame, onFrame) {
    var id = nextId++;
    frame.requestId = id;
    frame.conversationId = convId;
    handlers[id] = function (f) {
      if (["concepts", "attribution", "error", "cancelled"].indexOf(f.type) >= 0) delete handlers[id];
      onFrame(f);
    };
    return socket().then(function (s) { s.send(JSON.stringify(frame)); });
  }

  /* --- chat ------------------------------------------------------------------------------- */
  function renderMessages(messages) {
    announceConversation(messages);
    var ol = $("monitor-messages");
    ol.textContent = "";
    messages.forEach(function (m) { ol.appendChild(messageItem(m.role, m.content)); });
  }
  /* The steer panel (and any other) follows the conversation as stored: "monitor:conversation". */
  function announceConversation(messages) {
    var msgs = (messages || []).map(function (m) { return { role: m.role, content: m.content }; });
    document.dispatchEvent(new CustomEvent("monitor:conversation", { detail: { conversationId: convId, messages: msgs } }));
  }
  function messageItem(role, content) {
    var li = el("li", null, "msg msg-" + role);
    li.appendChild(el("span", role, "role"));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", content, "content"));
    return li;
  }
  function busy(on) {
    ["monitor-send", "monitor-regenerate", "monitor-clear", "monitor-sources-apply"].forEach(function (id) {
      var b = $(id); if (b) b.disabled = on;
    });
  }
  function generate(kind, content) {
    var ol = $("monitor-messages");
    var frame = { type: kind, nTokens: Number($("monitor-ntokens").value) || 32,
                  temperature: Number($("monitor-temperature").value) };
    if (kind === "send") {
      frame.content = content;
      ol.appendChild(messageItem("user", content));
    } else {
      var last = ol.lastElementChild;
      if (last && last.classList.contains("msg-assistant")) ol.removeChild(last);
    }
    var answer = messageItem("assistant", "");
    ol.appendChild(answer);
    busy(true);
    status("Generating…");
    ensureConversation().then(function () { return request(frame, function (f) {
      if (f.type === "token") answer.querySelector(".content").textContent = f.text;
      else if (f.type === "done") { renderMessages(f.conversation.messages); status("Reading the active concepts…"); }
      else if (f.type === "concepts") { busy(false); status(""); setConcepts(f); }
      else if (f.type === "error" || f.type === "cancelled") {
        busy(false); status(f.error || "Cancelled."); loadConversation();
      }
    }); }).catch(function (e) { busy(false); status(e.message); if (!convId) { ol.removeChild(answer); if (frame.content) ol.removeChild(ol.lastElementChild); } });
  }
  function loadConversation() {
    if (!convId) return;
    fetch("/api/monitor/conversation/" + convId, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (c) { if (c.messages) renderMessages(c.messages); });
  }
  function requestConcepts() {
    status("Reading the active concepts…");
    request({ type: "concepts" }, function (f) {
      if (f.type === "concepts") { status(""); setConcepts(f); }
      else if (f.type === "error") status(f.error);
    }).catch(function (e) { status(e.message); });
  }

  /* --- tokens and table ---------------------------------------------------------------------- */
  function setConcepts(data) {
    var clean = {};
    Object.keys(data).forEach(function (k) { if (k !== "type" && k !== "requestId") clean[k] = data[k]; });
    state.concepts = clean;
    state.range = null; state.hover = null; state.attribution = null;
    renderTokens();
    renderTable();
    announceSelection();
    document.dispatchEvent(new CustomEvent("monitor:concepts", { detail: clean }));
  }
  function selectedPositions() {
    if (state.range) {
      var out = [];
      for (var p = Math.min(state.range[0], state.range[1]); p <= Math.max(state.range[0], state.range[1]); p++) out.push(p);
      return out;
    }
    if (state.hover !== null) return [state.hover];
    return null;
  }
  function renderTokens() {
    var strip = $("monitor-tokens");
    strip.textContent = "";
    if (!state.concepts) return;
    var sel = selectedPositions() || [];
    state.concepts.tokens.forEach(function (t) {
      var cls = "tok role-" + (t.role || "none") + (t.special ? " special" : "");
      if (sel.indexOf(t.position) >= 0) cls += " selected";
      if (state.highlight.tokens.indexOf(t.position) >= 0) cls += " highlight";
      if (state.attribution && state.attribution.position === t.position) cls += " clicked";
      var span = el("span", visible(t.text), cls);
      span.dataset.position = t.position;
      span.title = "#" + t.position + " " + t.token + (t.role ? " (" + t.role + ")" : "");
      strip.appendChild(span);
    });
  }
  function keyword() { return $("monitor-filter").value.trim().toLowerCase(); }
  function filtered(rows) {
    var kw = keyword();
    if (!kw) return rows;
    return rows.filter(function (r) {
      return (r.explanation || "").toLowerCase().indexOf(kw) >= 0 || (r.source + "/" + r.index).indexOf(kw) >= 0;
    });
  }
  function isHighlighted(r) {
    return state.highlight.features.some(function (f) { return f.source === r.source && Number(f.index) === r.index; });
  }
  function row(r, valueKey, normKey) {
    var tr = el("tr");
    tr.dataset.source = r.source; tr.dataset.index = r.index; tr.dataset.position = r.position;
    if (isHighlighted(r)) tr.className = "highlight";
    var a = el("a", r.source + "/" + r.index);
    a.href = r.url;
    var td = el("td"); td.appendChild(a); tr.appendChild(td);
    tr.appendChild(el("td", r.layer));
    tr.appendChild(el("td", visible(r.token) + " #" + r.position));
    tr.appendChild(el("td", fmt(r[valueKey])));
    tr.appendChild(el("td", fmt(r[normKey])));
    tr.appendChild(el("td", r.explanation || ""));
    tr.appendChild(el("td", r.explanationScore === null || r.explanationScore === undefined ? "" : Math.round(r.explanationScore * 100)));
    return tr;
  }
  function renderTable() {
    var body = document.querySelector("#monitor-concepts tbody");
    body.textContent = "";
    var note = $("monitor-table-note");
    if (state.attribution) {
      $("monitor-table-title").textContent = "Attribution for token #" + state.attribution.position;
      $("monitor-col-value").textContent = "Attribution";
      $("monitor-col-norm").textContent = "Activation";
      $("monitor-table-back").hidden = false;
      var arows = filtered(state.attribution.attributions);
      arows.forEach(function (r) { body.appendChild(row(r, "attribution", "activation")); });
      note.textContent = arows.length + " latents by |activation × gradient| of log p(" +
        visible(state.attribution.token) + "), p = " + Math.exp(state.attribution.logprob).toFixed(3);
      return;
    }
    $("monitor-table-title").textContent = "Active concepts";
    $("monitor-col-value").textContent = "Activation";
    $("monitor-col-norm").textContent = "Normalised";
    $("monitor-table-back").hidden = true;
    if (!state.concepts) { note.textContent = convId ? "" : "Send a message: its tokens and the features active on them appear here."; return; }
    var sel = selectedPositions();
    var best = {}, order = [];
    state.concepts.concepts.forEach(function (r) {
      if (sel && sel.indexOf(r.position) < 0) return;
      var key = r.source + "/" + r.index;
      if (!best[key]) { best[key] = r; order.push(key); }  // rows come sorted: the first is the max
    });
    var rows = filtered(order.map(function (k) { return best[k]; }));
    rows.slice(0, MAX_ROWS).forEach(function (r) { body.appendChild(row(r, "activation", "normalised")); });
    note.textContent = rows.length + " features" + (sel ? " on token" + (sel.length > 1 ? "s #" + sel[0] + "–#" + sel[sel.length - 1] : " #" + sel[0]) : " in the conversation") +
      (rows.length > MAX_ROWS ? " (first " + MAX_ROWS + " shown)" : "") + (state.concepts.truncated ? "; list truncated" : "");
  }
  function attribution(position) {
    status("Attributing token #" + position + "…");
    request({ type: "attribution", position: position, topK: 30 }, function (f) {
      if (f.type === "attribution") { status(""); state.attribution = f; renderTokens(); renderTable(); }
      else if (f.type === "error") status(f.error);
    }).catch(function (e) { status(e.message); });
  }
  function tokenAt(target) {
    var t = target && target.closest ? target.closest(".tok") : null;
    return t ? Number(t.dataset.position) : null;
  }

  var strip = $("monitor-tokens");
  strip.addEventListener("mouseover", function (ev) {
    var p = tokenAt(ev.target);
    if (p === null) return;
    if (state.dragging) { state.range = [state.anchor, p]; }
    else if (state.range) return;
    else state.hover = p;
    if (!state.attribution) { renderTable(); }
    markSelection();
  });
  strip.addEventListener("mouseleave", function () {
    if (state.hover !== null && !state.range) { state.hover = null; if (!state.attribution) renderTable(); markSelection(); }
  });
  strip.addEventListener("mousedown", function (ev) {
    var p = tokenAt(ev.target);
    if (p === null) return;
    state.dragging = true; state.anchor = p; state.moved = false;
  });
  document.addEventListener("mouseup", function (ev) {
    if (!state.dragging) return;
    state.dragging = false;
    var p = tokenAt(ev.target);
    if (p !== null && p === state.anchor && (!state.range || state.range[0] === state.range[1])) {
      state.range = null;
      var tok = state.concepts && state.concepts.tokens[p];
      if (tok && tok.role === "assistant" && !tok.special && p > 0) { attribution(p); return; }
      state.hover = p;
    }
    if (!state.attribution) renderTable();
    markSelection();
    announceSelection();
  });
  function announceSelection() {
    var tokens = state.range ? selectedPositions() : [];
    root.dataset.selection = JSON.stringify(tokens);
    document.dispatchEvent(new CustomEvent("monitor:selection", { detail: { tokens: tokens, positions: tokens } }));
  }
  function markSelection() {
    var sel = selectedPositions() || [];
    Array.prototype.forEach.call(strip.children, function (s) {
      s.classList.toggle("selected", sel.indexOf(Number(s.dataset.position)) >= 0);
    });
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { state.range = null; state.hover = null; renderTable(); markSelection(); announceSelection(); }
  });
  $("monitor-table-back").addEventListener("click", function () {
    state.attribution = null; renderTokens(); renderTable();
  });
  $("monitor-filter").addEventListener("input", renderTable);
  document.addEventListener("monitor:highlight", function (ev) {
    var d = ev.detail || {};
    state.highlight = { tokens: d.tokens || [], features: d.features || [] };
    renderTokens(); renderTable();
  });

  $("monitor-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = $("monitor-input").value;
    if (!text.trim()) { status("Type a message first."); return; }
    $("monitor-input").value = "";
    generate("send", text);
  });
  $("monitor-regenerate").addEventListener("click", function () {
    if (!convId) { status("There is no answer to regenerate yet."); return; }
    generate("regenerate");
  });
  $("monitor-clear").addEventListener("click", function () {
    if (!convId) { status("Nothing to clear yet."); return; }
    api("/clear").then(function (c) {
      renderMessages(c.messages);
      setConcepts({ conversationId: convId, modelId: root.dataset.modelId, sources: c.sources, tokens: [], concepts: [], truncated: false });
    }).catch(function (e) { status(e.message); });
  });
  var apply = $("monitor-sources-apply");
  if (apply) apply.addEventListener("click", function () {
    var names = checkedSources();
    if (!convId) { status("These sources will be watched from your first message."); return; }
    api("/sources", { sources: names }).then(function () { requestConcepts(); }).catch(function (e) { status(e.message); });
  });

  $("monitor-conversations").addEventListener("change", function (ev) {
    if (!ev.target.value) return;
    location.href = location.pathname + "?c=" + encodeURIComponent(ev.target.value);
  });
  $("monitor-new").addEventListener("click", function () {
    if (!convId) { $("monitor-input").focus(); return; }  // the page already is a new conversation
    location.href = location.pathname + "?new=1";  // created with its first message
  });

  if ($("monitor-messages").children.length) { loadConversation(); requestConcepts(); } else renderTable();
})();
