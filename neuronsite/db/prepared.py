"""Server-side prepared statements for the few hot, fixed-shape reads (bench/load).

Django's psycopg backend binds parameters on the client (``ClientCursor``) and turns psycopg's
prepared statements off (``prepare_threshold=None``, for poolers such as pgbouncer in
transaction mode), so PostgreSQL parses and plans every statement again. For the feature page's
and ``GET /api/feature``'s one big lookup that was most of the server's work: EXPLAIN ANALYZE
on the bench database, planning 0.6 ms (API) and 0.9 ms (page) against 0.5-0.8 ms of execution.

:func:`prepared_cursor` gives a Django cursor (the usual wrapper: query logging, counting,
error translation) whose ``execute`` binds on the server and prepares the statement on its
first run on a connection; later runs on that pooled connection send only the parameters, and
PostgreSQL reuses its plan (a generic one after its first five custom plans, when not worse).
psycopg keeps the per-connection record of what is prepared, drops it on ROLLBACK and the like
(``DEALLOCATE ALL`` follows), and prepares again on the next use. The connection's own
``prepare_threshold`` stays as Django set it for every other statement.

The SQL is the ORM's (``%s`` placeholders) or written out; a parameter whose type PostgreSQL
cannot infer needs a cast (``%s::text``), as with any server-side binding.

Off with ``DATABASE_PREPARED_STATEMENTS=false`` (e.g. behind a pooler that cannot keep them):
the cursor is then Django's plain one.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db.backends.postgresql.base import ServerBindingCursor


class PreparedCursor(ServerBindingCursor):
    """Django's server-binding cursor that prepares every statement it runs."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        from psycopg import errors, pq

        conn = self.connection
        threshold = conn.prepare_threshold
        # psycopg ignores prepare=True while the connection's threshold is None (Django's)
        conn.prepare_threshold = 0
        try:
            try:
                return super().execute(query, params, prepare=True, binary=binary)
            except errors.InvalidSqlStatementName:
                # the server lost what psycopg thinks it prepared: psycopg notices a DEALLOCATE
                # ALL, DISCARD ALL or ROLLBACK only when it runs one itself with preparing on,
                # not one sent through Django's (client-binding) cursors. Outside a transaction
                # nothing else was undone: forget them all (psycopg sends DEALLOCATE ALL after
                # the next statement) and run this one unprepared; the next run prepares it.
                if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    raise
                conn._prepared.clear()  # psycopg 3.3's record of prepared statements
                return super().execute(query, params, prepare=False, binary=binary)
        finally:
            conn.prepare_threshold = threshold


def enabled(connection) -> bool:
    from django.conf import settings

    return connection.vendor == "postgresql" and getattr(settings, "DATABASE_PREPARED_STATEMENTS", True)


@contextmanager
def prepared_cursor(connection):
    """``connection.cursor()`` whose statements are prepared on the server (see module)."""
    if not enabled(connection):
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    raw = connection.connection
    factory = raw.cursor_factory
    raw.cursor_factory = PreparedCursor
    try:
        cursor = connection.cursor()  # Django's create_cursor: raw.cursor(), its time zone loader
    finally:
        raw.cursor_factory = factory
    with cursor:
        yield cursor
