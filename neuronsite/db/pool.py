"""The health check of pooled connections, without a round trip per request.

Django's ``CONN_HEALTH_CHECKS`` with a pool makes psycopg_pool run ``SELECT 1`` on every
checkout (``ConnectionPool.check_connection``): one more round trip per request, on pages that
need one or two (bench/load counted four queries a feature page, one of them this). A connection
the server dropped (restart, ``pg_terminate_backend``, idle timeout) has something to read on its
socket: the server's error message and end of stream. So a checkout first asks the socket,
without waiting, and runs the real check only when the socket is readable or the connection is
not idle; psycopg_pool throws away a connection whose check raises and hands out another.
"""

from __future__ import annotations

import select


def socket_says_healthy(conn) -> bool:
    """True when ``conn`` (a psycopg connection, sync or async) is idle and its socket has
    nothing to read, without waiting; False means "run the real check"."""
    from psycopg import pq

    try:
        idle = conn.pgconn.transaction_status == pq.TransactionStatus.IDLE and not conn.closed
        readable = select.select([conn.pgconn.socket], [], [], 0)[0]
    except Exception:  # noqa: BLE001 - closed, no socket: let the real check say what is wrong
        return False
    return idle and not readable


def check_connection(conn) -> None:
    """``check`` of the psycopg pool (settings ``OPTIONS["pool"]["check"]``): raise when
    ``conn`` is not usable."""
    if socket_says_healthy(conn):
        return
    from psycopg_pool import ConnectionPool

    ConnectionPool.check_connection(conn)
