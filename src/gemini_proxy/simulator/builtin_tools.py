"""Gemini's built-in tools, simulated: Google Search grounding, URL context and code execution.

Nothing is searched, fetched or run. What the answer carries is shaped like Google's:

* ``googleSearch`` (or the older ``googleSearchRetrieval``): the candidate's ``groundingMetadata``
  has one ``webSearchQueries`` entry (the first words of the user's text), two
  ``groundingChunks`` (``web.uri`` / ``web.title``, on ``example.com``, a stable slug of the
  query) and one ``groundingSupports`` entry covering the whole answer text, with UTF-8 byte
  offsets as Google gives them; ``searchEntryPoint.renderedContent`` is a small HTML snippet.
* ``urlContext``: every ``http(s)://`` URL in the user's text is "retrieved" (at most
  ``MAX_URLS``): ``urlContextMetadata.urlMetadata`` lists it with
  ``URL_RETRIEVAL_STATUS_SUCCESS``, or ``URL_RETRIEVAL_STATUS_ERROR`` when its host ends in
  ``.invalid`` (a name that cannot exist), so a client's error path can be tested.
* ``codeExecution``: the answer's text is preceded by an ``executableCode`` part (Python) and its
  ``codeExecutionResult``. The first arithmetic expression in the user's text (digits, ``+ - * /
  % ( )`` and ``**`` with small exponents) is evaluated, so "what is 17 * 23" runs
  ``print(17 * 23)`` and outputs ``391``; without one the code prints the text's first words.
  A user text holding ``[[sim:code-error]]`` gets ``OUTCOME_FAILED`` with a Python traceback as
  the output, so a client's failure path can be tested.

These parts are counted in the candidate's output tokens like any other part.
"""

from __future__ import annotations

import ast
import hashlib
import operator
import re
from typing import Any

from gemini_proxy.simulator import tokens

SEARCH_TOOLS = ("googleSearch", "googleSearchRetrieval")
URL_TOOL = "urlContext"
CODE_TOOL = "codeExecution"
NAMES = (*SEARCH_TOOLS, URL_TOOL, CODE_TOOL)
TRIGGER_CODE_ERROR = "[[sim:code-error]]"
MAX_URLS = 20  # Google's documented limit of URLs per request for URL context
_URL = re.compile(r"https?://[^\s<>\"'\]\[)]+")
_EXPR = re.compile(r"[\d(][\d\s+\-*/%().]*[\d)]")
_OPS: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}


def declared(tools: list[dict[str, Any]]) -> frozenset[str]:
    """The built-in tools a request's ``tools`` turn on."""
    return frozenset(name for tool in tools if isinstance(tool, dict) for name in NAMES if name in tool)


def grounding(query_text: str, answer: str) -> dict[str, Any]:
    query = tokens.truncate_words(query_text or "search", 8).strip() or "search"
    slug = hashlib.blake2b(query.encode(), digest_size=4).hexdigest()
    chunks = [{"web": {"uri": f"https://example.com/{slug}/{n}", "title": "example.com"}} for n in (1, 2)]
    end = len(answer.encode())
    supports = [{"segment": {"endIndex": end, "text": answer}, "groundingChunkIndices": [0, 1]}] if end else []
    return {
        "searchEntryPoint": {"renderedContent": f'<div class="sim-search">{_html(query)}</div>'},
        "groundingChunks": chunks,
        "groundingSupports": supports,
        "webSearchQueries": [query],
    }


def url_context(text: str) -> dict[str, Any] | None:
    urls = list(dict.fromkeys(url.rstrip(".,;:!?") for url in _URL.findall(text)))[:MAX_URLS]
    if not urls:
        return None
    metadata = []
    for url in urls:
        host = url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0].rstrip(".")
        status = "URL_RETRIEVAL_STATUS_ERROR" if host.endswith(".invalid") else "URL_RETRIEVAL_STATUS_SUCCESS"
        metadata.append({"retrievedUrl": url, "urlRetrievalStatus": status})
    return {"urlMetadata": metadata}


def code_parts(text: str) -> list[dict[str, Any]]:
    """``executableCode`` and its ``codeExecutionResult`` for the user's text."""
    if TRIGGER_CODE_ERROR in text:
        code = "raise ValueError('simulated failure')\n"
        output = ('Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
                  "ValueError: simulated failure\n")
        return [{"executableCode": {"language": "PYTHON", "code": code}},
                {"codeExecutionResult": {"outcome": "OUTCOME_FAILED", "output": output}}]
    expression, value = _arithmetic(text)
    if expression is None:
        words = tokens.truncate_words(text or "hello", 8).strip() or "hello"
        code, output = f"print({words!r})\n", f"{words}\n"
    else:
        code, output = f"print({expression})\n", f"{value}\n"
    return [{"executableCode": {"language": "PYTHON", "code": code}},
            {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": output}}]


def _arithmetic(text: str) -> tuple[str | None, object]:
    for match in _EXPR.finditer(text):
        expression = " ".join(match.group().split())
        if not any(op in expression for op in "+-*/%"):
            continue
        try:
            return expression, _evaluate(ast.parse(expression, mode="eval").body)
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
            continue
    return None, None


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _evaluate(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 10**6):
            raise ValueError("too big")
        result = _OPS[type(node.op)](left, right)
        if isinstance(result, int) and result.bit_length() > 256:
            raise ValueError("too big")
        return result  # type: ignore[no-any-return]
    raise ValueError("not arithmetic")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
