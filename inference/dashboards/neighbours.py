"""Per-SAE extras of the dashboards: nearest features by decoder cosine similarity and the UMAP
layout of the decoder directions (re-exported by ``engine``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


@torch.inference_mode()
def decoder_neighbours(w_dec: torch.Tensor, feature_indices: Sequence[int], k: int, chunk: int = 1024):
    """Nearest features by decoder cosine similarity: ``(indices [F, k], values [F, k])``."""
    unit = torch.nn.functional.normalize(w_dec.detach().float().cpu(), dim=1)
    idx = torch.as_tensor(list(feature_indices), dtype=torch.long)
    k = min(k, unit.shape[0] - 1)
    out_i, out_v = [], []
    for start in range(0, len(idx), chunk):
        rows = idx[start : start + chunk]
        sims = unit[rows] @ unit.T
        sims[torch.arange(len(rows)), rows] = -math.inf
        v, i = sims.topk(k, dim=1)
        out_i.append(i)
        out_v.append(v)
    if not out_i:
        return torch.zeros(0, k, dtype=torch.long), torch.zeros(0, k)
    return torch.cat(out_i), torch.cat(out_v)


def umap_layout(w_dec: torch.Tensor, *, seed: int = 0) -> tuple[list[float], list[float], list[int]]:
    """2-D UMAP of the decoder directions (cosine metric) and k-means clusters on the layout."""
    import numpy as np
    import umap
    from sklearn.cluster import KMeans

    data = torch.nn.functional.normalize(w_dec.detach().float().cpu(), dim=1).numpy()
    n = data.shape[0]
    if n < 4:
        return [0.0] * n, [0.0] * n, [0] * n
    reducer = umap.UMAP(
        n_neighbors=min(15, n - 1), n_components=2, metric="cosine", random_state=seed, init="random"
    )
    xy = reducer.fit_transform(data)
    n_clusters = max(2, min(50, n // 20))
    clusters = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit_predict(xy)
    return xy[:, 0].astype(np.float64).tolist(), xy[:, 1].astype(np.float64).tolist(), clusters.tolist()
