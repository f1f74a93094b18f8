"""Jobs as clients see them: the delegate request, a new job, and the job's JSON.

``POST /api/agents/delegate`` takes::

    {"agent": "summarizer",            # required: a known agent's name
     "task": "Summarise the context",  # required: a non-empty string
     "context": "..." | {...} | [...], # optional: text or any JSON, given to the agent before the task
     "model": "gemini-2.5-pro",        # optional: overrides the agent's model (aliases apply)
     "metadata": {"ticket": "T-12"},   # optional: up to 16 string values, returned as given
     "wait": 30}                       # optional: seconds (<= 300) to wait for the result

Validation raises ``InvalidRequest`` whose message starts with the field's name and whose code
says which field (``invalid_task``, ``unknown_agent``, ``unknown_field``...); nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from gemini_proxy.agents.gemini import build_request
from gemini_proxy.agents.registry import AgentRegistry
from gemini_proxy.errors import InvalidRequest, PayloadTooLarge
from gemini_proxy.state.jobs import Job
from gemini_proxy.translate.models import resolve_model

__all__ = ["MAX_WAIT", "ContextLimit", "Delegation", "job_id_for", "job_view", "new_job", "parse_delegate"]

MAX_WAIT = 300.0
MAX_METADATA = 16
FIELDS = ("agent", "task", "context", "model", "metadata", "wait")


@dataclass(frozen=True, slots=True)
class Delegation:
    agent: str
    model: str
    task: str
    context: Any
    metadata: dict[str, str]
    wait: float
    request: dict[str, Any]  # the Gemini generateContent body
    fingerprint: str  # of what the client asked (for Idempotency-Key replays)


def bad(field: str, message: str, code: str | None = None) -> InvalidRequest:
    """A 400 about ``field``: the simple surface shows ``message`` and ``code`` (``invalid_<field>``)."""
    return InvalidRequest(message, param=field, code=code or f"invalid_{field.split('.')[0]}")


@dataclass(frozen=True, slots=True)
class ContextLimit:
    """The most bytes a job's task plus context may have, and where that limit comes from (for the
    message: the client's ``max_job_context_bytes`` or the proxy's setting)."""

    max_bytes: int
    source: str


def parse_delegate(
    body: dict[str, Any],
    registry: AgentRegistry,
    *,
    aliases: dict[str, str],
    default_model: str,
    limit: ContextLimit | None = None,
) -> Delegation:
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise bad(unknown[0], f"Unknown field {unknown[0]!r}; expected some of {list(FIELDS)}.", "unknown_field")
    name = body.get("agent")
    if not isinstance(name, str) or not name:
        raise bad("agent", f"'agent' must be the name of an agent: one of {', '.join(registry.names())}.")
    agent = registry.get(name)
    if agent is None:
        known = ", ".join(registry.names())
        raise bad("agent", f"Unknown agent {name!r} in 'agent'; known agents: {known}.", "unknown_agent")
    task = body.get("task")
    if not isinstance(task, str) or not task.strip():
        raise bad("task", "'task' must be a non-empty string.")
    context = body.get("context")
    if context is not None and not isinstance(context, str | dict | list):
        raise bad("context", "'context' must be a string, an object or an array.")
    if isinstance(context, str) and not context.strip():
        context = None
    model_name = body.get("model")
    if model_name is not None and (not isinstance(model_name, str) or not model_name):
        raise bad("model", "'model' must be a non-empty string (a Gemini model name).")
    try:
        model = resolve_model(model_name or agent.model, aliases=aliases, default=default_model)
    except InvalidRequest as exc:
        raise bad("model", f"'model': {exc.message}.") from None
    if limit is not None:
        _check_size(task, context, limit)
    metadata = _metadata(body.get("metadata"))
    wait = _wait(body.get("wait"))
    asked = {"agent": name, "task": task, "context": context, "model": model, "metadata": metadata}
    try:
        fingerprint = hashlib.sha256(orjson.dumps(asked, option=orjson.OPT_SORT_KEYS)).hexdigest()
    except orjson.JSONEncodeError:  # orjson writes up to 254 levels of nesting
        raise bad("context", "'context' is nested too deeply.") from None
    return Delegation(name, model, task, context, metadata, wait, build_request(agent, task, context), fingerprint)


def _check_size(task: str, context: Any, limit: ContextLimit) -> None:
    """A 413 naming the field when the task plus the context (UTF-8, the context as compact JSON
    unless it is text) is over ``limit``: such a job is refused before anything is stored."""
    size = len(task.encode())
    if size <= limit.max_bytes and context is not None:
        if isinstance(context, str):
            size += len(context.encode())
        else:
            try:
                size += len(orjson.dumps(context))
            except orjson.JSONEncodeError:  # orjson writes up to 254 levels of nesting
                raise bad("context", "'context' is nested too deeply.") from None
    if size > limit.max_bytes:
        field = "context" if len(task.encode()) <= limit.max_bytes else "task"
        raise PayloadTooLarge(
            f"'{field}': the job's task and context are {size} bytes, over the limit of {limit.max_bytes}"
            f" bytes ({limit.source}); send a smaller {field}.",
            param=field,
            code="job_context_too_large",
        )


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA:
        raise bad("metadata", f"'metadata' must be an object of at most {MAX_METADATA} string values.")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 64 or len(item) > 512:
            raise bad(f"metadata.{key}", "'metadata' values must be strings (keys up to 64 characters, values 512).")
    return dict(value)


def _wait(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad("wait", f"'wait' must be a number of seconds between 0 and {MAX_WAIT:g}.")
    if not 0 <= value <= MAX_WAIT:
        raise bad("wait", f"'wait' must be between 0 and {MAX_WAIT:g} seconds, got {value}.")
    return float(value)


def job_id_for(idempotency_key: str | None, client: str) -> str:
    """A new random id, or with an ``Idempotency-Key`` the same id for the same key and client."""
    if idempotency_key is None:
        return f"job_{secrets.token_hex(12)}"
    digest = hashlib.sha256(f"{client}\0{idempotency_key}".encode()).hexdigest()
    return f"job_{digest[:24]}"


def new_job(
    job_id: str, delegation: Delegation, *, now: float, timeout: float, request_id: str = "", client: str = "anon"
) -> Job:
    job = Job(
        id=job_id,
        agent=delegation.agent,
        model=delegation.model,
        status="queued",
        created_at=now,
        updated_at=now,
        ready_at=now,
        spec={
            "task": delegation.task,
            "context": delegation.context,
            "metadata": delegation.metadata,
            "request": delegation.request,
            "deadline": now + timeout,
            "fingerprint": delegation.fingerprint,
            "client": client,
        },
    )
    if request_id:
        job.spec["request_id"] = request_id
    return job


def _time(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def job_view(job: Job, *, full: bool = True) -> dict[str, Any]:
    """A job as the API shows it. ``full=False`` (listings) leaves out the task, context and result."""
    outcome = job.outcome
    view: dict[str, Any] = {
        "id": job.id,
        "agent": job.agent,
        "model": job.model,
        "status": job.status,
        "created_at": _time(job.created_at),
        "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at),
        "deadline_at": _time(job.spec.get("deadline")),
        "attempts": job.attempts,
        "metadata": job.spec.get("metadata") or {},
        "request_id": job.spec.get("request_id"),
    }
    if full:
        view["task"] = job.spec.get("task")
        view["context"] = job.spec.get("context")
        view["result"] = outcome.get("result")
    else:
        result = outcome.get("result")
        view["finish_reason"] = result.get("finish_reason") if isinstance(result, dict) else None
    view["usage"] = outcome.get("usage")
    view["error"] = outcome.get("error")
    if not job.finished:
        view["retry_at"] = _time(outcome.get("retry_at"))
    if outcome.get("last_error"):
        view["last_error"] = outcome["last_error"]
    view["status_url"] = f"/api/agents/status/{job.id}"
    return view
