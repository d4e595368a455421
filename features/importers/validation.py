"""Validation of feature data in SAEDashboard's ``batch-N.json`` feature-dict shape.

Every problem is reported as a :class:`FeatureDataError` naming the feature index and the field,
so that a command can add the file name and an API can answer 400 with the same precision.
Checks are written with C-level builtins (``sum``, ``map``, ``set``) because a large import
validates tens of millions of numbers.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_INDEX = 2**31 - 1
# Values are stored as PostgreSQL real / fed to float32 tensors: 1e39 overflows to infinity there.
FLOAT32_MAX = 3.4028234663852886e38

# Feature columns that are arrays, by element kind.
TEXT_ARRAYS = ("pos_str", "neg_str")
FLOAT_ARRAYS = (
    "pos_values",
    "neg_values",
    "freq_hist_data_bar_heights",
    "freq_hist_data_bar_values",
    "logits_hist_data_bar_heights",
    "logits_hist_data_bar_values",
    "neuron_alignment_values",
    "neuron_alignment_l1",
    "correlated_neurons_pearson",
    "correlated_neurons_l1",
    "correlated_features_pearson",
    "correlated_features_l1",
    "decoder_weights_dist",
    "topk_cos_sim_values",
)
INT_ARRAYS = (
    "neuron_alignment_indices",
    "correlated_neurons_indices",
    "correlated_features_indices",
    "topk_cos_sim_indices",
)
FLOAT_SCALARS = ("frac_nonzero", "max_act_approx", "umap_x", "umap_y", "umap_log_feature_sparsity")

# Keys every feature of SAEDashboard's output carries (the rest are optional).
REQUIRED_FEATURE_KEYS = (
    "feature_index",
    "pos_str",
    "pos_values",
    "neg_str",
    "neg_values",
    "frac_nonzero",
    "freq_hist_data_bar_heights",
    "freq_hist_data_bar_values",
    "logits_hist_data_bar_heights",
    "logits_hist_data_bar_values",
    "activations",
)
REQUIRED_ACTIVATION_KEYS = ("tokens", "values")
PAIRED = (
    ("pos_str", "pos_values"),
    ("neg_str", "neg_values"),
    ("freq_hist_data_bar_heights", "freq_hist_data_bar_values"),
    ("logits_hist_data_bar_heights", "logits_hist_data_bar_values"),
    ("topk_cos_sim_indices", "topk_cos_sim_values"),
)

# A BOS token as tokenizers print it: <|endoftext|>, <bos>, <s>, <|begin_of_text|>, [CLS].
_BOS_RE = re.compile(r"^(<\|?[A-Za-z_][A-Za-z0-9_\-]*\|?>|\[CLS\])$")


class FeatureDataError(ValueError):
    """Bad feature data: names the feature index (when known) and the field."""

    def __init__(self, message: str, *, feature_index: Any = None, field: str | None = None):
        self.feature_index = feature_index
        self.field = field
        self.problem = message
        where = []
        if feature_index is not None:
            where.append(f"feature {feature_index}")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


def _is_number(value) -> bool:
    return type(value) in (int, float)


def check_float(value, *, field: str, index, nullable: bool = True) -> float | None:
    if value is None:
        if nullable:
            return None
        raise FeatureDataError("is missing (null)", feature_index=index, field=field)
    if not _is_number(value):
        raise FeatureDataError(
            f"must be a number, got {type(value).__name__}", feature_index=index, field=field
        )
    value = float(value)
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise FeatureDataError(
            f"must be finite (float32 range, |x| <= 3.4e38), got {value}", feature_index=index, field=field
        )
    return value


def check_int(value, *, field: str, index, nullable: bool = True) -> int | None:
    if value is None and nullable:
        return None
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise FeatureDataError(f"must be an integer, got {value!r}", feature_index=index, field=field)
    if not -MAX_INDEX - 1 <= value <= MAX_INDEX:
        raise FeatureDataError(f"out of range: {value}", feature_index=index, field=field)
    return value


def check_float_list(values, *, field: str, index) -> list:
    """A list of finite numbers (ints allowed). Returns the list itself (no copy)."""
    if values is None:
        return []
    if type(values) is not list:
        raise FeatureDataError(
            f"must be a list, got {type(values).__name__}", feature_index=index, field=field
        )
    if not values:
        return values
    kinds = set(map(type, values))
    if not kinds <= {float, int}:
        bad = next(v for v in values if type(v) not in (float, int))
        raise FeatureDataError(f"must hold numbers only, found {bad!r}", feature_index=index, field=field)
    # sum() is finite iff every element is finite, unless finite values overflow: check then.
    if not math.isfinite(sum(values)):
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            at = next(i for i, v in enumerate(values) if not math.isfinite(v))
            raise FeatureDataError(
                f"must be finite, found {bad[0]} at position {at}", feature_index=index, field=field
            )
    if max(values) > FLOAT32_MAX or min(values) < -FLOAT32_MAX:
        at = next(i for i, v in enumerate(values) if abs(v) > FLOAT32_MAX)
        raise FeatureDataError(
            f"must be finite (float32 range, |x| <= 3.4e38), found {values[at]} at position {at}",
            feature_index=index,
            field=field,
        )
    return values


def check_int_list(values, *, field: str, index) -> list:
    if values is None:
        return []
    if type(values) is not list:
        raise FeatureDataError(
            f"must be a list, got {type(values).__name__}", feature_index=index, field=field
        )
    if values and not set(map(type, values)) <= {int}:
        if all(type(v) is float and v.is_integer() for v in values):
            return [int(v) for v in values]
        bad = next(v for v in values if type(v) is not int)
        raise FeatureDataError(f"must hold integers only, found {bad!r}", feature_index=index, field=field)
    if values and (min(values) < -MAX_INDEX - 1 or max(values) > MAX_INDEX):
        raise FeatureDataError("holds an integer out of range", feature_index=index, field=field)
    return values


def check_str_list(values, *, field: str, index) -> list:
    if values is None:
        return []
    if type(values) is not list:
        raise FeatureDataError(
            f"must be a list, got {type(values).__name__}", feature_index=index, field=field
        )
    if values and not set(map(type, values)) <= {str}:
        bad = next(v for v in values if type(v) is not str)
        raise FeatureDataError(f"must hold strings only, found {bad!r}", feature_index=index, field=field)
    if values and any("\x00" in v for v in values):
        raise FeatureDataError("holds a NUL character", feature_index=index, field=field)
    return values


def check_feature_index(raw, *, d_sae: int | None = None) -> int:
    if type(raw) is str and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw.strip())
    if type(raw) is float and raw.is_integer():
        raw = int(raw)
    if type(raw) is not int:
        raise FeatureDataError(f"must be a non-negative integer, got {raw!r}", field="feature_index")
    if raw < 0 or raw > MAX_INDEX:
        raise FeatureDataError(f"out of range: {raw}", feature_index=raw, field="feature_index")
    if d_sae is not None and raw >= d_sae:
        raise FeatureDataError(
            f"out of range: {raw} is not below the source's d_sae ({d_sae})",
            feature_index=raw,
            field="feature_index",
        )
    return raw


def is_bos_token(token: str) -> bool:
    return bool(_BOS_RE.match(token))


def normalize_activation(raw: dict, *, index: int, position: int, zero_bos: bool = False) -> dict:
    """One activation snippet: checked, with max/min and their positions derived."""
    where = f"activations[{position}]"
    if type(raw) is not dict:
        raise FeatureDataError("must be an object", feature_index=index, field=where)
    for key in REQUIRED_ACTIVATION_KEYS:
        if key not in raw:
            raise FeatureDataError("is missing", feature_index=index, field=f"{where}.{key}")
    tokens = check_str_list(raw["tokens"], field=f"{where}.tokens", index=index)
    values = check_float_list(raw["values"], field=f"{where}.values", index=index)
    if not tokens:
        raise FeatureDataError("is empty", feature_index=index, field=f"{where}.tokens")
    if len(tokens) != len(values):
        raise FeatureDataError(
            f"has {len(values)} values for {len(tokens)} tokens",
            feature_index=index,
            field=f"{where}.values",
        )
    if zero_bos and values[0] != 0 and is_bos_token(tokens[0]):
        values = [0.0, *values[1:]]
    max_value = max(values)
    out = {
        "tokens": tokens,
        "values": values,
        "max_value": float(max_value),
        "max_value_token_index": values.index(max_value),
        "min_value": float(min(values)),
    }
    for key in ("bin_min", "bin_max", "bin_contains"):
        out[key] = check_float(raw.get(key), field=f"{where}.{key}", index=index)
    qti = check_int(raw.get("qualifying_token_index"), field=f"{where}.qualifying_token_index", index=index)
    out["qualifying_token_index"] = qti
    if qti is not None and not -1 <= qti < len(tokens):
        raise FeatureDataError(
            f"{qti} is outside the {len(tokens)} tokens",
            feature_index=index,
            field=f"{where}.qualifying_token_index",
        )
    # DFA (direct feature attribution) columns: SAEDashboard writes dfa_values/dfa_maxValue/
    # dfa_targetIndex, Neuronpedia's export dfaValues/dfaMaxValue/dfaTargetIndex.
    dfa_values = raw.get("dfa_values", raw.get("dfaValues"))
    out["dfa_values"] = check_float_list(dfa_values, field=f"{where}.dfa_values", index=index)
    out["dfa_max_value"] = check_float(
        raw.get("dfa_maxValue", raw.get("dfaMaxValue")), field=f"{where}.dfa_maxValue", index=index
    )
    out["dfa_target_index"] = check_int(
        raw.get("dfa_targetIndex", raw.get("dfaTargetIndex")), field=f"{where}.dfa_targetIndex", index=index
    )
    data_source = raw.get("data_source", raw.get("dataSource"))
    if data_source is not None and type(data_source) is not str:
        raise FeatureDataError("must be a string", feature_index=index, field=f"{where}.data_source")
    out["data_source"] = data_source or ""
    out["data_index"] = check_int(
        raw.get("data_index", raw.get("dataIndex")), field=f"{where}.data_index", index=index
    )
    return out


def normalize_feature(
    raw: dict,
    *,
    d_sae: int | None = None,
    zero_bos: bool = False,
    required: tuple[str, ...] = REQUIRED_FEATURE_KEYS,
    defer_activations: bool = False,
) -> dict:
    """One feature dict (SAEDashboard keys + our extras) checked and mapped to column values.

    ``activations`` is ``None`` in the result when the input has no ``activations`` key and it is
    not required (the feature's existing activations are then kept). With ``defer_activations``
    the snippet list is left raw, for a batch-wide check (``columnar.activations_block``) or
    :func:`finish_activations`."""
    if type(raw) is not dict:
        raise FeatureDataError(f"a feature must be an object, got {type(raw).__name__}")
    if "feature_index" not in raw:
        raise FeatureDataError("is missing", field="feature_index")
    index = check_feature_index(raw["feature_index"], d_sae=d_sae)
    for key in required:
        if key not in raw:
            raise FeatureDataError("is missing", feature_index=index, field=key)
    out: dict[str, Any] = {"index": index}
    for key in TEXT_ARRAYS:
        out[key] = check_str_list(raw.get(key), field=key, index=index)
    for key in FLOAT_ARRAYS:
        values = check_float_list(raw.get(key), field=key, index=index)
        # -0.0 would print as "-0" and come back as the integer 0: store +0.0 (x + 0.0 does it).
        out[key] = [v + 0.0 for v in values] if 0.0 in values else values
    for key in INT_ARRAYS:
        out[key] = check_int_list(raw.get(key), field=key, index=index)
    for left, right in PAIRED:
        if len(out[left]) != len(out[right]):
            raise FeatureDataError(
                f"has {len(out[right])} entries for {len(out[left])} in '{left}'",
                feature_index=index,
                field=right,
            )
    for key in FLOAT_SCALARS:
        out[key] = check_float(raw.get(key), field=key, index=index)
    if out["frac_nonzero"] is not None and not 0 <= out["frac_nonzero"] <= 1:
        raise FeatureDataError(
            f"must be between 0 and 1, got {out['frac_nonzero']}", feature_index=index, field="frac_nonzero"
        )
    out["umap_cluster"] = check_int(raw.get("umap_cluster"), field="umap_cluster", index=index)
    quantiles = raw.get("activation_quantiles") or {}
    if type(quantiles) is not dict:
        raise FeatureDataError("must be an object", feature_index=index, field="activation_quantiles")
    for q, v in quantiles.items():
        check_float(v, field=f"activation_quantiles.{q}", index=index, nullable=False)
    out["activation_quantiles"] = quantiles
    vector = raw.get("vector")
    out["vector"] = check_float_list(vector, field="vector", index=index) if vector else None
    has_vector = raw.get("has_vector")
    out["has_vector"] = bool(out["vector"]) if has_vector is None else bool(has_vector)
    out["vector_label"] = str(raw.get("vector_label") or "")
    out["vector_default_steer_strength"] = check_float(
        raw.get("vector_default_steer_strength"), field="vector_default_steer_strength", index=index
    )
    out["hook_name"] = str(raw.get("hook_name") or "")
    activations = raw.get("activations")
    if activations is None and "activations" not in required:
        out["activations"] = None
    else:
        if type(activations) is not list:
            raise FeatureDataError("must be a list", feature_index=index, field="activations")
        if defer_activations:
            out["activations"] = activations
            return out
        out["activations"] = [
            normalize_activation(a, index=index, position=i, zero_bos=zero_bos)
            for i, a in enumerate(activations)
        ]
    if out["max_act_approx"] is None and out["activations"]:
        out["max_act_approx"] = max(a["max_value"] for a in out["activations"])
    return out


def finish_activations(features: list[dict], *, zero_bos: bool = False) -> None:
    """Per-snippet validation of features normalized with ``defer_activations`` (in place):
    raises a FeatureDataError naming the feature, the snippet and the field."""
    for f in features:
        if f["activations"] is None:
            continue
        f["activations"] = [
            normalize_activation(a, index=f["index"], position=i, zero_bos=zero_bos)
            for i, a in enumerate(f["activations"])
        ]
        if f["max_act_approx"] is None and f["activations"]:
            f["max_act_approx"] = max(a["max_value"] for a in f["activations"])


def normalize_features(
    features: list,
    *,
    d_sae: int | None = None,
    zero_bos: bool = False,
    required=REQUIRED_FEATURE_KEYS,
    defer_activations: bool = False,
) -> list[dict]:
    if type(features) is not list:
        raise FeatureDataError(f"'features' must be a list, got {type(features).__name__}", field="features")
    out = [
        normalize_feature(
            f, d_sae=d_sae, zero_bos=zero_bos, required=required, defer_activations=defer_activations
        )
        for f in features
    ]
    seen: set[int] = set()
    for f in out:
        if f["index"] in seen:
            raise FeatureDataError(
                "appears twice in one batch", feature_index=f["index"], field="feature_index"
            )
        seen.add(f["index"])
    return out
