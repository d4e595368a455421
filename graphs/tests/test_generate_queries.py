"""The checks on a generation's path cost one query each (bench/graphs: every round trip counts in
a graph job's fixed cost), and the one-query paths answer what the step-by-step selectors do,
errors included."""

from __future__ import annotations

import pytest


def _prepare(**kw):
    from graphs.services.generate import graph_generate_prepare

    return graph_generate_prepare(user=None, model_name="gtiny", prompt="hi", **kw)


def test_prepare_is_one_query_and_agrees_with_the_step_by_step_selectors(
    graph_model, django_assert_num_queries
):
    from graphs import selectors

    with django_assert_num_queries(1):
        request = _prepare(source_set_name="tc", slug="one")
    assert (request.model_name, request.source_set_name, request.slug) == ("gtiny", "tc", "one")
    with django_assert_num_queries(1):  # no set named: the model's first graph set by name
        target = selectors.graph_target(model_name="gtiny", set_name=None, user=None, slug="x")
    model = selectors.model_for_graphs(model_name="gtiny", user=None)
    source_set = selectors.transcoder_set_for(model=model, set_name=None, user=None)
    assert (target.model, target.source_set, target.slug_taken) == (model, source_set, False)
    assert (
        target.ref
        == selectors.transcoder_ref(source_set=source_set)
        == str(graph_model["set"].sources.first().config["set_folder"])
    )


@pytest.mark.parametrize(
    ("kw", "error", "needle"),
    [
        ({"model_name": "nope"}, "NotFound", "Model 'nope' not found"),
        ({"source_set_name": "missing"}, "NotFound", "Source set 'gtiny/missing' not found"),
        ({"source_set_name": "res"}, "Conflict", "has no transcoders"),
        ({"slug": "bad slug!"}, "ValidationFailed", "Invalid scan or slug"),
        ({"slug": "taken"}, "ValidationFailed", "Model + Slug/ID Exists"),
        ({"disabled": True, "source_set_name": "missing"}, "Conflict", "inference disabled"),
    ],
)
def test_prepare_errors_come_in_their_usual_order(graph_model, kw, error, needle):
    from graphs.models import GraphMetadata
    from graphs.services.generate import graph_generate_prepare

    GraphMetadata.objects.create(model=graph_model["model"], slug="taken", file="graphs/x.json.gz")
    if kw.pop("disabled", False):
        graph_model["model"].inference_enabled = False
        graph_model["model"].save()
    args = {"model_name": "gtiny", "prompt": "hi", "source_set_name": "tc", **kw}
    with pytest.raises(Exception) as caught:
        graph_generate_prepare(user=None, **args)
    assert type(caught.value).__name__ == error
    assert needle in str(caught.value) + str(getattr(caught.value, "extra", ""))


def test_labels_densities_and_queue_depth_are_one_query_each(graph_model, django_assert_num_queries):
    from features.models import Explanation, Feature
    from graphs.services.generate import graph_labels_apply
    from graphs.services.jobs import gpu_queue_depth
    from neuronsite.jobs.models import Job

    source = graph_model["set"].sources.get(layer=1)
    feature = Feature.objects.create(source=source, index=3, frac_nonzero=0.5)
    Explanation.objects.create(feature=feature, description="older")
    Explanation.objects.create(feature=feature, description="newer")
    Explanation.objects.create(feature=feature, description="hidden", status=Explanation.Status.HIDDEN)
    Feature.objects.create(source=source, index=4)  # no density, no explanation
    node = {"feature_type": "cross layer transcoder", "clerp": ""}
    data = {
        "nodes": [
            {**node, "node_id": "1_3_2"},
            {**node, "node_id": "1_4_2"},
            {**node, "node_id": "0_3_2"},  # same index, other layer: nothing
            {**node, "node_id": "1_3_5", "clerp": "kept"},  # a label already there stays
        ]
    }
    with django_assert_num_queries(1):
        assert graph_labels_apply(data=data, source_set=graph_model["set"]) == 1
    first, second, other, kept = data["nodes"]
    assert (first["clerp"], first["density"]) == ("newer", 0.5)
    assert second["clerp"] == "" and "density" not in second
    assert other["clerp"] == "" and "density" not in other
    assert (kept["clerp"], kept["density"]) == ("kept", 0.5)
    with django_assert_num_queries(1):
        before = gpu_queue_depth()  # whatever other tests left on the GPU queue, plus graph jobs
    Job.objects.create(kind="graph", title="running", state="running")
    Job.objects.create(kind="graph", title="done", state="succeeded")
    Job.objects.create(kind="other", title="elsewhere", state="running")
    assert gpu_queue_depth() == before + 1


@pytest.mark.parametrize("set_name", ["tc", None])
def test_target_lookup_follows_the_visibility_rule_for_each_kind_of_user(
    graph_model, make_user, set_name, django_assert_num_queries
):
    """The one-query lookup is compiled once per kind of user (anonymous, signed in, staff) and run
    with each caller's values: a private model and set are found (in that one query) for their
    owner and staff only, and the slug asked about is the one checked."""
    from graphs import selectors
    from graphs.models import GraphMetadata
    from neuronsite.errors import NotFound

    owner, other, staff = make_user(), make_user(), make_user(is_staff=True)
    model, source_set = graph_model["model"], graph_model["set"]
    model.visibility, model.owner = "PRIVATE", owner
    model.save()
    source_set.visibility, source_set.owner = "PRIVATE", owner
    source_set.save()
    GraphMetadata.objects.create(model=model, slug="mine", file="graphs/x.json.gz", owner=owner)
    for user in (owner, staff):
        for slug, taken in (("mine", True), ("free", False)):
            with django_assert_num_queries(1):  # found by the one-query lookup, no fallback
                target = selectors.graph_target(model_name="gtiny", set_name=set_name, user=user, slug=slug)
            assert (target.model, target.source_set, target.slug_taken) == (model, source_set, taken)
    for user in (other, None):
        with pytest.raises(NotFound, match="Model 'gtiny' not found"):
            selectors.graph_target(model_name="gtiny", set_name=set_name, user=user, slug="mine")
    # a second signed-in user's own private model, through the same compiled shape
    model.owner = other
    model.save()
    with pytest.raises(NotFound, match="Model 'gtiny' not found"):
        selectors.graph_target(model_name="gtiny", set_name=set_name, user=owner)
    with pytest.raises(NotFound, match="Source set 'gtiny/tc' not found|no transcoder set"):
        selectors.graph_target(model_name="gtiny", set_name=set_name, user=other)


def test_labels_for_many_nodes_are_one_query(graph_model, django_assert_num_queries):
    """Hundreds of nodes: the layers and indices go in as two array parameters."""
    from features.models import Explanation, Feature
    from graphs.selectors import feature_labels_and_densities

    source = graph_model["set"].sources.get(layer=0)
    features = Feature.objects.bulk_create(
        Feature(source=source, index=i, frac_nonzero=i / 1000) for i in range(0, 600, 2)
    )
    Explanation.objects.bulk_create(Explanation(feature=f, description=f"f{f.index}") for f in features[::3])
    keys = {(0, i) for i in range(600)} | {(1, 7)}
    with django_assert_num_queries(1):
        labels, densities = feature_labels_and_densities(source_set=graph_model["set"], keys=keys)
    assert densities == {(0, i): i / 1000 for i in range(0, 600, 2)}
    assert labels == {(0, f.index): f"f{f.index}" for f in features[::3]}
