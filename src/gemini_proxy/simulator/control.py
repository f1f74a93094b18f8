"""The ``/_sim/`` control routes (no auth): stats, reset, config patch, key states, fail-next."""

from __future__ import annotations

from typing import Any, cast

import orjson

from gemini_proxy.simulator import scenario
from gemini_proxy.simulator.config import SimulatorConfig
from gemini_proxy.simulator.faults import FailSpec, KeyStateName

KEY_STATES = ("ok", "invalid", "exhausted_minute", "exhausted_day")


def handle(config: SimulatorConfig, verb: str, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    try:
        body = orjson.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return _route(config, verb, path, body)
    except (ValueError, TypeError, KeyError) as exc:
        return 400, {"error": str(exc)}


def _route(config: SimulatorConfig, verb: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    if path == "/_sim/stats" and verb == "GET":
        return 200, config.stats()
    if path == "/_sim/reset" and verb == "POST":
        config.reset()
        return 200, {"ok": True}
    if path == "/_sim/config":
        if verb == "GET":
            return 200, config.settings()
        if verb in ("POST", "PATCH"):
            return 200, config.patch(body)
    if path == "/_sim/keys" and verb == "POST":
        state = body.get("state", "ok")
        if state not in KEY_STATES:
            raise ValueError(f"state must be one of {', '.join(KEY_STATES)}")
        keys = body.get("keys") or [body["key"]]
        if isinstance(keys, str):
            keys = [keys]  # one key given as a string, not a list of its characters
        if not isinstance(keys, list):
            raise ValueError("keys must be a list of strings")
        for key in keys:
            config.set_key_state(str(key), cast(KeyStateName, state), body.get("retry_delay"))
        return 200, {"ok": True, "keys": keys, "state": state}
    if path == "/_sim/scenario":
        if verb == "GET":
            return 200, {"scenario": None if config.scenario is None else config.scenario.to_json()}
        if verb in ("POST", "PUT"):
            config.scenario = scenario.load(body)
            return 200, {"ok": True, "entries": len(config.scenario.entries)}
        if verb == "DELETE":
            config.scenario = None
            return 200, {"ok": True}
    if path == "/_sim/fail-next" and verb == "POST":
        spec = FailSpec.from_json(body)
        config.faults.push(spec)
        return 200, {"ok": True, "queued": spec.to_json()}
    return 404, {"error": f"no control route {verb} {path}"}
