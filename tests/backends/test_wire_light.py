"""Requests without a stream go through `backends.wire.light` (asyncio streams, parsed by http.client)
unless httpx must take them. Both ways must give the same answers and the same errors: a user reads
one message for one fault, whichever client asked."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backends.base import BackendError, BackendTimeout, Endpoint, ServerUnreachable, StreamBroken
from backends.wire import light
from backends.wire.http import Http
from tests.hardening.wire_server import RESET, Reply, Sleep, WireServer

HINT = "is the server running?"
ROUTES = {
    ("GET", "/json"): lambda _b: Reply(body={"name": "gpt-oss-20b", "ü": "ß", "n": [1, 2.5, None]}),
    ("GET", "/chunked"): lambda _b: Reply(steps=[b'{"slots": [', b'{"id": 0}', b"]}"]),
    ("GET", "/text"): lambda _b: Reply(ctype="text/plain", body=b"Ollama is running"),
    ("GET", "/empty"): lambda _b: Reply(ctype="text/plain", body=b""),
    ("GET", "/fail"): lambda _b: Reply(500, body={"error": {"message": "model crashed"}}),
    ("POST", "/echo"): lambda body: Reply(body={"got": body}),
    ("GET", "/cut"): lambda _b: Reply(steps=[b'{"slots": [', RESET]),
    ("GET", "/silent"): lambda _b: Reply(steps=[Sleep(5.0), b"{}"]),
    ("GET", "/prefix/x"): lambda _b: Reply(body={"at": "prefix"}),
}


@pytest.fixture
def wire() -> Iterator[WireServer]:
    with WireServer(dict(ROUTES)) as server:
        yield server


def both(url: str, **endpoint: Any) -> tuple[Http, Http]:
    """The light way (no transport) and httpx (a real transport forces it), to the same URL."""
    light_way = Http(Endpoint(url, **endpoint), unreachable_hint=HINT)
    httpx_way = Http(Endpoint(url, **endpoint), unreachable_hint=HINT, transport=httpx.AsyncHTTPTransport())
    return light_way, httpx_way


@pytest.mark.parametrize("path", ["/json", "/chunked", "/text", "/empty", "/fail"])
async def test_both_ways_read_the_same_answer(wire: WireServer, path: str) -> None:
    a, b = both(wire.url)
    try:
        assert await a.exchange("GET", path) == await b.exchange("GET", path)
        assert a._client is None  # the light way made no httpx client
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_json_body_is_sent_as_httpx_sends_it(wire: WireServer) -> None:
    a, b = both(wire.url)
    body = {"model": "gpt-oss-20b", "prompt": "naïve ☃", "n": 3}
    try:
        assert await a.request("POST", "/echo", json=body) == await b.request("POST", "/echo", json=body)
    finally:
        await a.aclose()
        await b.aclose()
    (_, _, h1, got1), (_, _, h2, got2) = wire.requests
    assert got1 == got2 == body
    assert h1["Content-Type"] == "application/json" and h1["Content-Length"] == h2["Content-Length"]


async def test_an_error_status_is_classified_the_same(wire: WireServer) -> None:
    errors = []
    for h in both(wire.url):
        with pytest.raises(BackendError) as e:
            await h.request("GET", "/fail")
        errors.append((type(e.value), str(e.value), e.value.hint, e.value.status))
        await h.aclose()
    assert errors[0] == errors[1]
    assert "model crashed" in errors[0][1] and errors[0][3] == 500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def failure(h: Http, path: str, timeout: float | None = None) -> BackendError:
    try:
        await h.exchange("GET", path, timeout=timeout)
    except BackendError as e:
        return e
    finally:
        await h.aclose()
    raise AssertionError(f"{path} did not fail")


async def test_a_server_that_is_down_reads_the_same() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    a, b = [await failure(h, "/health") for h in both(url)]
    assert type(a) is type(b) is ServerUnreachable
    assert str(a) == str(b) and a.message == f"cannot connect to {url}"
    assert a.hint == b.hint == HINT


async def test_a_server_that_says_nothing_times_out_the_same(wire: WireServer) -> None:
    a, b = [await failure(h, "/silent", timeout=0.5) for h in both(wire.url)]
    assert type(a) is type(b) is BackendTimeout
    assert str(a) == str(b) and a.hint == b.hint


async def test_a_connection_cut_mid_body_is_a_broken_exchange(wire: WireServer) -> None:
    a, b = [await failure(h, "/cut") for h in both(wire.url)]
    assert type(a) is type(b) is StreamBroken
    assert str(a).startswith("the connection was closed (") and str(b).startswith("the connection was closed (")
    assert a.hint == b.hint


@pytest.fixture
def hangs_up() -> Iterator[str]:
    """A server that accepts a connection and closes it without a word."""
    srv = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    done.set()
    srv.close()
    t.join(2)


async def test_a_server_that_hangs_up_unanswered_reads_the_same(hangs_up: str) -> None:
    a, b = [await failure(h, "/health") for h in both(hangs_up)]
    assert type(a) is type(b) is StreamBroken
    assert str(a) == str(b)


async def test_the_key_is_sent_and_never_shown(wire: WireServer) -> None:
    key = "sk-light-0123456789"
    wire.routes[("GET", "/models")] = lambda _b: Reply(401, body={"error": f"invalid key {key}"})
    h = Http(Endpoint(wire.url, api_key=key), unreachable_hint=HINT)
    with pytest.raises(BackendError) as e:
        await h.request("GET", "/models")
    await h.aclose()
    assert wire.requests[-1][2]["Authorization"] == f"Bearer {key}"
    assert key not in str(e.value) and key not in repr(e.value.args) and key not in (e.value.hint or "")


async def test_a_url_with_a_path_keeps_it(wire: WireServer) -> None:
    h = Http(Endpoint(wire.url + "/prefix/"), unreachable_hint=HINT)
    assert await h.request("GET", "/x") == {"at": "prefix"}
    await h.aclose()


def test_which_urls_go_the_light_way(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert light.usable("http://127.0.0.1:8080")
    assert light.usable("http://mac-mini.local:1234/v1")
    assert not light.usable("https://models.example.com")  # TLS: httpx and its CA bundle
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert not light.usable("http://mac-mini.local:1234")  # through the user's proxy, as httpx would go
    monkeypatch.setenv("NO_PROXY", "mac-mini.local")
    assert light.usable("http://mac-mini.local:1234")
    assert not light.usable("http://other.local:1234")
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("ALL_PROXY", "socks5://proxy.example:1080")
    assert not light.usable("http://other.local:1234")


async def test_a_client_set_by_hand_takes_every_request(wire: WireServer) -> None:
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    h = Http(Endpoint(wire.url), unreachable_hint=HINT)
    h.client = httpx.AsyncClient(base_url=wire.url, event_hooks={"request": [record]})
    assert await h.request("GET", "/json")
    await h.aclose()
    assert seen == ["/json"]


# -- streamed answers --------------------------------------------------------------------------------

SSE = [b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n', b'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n',
       b"data: [DONE]\n\n"]  # fmt: skip
STREAMS = {
    ("POST", "/sse"): lambda _b: Reply(ctype="text/event-stream", steps=list(SSE)),
    ("POST", "/sized"): lambda _b: Reply(ctype="text/event-stream", body=b"".join(SSE)),
    ("POST", "/sse-cut"): lambda _b: Reply(ctype="text/event-stream", steps=[SSE[0], Sleep(0.2), RESET]),
    ("POST", "/sse-fail"): lambda _b: Reply(400, body={"error": {"message": "context too long"}}),
}


async def streamed(h: Http, path: str) -> tuple[bytes, BackendError | None]:
    got = b""
    try:
        async with h.stream("POST", path, json={"stream": True}) as chunks:
            async for chunk in chunks:
                got += chunk
    except BackendError as e:
        return got, e
    finally:
        await h.aclose()
    return got, None


@pytest.mark.parametrize("path", ["/sse", "/sized"])
async def test_both_ways_stream_the_same_bytes(wire: WireServer, path: str) -> None:
    wire.routes.update(STREAMS)
    a, b = [await streamed(h, path) for h in both(wire.url)]
    assert a == b == (b"".join(SSE), None)


async def test_a_stream_cut_by_a_reset_keeps_what_came_before(wire: WireServer) -> None:
    wire.routes.update(STREAMS)
    (got_a, err_a), (got_b, err_b) = [await streamed(h, "/sse-cut") for h in both(wire.url)]
    assert got_a == got_b == SSE[0]  # the tokens before the crash reach the run's record
    assert type(err_a) is type(err_b) is StreamBroken
    assert str(err_a).startswith("the connection closed mid-stream (")


async def test_a_refused_stream_is_classified_the_same(wire: WireServer) -> None:
    wire.routes.update(STREAMS)
    (_, err_a), (_, err_b) = [await streamed(h, "/sse-fail") for h in both(wire.url)]
    assert err_a is not None and err_b is not None
    assert (type(err_a), str(err_a), err_a.status) == (type(err_b), str(err_b), err_b.status)
    assert "context too long" in str(err_a)


async def test_a_stream_that_stops_being_read_hangs_up(wire: WireServer) -> None:
    """A stopped run closes its connection, so the server stops generating for it."""
    ticks = [b"data: {}\n\n", Sleep(0.05)] * 200  # ten seconds of tokens
    wire.routes[("POST", "/long")] = lambda _b: Reply(ctype="text/event-stream", steps=list(ticks))
    h = Http(Endpoint(wire.url), unreachable_hint=HINT)
    async with h.stream("POST", "/long", json={}) as chunks:
        async for _ in chunks:
            break
    await h.aclose()
    before = threading.active_count()
    for _ in range(40):  # the server's handler thread ends when its next write fails
        if threading.active_count() < before:
            break
        await asyncio.sleep(0.05)
    assert threading.active_count() < before


def test_the_dechunker_reads_any_split_the_same() -> None:
    payload = [b"data: one\n\n", b"data: \xe2\x98\x83\n\n", b"x" * 300]
    wire = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) if i == 1 else b"%X\r\n%s\r\n" % (len(p), p)
                    for i, p in enumerate(payload)) + b"0\r\n\r\n"  # fmt: skip
    for step in (1, 2, 7, len(wire)):
        d = light.Dechunker()
        out = b"".join(d.feed(wire[i : i + step]) for i in range(0, len(wire), step))
        assert out == b"".join(payload) and d.done, step


@pytest.mark.parametrize("bad", [b"zz\r\nab\r\n", b"2\r\nabXX", b"f" * 2000])
def test_the_dechunker_refuses_broken_framing(bad: bytes) -> None:
    with pytest.raises(StreamBroken):
        light.Dechunker().feed(bad)


async def test_a_stop_that_lands_as_bytes_arrive_is_not_lost() -> None:
    # The user's stop (a cancel) and the next chunk of a stream in the same turn of the loop: the read
    # must end cancelled. Python 3.11's wait_for returned the bytes and dropped the cancel (cpython
    # gh-86296), and the run went on to the end of its budget.
    conn = light._Connection()
    reader = asyncio.ensure_future(conn.read(5.0))
    await asyncio.sleep(0)  # the read waits for bytes
    conn.data_received(b'{"response": "tok"}\n')
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader


def _token_server(tokens: int, gap_s: float) -> tuple[str, threading.Thread]:
    """A loopback server that streams `tokens` SSE events as chunks, one write each, `gap_s` apart
    (as llama-server writes a token as it is made)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(tokens):
                event = b'data: {"n": %d}\n\n' % i
                conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
                threading.Event().wait(gap_s)
            conn.sendall(b"0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", thread


async def test_a_stream_is_not_read_between_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the reader pauses between reads, the tokens a server writes wait in the socket: the
    process is not woken for each one (every wake-up is taken from a model that runs on the CPU), and
    the next read gets them all. Before, asyncio read the socket for every write of the server."""
    deliveries = [0]
    received = light._Connection.data_received

    def counted(self: light._Connection, data: bytes) -> None:
        deliveries[0] += 1
        received(self, data)

    monkeypatch.setattr(light._Connection, "data_received", counted)
    url, server = _token_server(tokens=40, gap_s=0.005)
    req = light.Request(url, "GET", "/stream")
    async with light.open_stream(req) as (status, body):
        assert status == 200
        first = await anext(body)
        await asyncio.sleep(0.5)  # the server writes its other 39 tokens meanwhile
        during_pause = deliveries[0]
        rest = b"".join([chunk async for chunk in body])
    server.join(5)
    events = (first + rest).split(b"\n\n")[:-1]
    assert events == [b'data: {"n": %d}' % i for i in range(40)]
    # The socket was read for the head and the first token; not once while the reader slept.
    assert during_pause <= 2, during_pause
