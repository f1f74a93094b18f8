"""api/common.py's ``read_body``: the whole body whatever pieces the server hands it in, a second
read an error (not a wait for a body that will never come), and ``ClientDisconnect`` (which the
endpoint answers by not answering) when the client leaves first. Over a real socket, a large
body arrives in many pieces."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from gemini_proxy.api.common import parse_json_object, read_body
from gemini_proxy.errors import InvalidRequest
from tests.servers import ServerProcess


def request_of(*messages: Message) -> Request:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0)

    return Request({"type": "http", "method": "POST", "headers": [], "path": "/"}, receive)


async def test_one_message_is_the_body() -> None:
    request = request_of({"type": "http.request", "body": b'{"a": 1}', "more_body": False})
    assert await read_body(request) == b'{"a": 1}'
    with pytest.raises(RuntimeError, match="read already"):  # not a wait for a body that will not come
        await read_body(request)


async def test_pieces_are_joined_in_order() -> None:
    request = request_of(
        {"type": "http.request", "body": b'{"a"', "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b": 1}", "more_body": False},
    )
    assert parse_json_object(await read_body(request)) == {"a": 1}


async def test_a_message_without_a_body_is_an_empty_body() -> None:
    request = request_of({"type": "http.request"})
    assert await read_body(request) == b""
    with pytest.raises(InvalidRequest) as info:
        parse_json_object(b"")
    assert info.value.param == "body"


@pytest.mark.parametrize("first", [True, False])
async def test_a_client_that_leaves_first_is_a_client_disconnect(first: bool) -> None:
    messages: list[Message] = [] if first else [{"type": "http.request", "body": b'{"a"', "more_body": True}]
    request = request_of(*messages, {"type": "http.disconnect"})
    with pytest.raises(ClientDisconnect):
        await read_body(request)


def test_a_large_body_in_many_pieces_reaches_gemini_whole(proxy: ServerProcess) -> None:
    text = "word " * 400_000  # 2 MB: uvicorn hands it to the app in many messages
    response = httpx.post(
        proxy.url + "/v1beta/models/gemini-2.5-flash:countTokens",
        json={"contents": [{"role": "user", "parts": [{"text": text}]}]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["totalTokens"] > 100_000
