"""The semantic search API page's statement as a prepared statement of each database connection.

A custom plan of the page's statement (ten tables, the page's JSON) cost 1.5-5 ms of parsing and
planning per call on the dev machine; prepared once per connection and executed with its generic
plan (``plan_cache_mode`` force_generic_plan, set with the ranking's other planner settings) it
costs ~0.2 ms, the same plan. The PREPARE goes in the same round trip as the first EXECUTE.
Prepared statements are not transactional (a rolled-back PREPARE stays), so a name is never
reused: a failed call may leave its statement prepared on the server, unused. The server may also
lose them (DISCARD ALL, a pooler handing out another session): ``autointerp.selectors`` then
forgets this connection's names and prepares again. EXPLANATION_SEARCH_PREPARED=False turns it off.
"""

from __future__ import annotations

import itertools
import os
import re
import weakref

from django.conf import settings
from django.db import connection

ENABLED = bool(getattr(settings, "EXPLANATION_SEARCH_PREPARED", True))
# per database connection (the psycopg connection object: pooled ones live across requests):
# statement text -> its name on the server, oldest first
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PREPARED_MAX = 8  # each holds ~630 kB of the server backend's memory (its parse tree and plan)
_ids = itertools.count()


def _dollar_params(sql: str) -> str:
    """``sql`` with its ``%s`` placeholders numbered as PREPARE wants them (``$1``, ``$2``, ...);
    ``%%`` stays (the PREPARE text still goes through the driver's formatting)."""
    numbers = itertools.count(1)
    return re.sub(r"%%|%s", lambda m: m.group(0) if m.group(0) == "%%" else f"${next(numbers)}", sql)


def prepared_statement(sql: str, params: list) -> tuple[str, str, dict, str]:
    """``(statements before, the EXECUTE of sql's prepared statement, this connection's names,
    the name)``: the PREPARE (and the DEALLOCATE of the oldest past _PREPARED_MAX) when this
    connection has not prepared ``sql`` yet. The caller records ``names[sql] = name`` once the
    round trip succeeded."""
    connection.ensure_connection()
    names = _PREPARED.setdefault(connection.connection, {})
    name, before = names.get(sql), ""
    if name is None:
        name = f"explanation_search_{os.getpid()}_{next(_ids)}"
        before = f"PREPARE {name} AS {_dollar_params(sql)}; "
        if len(names) >= _PREPARED_MAX:
            before = f"DEALLOCATE {names.pop(next(iter(names)))}; {before}"
    return before, f"EXECUTE {name}({', '.join(['%s'] * len(params))})", names, name


def forget_prepared() -> None:
    """Forget this connection's prepared statements (the server lost them)."""
    _PREPARED.pop(connection.connection, None)
