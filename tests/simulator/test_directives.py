"""Scripted turns: [[sim:call NAME {args}]], [[sim:then]] and [[sim:say TEXT]] in the prompt turn."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.simulator.conftest import Sim

TOOLS = [{"functionDeclarations": [
    {"name": "write_file", "description": "Write a file.", "parameters": {"type": "OBJECT", "properties": {
        "file_path": {"type": "STRING"}, "content": {"type": "STRING"}}}},
    {"name": "read_file", "description": "Read a file.", "parameters": {"type": "OBJECT", "properties": {
        "file_path": {"type": "STRING"}}}},
]}]  # fmt: skip


def call(name: str, args: dict[str, Any]) -> str:
    return f"[[sim:call {name} {json.dumps(args)}]]"


def ask(sim: Sim, contents: list[dict[str, Any]], model: str = "gemini-2.5-flash", **extra: Any) -> dict[str, Any]:
    answer = sim.generate(model, {"contents": contents, "tools": TOOLS, **extra})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body["candidates"][0]["content"]["parts"])


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def answered(body: dict[str, Any], result: Any = "ok") -> list[dict[str, Any]]:
    """The model turn of ``body`` and a user turn answering each of its calls."""
    model_turn = body["candidates"][0]["content"]
    responses = [{"functionResponse": {"name": p["functionCall"]["name"], "response": {"output": result}}}
                 for p in model_turn["parts"] if "functionCall" in p]  # fmt: skip
    return [model_turn, {"role": "user", "parts": responses}]


def test_a_call_is_made_exactly_as_written_and_the_loop_ends_with_the_say_text(sim: Sim) -> None:
    args = {"file_path": "/tmp/x/hello.txt", "content": "hi from the sim"}
    prompt = [user(f"Save it. {call('write_file', args)} [[sim:say Saved the greeting.]]")]
    first = ask(sim, prompt)
    assert [p["functionCall"] for p in parts(first)] == [{"name": "write_file", "args": args}]
    assert first["candidates"][0]["finishReason"] == "STOP"
    second = ask(sim, prompt + answered(first))
    assert parts(second) == [{"text": "Saved the greeting."}]
    # a client that sends a result again anyway: still text, never the call again
    again = {"role": "user", "parts": answered(first)[1]["parts"]}
    third = ask(sim, [*prompt, *answered(first), second["candidates"][0]["content"], again])
    assert "functionCall" not in parts(third)[0]


def test_several_calls_are_parallel_in_order_and_without_say_the_results_are_summarised(sim: Sim) -> None:
    prompt = [user(call("read_file", {"file_path": "a"}) + " then " + call("read_file", {"file_path": "b"}))]
    first = ask(sim, prompt)
    assert [p["functionCall"]["args"]["file_path"] for p in parts(first)] == ["a", "b"]
    second = ask(sim, prompt + answered(first, "A-text"))
    (text,) = parts(second)
    assert text["text"].count("function read_file returned") == 2 and "A-text" in text["text"]


FINAL = {"name": "final_result", "description": "The final response which ends this conversation",
         "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}, "celsius": {"type": "INTEGER"}},
                        "required": ["city", "celsius"]}}  # fmt: skip
ANY_MODE = {"toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
            "tools": [{"functionDeclarations": [*TOOLS[0]["functionDeclarations"], FINAL]}]}  # fmt: skip


@pytest.mark.parametrize(("say", "args"), [
    (' [[sim:say {"city": "Oslo", "celsius": 21}]]', {"city": "Oslo", "celsius": 21}),
    ("", None),  # no say: an instance of final_result's schema
    (" [[sim:say Done.]]", None),  # say that is not a JSON object: the same
])  # fmt: skip
def test_in_any_mode_a_scripted_loop_ends_with_the_final_answer_tool(sim: Sim, say: str, args: Any) -> None:
    prompt = [user(call("read_file", {"file_path": "a"}) + say)]
    first = ask(sim, prompt, **ANY_MODE)
    assert [p["functionCall"]["name"] for p in parts(first)] == ["read_file"]
    second = ask(sim, prompt + answered(first), **ANY_MODE)
    (final,) = [p["functionCall"] for p in parts(second)]
    assert final["name"] == "final_result"
    assert final["args"] == args if args else set(final["args"]) == {"city", "celsius"}
    # ANY mode without a final-answer tool: the loop still ends, with text
    plain = {"toolConfig": ANY_MODE["toolConfig"]}
    assert "text" in parts(ask(sim, [*prompt, *answered(ask(sim, prompt, **plain))], **plain))[0]


def test_steps_follow_one_another(sim: Sim) -> None:
    write = {"file_path": "out.txt", "content": "done"}
    script = call("read_file", {"file_path": "in.txt"}) + "[[sim:then]]" + call("write_file", write)
    script += "[[sim:then]][[sim:say All done]]"
    prompt = [user(script)]
    one = ask(sim, prompt)
    assert [p["functionCall"]["name"] for p in parts(one)] == ["read_file"]
    two = ask(sim, prompt + answered(one))
    assert [p["functionCall"] for p in parts(two)] == [{"name": "write_file", "args": write}]
    three = ask(sim, prompt + answered(one) + answered(two))
    assert parts(three) == [{"text": "All done"}]


def test_directives_are_found_in_a_clients_wrapper_and_in_any_text_part(sim: Sim) -> None:
    wrapped = ("<system-reminder>\nAs you answer, keep the context below in mind.\n</system-reminder>\n"
               f"<user_query>Please {call('write_file', {'file_path': 'w', 'content': 'c'})}</user_query>")  # fmt: skip
    assert parts(ask(sim, [user(wrapped)]))[0]["functionCall"]["name"] == "write_file"
    two_parts = [{"role": "user", "parts": [{"text": "<env>cwd: /tmp</env>"},
                                            {"text": call("read_file", {"file_path": "z"})}]}]  # fmt: skip
    assert parts(ask(sim, two_parts))[0]["functionCall"]["args"] == {"file_path": "z"}


def test_text_a_client_adds_to_a_tool_result_turn_does_not_restart_the_script(sim: Sim) -> None:
    prompt = [user(call("read_file", {"file_path": "a"}) + "[[sim:say fine]]")]
    first = ask(sim, prompt)
    model_turn, results = answered(first)
    results["parts"].append({"text": "<system-reminder>the file changed</system-reminder>"})
    assert parts(ask(sim, [*prompt, model_turn, results])) == [{"text": "fine"}]


def test_a_new_prompt_without_directives_is_answered_as_usual(sim: Sim) -> None:
    prompt = [user(call("read_file", {"file_path": "a"}))]
    first = ask(sim, prompt)
    later = [*prompt, *answered(first), {"role": "model", "parts": [{"text": "ok"}]}, user("and now just talk")]
    assert parts(ask(sim, later))[0]["text"].endswith("and now just talk")


def test_gemini_3_scripted_calls_are_signed_and_the_signature_verifies(sim: Sim) -> None:
    prompt = [user(call("read_file", {"file_path": "a"}))]
    first = ask(sim, prompt, model="gemini-3-flash-preview")
    assert parts(first)[0]["thoughtSignature"]
    assert "text" in parts(ask(sim, prompt + answered(first), model="gemini-3-flash-preview"))[0]


@pytest.mark.parametrize(("text", "says"), [
    ("[[sim:call write_file {\"file_path\": }]]", "not valid JSON"),
    ("[[sim:call write_file [1, 2]]]", "no closing ]]"),
    ("[[sim:call write_file \"x\"]]", "no closing ]]"),
    ("[[sim:call delete_everything {}]]", "'delete_everything' is not a declared function (declared: read_file, wr"),
    ("[[sim:call]]", "needs a function name"),
    ("[[sim:sing la la]]", "unknown directive"),
    ("[[sim:say no end", "no closing ]]"),
    ("[[sim:then]]" * 65, "more than 64"),
])  # fmt: skip
def test_a_directive_that_cannot_be_followed_is_a_400_naming_it(sim: Sim, text: str, says: str) -> None:
    answer = sim.generate("gemini-2.5-flash", {"contents": [user(text)], "tools": TOOLS})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and says in error["message"], error["message"]


def test_a_scripted_call_needs_declared_functions_but_say_alone_does_not(sim: Sim) -> None:
    bare = sim.generate("gemini-2.5-flash", {"contents": [user(call("read_file", {}))]})
    assert bare.status_code == 400 and "declared: none" in bare.json()["error"]["message"]
    said = sim.generate("gemini-2.5-flash", {"contents": [user("hi [[sim:say Hello, tester.]]")]})
    assert parts(said.json()) == [{"text": "Hello, tester."}]


def test_the_other_triggers_still_work_beside_directives(sim: Sim) -> None:
    body = sim.generate("gemini-2.5-flash", {"contents": [user("[[sim:safety]] [[sim:say x]]")]}).json()
    assert body["candidates"][0]["finishReason"] == "SAFETY"
