"""Jinja2 for the hottest page: the feature dashboard (``features/jinja2/features/feature.html``),
its base layout (``features/jinja2/base.html``, the same bytes as ``templates/base.html``) and
the fragments htmx swaps on it (explanations, lists, comments, bookmark: the social views
answer them from here too).

The dashboard is the site's most requested page; under load its CPU went mostly to Django's
template engine (about 190 variable lookups, 40 loop and condition nodes and 23 URL reversals
a page, each through several layers of Python), not to the database. Jinja2 compiles a
template to one Python function.

Output is what Django's templates print: every ``{{ value }}`` goes through Django's own
``localize`` and ``conditional_escape`` (``finalize``), the filters are Django's, and the
context has what Django's context processors give a page (``request``, ``user``,
``csrf_token``, ``messages``). URL reversal (:func:`_url`) is Django's algorithm with its
per-name lookups done once per process; ``static()`` answers are kept per path.
"""

from __future__ import annotations

import html
import os
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import jinja2
from django.conf import settings
from django.contrib.messages import get_messages
from django.http import HttpResponse
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token
from django.template import defaultfilters
from django.templatetags.static import static as _static
from django.urls import NoReverseMatch, get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils.formats import localize
from django.utils.functional import SimpleLazyObject
from django.utils.html import conditional_escape, format_html
from django.utils.http import RFC3986_SUBDELIMS, escape_leading_slashes
from django.utils.safestring import SafeString
from django.utils.timezone import template_localtime
from markupsafe import Markup

from features.snippet_data import snippet_data
from features.templatetags import neuronsite_plots, neuronsite_tokens


def _finalize(value):
    """Django's ``render_value_in_context``: localized, then escaped unless already safe. The
    common kinds first, with what ``localize`` and ``conditional_escape`` return for them: safe
    strings as they are, strings escaped (``html.escape``, as Django's ``escape``), ints as
    digits unless thousands are grouped. A string with nothing to escape (escaping only
    lengthens) and digits come back as plain ``str``: Jinja's own ``escape`` around this leaves
    them as they are, in one ``Markup`` where a ``Markup`` here cost two (~1.3 us an output,
    ~100 outputs a page)."""
    kind = type(value)
    if kind is str:
        escaped = html.escape(value)
        return value if len(escaped) == len(value) else Markup(escaped)
    if kind is SafeString or kind is Markup:
        return value
    if kind is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)
    return Markup(conditional_escape(localize(value)))


# (resolver, script prefix, name) -> the URL (no arguments) or the name's candidate patterns
_urls: dict[tuple, object] = {}


def _url(name: str, *args) -> str:
    """``reverse(name, args=args)``, the same string (or ``NoReverseMatch``). Django's
    ``_reverse_with_prefix`` for positional arguments, with the name's patterns, compiled
    regular expressions and (without arguments) the whole answer looked up once per process
    (per URLconf and script prefix): 23 reversals a page were ~1 ms of CPU."""
    return _url_for(get_resolver(get_urlconf()), get_script_prefix())(name, *args)


def _url_for(resolver, prefix: str):
    """:func:`_url` for one URLconf and script prefix, read once: a page's context has it as
    ``url`` (the URLconf and prefix are request-local, asgiref ``Local`` lookups of ~10 us
    each time; a page makes 23 reversals)."""

    def url(name: str, *args) -> str:
        key = (resolver, prefix, name)
        entry = _urls.get(key)
        if entry is None:
            entry = _urls[key] = _url_entry(resolver, prefix, name)
        if isinstance(entry, str):
            return entry if not args else reverse(name, args=args)
        for candidate_pat, params, regex, converters in entry:
            if len(params) != len(args):
                continue
            subs = {}
            for param, value in zip(params, args, strict=True):
                converter = converters.get(param)
                if converter is None:
                    subs[param] = str(value)
                    continue
                try:
                    subs[param] = converter.to_url(value)
                except ValueError:
                    break
            else:
                candidate = candidate_pat % subs
                if regex.search(candidate):
                    return escape_leading_slashes(quote(candidate, safe=RFC3986_SUBDELIMS + "/~:@"))
        return reverse(name, args=args)  # no match (or namespaced): Django's own answer or error

    return url


def _url_entry(resolver, prefix: str, name: str):
    if ":" in name:  # namespaced (none on these pages): Django's reverse every time
        return []
    try:
        return reverse(name)
    except NoReverseMatch:
        pass
    if not resolver._populated:
        resolver._populate()
    entry = []
    for possibility, pattern, _defaults, converters in resolver.reverse_dict.getlist(name):
        for result, params in possibility:
            regex = re.compile("^%s%s" % (re.escape(prefix), pattern))  # noqa: UP031 - Django's own
            entry.append((prefix.replace("%", "%%") + result, tuple(params), regex, converters))
    return entry


@lru_cache(maxsize=256)
def _static_cached(path: str, static_url: str) -> str:
    return _static(path)


def static(path: str) -> str:
    """``{% static path %}``: the storage's URL, kept per path (and STATIC_URL)."""
    return _static_cached(path, settings.STATIC_URL)


# CSRF_ALLOWED_CHARS (62) by byte: the 248 bytes below 4 * 62 each map to a character, four to
# each (so uniformly); the 8 above are dropped
_CSRF_BYTES = bytes(ord(CSRF_ALLOWED_CHARS[b % len(CSRF_ALLOWED_CHARS)]) for b in range(256))
_CSRF_DROP = bytes(range(4 * len(CSRF_ALLOWED_CHARS), 256))
_CSRF_INDEX = {c: i for i, c in enumerate(CSRF_ALLOWED_CHARS)}


def _csrf_string(n: int = CSRF_SECRET_LENGTH) -> str:
    """``n`` characters of CSRF_ALLOWED_CHARS from ``os.urandom`` (what ``secrets`` reads), as
    Django's ``get_random_string`` draws them, in one call: its ``secrets.choice`` a character
    was ~90 us of a page's CPU (a new secret and a mask for an anonymous GET)."""
    out = b""
    while len(out) < n:
        out += os.urandom(n + 8).translate(_CSRF_BYTES, _CSRF_DROP)
    return out[:n].decode("ascii")


def csrf_token(request) -> str:
    """``django.middleware.csrf.get_token(request)``: the same side effects on ``request.META``
    (a new secret when there is none, the cookie marked for sending) and the same masked token
    (a fresh mask, the secret ciphered with it), with :func:`_csrf_string` for the randomness."""
    meta = request.META
    secret = meta.get("CSRF_COOKIE")
    index = _CSRF_INDEX
    if secret is None:
        secret = _csrf_string()
        meta["CSRF_COOKIE"] = secret
    elif len(secret) != CSRF_SECRET_LENGTH or not all(c in index for c in secret):
        return get_token(request)  # not a secret this code knows: Django's own answer
    meta["CSRF_COOKIE_NEEDS_UPDATE"] = True
    mask = _csrf_string()
    chars, n = CSRF_ALLOWED_CHARS, len(CSRF_ALLOWED_CHARS)
    return mask + "".join([chars[(index[x] + index[y]) % n] for x, y in zip(secret, mask, strict=True)])


@jinja2.pass_context
def csrf_input(context) -> Markup:
    """``{% csrf_token %}``."""
    token = context.get("csrf_token")
    if not token or token == "NOTPROVIDED":
        return Markup("")
    return Markup(format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token))


def _date(value, arg=None):
    """Django's ``date`` filter, after the conversion to local time Django's templates make
    for filters that expect it."""
    return defaultfilters.date(template_localtime(value), arg)


def _linebreaksbr(value):
    return defaultfilters.linebreaksbr(value, autoescape=True)


@lru_cache(maxsize=8)
def _template_library(name: str):
    """A Django template tag library's module, by its ``{% load %}`` name (the explanation
    fragment uses autointerp's helpers, as the Django template did, without an import)."""
    from importlib import import_module

    from django.template.backends.django import get_installed_libraries

    return import_module(get_installed_libraries()[name])


def _autointerp(name: str):
    def call(*args):
        return getattr(_template_library("autointerp_ui"), name)(*args)

    call.__name__ = name
    return call


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("jinja2")),
        autoescape=True,
        finalize=_finalize,
        auto_reload=False,
        undefined=jinja2.Undefined,
        keep_trailing_newline=True,  # as Django's templates: a file's last newline is printed
    )
    env.globals.update(
        url=_url,
        static=static,
        csrf_input=csrf_input,
        density_bar=neuronsite_plots.density_bar,
        histogram_svg=neuronsite_plots.histogram_svg,
        snippet_data=snippet_data,
        autointerp_choices=_autointerp("autointerp_choices"),
    )
    env.filters.update(
        floatformat=defaultfilters.floatformat,
        truncatechars=defaultfilters.truncatechars,
        pluralize=defaultfilters.pluralize,
        stringformat=defaultfilters.stringformat,
        yesno=defaultfilters.yesno,
        urlencode=defaultfilters.urlencode,
        date=_date,
        linebreaksbr=_linebreaksbr,
        percent=neuronsite_tokens.percent,
        logit_token=neuronsite_tokens.logit_token,
        pct=_autointerp("pct"),
        score_average=_autointerp("score_average"),
        detail_rows=_autointerp("detail_rows"),
    )
    return env


def page_context(request, context: dict) -> dict:
    """What Django's context processors give a template (request, auth, messages, csrf), under
    the view's own context (which wins, as in Django's ``RequestContext``)."""

    def token():
        value = csrf_token(request)
        return "NOTPROVIDED" if value is None else value

    user = getattr(request, "user", None)
    if user is None:
        from django.contrib.auth.models import AnonymousUser

        user = AnonymousUser()
    return {
        "csrf_token": SimpleLazyObject(token),
        "request": request,
        "user": user,
        "messages": get_messages(request),
        "url": _url_for(get_resolver(get_urlconf()), get_script_prefix()),
        **context,
    }


def render_page(request, template_name: str, context: dict, status: int | None = None) -> HttpResponse:
    """``django.shortcuts.render`` for a template of ``features/jinja2/``."""
    body = environment().get_template(template_name).render(page_context(request, context))
    return HttpResponse(body, status=status)
