"""HTTP plumbing shared by the backends: one client per backend, errors a user can act on.

Transport failures become `ServerUnreachable` / `BackendTimeout` / `StreamBroken` with a hint that
the backend supplies ("is `ollama serve` running?"); an error status becomes the backend's own
`BackendError` subclass through the `classify` callback. The API key is sent as a header and never
appears in a message.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from backends.base import (
    AuthError,
    BackendError,
    BackendTimeout,
    BadResponse,
    Endpoint,
    ServerUnreachable,
    StreamBroken,
    redact,
    redact_any,
)

Classify = Callable[[int, Any], BackendError]


@functools.cache
def tls_context(scheme: str) -> ssl.SSLContext:
    """The TLS context of every client of this process whose URL has `scheme`, built once.

    httpx builds a context for each client and loads certifi's CA bundle into it: measured with
    /proc/self/status, ~2 MB of RSS for the first client and more for each further one, on an idle
    TUI whose health poll only ever speaks plain HTTP to a loopback server. An `https` URL shares one
    context built the way httpx builds its default (certifi, or $SSL_CERT_FILE / $SSL_CERT_DIR); any
    other URL gets a context that verifies as strictly but has no CA loaded, so a TLS connection it
    should never make fails instead of going unverified.
    """
    if scheme == "https":
        return httpx.create_ssl_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default


def make_client(
    endpoint: Endpoint,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    h = dict(headers or {})
    if endpoint.api_key:
        h["Authorization"] = f"Bearer {endpoint.api_key}"
    # timeout_s bounds every wait for data (a model load, a long prefill); the first-token limit is
    # the session's business, since it must not cut a slow load in prepare() or a pause mid-stream.
    timeout = httpx.Timeout(endpoint.timeout_s, connect=endpoint.connect_timeout_s)
    url = endpoint.url.rstrip("/")
    scheme = url.partition("://")[0].lower() if "://" in url else "http"
    return httpx.AsyncClient(base_url=url, headers=h, timeout=timeout, transport=transport, verify=tls_context(scheme))


def body_of(response: httpx.Response) -> Any:
    """The decoded JSON body, or the text when it is not JSON."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return response.text


def status_hint(status: int | None, log: str = "the server's log") -> str:
    """What to do about an error status nothing more specific was recognised for."""
    if status is not None and 400 <= status < 500:
        return "the server rejected the request: check the pattern's model, prompt and settings"
    return f"the server failed: see {log}; the model may have crashed or run out of memory"


def default_classify(status: int, body: Any) -> BackendError:
    msg = _message(body)
    if status in (401, 403):
        return AuthError(
            f"the server refused the API key ({status}): {msg}",
            hint="check the key in LM_API_TOKEN / the pattern's api_key_env",
            status=status,
        )
    return BackendError(f"HTTP {status}: {msg}", hint=status_hint(status), status=status)


def _message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or json.dumps(err)[:200])
        return str(err)[:300]
    return str(body).strip()[:300] or "(empty body)"


def transport_error(exc: httpx.HTTPError, url: str, hint: str, *, streaming: bool = False) -> BackendError:
    """Map an httpx transport failure to an error that says what to do."""
    if isinstance(exc, httpx.ConnectTimeout):
        return ServerUnreachable(f"timed out connecting to {url}", hint=hint)
    if isinstance(exc, httpx.ConnectError):
        return ServerUnreachable(f"cannot connect to {url}", hint=hint)
    if isinstance(exc, httpx.ReadTimeout):
        return BackendTimeout(
            f"no data from {url} within the time-out",
            hint="the model may still be loading or the prompt is long; raise timeout_s in the pattern",
        )
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeout(f"request to {url} timed out", hint="raise timeout_s in the pattern")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        what = "the connection closed mid-stream" if streaming else "the connection was closed"
        return StreamBroken(f"{what} ({type(exc).__name__})", hint="did the server crash or restart?")
    return BackendError(f"{type(exc).__name__} talking to {url}: {exc}", hint=hint)


class Http:
    """A thin wrapper holding a backend's client, URL, hint and error classifier."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        unreachable_hint: str,
        classify: Classify = default_classify,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.url = endpoint.url.rstrip("/")
        self.hint = unreachable_hint
        self.classify = classify
        self.transport = transport
        self.client = make_client(endpoint, headers, transport)

    def moved(self, url: str) -> Http:
        """The same settings and transport for a server that now listens at `url` (a relaunch)."""
        return Http(
            dataclasses.replace(self.endpoint, url=url),
            unreachable_hint=self.hint,
            classify=self.classify,
            transport=self.transport,
        )

    def _redact(self, body: Any) -> Any:
        return redact_any(body, (self.endpoint.api_key,)) if self.endpoint.api_key else body

    def clean(self, err: BackendError) -> BackendError:
        """Strip the API key from everything the error can show: message, hint, args (repr, tracebacks)."""
        key = self.endpoint.api_key
        if key:
            err.message = redact(err.message, (key,))
            err.hint = redact(err.hint, (key,)) if err.hint else err.hint
        err.args = (err.message,)
        return err

    async def request(self, method: str, path: str, *, timeout: float | None = None, **kw: Any) -> Any:
        """A JSON (or text) body from a 2xx response; raises BackendError otherwise."""
        try:
            if timeout is not None:
                kw["timeout"] = timeout
            r = await self.client.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise self.clean(transport_error(e, self.url, self.hint)) from None
        body = body_of(r)
        if r.status_code >= 400:
            raise self.clean(self.classify(r.status_code, self._redact(body)))
        return body

    async def get_json(self, path: str, *, timeout: float | None = None, **kw: Any) -> dict[str, Any]:
        body = await self.request("GET", path, timeout=timeout, **kw)
        if not isinstance(body, dict):
            raise BadResponse(f"{self.url}{path} did not answer with a JSON object: {str(body)[:120]!r}")
        return body

    @asynccontextmanager
    async def stream(self, method: str, path: str, **kw: Any) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open a streaming request; yields the raw byte chunks. Errors before the body are mapped."""
        try:
            async with self.client.stream(method, path, **kw) as r:
                if r.status_code >= 400:
                    await r.aread()
                    raise self.clean(self.classify(r.status_code, self._redact(body_of(r))))
                yield self._chunks(r)
        except httpx.HTTPError as e:
            raise self.clean(transport_error(e, self.url, self.hint, streaming=True)) from None

    async def _chunks(self, r: httpx.Response) -> AsyncIterator[bytes]:
        try:
            async for chunk in r.aiter_raw():
                yield chunk
        except httpx.HTTPError as e:
            raise self.clean(transport_error(e, self.url, self.hint, streaming=True)) from None

    async def aclose(self) -> None:
        await self.client.aclose()
