"""The feature page's activation snippets as compact data, drawn in the browser by
``features/static/features/snippets.js`` (as Neuronpedia's feature page does: its client gets
tokens and values as arrays).

Writing each token as a ``<span>`` with its classes, colour and title in Python was 1.2-2 ms of
the page's ~5-6 ms of CPU (15 snippets of 64 tokens a group: a float format, a search and an
f-string a token) and most of its bytes (74 KiB a page in bench/load; 29 KiB now). Here the page gets ONE ``<script type="application/json"
id="snippet-data">`` block, written by orjson (C), with what the server already has:

    {"s": scale,                       # the page's scale (the feature's max activation)
     "t": [display text, ...],         # each distinct token of the page once (features.tokens)
     "g": [[row, ...], ...]}           # per activation group (the page's order), its rows:
    row = [token ids (into "t"), values, centre (qualifying position), leading value, extra?]
    extra = {"s": the row's scale (only when the page's is 0 / missing),
             "p": [[first, last, text], ...] (byte-level tokens joined into one character)}

Numbers that JSON cannot spell (NaN, infinities) are strings ``"NaN"``, ``"Infinity"``,
``"-Infinity"`` (``Number()`` reads them). ``<``, ``>``, ``&`` and U+2028/2029 are written as
``\\uXXXX`` escapes, so no token text can close the script element or start markup.

The script builds the same DOM as :func:`features.templatetags.neuronsite_tokens.snippet_html`
(which the htmx "show more" fragments still use): same classes, titles, ``--a`` strengths,
centred windows, joined pieces; features/tests/test_snippet_data.py compares the two in Chromium.
"""

from __future__ import annotations

import html
import json
import re
from itertools import chain
from operator import itemgetter

import orjson
from markupsafe import Markup

from features.templatetags.neuronsite_tokens import _qualifying_value, qualifying_position
from features.tokens import NEWLINE_MARK, _partial, display_pieces, token_display

# raw token -> (display text, whether it is a byte-level piece that does not decode alone): a
# plain dict, so that a page's lookups are one C-level map (emptied when it reaches its bound)
_TOKENS: dict = {}
_TOKENS_MAX = 65536
_first, _second = itemgetter(0), itemgetter(1)


def _token_info(raws: dict) -> list[tuple[str, bool]]:
    """``(display text, partial)`` of each key of ``raws`` (the page's distinct tokens)."""
    try:
        return list(map(_TOKENS.__getitem__, raws))
    except KeyError:  # tokens not seen yet: only those are computed (a page has ~1,000)
        pass
    if len(_TOKENS) >= _TOKENS_MAX:
        _TOKENS.clear()
    for raw in raws.keys() - _TOKENS.keys():
        _TOKENS[raw] = (token_display(raw), _partial(raw))
    try:
        return list(map(_TOKENS.__getitem__, raws))
    except KeyError:  # another thread emptied it meanwhile
        return [(token_display(raw), _partial(raw)) for raw in raws]


def _num(x):
    """A JSON-able number: non-finite ones as the strings ``Number()`` parses."""
    if x is None or x - x == 0:
        return x
    return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")


def _values(values):
    if not values:
        return []
    total = sum(values)  # finite iff every value is (float32-range values cannot overflow it)
    if total - total == 0:
        return values
    return [_num(v) for v in values]


def snippet_rows(groups, scale) -> dict:
    """The data of the page's snippet groups (each group's ``activations``, as the dashboard
    selector gives them) for ``scale`` (the page's)."""
    acts = [g["activations"] for g in groups]
    # the page's distinct tokens, in order of first sight, and each one's index: C-level calls
    # only (a Python call per token was a third of this function)
    raws = dict.fromkeys(chain.from_iterable(act.tokens or () for rows in acts for act in rows))
    get = dict(zip(raws, range(len(raws)), strict=True)).__getitem__
    info = _token_info(raws)
    out_groups = []
    for rows in acts:
        out = []
        for act in rows:
            q = qualifying_position(act)
            row = [list(map(get, act.tokens or ())), _values(act.values), q, _num(_qualifying_value(act, q))]
            if not scale:
                row.append({"s": _num(act.max_value)})
            out.append(row)
        out_groups.append(out)
    if any(map(_second, info)):  # a byte-level token that does not decode alone: joined pieces
        partial_ids = {i for i, (_, partial) in enumerate(info) if partial}
        for rows, out in zip(acts, out_groups, strict=True):
            for act, row in zip(rows, out, strict=True):
                if partial_ids.isdisjoint(row[0]):
                    continue
                joined = [[a, b, text] for a, b, text in display_pieces(act.tokens) if b > a]
                if joined:
                    if len(row) == 4:
                        row.append({})
                    row[4]["p"] = joined
    return {"s": _num(scale), "t": list(map(_first, info)), "g": out_groups}


_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def script_json(data) -> Markup:
    """``data`` as JSON safe inside a ``<script type="application/json">`` element."""
    body = orjson.dumps(data)
    for raw, escaped in _ESCAPES:
        if raw in body:
            body = body.replace(raw, escaped)
    return Markup(body.decode())


def snippet_data(groups, scale) -> Markup:
    return script_json(snippet_rows(groups, scale))


# --- the reference: the data back to snippet_html's HTML -----------------------------------------
# The browser's renderer (snippets.js) mirrors this function; tests and bench/load/compare_pages.py
# use it to read a page's snippets (and compare them with the server's snippet_html).

_SCRIPT = re.compile(r'<script type="application/json" id="snippet-data">(.*?)</script>', re.S)


def _number(v):
    return float(v) if isinstance(v, str) else v


def _extra(text: str) -> str:
    return " nl" if NEWLINE_MARK in text else " ws" if text and not text.strip() else ""


def _row_html(row, table, page_scale) -> str:
    ids, raw, center = row[0], row[1], row[2]
    extra = row[4] if len(row) > 4 else {}
    n = len(ids)
    vals = [_number(v) for v in raw]
    vals += [0.0] * (n - len(vals))
    scale = _number(extra["s"]) if "s" in extra else page_scale
    if not scale or scale <= 0:
        scale = max((abs(v) for v in vals), default=0.0) or 1.0
    inv = 1.0 / scale
    joined = {p[0]: p for p in extra.get("p", ())}
    parts = [
        f'<div class="snip"><span class="mx" title="activation at the marked token">{_number(row[3]):.3f}</span>'
    ]
    first = 0
    while first < n:
        piece = joined.get(first)
        if piece:
            last, text = piece[1], piece[2]
            v = max(vals[first : last + 1], key=abs)
        else:
            last, text, v = first, table[ids[first]], vals[first]
        if first <= center <= last:
            cls = "t" + _extra(text) + " q"
        else:
            d = first - center if first > center else center - last
            cls = ("t" if d <= 5 else "t c5" if d <= 16 else "t c16") + _extra(text)
        text = html.escape(text)
        if not v:
            parts.append(f'<span class="{cls}">{text}</span>')
        else:
            a = (v if v > 0 else -v) * inv
            kind = "a" if v > 0 else "n"
            parts.append(
                f'<span class="{cls} {kind}" style="--a:{a if a < 1 else 1:.2f}" title="{v:.3f}">{text}</span>'
            )
        first = last + 1
    parts.append("</div>")
    return "".join(parts)


def render_html(data: dict) -> list[str]:
    """Each group's snippets as :func:`~features.templatetags.neuronsite_tokens.activation_snippets`
    writes them, from :func:`snippet_rows`' data."""
    table, scale = data["t"], _number(data["s"])
    return ["".join(_row_html(row, table, scale) for row in rows) for rows in data["g"]]


def page_data(page: str) -> dict | None:
    """The snippet data of a feature page's HTML (None when it has none)."""
    match = _SCRIPT.search(page)
    return None if match is None else json.loads(match.group(1))
