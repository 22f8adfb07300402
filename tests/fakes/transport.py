"""An httpx transport that sends every request to a loopback fake, whatever host the URL names.

The adapters' one test seam is `transport=`: with this, a backend configured for a remote host
(`http://mac-mini.example:1234`) really talks to a fake on 127.0.0.1, so no test leaves loopback.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx


class ForwardTo(httpx.AsyncBaseTransport):
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost", "::1"), "tests talk to loopback only"
        self._host, self._port = parts.hostname, parts.port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host=self._host, port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
