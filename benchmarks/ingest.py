"""How many stream events per second the decoder sustains from a loopback server, against a bare
httpx line loop reading the same bytes. Goal: ours ≥ 0.8× the bare loop.

The server runs in a separate process (so it does not share our GIL) and sends a llama.cpp-shaped
SSE stream of N chunks as fast as the socket takes them.

    .venv/bin/python -m benchmarks.ingest [--events 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from backends.base import Endpoint
from backends.wire.http import Http
from backends.wire.openai_stream import events_from_sse_bytes


def payload(n: int) -> bytes:
    chunk = {
        "choices": [{"finish_reason": None, "index": 0, "delta": {"content": "tok"}}],
        "created": 1,
        "id": "chatcmpl-x",
        "model": "m",
        "system_fingerprint": "b1",
        "object": "chat.completion.chunk",
    }
    line = b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
    end = {
        "choices": [{"finish_reason": "length", "index": 0, "delta": {}}],
        "object": "chat.completion.chunk",
        "timings": {"predicted_n": n, "predicted_ms": 1.0, "predicted_per_second": 1.0},
    }
    return line * n + b"data: " + json.dumps(end).encode() + b"\n\ndata: [DONE]\n\n"


def serve(port_q: multiprocessing.Queue, n: int) -> None:  # type: ignore[type-arg]
    body = payload(n)

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            view = memoryview(body)
            for i in range(0, len(body), 16384):  # network-sized writes, as a real server sends
                self.wfile.write(view[i : i + 16384])

        def log_message(self, *a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    port_q.put(srv.server_address[1])
    srv.serve_forever()


async def bare(url: str) -> int:
    n = 0
    async with httpx.AsyncClient(timeout=60) as c, c.stream("POST", url, json={}) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                json.loads(line[6:])
                n += 1
    return n


async def ours(url: str) -> int:
    http = Http(Endpoint(url.rsplit("/v1", 1)[0]), unreachable_hint="")
    n = 0
    try:
        async with http.stream("POST", "/v1/chat/completions", json={}) as chunks:
            async for _ in events_from_sse_bytes(chunks):
                n += 1
    finally:
        await http.aclose()
    return n


async def timed(fn, url: str) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    n = await fn(url)
    return time.perf_counter() - t0, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    q: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    proc = multiprocessing.Process(target=serve, args=(q, a.events), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{q.get(timeout=10)}/v1/chat/completions"
    try:
        rates: dict[str, list[float]] = {"bare httpx aiter_lines + json.loads": [], "gptoss-top decoder": []}
        for _ in range(a.rounds):  # interleaved, so machine noise hits both alike
            for name, fn in (("bare httpx aiter_lines + json.loads", bare), ("gptoss-top decoder", ours)):
                dt, n = asyncio.run(timed(fn, url))
                rates[name].append(n / dt)
        for name, rs in rates.items():
            print(f"{name:38s} {statistics.median(rs):>12,.0f} events/s  (runs: {', '.join(f'{r:,.0f}' for r in rs)})")
        ratio = statistics.median(rates["gptoss-top decoder"]) / statistics.median(
            rates["bare httpx aiter_lines + json.loads"]
        )
        print(f"ratio: {ratio:.2f}x (goal ≥ 0.8x) -> {'OK' if ratio >= 0.8 else 'MISSED'}")
    finally:
        proc.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
