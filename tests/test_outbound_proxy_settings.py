"""Which outbound proxy the settings and the environment choose for the upstream (curl's rules)."""

from __future__ import annotations

import pytest

from gemini_proxy.config import Settings, environment_proxy

GOOGLE = "https://generativelanguage.googleapis.com"


@pytest.mark.parametrize(
    ("url", "environ", "expected"),
    [
        (GOOGLE, {}, None),
        (GOOGLE, {"HTTPS_PROXY": "http://p:3128"}, ("HTTPS_PROXY", "http://p:3128")),
        (GOOGLE, {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"}, ("https_proxy", "http://low:1")),
        (GOOGLE, {"HTTP_PROXY": "http://p:3128"}, None),  # http's proxy is not https's
        ("http://127.0.0.1:8081", {"HTTP_PROXY": "http://p:3128"}, ("HTTP_PROXY", "http://p:3128")),
        (GOOGLE, {"HTTPS_PROXY": "p:1", "NO_PROXY": "googleapis.com"}, None),
        (GOOGLE, {"HTTPS_PROXY": "p:1", "no_proxy": ".googleapis.com"}, None),
        (GOOGLE, {"HTTPS_PROXY": "p:1", "NO_PROXY": "*.googleapis.com"}, None),
        (GOOGLE, {"HTTPS_PROXY": "p:1", "NO_PROXY": " localhost , * "}, None),
        (GOOGLE, {"HTTPS_PROXY": "p:1", "NO_PROXY": "generativelanguage.googleapis.com:443"}, None),
        (GOOGLE, {"HTTPS_PROXY": "p:1", "NO_PROXY": "generativelanguage.googleapis.com:8443"}, ("HTTPS_PROXY", "p:1")),
        (GOOGLE, {"HTTPS_PROXY": "p:1", "NO_PROXY": "apis.com,localhost"}, ("HTTPS_PROXY", "p:1")),
        ("http://127.0.0.1:8081", {"HTTP_PROXY": "p:1", "NO_PROXY": "127.0.0.0/8"}, None),
        ("http://127.0.0.1:8081", {"HTTP_PROXY": "p:1", "NO_PROXY": "127.0.0.1:9"}, ("HTTP_PROXY", "p:1")),
        ("http://[::1]:8081", {"HTTP_PROXY": "p:1", "NO_PROXY": "::1"}, None),
    ],
)
def test_the_environment_s_proxy(url: str, environ: dict[str, str], expected: tuple[str, str] | None) -> None:
    assert environment_proxy(url, environ) == expected


def test_the_setting_wins_and_direct_means_none() -> None:
    environ = {"HTTPS_PROXY": "http://env-proxy:3128"}
    assert Settings(_env_file=None).outbound_proxy(environ).shown == "http://env-proxy:3128"  # type: ignore[call-arg,union-attr]
    chosen = Settings(_env_file=None, upstream_proxy="http://u:secret-x@mine:8080")  # type: ignore[call-arg]
    assert chosen.outbound_proxy(environ).shown == "http://mine:8080"  # type: ignore[union-attr]
    assert Settings(_env_file=None, upstream_proxy="direct").outbound_proxy(environ) is None  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="^HTTPS_PROXY: an outbound proxy must be an http:// URL") as bad:
        Settings(_env_file=None).outbound_proxy({"HTTPS_PROXY": "https://u:secret-y@p:1"})  # type: ignore[call-arg]
    assert "secret-y" not in str(bad.value)
