"""A fake exo cluster API on loopback: `GET /state` and `POST /bench/chat/completions`.

Shapes follow exo-explore/exo (src/exo/shared/types/state.py, profiling.py, memory.py, api.py):
the state is camelCase (pydantic `alias_generator=to_camel`); `nodeMemory[node]` holds
`ramTotal/ramAvailable/swapTotal/swapAvailable` as `{"inBytes": N}` plus `pressureLevel` (1 normal,
2 warn, 4 critical, macOS's values); `nodeSystem[node].gpuUsage` is macmon's usage ratio (0..1);
`nodeIdentities[node]` has `modelId, chipId, friendlyName, osVersion`. The bench endpoint answers a
whole chat completion (not a stream) with `generation_stats` timed by the server.

    with FakeExo() as exo: exo.url; exo.remove_node("node-b")
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GIB = 1 << 30


def node(name: str, chip: str, total_gib: int, avail_gib: float, gpu: float, level: int = 1) -> dict[str, Any]:
    return {
        "identity": {"modelId": "Mac16,10", "chipId": chip, "friendlyName": name, "osVersion": "15.5"},
        "memory": {
            "ramTotal": {"inBytes": total_gib * GIB},
            "ramAvailable": {"inBytes": int(avail_gib * GIB)},
            "swapTotal": {"inBytes": 2 * GIB},
            "swapAvailable": {"inBytes": GIB},
            "pressureLevel": level,
            "pressurePct": 0.4,
            "psi": None,
        },
        "system": {
            "gpuUsage": gpu,
            "temp": 48.5,
            "sysPower": 21.0,
            "pcpuUsage": 0.3,
            "ecpuUsage": 0.1,
            "anePower": 0.0,
        },
    }


class FakeExo:
    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {
            "12D3KooWmini1": node("mac-mini-1", "Apple M4", 16, 4.5, 0.62),
            "12D3KooWmini2": node("mac-mini-2", "Apple M4", 16, 6.0, 0.48, level=2),
        }
        self.bench_requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeExo:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def remove_node(self, node_id: str) -> None:
        with self.lock:
            self.nodes.pop(node_id)

    def state(self) -> dict[str, Any]:
        with self.lock:
            nodes = dict(self.nodes)
        return {
            "instances": {}, "runners": {}, "downloads": {}, "tasks": {},
            "lastSeen": {n: "2026-12-02T10:00:00Z" for n in nodes},
            "topology": {"nodes": list(nodes), "connections": []},
            "lastEventAppliedIdx": 41,
            "nodeIdentities": {n: v["identity"] for n, v in nodes.items()},
            "nodeMemory": {n: v["memory"] for n, v in nodes.items()},
            "nodeDisk": {}, "nodeSystem": {n: v["system"] for n, v in nodes.items()},
            "nodeNetwork": {}, "nodeThunderbolt": {}, "nodeThunderboltBridge": {}, "nodeRdmaCtl": {},
        }  # fmt: skip

    def bench(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bench_requests.append(body)
        return {
            "id": "chatcmpl-bench-1", "object": "chat.completion", "created": 1764669600, "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "R0 = 2.5 → herd immunity at 60 %.",
                                     "reasoning_content": "Herd immunity threshold is 1 - 1/R0."}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 64, "total_tokens": 184,
                      "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0,
                                                    "accepted_prediction_tokens": 0,
                                                    "rejected_prediction_tokens": 0}},
            "generation_stats": {"prompt_tps": 410.5, "generation_tps": 31.25, "prompt_tokens": 120,
                                 "generation_tokens": 64, "peak_memory_usage": {"inBytes": 13 * GIB},
                                 "prefix_cache_hit": False},
        }  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeExo:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/state":
            self._send(200, self.fake.state())
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "mlx-community/gpt-oss-20b-MXFP4-Q8",
                                                         "object": "model"}]})  # fmt: skip
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/bench/chat/completions":
            self._send(200, self.fake.bench(body))
        else:
            self._send(404, {"detail": "Not Found"})
