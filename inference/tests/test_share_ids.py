"""Share ids (issue 10): saved searches and steering results are reached by an unguessable id
(>= 128 random bits), never by their sequential key; anonymous searches are capped."""

from __future__ import annotations

import re

from inference.tests.test_search_cossim import TEXT

SHARE_ID = re.compile(r"^[A-Za-z0-9_-]{22,}$")


def test_search_and_steer_share_ids_are_random_and_keys_are_not_urls(api_client, tiny):
    from inference.models import SavedSearch, SteerOutput

    search = api_client.post(
        "/api/search-all",
        {"modelId": "tiny", "sourceSet": "res-tiny", "text": TEXT, "numResults": 5},
        format="json",
    ).json()
    steer = api_client.post(
        "/api/steer",
        {
            "modelId": "tiny",
            "prompt": "Lists are",
            "n_tokens": 3,
            "seed": 1,
            "features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 2, "strength": 3}],
        },
        format="json",
    ).json()
    saved, steered = SavedSearch.objects.get(), SteerOutput.objects.get(kind="STEERED")
    assert search["id"] == saved.share_id and SHARE_ID.match(search["id"])
    assert (
        steer["id"] == steered.share_id and SHARE_ID.match(steer["id"]) and SHARE_ID.match(steer["defaultId"])
    )
    assert api_client.get(f"/api/search-all/{search['id']}").json()["text"] == TEXT
    assert api_client.get(f"/api/steer/{steer['id']}").json()["STEERED"] == steer["STEERED"]
    # The sequential keys lead nowhere.
    assert api_client.get(f"/api/search-all/{saved.pk}").status_code == 404
    assert api_client.get(f"/api/steer/{steered.pk}").status_code == 404
    assert api_client.get("/api/search-all/1").json()["error"]


def test_shared_results_of_a_private_model_are_not_shown_to_others(api_client, tiny, make_user):
    from models_app.models import Model
    from neuronsite.fields import Visibility

    search = api_client.post(
        "/api/search-all",
        {"modelId": "tiny", "sourceSet": "res-tiny", "text": TEXT, "numResults": 5},
        format="json",
    ).json()
    Model.objects.filter(name="tiny").update(visibility=Visibility.PRIVATE, owner=make_user())
    assert api_client.get(f"/api/search-all/{search['id']}").status_code == 404


def test_anonymous_searches_are_capped(settings, api_client, tiny, make_user):
    from inference.models import SavedSearch

    settings.SAVED_SEARCH_MAX_ANONYMOUS = 2
    ids = []
    for n in range(4):
        body = {"modelId": "tiny", "sourceSet": "res-tiny", "text": f"{TEXT} {n}", "numResults": 3}
        ids.append(api_client.post("/api/search-all", body, format="json").json()["id"])
    assert SavedSearch.objects.filter(creator__isnull=True).count() == 2
    assert api_client.get(f"/api/search-all/{ids[-1]}").status_code == 200
    assert api_client.get(f"/api/search-all/{ids[0]}").status_code == 404  # the oldest expired
    # A signed-in user's searches are theirs and are kept.
    api_client.force_authenticate(make_user())
    body = {"modelId": "tiny", "sourceSet": "res-tiny", "text": "kept search", "numResults": 3}
    mine = api_client.post("/api/search-all", body, format="json").json()["id"]
    assert SavedSearch.objects.filter(share_id=mine, creator__isnull=False).exists()
