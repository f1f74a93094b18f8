from __future__ import annotations

import argparse
import json
import math

import pytest

from gemini_proxy.simulator import add_cli_arguments, config_from_args
from tests.simulator.conftest import FIXTURES, Sim, user
from tests.simulator.shapes import assert_shape

REQUIRED = [
    "gemini-2.0-flash",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-pro",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-flash-latest",
    "gemini-embedding-001",
    "text-embedding-004",
]


def test_model_get_shape(sim: Sim) -> None:
    m = sim.get("/v1beta/models/gemini-3-pro-preview").json()
    assert_shape(m, json.loads((FIXTURES / "cookbook-model-get.json").read_text()))
    assert list(m) == list(json.loads((FIXTURES / "cookbook-model-get.json").read_text()))
    e = sim.get("/v1beta/models/text-embedding-004").json()
    assert (
        "embedContent" in e["supportedGenerationMethods"] and "generateContent" not in e["supportedGenerationMethods"]
    )
    assert sim.get("/v1beta/models/nope").status_code == 404


def test_models_paging(sim: Sim) -> None:
    full = sim.get("/v1beta/models").json()
    assert "nextPageToken" not in full
    names = [m["name"] for m in full["models"]]
    assert all(f"models/{r}" in names for r in REQUIRED)
    seen, token = [], None
    while True:
        page = sim.get("/v1beta/models", params={"pageSize": 4, **({"pageToken": token} if token else {})}).json()
        assert len(page["models"]) <= 4
        seen += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == names
    assert sim.get("/v1beta/models", params={"pageToken": "garbage!"}).status_code == 400


def test_embed_dimensions_stability_norm(sim: Sim) -> None:
    def emb(model: str, text: str, dim: int | None = None) -> list[float]:
        body = {"content": {"parts": [{"text": text}]}, **({"outputDimensionality": dim} if dim else {})}
        r = sim.post(f"/v1beta/models/{model}:embedContent", body)
        assert r.status_code == 200, r.text
        return r.json()["embedding"]["values"]

    assert len(emb("gemini-embedding-001", "a")) == 3072
    assert len(emb("text-embedding-004", "a")) == 768
    v = emb("gemini-embedding-001", "hello", 256)
    assert len(v) == 256 and math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-6)
    assert v == emb("gemini-embedding-001", "hello", 256) and v != emb("gemini-embedding-001", "hellO", 256)
    r = sim.post(
        "/v1beta/models/text-embedding-004:embedContent",
        {"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 4000},
    )
    assert r.status_code == 400
    assert (
        sim.post("/v1beta/models/gemini-2.5-flash:embedContent", {"content": {"parts": [{"text": "x"}]}}).status_code
        == 404
    )


def test_batch_embed(sim: Sim) -> None:
    reqs = [{"model": "models/text-embedding-004", "content": {"parts": [{"text": t}]}} for t in ("a", "b")]
    body = sim.post("/v1beta/models/text-embedding-004:batchEmbedContents", {"requests": reqs}).json()
    assert_shape(body, json.loads((FIXTURES / "llmg-batch-embed-2x768.json").read_text()))
    assert len(body["embeddings"]) == 2 and len(body["embeddings"][0]["values"]) == 768
    bad = [{**reqs[0], "model": "models/gemini-embedding-001"}]
    r = sim.post("/v1beta/models/text-embedding-004:batchEmbedContents", {"requests": bad})
    assert r.status_code == 400 and "requests[0].model" in r.json()["error"]["message"]
    r = sim.post(
        "/v1beta/models/text-embedding-004:batchEmbedContents", {"requests": [{"content": reqs[0]["content"]}]}
    )
    assert r.status_code == 400


def test_cached_contents_lifecycle_and_project_scope(make_sim) -> None:  # type: ignore[no-untyped-def]
    s: Sim = make_sim(keys={"sim-a1": "proj-a", "sim-a2": "proj-a", "sim-b": "proj-b"})
    body = {
        "model": "models/gemini-2.5-flash",
        "contents": [{"role": "user", "parts": [{"text": "w " * 40}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "ttl": "300s",
        "displayName": "doc",
    }
    r = s.post("/v1beta/cachedContents", body, key="sim-a1")
    assert r.status_code == 200, r.text
    cache = r.json()
    assert cache["name"].startswith("cachedContents/") and cache["usageMetadata"]["totalTokenCount"] == 42
    name = cache["name"]
    assert s.get(f"/v1beta/{name}", key="sim-a2").status_code == 200
    denied = s.get(f"/v1beta/{name}", key="sim-b")
    assert denied.status_code == 403
    assert denied.json()["error"]["message"] == "CachedContent not found (or permission denied)"
    assert s.get("/v1beta/cachedContents", key="sim-b").json() == {}
    assert [c["name"] for c in s.get("/v1beta/cachedContents", key="sim-a2").json()["cachedContents"]] == [name]
    gen = {**user("q"), "cachedContent": name}
    out = s.generate("gemini-2.5-flash", gen, key="sim-a2").json()
    u = out["usageMetadata"]
    assert u["cachedContentTokenCount"] == 42 and u["promptTokenCount"] == 43
    assert out["candidates"][0]["content"]["parts"][0]["text"].startswith(
        "[system: Be brief.] Simulated reply to turn 2"
    )
    assert s.generate("gemini-2.5-flash", gen, key="sim-b").status_code == 403
    assert s.generate("gemini-2.0-flash", gen, key="sim-a1").status_code == 400
    assert (
        s.generate(
            "gemini-2.5-flash", {**gen, "systemInstruction": {"parts": [{"text": "x"}]}}, key="sim-a1"
        ).status_code
        == 400
    )
    patched = s.http.patch(f"/v1beta/{name}", json={"ttl": "600s"}, headers={"x-goog-api-key": "sim-a1"}).json()
    assert patched["expireTime"] > cache["expireTime"]
    assert s.http.delete(f"/v1beta/{name}", headers={"x-goog-api-key": "sim-b"}).status_code == 403
    assert s.http.delete(f"/v1beta/{name}", headers={"x-goog-api-key": "sim-a1"}).json() == {}
    assert s.get(f"/v1beta/{name}", key="sim-a1").status_code == 403


def test_cli_arguments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("sim-k3:proj-x\n# comment\nsim-k4\n")
    p = argparse.ArgumentParser()
    add_cli_arguments(p)
    ns = p.parse_args(
        [
            "--keys",
            "sim-k1,sim-k2:proj-x",
            "--keys-file",
            str(keys_file),
            "--rpm",
            "5",
            "--rpd",
            "20",
            "--stream-chunks",
            "4",
            "--error-rate",
            "503=0.1",
            "--error-rate",
            "500=0.05",
            "--seed",
            "3",
            "--chunk-delay",
            "0.01",
            "--first-byte-delay",
            "0.02",
        ]
    )
    cfg = config_from_args(ns)
    assert cfg.keys == {"sim-k1": None, "sim-k2": "proj-x", "sim-k3": "proj-x", "sim-k4": None}
    assert (cfg.rpm, cfg.rpd, cfg.stream_chunks, cfg.seed) == (5, 20, 4, 3)
    assert cfg.error_rates == {503: 0.1, 500: 0.05}
    assert (ns.host, ns.port) == ("127.0.0.1", 8081)
    assert cfg.project_of("sim-k3") == cfg.project_of("sim-k2") == "proj-x"
    assert cfg.project_of("nope") is None
    assert config_from_args(p.parse_args([])).keys is None


@pytest.mark.parametrize("model", REQUIRED[:7])
def test_every_chat_model_answers(sim: Sim, model: str) -> None:
    assert sim.generate(model, user("x")).status_code == 200


@pytest.mark.parametrize("path", ["/v1beta/models", "/v1beta/cachedContents"])
@pytest.mark.parametrize("value", ["abc", "1.5", "99999999999", "1e3"])
def test_page_size_not_an_int32_is_400(sim: Sim, path: str, value: str) -> None:
    r = sim.get(f"{path}?pageSize={value}")
    assert r.status_code == 400, r.text
    e = r.json()["error"]
    assert e["status"] == "INVALID_ARGUMENT"
    assert e["message"] == f"Invalid value at 'page_size' (TYPE_INT32), \"{value}\""
    assert e["details"][0]["fieldViolations"] == [{"field": "page_size", "description": e["message"]}]


def test_page_size_still_pages(sim: Sim) -> None:
    assert len(sim.get("/v1beta/models?pageSize=2").json()["models"]) == 2
    assert sim.get("/v1beta/cachedContents?pageSize=5").json() == {}
    assert sim.get("/v1beta/cachedContents?pageSize=-1").status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "proto"),
    [
        ("ttl", "abc", "Duration"), ("ttl", "300", "Duration"), ("ttl", 300, "Duration"), ("ttl", "5m", "Duration"),
        ("expireTime", "abc", "Timestamp"), ("expireTime", "2030-13-01T00:00:00Z", "Timestamp"),
        ("expireTime", "2030-01-01", "Timestamp"), ("expireTime", 5, "Timestamp"),
    ],
)
def test_cache_bad_ttl_or_expire_time_is_400(sim: Sim, field: str, value: object, proto: str) -> None:
    body = {"model": "models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "w"}]}], field: value}
    r = sim.post("/v1beta/cachedContents", body)
    assert r.status_code == 400, r.text
    where = "expire_time" if field == "expireTime" else "ttl"
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    assert r.json()["error"]["message"] == (
        f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.{proto}), {shown}"
    )
    # the same check on PATCH
    ok = sim.post("/v1beta/cachedContents", {k: v for k, v in body.items() if k != field}).json()
    r = sim.http.patch(f"/v1beta/{ok['name']}", json={field: value}, headers={"x-goog-api-key": "sim-key-1"})
    assert r.status_code == 400


def test_cache_good_ttl_and_expire_time_forms(sim: Sim) -> None:
    base = {"model": "models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "w"}]}]}
    r = sim.post("/v1beta/cachedContents", {**base, "expireTime": "2099-01-02T03:04:05.123456789Z"})
    assert r.status_code == 200 and r.json()["expireTime"].startswith("2099-01-02T03:04:05.123")
    r = sim.post("/v1beta/cachedContents", {**base, "expireTime": "2099-01-02T05:04:05+02:00"})
    assert r.json()["expireTime"].startswith("2099-01-02T03:04:05")
    assert sim.post("/v1beta/cachedContents", {**base, "ttl": "1.5s"}).status_code == 200
