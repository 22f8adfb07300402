"""A loopback server that plays scripted responses in each backend's own wire shape, with faults.

The real llama-server and the Ollama / LM Studio fakes cannot be told to send a malformed line, a
`: ping` comment or an error event halfway, or to reset the connection at a chosen byte; this one
can. A script is a list of steps: bytes to send (one chunk each), `Sleep(s)` or `RESET` (close
with SO_LINGER 0, so the client sees a TCP reset mid-body). Each backend's routes answer what its
`prepare` asks (props, model lists, a load) so a run gets as far as the stream.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Sleep:
    s: float


RESET = object()
Step = bytes | Sleep | object


@dataclass
class Reply:
    status: int = 200
    ctype: str = "application/json"
    steps: list[Step] | None = None  # streamed (chunked); None: `body` in one piece
    body: Any = None


Route = Callable[[Any], Reply]


class WireServer:
    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.stopping = threading.Event()
        server = self

        class Handler(_Handler):
            wire = server

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def __enter__(self) -> WireServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)


class _Handler(BaseHTTPRequestHandler):
    wire: WireServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET", None)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        self._serve("POST", body)

    def _serve(self, method: str, body: Any) -> None:
        path = self.path.split("?")[0]
        self.wire.requests.append((method, path, dict(self.headers), body))
        route = self.wire.routes.get((method, path))
        reply = route(body) if route else Reply(404, body={"error": f"no route {method} {path}"})
        try:
            self._send(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, reply: Reply) -> None:
        if reply.steps is None:
            data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        for step in reply.steps:
            if isinstance(step, Sleep):
                if self.wire.stopping.wait(step.s):
                    return
            elif step is RESET:
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                return
            elif isinstance(step, bytes):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(step), step))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
