"""Inputs of a batch run: feature index ranges, and many features' examples in one query."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from autointerp.explainers import Example
from features.models import Activation
from features.tokens import token_display
from neuronsite.errors import ValidationFailed

FIRST_CHUNK = 64  # features read before the first calls start
CHUNK = 256  # features read per query after that
FETCH_ROWS = 256  # activation rows turned into Python objects at a time


@dataclass(frozen=True)
class IndexRange:
    start: int
    stop: int  # exclusive

    @classmethod
    def parse(cls, text: str | None) -> IndexRange | None:
        """``"a:b"`` (b exclusive), ``"a:"`` or ``":b"``; ``None`` for all features."""
        if not text:
            return None
        try:
            a, _, b = text.partition(":")
            start = int(a) if a.strip() else 0
            stop = int(b) if b.strip() else 2**31 - 1
        except ValueError:
            raise ValidationFailed(f"must look like 0:100, got {text!r}", field="features") from None
        if not _ or start < 0 or stop <= start:
            raise ValidationFailed(f"must look like 0:100 with start < stop, got {text!r}", field="features")
        return cls(start, stop)

    def __str__(self) -> str:
        return f"{self.start}:{self.stop}"


def examples_by_feature(feature_ids: list[int], *, n: int, positive: bool) -> dict[int, list[Example]]:
    """Top (or zero) examples of many features in one query, de-duplicated by text.

    One LATERAL index scan per feature (``activation_feature_max``, stopping after ``3n`` rows, the
    margin for duplicates) rather than a window over all of each feature's activations: features
    in real use hold thousands of rows, and a batch run reads these while its calls are in flight."""
    if not feature_ids:
        return {}
    table = connection.ops.quote_name(Activation._meta.db_table)
    sign = ">" if positive else "<="
    sql = f"""
        SELECT f.id, a.tokens, a."values"
        FROM unnest(%s::bigint[]) WITH ORDINALITY AS f(id, ord)
        CROSS JOIN LATERAL (
            SELECT tokens, "values", max_value, id FROM {table}
            WHERE feature_id = f.id AND max_value {sign} 0
            ORDER BY max_value DESC, id
            LIMIT %s
        ) AS a
        ORDER BY f.ord, a.max_value DESC, a.id"""
    out: dict[int, list[Example]] = {}
    seen: dict[int, set] = {}
    shown = _DISPLAY.__getitem__  # token_display once per distinct token (the hot loop stays in C)
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(feature_ids), n * 3])
        for fid, tokens, values in _rows(cursor):
            bucket = out.setdefault(fid, [])
            if len(bucket) >= n or not tokens:
                continue
            # real[] arrives as a list of Python floats already: no per-value conversion
            example = Example(tokens=list(map(shown, tokens)), values=values)
            text, texts = example.text, seen.setdefault(fid, set())
            if text in texts:
                continue
            texts.add(text)
            bucket.append(example)
    return out


def _rows(cursor, size: int = FETCH_ROWS):
    """The result in slices: psycopg turns rows into Python objects in C without releasing the
    GIL, so one ``fetchall`` of a big chunk stalled the batch's event loop thread for its whole
    length; a slice of rows lets it in between."""
    while rows := cursor.fetchmany(size):
        yield from rows


class _Display(dict):
    """raw token -> display token, filled on first sight; bounded so a long-lived worker that
    reads many vocabularies does not grow without end."""

    LIMIT = 262144

    def __missing__(self, raw: str) -> str:
        if len(self) >= self.LIMIT:
            self.clear()
        value = self[raw] = token_display(raw)
        return value


_DISPLAY = _Display()
