"""Inference services (see the modules): activations/search/cossim/tokenize and steering."""

from inference.services.activations import (
    activation_new,
    cossim,
    saved_search_create,
    search_all,
    search_topk_by_token,
    source_neighbours_compute,
    tokenize,
)
from inference.services.steer_loop import steer_events, steer_run
from inference.services.steering import steer_output_pair, steer_outputs_save, steer_prepare

__all__ = [
    "activation_new",
    "cossim",
    "saved_search_create",
    "search_all",
    "search_topk_by_token",
    "source_neighbours_compute",
    "steer_output_pair",
    "steer_outputs_save",
    "steer_prepare",
    "steer_events",
    "steer_run",
    "tokenize",
]
