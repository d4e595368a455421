"""Jinja2 for the hottest page's biggest part: the feature dashboard's tools, plots, logit
tables, neighbours, test box and activation groups (``features/jinja2/features/feature_body.html``).

The dashboard is the site's most requested page; under load its CPU went mostly to Django's
template engine (about 190 variable lookups, 40 loop and condition nodes and 20 URL reversals
a page, each through several layers of Python), not to the database. Jinja2 compiles a
template to one Python function. The rest of the page (``templates/features/feature.html``:
base layout, head, explanations, lists, comments, the partials that htmx swaps) stays in Django
templates, which insert this part as a safe string.

Output is what Django's templates print: every ``{{ value }}`` goes through Django's own
``localize`` and ``conditional_escape`` (``finalize``), and the filters are Django's.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

import jinja2
from django.conf import settings
from django.template import defaultfilters
from django.templatetags.static import static
from django.urls import reverse
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString
from markupsafe import Markup

from features.templatetags import neuronsite_plots, neuronsite_tokens


def _finalize(value):
    """Django's ``render_value_in_context``: localized, then escaped unless already safe. The
    common kinds first, with what ``localize`` and ``conditional_escape`` return for them: safe
    strings as they are, strings escaped (``html.escape``, as Django's ``escape``), ints as
    digits unless thousands are grouped."""
    kind = type(value)
    if kind is str:
        return Markup(html.escape(value))
    if kind is SafeString or kind is Markup:
        return value
    if kind is int and not settings.USE_THOUSAND_SEPARATOR:
        return Markup(value)
    return Markup(conditional_escape(localize(value)))


def _url(name: str, *args) -> str:
    return reverse(name, args=args or None)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("jinja2")),
        autoescape=True,
        finalize=_finalize,
        auto_reload=False,
        undefined=jinja2.Undefined,
    )
    env.globals.update(
        url=_url,
        static=static,
        density_bar=neuronsite_plots.density_bar,
        histogram_svg=neuronsite_plots.histogram_svg,
        activation_snippets=neuronsite_tokens.activation_snippets,
    )
    env.filters.update(
        floatformat=defaultfilters.floatformat,
        truncatechars=defaultfilters.truncatechars,
        pluralize=defaultfilters.pluralize,
        stringformat=defaultfilters.stringformat,
        percent=neuronsite_tokens.percent,
        logit_token=neuronsite_tokens.logit_token,
    )
    return env


def render_feature_body(context: dict) -> Markup:
    return Markup(environment().get_template("features/feature_body.html").render(context))
