"""Anthropic's server tools on Gemini's built-in ones, through the real `anthropic` SDK, in process:
``web_search`` on Google Search grounding, ``web_fetch`` on URL context, ``code_execution`` on
code execution (the simulator's versions of them: docs/simulator.md)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.e2e.test_anthropic import proxy, sdk, sim  # noqa: F401  (fixtures)
from tests.inprocess import LocalServer

SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
FETCH = {"type": "web_fetch_20250910", "name": "web_fetch"}
CODE = {"type": "code_execution_20250825", "name": "code_execution"}
BETAS = ["web-fetch-2025-09-10", "code-execution-2025-08-25"]


@pytest.fixture
def client(proxy: LocalServer) -> anthropic.Anthropic:  # noqa: F811
    return sdk(proxy)


def _ask(client: anthropic.Anthropic, text: str, tools: list[dict[str, Any]], *, stream: bool) -> Any:
    kwargs: dict[str, Any] = {"model": "gemini-2.5-flash", "max_tokens": 512, "tools": tools, "betas": BETAS,
                              "messages": [{"role": "user", "content": text}]}
    if not stream:
        return client.beta.messages.create(**kwargs)
    with client.beta.messages.stream(**kwargs) as events:
        return events.get_final_message()


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_web_search_gives_its_query_results_and_a_count(client: anthropic.Anthropic, stream: bool) -> None:
    message = _ask(client, "who maintains the uvicorn project", [SEARCH], stream=stream)
    kinds = [block.type for block in message.content]
    # Gemini sends grounding with a stream's last chunk, after the text (docs/anthropic.md)
    expected = ["text", "server_tool_use", "web_search_tool_result"] if stream else \
        ["server_tool_use", "web_search_tool_result", "text"]
    assert kinds == expected
    use, result = (b for b in message.content if b.type != "text")
    assert use.name == "web_search" and use.input == {"query": "who maintains the uvicorn project"}
    assert result.tool_use_id == use.id
    assert [r.url.startswith("https://example.com/") for r in result.content] == [True, True]
    assert message.usage.server_tool_use.web_search_requests == 1
    assert message.stop_reason == "end_turn"
    (text,) = (b for b in message.content if b.type == "text")
    assert [(c.type, c.url, c.title) for c in text.citations] == [
        ("web_search_result_location", r.url, r.title) for r in result.content
    ]
    assert text.citations[0].cited_text == text.text[:150]  # the simulator grounds the whole answer


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_web_fetch_reports_each_url_and_the_ones_it_could_not_get(client: anthropic.Anthropic, stream: bool) -> None:
    message = _ask(client, "summarise https://example.org/post and https://gone.invalid/x", [FETCH], stream=stream)
    uses = [b for b in message.content if b.type == "server_tool_use"]
    results = [b for b in message.content if b.type == "web_fetch_tool_result"]
    assert [u.input["url"] for u in uses] == ["https://example.org/post", "https://gone.invalid/x"]
    assert [r.tool_use_id for r in results] == [u.id for u in uses]
    assert results[0].content.type == "web_fetch_result" and results[0].content.url == "https://example.org/post"
    assert results[1].content.type == "web_fetch_tool_result_error"
    assert results[1].content.error_code == "url_not_accessible"
    assert message.usage.server_tool_use.web_fetch_requests == 2


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_code_execution_gives_the_code_and_its_output(client: anthropic.Anthropic, stream: bool) -> None:
    message = _ask(client, "what is 12 * 12 - 1", [CODE], stream=stream)
    use, result = message.content[0], message.content[1]
    assert use.type == "server_tool_use" and use.name == "code_execution"
    assert use.input == {"code": "print(12 * 12 - 1)\n"}
    assert result.type == "code_execution_tool_result" and result.tool_use_id == use.id
    assert result.content.stdout == "143\n" and result.content.return_code == 0
    assert message.content[-1].type == "text"
    failed = _ask(client, "run this [[sim:code-error]]", [CODE], stream=stream).content[1].content
    assert failed.return_code == 1 and "ValueError" in failed.stderr


def test_a_server_tool_gemini_has_no_counterpart_for_is_a_400(client: anthropic.Anthropic) -> None:
    memory = {"type": "memory_20250818", "name": "memory"}
    with pytest.raises(anthropic.BadRequestError) as raised:
        _ask(client, "remember this", [memory], stream=False)
    assert "memory" in raised.value.message
