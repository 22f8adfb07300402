"""Plain-HTTP requests over asyncio streams: one short exchange, or one streamed answer.

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

A streamed answer (`open_stream`: a run's tokens) takes the same way, for the same URLs, so a TUI
that has run patterns stays without httpx too (the same TUI after one run: 74.0 MB with httpx
streams, 69.5 MB without), and the first run of a session no longer imports httpx between its
request's start and its first token (~60 ms of its TTFT on 2 cores, in a py-spy profile). One read
takes whatever the socket holds, and `Dechunker` cuts the chunked framing out of it (RFC 9112,
section 7.1) in one pass. The TUI's CPU during a run did not measurably change (interleaved runs of
1,024 tokens: the reading is paced already, see `framing.READ_PACE_S`).

`https://`, proxies and tests that inject an httpx transport keep going through httpx. Transport
failures raise the same `BackendError`s, with the same messages, as the httpx path.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from backends.base import BadResponse
from backends.wire import failures

MAX_BYTES = 64 * 1024 * 1024  # a /props with a long chat template is ~20 KB; nothing sane is near this


def usable(url: str) -> bool:
    """True when a request to `url` may go this way: plain HTTP, and no proxy the environment names for it.

    httpx honours HTTP_PROXY / ALL_PROXY / NO_PROXY (its `trust_env`); a URL those send through a
    proxy keeps going through httpx, so a user's proxy settings mean the same for every request."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        return False
    if not any(k.lower().endswith("_proxy") for k in os.environ):
        return True  # what getproxies_environment reads: no such variable, no proxy (and no 1 MB import)
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    if not (proxies.get("http") or proxies.get("all")):
        return True
    # NO_PROXY, read as httpx reads it: from the environment only (not macOS system settings)
    return bool(urllib.request.proxy_bypass_environment(parts.hostname, proxies))  # type: ignore[attr-defined]


class _Answer(io.BytesIO):
    """The whole answer, handed to `http.client.HTTPResponse` as if it were the socket."""

    def makefile(self, *_args: Any, **_kw: Any) -> _Answer:
        return self


@dataclass(frozen=True)
class Request:
    """One request: where it goes, what it carries, how long each wait may be, and the hint an
    unreachable server's message gets (the backend's "is `ollama serve` running?")."""

    base_url: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 600.0
    hint: str = ""


async def exchange(req: Request) -> tuple[int, Any]:
    """Send one request; return its status and its body (decoded JSON, else text).

    Raises `ServerUnreachable`, `BackendTimeout`, `StreamBroken` or `BadResponse` (never an OSError)."""
    conn = await _connect(req)
    try:
        data = await _read_to_close(conn, req.read_timeout_s, req.base_url)
    finally:
        conn.close()
    return _parse(data, req.method)


class _Connection(asyncio.Protocol):
    """A socket's bytes as they come, and its end. Unlike asyncio's StreamReader, a reset hands over
    the bytes that came before it first: a server that sent half an answer and then crashed leaves
    that half to the run's record, as httpx did.

    The socket is read only while a `read` is under way. Between two reads (a stream's reader pauses
    between them, `framing.READ_PACE_S`) the bytes wait in the kernel, and the event loop is not woken
    for each one: a server streams a token per write, and on a machine whose cores all run the model
    every wake-up of this process stalls it. The next `read` gets them all at once."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._ended = False
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._listen(False)  # the request is written first; nothing is read before the first `read`

    def data_received(self, data: bytes) -> None:
        self._buf += data
        self._wake()

    def eof_received(self) -> bool:
        self._ended = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        self._error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _listen(self, on: bool) -> None:
        # Pausing a closing transport, or resuming one that is not paused, does nothing (asyncio).
        if self.transport is not None and not self._ended:
            self.transport.resume_reading() if on else self.transport.pause_reading()

    async def read(self, timeout_s: float) -> bytes:
        """Every byte that has come and not been read; waits for some when there is none. b"" at the
        end; the connection's error (a reset) only once every byte before it was read."""
        if not self._buf and not self._ended:
            self._listen(True)
            try:
                await self._wait(timeout_s)
            finally:
                self._listen(False)
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            return data
        if self._error is not None:
            raise self._error
        return b""

    async def _wait(self, timeout_s: float) -> None:
        while not self._buf and not self._ended:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                # Not wait_for: on Python 3.11 it loses a cancellation that lands as the bytes do
                # (cpython gh-86296), and a streaming server makes that race every few milliseconds:
                # the user's stop went unheard and the run went on.
                async with asyncio.timeout(timeout_s):
                    await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _connect(req: Request) -> _Connection:
    """A connection to the server with the request written to it."""
    parts = urlsplit(req.base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path.rstrip("/") + (req.path if req.path.startswith("/") else "/" + req.path)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(req.connect_timeout_s):  # not wait_for: see `read`
            transport, conn = await loop.create_connection(_Connection, host, port)
    except TimeoutError:
        raise failures.unreachable(req.base_url, req.hint, timed_out=True) from None
    except OSError:
        raise failures.unreachable(req.base_url, req.hint) from None
    transport.write(_request(req.method, target, parts.netloc.rpartition("@")[2], req.headers, req.body))
    return conn


def _request(method: str, target: str, host: str, headers: dict[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept: */*", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + (body or b"")


async def _read_to_close(conn: _Connection, timeout_s: float, url: str) -> bytes:
    """Every byte until the server closes; a read that waits longer than `timeout_s` times out
    (httpx's read time-out means the same: the longest wait for the next data, not for all of it).
    A reset after some bytes ends the answer there: `_parse` tells a whole answer from a cut one."""
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await conn.read(timeout_s)
        except TimeoutError:
            raise failures.read_timeout(url) from None
        except OSError as e:
            if not chunks:
                raise failures.closed(type(e).__name__) from None
            chunk = b""
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


@asynccontextmanager
async def open_stream(req: Request) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
    """Send one request and yield its status and its body as it arrives (each item: all a read got).

    The connection is closed when the block ends, however it ends: a run that is stopped hangs up,
    and the server stops generating. Errors as `exchange`, mid-body ones as a broken stream."""
    conn = await _connect(req)
    try:
        head, rest = await _read_head(conn, req.read_timeout_s, req.base_url)
        status, length, chunked = _head(head)
        yield status, _body(conn, rest, length, chunked, req.read_timeout_s, req.base_url)
    finally:
        conn.close()


async def _next(conn: _Connection, timeout_s: float, url: str) -> bytes:
    """A stream's next bytes: a wait longer than `timeout_s` times out, a reset breaks the stream."""
    try:
        return await conn.read(timeout_s)
    except TimeoutError:
        raise failures.read_timeout(url) from None
    except OSError as e:
        raise failures.closed(type(e).__name__, streaming=True) from None


async def _read_head(conn: _Connection, timeout_s: float, url: str) -> tuple[bytes, bytes]:
    """The response head (status line and fields) and whatever came after it."""
    buf = b""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        if len(buf) > 64 * 1024:
            raise BadResponse(f"{url} answered with a header over 64 KB; not a server gptoss-top knows")
        data = await _next(conn, timeout_s, url)
        if not data:  # closed before a whole head: what httpx names each case
            raise failures.closed("IncompleteRead" if buf else "RemoteProtocolError", streaming=True)
        buf += data
    return buf[: end + 4], buf[end + 4 :]


def _head(head: bytes) -> tuple[int, int | None, bool]:
    """Status, Content-Length (None: not given) and whether the body is chunked, from a response head."""
    status_line, _, rest = head.partition(b"\r\n")
    try:
        version, code, *_ = status_line.split(None, 2)
        status = int(code)
        if not version.startswith(b"HTTP/"):
            raise ValueError(version)
        fields = http.client.parse_headers(io.BytesIO(rest))
    except (ValueError, http.client.HTTPException):
        raise failures.closed("BadStatusLine", streaming=True) from None
    chunked = "chunked" in (fields.get("Transfer-Encoding") or "").lower()
    length = fields.get("Content-Length")
    return status, (int(length) if length and length.strip().isdigit() and not chunked else None), chunked


async def _body(
    conn: _Connection, first: bytes, length: int | None, chunked: bool, timeout_s: float, url: str
) -> AsyncIterator[bytes]:
    dechunk = Dechunker() if chunked else None
    left = length
    data = first
    while True:
        if left is not None:
            data = data[:left]
            left -= len(data)
        if dechunk is not None:
            data = dechunk.feed(data)
        if data:
            yield data
        if (dechunk is not None and dechunk.done) or left == 0:
            return
        data = await _next(conn, timeout_s, url)
        if not data:
            if dechunk is not None or left is not None:  # the framing promised more
                raise failures.closed("RemoteProtocolError", streaming=True)
            return


class Dechunker:
    """The payload of a chunked body (RFC 9112, section 7.1), fed as it arrives, in as few pieces as
    it comes: `feed` returns every byte of chunk data the bytes so far complete, joined."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._left = 0  # data bytes still to come in the current chunk
        self._crlf = False  # the CRLF after a chunk's data is still to come
        self.done = False  # the last chunk (size 0) has come; trailers, if any, are not read

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out: list[bytes] = []
        buf = self._buf
        while buf and not self.done:
            if self._left:
                take = buf[: self._left]
                out.append(bytes(take))
                del buf[: len(take)]
                self._left -= len(take)
                self._crlf = self._left == 0
                continue
            if self._crlf:
                if len(buf) < 2:
                    break
                if buf[:2] != b"\r\n":
                    raise failures.closed("LocalProtocolError", streaming=True)
                del buf[:2]
                self._crlf = False
                continue
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > 1024:  # a size line is a few hex digits and maybe an extension
                    raise failures.closed("LocalProtocolError", streaming=True)
                break
            try:
                size = int(bytes(buf[:end]).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise failures.closed("LocalProtocolError", streaming=True) from None
            del buf[: end + 2]
            if size == 0:
                self.done = True
            else:
                self._left = size
        return b"".join(out)


def json_bytes(value: Any) -> bytes:
    """A JSON body as httpx's `json=` sends it: compact, UTF-8, non-ASCII kept as it is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def fetch_json_blocking(base_url: str, path: str, timeout_s: float, body: Any = None) -> Any:
    """The JSON answer of a 200 response, else None; for code that runs outside an event loop (a
    worker thread, a one-shot command), with the standard library's blocking client. Never raises."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s)
    data = None if body is None else json_bytes(body)
    headers = {} if data is None else {"Content-Type": "application/json"}
    try:
        conn.request("GET" if data is None else "POST", parts.path.rstrip("/") + path, data, headers)
        r = conn.getresponse()
        answer = decode(r.read())
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    return answer if r.status == 200 and not isinstance(answer, str) else None
