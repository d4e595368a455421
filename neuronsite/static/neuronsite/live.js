/* Neuronsite live parts over the inference websockets and API (protocols documented at the top
 * of inference/consumers.py): "test your own text" on dashboards and lists, steering with
 * DEFAULT and STEERED streaming side by side, search via inference. Every string from the
 * server or the user goes into the page with textContent, never as HTML. */
(function () {
  "use strict";
  var NS = window.Neuronsite || {};
  var el = NS.el || function (tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  function wsUrl(path) { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path; }
  function csrf() { var m = document.querySelector('meta[name="csrf-token"]'); return m ? m.content : ""; }
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  /* --- token display: GPT-2 byte-level BPE markers to text (same table as features/tokens.py) --- */
  var byteDecoder = (function () {
    var bs = [], i;
    for (i = 33; i <= 126; i++) bs.push(i);
    for (i = 161; i <= 172; i++) bs.push(i);
    for (i = 174; i <= 255; i++) bs.push(i);
    var cs = bs.slice(), n = 0;
    for (i = 0; i < 256; i++) if (bs.indexOf(i) < 0) { bs.push(i); cs.push(256 + n); n++; }
    var d = {};
    for (i = 0; i < bs.length; i++) d[String.fromCharCode(cs[i])] = bs[i];
    return d;
  })();
  function tokenDisplay(raw) {
    if (raw === null || raw === undefined) return "";
    raw = String(raw);
    var all = raw.length > 0, high = false, i;
    for (i = 0; i < raw.length; i++) {
      if (!(raw[i] in byteDecoder)) { all = false; break; }
      if (raw.charCodeAt(i) > 127) high = true;
    }
    var text;
    if (all && high) {
      var bytes = new Uint8Array(raw.length);
      for (i = 0; i < raw.length; i++) bytes[i] = byteDecoder[raw[i]];
      text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    } else {
      text = raw.split("\u2581").join(" ");
    }
    return text.replace(/\r\n|\n|\r/g, "\u21b5");
  }
  NS.tokenDisplay = tokenDisplay;
  // a token for headers and chips: whitespace-only tokens made visible (· space, → tab)
  function visibleToken(raw) {
    var text = tokenDisplay(raw);
    return text.trim() ? text : (text.replace(/ /g, "\u00b7").replace(/\t/g, "\u2192") || "\u2205");
  }

  function renderTokens(target, tokens, values, scale) {
    target.textContent = "";
    if (!scale) scale = Math.max.apply(null, values.map(Math.abs).concat([0]));
    for (var i = 0; i < tokens.length; i++) {
      var v = values[i] || 0, text = tokenDisplay(tokens[i]);
      var span = el("span", text, "t" + (text.indexOf("\u21b5") >= 0 ? " nl" : ""));
      span.setAttribute("data-value", v.toFixed(3));
      if (v) {
        span.className += v > 0 ? " a" : " n";
        span.style.setProperty("--a", Math.min(1, Math.abs(v) / (scale || 1)).toFixed(2));
        span.title = v.toFixed(3);
      }
      target.appendChild(span);
    }
  }
  NS.renderTokens = renderTokens;

  /* --- a websocket with request ids, queued to respect the per-connection in-flight cap --- */
  function Socket(path) {
    this.path = path; this.ws = null; this.pending = {}; this.queue = []; this.inFlight = 0; this.max = 2; this.seq = 0;
  }
  Socket.prototype.open = function () {
    var self = this;
    if (this.ws && this.ws.readyState <= 1) return this.ready;
    this.ws = new WebSocket(wsUrl(this.path));
    this.ready = new Promise(function (resolve, reject) {
      self.ws.onopen = resolve;
      self.ws.onerror = function () { reject(new Error("websocket error")); };
    });
    this.ws.onmessage = function (ev) {
      var msg; try { msg = JSON.parse(ev.data); } catch (e) { return; }
      var h = self.pending[msg.requestId];
      if (!h) { if (msg.type === "error" && msg.requestId === null) console.warn(msg.error); return; }
      var final = h.onFrame(msg);
      if (final || msg.type === "error" || msg.type === "done" || msg.type === "activation" || msg.type === "cancelled") {
        delete self.pending[msg.requestId]; self.inFlight--; self.pump();
      }
    };
    this.ws.onclose = function () {
      Object.keys(self.pending).forEach(function (k) { self.pending[k].onFrame({ type: "error", error: "connection closed" }); });
      self.pending = {}; self.inFlight = 0;
    };
    return this.ready;
  };
  Socket.prototype.send = function (body, onFrame) {
    var id = "r" + (++this.seq);
    body.requestId = id;
    this.queue.push({ body: body, onFrame: onFrame });
    this.pump();
    return id;
  };
  Socket.prototype.pump = function () {
    var self = this;
    this.open().then(function () {
      while (self.inFlight < self.max && self.queue.length) {
        var job = self.queue.shift();
        self.pending[job.body.requestId] = job;
        self.inFlight++;
        self.ws.send(JSON.stringify(job.body));
      }
    }, function () {
      while (self.queue.length) self.queue.shift().onFrame({ type: "error", error: "could not connect" });
    });
  };
  Socket.prototype.cancel = function (id) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify({ type: "cancel", requestId: id }));
  };
  NS.Socket = Socket;
  var activationSocket = null;
  function activations() { return activationSocket || (activationSocket = new Socket("/ws/activation/")); }

  /* --- token limit (issue 10): each text box shows min(INFERENCE_TOKEN_LIMIT, the model's context)
   * and over-long text is refused here, before any inference request. A text of at most
   * limit - 2 UTF-8 bytes cannot be too long (every token covers at least one byte; BOS and a
   * SentencePiece prefix add at most two); a longer one is counted by POST /api/tokenize, whose
   * answer also carries the exact limit (the pages only know it for local model folders). --- */
  var knownLimits = {};
  function showLimit(node, limit) { if (node && limit) node.textContent = "Up to " + limit + " tokens."; }
  function optionLimit(select) {
    var o = select && select.selectedOptions && select.selectedOptions[0];
    return o ? parseInt(o.dataset.tokenLimit, 10) || 0 : 0;
  }
  function checkTokenLimit(modelId, text, limit, hint) {
    limit = knownLimits[modelId] || limit;
    if (!limit || new TextEncoder().encode(text).length + 2 <= limit) return Promise.resolve(null);
    return fetch("/api/tokenize", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ modelId: modelId, text: text }),
    }).then(function (r) {
      return r.json().then(function (body) {
        if (body.tokenLimit) { knownLimits[modelId] = body.tokenLimit; showLimit(hint, body.tokenLimit); }
        if (!r.ok) return body.error || "Could not count the tokens of this text.";
        if ((body.tokens || []).length > body.tokenLimit) {
          return "Text is " + body.tokens.length + " tokens long; the limit is " + body.tokenLimit + " tokens.";
        }
        return null;
      });
    }, function () { return "Could not count the tokens of this text."; });
  }

  /* --- dashboard: test your own text --- */
  function initTestText() {
    var box = $("#test-text"), form = $("#test-form");
    if (!box || !form) return;
    var status = $("#test-status"), out = $("#test-output"), scale = parseFloat(box.dataset.scale) || 0;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = $("#test-input").value;
      if (!text.trim()) { status.textContent = "Type some text first."; return; }
      status.textContent = "Running…";
      checkTokenLimit(box.dataset.model, text, parseInt(box.dataset.tokenLimit, 10) || 0, $("#test-limit")).then(function (problem) {
        if (problem) { status.textContent = "Error: " + problem; return; }
        activations().send(
          { feature: { modelId: box.dataset.model, source: box.dataset.source, index: parseInt(box.dataset.index, 10) }, customText: text },
          function (msg) {
            if (msg.type === "error") { status.textContent = "Error: " + msg.error; return true; }
            if (msg.type !== "activation") return false;
            var r = msg.result;
            renderTokens(out, r.tokens, r.values, scale || r.maxValue);
            status.textContent = "Max " + Number(r.maxValue).toFixed(3) + " at token " + r.maxValueTokenIndex + ".";
            return true;
          });
      });
    });
  }

  /* --- list page: the test text across every feature of the list --- */
  function initListTest() {
    var section = $("#list-test"), form = $("#list-test-form");
    if (!section || !form) return;
    var status = $("#list-test-status");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = $("#list-test-input").value, rows = $all("tr[data-feature]", section), done = 0;
      if (!text.trim()) { status.textContent = "Type some text first."; return; }
      status.textContent = "Running on " + rows.length + " features…";
      rows.forEach(function (row) {
        var parts = row.dataset.feature.split("/"), cell = $(".test-cell", row);
        cell.textContent = "…";
        activations().send(
          { feature: { modelId: parts[0], source: parts[1], index: parseInt(parts[2], 10) }, customText: text },
          function (msg) {
            if (msg.type === "error") { cell.textContent = msg.error; }
            else if (msg.type === "activation") { renderTokens(cell, msg.result.tokens, msg.result.values, msg.result.maxValue); }
            else return false;
            done++;
            status.textContent = done + " / " + rows.length + " done.";
            return true;
          });
      });
    });
  }

  /* --- steering --- */
  function initSteer() {
    var page = $("#steer-page");
    if (!page) return;
    var featureRows = $("#steer-features"), form = $("#steer-form"), status = $("#steer-status");
    var outDefault = $("#out-default"), outSteered = $("#out-steered"), share = $("#steer-share");
    var socket = new Socket("/ws/steer/"), current = null;

    var STRENGTH_RANGE = 300, FALLBACK_STRENGTH = 8;
    // A feature's default strength from its activation scale: twice the largest activation its
    // dashboard saw (a push past its strongest natural occurrence), FALLBACK_STRENGTH if unknown.
    function defaultStrength(maxAct) {
      if (!(maxAct > 0)) return FALLBACK_STRENGTH;
      return Math.max(0.5, Math.min(STRENGTH_RANGE, Math.round(maxAct * 20) / 10));
    }
    function addFeature(layer, index, strength, label) {
      var row = el("div", null, "row steer-feature");
      row.dataset.layer = layer; row.dataset.index = index;
      var id = "strength-" + layer + "-" + index;
      var name = el("label", layer + " / " + index + (label ? " — " + label : ""));
      name.setAttribute("for", id);
      var derive = strength === null || strength === undefined;
      var start = derive ? FALLBACK_STRENGTH : strength;
      var slider = el("input"); slider.type = "range"; slider.min = String(-STRENGTH_RANGE); slider.max = String(STRENGTH_RANGE); slider.step = "0.5";
      slider.value = String(start); slider.id = id; slider.className = "strength";
      var num = el("input"); num.type = "number"; num.min = slider.min; num.max = slider.max; num.step = "any";
      num.value = String(start); num.className = "strength-num"; num.style.width = "5.5rem";
      num.setAttribute("aria-label", "Strength of " + layer + " / " + index);
      slider.addEventListener("input", function () { num.value = slider.value; });
      num.addEventListener("input", function () {
        var v = parseFloat(num.value);
        if (!isNaN(v)) slider.value = String(Math.max(-STRENGTH_RANGE, Math.min(STRENGTH_RANGE, v)));
      });
      var remove = el("button", "Remove", "small secondary"); remove.type = "button";
      remove.setAttribute("aria-label", "Remove feature " + layer + " / " + index);
      remove.addEventListener("click", function () { row.remove(); });
      row.appendChild(name); row.appendChild(slider); row.appendChild(num); row.appendChild(remove);
      featureRows.appendChild(row);
      if (derive) {
        row.dataset.pending = "true";
        fetch("/api/feature/" + encodeURIComponent($("#steer-model").value) + "/" + encodeURIComponent(layer) + "/" + index, { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : {}; }, function () { return {}; })
          .then(function (f) {
            var v = defaultStrength(f && f.maxActApprox);
            slider.value = String(v); num.value = String(v);
            row.dataset.maxAct = f && f.maxActApprox ? String(f.maxActApprox) : "";
            delete row.dataset.pending;
          });
      }
    }
    NS.steerAddFeature = addFeature;

    $("#steer-add").addEventListener("click", function () {
      var raw = $("#steer-add-feature").value.trim(), m = raw.match(/^([^:/\s]+)\s*[:/]\s*(\d+)$/);
      if (!m) { status.textContent = "Write a feature as source:index, e.g. 6-res-jb:1234."; return; }
      addFeature(m[1], parseInt(m[2], 10), null);
      $("#steer-add-feature").value = "";
    });
    // upload a steering vector (/api/vector/new), then steer with it
    var vecBtn = $("#vec-upload");
    if (vecBtn) {
      $("#vec-file").addEventListener("change", function () {
        var f = this.files && this.files[0];
        if (f) f.text().then(function (t) { $("#vec-values").value = t.trim(); });
      });
      vecBtn.addEventListener("click", function () {
        var st = $("#vec-status"), raw = $("#vec-values").value.trim(), values;
        try {
          values = raw.charAt(0) === "[" || raw.charAt(0) === "{" ? JSON.parse(raw) : raw.split(/[\s,]+/).filter(Boolean).map(Number);
          if (values && !Array.isArray(values)) values = values.vector || values.values;
        } catch (e) { st.textContent = "The vector is not valid JSON: " + e.message; return; }
        if (!Array.isArray(values) || !values.length || values.some(function (v) { return typeof v !== "number" || isNaN(v); })) {
          st.textContent = "Write the vector as numbers, e.g. [0.1, -0.2, …]."; return;
        }
        var strength = $("#vec-strength").value.trim() === "" ? null : parseFloat($("#vec-strength").value);
        st.textContent = "Uploading…";
        fetch("/api/vector/new", {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
          body: JSON.stringify({ modelId: $("#steer-model").value, layerNumber: parseInt($("#vec-layer").value, 10), hookType: $("#vec-hook").value,
            vector: values, vectorLabel: $("#vec-label").value.trim(), vectorDefaultSteerStrength: strength }),
        }).then(function (r) { return r.json(); }).then(function (body) {
          if (body.error) { st.textContent = "Error: " + body.error; return; }
          var v = body.vector;
          addFeature(v.source, parseInt(v.index, 10), v.defaultSteerStrength === null || v.defaultSteerStrength === undefined ? null : v.defaultSteerStrength, v.label);
          st.textContent = "Vector " + v.source + " / " + v.index + " added.";
        }, function () { st.textContent = "Error: request failed."; });
      });
    }
    $("#steer-search-btn").addEventListener("click", function () {
      var q = $("#steer-search").value.trim(), list = $("#steer-search-results");
      list.textContent = "";
      if (q.length < 3) { list.appendChild(el("li", "Type at least 3 characters.", "muted")); return; }
      fetch("/api/explanation/search-model", {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ modelId: $("#steer-model").value, query: q }), credentials: "same-origin",
      }).then(function (r) { return r.json(); }).then(function (body) {
        if (body.error) { list.appendChild(el("li", body.error, "error")); return; }
        if (!body.results.length) list.appendChild(el("li", "No matches.", "muted"));
        body.results.forEach(function (res) {
          var li = el("li"), b = el("button", "Add", "small"); b.type = "button";
          b.setAttribute("aria-label", "Add " + res.layer + " / " + res.index + " to steering");
          b.addEventListener("click", function () { addFeature(res.layer, parseInt(res.index, 10), null, res.description); });
          li.appendChild(b); li.appendChild(el("span", " " + res.layer + " / " + res.index + " — " + res.description));
          list.appendChild(li);
        });
      });
    });
    function showMode() {
      var chat = $("#steer-mode-chat").checked;
      $("#steer-prompt-label").textContent = chat ? "Your message" : "Prompt";
    }
    $all("input[name=mode]").forEach(function (r) { r.addEventListener("change", showMode); });
    // Per model: chat only with an instruct model (a chat template); tokens within its context.
    function syncModel() {
      var opt = $("#steer-model").selectedOptions[0];
      if (!opt) return;
      var instruct = opt.dataset.instruct === "true", chat = $("#steer-mode-chat");
      chat.disabled = !instruct; $("#steer-chat-note").hidden = instruct;
      if (!instruct && chat.checked) { $("#steer-mode-completion").checked = true; showMode(); }
      var cap = parseInt(opt.dataset.maxTokens, 10), tokens = $("#steer-tokens");
      if (cap > 0) { tokens.max = String(cap); if (parseInt(tokens.value, 10) > cap) tokens.value = String(cap); }
    }
    $("#steer-model").addEventListener("change", syncModel);
    syncModel();
    // the prompt set apart from the continuation
    function showText(target, text) {
      var prompt = $("#steer-mode-chat").checked ? "" : $("#steer-prompt").value;
      target.textContent = "";
      if (prompt && text.indexOf(prompt) === 0) {
        target.appendChild(el("span", prompt, "prompt"));
        target.appendChild(document.createTextNode(text.slice(prompt.length)));
      } else target.textContent = text;
    }

    function body() {
      var features = $all(".steer-feature", featureRows).map(function (row) {
        var v = parseFloat($(".strength-num", row).value);
        if (isNaN(v)) v = parseFloat($(".strength", row).value);
        return { modelId: $("#steer-model").value, layer: row.dataset.layer, index: parseInt(row.dataset.index, 10), strength: Math.max(-STRENGTH_RANGE, Math.min(STRENGTH_RANGE, v)) };
      });
      var b = {
        modelId: $("#steer-model").value, features: features,
        temperature: parseFloat($("#steer-temperature").value), n_tokens: parseInt($("#steer-tokens").value, 10),
        seed: parseInt($("#steer-seed").value, 10), strength_multiplier: parseFloat($("#steer-multiplier").value),
        freq_penalty: parseFloat($("#steer-freq").value), steer_method: $("#steer-method").value,
        steer_special_tokens: $("#steer-special").checked,
      };
      var text = $("#steer-prompt").value;
      if ($("#steer-mode-chat").checked) {
        b.type = "steer-chat";
        b.defaultChatMessages = [{ role: "user", content: text }];
        b.steeredChatMessages = [{ role: "user", content: text }];
      } else { b.type = "steer"; b.prompt = text; }
      return b;
    }
    function showDone(msg) {
      var d = msg.DEFAULT, s = msg.STEERED;
      showText(outDefault, typeof d === "string" ? d : (d && d.raw) || "");
      showText(outSteered, typeof s === "string" ? s : (s && s.raw) || "");
      // the stored per-token log-probs (a cached result, a share link): the same chips as live
      if (msg.logprobs) {
        ["DEFAULT", "STEERED"].forEach(function (kind) {
          var steps = msg.logprobs[kind], parts = lpParts(kind);
          if (!steps || !steps.length) return;
          parts.chips.textContent = ""; parts.detail.textContent = "";
          steps.forEach(function (st) { lpAdd({ kind: kind, token: st.token, logprob: st.logprob, topLogprobs: st.topLogprobs }); });
        });
      }
      if (msg.id) {
        var url = location.origin + location.pathname + "?id=" + encodeURIComponent(msg.id);
        share.value = url; share.hidden = false; $("#steer-share-label").hidden = false;
        history.replaceState(null, "", "?id=" + encodeURIComponent(msg.id));
      }
    }
    // Per-token top-5 log-probs (token events' topLogprobs): a chip per generated token; hovering,
    // focusing or tapping one shows its step's five likeliest tokens in a small table.
    function lpParts(kind) {
      var k = kind === "DEFAULT" ? "default" : "steered";
      return { view: $("#lp-" + k + "-view"), chips: $("#lp-" + k), detail: $("#lp-" + k + "-detail") };
    }
    function lpReset() {
      ["DEFAULT", "STEERED"].forEach(function (kind) {
        var p = lpParts(kind); p.chips.textContent = ""; p.detail.textContent = ""; p.view.hidden = true;
      });
    }
    function lpShow(parts, chip, n, msg) {
      $all(".lp-tok.cur", parts.chips).forEach(function (c) { c.classList.remove("cur"); });
      chip.classList.add("cur");
      parts.detail.textContent = "";
      var table = el("table", null, "compact lp-table");
      var own = typeof msg.logprob === "number" ? " (log-prob " + msg.logprob.toFixed(4) + ")" : "";
      table.appendChild(el("caption", "Token " + (n + 1) + ": " + visibleToken(msg.token) + own));
      var head = el("tr"); ["Candidate", "Log-prob", "Prob"].forEach(function (h) { head.appendChild(el("th", h)); });
      table.appendChild(head);
      msg.topLogprobs.forEach(function (c) {
        var row = el("tr", null, c.token === msg.token ? "chosen" : null);
        row.appendChild(el("td", visibleToken(c.token)));
        row.appendChild(el("td", Number(c.logprob).toFixed(4)));
        row.appendChild(el("td", (100 * Math.exp(c.logprob)).toFixed(1) + "%"));
        table.appendChild(row);
      });
      parts.detail.appendChild(table);
    }
    function lpAdd(msg) {
      if (!msg.topLogprobs || !msg.topLogprobs.length) return;
      var parts = lpParts(msg.kind), n = parts.chips.children.length;
      var chip = el("button", visibleToken(msg.token), "lp-tok");
      chip.type = "button";
      chip.setAttribute("aria-label", "Token " + (n + 1) + " " + visibleToken(msg.token) + ": show top-5 log-probs");
      var show = function () { lpShow(parts, chip, n, msg); };
      chip.addEventListener("mouseenter", show);
      chip.addEventListener("focus", show);
      chip.addEventListener("click", show);
      parts.chips.appendChild(chip);
      parts.view.hidden = false;
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var b = body();
      if (!b.features.length) { status.textContent = "Add at least one feature to steer with."; return; }
      // completion prompts are checked here; a chat adds its template's tokens (the server checks it)
      var prompt = b.type === "steer-chat" ? "" : (b.prompt || "");
      checkTokenLimit(b.modelId, prompt, optionLimit($("#steer-model")), $("#steer-limit")).then(function (problem) {
        if (problem) { status.textContent = "Error: " + problem; return; }
        generate(b);
      });
    });
    function generate(b) {
      if (current) socket.cancel(current);
      outDefault.textContent = ""; outSteered.textContent = "";
      lpReset();
      status.textContent = "Generating…";
      current = socket.send(b, function (msg) {
        if (msg.type === "token") {
          showText(msg.kind === "DEFAULT" ? outDefault : outSteered, msg.text);
          lpAdd(msg);
          return false;
        }
        if (msg.type === "done") { showDone(msg); status.textContent = msg.cached ? "Done (from cache)." : "Done."; current = null; return true; }
        if (msg.type === "error") { status.textContent = "Error: " + msg.error; current = null; return true; }
        if (msg.type === "cancelled") { status.textContent = "Cancelled."; return true; }
        return false;
      });
    }
    showLimit($("#steer-limit"), optionLimit($("#steer-model")));
    $("#steer-model").addEventListener("change", function () {
      showLimit($("#steer-limit"), knownLimits[$("#steer-model").value] || optionLimit($("#steer-model")));
    });
    $("#steer-stop").addEventListener("click", function () { if (current) socket.cancel(current); });

    // Initial state from the URL: ?model=&feature=source:index (dashboard shortcut) or ?id= (share link).
    var params = new URLSearchParams(location.search);
    if (params.get("model")) { $("#steer-model").value = params.get("model"); syncModel(); }
    params.getAll("feature").forEach(function (f) {
      var m = f.match(/^([^:/\s]+)[:/](\d+)$/); if (m) addFeature(m[1], parseInt(m[2], 10), null);
    });
    if (params.get("id")) {
      status.textContent = "Loading shared result…";
      fetch("/api/steer/" + encodeURIComponent(params.get("id")), { credentials: "same-origin" })
        .then(function (r) { return r.json(); }).then(function (msg) {
          if (msg.error) { status.textContent = "Error: " + msg.error; return; }
          $("#steer-model").value = msg.modelId;
          (msg.features || []).forEach(function (f) { addFeature(f.layer, f.index, f.strength); });
          var st = msg.settings || {};
          [["temperature", "#steer-temperature"], ["n_tokens", "#steer-tokens"], ["seed", "#steer-seed"],
           ["strength_multiplier", "#steer-multiplier"], ["freq_penalty", "#steer-freq"], ["steer_method", "#steer-method"]]
            .forEach(function (p) { if (st[p[0]] !== undefined && st[p[0]] !== null) $(p[1]).value = st[p[0]]; });
          syncModel();
          if (st.steer_special_tokens !== undefined) $("#steer-special").checked = !!st.steer_special_tokens;
          if (msg.prompt) {
            $("#steer-mode-completion").checked = true;
            $("#steer-prompt").value = msg.prompt;
          } else if (msg.chat && msg.chat.length) {
            var users = msg.chat.filter(function (m) { return m.role === "user"; });
            $("#steer-mode-chat").checked = true;
            if (users.length) $("#steer-prompt").value = users[users.length - 1].content;
          }
          showMode();
          showDone(msg);
          status.textContent = "Shared result loaded.";
        });
    }
  }

  /* --- search via inference --- */
  function initSearchInference() {
    var page = $("#search-inference-page");
    if (!page) return;
    var form = $("#si-form"), status = $("#si-status"), results = $("#si-results"), heat = $("#si-heatmap");
    var sortIndexes = [];
    function selectedLayers() { return $all("input[name=layer]:checked").map(function (c) { return c.value; }); }
    function syncLayers() {
      var set = $("#si-set").value;
      $all(".si-layer").forEach(function (lab) {
        var on = lab.dataset.set === set; lab.hidden = !on;
        var box = $("input", lab); if (!on) box.checked = false;
      });
    }
    $("#si-set").addEventListener("change", syncLayers);
    $("#si-model").addEventListener("change", function () {
      var model = $("#si-model").value, first = null;
      $all("#si-set option").forEach(function (o) { o.hidden = o.dataset.model !== model; if (!o.hidden && !first) first = o; });
      if (first) $("#si-set").value = first.value;
      syncLayers();
    });

    var last = null;
    // the value a feature is ranked by: its sum over the sorted tokens (else its max)
    function sortedValue(r, body) {
      if (r.sumValues !== null && r.sumValues !== undefined) return r.sumValues;
      return (body.sortIndexes || []).reduce(function (acc, i) { return acc + ((r.values || [])[i] || 0); }, 0);
    }
    // sources x tokens: active-latent counts (server), or the top features' activations summed,
    // raw or divided by each feature's max activation (informative for TopK SAEs too)
    function heatGrid(body) {
      var mode = $("#si-heat-mode").value, sources = body.selectedSources || [], n = (body.tokens || []).length;
      if (mode === "count") return body.counts || [];
      var grid = sources.map(function () { var row = []; for (var i = 0; i < n; i++) row.push(0); return row; });
      (body.result || []).forEach(function (r) {
        var s = sources.indexOf(r.source || r.layer); if (s < 0) return;
        var scale = mode === "norm" ? ((r.neuron && r.neuron.maxActApprox) || r.maxValue || 1) : 1;
        (r.values || []).forEach(function (v, i) { if (v > 0 && i < n) grid[s][i] += v / scale; });
      });
      return grid;
    }
    function download(name, type, text) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([text], { type: type })); a.download = name;
      document.body.appendChild(a); a.click(); a.remove();
      return text;
    }
    function csvCell(v) { v = v === null || v === undefined ? "" : String(v); return /[",\n\r]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
    function toCsv(body) {
      var tokens = body.tokens || [], sorted = (body.sortIndexes || []).length > 0;
      var head = ["model", "source", "index", "explanation", "max_value", sorted ? "value_at_sorted_tokens" : null]
        .filter(function (h) { return h !== null; })
        .concat(tokens.map(function (t, i) { return "t" + i + ":" + tokenDisplay(t); }));
      var lines = [head.map(csvCell).join(",")];
      (body.result || []).forEach(function (r) {
        var n = r.neuron || {}, expl = (n.explanations && n.explanations[0] && n.explanations[0].description) || "";
        var row = [body.modelId, r.layer, r.index, expl, r.maxValue].concat(sorted ? [sortedValue(r, body)] : []).concat(r.values || []);
        lines.push(row.map(csvCell).join(","));
      });
      return lines.join("\r\n") + "\r\n";
    }
    $("#si-csv").addEventListener("click", function () {
      if (last) $("#si-csv").dataset.exported = download("search-" + (last.id || "result") + ".csv", "text/csv", toCsv(last));
    });
    $("#si-json").addEventListener("click", function () {
      if (last) $("#si-json").dataset.exported = download("search-" + (last.id || "result") + ".json", "application/json", JSON.stringify(last, null, 2));
    });
    $("#si-heat-mode").addEventListener("change", function () { if (last) render(last); });

    function render(body) {
      last = body; $("#si-csv").disabled = false; $("#si-json").disabled = false;
      results.textContent = ""; heat.textContent = "";
      var tokens = body.tokens || [];
      // layers x tokens heatmap of how many features are active (sorting by token: click its header)
      var table = el("table", null, "compact heat"), thead = el("thead"), hr = el("tr");
      hr.appendChild(el("th", "Source", null));
      tokens.forEach(function (t, i) {
        var th = el("th"), b = el("button", visibleToken(t), "small " + (sortIndexes.indexOf(i) >= 0 ? "" : "secondary"));
        b.type = "button"; b.setAttribute("aria-pressed", sortIndexes.indexOf(i) >= 0 ? "true" : "false");
        b.setAttribute("aria-label", "Sort by token " + i + ": " + tokenDisplay(t));
        b.addEventListener("click", function () {
          var k = sortIndexes.indexOf(i); if (k >= 0) sortIndexes.splice(k, 1); else sortIndexes.push(i);
          run();
        });
        th.appendChild(b); hr.appendChild(th);
      });
      thead.appendChild(hr); table.appendChild(thead);
      var tbody = el("tbody"), grid = heatGrid(body), mode = $("#si-heat-mode").value, maxCell = 0;
      grid.forEach(function (row) { row.forEach(function (c) { if (c > maxCell) maxCell = c; }); });
      (body.selectedSources || []).forEach(function (src, s) {
        var tr = el("tr"); tr.appendChild(el("th", src));
        (grid[s] || []).forEach(function (c) {
          var td = el("td", mode === "count" ? c : (c ? c.toFixed(2) : "0"), "v");
          td.style.background = "rgba(47,111,186," + (maxCell ? c / maxCell : 0).toFixed(2) + ")"; tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
      table.appendChild(tbody); heat.appendChild(table);

      var rt = el("table", null, "compact"), rh = el("thead"), r0 = el("tr");
      var sorted = (body.sortIndexes || []).length > 0;
      ["Feature", "Explanation", sorted ? "At sorted tokens" : "Max", "Activations per token"].forEach(function (h) { var th = el("th", h); th.scope = "col"; r0.appendChild(th); });
      rh.appendChild(r0); rt.appendChild(rh);
      var rb = el("tbody");
      (body.result || []).forEach(function (r) {
        var tr = el("tr"), a = el("a", r.layer + " / " + r.index);
        a.href = "/" + encodeURIComponent(body.modelId) + "/" + encodeURIComponent(r.layer) + "/" + r.index;
        var td = el("td"); td.appendChild(a); tr.appendChild(td);
        var n = r.neuron || {}, expl = (n.explanations && n.explanations[0] && n.explanations[0].description) || n.explanation || "";
        tr.appendChild(el("td", expl));
        tr.appendChild(el("td", Number(sorted ? sortedValue(r, body) : r.maxValue).toFixed(3), "si-value"));
        var cell = el("td", null, "acts"), snip = el("div", null, "snip");
        renderTokens(snip, tokens, r.values || [], r.maxValue);
        cell.appendChild(snip); tr.appendChild(cell);
        rb.appendChild(tr);
      });
      rt.appendChild(rb); results.appendChild(rt);
      if (body.id) {
        var url = location.pathname + "?id=" + encodeURIComponent(body.id);
        history.replaceState(null, "", url);
        var link = $("#si-share"); link.href = url; link.textContent = location.origin + url; link.parentNode.hidden = false;
      }
      status.textContent = (body.result || []).length + " features" + (body.cached ? " (saved result)" : "") + ".";
    }
    function densityThreshold() {
      var raw = $("#si-density").value.trim();
      return raw === "" ? null : parseFloat(raw);
    }
    function run() {
      var layers = selectedLayers(), model = $("#si-model").value;
      status.textContent = "Running…";
      checkTokenLimit(model, $("#si-text").value, optionLimit($("#si-model")), $("#si-limit")).then(function (problem) {
        if (problem) { status.textContent = "Error: " + problem; return; }
        search(layers);
      });
    }
    function search(layers) {
      fetch("/api/search-all", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ modelId: $("#si-model").value, sourceSet: $("#si-set").selectedOptions[0].dataset.name,
          text: $("#si-text").value, selectedLayers: layers, sortIndexes: sortIndexes, numResults: parseInt($("#si-num").value, 10) || 20,
          ignoreBos: $("#si-ignore-bos").checked, densityThreshold: densityThreshold() }),
      }).then(function (r) { return r.json(); }).then(function (body) {
        if (body.error) { status.textContent = "Error: " + body.error; return; }
        render(body);
      }, function () { status.textContent = "Error: request failed."; });
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); sortIndexes = []; run(); });

    showLimit($("#si-limit"), optionLimit($("#si-model")));
    $("#si-model").addEventListener("change", function () {
      showLimit($("#si-limit"), knownLimits[$("#si-model").value] || optionLimit($("#si-model")));
    });
    var tk = $("#topk-form");
    showLimit($("#topk-limit"), optionLimit($("#topk-source")));
    $("#topk-source").addEventListener("change", function () { showLimit($("#topk-limit"), optionLimit($("#topk-source"))); });
    tk.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var out = $("#topk-results"), st = $("#topk-status"), src = $("#topk-source").selectedOptions[0];
      st.textContent = "Running…"; out.textContent = "";
      checkTokenLimit(src ? src.dataset.model : "", $("#topk-text").value, optionLimit($("#topk-source")), $("#topk-limit")).then(function (problem) {
        if (problem) { st.textContent = "Error: " + problem; return; }
        topk(out, st);
      });
    });
    function topk(out, st) {
      fetch("/api/search-topk-by-token", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ modelId: $("#topk-source").selectedOptions[0].dataset.model, source: $("#topk-source").value, text: $("#topk-text").value, numResults: parseInt($("#topk-k").value, 10) || 5 }),
      }).then(function (r) { return r.json(); }).then(function (body) {
        if (body.error) { st.textContent = "Error: " + body.error; return; }
        var t = el("table", null, "compact"), tb = el("tbody");
        body.results.forEach(function (r) {
          var tr = el("tr"); tr.appendChild(el("th", visibleToken(r.token)));
          var td = el("td");
          r.topFeatures.forEach(function (f) {
            var a = el("a", f.featureIndex + " (" + Number(f.activationValue).toFixed(2) + ")", "pill");
            var fx = f.feature && f.feature.explanations && f.feature.explanations[0];
            if (fx && fx.description) {
              var ex = el("span", fx.description.length > 40 ? fx.description.slice(0, 39) + "…" : fx.description, "ex");
              a.appendChild(ex); a.title = fx.description;
            }
            a.href = "/" + encodeURIComponent(body.modelId) + "/" + encodeURIComponent(body.source) + "/" + f.featureIndex;
            td.appendChild(a);
          });
          tr.appendChild(td); tb.appendChild(tr);
        });
        t.appendChild(tb); out.appendChild(t);
        st.textContent = body.results.length + " tokens.";
      });
    }

    var params = new URLSearchParams(location.search);
    if (params.get("model")) { $("#si-model").value = params.get("model"); $("#si-model").dispatchEvent(new Event("change")); }
    else syncLayers();
    if (params.get("id")) {
      status.textContent = "Loading saved search…";
      fetch("/api/search-all/" + encodeURIComponent(params.get("id")), { credentials: "same-origin" })
        .then(function (r) { return r.json(); }).then(function (body) {
          if (body.error) { status.textContent = "Error: " + body.error; return; }
          $("#si-text").value = body.text || "";
          $("#si-model").value = body.modelId; $("#si-model").dispatchEvent(new Event("change"));
          $all("#si-set option").forEach(function (o) { if (o.dataset.model === body.modelId && o.dataset.name === body.sourceSet) $("#si-set").value = o.value; });
          syncLayers();
          $all("input[name=layer]").forEach(function (c) { c.checked = (body.selectedSources || []).indexOf(c.value) >= 0; });
          sortIndexes = body.sortIndexes || [];
          if (body.ignoreBos !== undefined) $("#si-ignore-bos").checked = !!body.ignoreBos;
          $("#si-density").value = body.densityThreshold === null || body.densityThreshold === undefined ? "" : body.densityThreshold;
          render(body);
        });
    }
  }

  /* --- dashboard: the nearest features of another source by decoder cosine (/api/cossim) --- */
  function initCossim() {
    var form = $("#cossim-form");
    if (!form) return;
    // the model's other inference-enabled sources, loaded when the section is first opened
    var loaded = false;
    $("#cossim-match").addEventListener("toggle", function () {
      if (loaded || !this.open) return;
      loaded = true;
      fetch("/api/model/get", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ modelId: form.dataset.model }),
      }).then(function (r) { return r.json(); }).then(function (body) {
        var select = $("#cossim-target");
        (body.sourceSets || []).forEach(function (ss) {
          (ss.sources || []).forEach(function (src) {
            if (!src.inferenceEnabled || src.id === form.dataset.source) return;
            var o = el("option", src.id); o.value = src.id; select.appendChild(o);
          });
        });
      });
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = $("#cossim-status"), out = $("#cossim-results"), target = $("#cossim-target").value;
      status.textContent = "Matching…"; out.textContent = "";
      fetch("/api/cossim", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ modelId: form.dataset.model, source: form.dataset.source, index: parseInt(form.dataset.index, 10), targetSource: target, numResults: 10 }),
      }).then(function (r) { return r.json(); }).then(function (body) {
        if (body.error) { status.textContent = "Error: " + body.error; return; }
        (body.results || []).forEach(function (r) {
          var li = el("li"), a = el("a", r.source + " / " + r.index);
          a.href = "/" + encodeURIComponent(form.dataset.model) + "/" + encodeURIComponent(r.source) + "/" + r.index;
          li.appendChild(a); li.appendChild(el("span", " " + Number(r.cosSim).toFixed(3), "muted"));
          out.appendChild(li);
        });
        status.textContent = (body.results || []).length + " features of " + target + ".";
      }, function () { status.textContent = "Error: request failed."; });
    });
  }

  function init() { initCossim(); initTestText(); initListTest(); initSteer(); initSearchInference(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
