"""The errors a failed exchange with a server becomes, whichever client made it (httpx or `light`).

One wording for each failure, so a user reads the same message for the same fault on every path.
"""

from __future__ import annotations

from backends.base import BackendTimeout, ServerUnreachable, StreamBroken


def unreachable(url: str, hint: str, *, timed_out: bool = False) -> ServerUnreachable:
    what = "timed out connecting to" if timed_out else "cannot connect to"
    return ServerUnreachable(f"{what} {url}", hint=hint)


def read_timeout(url: str) -> BackendTimeout:
    return BackendTimeout(
        f"no data from {url} within the time-out",
        hint="the model may still be loading or the prompt is long; raise timeout_s in the pattern",
    )


def closed(cause: str, *, streaming: bool = False) -> StreamBroken:
    what = "the connection closed mid-stream" if streaming else "the connection was closed"
    return StreamBroken(f"{what} ({cause})", hint="did the server crash or restart?")
