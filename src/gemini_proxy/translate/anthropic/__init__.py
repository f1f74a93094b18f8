"""Pure translation Anthropic Messages <-> Gemini ``generateContent`` / ``countTokens``.

No I/O, no clock, no ids, no settings: the message id, an id factory, the Claude model table,
remembered thought signatures and fetched media come in as arguments. ``docs/anthropic.md``
documents the mappings and what is ignored.
"""

from .content import collect_media_urls, missing_signature_tool_ids, signatures_of
from .errors import error_to_anthropic
from .models import DEFAULT_CLAUDE_MODELS, SETTING, resolve_anthropic_model
from .request import IGNORED_FIELDS, count_tokens_response, to_count_tokens_request, to_gemini_request
from .response import to_message
from .stream import PING, Event, MessageStreamTranslator, encode_event, error_event
from .types import CountTokensCall, MessagesCall

__all__ = [
    "DEFAULT_CLAUDE_MODELS",
    "IGNORED_FIELDS",
    "PING",
    "SETTING",
    "CountTokensCall",
    "Event",
    "MessageStreamTranslator",
    "MessagesCall",
    "collect_media_urls",
    "count_tokens_response",
    "encode_event",
    "error_event",
    "error_to_anthropic",
    "missing_signature_tool_ids",
    "resolve_anthropic_model",
    "signatures_of",
    "to_count_tokens_request",
    "to_gemini_request",
    "to_message",
]
