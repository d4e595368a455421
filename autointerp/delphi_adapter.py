"""The one place that imports EleutherAI's delphi (``eai-delphi`` 0.1.3).

Why this module exists: ``delphi/clients/__init__.py`` imports ``delphi.clients.offline``,
which imports vllm at module level; every explainer and scorer module imports
``...clients.client``, which runs that package ``__init__`` first. vllm pulls CUDA wheels and
transformers 5.x (breaking circuit-tracer), so delphi is installed ``--no-deps`` without it.
We pre-register a bare ``delphi.clients`` package object (same ``__path__``, so its submodules
still load from the installed files) before importing the explainers and scorers; only the
vllm-backed ``Offline`` client is then missing, and we never use it.

delphi also imports torch (its examples hold tensors), so this module is imported lazily, from
inside functions, never at the top of a module that a web request or ``manage.py check`` loads.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from functools import lru_cache
from typing import Any


def _bare_package(name: str) -> types.ModuleType:
    """Register package ``name`` without running its ``__init__`` (its submodules still load)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:  # pragma: no cover - delphi not installed
        raise ImportError("eai-delphi is not installed (pip install --no-deps -r requirements-nodeps.txt)")
    package = types.ModuleType(name)
    package.__path__ = list(spec.submodule_search_locations or [])
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__package__ = name
    sys.modules[name] = package
    return package


def _register_vllm_free_clients_package() -> None:
    if "delphi.clients" in sys.modules:
        return
    importlib.import_module("delphi")
    # The same applies one level up: the ``__init__`` of delphi.latents, .explainers and
    # .scorers import every sibling (faiss for neighbour search, the simulator, surprisal
    # scorers, dataset caches), none of which the explainer and scorers we use need.
    for name in ("delphi.latents", "delphi.explainers", "delphi.scorers"):
        _bare_package(name)
    latents_package = sys.modules["delphi.latents"]
    latents = importlib.import_module("delphi.latents.latents")
    for attr in ("ActivatingExample", "Example", "Latent", "LatentRecord", "NonActivatingExample"):
        setattr(latents_package, attr, getattr(latents, attr))
    package = _bare_package("delphi.clients")
    client = importlib.import_module("delphi.clients.client")
    package.Client = client.Client
    package.Response = client.Response
    openrouter = importlib.import_module("delphi.clients.openrouter")
    package.OpenRouter = openrouter.OpenRouter


@lru_cache(maxsize=1)
def delphi() -> types.SimpleNamespace:
    """delphi's explainer, scorer, client and record classes, imported without vllm."""
    _register_vllm_free_clients_package()
    from delphi.clients.client import Client, Response
    from delphi.clients.openrouter import OpenRouter
    from delphi.explainers.default.default import DefaultExplainer
    from delphi.latents.latents import ActivatingExample, Latent, LatentRecord, NonActivatingExample
    from delphi.scorers.classifier.detection import DetectionScorer
    from delphi.scorers.classifier.fuzz import FuzzingScorer
    from delphi.scorers.embedding.embedding import EmbeddingScorer

    return types.SimpleNamespace(
        Client=Client,
        Response=Response,
        OpenRouter=OpenRouter,
        DefaultExplainer=DefaultExplainer,
        DetectionScorer=DetectionScorer,
        FuzzingScorer=FuzzingScorer,
        EmbeddingScorer=EmbeddingScorer,
        ActivatingExample=ActivatingExample,
        NonActivatingExample=NonActivatingExample,
        Latent=Latent,
        LatentRecord=LatentRecord,
    )


def delphi_client(llm, *, errors: list, answers: list | None = None, max_tokens: int = 1000) -> Any:
    """A delphi ``Client`` that sends through our ``LLMClient`` (timeouts, retries, usage).

    delphi's classifiers swallow client exceptions and score the example as unanswered; we keep
    each exception in ``errors`` so the caller can refuse to store a score built on a failure."""
    return _client_class()(llm, errors=errors, answers=answers, max_tokens=max_tokens)


@lru_cache(maxsize=1)
def _client_class() -> type:
    """The adapter class, made once (a class per call costs a batch run measurable time)."""
    d = delphi()

    class _Client(d.Client):
        def __init__(self, llm, *, errors: list, answers: list | None, max_tokens: int):
            super().__init__(llm.endpoint.model)
            self.llm, self.errors, self.answers, self.max_tokens = llm, errors, answers, max_tokens

        async def generate(self, prompt, **kwargs):
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
            try:
                result = await self.llm.chat(
                    messages,
                    temperature=float(kwargs.get("temperature", 0.0) or 0.0),
                    max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
                )
            except Exception as exc:
                self.errors.append(exc)
                raise
            if self.answers is not None:
                self.answers.append(result.text)
            return d.Response(text=result.text)

    return _Client
