"""Small things researchers expect (issue 16, item 12): /favicon.ico, list links on profiles,
a confirmed Revoke that looks unlike Rotate, autocomplete on sign-in / sign-up, an honest home
page. (The phone-width nav is checked in the browser journey.)"""

import re

from features.models import List


def test_favicon(client, db):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r["Content-Type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    html = client.get("/").content.decode()
    assert 'rel="icon" href="/favicon.ico"' in html


def test_profile_list_names_are_links(client, make_user):
    user = make_user(username="ada")
    lst = List.objects.create(owner=user, name="Curated", visibility="PUBLIC")
    html = client.get("/user/ada/").content.decode()
    assert f'<a href="/list/{lst.pk}/">Curated</a>' in html


def test_revoke_is_confirmed_and_styled_apart_from_rotate(client, make_user):
    client.force_login(make_user())
    client.post("/account/keys/new", {"name": "laptop"})
    html = client.get("/account/").content.decode()
    revoke = re.search(r'<form[^>]*action="/account/keys/\d+/revoke".*?</form>', html, re.S)
    assert revoke is not None
    assert "return confirm('Revoke key" in revoke.group(0) and 'class="danger"' in revoke.group(0)
    rotate = re.search(r'<button[^>]*aria-label="Rotate key[^>]*>', html)
    assert rotate is not None and 'class="secondary"' in rotate.group(0)


def test_sign_in_and_sign_up_fields_have_autocomplete(client, db):
    login = client.get("/account/login/").content.decode()
    assert 'autocomplete="username"' in login and 'autocomplete="current-password"' in login
    signup = client.get("/account/signup/").content.decode()
    assert re.search(r'name="username"[^>]*autocomplete="username"', signup)
    assert re.search(r'name="email"[^>]*autocomplete="email"', signup)
    assert signup.count('autocomplete="new-password"') == 2


def test_home_promises_only_pages_that_exist(client, db):
    html = client.get("/").content.decode()
    intro = html.split('<p class="muted">', 1)[1].split("</p>", 1)[0]
    assert "trace" not in intro and "score" not in intro
    for href in re.findall(r'href="([^"]+)"', intro):
        assert client.get(href).status_code == 200, href
