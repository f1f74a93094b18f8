"""The retry policy: what the gateway does after each attempt, as one table, and the budget it spends.

An attempt ends in one ``Result``; the request is of one ``Kind``; ``POLICY[result][kind]`` is the
``Action``. Nothing else decides whether a request is sent again.

==============  ==============================================  ==========  ==========  ==========
result          when                                            generation  read        write
==============  ==============================================  ==========  ==========  ==========
ok              2xx (a unary answer read whole)                 answer      answer      answer
client_fault    a 4xx about the request (400, 404, 413, ...)    fail        fail        fail
rate_limited    429                                             again       again       again
invalid_key     the key is invalid or denied (400/401/403)      again       again       again
refused         503 UNAVAILABLE: Google did not serve it        rotate      rotate      rotate
server_error    500, 502, 504, 408, 499: it may have been done  rotate      rotate      fail
no_answer       timeout or connection lost before the headers   rotate      rotate      fail
cut_short       2xx whose body broke off                        rotate      rotate      fail
==============  ==============================================  ==========  ==========  ==========

* ``answer``: hand the answer back. ``fail``: raise the error to the caller.
* ``again``: another attempt at once; the pool itself benches the key (cooldown, disable), and the
  request may wait for a short cooldown of the same key to end. Spends a rotation.
* ``rotate``: another attempt on another key (this one is excluded for the request). Spends a
  failure. It sleeps a short backoff first, unless the pool has benched the key (its failure is
  its own, not the model's): a model-wide outage is not hammered, a broken key costs no wait.
* A *write* (cache create, update, delete) is sent again only when Google's answer says it was
  not done (429, invalid key, 503): a cache write is never sent twice. Generation and reads
  may be asked again; the client has seen nothing yet. A stream is retried only until Google
  answers 200: after that the client has bytes.

``Budget`` is what one request may still spend. The gateway makes one per call; a caller that
retries on its own (the agent runner) makes one per job and passes it to every call, so the
attempts of its tries add up to one bound instead of multiplying. One call spends at most
``share`` failures of it, leaving the rest for the caller's later tries.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from gemini_proxy.upstream.quota import ClientFault, InvalidKey, Outcome, RateLimited, Success

__all__ = ["MAX_ROTATIONS", "POLICY", "Action", "Budget", "Kind", "Result", "decide", "kind_of", "result_of"]

# Upper bound on "again" attempts (429s, invalid keys) of one request.
MAX_ROTATIONS = 64

Kind = Literal["generation", "read", "write"]


class Result(enum.Enum):
    OK = "ok"
    CLIENT_FAULT = "client_fault"
    RATE_LIMITED = "rate_limited"
    INVALID_KEY = "invalid_key"
    REFUSED = "refused"
    SERVER_ERROR = "server_error"
    NO_ANSWER = "no_answer"
    CUT_SHORT = "cut_short"


class Action(enum.Enum):
    ANSWER = "answer"
    FAIL = "fail"
    AGAIN = "again"
    ROTATE = "rotate"


_A, _F, _G, _R = Action.ANSWER, Action.FAIL, Action.AGAIN, Action.ROTATE

POLICY: dict[Result, dict[Kind, Action]] = {
    Result.OK: {"generation": _A, "read": _A, "write": _A},
    Result.CLIENT_FAULT: {"generation": _F, "read": _F, "write": _F},
    Result.RATE_LIMITED: {"generation": _G, "read": _G, "write": _G},
    Result.INVALID_KEY: {"generation": _G, "read": _G, "write": _G},
    Result.REFUSED: {"generation": _R, "read": _R, "write": _R},
    Result.SERVER_ERROR: {"generation": _R, "read": _R, "write": _F},
    Result.NO_ANSWER: {"generation": _R, "read": _R, "write": _F},
    Result.CUT_SHORT: {"generation": _R, "read": _R, "write": _F},
}


def decide(result: Result, kind: Kind) -> Action:
    return POLICY[result][kind]


_GENERATION = frozenset({"generateContent", "streamGenerateContent"})
_READS = frozenset({"countTokens", "embedContent", "batchEmbedContents"})


def kind_of(method: str, path: str) -> Kind:
    """A GET is a read; so are the POSTs that only compute an answer (tokens, embeddings).
    Anything else (creating, updating or deleting a cache) is a write."""
    if method == "GET":
        return "read"
    if method == "POST":
        verb = path.rpartition(":")[2]
        if verb in _GENERATION:
            return "generation"
        if verb in _READS:
            return "read"
    return "write"


def result_of(status: int, outcome: Outcome) -> Result:
    """An answered attempt's result: its status and what ``quota`` made of Google's answer."""
    if isinstance(outcome, Success):
        return Result.OK
    if isinstance(outcome, RateLimited):
        return Result.RATE_LIMITED
    if isinstance(outcome, InvalidKey):
        return Result.INVALID_KEY
    if isinstance(outcome, ClientFault):
        return Result.CLIENT_FAULT
    return Result.REFUSED if status == 503 else Result.SERVER_ERROR


@dataclass(slots=True)
class Budget:
    """What one request may still spend on further attempts, shared by every layer that retries it.

    ``failures``: attempts that may still end in ``rotate`` (5xx, timeouts). ``rotations``:
    attempts that may still end in ``again`` (429s, invalid keys).
    """

    failures: int
    rotations: int = MAX_ROTATIONS

    @property
    def exhausted(self) -> bool:
        return self.failures <= 0 or self.rotations < 0

    def spend(self, action: Action) -> bool:
        """Count an attempt that ended in ``action``; True if the budget allows another one."""
        if action is Action.ROTATE:
            self.failures -= 1
            return self.failures > 0
        if action is Action.AGAIN:
            self.rotations -= 1
            return self.rotations >= 0
        return False
