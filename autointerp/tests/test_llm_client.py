"""The LLM client against the scripted server over real HTTP: retries, backoff, clear errors."""

from __future__ import annotations

import asyncio

import pytest

from autointerp.llm import LLMClient, LLMEndpoint
from neuronsite.errors import UpstreamError


def _chat(server, **kw):
    async def run():
        endpoint = LLMEndpoint(base_url=server.url, api_key="k-123", model="m")
        async with LLMClient(endpoint, backoff_s=0.0, **kw) as client:
            result = await client.chat([{"role": "user", "content": "hello"}])
            return result, client.usage

    return asyncio.run(run())


def test_chat_sends_openai_shape_and_counts_usage(llm):
    llm.answer = lambda messages: "echo: " + messages[-1]["content"]
    result, usage = _chat(llm, max_retries=0)
    assert result.text == "echo: hello"
    body = llm.chat_requests()[0]
    assert body["model"] == "m" and body["messages"] == [{"role": "user", "content": "hello"}]
    assert llm.requests[0]["auth"] == "Bearer k-123"
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (1, 1, 2)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_transient_statuses_then_succeeds(llm, status):
    llm.fail_next(status, status)
    result, usage = _chat(llm, max_retries=2)
    assert result.text and usage.calls == 1
    assert len(llm.chat_requests()) == 3


def test_gives_up_with_provider_message_after_retries(llm):
    llm.fail_next(429, 429, 429)
    with pytest.raises(UpstreamError, match=r"HTTP 429\): scripted failure 429 \(after 3 attempts\)"):
        _chat(llm, max_retries=2)


def test_client_errors_are_not_retried(llm):
    llm.fail_next(401)
    with pytest.raises(UpstreamError, match="HTTP 401"):
        _chat(llm, max_retries=3)
    assert len(llm.chat_requests()) == 1


def test_timeout_and_garbage_give_clear_errors(llm):
    llm.fail_next("hang")
    with pytest.raises(UpstreamError, match="did not answer within 0.2 s"):
        _chat(llm, max_retries=0, timeout_s=0.2)
    llm.fail_next("garbage")
    with pytest.raises(UpstreamError, match="not JSON"):
        _chat(llm, max_retries=0)
    llm.fail_next("no-choices")
    with pytest.raises(UpstreamError, match="without choices"):
        _chat(llm, max_retries=0)


def test_unreachable_provider(llm):
    async def run():
        endpoint = LLMEndpoint(base_url="http://127.0.0.1:9/v1", api_key="k", model="m")
        async with LLMClient(endpoint, backoff_s=0.0, max_retries=0) as client:
            await client.chat([{"role": "user", "content": "x"}])

    with pytest.raises(UpstreamError, match="could not reach the LLM provider"):
        asyncio.run(run())
