"""Verifiable thought signatures.

A signature is base64 of ``b"\\x12\\x2asim1"`` + 32 bytes. On a functionCall part the 32 bytes
are HMAC-SHA256(secret, "fc\\0" + name + "\\0" + args as sorted compact JSON, integral floats
written as integers since Google's Struct does not tell 1 from 1.0); on any other
part they are an 8-byte nonce + the first 24 bytes of HMAC-SHA256(secret, "tx\\0" + nonce).
So the simulator can tell its own signatures from garbage and from a signature moved to
another call. The documented dummy values are always accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

MAGIC = b"\x12\x2asim1"
DUMMIES = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})
_DUMMY_B64 = frozenset(base64.b64encode(d.encode()).decode() for d in DUMMIES)


def canonical(value: Any) -> Any:
    """``value`` with every integral float turned into an int, through dicts and lists.

    Google holds ``args`` as a protobuf Struct, where ``0`` and ``0.0`` are the same number, so a
    client that re-serialises the arguments (``1.0`` → ``1``) still sends a matching call.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def _fc_mac(secret: bytes, name: str, args: Any) -> bytes:
    body = orjson.dumps(canonical(args or {}), option=orjson.OPT_SORT_KEYS)
    payload = b"fc\0" + name.encode() + b"\0" + body
    return hmac.new(secret, payload, hashlib.sha256).digest()


def sign_call(secret: bytes, name: str, args: Any) -> str:
    return base64.b64encode(MAGIC + _fc_mac(secret, name, args)).decode()


def sign_text(secret: bytes, seed: str) -> str:
    nonce = hashlib.sha256(seed.encode()).digest()[:8]
    mac = hmac.new(secret, b"tx\0" + nonce, hashlib.sha256).digest()[:24]
    return base64.b64encode(MAGIC + nonce + mac).decode()


def is_dummy(signature: str) -> bool:
    return signature in DUMMIES or signature.rstrip("=") in {d.rstrip("=") for d in _DUMMY_B64}


def verify(secret: bytes, signature: str, raw: bytes | None, part: dict[str, Any]) -> bool:
    """True when ``signature`` (already base64-decoded to ``raw``) is valid for ``part``."""
    if is_dummy(signature):
        return True
    if raw is None or not raw.startswith(MAGIC) or len(raw) != len(MAGIC) + 32:
        return False
    body = raw[len(MAGIC) :]
    call = part.get("functionCall")
    if call is not None:
        return hmac.compare_digest(body, _fc_mac(secret, str(call.get("name", "")), call.get("args")))
    nonce, mac = body[:8], body[8:]
    return hmac.compare_digest(mac, hmac.new(secret, b"tx\0" + nonce, hashlib.sha256).digest()[:24])
