/* The feature page's activation snippets, drawn from the page's compact data (the JSON block
 * #snippet-data written by features/snippet_data.py; its format is described there).
 *
 * Builds the DOM that features/templatetags/neuronsite_tokens.py snippet_html writes for the
 * htmx "show more" fragments: per snippet <div class="snip"> with the leading value
 * (<span class="mx">) and a <span> per shown piece: class t, c5 / c16 by distance to the centre,
 * nl / ws, q on the centre, a / n when active (style --a, the strength to two decimals; title,
 * the value to three), numbers spelled as Python's format spells them. Text goes in with
 * textContent only (token text is data, never markup). */
(function () {
  "use strict";
  var NEAR = 5, FAR = 16, LAST = FAR + 1;  // distance classes: 0..5 "t", 6..16 "t c5", 17+ "t c16"
  var NL = "\u21b5";
  // Python's str.isspace() characters: a whitespace-only token carries "ws" (str.strip() is empty)
  var ONLY_SPACE = /^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/;

  function distClass(d) { return d <= NEAR ? "t" : d < LAST ? "t c5" : "t c16"; }
  function extraOf(text) { return text.indexOf(NL) >= 0 ? " nl" : ONLY_SPACE.test(text) ? " ws" : ""; }

  /* Python's f"{x:.{d}f}" (d = 2 or 3): correctly rounded, ties to even (toFixed rounds ties up;
   * a tie at d decimals is a double x = odd / 2^(d+1)), "nan" / "inf", "-0.000", no exponent. */
  function fmt(x, d) {
    if (x !== x) return "nan";
    if (x === Infinity) return "inf";
    if (x === -Infinity) return "-inf";
    var neg = x < 0 || (x === 0 && 1 / x < 0), ax = Math.abs(x), s;
    var t = ax * (d === 3 ? 16 : 8);
    if (t <= 9007199254740991 && Math.floor(t) === t && t % 2 === 1) {
      var k = BigInt(t) * (d === 3 ? 125n : 25n);  // x * 10^d = k / 2, k odd
      var n = (k - 1n) / 2n;
      if (n % 2n === 1n) n += 1n;
      s = n.toString();
      while (s.length <= d) s = "0" + s;
      s = s.slice(0, s.length - d) + "." + s.slice(s.length - d);
    } else if (ax >= 1e21) {
      s = BigInt(ax).toString() + "." + (d === 3 ? "000" : "00");
    } else {
      s = ax.toFixed(d);
    }
    return (neg ? "-" : "") + s;
  }

  function num(v) { return typeof v === "number" ? v : v === null || v === undefined ? v : Number(v); }

  function span(cls, text) {
    var e = document.createElement("span");
    e.className = cls;
    e.textContent = text;
    return e;
  }

  /* One snippet: row = [token ids, values, centre, leading value, {s, p}?]. */
  function snippet(row, table, pageScale) {
    var ids = row[0], raw = row[1], center = row[2], extra = row[4] || {};
    var n = ids.length, i, vals = [];
    for (i = 0; i < raw.length; i++) vals.push(num(raw[i]));
    while (vals.length < n) vals.push(0);
    var scale = "s" in extra ? num(extra.s) : pageScale;
    if (scale === null || scale === undefined || scale === 0 || scale <= 0) {
      scale = vals.length ? Math.abs(vals[0]) : 0;  // Python's max(): the first unless one is greater
      for (i = 1; i < vals.length; i++) if (Math.abs(vals[i]) > scale) scale = Math.abs(vals[i]);
      if (scale === 0) scale = 1;
    }
    var inv = 1 / scale;
    var joined = {};  // first -> [first, last, text] of byte-level tokens shown as one character
    (extra.p || []).forEach(function (p) { joined[p[0]] = p; });
    var div = document.createElement("div");
    div.className = "snip";
    var mx = span("mx", fmt(num(row[3]), 3));
    mx.title = "activation at the marked token";
    div.appendChild(mx);
    for (var first = 0; first < n; first++) {
      var last = first, text, v, piece = joined[first];
      if (piece) {
        last = piece[1]; text = piece[2];
        v = vals[first];  // Python's max(..., key=abs): the first of the largest magnitude
        for (i = first + 1; i <= last; i++) if (Math.abs(vals[i]) > Math.abs(v)) v = vals[i];
      } else {
        text = table[ids[first]];
        v = vals[first];
      }
      var cls;
      if (first <= center && center <= last) cls = "t" + extraOf(text) + " q";
      else cls = distClass(first > center ? first - center : center - last) + extraOf(text);
      var e;
      if (v === 0) e = span(cls, text);
      else {
        var a = (v > 0 ? v : -v) * inv;
        e = span(cls + (v > 0 ? " a" : " n"), text);
        e.setAttribute("style", "--a:" + (a < 1 ? fmt(a, 2) : "1.00"));
        e.title = fmt(v, 3);
      }
      div.appendChild(e);
      first = last;
    }
    return div;
  }

  function draw() {
    var holder = document.getElementById("snippet-data");
    if (!holder) return;
    var data = JSON.parse(holder.textContent), table = data.t, scale = num(data.s);
    Array.prototype.forEach.call(document.querySelectorAll("[data-snips]"), function (box) {
      var rows = data.g[+box.getAttribute("data-snips")] || [], frag = document.createDocumentFragment();
      for (var r = 0; r < rows.length; r++) frag.appendChild(snippet(rows[r], table, scale));
      box.insertBefore(frag, box.firstChild);
    });
  }
  window.Neuronsite = window.Neuronsite || {};
  window.Neuronsite.formatFixed = fmt;  // for tests: Python's float format
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
})();
