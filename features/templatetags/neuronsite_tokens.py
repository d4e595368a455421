"""Template helpers for token display: byte-level BPE markers to readable text, and activation
snippets with each token's colour scaled to the feature's maximum.

Snippets are rendered here in plain Python rather than with one template tag per token: a
dashboard holds thousands of tokens and must render in a few milliseconds.
"""

import html
import struct
from bisect import bisect_right
from functools import lru_cache
from operator import itemgetter

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from features.tokens import NEWLINE_MARK, _partial, display_pieces, token_display, visible_whitespace

register = template.Library()

NEAR_CONTEXT = 5
FAR_CONTEXT = 16


@register.filter
def display_token(raw: str) -> str:
    return token_display(raw)


@register.filter
def logit_token(raw: str):
    """A token for the logit tables: leading, trailing and whitespace-only runs made visible
    (``·`` for a space, ``→`` for a tab) in a muted span, so `` the`` and ``the`` differ."""
    text = token_display(raw)
    core = text.strip(" \t")
    if not core:
        return format_html('<span class="ws" title="whitespace">{}</span>', visible_whitespace(text) or "∅")
    lead = text[: len(text) - len(text.lstrip(" \t"))]
    trail = text[len(text.rstrip(" \t")) :]

    def ws(run: str) -> str:
        return str(format_html('<span class="ws">{}</span>', visible_whitespace(run))) if run else ""

    return mark_safe(ws(lead) + str(escape(core)) + ws(trail))


@lru_cache(maxsize=65536)
def _escaped_display(raw: str) -> tuple[str, bool]:
    # html.escape is what django.utils.html.escape runs; a plain str (not a SafeString, whose
    # Python-level __str__ every f-string would call again) for the hot loop below
    text = token_display(raw)
    return html.escape(text), NEWLINE_MARK in text


@register.simple_tag
def token_span(token: str, value: float, max_value: float):
    strength = 0.0 if not max_value or value <= 0 else min(1.0, value / max_value)
    text = token_display(token)
    return format_html(
        '<span class="tok" style="background: rgba(34, 139, 34, {})" title="{}">{}</span>',
        f"{strength:.3f}",
        f"{value:.3f}",
        text,
    )


@lru_cache(maxsize=65536)
def _token_piece(raw: str) -> tuple[str, str]:
    """One token's escaped display text and the class it adds (`` nl``, `` ws`` or none)."""
    text, newline = _escaped_display(raw)
    return text, " nl" if newline else " ws" if text and not text.strip() else ""


# token -> (*_token_piece(token), whether it is partial: ``features.tokens._partial``), for the
# snippet loop: a plain dict (an lru_cache hit moves an entry of its linked list, memory that a
# request's other work has evicted; two such hits per token were a quarter of the snippets' CPU)
_PIECES: dict[str, tuple[str, str, bool]] = {}
_PIECES_MAX = 65536
_third = itemgetter(2)


def _token_pieces(tokens) -> list[tuple[str, str, bool]]:
    """``(text, extra, partial)`` of each token, from :data:`_PIECES` (filled on a miss; emptied
    when it reaches its bound). Safe with other threads emptying it meanwhile: a miss builds
    the answer from what it computes."""
    try:
        return list(map(_PIECES.__getitem__, tokens))
    except KeyError:
        if len(_PIECES) >= _PIECES_MAX:
            _PIECES.clear()
        out = []
        for t in tokens:
            piece = _PIECES.get(t)
            if piece is None:
                piece = _PIECES[t] = (*_token_piece(t), _partial(t))
            out.append(piece)
        return out


# class prefix by distance to the centre piece: 0 (the centre, ``q`` comes last), 1..5, 6..16, more
_DIST_CLASS = ["t"] * (NEAR_CONTEXT + 1) + ["t c5"] * (FAR_CONTEXT - NEAR_CONTEXT) + ["t c16"]


@lru_cache(maxsize=4096)
def _dist_classes(n: int, center: int) -> tuple[str, ...]:
    """Each position's class prefix by its distance to ``center`` (the centre's ``q`` is added
    by the caller)."""
    far = len(_DIST_CLASS) - 1
    return tuple(_DIST_CLASS[min(k - center if k > center else center - k, far)] for k in range(n))


def _alpha_bounds() -> list[float]:
    """``bounds[i]``: the smallest double in [0, 1] that ``f"{x:.2f}"`` writes as ``_ALPHAS[i +
    1]``. Formatting is monotonic in ``x``, so ``_ALPHAS[bisect_right(bounds, x)]`` is
    ``f"{x:.2f}"`` for every ``x`` in [0, 1] (found by bisection over the doubles' bit patterns,
    so the rounding is Python's own, ties included)."""

    def bits(x: float) -> int:
        return struct.unpack("<q", struct.pack("<d", x))[0]

    def double(b: int) -> float:
        return struct.unpack("<d", struct.pack("<q", b))[0]

    out = []
    for i in range(1, 101):
        want = f"{i / 100:.2f}"
        lo, hi = bits(0.0), bits(1.0)  # non-negative doubles order as their bit patterns
        while lo < hi:
            mid = (lo + hi) // 2
            if f"{double(mid):.2f}" >= want:  # same length, so text order is numeric order
                hi = mid
            else:
                lo = mid + 1
        out.append(double(lo))
    return out


_ALPHA_BOUNDS = _alpha_bounds()
_ALPHAS = [f"{i / 100:.2f}" for i in range(101)]


def snippet_html(tokens, values, scale: float | None, center: int | None = None) -> str:
    """One snippet as HTML: a span per shown piece (a token, or the byte-level tokens that
    together make one UTF-8 character), escaped; active pieces coloured by ``value / scale``
    (green positive, red negative) with the value in ``title`` (ui.js turns it into a tooltip
    reachable by keyboard and touch); pieces further than 5 / 16 from ``center`` carry ``c5`` /
    ``c16`` so the context presets are a CSS switch. Newline tokens show ``↵`` and carry ``nl``;
    the centre piece carries ``q``; whitespace-only tokens carry ``ws``. (A hot loop: one pass,
    per-token text and class cached, no function call per token beyond the cache.)"""
    n = len(tokens)
    vals = list(values or [])
    if len(vals) < n:
        vals += [0.0] * (n - len(vals))
    if center is None:
        center = max(range(n), key=lambda i: vals[i]) if n else 0
    if not scale or scale <= 0:
        scale = max((abs(v) for v in vals), default=0.0) or 1.0
    inv = 1.0 / scale
    token_pieces = _token_pieces(tokens)
    if any(map(_third, token_pieces)):  # a partial token: pieces of one character are joined
        pieces = display_pieces(tokens)
    else:  # the common case: one piece per token
        pieces = None
    dist_class = _DIST_CLASS
    far = len(dist_class) - 1
    parts = []
    append = parts.append
    if pieces is None:  # the common case, one piece per token: the tightest loop
        # float formatting is what costs here: the strength (style: two decimals of a number in
        # [0, 1]) comes from the table of where each of its 101 spellings starts, a C-level search
        bounds, alphas = _ALPHA_BOUNDS, _ALPHAS
        pairs = zip(token_pieces, _dist_classes(n, center), vals, strict=False)
        for (text, extra, _), cls, v in pairs:
            if not v:
                append(f'<span class="{cls}{extra}">{text}</span>')
            elif v > 0:
                a = v * inv
                append(
                    f'<span class="{cls}{extra} a" style="--a:{alphas[bisect_right(bounds, a)] if a < 1 else "1.00"}"'
                    f' title="{v:.3f}">{text}</span>'
                )
            else:
                a = -v * inv
                append(
                    f'<span class="{cls}{extra} n" style="--a:{alphas[bisect_right(bounds, a)] if a < 1 else "1.00"}"'
                    f' title="{v:.3f}">{text}</span>'
                )
        if 0 <= center < n:  # the centre piece: ``q`` after its own classes
            extra = token_pieces[center][1]
            parts[center] = parts[center].replace(f'<span class="t{extra}', f'<span class="t{extra} q', 1)
        return "".join(parts)
    for k in range(len(pieces)):
        first, last, shown = pieces[k]
        if first == last:
            text, extra = _token_piece(tokens[first])
            v = vals[first]
        else:  # joined pieces: the strongest value of the group
            text = html.escape(shown)
            extra = " nl" if NEWLINE_MARK in shown else " ws" if text and not text.strip() else ""
            v = max(vals[first : last + 1], key=abs)
        if first <= center <= last:
            cls = "t" + extra + " q"
        else:
            d = first - center if first > center else center - last
            cls = dist_class[d if d < far else far] + extra
        if v:
            if v > 0:
                a = v * inv
                append(
                    f'<span class="{cls} a" style="--a:{a if a < 1 else 1:.2f}" title="{v:.3f}">{text}</span>'
                )
            else:
                a = -v * inv
                append(
                    f'<span class="{cls} n" style="--a:{a if a < 1 else 1:.2f}" title="{v:.3f}">{text}</span>'
                )
        else:
            append(f'<span class="{cls}">{text}</span>')
    return "".join(parts)


def qualifying_position(act) -> int:
    """The token that put ``act`` in its group: ``qualifying_token_index`` when the row has a
    valid one (an interval row's value inside the interval), else the max token."""
    q = getattr(act, "qualifying_token_index", None)
    n = len(act.values or ())
    if q is not None and 0 <= q < n:
        return q
    return act.max_value_token_index if 0 <= (act.max_value_token_index or 0) < max(n, 1) else 0


def _qualifying_value(act, position: int) -> float:
    vals = act.values or ()
    return vals[position] if position < len(vals) else act.max_value


@register.simple_tag
def activation_snippet(act, scale=None):
    """An ``Activation`` row as a highlighted snippet (see :func:`snippet_html`), centred on
    its qualifying token."""
    return mark_safe(snippet_html(act.tokens, act.values, scale or act.max_value, qualifying_position(act)))


@register.simple_tag
def activation_snippets(activations, scale=None):
    """Rows of snippets, each centred on its qualifying token and led by that token's value
    (for the top group, the max): ``<div class="snip">`` per activation."""
    out = []
    for act in activations:
        q = qualifying_position(act)
        body = snippet_html(act.tokens, act.values, scale or act.max_value, q)
        out.append(
            f'<div class="snip"><span class="mx" title="activation at the marked token">'
            f"{_qualifying_value(act, q):.3f}</span>{body}</div>"
        )
    return mark_safe("".join(out))


@register.filter
def percent(fraction) -> str:
    """A fraction of tokens as a percentage with enough digits to be non-zero: 0.011 ->
    ``1.10%``, 0.0000123 -> ``0.0012%``."""
    try:
        pct = float(fraction) * 100
    except (TypeError, ValueError):
        return ""
    if pct == 0:
        return "0%"
    if pct >= 1:
        return f"{pct:.2f}%"
    digits = 2
    while pct < 10 ** -(digits - 1) and digits < 8:
        digits += 1
    return f"{pct:.{digits}f}%"
