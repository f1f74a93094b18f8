"""Model names a client makes up create no state: only models that exist get per-key counters,
cooldowns and metric labels; every other name is counted under one ``(other)`` bucket."""

from __future__ import annotations

import re

from tests.e2e.agents_helpers import sim_stats
from tests.inprocess import Local

JUNK = 200


def _chat(model: str) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def test_junk_model_names_share_one_bucket_everywhere(local: Local) -> None:
    sim = local.simulator()
    proxy = local.proxy(sim)
    assert proxy.http.post("/v1/chat/completions", json=_chat("gemini-2.5-pro")).status_code == 200
    for i in range(JUNK):
        answer = proxy.http.post("/v1/chat/completions", json=_chat(f"made-up-model-{i}"))
        assert answer.status_code == 404, answer.text
    status = proxy.http.get("/api/system/status").json()
    per_key = {name for key in status["keys"] for name in key["models"]}
    assert per_key <= {"gemini-2.5-pro", "models:list", "(other)"}, sorted(per_key)[:10]
    assert "gemini-2.5-pro" in per_key and "(other)" in per_key
    metrics = proxy.http.get("/metrics").text
    labels = set(re.findall(r'model="([^"]*)"', metrics))
    assert not any(label.startswith("made-up-model") for label in labels), sorted(labels)[:10]
    assert 'gemini_proxy_requests_total{model="(other)",status="404",surface="openai"} 200.0' in metrics
    assert len(status_text := proxy.http.get("/api/system/status").text) < 20_000, len(status_text)
    stats = sim_stats(sim)
    listings = stats["total"] - 1 - JUNK
    assert listings == 1, f"the model list was read {listings} times for {JUNK} junk names"
