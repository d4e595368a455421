"""The UMAP page (issue 16, item 8): coordinates, clusters and explanations as JSON in one query;
the page and its link from the source page; unknown and private sources are 404."""

from features.models import Explanation
from neuronsite.fields import Visibility


def test_umap_data_and_page(client, make_source, make_feature, django_assert_max_num_queries):
    source = make_source()
    for i in range(5):
        f = make_feature(source=source, index=i, umap_x=float(i), umap_y=float(-i), umap_cluster=i % 2)
        if i % 2 == 0:
            Explanation.objects.create(feature=f, description=f"cluster word {i}")
    make_feature(source=source, index=9)  # no coordinates: left out
    with django_assert_max_num_queries(4):
        r = client.get("/tiny/0-res-test/umap.json")
    body = r.json()
    assert body["fields"] == ["index", "x", "y", "cluster", "explanation"]
    assert body["points"] == [
        [0, 0.0, -0.0, 0, "cluster word 0"],
        [1, 1.0, -1.0, 1, None],
        [2, 2.0, -2.0, 0, "cluster word 2"],
        [3, 3.0, -3.0, 1, None],
        [4, 4.0, -4.0, 0, "cluster word 4"],
    ]
    html = client.get("/tiny/0-res-test/umap").content.decode()
    assert 'data-src="/tiny/0-res-test/umap.json"' in html and "umap.js" in html
    assert 'href="/tiny/0-res-test/umap"' in client.get("/tiny/0-res-test").content.decode()
    assert client.get("/tiny/nope/umap.json").status_code == 404
    private = make_source(set_name="res-private", visibility=Visibility.PRIVATE)
    assert client.get(f"/tiny/{private.name}/umap").status_code == 404
