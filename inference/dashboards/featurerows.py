"""The generator's feature rows, validated column by column instead of feature by feature.

``features.importers.validation.normalize_features`` checks one feature dict at a time (a few
dozen Python calls per feature, most of them on absent keys): at a realistic SAE width that was
the longest part of the COPY rows (``copyrows.py``). :func:`normalize_columns` gives exactly its
output (same dicts, same key order, same list objects where it keeps them, the same ints and
floats) for a batch whose every check passes, with each check made once over a whole column (all
the features' values of one key at once: ``set(map(type, ...))``, ``sum``, ``max``). It accepts
only the common shapes; anything else (a check that fails, a string index, an integral float
where an int belongs) returns ``None`` and the caller runs ``normalize_features``, which accepts
the rarer shapes or names the feature and the field of the problem. User files keep the
importers' own path; the test ``inference/tests/test_dashboards_featurerows.py`` compares the two,
type for type.
"""

from __future__ import annotations

import math
import operator
from itertools import chain

from features.importers.validation import (
    FLOAT32_MAX,
    FLOAT_ARRAYS,
    FLOAT_SCALARS,
    INT_ARRAYS,
    MAX_INDEX,
    PAIRED,
    REQUIRED_FEATURE_KEYS,
    TEXT_ARRAYS,
)

_NONE = type(None)
# the columns of DashboardArrays.feature_dicts that feature_rows checks on the arrays
TRUSTED = frozenset({
    "feature_index", "pos_str", "pos_values", "neg_str", "neg_values", "freq_hist_data_bar_heights",
    "freq_hist_data_bar_values", "logits_hist_data_bar_heights", "logits_hist_data_bar_values",
    "frac_nonzero", "max_act_approx", "activation_quantiles", "activations",
})  # fmt: skip
_TRUSTED_INTS = ("freq_hist_data_bar_heights", "logits_hist_data_bar_heights")


def _lists(column: list) -> list | None:
    """The column with ``None`` as ``[]`` (a new list each, as ``check_*_list`` returns), or
    ``None`` when an entry is neither a list nor ``None``."""
    kinds = set(map(type, column))
    if not kinds <= {list, _NONE}:
        return None
    return [[] if v is None else v for v in column] if _NONE in kinds else column


def _floats_ok(flat: list) -> bool:
    if not flat:
        return True
    if not set(map(type, flat)) <= {float, int}:
        return False
    # finite sum: every value finite (a sum that overflows declines: stricter, never laxer)
    try:
        return math.isfinite(sum(flat)) and max(flat) <= FLOAT32_MAX and min(flat) >= -FLOAT32_MAX
    except OverflowError:  # an int too large for a float: the importers' path decides
        return False


def _float_scalars_ok(column: list) -> bool:
    present = [v for v in column if v is not None]
    return _floats_ok(present)


def normalize_columns(
    features: list, *, d_sae: int | None = None, trusted: frozenset[str] = frozenset()
) -> list[dict] | None:
    """``normalize_features(features, d_sae=d_sae, defer_activations=True)`` when every check
    passes (the required keys of SAEDashboard's output); ``None`` to decline. The columns named
    in ``trusted`` were checked by the caller (see :func:`feature_rows`): only mapped here."""
    if type(features) is not list or not set(map(type, features)) <= {dict}:
        return None
    n = len(features)
    if not n:
        return []
    for key in REQUIRED_FEATURE_KEYS:
        if not all(key in f for f in features):
            return None
    index = [f["feature_index"] for f in features]
    if "feature_index" not in trusted:
        if not set(map(type, index)) <= {int} or min(index) < 0 or max(index) > MAX_INDEX:
            return None
        if d_sae is not None and max(index) >= d_sae:
            return None
        if len(set(index)) != n:  # "appears twice in one batch"
            return None
    columns: dict[str, list] = {"index": index}
    for key in TEXT_ARRAYS:
        col = _lists([f.get(key) for f in features])
        if key in trusted:
            columns[key] = col
            continue
        if col is None:
            return None
        flat = list(chain.from_iterable(col))
        if flat and (not set(map(type, flat)) <= {str} or any("\x00" in s for s in flat)):
            return None
        columns[key] = col
    for key in FLOAT_ARRAYS:
        col = _lists([f.get(key) for f in features])
        if key in _TRUSTED_INTS and key in trusted:  # counts: ``v + 0.0`` is ``float(v)`` for an int
            columns[key] = [list(map(float, values)) if 0.0 in values else values for values in col]
            continue
        if key not in trusted and (col is None or not _floats_ok(list(chain.from_iterable(col)))):
            return None
        # -0.0 stored as +0.0, exactly as normalize_feature does it (ints then become floats too)
        columns[key] = [[v + 0.0 for v in values] if 0.0 in values else values for values in col]
    for key in INT_ARRAYS:
        col = _lists([f.get(key) for f in features])
        if col is None:
            return None
        flat = list(chain.from_iterable(col))
        if flat and (
            not set(map(type, flat)) <= {int} or min(flat) < -MAX_INDEX - 1 or max(flat) > MAX_INDEX
        ):
            return None
        columns[key] = col
    for left, right in PAIRED:
        if list(map(len, columns[left])) != list(map(len, columns[right])):
            return None
    for key in FLOAT_SCALARS:
        col = [f.get(key) for f in features]
        if key not in trusted and not _float_scalars_ok(col):
            return None
        columns[key] = [None if v is None else float(v) for v in col]
    if "frac_nonzero" not in trusted and not all(v is None or 0 <= v <= 1 for v in columns["frac_nonzero"]):
        return None
    cluster = [f.get("umap_cluster") for f in features]
    present = [v for v in cluster if v is not None]
    if present and (
        not set(map(type, present)) <= {int} or min(present) < -MAX_INDEX - 1 or max(present) > MAX_INDEX
    ):
        return None
    columns["umap_cluster"] = cluster
    quantiles = [f.get("activation_quantiles") or {} for f in features]
    if not set(map(type, quantiles)) <= {dict}:
        return None
    if "activation_quantiles" not in trusted and not _floats_ok(
        list(chain.from_iterable(q.values() for q in quantiles))  # no None either
    ):
        return None
    columns["activation_quantiles"] = quantiles
    vector = [f.get("vector") for f in features]
    vector = [v if v else None for v in vector]
    if not set(map(type, vector)) <= {list, _NONE}:
        return None
    if not _floats_ok(list(chain.from_iterable(v for v in vector if v is not None))):
        return None
    columns["vector"] = vector
    has_vector = [f.get("has_vector") for f in features]
    columns["has_vector"] = [
        bool(v) if h is None else bool(h) for v, h in zip(vector, has_vector, strict=True)
    ]
    columns["vector_label"] = [str(f.get("vector_label") or "") for f in features]
    strength = [f.get("vector_default_steer_strength") for f in features]
    if not _float_scalars_ok(strength):
        return None
    columns["vector_default_steer_strength"] = [None if v is None else float(v) for v in strength]
    columns["hook_name"] = [str(f.get("hook_name") or "") for f in features]
    activations = [f["activations"] for f in features]
    if not set(map(type, activations)) <= {list}:
        return None
    columns["activations"] = activations
    keys = list(columns)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def feature_rows(arrays, positions: range, *, decorate, d_sae: int | None) -> list[dict] | None:
    """``normalize_features([decorate(d) for d in arrays.feature_dicts(positions,
    activations=False)], d_sae=d_sae, defer_activations=True)``, the same dicts, or ``None`` to
    decline. The columns that come from the arrays (:data:`TRUSTED`) are checked once on the
    arrays with numpy (finite, float32 range, index range and uniqueness, the token strings);
    what ``decorate`` adds is checked column by column; a decorate that replaces a trusted
    column, or returns another dict, declines."""
    import numpy as np

    pos = np.asarray(positions, dtype=np.int64)
    if not len(pos):
        return None
    a = arrays
    idx = a.index[pos]
    if idx.min() < 0 or idx.max() > MAX_INDEX or (d_sae is not None and idx.max() >= d_sae):
        return None
    if len(np.unique(idx)) != len(idx) or not (a.nnz[pos] <= max(a.n_valid, 1)).all() or a.nnz[pos].min() < 0:
        return None
    hist_vals, l_vals = a.bar_values(pos)
    finite32 = [a.pos_v[pos], a.neg_v[pos], a.act_max[pos], *(v[pos] for _, v in a.quantiles)]
    if not all(np.isfinite(x).all() for x in finite32):
        return None
    alive = a.nnz[pos] > 0
    for bars in (hist_vals[alive], l_vals):
        if not (np.isfinite(bars).all() and (np.abs(bars) <= FLOAT32_MAX).all()):
            return None
    for ids in (a.pos_i[pos], a.neg_i[pos]):
        for s in a.token_strs(np.unique(ids)[None, :])[0]:
            if type(s) is not str or "\x00" in s:
                return None
    raw = a.feature_dicts(positions, activations=False)
    kept = list(map(_TRUSTED_OF, raw))
    dicts = [decorate(d) for d in raw]
    if not all(map(operator.is_, dicts, raw)):
        return None
    try:  # the very objects checked on the arrays, none removed or replaced
        if not all(
            all(map(operator.is_, _TRUSTED_OF(d), before)) for d, before in zip(dicts, kept, strict=True)
        ):
            return None
    except KeyError:
        return None
    return normalize_columns(dicts, d_sae=d_sae, trusted=TRUSTED)


_ORDER = tuple(sorted(TRUSTED))
_TRUSTED_OF = operator.itemgetter(*_ORDER)
