"""HTTP plumbing shared by the backends: one client per backend, errors a user can act on.

Transport failures become `ServerUnreachable` / `BackendTimeout` / `StreamBroken` with a hint that
the backend supplies ("is `ollama serve` running?"); an error status becomes the backend's own
`BackendError` subclass through the `classify` callback. The API key is sent as a header and never
appears in a message.

A request or a stream to a plain-HTTP server with no proxy in the way goes through
`backends.wire.light` (asyncio, parsed by the standard library), so a TUI watching such servers loads
neither httpx nor a TLS context (see that module for the measurements). httpx, imported on first
use, takes `https://`, proxies and the transports tests inject.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from backends.base import (
    AuthError,
    BackendError,
    BackendTimeout,
    BadResponse,
    Endpoint,
    redact,
    redact_any,
)
from backends.wire import failures, light

if TYPE_CHECKING:
    import httpx

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
        import httpx

        return httpx.create_ssl_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED by default


def with_key(endpoint: Endpoint, headers: dict[str, str] | None) -> dict[str, str]:
    """The headers every request to `endpoint` carries: the backend's own and the API key."""
    h = dict(headers or {})
    if endpoint.api_key:
        h["Authorization"] = f"Bearer {endpoint.api_key}"
    return h


def make_client(
    endpoint: Endpoint,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    import httpx

    h = with_key(endpoint, headers)
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
    import httpx

    if isinstance(exc, httpx.ConnectTimeout):
        return failures.unreachable(url, hint, timed_out=True)
    if isinstance(exc, httpx.ConnectError):
        return failures.unreachable(url, hint)
    if isinstance(exc, httpx.ReadTimeout):
        return failures.read_timeout(url)
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeout(f"request to {url} timed out", hint="raise timeout_s in the pattern")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return failures.closed(type(exc).__name__, streaming=streaming)
    return BackendError(f"{type(exc).__name__} talking to {url}: {exc}", hint=hint)


class Http:
    """A backend's way to its server: URL, hint, error classifier, and the client each request takes.

    `client` (httpx) is made on first use: by a stream, by a request `light` cannot make (https, a
    proxy, an injected transport), or by a test that sets its own."""

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
        self._headers = headers
        self._client: httpx.AsyncClient | None = None
        self._light = transport is None and light.usable(self.url)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_client(self.endpoint, self._headers, self.transport)
        return self._client

    @client.setter
    def client(self, client: httpx.AsyncClient) -> None:
        """A client of the caller's (a test's recording transport): every request goes through it."""
        self._client = client
        self._light = False

    def moved(self, url: str) -> Http:
        """The same settings and transport for a server that now listens at `url` (a relaunch)."""
        return Http(
            dataclasses.replace(self.endpoint, url=url),
            unreachable_hint=self.hint,
            classify=self.classify,
            headers=self._headers,
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

    async def exchange(
        self, method: str, path: str, *, timeout: float | None = None, json: Any = None
    ) -> tuple[int, Any]:
        """The status and the decoded body (JSON, else text) of one request, whatever the status.

        Raises a `BackendError` only when no answer came (unreachable, timed out, cut off)."""
        if self._light:
            try:
                return await light.exchange(self._light_request(method, path, timeout, json))
            except BackendError as e:
                raise self.clean(e) from None
        import httpx

        kw: dict[str, Any] = {} if json is None else {"json": json}
        if timeout is not None:
            kw["timeout"] = timeout
        try:
            r = await self.client.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise self.clean(transport_error(e, self.url, self.hint)) from None
        return r.status_code, body_of(r)

    async def request(self, method: str, path: str, *, timeout: float | None = None, json: Any = None) -> Any:
        """A JSON (or text) body from a 2xx response; raises BackendError otherwise."""
        status, body = await self.exchange(method, path, timeout=timeout, json=json)
        if status >= 400:
            raise self.clean(self.classify(status, self._redact(body)))
        return body

    async def get_json(self, path: str, *, timeout: float | None = None) -> dict[str, Any]:
        body = await self.request("GET", path, timeout=timeout)
        if not isinstance(body, dict):
            raise BadResponse(f"{self.url}{path} did not answer with a JSON object: {str(body)[:120]!r}")
        return body

    @asynccontextmanager
    async def stream(self, method: str, path: str, **kw: Any) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open a streaming request; yields the raw byte chunks. Errors before the body are mapped."""
        if self._light:
            async with self._light_stream(method, path, **kw) as chunks:
                yield chunks
            return
        import httpx

        try:
            async with self.client.stream(method, path, **kw) as r:
                if r.status_code >= 400:
                    await r.aread()
                    raise self.clean(self.classify(r.status_code, self._redact(body_of(r))))
                yield self._chunks(r)
        except httpx.HTTPError as e:
            raise self.clean(transport_error(e, self.url, self.hint, streaming=True)) from None

    def _light_request(self, method: str, path: str, timeout: float | None, json: Any) -> light.Request:
        """The request `light` sends: `timeout` bounds the connect and every read (None: the endpoint's)."""
        read = timeout if timeout is not None else self.endpoint.timeout_s
        return light.Request(
            self.url,
            method,
            path,
            headers=with_key(self.endpoint, self._headers),
            body=None if json is None else light.json_bytes(json),
            connect_timeout_s=min(self.endpoint.connect_timeout_s, read),
            read_timeout_s=read,
            hint=self.hint,
        )

    @asynccontextmanager
    async def _light_stream(self, method: str, path: str, json: Any = None) -> AsyncIterator[AsyncIterator[bytes]]:
        try:
            async with light.open_stream(self._light_request(method, path, None, json)) as (status, chunks):
                if status >= 400:
                    body = light.decode(b"".join([c async for c in chunks]))
                    raise self.clean(self.classify(status, self._redact(body)))
                yield self._cleaned(chunks)
        except BackendError as e:
            raise self.clean(e) from None

    async def _cleaned(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
        except BackendError as e:
            raise self.clean(e) from None

    async def _chunks(self, r: httpx.Response) -> AsyncIterator[bytes]:
        import httpx

        try:
            async for chunk in r.aiter_raw():
                yield chunk
        except httpx.HTTPError as e:
            raise self.clean(transport_error(e, self.url, self.hint, streaming=True)) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
