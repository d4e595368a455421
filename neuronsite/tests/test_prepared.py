"""Server-side prepared statements for the hot reads (neuronsite/db/prepared.py): the feature
API's and the feature page's lookups are prepared on the connection (PostgreSQL lists them in
``pg_prepared_statements``), answer the same bytes as with preparing off, and keep answering
after a ROLLBACK (which drops psycopg's record of them) and on another user kind."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import Client

from features.models import Activation

pytestmark = pytest.mark.django_db(transaction=True)


def _prepared_statements() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cur.fetchall()]


def _feature(make_feature):
    feature = make_feature(index=3)
    for i in range(3):
        Activation.objects.create(
            feature=feature, tokens=["a", "Ġb", "c"], values=[0.0, 0.5 * i, 0.25], max_value=0.5 * i
        )
    return feature


def test_feature_reads_are_prepared_once_and_answer_the_same(make_feature, settings, django_user_model):
    feature = _feature(make_feature)
    api = f"/api/feature/{feature.source.model.name}/{feature.source.name}/3"
    page = f"/{feature.source.model.name}/{feature.source.name}/3"
    client = Client()  # the test's own thread: the same connection as this test's queries

    # this pooled connection may have served earlier tests
    with connection.cursor() as cur:
        cur.execute("DEALLOCATE ALL")
    settings.DATABASE_PREPARED_STATEMENTS = False
    plain_api, plain_page = client.get(api), client.get(page)
    assert plain_api.status_code == plain_page.status_code == 200
    assert not [s for s in _prepared_statements() if "features_activation" in s]

    settings.DATABASE_PREPARED_STATEMENTS = True
    first, again = client.get(api), client.get(api)
    statements = [s for s in _prepared_statements() if "features_activation" in s]
    assert len(statements) == 1 and "$1" in statements[0]  # bound on the server
    third = client.get(api)
    assert first.content == again.content == third.content == plain_api.content
    assert len([s for s in _prepared_statements() if "features_activation" in s]) == 1  # reused

    # dropped behind psycopg's back (not seen through Django's cursor): still answered, then
    # prepared again
    with connection.cursor() as cur:
        cur.execute("DEALLOCATE ALL")
    assert client.get(api).content == plain_api.content
    assert client.get(api).content == plain_api.content
    assert len([s for s in _prepared_statements() if "features_activation" in s]) == 1
    prepared_page = client.get(page)
    assert len([s for s in _prepared_statements() if "features_activation" in s]) == 2
    strip = lambda r: r.content.split(b'name="csrf-token"')[0]  # noqa: E731 - the token differs
    assert strip(prepared_page) == strip(plain_page)

    # a rolled-back transaction makes psycopg forget (and deallocate) what it prepared
    with pytest.raises(RuntimeError), transaction.atomic():
        connection.cursor().execute("SELECT 1")
        raise RuntimeError("roll back")
    assert client.get(api).content == plain_api.content
    assert [s for s in _prepared_statements() if "features_activation" in s]
    assert client.get(page).status_code == 200

    # a signed-in user's lookup (another statement: the visibility rule differs) is prepared too
    client.force_login(django_user_model.objects.create(username="reader"))
    assert client.get(api).status_code == 200
    assert client.get(api).content == plain_api.content
    assert [s for s in _prepared_statements() if "features_activation" in s]
