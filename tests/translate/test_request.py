"""OpenAI Chat Completions request -> Gemini GenerateContentRequest, messages and media: one row per
mapping rule (tools: ``test_request_tools.py``; parameters and thinking: ``test_request_params.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_proxy.translate import IGNORED_PARAMS, collect_media_urls

from .requests import PNG, USER, assert_subset, body, gem, translate

# (id, request body, expected subset of the Gemini body)
MAPPING: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("plain user string", body(), {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
    (
        "multi-turn roles, never concatenated",
        body(messages=[USER, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]),
        {
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": "hello"}]},
                {"role": "user", "parts": [{"text": "again"}]},
            ]
        },
    ),
    (
        "consecutive same-role turns merged",
        body(messages=[USER, {"role": "user", "content": [{"type": "text", "text": "more"}], "name": "bob"}]),
        {"contents": [{"role": "user", "parts": [{"text": "hi"}, {"text": "more"}]}]},
    ),
    (
        "system and developer -> systemInstruction in order",
        body(
            messages=[
                {"role": "system", "content": "be brief"},
                USER,
                {"role": "developer", "content": [{"type": "text", "text": "be kind"}]},
            ]
        ),
        {
            "systemInstruction": {"parts": [{"text": "be brief"}, {"text": "be kind"}]},
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        },
    ),
    (
        "only a system message is sent as the user turn",
        body(messages=[{"role": "system", "content": "say hi"}]),
        {"contents": [{"role": "user", "parts": [{"text": "say hi"}]}]},
    ),
    (
        "image data URL -> inlineData",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ]
        ),
        {
            "contents": [
                {"role": "user", "parts": [{"text": "what?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]}
            ]
        },
    ),
    (
        "input_audio mp3 -> audio/mp3",
        body(
            messages=[
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAA=", "format": "mp3"}}]}
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "audio/mp3", "data": "AAA="}}]}]},
    ),
    (
        "input_audio wav -> audio/wav",
        body(
            messages=[
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAA=", "format": "wav"}}]}
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AAA="}}]}]},
    ),
    (
        "file with data URL -> inlineData pdf",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}}
                    ],
                }
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
    ),
    (
        "upper-case data URL scheme (schemes are case-insensitive)",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": f"DATA:image/png;BASE64,{PNG}"}}],
                }
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]}]},
    ),
    (
        "file with an upper-case data URL scheme",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "file", "file": {"file_data": "Data:application/pdf;base64,JVBE"}}],
                }
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
    ),
    (
        "file with bare base64 -> mime from filename",
        body(
            messages=[
                {"role": "user", "content": [{"type": "file", "file": {"file_data": "JVBE", "filename": "r.PDF"}}]}
            ]
        ),
        {"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
    ),
]


@pytest.mark.parametrize(("request_body", "expected"), [(b, e) for _, b, e in MAPPING], ids=[i for i, _, _ in MAPPING])
def test_mapping(request_body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert_subset(expected, gem(request_body))


def test_nothing_invented() -> None:
    """What the client did not send stays absent."""
    assert gem(body()) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_ignored_params_are_accepted() -> None:
    assert {
        "user",
        "store",
        "metadata",
        "service_tier",
        "logit_bias",
        "prediction",
        "modalities",
        "safety_identifier",
        "prompt_cache_key",
        "verbosity",
    } <= IGNORED_PARAMS
    noisy = body(**{name: "x" for name in IGNORED_PARAMS}, brand_new_param={"a": 1})
    assert gem(noisy) == gem(body())


def test_chat_call_facts() -> None:
    call = translate(
        body(
            model="gpt-4o",
            stream=True,
            stream_options={"include_usage": True},
            n=2,
            parallel_tool_calls=False,
            google={"thinking_config": {"include_thoughts": True}},
        )
    )
    assert (call.model, call.requested_model, call.stream, call.include_usage, call.include_thoughts, call.n) == (
        "gemini-2.5-flash",
        "gpt-4o",
        True,
        True,
        True,
        2,
    )
    assert call.parallel_tool_calls is False and call.legacy_functions is False
    assert translate(body(functions=[{"name": "now"}])).legacy_functions is True
    default = translate({"messages": [USER]}, default_model="gemini-2.0-flash")
    assert (default.model, default.requested_model, default.n, default.stream) == (
        "gemini-2.0-flash",
        "gemini-2.0-flash",
        1,
        False,
    )


@pytest.mark.parametrize(
    "url", ["https://example.com/cat.png", "http://example.com/cat.png", "HTTPS://example.com/cat.png", "Http://x/y"]
)
def test_http_image_comes_from_fetched_media(url: str) -> None:
    request = body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])
    assert collect_media_urls(request) == [(url, "messages[0].content[0].image_url")]
    parts = gem(request, fetched_media={url: ("image/png", PNG)})["contents"][0]["parts"]
    assert parts == [{"inlineData": {"mimeType": "image/png", "data": PNG}}]


def test_collect_media_urls_is_tolerant_and_deduplicated() -> None:
    assert collect_media_urls([]) == [] and collect_media_urls({"messages": "x"}) == []
    part = {"type": "image_url", "image_url": {"url": "http://a/x.png"}}
    data = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    assert collect_media_urls({"messages": [{"role": "user", "content": [part, data, part]}, 3]}) == [
        ("http://a/x.png", "messages[0].content[0].image_url")
    ]


def test_model_resolution_in_request() -> None:
    assert translate(body(model="fast")).model == "gemini-2.5-flash-lite"
    assert translate(body(model="models/gemini-2.5-pro")).model == "gemini-2.5-pro"
    assert translate(body(model="google/gemini-2.5-pro")).requested_model == "google/gemini-2.5-pro"
