"""Engine kernels of the chat monitor (issue 15): the per-token "tap" (which latents of the watched
sources pass their threshold at each token) and latent attribution for one answer token.

Kernels run on the engine thread through ``engine.call_kernel`` / ``engine.run_kernel``, which hands
them ``model=`` and ``saes=``; torch is imported inside the functions.
"""
