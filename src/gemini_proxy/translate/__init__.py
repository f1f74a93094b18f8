"""Pure translation OpenAI Chat Completions <-> Gemini ``generateContent``.

No I/O, no clock, no uuid, no settings: ids, timestamps, aliases and fetched media come in
as arguments. See each module's docstring for the documented decisions.
"""

from .call import ChatCall
from .errors import error_to_openai, error_to_simple, scrub
from .media import collect_media_urls
from .messages import missing_signature_call_ids
from .models import resolve_model
from .params import IGNORED_PARAMS
from .request import to_gemini_request
from .response import signatures_of, to_chat_completion
from .stream import ChatStreamTranslator

__all__ = [
    "IGNORED_PARAMS",
    "ChatCall",
    "ChatStreamTranslator",
    "collect_media_urls",
    "error_to_openai",
    "error_to_simple",
    "missing_signature_call_ids",
    "resolve_model",
    "scrub",
    "signatures_of",
    "to_chat_completion",
    "to_gemini_request",
]
