/* Neuronsite UI: htmx settings and small helpers shared by pages. */
(function () {
  "use strict";
  if (window.htmx) {
    // Bad input answers 400/403/404 with a fragment that shows the error: swap it in.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "4..", swap: true, error: false },
      { code: "...", swap: false, error: true },
    ];
    // Content-Security-Policy: no injected <style> (its rules live in site.css) and no eval.
    htmx.config.includeIndicatorStyles = false;
    htmx.config.allowEval = false;
  }
  // Behaviours that used to be inline handlers (the CSP allows no inline script):
  // data-select-on-click selects an input's text; data-confirm asks before a form submits.
  document.addEventListener("click", function (e) {
    var t = e.target && e.target.closest ? e.target.closest("[data-select-on-click]") : null;
    if (t && t.select) t.select();
  });
  document.addEventListener(
    "submit",
    function (e) {
      var f = e.target;
      if (f && f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    },
    true
  );
  window.Neuronsite = window.Neuronsite || {};
  // Websocket URL on this host, ws:// or wss:// to match the page.
  window.Neuronsite.wsUrl = function (path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  };
  // Plain-text element (never innerHTML with server or user strings).
  window.Neuronsite.el = function (tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
})();

/* Researcher pass (issue 16): Ctrl/Cmd+Enter submits the form of a multi-line text box (Enter
 * alone adds a new line, which is kept and shown as ↵ in token displays). */
(function () {
  "use strict";
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.key !== "Enter" || !(ev.ctrlKey || ev.metaKey) || !t || t.tagName !== "TEXTAREA" || !t.form) return;
    ev.preventDefault();
    if (t.form.requestSubmit) t.form.requestSubmit(); else t.form.submit();
  });
})();

/* Researcher pass (issue 16): token values as a real tooltip (mouse, touch and keyboard: Tab to
 * a snippet, then arrow keys walk its tokens), and a copy button on every snippet. Works on
 * server-rendered snippets, htmx "show more" fragments and snippets drawn by live.js alike. */
(function () {
  "use strict";
  var tip = null, cur = null;
  function tipEl() {
    if (!tip) {
      tip = document.createElement("div");
      tip.className = "tip"; tip.id = "token-tip"; tip.setAttribute("role", "tooltip"); tip.hidden = true;
      document.body.appendChild(tip);
    }
    return tip;
  }
  function valueOf(t) {
    if (t.hasAttribute("title")) { t.dataset.v = t.getAttribute("title"); t.removeAttribute("title"); }
    return t.dataset.v || t.dataset.value || "0.000";
  }
  function show(t) {
    var box = tipEl(), text = t.textContent;
    box.textContent = "\u201c" + text + "\u201d   activation " + valueOf(t);
    box.hidden = false;
    var r = t.getBoundingClientRect();
    box.style.left = Math.max(4, r.left + window.scrollX) + "px";
    box.style.top = (r.bottom + window.scrollY + 4) + "px";
    var snip = t.closest(".snip"); if (snip) snip.setAttribute("aria-describedby", "token-tip");
  }
  function hide() { if (tip) tip.hidden = true; }
  function setCur(t) { if (cur) cur.classList.remove("cur"); cur = t; if (t) { t.classList.add("cur"); show(t); } }
  function visibleTokens(snip) {
    return Array.prototype.filter.call(snip.querySelectorAll(".t"), function (t) { return t.offsetParent !== null; });
  }
  function snippetText(snip) {
    return Array.prototype.map.call(snip.querySelectorAll(".t"), function (t) {
      return t.classList.contains("nl") ? t.textContent.split("\u21b5").join("\n") : t.textContent;
    }).join("");
  }
  function copy(text, button) {
    function done() { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); }
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, fallback); }
    else fallback();
    function fallback() {
      var ta = document.createElement("textarea"); ta.value = text; ta.setAttribute("readonly", "");
      ta.style.position = "fixed"; ta.style.opacity = "0"; document.body.appendChild(ta); ta.select();
      try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
      ta.remove(); done();
    }
    button.dataset.copied = text;
  }
  function enhance(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll(".snip"), function (snip) {
      if (!snip.querySelector(".t") || snip.querySelector(":scope > .copy")) return;
      snip.tabIndex = 0;
      snip.setAttribute("aria-label", "Snippet: arrow keys read each token's activation");
      var b = document.createElement("button");
      b.type = "button"; b.className = "copy"; b.textContent = "Copy"; b.setAttribute("aria-label", "Copy this snippet's text");
      snip.insertBefore(b, snip.firstChild);
    });
  }
  document.addEventListener("mouseover", function (ev) {
    var t = ev.target.closest && ev.target.closest(".snip .t");
    if (t) show(t); else if (!cur) hide();
  });
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest(".snip .copy");
    if (b) { copy(snippetText(b.closest(".snip")), b); return; }
    var t = ev.target.closest && ev.target.closest(".snip .t");  // touch: a tap shows the value
    if (t) setCur(t); else { setCur(null); hide(); }
  });
  document.addEventListener("focusin", function (ev) {
    var snip = ev.target.classList && ev.target.classList.contains("snip") ? ev.target : null;
    if (!snip) return;
    var toks = visibleTokens(snip);
    setCur(snip.querySelector(".t.q") || snip.querySelector(".t.a") || toks[0] || null);
  });
  document.addEventListener("focusout", function (ev) {
    if (ev.target.classList && ev.target.classList.contains("snip")) { setCur(null); hide(); }
  });
  document.addEventListener("keydown", function (ev) {
    var snip = ev.target.classList && ev.target.classList.contains("snip") ? ev.target : null;
    if (!snip) return;
    var toks = visibleTokens(snip), i = toks.indexOf(cur);
    if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
      ev.preventDefault();
      i = i < 0 ? 0 : Math.max(0, Math.min(toks.length - 1, i + (ev.key === "ArrowRight" ? 1 : -1)));
      setCur(toks[i] || null);
    } else if (ev.key === "Home" || ev.key === "End") {
      ev.preventDefault(); setCur(ev.key === "Home" ? toks[0] : toks[toks.length - 1]);
    } else if (ev.key === "Escape") { setCur(null); hide(); }
    else if (ev.key === "c" && !ev.ctrlKey && !ev.metaKey) { var b = snip.querySelector(".copy"); if (b) copy(snippetText(snip), b); }
  });
  function start() {
    enhance(document);
    var pending = false;
    new MutationObserver(function () {
      if (pending) return; pending = true;
      requestAnimationFrame(function () { pending = false; enhance(document); });
    }).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();

/* Researcher pass (issue 16): the dashboard's embed-code generator (Neuronpedia's toggles as
 * ?embed=true&embedplots=false...) and "copy code" buttons. */
(function () {
  "use strict";
  function embedCode(fs) {
    var params = ["embed=true"];
    Array.prototype.forEach.call(fs.querySelectorAll(".embed-toggle"), function (c) {
      if (!c.checked) params.push("embed" + c.value + "=false");
    });
    var h = parseInt(fs.querySelector(".embed-height").value, 10) || 600;
    var url = fs.dataset.embedBase + "?" + params.join("&");
    var code = '<iframe src="' + url.replace(/&/g, "&amp;").replace(/"/g, "&quot;") + '" title="Neuronsite feature" ' +
      'style="width:100%;height:' + Math.max(100, Math.min(3000, h)) + 'px;border:1px solid #ddd" loading="lazy"></iframe>';
    return { url: url, code: code };
  }
  function update(fs) {
    var out = embedCode(fs), box = document.getElementById("embed-code"), link = document.getElementById("embed-preview");
    if (box) box.value = out.code;
    if (link) link.href = out.url;
  }
  document.addEventListener("input", function (ev) {
    var fs = ev.target.closest && ev.target.closest("[data-embed-base]");
    if (fs) update(fs);
  });
  document.addEventListener("change", function (ev) {
    var fs = ev.target.closest && ev.target.closest("[data-embed-base]");
    if (fs) update(fs);
  });
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest(".copy-code");
    if (!b) return;
    var src = document.getElementById(b.dataset.copyTarget);
    if (!src) return;
    var text = src.value !== undefined && src.tagName === "TEXTAREA" ? src.value : src.textContent, label = b.textContent;
    function done() { b.textContent = "Copied"; setTimeout(function () { b.textContent = label; }, 1500); }
    b.dataset.copied = text;
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, done);
    else {
      var ta = document.createElement("textarea"); ta.value = text; ta.style.position = "fixed"; ta.style.opacity = "0";
      document.body.appendChild(ta); ta.select();
      try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
      ta.remove(); done();
    }
  });
})();
