"""Scenario files: replies per turn by position or pattern, set by --script or over /_sim/scenario."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gemini_proxy.simulator import scenario
from gemini_proxy.simulator.server import add_cli_arguments, config_from_args
from tests.simulator.conftest import Sim, user
from tests.simulator.test_tools import TOOLS

MODEL = "gemini-2.0-flash"
SCENARIO: dict[str, Any] = {"turns": [
    {"match": {"model_turns": 0, "contains": "weather"},
     "thoughts": ["Looking it up."], "functionCalls": [{"name": "get_weather", "args": {"city": "Oslo", "days": 2}}]},
    {"match": {"model_turns": 1}, "text": "Oslo: 3 degrees.", "usage": {"promptTokenCount": 7, "totalTokenCount": 99}},
    {"match": {"regex": "^fail"}, "error": {"status": 429, "body": {"error": {
        "code": 429, "message": "Scripted quota.", "status": "RESOURCE_EXHAUSTED"}}}},
    {"match": {"request": 5}, "text": "fifth", "finishReason": "MAX_TOKENS"},
]}


def parts(r: Any) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    return list(r.json()["candidates"][0]["content"]["parts"])


def test_multi_turn_tool_conversation_exactly_as_written(sim: Sim) -> None:
    r = sim.post("/_sim/scenario", SCENARIO, key=None)
    assert r.json() == {"ok": True, "entries": 4}
    first = parts(sim.generate(MODEL, user("what is the weather?") | {"tools": TOOLS}))
    assert first == [{"text": "Looking it up.", "thought": True},
                     {"functionCall": {"name": "get_weather", "args": {"city": "Oslo", "days": 2}}}]
    history = [{"role": "user", "parts": [{"text": "what is the weather?"}]}, {"role": "model", "parts": first[1:]},
               {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 3}}}]}]
    r = sim.generate(MODEL, {"contents": history, "tools": TOOLS})
    assert parts(r) == [{"text": "Oslo: 3 degrees."}]
    assert r.json()["usageMetadata"]["totalTokenCount"] == 99
    r = sim.generate(MODEL, user("fail now"))
    assert r.status_code == 429 and r.json() == {"error": {"code": 429, "message": "Scripted quota.",
                                                           "status": "RESOURCE_EXHAUSTED"}}
    answer = parts(sim.generate(MODEL, user("no entry matches")))
    assert answer == [{"text": "Simulated reply to turn 1: no entry matches"}]
    r = sim.generate(MODEL, user("the fifth request"))
    assert parts(r) == [{"text": "fifth"}] and r.json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    stream = sim.stream(MODEL, user("weather again") | {"tools": TOOLS})
    assert '"functionCall"' in stream.text and "Looking it up." in stream.text
    assert sim.get("/_sim/scenario", key=None).json()["scenario"]["requests_seen"] == 6
    assert sim.http.delete("/_sim/scenario").json() == {"ok": True}
    assert sim.get("/_sim/scenario", key=None).json() == {"scenario": None}


@pytest.mark.parametrize(("bad", "says"), [
    ({"turns": "x"}, 'object {"turns"'),
    ({"turns": [{"text": 1}]}, "turns[0].text must be a string"),
    ({"turns": [{"match": {"request": 0}, "text": "a"}]}, "turns[0].match.request must be an integer >= 1"),
    ({"turns": [{"match": {"where": 1}, "text": "a"}]}, "turns[0].match must be an object"),
    ({"turns": [{"match": {"regex": "("}, "text": "a"}]}, "not a valid regular expression"),
    ({"turns": [{"finishReason": "DONE"}]}, "finishReason must be one of"),
    ({"turns": [{"error": {"status": 200}}]}, "error.status must be an integer >= 400"),
    ({"turns": [{"txt": "a"}]}, "unknown field(s) txt"),
    ({"turns": [{}]}, "needs text, functionCalls, error or finishReason"),
    ({"turns": [{"text": "a"}] * (scenario.MAX_ENTRIES + 1)}, "at most 1000 turns"),
    ({"turns": [{"text": "a" * scenario.MAX_BYTES}]}, "at most 1048576 bytes"),
])
def test_bad_scenarios_are_400_naming_the_problem(sim: Sim, bad: dict[str, Any], says: str) -> None:
    r = sim.post("/_sim/scenario", bad, key=None)
    assert r.status_code == 400 and says in r.json()["error"], r.text
    assert sim.config.scenario is None


def test_script_flag_loads_the_file(tmp_path: Path) -> None:
    import argparse

    path = tmp_path / "s.json"
    path.write_text(json.dumps(SCENARIO))
    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    config = config_from_args(parser.parse_args(["--script", str(path)]))
    assert config.scenario is not None and len(config.scenario.entries) == 4
    path.write_text('{"turns": [{"text": 5}]}')
    run = subprocess.run([sys.executable, "-m", "gemini_proxy.cli", "fake-upstream", "--script", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "turns[0].text must be a string" in run.stderr


def test_a_matching_entry_wins_over_directives_and_none_leaves_them(sim: Sim) -> None:
    sim.post("/_sim/scenario", {"turns": [{"match": {"contains": "scenario"}, "text": "from the scenario"}]}, key=None)
    body = {"tools": TOOLS}
    said = parts(sim.generate(MODEL, user('scenario [[sim:call get_weather {"city": "Rome"}]]') | body))
    assert said == [{"text": "from the scenario"}]
    called = parts(sim.generate(MODEL, user('directives [[sim:call get_weather {"city": "Rome"}]]') | body))
    assert called == [{"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]


def docs_example() -> dict[str, Any]:
    text = (Path(__file__).parents[2] / "docs" / "simulator.md").read_text()
    section = text[text.index("### Scenario files"):]
    block = section[section.index("```json\n") + 8:]
    loaded: dict[str, Any] = json.loads(block[:block.index("```")])
    return loaded


def test_the_docs_example_answers_as_the_docs_say(sim: Sim) -> None:
    assert sim.http.put("/_sim/scenario", json=docs_example()).json() == {"ok": True, "entries": 5}
    first = parts(sim.generate(MODEL, user("What is the weather?") | {"tools": TOOLS}))
    assert first == [{"text": "The user wants the weather; I will look it up.", "thought": True},
                     {"functionCall": {"name": "get_weather", "args": {"city": "Oslo", "unit": "c"}}}]
    history = [{"role": "user", "parts": [{"text": "What is the weather?"}]}, {"role": "model", "parts": first[1:]},
               {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 3}}}]}]
    r = sim.generate(MODEL, {"contents": history, "tools": TOOLS})
    assert parts(r) == [{"text": "Oslo: 3 degrees and clear."}]
    assert r.json()["usageMetadata"]["promptTokenCount"] == 52 and r.json()["usageMetadata"]["totalTokenCount"] == 58
    assert sim.generate(MODEL, user("Fail please")).status_code == 429
    assert parts(sim.generate(MODEL, user("hello"))) == [{"text": "Anything else is answered with this."}]
    r = sim.generate(MODEL, user("hello again"))
    assert parts(r) == [{"text": "cut short"}] and r.json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert parts(sim.generate(MODEL, user("more"))) == [{"text": "Anything else is answered with this."}]
    assert sim.post("/_sim/reset", key=None).status_code == 200
    assert sim.get("/_sim/scenario", key=None).json()["scenario"]["requests_seen"] == 0


def test_a_refused_scenario_keeps_the_one_set(sim: Sim) -> None:
    sim.post("/_sim/scenario", {"turns": [{"text": "kept"}]}, key=None)
    assert sim.post("/_sim/scenario", {"turns": [{"match": {"request": 0}, "text": "x"}]}, key=None).status_code == 400
    assert parts(sim.generate(MODEL, user("hi"))) == [{"text": "kept"}]
    sim.http.delete("/_sim/scenario")
