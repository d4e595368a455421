"""Small things found walking the pages (issue 16): a source set's "random feature" link picks a
feature of that source; the model page offers its owner "+ Add SAEs to this model" (nobody else)."""


def test_random_feature_of_one_source(client, make_source, make_feature):
    a = make_source(layer=0, set_name="res-x")
    b = make_source(layer=1, set_name="res-x")
    make_feature(source=a, index=3)
    make_feature(source=b, index=7)
    page = client.get("/tiny/res-x").content.decode()
    assert 'href="/random?model=tiny&amp;source=1-res-x"' in page
    for _ in range(5):
        assert client.get("/random?model=tiny&source=1-res-x")["Location"] == "/tiny/1-res-x/7"
    assert client.get("/random?model=tiny&source=9-nope").status_code == 404


def test_model_page_offers_its_owner_to_add_saes(client, make_user):
    from models_app.models import Model

    owner, other = make_user(), make_user()
    Model.objects.create(name="mine", layers=1, owner=owner, local_path="/models/mine")
    client.force_login(other)
    page = client.get("/mine").content.decode()
    assert "+ Add SAEs to this model" not in page and "1 layer · local folder" in page
    client.force_login(owner)
    page = client.get("/mine").content.decode()
    assert 'href="/sae/new?model=mine"' in page and "+ Add SAEs to this model" in page
