"""One short plain-HTTP request over asyncio streams: the status and the body, nothing kept open.

An idle TUI asks its pattern's server how it is every few seconds (`GET /health`, `/props`,
`/api/version`, `/v1/models`). Through httpx that keeps httpx, httpcore, h11, anyio, idna and a TLS
context in a process that needs none of them until a run streams: about 5 MB of an idle TUI's
56 MB (/proc/self/status, benchmarks/tui_idle.py), against a 50 MB goal. So a request that has no
body to stream, to an `http://` URL with no proxy in the environment, goes this way instead:

- The request is a request line and a few headers, `Connection: close` among them, so the server
  ends the answer by closing the connection (RFC 9112, section 9.6); every wait is asyncio's, so a
  dead server never holds the screen and cancelling the caller cancels the request.
- The answer is parsed by the standard library's `http.client` (status line, headers, chunked or
  sized body), which Textual's own imports have loaded already.

Streams, `https://`, proxies and tests that inject an httpx transport keep going through httpx.
Transport failures raise the same `BackendError`s, with the same messages, as the httpx path.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from backends.base import BadResponse
from backends.wire import failures

READ_SIZE = 64 * 1024
MAX_BYTES = 64 * 1024 * 1024  # a /props with a long chat template is ~20 KB; nothing sane is near this


def usable(url: str) -> bool:
    """True when a request to `url` may go this way: plain HTTP, and no proxy the environment names for it.

    httpx honours HTTP_PROXY / ALL_PROXY / NO_PROXY (its `trust_env`); a URL those send through a
    proxy keeps going through httpx, so a user's proxy settings mean the same for every request."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        return False
    proxies = urllib.request.getproxies_environment()
    if not (proxies.get("http") or proxies.get("all")):
        return True
    # NO_PROXY, read as httpx reads it: from the environment only (not macOS system settings)
    return bool(urllib.request.proxy_bypass_environment(parts.hostname, proxies))  # type: ignore[attr-defined]


class _Answer(io.BytesIO):
    """The whole answer, handed to `http.client.HTTPResponse` as if it were the socket."""

    def makefile(self, *_args: Any, **_kw: Any) -> _Answer:
        return self


async def exchange(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    body: bytes | None,
    connect_timeout_s: float,
    read_timeout_s: float,
    hint: str,
) -> tuple[int, Any]:
    """Send one request; return its status and its body (decoded JSON, else text).

    Raises `ServerUnreachable`, `BackendTimeout`, `StreamBroken` or `BadResponse` (never an OSError)."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path.rstrip("/") + (path if path.startswith("/") else "/" + path)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout_s)
    except TimeoutError:
        raise failures.unreachable(base_url, hint, timed_out=True) from None
    except OSError:
        raise failures.unreachable(base_url, hint) from None
    try:
        writer.write(_request(method, target, parts.netloc.rpartition("@")[2], headers, body))
        data = await _read_to_close(reader, read_timeout_s, base_url)
    except OSError as e:  # reset or broken pipe while writing or reading
        raise failures.closed(type(e).__name__) from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return _parse(data, method)


def _request(method: str, target: str, host: str, headers: dict[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept: */*", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + (body or b"")


async def _read_to_close(reader: asyncio.StreamReader, timeout_s: float, url: str) -> bytes:
    """Every byte until the server closes; a read that waits longer than `timeout_s` times out
    (httpx's read time-out means the same: the longest wait for the next data, not for all of it)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(READ_SIZE), timeout_s)
        except TimeoutError:
            raise failures.read_timeout(url) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BYTES:
            raise BadResponse(f"{url} answered with more than {MAX_BYTES // 2**20} MB; not a server gptoss-top knows")


def _parse(data: bytes, method: str) -> tuple[int, Any]:
    if not data:
        raise failures.closed("RemoteProtocolError")  # what httpx says of a server that closed unanswered
    response = http.client.HTTPResponse(_Answer(data), method=method)  # type: ignore[arg-type]
    try:
        response.begin()
        payload = response.read()
    except (http.client.HTTPException, ValueError) as e:  # a bad status line, a cut chunk
        raise failures.closed(type(e).__name__) from None
    return response.status, decode(payload)


def decode(payload: bytes) -> Any:
    """JSON when the body is JSON, else its text (what `body_of` gives for an httpx response)."""
    text = payload.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
