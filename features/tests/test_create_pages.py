"""Adding data from the browser (issue 16, item 13): /model/new and /sae/new call the same
services as the API; their validation errors show on the form (400) and nothing is written."""

from models_app.models import Model, Source, SourceSet


def test_model_new_and_sae_new(client, make_user, tmp_path):
    user = make_user()
    assert client.get("/model/new").status_code == 302  # sign in first
    client.force_login(user)
    html = client.get("/").content.decode()
    assert 'href="/model/new"' in html and 'href="/sae/new"' in html
    r = client.post(
        "/model/new",
        {
            "id": "my-gpt",
            "display_name": "My GPT",
            "creator_name": "Me",
            "layers": 3,
            "d_model": 64,
            "tl_model_name": "gpt2-small",
            "visibility": "PUBLIC",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/my-gpt"
    m = Model.objects.get(name="my-gpt")
    assert (m.owner, m.layers, m.tl_model_name, m.creator_name, m.visibility) == (
        user,
        3,
        "gpt2-small",
        "Me",
        "PUBLIC",
    )

    folder = tmp_path / "sae2"
    folder.mkdir()
    r = client.post(
        "/sae/new",
        {
            "model": "my-gpt",
            "name": "res-me",
            "description": "Mine",
            "type": "sae",
            "hook_template": "blocks.{layer}.hook_resid_post",
            "creator_name": "Me",
            "loading": "0 gpt2-small-res-jb blocks.0.hook_resid_pre\n# comment\n2 " + str(folder),
            "visibility": "PUBLIC",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/my-gpt/res-me"
    sources = {s.layer: s for s in Source.objects.filter(source_set__name="res-me")}
    assert sorted(sources) == [0, 1, 2]
    assert (sources[0].sae_release, sources[0].sae_id) == ("gpt2-small-res-jb", "blocks.0.hook_resid_pre")
    assert sources[2].local_path == str(folder) and sources[1].hook_name == "blocks.1.hook_resid_post"
    assert client.get("/my-gpt/res-me").status_code == 200


def test_forms_show_the_services_errors_and_write_nothing(client, make_user):
    owner, other = make_user(), make_user()
    client.force_login(owner)
    client.post("/model/new", {"id": "m1", "layers": 2, "visibility": "UNLISTED"})
    cases = [
        ({"id": "m1", "layers": 2, "visibility": "UNLISTED"}, "already exists"),
        ({"id": "bad id!", "layers": 2, "visibility": "UNLISTED"}, "is not valid"),
        ({"id": "m2", "layers": -1, "visibility": "UNLISTED"}, "greater than or equal to 0"),
        (
            {"id": "m3", "layers": 1, "tl_model_name": "gpt2", "local_path": "/x", "visibility": "UNLISTED"},
            "not both",
        ),
    ]
    for data, message in cases:
        r = client.post("/model/new", data)
        assert r.status_code == 400 and message in r.content.decode(), message
    assert list(Model.objects.values_list("name", flat=True)) == ["m1"]
    sae_cases = [
        ({"name": "res-x", "loading": "5 rel id"}, "outside the model"),
        ({"name": "res-x", "loading": "x rel id"}, "start with the layer number"),
        ({"name": "res-x", "loading": "0 rel"}, "LAYER RELEASE SAE_ID"),
        ({"name": "res-x", "loading": "0 a b\n0 c d"}, "given twice"),
        ({"name": "res-x", "loading": "1 /no/such/sae-folder"}, "layer 1: no folder at /no/such/sae-folder"),
        ({"name": "res-x", "hook_template": "blocks.{lyr}.x"}, "may only use {layer}"),
        ({"name": "bad name!"}, "is not valid"),
    ]
    for extra, message in sae_cases:
        r = client.post("/sae/new", {"model": "m1", "type": "sae", "visibility": "UNLISTED", **extra})
        assert r.status_code == 400 and message in r.content.decode(), message
    assert not SourceSet.objects.exists() and not Source.objects.exists()
    client.post("/sae/new", {"model": "m1", "name": "res-ok", "type": "sae", "visibility": "UNLISTED"})
    r = client.post("/sae/new", {"model": "m1", "name": "res-ok", "type": "sae", "visibility": "UNLISTED"})
    assert r.status_code == 400 and "already exists" in r.content.decode()
    # someone else's model is not offered
    client.force_login(other)
    r = client.post(
        "/sae/new", {"model": "m1", "name": "res-theirs", "type": "sae", "visibility": "UNLISTED"}
    )
    assert r.status_code == 400 and "Select a valid choice" in r.content.decode()
    assert "You own no model yet" in client.get("/sae/new").content.decode()
