"""Bad input and upstream failures reach OpenAI clients in OpenAI's error shape, never as a 500."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest

from tests.fixtures import OPENAI_FIXTURES
from tests.servers import ServerProcess, start_proxy

MSG = [{"role": "user", "content": "hi"}]
TOOL_PARAMS = "tools[0].function.parameters"
RESPONSE_SCHEMA = "response_format.json_schema.schema"


def with_tool_schema(schema: dict, **fields: object) -> dict:
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    return {"model": "gemini-2.5-flash", "messages": MSG, "tools": [tool], **fields}


DEEP = "<a list nested 1000 levels deep>"


def deep_at(body: dict, value: bytes = b"[" * 1000 + b"]" * 1000) -> bytes:
    """``body`` as JSON with ``value`` where it says ``DEEP``: json.dumps overflows the stack on such
    nesting, which the proxy's parser accepts (up to 1024 levels)."""
    return json.dumps(body).encode().replace(json.dumps(DEEP).encode(), value)


def deep_not_chain(depth: int, stream: bool = False) -> bytes:
    """A schema sent as JSON Schema (``{}`` is not in Gemini's subset) with ``not`` nested ``depth`` deep."""
    chain = b'{"not": ' * depth + b"{}" + b"}" * depth
    return deep_at(with_response_schema({"properties": {"a": {}}, "not": DEEP}, stream=stream), chain)


def with_response_schema(schema: dict, **fields: object) -> dict:
    response_format = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    return {"model": "gemini-2.5-flash", "messages": MSG, "response_format": response_format, **fields}


def post(proxy: ServerProcess, body: bytes | dict) -> httpx.Response:
    if isinstance(body, dict):
        return httpx.post(proxy.url + "/v1/chat/completions", json=body)
    return httpx.post(proxy.url + "/v1/chat/completions", content=body, headers={"content-type": "application/json"})


def assert_openai_error(response: httpx.Response, status: int, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"]
    if param is not None:
        assert error["param"] == param, error
    return error


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        ({"model": "gemini-2.5-flash"}, "messages"),
        ({"model": "gemini-2.5-flash", "messages": []}, "messages"),
        ({"model": "gemini-2.5-flash", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "gemini-2.5-flash", "messages": MSG, "n": 0}, "n"),
        ({"model": "gemini-2.5-flash", "messages": MSG, "temperature": "hot"}, "temperature"),
        ({"model": "gemini-2.5-flash", "messages": MSG, "top_logprobs": 21}, "top_logprobs"),
        (
            {
                "model": "gemini-2.5-flash",
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "call_nope", "content": "1"},
                ],
            },
            "messages[1].tool_call_id",
        ),
        (
            {
                "model": "gemini-2.5-flash",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64"}}]}
                ],
            },
            "messages[0].content[0].image_url",
        ),
        (with_tool_schema({"type": "object", "properties": "x", "allOf": [{"properties": {"a": {}}}]}), TOOL_PARAMS),
        (with_tool_schema({"allOf": [{"properties": ["a"]}, {"properties": {"a": {}}}]}, stream=True), TOOL_PARAMS),
        (with_response_schema({"properties": "x", "allOf": [{"properties": {"a": {}}}]}), RESPONSE_SCHEMA),
        (with_response_schema({"properties": "x", "allOf": [{"properties": {}}]}, stream=True), RESPONSE_SCHEMA),
        (with_tool_schema({"properties": {"a": {}}, "required": 5, "allOf": [{"required": ["a"]}]}), TOOL_PARAMS),
        (deep_not_chain(1000), RESPONSE_SCHEMA),
        (deep_at(with_tool_schema({"properties": {"a": {"const": DEEP}}})), None),
        (deep_at({"model": "gemini-2.5-flash", "messages": [{"role": DEEP, "content": "x"}]}), "messages[0].role"),
        (deep_not_chain(1000, stream=True), RESPONSE_SCHEMA),
        (with_response_schema({"required": True, "allOf": [{"properties": {"a": {}}}]}, stream=True), RESPONSE_SCHEMA),
    ],
)
def test_bad_input_is_a_400_naming_the_field(proxy: ServerProcess, body: bytes | dict, param: str | None) -> None:
    error = assert_openai_error(post(proxy, body), 400, param)
    assert error["type"] == "invalid_request_error"


def test_deeply_nested_tool_arguments_are_a_400(proxy: ServerProcess) -> None:
    arguments = '{"a": ' + "[" * 300 + "]" * 300 + "}"
    response = post(proxy, {"model": "gemini-2.5-flash", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]})
    assert_openai_error(response, 400)


def test_ignored_openai_parameters_are_accepted(proxy: ServerProcess) -> None:
    response = post(
        proxy,
        {
            "model": "gemini-2.5-flash",
            "messages": MSG,
            "user": "u1",
            "store": False,
            "metadata": {"a": "b"},
            "service_tier": "auto",
            "logit_bias": {"1": 2},
        },
    )
    assert response.status_code == 200, response.text


def test_unknown_model_is_model_not_found(proxy: ServerProcess) -> None:
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gemini-9-ultra", messages=MSG)
    assert isinstance(info.value.body, dict) and info.value.body["code"] == "model_not_found"
    # The same fields, of the same type, as api.openai.com's own answer for an unknown model.
    recorded = json.loads((OPENAI_FIXTURES / "openai-err-404-model-not-found.json").read_text())["error"]
    assert set(info.value.body) == set(recorded)
    assert info.value.body["type"] == recorded["type"]


def test_upstream_400_is_a_400(proxy: ServerProcess) -> None:
    # A Gemini 3 history with a function call that has a garbage signature: Google refuses the request.
    response = post(
        proxy,
        {
            "model": "gemini-3-flash-preview",
            "messages": [
                {"role": "user", "content": "call get_time"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": "{}"},
                            "extra_content": {"google": {"thought_signature": "Z2FyYmFnZQ=="}},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
            ],
            "tools": [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}],
        },
    )
    assert_openai_error(response, 400)


@pytest.mark.parametrize(("status", "expected"), [(500, 502), (503, 503)])
def test_upstream_server_errors(sim: ServerProcess, proxy: ServerProcess, status: int, expected: int) -> None:
    # Every attempt fails: the client gets the mapped status after the retries are spent.
    httpx.post(sim.url + "/_sim/fail-next", json={"status": status, "count": 50}).raise_for_status()
    error = assert_openai_error(post(proxy, {"model": "gemini-2.5-flash", "messages": MSG}), expected)
    assert error["type"] == "api_error"


def test_mid_stream_failure_is_an_error_event(sim: ServerProcess, proxy: ServerProcess) -> None:
    httpx.post(sim.url + "/_sim/fail-next", json={"status": 500, "after_chunks": 1, "count": 1}).raise_for_status()
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0)
    stream = client.chat.completions.create(model="gemini-2.5-flash", messages=MSG, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


class _FailsInOneRead(BaseHTTPRequestHandler):
    """Google's side of a stream whose three good events and then an error event arrive in one
    write, so that the proxy reads and translates them together."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        events: list[dict] = [
            {"candidates": [{"content": {"role": "model", "parts": [{"text": f"part{i} "}]}, "index": 0}]}
            for i in range(3)
        ]
        events.append({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})
        body = b"".join(b"data: " + json.dumps(event).encode() + b"\r\n\r\n" for event in events)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_error_event_after_good_events_of_the_same_read_comes_after_them() -> None:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _FailsInOneRead)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    proxy = start_proxy(f"http://127.0.0.1:{upstream.server_address[1]}", keys=["key-1"])
    try:
        body = {"model": "gemini-2.5-flash", "messages": MSG, "stream": True}
        response = httpx.post(proxy.url + "/v1/chat/completions", json=body, timeout=10)
    finally:
        proxy.stop()
        upstream.shutdown()
    assert response.status_code == 200
    events = [json.loads(line[6:]) for line in response.text.split("\n\n") if line.startswith("data: {")]
    text = "".join(c["delta"].get("content") or "" for e in events[:-1] for c in e["choices"])
    assert text == "part0 part1 part2 "  # every word Google sent before it failed
    assert events[-1]["error"]["message"] and "[DONE]" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "status", "shape"),
    [
        ("POST", "/v1/chat/completion", 404, "openai"),  # a typo of the path
        ("GET", "/v1/chat/completions", 405, "openai"),
        ("POST", "/v1beta/nothing-here", 404, "google"),
        ("GET", "/v1beta/cachedContents/abc/extra", 404, "google"),
        ("DELETE", "/v1beta/models", 405, "google"),
        ("GET", "/api/nowhere", 404, "simple"),
        # OpenAI paths with colons (fine-tuned model ids) are OpenAI's, not native Gemini calls.
        ("GET", "/v1/models/ft:gpt-4o-mini:org:custom", 404, "openai"),
        ("DELETE", "/v1/models/ft:gpt-4o:org:x", 405, "openai"),
        ("GET", "/v1/foo:bar", 404, "openai"),
        ("POST", "/v1/models/gemini-2.5-flash", 405, "openai"),
        ("POST", "/v1beta/models/gemini-2.5-flash", 404, "google"),
    ],
)
def test_unknown_paths_and_methods_answer_in_the_surface_shape(
    proxy: ServerProcess, method: str, path: str, status: int, shape: str
) -> None:
    response = httpx.request(method, proxy.url + path)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if shape == "openai":
        assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    elif shape == "google":
        assert error["code"] == status and error["status"] in ("NOT_FOUND", "UNKNOWN")
    else:
        assert set(error) == {"message", "code"}
    if path.startswith("/v1/models/ft:") and method == "GET":  # a model id OpenAI-style: a model's 404
        assert error["code"] == "model_not_found"
        return
    assert path in error["message"] or method in error["message"]
    if status == 405:
        assert response.headers["allow"]


def test_a_body_over_the_limit_is_a_413_in_each_surface_shape(simulator: ServerProcess) -> None:
    proxy = start_proxy(simulator.url, env={"GEMINI_PROXY_MAX_REQUEST_BYTES": "4096"})
    try:
        big = "x" * 5000
        response = post(proxy, {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": big}]})
        error = assert_openai_error(response, 413, param="body")
        assert error["code"] == "request_too_large" and "4096" in error["message"]
        native = httpx.post(
            proxy.url + "/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": big}]}]},
        )
        assert native.status_code == 413
        assert native.json()["error"]["status"] == "INVALID_ARGUMENT"
        # Sent in pieces (no Content-Length), the body is refused as soon as it passes the limit.
        chunks = (b'{"model": "gemini-2.5-flash", "messages": [' + b" " * 1000 for _ in range(10))
        streamed = httpx.post(proxy.url + "/v1/chat/completions", content=chunks)
        assert streamed.status_code == 413
        small = post(proxy, {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]})
        assert small.status_code == 200
    finally:
        proxy.stop()


def test_a_body_that_stops_arriving_is_a_408_in_each_surface_shape(simulator: ServerProcess) -> None:
    proxy = start_proxy(simulator.url, env={"GEMINI_PROXY_BODY_TIMEOUT": "0.5"})

    def stalled(path: str) -> tuple[int, dict]:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                "content-length: 500\r\n\r\n".encode() + b'{"model": "gemini-2.5-flash", "mess'
            )
            started = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
            assert time.monotonic() - started < 5
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    try:
        status, body = stalled("/v1/chat/completions")
        assert status == 408 and body["error"]["param"] == "body" and body["error"]["code"] == "request_timeout"
        assert set(body["error"]) == {"message", "type", "param", "code"}
        status, body = stalled("/v1beta/models/gemini-2.5-flash:generateContent")
        assert status == 408 and body["error"]["status"] == "DEADLINE_EXCEEDED"
        small = post(proxy, {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]})
        assert small.status_code == 200
    finally:
        proxy.stop()


class _CutsEveryAnswer(BaseHTTPRequestHandler):
    """Google's side answering 200 and breaking the connection halfway through the body."""

    paths: list[str] = []
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).paths.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "100")
        self.end_headers()
        self.wfile.write(b'{"name": "cachedCon')
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_an_answer_cut_short_is_asked_again_only_when_asking_twice_is_harmless() -> None:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _CutsEveryAnswer)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    proxy = start_proxy(f"http://127.0.0.1:{upstream.server_address[1]}", keys=["key-1", "key-2"])
    try:
        generate = httpx.post(
            proxy.url + "/v1beta/models/gemini-2.5-flash:generateContent", json={"contents": []}, timeout=10
        )
        asked_for_generation = len(_CutsEveryAnswer.paths)
        create = httpx.post(proxy.url + "/v1beta/cachedContents", json={"model": "models/gemini-2.5-flash"}, timeout=10)
    finally:
        proxy.stop()
        upstream.shutdown()
    assert generate.status_code == 502 and asked_for_generation == 2  # both keys tried
    # A cache may have been created by the first request: creating it again could make two.
    assert create.status_code == 502 and len(_CutsEveryAnswer.paths) == asked_for_generation + 1
