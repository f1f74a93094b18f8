"""Compare the *shape* of simulator JSON with recorded fixtures: keys, nesting, value types."""

from __future__ import annotations

from typing import Any

# fields a recording may carry that the simulator does not produce (values of real models only)
OPTIONAL = {
    "avgLogprobs",
    "serviceTier",
    "safetyRatings",
    "citationMetadata",
    "candidatesTokensDetails",
    "finishMessage",
    "thoughtSignature",
    "index",
    "promptFeedback",
    "responseId",
    "thought",
}


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_shape(ours: Any, recorded: Any, path: str = "$") -> None:
    """Every key of ``recorded`` (except OPTIONAL) is in ``ours`` with the same kind, recursively."""
    assert kind(ours) == kind(recorded), f"{path}: {kind(ours)} != {kind(recorded)}"
    if path.endswith((".args", ".response")):
        return  # user data, not protocol shape
    if isinstance(recorded, dict):
        for key, value in recorded.items():
            if key not in ours:
                assert key in OPTIONAL, f"{path}.{key} missing"
                continue
            assert_shape(ours[key], value, f"{path}.{key}")
        for key in ours:
            assert key in recorded or key in OPTIONAL or key in _EXTRA_OK, f"{path}.{key} unexpected"
    elif isinstance(recorded, list) and recorded and ours:
        assert_shape(ours[0], recorded[0], f"{path}[0]")


_EXTRA_OK = {
    "thoughtsTokenCount",
    "candidatesTokenCount",
    "usageMetadata",
    "modelVersion",
    "cachedContentTokenCount",
    "role",
    "parts",
}
