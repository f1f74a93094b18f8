"""Agent delegation over HTTP: a real proxy in front of the simulator.

What a user checks: a delegated job runs through the key pool and ends with the simulator's
text and its exact token usage; bad input is a 4xx naming the field; a job outlives spent keys;
Gemini's refusals are recorded, cancelling stops the upstream call, custom agents reach Gemini.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gemini_proxy.agents.registry import BUILTIN_AGENTS
from tests.e2e.agents_helpers import delegate, job, sim_config, sim_stats, wait_for
from tests.e2e.test_startup import assert_one_line_error, run_serve
from tests.inprocess import Local, LocalServer, LocalSimulator
from tests.servers import SIM_KEYS, ServerProcess, start_proxy, until

SYSTEM = {agent.name: agent.system for agent in BUILTIN_AGENTS}


def reply(system: str, user_text: str) -> str:
    """The simulator's deterministic answer (docs/simulator.md)."""
    return f"[system: {system[:40]}] Simulated reply to turn 1: {user_text}"


@pytest.fixture
def fresh(sim: ServerProcess) -> Iterator[ServerProcess]:
    """A proxy of the test's own: its key state and jobs start empty."""
    proxy = start_proxy(sim.url, env={"GEMINI_PROXY_MAX_WAIT": "0"})
    yield proxy
    proxy.stop()


@pytest.fixture
def local_sim(local: Local) -> LocalSimulator:
    return local.simulator()


@pytest.fixture
def local_proxy(local: Local, local_sim: LocalSimulator) -> LocalServer:
    """The same, in process (with a simulator of its own)."""
    return local.proxy(local_sim, max_wait=0)


def test_delegate_then_poll_gives_the_answer_and_exact_usage(sim: ServerProcess, proxy: ServerProcess) -> None:
    task = "Name three prime numbers"
    response = delegate(proxy, {"agent": "general", "task": task, "metadata": {"ticket": "T-1"}})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert re.fullmatch(r"job_[0-9a-f]{24}", accepted["id"])
    assert accepted["status"] in ("queued", "running")
    assert accepted["agent"] == "general" and accepted["model"] == "gemini-2.5-flash"
    assert accepted["status_url"] == f"/api/agents/status/{accepted['id']}"
    assert response.headers["location"] == accepted["status_url"]
    assert abs(accepted["created_at"] - time.time()) < 5

    done = wait_for(proxy, accepted["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["text"] == reply(SYSTEM["general"], task)
    assert done["result"]["finish_reason"] == "stop"
    assert done["task"] == task and done["metadata"] == {"ticket": "T-1"} and done["error"] is None
    assert done["attempts"] == 1 and done["created_at"] <= done["started_at"] <= done["finished_at"]
    assert done["deadline_at"] == pytest.approx(done["created_at"] + 3600, abs=0.002)  # the default job timeout
    # The simulator counts a word as a token: the prompt is the system instruction plus the task.
    usage = done["usage"]
    assert usage["prompt_tokens"] == len(SYSTEM["general"].split()) + len(task.split())
    answer_tokens = len(done["result"]["text"].split())
    assert usage["completion_tokens"] == answer_tokens + usage["reasoning_tokens"]
    assert usage["reasoning_tokens"] == min(24576, 16 + usage["prompt_tokens"])  # 2.5-flash's dynamic thinking
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert sim_stats(sim)["by_model"] == {"gemini-2.5-flash": 1}


def test_context_is_given_before_the_task(sim: ServerProcess, proxy: ServerProcess) -> None:
    body = {"agent": "summarizer", "task": "Summarise it", "context": {"notes": ["a", "b"]}, "wait": 10}
    response = delegate(proxy, body)
    assert response.status_code == 200, response.text
    context = json.dumps({"notes": ["a", "b"]}, indent=2)
    assert response.json()["result"]["text"] == reply(SYSTEM["summarizer"], f"Context:\n{context} Summarise it")


def test_wait_returns_the_finished_job(sim: ServerProcess, proxy: ServerProcess) -> None:
    response = delegate(proxy, {"agent": "coder", "task": "Write hello world", "wait": 10})
    assert response.status_code == 200, response.text
    finished = response.json()
    assert finished["status"] == "succeeded" and finished["result"]["text"].endswith("Write hello world")
    assert job(proxy, finished["id"]) == finished


def test_wait_that_ends_first_returns_202_with_the_job_as_it_stands(sim: ServerProcess, proxy: ServerProcess) -> None:
    sim_config(sim, first_byte_delay=1.5)
    started = time.monotonic()
    response = delegate(proxy, {"agent": "general", "task": "slow one", "wait": 0.3})
    assert 0.3 <= time.monotonic() - started < 1.4
    assert response.status_code == 202 and response.json()["status"] in ("queued", "running")
    assert wait_for(proxy, response.json()["id"])["status"] == "succeeded"


def test_json_agent_gives_parsed_json(sim: ServerProcess, proxy: ServerProcess) -> None:
    response = delegate(proxy, {"agent": "extractor", "task": "Extract the reply", "wait": 10})
    result = response.json()["result"]
    # Without a schema the simulator answers {"reply": <its usual text>} for a JSON MIME type.
    assert result["json"] == {"reply": reply(SYSTEM["extractor"], "Extract the reply")}
    assert json.loads(result["text"]) == result["json"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"task": "x"}, "agent", "invalid_agent"),
        ({"agent": "nobody", "task": "x"}, "agent", "unknown_agent"),
        ({"agent": 7, "task": "x"}, "agent", "invalid_agent"),
        ({"agent": "general"}, "task", "invalid_task"),
        ({"agent": "general", "task": "   "}, "task", "invalid_task"),
        ({"agent": "general", "task": ["x"]}, "task", "invalid_task"),
        ({"agent": "general", "task": "x", "context": 5}, "context", "invalid_context"),
        ({"agent": "general", "task": "x", "model": 3}, "model", "invalid_model"),
        ({"agent": "general", "task": "x", "model": "bad/model:name"}, "model", "invalid_model"),
        ({"agent": "general", "task": "x", "wait": "soon"}, "wait", "invalid_wait"),
        ({"agent": "general", "task": "x", "wait": 301}, "wait", "invalid_wait"),
        ({"agent": "general", "task": "x", "wait": -1}, "wait", "invalid_wait"),
        ({"agent": "general", "task": "x", "metadata": ["a"]}, "metadata", "invalid_metadata"),
        ({"agent": "general", "task": "x", "metadata": {"n": 1}}, "metadata", "invalid_metadata"),
        ({"agent": "general", "task": "x", "priority": 1}, "priority", "unknown_field"),
    ],
)
def test_bad_input_names_the_field(proxy: ServerProcess, body: dict, field: str, code: str) -> None:
    response = delegate(proxy, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "code"} and error["code"] == code
    assert f"'{field}'" in error["message"]


def test_unknown_agent_lists_the_known_ones(proxy: ServerProcess) -> None:
    message = delegate(proxy, {"agent": "nobody", "task": "x"}).json()["error"]["message"]
    assert message == "Unknown agent 'nobody' in 'agent'; known agents: coder, extractor, general, summarizer."


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]", b'"task"'])
def test_a_body_that_is_not_a_json_object_is_400(proxy: ServerProcess, raw: bytes) -> None:
    response = httpx.post(proxy.url + "/api/agents/delegate", content=raw)
    assert response.status_code == 400 and set(response.json()["error"]) == {"message", "code"}


def test_unknown_job_and_bad_queries(proxy: ServerProcess) -> None:
    for path in ("/api/agents/status/job_000000000000000000000000", "/api/agents/status?id=nope"):
        response = httpx.get(proxy.url + path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "job_not_found", response.text
    assert httpx.post(proxy.url + "/api/agents/cancel/job_nope").status_code == 404
    for query, code in [("status=done", "invalid_status"), ("limit=0", "invalid_limit"), ("limit=x", "invalid_limit"),
                        ("limit=%C2%B2", "invalid_limit"),  # "²": a digit to str.isdigit, not to int()
                        ("stauts=queued", "unknown_parameter")]:
        response = httpx.get(f"{proxy.url}/api/agents/status?{query}")
        assert response.status_code == 400 and response.json()["error"]["code"] == code, response.text
    assert httpx.get(proxy.url + "/api/agents/delegate").status_code == 405


def test_status_lists_agents_counts_and_recent_jobs(local_proxy: LocalServer) -> None:
    ids = [
        delegate(local_proxy, {"agent": a, "task": "t", "wait": 10}).json()["id"] for a in ("general", "coder", "coder")
    ]
    listing = local_proxy.http.get("/api/agents/status").json()
    assert [a["name"] for a in listing["agents"]] == ["coder", "extractor", "general", "summarizer"]
    assert all(a["source"] == "builtin" and a["description"] for a in listing["agents"])
    assert listing["counts"] == {"queued": 0, "running": 0, "succeeded": 3, "failed": 0, "cancelled": 0}
    assert [j["id"] for j in listing["jobs"]] == ids[::-1]
    assert "result" not in listing["jobs"][0] and listing["jobs"][0]["finish_reason"] == "stop"
    coder = local_proxy.http.get("/api/agents/status?agent=coder&limit=1").json()["jobs"]
    assert [j["id"] for j in coder] == [ids[2]]
    assert local_proxy.http.get("/api/agents/status?status=failed").json()["jobs"] == []
    assert local_proxy.http.get(f"/api/agents/status?id={ids[0]}").json()["task"] == "t"
    assert local_proxy.http.get("/api/agents").json()["agents"] == listing["agents"]
    system = local_proxy.http.get("/api/system/status").json()["agent_jobs"]
    assert system == {"by_status": listing["counts"], "running_here": 0}
    metrics = local_proxy.http.get("/metrics").text
    assert 'gemini_proxy_agent_jobs_total{agent="coder",status="succeeded"} 2.0' in metrics
    assert 'gemini_proxy_agent_jobs_total{agent="general",status="succeeded"} 1.0' in metrics


def test_a_job_waits_for_rate_limited_keys_then_succeeds(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    local_sim.http.post("/_sim/keys", json={"keys": list(SIM_KEYS), "state": "exhausted_minute", "retry_delay": "3s"})
    started = time.monotonic()
    accepted = delegate(local_proxy, {"agent": "general", "task": "patience"}).json()
    assert until(lambda: job(local_proxy, accepted["id"]).get("last_error") is not None, 2.5)
    waiting = job(local_proxy, accepted["id"])
    assert waiting["status"] == "running" and waiting["attempts"] == 1, waiting
    last = waiting["last_error"]
    assert last["code"] == "rate_limit_exceeded" and "cooling down" in last["message"]
    assert 0 < waiting["retry_at"] - last["at"] <= 3.5  # when the keys come back, not before
    assert sim_stats(local_sim)["by_status"] == {"429": len(SIM_KEYS)}, "each key was tried once, then the job waited"
    done = wait_for(local_proxy, accepted["id"], timeout=15)
    assert done["status"] == "succeeded", done
    assert time.monotonic() - started >= 2.0, "it cannot have succeeded before a key came back"
    assert 2 <= done["attempts"] <= 4 and done["result"]["text"].endswith("patience")
    assert "retry_at" not in done


def test_a_permanent_upstream_failure_fails_the_job_with_the_mapped_error(
    local_sim: LocalSimulator, local_proxy: LocalServer
) -> None:
    done = delegate(local_proxy, {"agent": "general", "task": "x", "model": "gemini-0-nothing", "wait": 10}).json()
    assert done["status"] == "failed" and done["result"] is None and done["usage"] is None
    assert done["error"]["code"] == "model_not_found"
    assert "models/gemini-0-nothing is not found" in done["error"]["message"]
    assert done["attempts"] == 1, "a 404 is not retried"
    local_sim.http.post("/_sim/fail-next", json={"status": 400, "count": 1, "message": "Bad thing."})
    bad = delegate(local_proxy, {"agent": "general", "task": "y", "wait": 10}).json()
    assert bad["status"] == "failed" and bad["error"] == {"message": "Bad thing.", "code": "invalid_request_error"}
    metrics = local_proxy.http.get("/metrics").text
    assert 'gemini_proxy_agent_jobs_total{agent="general",status="failed"} 2.0' in metrics


def test_server_errors_are_retried_until_success(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    # The gateway tries 4 keys; the job then tries again after a backoff.
    local_sim.http.post("/_sim/fail-next", json={"status": 503, "count": 4}).raise_for_status()
    done = wait_for(local_proxy, delegate(local_proxy, {"agent": "general", "task": "again"}).json()["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert done["last_error"]["code"] == "upstream_unavailable"
    assert sim_stats(local_sim)["by_status"] == {"503": 4, "200": 1}


def test_a_job_spends_one_retry_budget_across_its_tries(sim: ServerProcess, fresh: ServerProcess) -> None:
    # Google answers 503 to everything: the job's tries share one budget of two calls' worth of
    # attempts (8), where the runner's 5 tries around the gateway's 4 used to make up to 20.
    httpx.post(sim.url + "/_sim/fail-next", json={"status": 503, "count": 1000}).raise_for_status()
    try:
        done = wait_for(fresh, delegate(fresh, {"agent": "general", "task": "never"}).json()["id"])
        asked = sim_stats(sim)["by_status"]
    finally:
        httpx.post(sim.url + "/_sim/reset").raise_for_status()
    assert done["status"] == "failed" and done["error"]["code"] == "upstream_unavailable"
    assert asked == {"503": 8}
    assert done["attempts"] == 3  # each try stops when its 3 keys are all tried: 3 + 3 + 2


def test_a_blocked_prompt_fails_with_its_usage_recorded(sim: ServerProcess, proxy: ServerProcess) -> None:
    done = delegate(proxy, {"agent": "general", "task": "[[sim:safety]] please", "wait": 10}).json()
    assert done["status"] == "failed" and done["error"]["code"] == "content_filtered"
    assert "SAFETY" in done["error"]["message"] and done["usage"]["prompt_tokens"] > 0


def test_cancel_a_running_job_cancels_its_upstream_call(local_sim: LocalSimulator, local_proxy: LocalServer) -> None:
    sim_config(local_sim, first_byte_delay=5)
    accepted = delegate(local_proxy, {"agent": "general", "task": "long"}).json()
    assert wait_for(local_proxy, accepted["id"], statuses=("running",))["attempts"] == 1
    time.sleep(0.3)  # the call is on its way (the simulator counts a call when it answers)
    response = local_proxy.http.post(f"/api/agents/cancel/{accepted['id']}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled", response.text
    # The simulator records a call whose client went away as 499 (Google's CANCELLED).
    assert until(lambda: sim_stats(local_sim)["by_status"].get("499") == 1, 3), sim_stats(local_sim)
    assert local_proxy.http.get("/api/agents/status").json()["running_here"] == 0
    time.sleep(0.3)
    final = job(local_proxy, accepted["id"])
    assert final["status"] == "cancelled" and final["result"] is None and final["finished_at"] is not None
    assert local_proxy.http.post(f"/api/agents/cancel/{accepted['id']}").status_code == 200  # idempotent
    sim_config(local_sim, first_byte_delay=0)
    done = delegate(local_proxy, {"agent": "general", "task": "quick", "wait": 10}).json()
    late = local_proxy.http.post(f"/api/agents/cancel/{done['id']}")
    assert late.status_code == 409 and late.json()["error"]["code"] == "job_finished"
    metrics = local_proxy.http.get("/metrics").text
    assert 'gemini_proxy_agent_jobs_total{agent="general",status="cancelled"} 1.0' in metrics


def test_cancel_a_queued_job(local: Local, local_sim: LocalSimulator) -> None:
    sim_config(local_sim, first_byte_delay=3)
    proxy = local.proxy(local_sim, agents_concurrency=1)
    first = delegate(proxy, {"agent": "general", "task": "one"}).json()
    second = delegate(proxy, {"agent": "general", "task": "two"}).json()
    wait_for(proxy, first["id"], statuses=("running",))
    assert job(proxy, second["id"])["status"] == "queued", "one job at a time"
    assert proxy.http.post(f"/api/agents/cancel/{second['id']}").json()["status"] == "cancelled"
    assert wait_for(proxy, first["id"])["status"] == "succeeded"
    time.sleep(0.6)  # a poll of the runner: the cancelled job is never started
    assert job(proxy, second["id"])["attempts"] == 0 and sim_stats(local_sim)["total"] == 1


def test_idempotency_key_replays_the_same_job(proxy: ServerProcess) -> None:
    key = {"idempotency-key": f"order-{time.time_ns()}"}
    body = {"agent": "general", "task": "only once", "wait": 10}
    first = delegate(proxy, body, key)
    again = delegate(proxy, body, key)
    assert first.json()["id"] == again.json()["id"] and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    clash = delegate(proxy, {**body, "task": "something else"}, key)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "idempotency_key_reused"
    assert delegate(proxy, body, {"idempotency-key": "x" * 300}).status_code == 400


def test_custom_agents_file(local: Local, local_sim: LocalSimulator, tmp_path: Path) -> None:
    agents = {
        "pirate": {"description": "Talks like a pirate.", "system": "Answer like a pirate, always.",
                   "model": "gemini-2.0-flash", "temperature": 0.9, "max_output_tokens": 200},
        "general": {"description": "Replaced general.", "system": "Replaced general agent.", "thinking_budget": 0},
    }
    (tmp_path / "agents.json").write_text(json.dumps(agents))
    proxy = local.proxy(local_sim, agents_file=tmp_path / "agents.json")
    listed = {a["name"]: a for a in proxy.http.get("/api/agents").json()["agents"]}
    assert listed["pirate"] == {
        "name": "pirate", "description": "Talks like a pirate.", "model": "gemini-2.0-flash", "source": "file",
        "temperature": 0.9, "max_output_tokens": 200,
    }
    assert listed["general"]["source"] == "file" and listed["coder"]["source"] == "builtin"
    pirate = delegate(proxy, {"agent": "pirate", "task": "Hello", "wait": 10}).json()
    assert pirate["model"] == "gemini-2.0-flash" and pirate["status"] == "succeeded", pirate
    assert pirate["result"]["text"] == reply("Answer like a pirate, always.", "Hello")
    general = delegate(proxy, {"agent": "general", "task": "Hi", "wait": 10}).json()
    assert general["result"]["text"] == reply("Replaced general agent.", "Hi")
    assert general["usage"]["reasoning_tokens"] == 0, "thinking_budget 0 reached Gemini"
    override = delegate(proxy, {"agent": "pirate", "task": "Hey", "model": "gemini-2.5-flash", "wait": 10}).json()
    assert override["model"] == "gemini-2.5-flash" and override["status"] == "succeeded"
    assert sim_stats(local_sim)["by_model"] == {"gemini-2.0-flash": 1, "gemini-2.5-flash": 2}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"Bad Name": {"system": "x"}}', "invalid agent name 'Bad Name'"),
        ('{"a": {"description": "no system"}}', "agent 'a': system: Field required"),
        ('{"a": {"system": "x", "temprature": 1}}', "agent 'a': temprature: unknown field"),
        ('{"a": {"system": "x", "temperature": 3}}', "agent 'a': temperature:"),
        ('{"a": {"system": "x", "thinking_budget": 10, "thinking_level": "low"}}', "not both"),
    ],
)
def test_a_bad_agents_file_stops_start_up(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "agents.json"
    path.write_text(content)
    line = assert_one_line_error(
        run_serve({"GEMINI_PROXY_KEYS": "k", "GEMINI_PROXY_AGENTS_FILE": str(path)}), "GEMINI_PROXY_AGENTS_FILE"
    )
    assert problem in line and str(path) in line


def test_a_missing_agents_file_stops_start_up(tmp_path: Path) -> None:
    line = assert_one_line_error(
        run_serve({"GEMINI_PROXY_KEYS": "k", "GEMINI_PROXY_AGENTS_FILE": str(tmp_path / "nope.json")}),
        "GEMINI_PROXY_AGENTS_FILE",
    )
    assert "cannot read" in line


def test_no_key_appears_in_jobs_status_metrics_or_logs(sim: ServerProcess, fresh: ServerProcess) -> None:
    httpx.post(sim.url + "/_sim/keys", json={"key": "sim-key-2", "state": "invalid"})
    ids = [delegate(fresh, {"agent": "general", "task": f"t{i}", "wait": 10}).json()["id"] for i in range(4)]
    httpx.post(sim.url + "/_sim/fail-next", json={"status": 400, "count": 1})
    ids.append(delegate(fresh, {"agent": "general", "task": "fails", "wait": 10}).json()["id"])
    outputs = [json.dumps(job(fresh, i)) for i in ids]
    outputs += [httpx.get(fresh.url + p).text for p in ("/api/agents/status", "/metrics", "/api/system/status")]
    fresh.stop()
    outputs.append(fresh.log())
    assert '"status": "failed"' in outputs[4]
    for key in SIM_KEYS:
        assert all(key not in output for output in outputs)
