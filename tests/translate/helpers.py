"""Helpers for the translation tests: recorded fixtures and the OpenAI spec validators."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.fixtures import GEMINI_FIXTURES, OPENAI_FIXTURES, SPECS

__all__ = ["GEMINI_FIXTURES", "OPENAI_FIXTURES", "SPEC"]

SPEC = SPECS / "openai-openapi.json"


def load_json(name: str) -> Any:
    return orjson.loads((GEMINI_FIXTURES / name).read_bytes())


def load_stream(name: str) -> list[dict[str, Any]]:
    """Events of a recorded stream: ``.sse`` split on blank lines (CRLF or LF), or a JSON array."""
    raw = (GEMINI_FIXTURES / name).read_bytes()
    if name.endswith(".json"):
        events = orjson.loads(raw)
        assert isinstance(events, list)
        return events
    text = raw.decode().replace("\r\n", "\n")
    out = []
    for block in text.split("\n\n"):
        block = block.strip()
        if block.startswith("data: "):
            out.append(orjson.loads(block[len("data: ") :]))
    return out


def counter(prefix: str = "call_") -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


def _nullable_to_anyof(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` -> JSON Schema ``anyOf [..., {"type": "null"}]``."""
    if isinstance(node, list):
        return [_nullable_to_anyof(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_anyof(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _registry() -> Registry:
    spec = _nullable_to_anyof(orjson.loads(SPEC.read_bytes()))
    return Registry().with_resource("urn:openai", Resource.from_contents(spec, default_specification=DRAFT202012))


@functools.cache
def validator(component: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"urn:openai#/components/schemas/{component}"}, registry=_registry())


def spec_errors(component: str, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(component).iter_errors(instance)]


def assert_valid(component: str, instance: Any) -> None:
    errors = spec_errors(component, instance)
    assert not errors, errors


def fixture_names(*patterns: str) -> Iterator[str]:
    for pattern in patterns:
        yield from sorted(p.name for p in GEMINI_FIXTURES.glob(pattern))
