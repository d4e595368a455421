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
