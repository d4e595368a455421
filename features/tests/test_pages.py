import pytest

from features.models import Activation, Comment, Explanation
from features.tests.test_feature_api import _populate


def test_home_lists_models_and_sets(client, make_source, django_assert_max_num_queries):
    make_source(layer=0)
    make_source(model="gpt-tiny", set_name="res-jb", layer=3)
    with django_assert_max_num_queries(6):
        r = client.get("/")
    html = r.content.decode()
    assert r.status_code == 200
    assert "tiny" in html and "gpt-tiny" in html and "res-jb" in html and "3-res-jb" in html


@pytest.mark.parametrize("n", [1, 30])
def test_feature_page_constant_queries(client, make_feature, make_user, django_assert_max_num_queries, n):
    user = make_user()
    feature = make_feature(index=5)
    _populate(feature, user, n)
    with django_assert_max_num_queries(12):
        r = client.get("/tiny/0-res-test/5")
    assert r.status_code == 200
    html = r.content.decode()
    assert "explanation 0" in html and "comment 0" in html and "list 0" in html
    assert "\u00a0the" in html or " the" in html  # Ġthe shown as " the"


def test_feature_page_escapes_user_text(client, make_feature, make_user):
    user = make_user()
    feature = make_feature(index=6)
    Comment.objects.create(feature=feature, user=user, text="<script>alert(1)</script>")
    Explanation.objects.create(feature=feature, description='<img src=x onerror="alert(2)">')
    Activation.objects.create(feature=feature, tokens=["<b>x</b>"], values=[1.0], max_value=1.0)
    html = client.get("/tiny/0-res-test/6").content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and "<b>x</b>" not in html


def test_feature_page_404(client, make_feature):
    make_feature(index=0)
    assert client.get("/tiny/0-res-test/999").status_code == 404
    assert client.get("/tiny/0-res-test/abc").status_code == 404


def test_unknown_feature_page_is_a_site_404_naming_what_is_missing(client, make_feature, settings):
    settings.DEBUG = False
    make_feature(index=0)
    r = client.get("/tiny/0-res-test/999")
    html = r.content.decode()
    assert r.status_code == 404
    assert "Neuronsite" in html and "tiny/0-res-test/999" in html
