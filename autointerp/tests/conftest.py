"""Fixtures: a scripted OpenAI-compatible server over real HTTP, and a feature with activations."""

from __future__ import annotations

import pytest

from autointerp.tests.llm_server import ScriptedLLM


@pytest.fixture
def llm(settings):
    server = ScriptedLLM().start()
    settings.OPENAI_BASE_URL = server.url
    settings.OPENAI_API_KEY = "server-key"
    settings.AUTOINTERP_EXPLAINER_MODEL = "scripted-explainer"
    settings.AUTOINTERP_SCORER_MODEL = "scripted-scorer"
    settings.AUTOINTERP_BACKOFF_S = 0.0
    settings.AUTOINTERP_MAX_RETRIES = 2
    settings.AUTOINTERP_TIMEOUT_S = 10.0  # hang tests set their own short timeout
    settings.AUTOINTERP_EMBED_ON_WRITE = False
    yield server
    server.close()


# Activating texts: three about cats (peak on " cat"), one about dogs; plus two zero texts.
ACTIVATING = [
    (["Ġthe", "Ġcat", "Ġsat"], [0.0, 4.0, 0.5]),
    (["Ġmy", "Ġcat", "Ġran"], [0.1, 3.0, 0.0]),
    (["Ġa", "Ġcat", "Ġslept"], [0.0, 2.0, 0.2]),
    (["Ġthe", "Ġdog", "Ġbarked"], [0.0, 1.0, 0.0]),
]
ZERO = [
    (["Ġstocks", "Ġfell", "Ġtoday"], [0.0, 0.0, 0.0]),
    (["Ġrain", "Ġis", "Ġcoming"], [0.0, 0.0, 0.0]),
]


@pytest.fixture
def cat_feature(make_feature, make_source):
    from features.models import Activation

    source = make_source(model="tiny", set_name="res-ai", layer=0)
    feature = make_feature(source=source, index=3, pos_str=["Ġmeow", "Ġkitten"], pos_values=[1.0, 0.9])
    rows = []
    for tokens, values in ACTIVATING + [ACTIVATING[0]] + ZERO:  # a duplicate text is de-duplicated
        top = max(values)
        rows.append(
            Activation(
                feature=feature,
                tokens=tokens,
                values=values,
                max_value=top,
                max_value_token_index=values.index(top),
            )
        )
    Activation.objects.bulk_create(rows)
    return feature


@pytest.fixture
def signed_in(api_client, make_user):
    user = make_user()
    api_client.force_authenticate(user)
    api_client.user = user
    return api_client
