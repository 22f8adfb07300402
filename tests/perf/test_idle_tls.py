"""Every HTTP client of the process shares its TLS context; a plain-http client loads no CA bundle.

httpx builds a context and loads certifi's CA bundle for each client it makes, which an idle TUI paid
in RSS for every backend it polls even though loopback servers speak plain HTTP.
"""

from __future__ import annotations

import ssl

from backends.base import Endpoint
from backends.wire.http import make_client, tls_context


def _context(client: object) -> ssl.SSLContext:
    pool = client._transport._pool  # type: ignore[attr-defined]
    ctx = pool._ssl_context
    assert isinstance(ctx, ssl.SSLContext)
    return ctx


async def test_http_clients_share_one_context_without_a_ca_bundle() -> None:
    a = make_client(Endpoint(url="http://127.0.0.1:1234"))
    b = make_client(Endpoint(url="http://127.0.0.1:11434/"))
    try:
        ctx = _context(a)
        assert ctx is _context(b)
        assert ctx.cert_store_stats()["x509_ca"] == 0  # nothing loaded
        # It still verifies: a TLS connection it was never meant to make fails, never goes unchecked.
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    finally:
        await a.aclose()
        await b.aclose()


async def test_https_clients_share_one_verifying_context() -> None:
    a = make_client(Endpoint(url="https://models.example.com"))
    b = make_client(Endpoint(url="HTTPS://other.example.com"))
    try:
        ctx = _context(a)
        assert ctx is _context(b) is tls_context("https")
        assert ctx.cert_store_stats()["x509_ca"] > 0
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    finally:
        await a.aclose()
        await b.aclose()
