"""gemini-proxy: an OpenAI-compatible and native gateway to Gemini over a pool of keys."""

__version__ = "0.1.0"
