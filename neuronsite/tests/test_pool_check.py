"""The pooled connections' health check (neuronsite/db/pool.py): connections the server dropped
are still replaced on checkout (requests after ``pg_terminate_backend`` of every idle pooled
connection answer 200), and a healthy idle connection is handed out without a round trip."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from neuronsite.db.pool import check_connection
from neuronsite.tests.test_asgi_handler import _request

pytestmark = pytest.mark.django_db(transaction=True)


def test_requests_after_the_server_dropped_every_pooled_connection_are_served(make_feature):
    assert connection.pool._check is check_connection
    feature = make_feature(index=3)
    path = f"/api/feature/tiny/{feature.source.name}/3"

    async def some(n: int):
        return await asyncio.gather(*(_request("GET", path) for _ in range(n)))

    assert [status for status, _, _ in asyncio.run(some(4))] == [200] * 4  # the pool holds several
    # the idle connections in the pool go; nothing else (other threads' connections in this
    # test process, e.g. the test runner's own, belong to other tests)
    pooled = [c.info.backend_pid for c in list(connection.pool._pool)]
    assert pooled
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
            " WHERE pid = ANY(%s) AND pid <> pg_backend_pid()) t",
            [pooled],
        )
        (terminated,) = cur.fetchone()
    assert terminated >= 1
    for _ in range(2):  # one at a time, then together: every dead connection is replaced
        assert asyncio.run(_request("GET", path))[0] == 200
        assert [status for status, _, _ in asyncio.run(some(4))] == [200] * 4


def test_a_healthy_idle_connection_passes_without_a_query():
    import psycopg

    params = {**connection.get_connection_params(), "autocommit": True}
    params.pop("pool", None)
    params.pop("cursor_factory", None)
    with psycopg.connect(**params) as conn, psycopg.connect(**params) as watcher:
        conn.execute("SELECT 'last statement'")
        check_connection(conn)
        (last,) = watcher.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", [conn.info.backend_pid]
        ).fetchone()
        assert last == "SELECT 'last statement'"
        with conn.transaction():  # not idle (in a transaction): the full check runs
            conn.execute("SELECT 'in a transaction'")
            check_connection(conn)
            (last,) = watcher.execute(
                "SELECT query FROM pg_stat_activity WHERE pid = %s", [conn.info.backend_pid]
            ).fetchone()
            assert last != "SELECT 'in a transaction'"
        watcher.execute("SELECT pg_terminate_backend(%s, 10000)", [conn.info.backend_pid])
        with pytest.raises(psycopg.OperationalError):
            check_connection(conn)
