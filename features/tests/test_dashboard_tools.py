"""Dashboard tools (issue 16, item 11): jump box, feature JSON link, vector download, the SAE's
config with its sae_lens snippet, the embed-code generator, OpenGraph tags, remove from a list."""

import html as htmllib
import json

from features.models import List, ListItem


def test_dashboard_has_jump_json_sae_snippet_embed_code_and_opengraph(client, make_source, make_feature):
    source = make_source(sae_release="gpt2-small-res-jb", sae_id="blocks.0.hook_resid_pre")
    source.config = {"d_in": 16, "d_sae": 64, "architecture": "standard"}
    source.save()
    feature = make_feature(source=source, index=12)
    feature.explanations.create(description='fires on "the" & friends')
    html = client.get("/tiny/0-res-test/12").content.decode()
    # jump box: model / source / index through the jump view
    assert 'action="/jump"' in html and 'name="index" type="number" min="0" value="12"' in html
    r = client.get("/jump", {"model": "tiny", "source": "0-res-test", "index": "12"})
    assert r.status_code == 302 and r["Location"] == "/tiny/0-res-test/12"
    # feature JSON
    assert 'href="/api/feature/tiny/0-res-test/12" id="feature-json"' in html
    assert client.get("/api/feature/tiny/0-res-test/12").json()["index"] in (12, "12")
    # SAE config and the sae_lens snippet
    assert 'SAE.from_pretrained("gpt2-small-res-jb", "blocks.0.hook_resid_pre")' in html
    assert "sae.W_dec[12]" in html and "&quot;d_sae&quot;: 64" in html
    # embed code (server-rendered default; ui.js rewrites it as toggles change)
    assert "&lt;iframe src=&quot;" not in html  # the textarea holds real markup once decoded
    assert '&lt;iframe src="http://testserver/tiny/0-res-test/12?embed=true"' in html
    for toggle in ("plots", "explanation", "test", "activations", "link", "steer"):
        assert f'class="embed-toggle" value="{toggle}" checked' in html
    # OpenGraph
    assert '<meta property="og:url" content="http://testserver/tiny/0-res-test/12">' in html
    og_title = html.split('<meta property="og:title" content="')[1].split('">')[0]
    assert htmllib.unescape(og_title) == 'tiny / 0-res-test / 12 · fires on "the" & friends'
    # no vector: no download link, and the download URL is a 404
    assert "Download vector" not in html
    assert client.get("/tiny/0-res-test/12/vector").status_code == 404


def test_local_sae_snippet_and_vector_download(client, make_source, make_feature):
    source = make_source(local_path="/data/saes/layer0")
    make_feature(source=source, index=3, has_vector=True, vector=[0.5, -1.0, 2.0], vector_label="honesty")
    html = client.get("/tiny/0-res-test/3").content.decode()
    assert 'SAE.load_from_disk("/data/saes/layer0")' in html
    assert 'href="/tiny/0-res-test/3/vector" id="vector-download" download' in html
    r = client.get("/tiny/0-res-test/3/vector")
    assert r.status_code == 200 and "attachment" in r["Content-Disposition"]
    body = json.loads(r.content)
    assert body["vector"] == [0.5, -1.0, 2.0] and body["label"] == "honesty" and body["index"] == 3
    # the embedded page carries no tools and no OpenGraph block
    embed = client.get("/tiny/0-res-test/3?embed=true").content.decode()
    assert "feature-tools" not in embed and "og:title" not in embed


def test_remove_from_a_list_on_the_dashboard(client, make_feature, make_user):
    owner, other = make_user(), make_user()
    feature = make_feature(index=2)
    mine = List.objects.create(owner=owner, name="mine")
    theirs = List.objects.create(owner=other, name="theirs")
    for lst in (mine, theirs):
        ListItem.objects.create(list=lst, feature=feature)
    client.force_login(owner)
    html = client.get("/tiny/0-res-test/2").content.decode()
    assert 'aria-label="Remove from list mine"' in html and "Remove from list theirs" not in html
    r = client.post("/tiny/0-res-test/2/list/remove", {"list_id": mine.pk}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "Remove from list mine" not in r.content.decode()
    assert not ListItem.objects.filter(list=mine).exists()
    # someone else's list: a clear error, nothing removed
    r = client.post("/tiny/0-res-test/2/list/remove", {"list_id": theirs.pk}, HTTP_HX_REQUEST="true")
    assert r.status_code == 400 and "not found" in r.content.decode().lower()
    assert ListItem.objects.filter(list=theirs).exists()
    r = client.post("/tiny/0-res-test/2/list/remove", {"list_id": "x"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 400 and "must be an integer list id" in r.content.decode()
    client.logout()
    r = client.post("/tiny/0-res-test/2/list/remove", {"list_id": theirs.pk})
    assert r.status_code == 302 and "login" in r["Location"]
