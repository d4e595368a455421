"""The Jinja2 base layout of the feature page (features/jinja2/base.html) stays the same bytes as
Django's templates/base.html, which every other page extends; and the fast URL reversal answers
what Django's reverse does."""

import re

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from features.jinja_pages import _url, environment, page_context

TOKEN = re.compile(r'(csrfmiddlewaretoken" value="|name="csrf-token" content="|"X-CSRFToken": ")[A-Za-z0-9]+')


@pytest.mark.parametrize("signed_in", [False, True])
def test_the_jinja_layout_is_djangos_base_html(rf: RequestFactory, make_user, signed_in):
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/x")
    request.user = make_user(username="a<b>") if signed_in else AnonymousUser()
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    django_html = render_to_string("base.html", request=request)
    request._messages = FallbackStorage(request)
    jinja_html = environment().get_template("base.html").render(page_context(request, {}))
    assert TOKEN.sub(r"\1T", jinja_html) == TOKEN.sub(r"\1T", django_html)
    assert ("a&lt;b&gt;" in jinja_html) == signed_in


def test_fast_url_reversal_is_djangos(db):
    cases = [("home",), ("feature", "m", "0-res", 5), ("feature", "a b", "x%y", 7), ("list", 3),
             ("profile", "név"), ("feature-explanation-action", "m", "s", 1, 2, "vote")]  # fmt: skip
    for name, *args in cases:
        assert _url(name, *args) == reverse(name, args=args), (name, args)
    with pytest.raises(NoReverseMatch):
        _url("feature", "a/b", "s", 1)  # a slash cannot be in a str segment
    with pytest.raises(NoReverseMatch):
        _url("no-such-name")


def test_the_pages_csrf_token_is_djangos(rf: RequestFactory):
    """csrf_token (the page's fast get_token): a new secret for a request without one, kept
    for one with one, each token a fresh mask over it, as Django's own tokens are."""
    from django.middleware.csrf import _unmask_cipher_token, get_token

    from features.jinja_pages import csrf_token

    request = rf.get("/x")
    first, second = csrf_token(request), csrf_token(request)
    secret = request.META["CSRF_COOKIE"]
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"] is True
    assert re.fullmatch("[A-Za-z0-9]{32}", secret) and re.fullmatch("[A-Za-z0-9]{64}", first)
    assert first != second and _unmask_cipher_token(first) == _unmask_cipher_token(second) == secret
    assert _unmask_cipher_token(get_token(request)) == secret  # Django's answer for the same secret
    other = rf.get("/x")
    other.META["CSRF_COOKIE"] = secret
    assert _unmask_cipher_token(csrf_token(other)) == secret and other.META["CSRF_COOKIE_NEEDS_UPDATE"]


def test_an_anonymous_feature_pages_csrf_token_passes_the_middleware(make_feature):
    """The token an anonymous visitor's feature page prints (meta tag, htmx header) goes with
    the cookie the response sets: a POST with both passes CSRF, one with another token does not."""
    from django.test import Client

    make_feature(index=3)
    client = Client(enforce_csrf_checks=True)
    page = client.get("/tiny/0-res-test/3")
    assert page.status_code == 200
    token = re.search(r'name="csrf-token" content="([A-Za-z0-9]{64})"', page.content.decode())[1]
    assert page.cookies["csrftoken"].value
    login = {"username": "nobody", "password": "wrong"}
    assert client.post("/account/login/", login, HTTP_X_CSRFTOKEN=token).status_code != 403
    assert client.post("/account/login/", login, HTTP_X_CSRFTOKEN="a" * 64).status_code == 403
