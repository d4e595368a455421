"""eleuther_acts_top20 sends exactly the prompt delphi's own DefaultExplainer builds.

We write delphi's format in one pass (delphi's ``_join_activations`` recomputes the max for every
token); these tests hold our prompt, from the API and from a batch run, to delphi's own
``DefaultExplainer._build_prompt`` on the same record, on texts that reach its edge cases: more
than eleven tokens above the threshold, a value exactly at it, negative values, a highlighted run
at the end of a text, a text whose max is below the feature's top."""

from __future__ import annotations

import random

import pytest
from django.core.management import call_command

from autointerp.explainers import Example, delphi_record
from features.models import Activation
from features.tokens import token_display

WORDS = ["Ġthe", "Ġcat", "Ġsat", "Ġon", "Ġa", "Ġmat", "Ċ", "Ġand", "Ġslept", "Ġ\u00e9t\u00e9"]


def _texts() -> list[tuple[list[str], list[float]]]:
    rng = random.Random(13)
    texts = []
    for _ in range(6):
        tokens = [rng.choice(WORDS) for _ in range(24)]
        values = [round(rng.uniform(-1.0, 4.0), 3) for _ in tokens]
        texts.append((tokens, values))
    texts[0][1][:] = [5.0] * 14 + [0.0] * 9 + [5.0]  # 15 above: delphi lists 11; a run at the end
    texts[1][1][:] = [4.0, 1.2, 1.2000001] + [0.0] * 21  # 1.2 is exactly 0.3 x 4.0
    texts[2][1][:] = [-0.5] * 23 + [0.25]  # a small max: its own threshold, the feature's scale
    return texts


def _expected(texts) -> list[dict]:
    """delphi's DefaultExplainer prompt for the examples as the feature's top list orders them."""
    from autointerp.delphi_adapter import delphi

    ordered = sorted(texts, key=lambda t: -max(t[1]))
    examples = [
        Example(tokens=[token_display(t) for t in tokens], values=values) for tokens, values in ordered
    ]
    explainer = delphi().DefaultExplainer(client=None, threshold=0.3, activations=True, cot=False)
    return explainer._build_prompt(delphi_record(examples).train)


@pytest.fixture
def tricky_feature(make_feature, make_source):
    source = make_source(model="tiny", set_name="res-ai", layer=0)
    feature = make_feature(source=source, index=3)
    texts = _texts()
    Activation.objects.bulk_create(
        Activation(feature=feature, tokens=tokens, values=values, max_value=max(values))
        for tokens, values in texts
    )
    return texts


def test_api_prompt_equals_delphis_own(llm, tricky_feature, signed_in):
    llm.answer = lambda messages: "[EXPLANATION]: cats"
    body = {"modelId": "tiny", "layer": "0-res-ai", "index": 3, "explanationType": "eleuther_acts_top20"}
    response = signed_in.post("/api/explanation/generate", body, format="json")
    assert response.status_code == 200, response.json()
    sent = llm.chat_requests()[0]
    assert sent["messages"] == _expected(tricky_feature)
    assert (sent["temperature"], sent["max_tokens"]) == (0.0, 1000)
    assert response.json()["explanation"]["description"] == "cats"


def test_batch_prompt_equals_delphis_own(llm, tricky_feature):
    llm.answer = lambda messages: "[EXPLANATION]: cats"
    call_command(
        "generate_explanations", "--model", "tiny", "--source", "0-res-ai", "--type", "eleuther_acts_top20",
        verbosity=0,
    )  # fmt: skip
    assert [r["messages"] for r in llm.chat_requests()] == [_expected(tricky_feature)]
