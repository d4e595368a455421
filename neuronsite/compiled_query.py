"""Querysets compiled once per shape and run again with new values.

For the small lookups on a hot path the ORM's compile (building the queryset, resolving its
expressions, writing the SQL) costs more CPU than PostgreSQL's run of the statement: measured
(bench/graphs) ~2 ms for a job row locked with its owner, ~6 ms for a graph generation's target
(model, transcoder set, first source, slug taken), ~4 ms for the labels of a graph's nodes, where
PostgreSQL plans and runs each in under 1 ms. Here the queryset is built once with stand-in
values (``sentinel``), compiled, and each call puts the real values into the compiled
parameters; rows become instances exactly as ``ModelIterable`` makes them (``select_related``
and annotations included), or tuples for a ``values_list`` queryset.

The queryset is still written with the ORM (the visibility rule is still ``visible_to``); only
its compile is kept. Values that change the SQL's shape (a user's kind: anonymous, signed in,
staff; an optional filter left out) are part of the cache key. ``features/selectors_fast.py``
uses it for the feature page (and its user stand-ins for the feature API's values lookup).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.db.transaction import TransactionManagementError

_INT_BASE = -2_000_000_101  # ints the lookups below never see as real values


def sentinel_str(name: str) -> str:
    """A stand-in for a string value while a query shape is compiled."""
    return f"\x00{name}\x00"


def sentinel_int(number: int) -> int:
    """A stand-in for an integer value (``number`` keeps two of them apart)."""
    return _INT_BASE - 2 * number


class _UserStandIn(int):
    """A signed-in user while the visibility rule is compiled: an int (the ORM takes it as the
    owner's primary key) that carries the flags the rule reads."""

    is_authenticated = True
    is_staff = False

    @property
    def pk(self) -> int:
        return int(self)


class _StaffStandIn(_UserStandIn):
    is_staff = True


class _AnonymousStandIn:
    is_authenticated = False
    is_staff = False
    pk = None


USER_ID = sentinel_int(0)


def user_kind(user) -> str:
    """The part of a user that shapes the visibility rule's SQL."""
    if user is None or not user.is_authenticated:
        return "anonymous"
    return "staff" if user.is_staff else "user"


def user_stand_in(kind: str):
    """A user of ``kind`` for compiling; its id (when signed in) is the sentinel ``USER_ID``."""
    if kind == "anonymous":
        return _AnonymousStandIn()
    return _StaffStandIn(USER_ID) if kind == "staff" else _UserStandIn(USER_ID)


class CompiledQuery:
    """One queryset's SQL, with the positions of its sentinel values among the parameters."""

    def __init__(self, qs: QuerySet, sentinels: dict[str, Any], *, prepare: bool = False):
        from django.db.models.query import FlatValuesListIterable, ModelIterable, ValuesListIterable

        compiler = qs.query.get_compiler(using=qs.db)
        sql, params = compiler.as_sql()
        self.db, self.sql, self.params = qs.db, sql, tuple(params)
        self.locks = bool(qs.query.select_for_update)
        self.prepare = prepare  # a server-side prepared statement (neuronsite/db/prepared.py)
        self.slots: list[tuple[int, str]] = []
        for i, p in enumerate(params):
            for name, sentinel in sentinels.items():
                if isinstance(sentinel, list):
                    found = p is sentinel
                else:  # ints come wrapped (psycopg's Int4, Int8): compare by kind and value
                    same_kind = isinstance(p, str) if isinstance(sentinel, str) else isinstance(p, int)
                    found = same_kind and p == sentinel
                if found:
                    self.slots.append((i, name))
        missing = set(sentinels) - {name for _, name in self.slots}
        if missing:
            raise RuntimeError(f"compiled query: values {sorted(missing)} not found in {params!r}")
        select = compiler.select
        self.converters = compiler.get_converters([s[0] for s in select[: compiler.col_count]])
        self.kind = qs._iterable_class
        if self.kind is ModelIterable:
            from django.db.models.query import get_related_populators

            klass_info = compiler.klass_info
            self.model_cls = klass_info["model"]
            fields = klass_info["select_fields"]
            self.start, self.end = fields[0], fields[-1] + 1
            self.init_list = [f[0].target.attname for f in select[self.start : self.end]]
            self.populators = get_related_populators(klass_info, select, self.db)
            self.annotations = dict(compiler.annotation_col_map)
        elif self.kind not in (ValuesListIterable, FlatValuesListIterable):
            raise TypeError("compiled query: a model or values_list queryset")

    def _execute(self, values: dict[str, Any]) -> list[tuple]:
        connection = connections[self.db]
        if self.locks and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(self.params)
        for i, name in self.slots:
            value = values[name]
            if isinstance(value, (list, tuple, set, frozenset)):
                value = list(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                value = type(self.params[i])(value)
            params[i] = value
        if self.prepare:
            from neuronsite.db.prepared import prepared_cursor

            cursor_cm = prepared_cursor(connection)
        else:
            cursor_cm = connection.cursor()
        with cursor_cm as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters and rows:
            rows = [self._convert(row, connection) for row in rows]
        return rows

    def _convert(self, row: tuple, connection) -> tuple:
        row = list(row)
        for pos, (convs, expression) in self.converters.items():
            value = row[pos]
            for converter in convs:
                value = converter(value, expression, connection)
            row[pos] = value
        return tuple(row)

    def rows(self, **values) -> list:
        """Every row: instances for a model queryset, tuples (or values) for ``values_list``."""
        from django.db.models.query import FlatValuesListIterable, ModelIterable

        rows = self._execute(values)
        if self.kind is ModelIterable:
            return [self._instance(row) for row in rows]
        if self.kind is FlatValuesListIterable:
            return [row[0] for row in rows]
        return rows

    def first(self, **values):
        """The first row (the queryset orders and limits itself), or None."""
        rows = self.rows(**values)
        return rows[0] if rows else None

    def _instance(self, row: tuple):
        obj = self.model_cls.from_db(self.db, self.init_list, row[self.start : self.end])
        for populator in self.populators:
            populator.populate(row, obj)
        for name, position in self.annotations.items():
            setattr(obj, name, row[position])
        return obj


_lock = threading.Lock()
_cache: dict[Hashable, CompiledQuery] = {}


def compiled(
    key: Hashable, build: Callable[[], tuple[QuerySet, dict[str, Any]]], *, prepare: bool = False
) -> CompiledQuery:
    """The query for ``key``, compiled on first use from ``build()`` → (queryset, {value name:
    sentinel}). ``key`` names everything that shapes the SQL. With ``prepare``, PostgreSQL
    prepares it once per connection (neuronsite/db/prepared.py)."""
    query = _cache.get(key)
    if query is None:
        with _lock:
            query = _cache.get(key)
            if query is None:
                qs, sentinels = build()
                query = _cache[key] = CompiledQuery(qs, sentinels, prepare=prepare)
    return query
