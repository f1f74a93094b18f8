"""The native surface's edge: only the model methods Google's docs list are forwarded (others are a
404 in Google's shape, never sent upstream), and Google's error bodies come back without a key in
them, as on the other surfaces. In process (``tests.inprocess``).
"""

from __future__ import annotations

import pytest

from tests.e2e.agents_helpers import sim_stats
from tests.inprocess import Local

GEN = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
EMBED = {"content": {"parts": [{"text": "hi"}]}}


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("generateContent", GEN),
        ("streamGenerateContent?alt=sse", GEN),
        ("countTokens", GEN),
        ("embedContent", EMBED),
        ("batchEmbedContents", {"requests": [{"model": "models/gemini-embedding-001", **EMBED}]}),
    ],
)
def test_the_listed_methods_are_forwarded(local: Local, method: str, body: dict[str, object]) -> None:
    proxy = local.proxy(local.simulator())
    model = "gemini-embedding-001" if "mbed" in method else "gemini-2.5-flash"
    for version in ("v1beta", "v1"):
        response = proxy.http.post(f"/{version}/models/{model}:{method}", json=body)
        assert response.status_code == 200, (version, method, response.text)


@pytest.mark.parametrize("method", ["predictLongRunning", "generateAnswer", "predict", "generateContentX", "x"])
def test_other_methods_are_404_in_google_shape_and_not_sent(local: Local, method: str) -> None:
    sim = local.simulator()
    proxy = local.proxy(sim)
    for version in ("v1beta", "v1"):
        response = proxy.http.post(f"/{version}/models/gemini-2.5-flash:{method}", json=GEN)
        assert response.status_code == 404, (version, response.text)
        error = response.json()["error"]
        assert error["code"] == 404 and error["status"] == "NOT_FOUND"
        assert "generateContent" in error["message"]
    assert sim_stats(sim)["by_status"] == {}


def test_a_key_in_google_s_error_never_reaches_the_client(local: Local) -> None:
    sim = local.simulator(keys=("sim-key-1",))
    proxy = local.proxy(sim, keys=("sim-key-1",))
    message = "Quota project for key sim-key-1 not set; see https://example.test/x?key=sim-key-2&y=1 for details."
    sim.http.post("/_sim/fail-next", json={"status": 400, "count": 10, "message": message}).raise_for_status()
    answers = [
        proxy.http.post("/v1beta/models/gemini-2.5-flash:generateContent", json=GEN),
        proxy.http.post("/v1/chat/completions", json={"model": "gemini-2.5-flash",
                                                      "messages": [{"role": "user", "content": "hi"}]}),
        proxy.http.post("/v1/messages", json={"model": "claude-sonnet-4-5", "max_tokens": 10,
                                              "messages": [{"role": "user", "content": "hi"}]}),
    ]  # fmt: skip
    for response in answers:
        assert response.status_code == 400, response.text
        assert "sim-key-1" not in response.text and "sim-key-2" not in response.text, response.text
        assert "Quota project for key *** not set" in response.text
    native = answers[0].json()["error"]
    assert native["status"] == "INVALID_ARGUMENT" and "key=***" in native["message"]
