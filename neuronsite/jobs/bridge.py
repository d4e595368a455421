"""One machine, no Redis: worker processes publish job events with PostgreSQL ``NOTIFY``
(``neuronsite.jobs.rows``: in the writing statement) and each web process runs one listener that forwards them to its
in-memory channel layer. With ``REDIS_URL`` the channel layer itself is shared and this is unused."""

from __future__ import annotations

import asyncio
import json
import logging

from channels.db import database_sync_to_async

from neuronsite.jobs.events import NOTIFY_CHANNEL, group_send_async

logger = logging.getLogger(__name__)
_task: asyncio.Task | None = None
_ready: asyncio.Event | None = None


def _connection_params() -> dict:
    from django.db import connections

    params = connections["default"].get_connection_params()
    for key in ("cursor_factory", "context", "server_side_binding", "prepare_threshold"):
        params.pop(key, None)
    return params


async def ensure_listening() -> None:
    """Start this process's listener once (idempotent) and wait until it listens."""
    global _task, _ready
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _ready = asyncio.Event()
        _task = loop.create_task(_listen(_ready))
    await asyncio.wait_for(_ready.wait(), timeout=30)


async def _listen(ready: asyncio.Event) -> None:
    import psycopg

    params = await database_sync_to_async(_connection_params)()
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                ready.set()
                async for notify in conn.notifies():
                    try:
                        await group_send_async(json.loads(notify.payload))
                    except Exception:
                        logger.exception("could not forward a job event")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("job event listener lost its connection; reconnecting")
            await asyncio.sleep(1)
