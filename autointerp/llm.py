"""A small client for any OpenAI-compatible chat endpoint (OpenRouter, OpenAI, vLLM, Ollama,
LiteLLM): timeouts, retries with exponential backoff on 429 / 5xx / network errors, and one
clear error when the provider fails (``UpstreamError``, 502 with the provider's message).

A failed call never turns into an answer: callers get text or an exception, so no score can be
computed from a failed call (Neuronpedia once scored 20% when a provider balance ran out).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import aiohttp
import orjson
from django.conf import settings

from neuronsite.errors import UpstreamError, ValidationFailed

_JSON = {"Content-Type": "application/json"}
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0

NOT_CONFIGURED = (
    "No LLM is configured: set OPENAI_BASE_URL and OPENAI_API_KEY (any OpenAI-compatible endpoint; "
    "keyless local servers accept any non-empty key) on the server, or add your own provider key "
    "on your account page (/account)."
)


@dataclass(frozen=True)
class LLMEndpoint:
    """Where to send chat requests and with which model; ``api_key`` is never logged or shown."""

    base_url: str
    api_key: str
    model: str
    owner: str = "server"  # "server" or "user" (whose key pays)

    @property
    def chat_url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def embeddings_url(self) -> str:
        return self.base_url.rstrip("/") + "/embeddings"


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens

    def as_dict(self) -> dict:
        return {
            "calls": self.calls,
            "promptTokens": self.prompt_tokens,
            "completionTokens": self.completion_tokens,
        }


@dataclass
class ChatResult:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


def server_endpoint(*, model: str | None = None, purpose: str = "explainer") -> LLMEndpoint | None:
    """The server default endpoint, or ``None`` when the server has no key configured."""
    if not settings.OPENAI_API_KEY:
        return None
    default = (
        settings.AUTOINTERP_EXPLAINER_MODEL if purpose == "explainer" else settings.AUTOINTERP_SCORER_MODEL
    )
    return LLMEndpoint(
        base_url=settings.OPENAI_BASE_URL, api_key=settings.OPENAI_API_KEY, model=model or default
    )


def _provider_message(status: int, raw: bytes, reason: str | None) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")[:500] or (reason or f"HTTP {status}")
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
        if body.get("message"):
            return str(body["message"])[:500]
    return json.dumps(body)[:500]


@dataclass
class LLMClient:
    """One endpoint, one shared aiohttp session (connection pooling, keep-alive for every
    connection); use as an async context manager or call ``aclose()``. ``usage`` counts
    successful calls and tokens.

    aiohttp rather than httpx: measured against the scripted server (bench/autointerp), 1,000
    calls at concurrency 32 cost httpx about 3.5 s of CPU and 3x the latency-bound time, aiohttp
    0.6-0.9 s and the latency-bound time; a batch run is nothing but these calls."""

    endpoint: LLMEndpoint
    timeout_s: float | None = None
    max_retries: int | None = None
    backoff_s: float | None = None
    max_connections: int = 100
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self):
        self.timeout_s = settings.AUTOINTERP_TIMEOUT_S if self.timeout_s is None else self.timeout_s
        self.max_retries = settings.AUTOINTERP_MAX_RETRIES if self.max_retries is None else self.max_retries
        self.backoff_s = settings.AUTOINTERP_BACKOFF_S if self.backoff_s is None else self.backoff_s
        self._session = None  # made on first use, inside the running event loop

    def _http(self):
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                connector=aiohttp.TCPConnector(limit=max(1, self.max_connections), ttl_dns_cache=300),
                headers={"Authorization": f"Bearer {self.endpoint.api_key}"},
            )
        return self._session

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, url: str, payload: dict) -> dict:
        """POST with retries; the decoded JSON body of the first 2xx, else ``UpstreamError``."""
        attempt = 0
        while True:
            retry_after = None
            try:
                # orjson: encoding a 20-example prompt and decoding the answer in C (a batch
                # run makes thousands of these calls on one event loop)
                async with self._http().post(url, data=orjson.dumps(payload), headers=_JSON) as response:
                    status, raw = response.status, await response.read()
                    reason, header = response.reason, response.headers.get("retry-after")
            except TimeoutError:
                problem = f"the LLM provider did not answer within {self.timeout_s:g} s"
            except aiohttp.ClientError as exc:
                problem = f"could not reach the LLM provider at {self.endpoint.base_url}: {exc!r}"
            else:
                if status < 300:
                    try:
                        return orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        raise UpstreamError(
                            f"LLM provider answered HTTP {status} with a body that is not JSON: "
                            f"{raw[:200].decode('utf-8', 'replace')!r}"
                        ) from None
                problem = f"LLM provider error (HTTP {status}): {_provider_message(status, raw, reason)}"
                if status not in RETRY_STATUSES:
                    raise UpstreamError(problem)
                if header:
                    try:
                        retry_after = min(float(header), MAX_RETRY_AFTER_S)
                    except ValueError:
                        retry_after = None
            if attempt >= self.max_retries:
                suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                raise UpstreamError(problem + suffix)
            delay = retry_after if retry_after is not None else self.backoff_s * (2**attempt)
            attempt += 1
            await asyncio.sleep(delay)

    async def chat(
        self, messages: list[dict], *, temperature: float = 0.0, max_tokens: int = 1000
    ) -> ChatResult:
        payload = {
            "model": self.endpoint.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        body = await self._post(self.endpoint.chat_url, payload)
        try:
            text = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise UpstreamError(
                f"LLM provider answered without choices[0].message.content: {str(body)[:200]}"
            ) from None
        if not isinstance(text, str):
            raise UpstreamError("LLM provider answered with an empty message.")
        usage = body.get("usage") or {}
        result = ChatResult(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
        self.usage.add(Usage(1, result.prompt_tokens, result.completion_tokens))
        return result

    async def embed(self, texts: list[str]) -> list[list[float]]:
        body = await self._post(self.endpoint.embeddings_url, {"model": self.endpoint.model, "input": texts})
        try:
            rows = sorted(body["data"], key=lambda r: r.get("index", 0))
            return [list(map(float, r["embedding"])) for r in rows]
        except (KeyError, TypeError, ValueError):
            raise UpstreamError(
                f"Embeddings endpoint answered without data[].embedding: {str(body)[:200]}"
            ) from None


def require_endpoint(endpoint: LLMEndpoint | None) -> LLMEndpoint:
    if endpoint is None:
        raise ValidationFailed(NOT_CONFIGURED, field="explanationModelName")
    return endpoint
