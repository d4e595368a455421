"""The release page (issue 16, item 9): its sets and sources across models, links, the release
crumb on set, source and feature pages; private parts stay hidden."""

from models_app.models import SourceRelease
from neuronsite.fields import Visibility


def test_release_page_and_crumbs(client, make_source, make_feature, django_assert_max_num_queries):
    release = SourceRelease.objects.create(
        name="tiny-scope",
        description="SAEs on every layer.",
        creator_name="Lab",
        urls=["https://example.org/paper"],
    )
    a = make_source(model="tiny", set_name="res-a", layer=0)
    b = make_source(model="tiny", set_name="res-a", layer=1)
    c = make_source(model="other", set_name="res-c", layer=3)
    hidden = make_source(model="other", set_name="res-private", layer=0)
    for src in (a, b, c, hidden):
        src.source_set.release = release
        src.source_set.save()
    hidden.source_set.visibility = Visibility.PRIVATE
    hidden.source_set.save()
    with django_assert_max_num_queries(6):
        r = client.get("/release/tiny-scope")
    html = r.content.decode()
    assert r.status_code == 200
    assert "SAEs on every layer." in html and "By Lab" in html and 'href="https://example.org/paper"' in html
    assert (
        'href="/tiny/0-res-a"' in html and 'href="/tiny/1-res-a"' in html and 'href="/other/3-res-c"' in html
    )
    assert "res-private" not in html and "2 SAE sets" in html
    assert client.get("/release/nope").status_code == 404
    # the crumb on the set, source and feature pages, and the link on the home page
    crumb = '<a href="/release/tiny-scope" title="release">tiny-scope</a>'
    assert crumb in client.get("/tiny/res-a").content.decode()
    assert crumb in client.get("/tiny/0-res-a").content.decode()
    make_feature(source=a, index=4)
    assert crumb in client.get("/tiny/0-res-a/4").content.decode()
    assert '<a href="/release/tiny-scope">tiny-scope</a>' in client.get("/").content.decode()
