"""The client's two failures: the connection failed, or a reused one was found closed in time to resend."""

from __future__ import annotations


class HttpError(Exception):
    """The connection failed: could not connect, was cut, timed out, or spoke broken HTTP.

    The message never holds a URL or a header (a key lives in one)."""


class StaleConnection(HttpError):
    """A reused connection was closed before any byte of the answer: safe to send again."""
