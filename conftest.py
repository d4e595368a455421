"""Shared pytest fixtures: small factories over the real data model (embedded PostgreSQL)."""

from __future__ import annotations

import itertools

import pytest

from neuronsite.fields import Visibility

_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_rate_limit_counts(request):
    """Rate-limit counters live in the cache table (neuronsite/ratelimit.py), which a transactional
    test's flush does not empty: counts of earlier tests in the same process and minute would
    carry over (e.g. 30 anonymous websocket inference frames, then another test's first frame is a
    429). Each test that commits starts with none; the others roll their counts back anyway."""
    marker = request.node.get_closest_marker("django_db")
    if (
        marker is not None and marker.kwargs.get("transaction")
    ) or "transactional_db" in request.fixturenames:
        request.getfixturevalue("transactional_db")
        from django.core.cache import caches

        caches["default"].clear()
    yield


@pytest.fixture
def make_user(db):
    from accounts.models import User

    def make(username: str | None = None, password: str = "correct-horse-battery", **kw) -> User:
        user = User(username=username or f"user{next(_seq)}", **kw)
        user.set_password(password)
        user.save()
        return user

    return make


@pytest.fixture
def make_source(db):
    """Create model + source set + source: ``make_source(model="m", set_name="res-x", layer=0)``."""
    from models_app.models import Model, Source, SourceSet

    def make(
        model: str = "tiny",
        set_name: str = "res-test",
        layer: int = 0,
        visibility=Visibility.PUBLIC,
        owner=None,
        **kw,
    ):
        m, _ = Model.objects.get_or_create(name=model, defaults={"layers": 2, "d_model": 16, "owner": owner})
        ss, _ = SourceSet.objects.get_or_create(
            model=m, name=set_name, defaults={"owner": owner, "type": "sae"}
        )
        return Source.objects.create(
            model=m,
            source_set=ss,
            name=f"{layer}-{set_name}",
            layer=layer,
            hook_name=f"blocks.{layer}.hook_resid_pre",
            d_sae=64,
            visibility=visibility,
            owner=owner,
            **kw,
        )

    return make


@pytest.fixture
def make_feature(db, make_source):
    from features.models import Feature

    def make(source=None, index: int = 0, **kw) -> Feature:
        source = source or make_source()
        defaults = {
            "max_act_approx": 2.5,
            "frac_nonzero": 0.01,
            "pos_str": ["Ġthe", "Ġa"],
            "pos_values": [0.5, 0.4],
            "neg_str": ["Ċ"],
            "neg_values": [-0.3],
        }
        defaults.update(kw)
        return Feature.objects.create(source=source, index=index, **defaults)

    return make


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
