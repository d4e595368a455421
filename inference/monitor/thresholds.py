"""Per-source threshold vectors for the tap, cached in the process beside the engine's SAEs.

A latent is "active" at a token when its activation reaches its own high quantile: Monitor's rule,
the 0.99999 quantile (``QUANTILE``). The database side (``monitor.selectors.source_thresholds``)
computes one number per latent from the stored feature data, in this order:

1. ``Feature.activation_quantiles["0.99999"]`` (what dashboard generation stores);
2. else ``Feature.max_act_approx`` (the dashboard's top activation: on a dashboard corpus of up to
   ~10^5 tokens the 0.99999 quantile *is* the maximum, so this is the same number there and a
   stricter one on larger corpora);
3. else the largest stored ``Activation.max_value`` of the feature (its top snippet);
4. else no threshold (``inf``): the latent is never reported. Latents without any dashboard data
   cannot be normalised, so showing them would be meaningless.

Non-positive values count as missing. The vector is cached per ``(SourceSpec, stamp)``, where the
stamp changes whenever the source's feature rows do (``monitor.selectors.thresholds_stamp``), so a
re-import or new dashboards are picked up by the next request without reading every row each time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

QUANTILE = 0.99999
QUANTILE_KEY = repr(QUANTILE)  # "0.99999", the key dashboard generation writes
MAX_CACHED = 64

_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


def feature_threshold(
    quantiles: dict | None, max_act: float | None, top_value: float | None = None
) -> float | None:
    """The threshold of one latent from its stored data (see the module docstring), or None."""
    for raw in ((quantiles or {}).get(QUANTILE_KEY), max_act, top_value):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if value > 0 and value != float("inf"):
            return value
    return None


def cached(spec, stamp) -> bool:
    with _lock:
        return any(k[:2] == (spec, stamp) for k in _cache)


def threshold_vector(spec, stamp, d_sae: int, values: dict | None = None, device=None):
    """The ``[d_sae]`` float32 tensor of thresholds (``inf`` where unknown or not positive) for
    ``spec`` at ``stamp``, on ``device`` (default CPU): from the cache, or built from ``values``
    ({index: threshold}) and cached, so a live conversation pays no dict -> tensor work or host ->
    device copy per request."""
    import torch

    device = torch.device(device or "cpu")
    key = (spec, stamp, str(device))
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit.shape[0] == d_sae:
            _cache.move_to_end(key)
            return hit
        base = next((v for k, v in _cache.items() if k[:2] == (spec, stamp) and v.shape[0] == d_sae), None)
    if base is not None:
        vec = base.to(device)
    elif values is None:
        raise KeyError(f"no thresholds cached for {spec.name}")
    else:
        vec = torch.full((d_sae,), float("inf"), dtype=torch.float32)
        idx = [i for i in values if 0 <= i < d_sae]
        if idx:
            vec[torch.tensor(idx, dtype=torch.long)] = torch.tensor(
                [float(values[i]) for i in idx], dtype=torch.float32
            )
        # Not positive (or NaN) = missing: the tap then needs only ``activation >= threshold``.
        vec = torch.where(vec > 0, vec, torch.full_like(vec, float("inf"))).to(device)
    with _lock:
        for old in [k for k in _cache if k[0] == spec and k[1] != stamp]:
            del _cache[old]
        _cache[key] = vec
        while len(_cache) > MAX_CACHED:
            _cache.popitem(last=False)
    return vec
