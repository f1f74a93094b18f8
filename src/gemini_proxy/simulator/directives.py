"""Scripted turns: directives in the prompt that say exactly what the simulated model answers.

    [[sim:call NAME {JSON args}]]   a functionCall, arguments exactly as written (several: parallel calls)
    [[sim:then]]                    the next step: its calls are made once the previous step's results are back
    [[sim:say TEXT]]                the text answered once every scripted call has its result

The directives are read from the conversation's *prompt turn*: walking back from the end over
model turns and user turns that carry functionResponse parts (tool results, with or without text
a client adds to them), the first user turn with none. Every text part of it is searched, so a
directive still works inside the context blocks a CLI wraps around its user's prompt. Step ``k``
(0-based) answers the ``k``-th model turn after the prompt turn; once the steps with calls are
used up, the answer is the ``say`` text (or, without one, the usual summary of the results) with
``STOP`` (in ``ANY`` mode, a call of a declared final-answer tool instead, see ``generate``): a
scripted loop always ends, and a call is never repeated.

A malformed directive, arguments that are not a JSON object, or a NAME that is not a declared
function is a 400 ``INVALID_ARGUMENT`` naming the directive, so a typo in a test fails loudly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gemini_proxy.simulator import errors

OPEN, CLOSE = "[[sim:", "]]"
MAX_DIRECTIVES = 64  # per prompt: a script is a test's, not a load generator's
_DECODER = json.JSONDecoder()
TRIGGERS = ("block-prompt]]", "safety]]", "recitation]]", "code-error]]")  # the other [[sim:...]] words


@dataclass(frozen=True)
class Script:
    steps: tuple[tuple[dict[str, Any], ...], ...]  # the functionCalls of each step that has any
    say: str | None  # the text answered after the last step's results
    turn: int  # model turns already in the history after the prompt turn

    def calls(self) -> list[dict[str, Any]]:
        """The functionCalls for this model turn (none: the loop ends with text)."""
        return [dict(call, args=dict(call["args"])) for call in self.steps[self.turn]] if self.turn < len(
            self.steps) else []  # fmt: skip


@dataclass
class _Step:
    calls: list[dict[str, Any]] = field(default_factory=list)


def prompt_turn(contents: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Index of the prompt turn (-1: none) and the texts of its parts."""
    for index in range(len(contents) - 1, -1, -1):
        content = contents[index]
        if content.get("role", "user") == "model":
            continue
        parts = content.get("parts") or []
        if any("functionResponse" in p for p in parts):
            continue
        return index, [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
    return -1, []


def script_for(contents: list[dict[str, Any]], declared: set[str]) -> Script | None:
    """The script of the conversation's prompt turn, or None when it holds no directive.
    Raises ``SimError`` (400) for a directive that cannot be followed."""
    index, texts = prompt_turn(contents)
    text = "\n".join(texts)
    if OPEN not in text:
        return None
    steps, say = _parse(text, declared)
    turn = sum(1 for c in contents[index + 1 :] if c.get("role") == "model")
    return Script(tuple(tuple(s.calls) for s in steps if s.calls), say, turn)


def _parse(text: str, declared: set[str]) -> tuple[list[_Step], str | None]:
    steps, say, at, count = [_Step()], None, 0, 0
    while (start := text.find(OPEN, at)) != -1:
        count += 1
        if count > MAX_DIRECTIVES:
            raise _bad(f"more than {MAX_DIRECTIVES} [[sim:...]] directives in one prompt")
        head = start + len(OPEN)
        if text.startswith("call", head) and (text[head + 4 : head + 5].isspace() or text.startswith(CLOSE, head + 4)):
            call, at = _call(text, head + 4, declared)
            steps[-1].calls.append(call)
        elif text.startswith("then" + CLOSE, head):
            steps.append(_Step())
            at = head + 4 + len(CLOSE)
        elif text.startswith("say", head) and text[head + 3 : head + 4].isspace():
            end = text.find(CLOSE, head)
            if end == -1:
                raise _bad("[[sim:say ...]] has no closing ]]")
            say, at = text[head + 4 : end].strip(), end + len(CLOSE)
        elif any(text.startswith(trigger, head) for trigger in TRIGGERS):
            at = head  # the simulator's other triggers ([[sim:safety]], ...): not scripted turns
        else:
            raise _bad(f"unknown directive {text[start : start + 24]!r}: expected [[sim:call NAME {{...}}]], "
                       "[[sim:then]] or [[sim:say TEXT]]")  # fmt: skip
    return steps, say


def _call(text: str, at: int, declared: set[str]) -> tuple[dict[str, Any], int]:
    rest = len(text[at:]) - len(text[at:].lstrip())
    at += rest
    end = at
    while end < len(text) and not text[end].isspace() and not text.startswith(CLOSE, end) and text[end] != "{":
        end += 1
    name = text[at:end]
    if not name:
        raise _bad("[[sim:call]] needs a function name")
    if name not in declared:
        known = ", ".join(sorted(declared)) or "none"
        raise _bad(f"[[sim:call {name}]]: {name!r} is not a declared function (declared: {known})")
    at = end + len(text[end:]) - len(text[end:].lstrip())
    args: Any = {}
    if text.startswith("{", at):
        try:
            args, at = _DECODER.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise _bad(f"[[sim:call {name} ...]]: the arguments are not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(args, dict):
        raise _bad(f"[[sim:call {name} ...]]: the arguments must be a JSON object")
    at += len(text[at:]) - len(text[at:].lstrip())
    if not text.startswith(CLOSE, at):
        raise _bad(f"[[sim:call {name} ...]] has no closing ]] after its arguments")
    return {"name": name, "args": args}, at + len(CLOSE)


def _bad(message: str) -> errors.SimError:
    return errors.invalid_argument(f"Simulator directive: {message}.")
