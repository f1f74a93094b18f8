"""Pure translation OpenAI Responses <-> Gemini ``generateContent`` (see ``docs/responses.md``).

No I/O, no clock, no ids of its own: the route passes response ids, timestamps, an id maker,
fetched media and the stored conversation of ``previous_response_id``.
"""

from .call import Conversation, ResponsesCall, StoredResponse
from .request import collect_media_urls, count_tokens_request, input_tokens_response, to_gemini_request
from .response import ResponsesResult, error_event, stored_record, to_input_items, to_response
from .stream import ResponsesStreamTranslator, sse

__all__ = [
    "Conversation",
    "ResponsesCall",
    "ResponsesResult",
    "ResponsesStreamTranslator",
    "StoredResponse",
    "collect_media_urls",
    "count_tokens_request",
    "error_event",
    "input_tokens_response",
    "sse",
    "stored_record",
    "to_gemini_request",
    "to_input_items",
    "to_response",
]
