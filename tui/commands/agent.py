"""`gptoss-top agent`: serve this machine's probes (Prometheus /metrics, /json, /healthz)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tui.commands.common import EXIT_OK, EXIT_USAGE, UsageError

DEFAULT_TOKEN_ENV = "GPTOSS_TOP_AGENT_TOKEN"


def _port(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, not {value!r}") from None
    if not 0 <= n <= 65535:
        raise argparse.ArgumentTypeError("a port is 1 to 65535 (0: any free port)")
    return n


def _interval(value: str) -> float:
    try:
        s = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {value!r}") from None
    if not 0.1 <= s <= 3600:
        raise argparse.ArgumentTypeError("between 0.1 and 3600 seconds")
    return s


def register(sub: Any) -> None:
    a = sub.add_parser(
        "agent",
        help="serve this machine's GPU and memory figures to other gptoss-tops and to Prometheus",
        description="Serves GET /metrics (Prometheus text), /json (what `probe --json` prints) and /healthz. "
        "Binds 127.0.0.1 unless --bind says otherwise; any other address needs a token.",
    )
    a.add_argument("--bind", default="127.0.0.1", metavar="ADDR", help="address to listen on (default 127.0.0.1)")
    a.add_argument("--port", type=_port, default=9464, metavar="N", help="port (default 9464; 0: any free port)")
    a.add_argument("--token-env", default=DEFAULT_TOKEN_ENV, metavar="VAR",
                   help=f"environment variable holding the bearer token (default {DEFAULT_TOKEN_ENV})")  # fmt: skip
    a.add_argument("--interval", type=_interval, default=1.0, metavar="S", help="sampling interval (default 1 s)")
    a.add_argument("--open-without-token", action="store_true",
                   help="serve a non-loopback address WITHOUT a token: anyone on the network can read it")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import threading

    from backends.probes.agent import Agent, AgentError, check_bind, is_loopback, serve

    token = os.environ.get(args.token_env)
    try:
        check_bind(args.bind, token, args.token_env, args.open_without_token)
    except AgentError as e:
        raise UsageError(str(e)) from None
    agent = Agent(interval_s=args.interval)
    agent.tick()  # the first request gets figures, not an empty page
    try:
        server = serve(agent, args.bind, args.port, token or None)
    except OSError as e:
        print(f"gptoss-top: cannot listen on {args.bind}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    auth = f"bearer token from ${args.token_env}" if token else "no token"
    if not token and not is_loopback(args.bind):
        print(f"gptoss-top agent: WARNING: {args.bind} without a token: anyone on the network can read this "
              "machine's figures (--open-without-token)", file=sys.stderr, flush=True)  # fmt: skip
    print(f"gptoss-top agent: serving http://{shown}:{port}/metrics, /json and /healthz ({auth}); "
          "ctrl+c stops it", file=sys.stderr, flush=True)  # fmt: skip
    for target, name in ((agent.run_sampling, "sampler"), (agent.run_backend_checks, "backend checks")):
        threading.Thread(target=target, name=f"gptoss-top agent {name}", daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        agent.stop()
        server.server_close()
    return EXIT_OK
