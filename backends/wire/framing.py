"""Incremental decoders for the two streaming framings the backends use: SSE and NDJSON.

Both take raw bytes in whatever pieces the network delivers and return complete records. They never
raise on bad input: a multi-byte character split across reads is reassembled, invalid UTF-8 becomes
U+FFFD, and a malformed JSON line is reported as a `Malformed` record for the caller to judge.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from backends.base import ContentDelta, ReasoningDelta

T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str  # "message" unless the server named it (LM Studio /api/v1/chat does)
    data: str


@dataclass(frozen=True, slots=True)
class Malformed:
    raw: str
    error: str


class _Lines:
    """Split a byte stream into text lines (\\n, \\r\\n or \\r), decoding UTF-8 incrementally."""

    __slots__ = ("_buf", "_cr", "_dec")

    def __init__(self) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""
        self._cr = False  # the previous piece ended in \r: a following \n belongs to it

    def feed(self, data: bytes) -> list[str]:
        text = self._dec.decode(data)
        if self._cr and text.startswith("\n"):
            text = text[1:]
        self._cr = text.endswith("\r")
        buf = self._buf + text if self._buf else text
        if "\r" in buf:
            buf = buf.replace("\r\n", "\n").replace("\r", "\n")
        elif "\n" not in buf:
            self._buf = buf
            return []
        parts = buf.split("\n")
        self._buf = parts.pop()
        return parts

    def close(self) -> list[str]:
        rest = self._buf + self._dec.decode(b"", final=True)
        self._buf = ""
        return [rest] if rest else []


class SSEDecoder:
    """Server-sent events: `event:`/`data:` fields, blank line ends an event, `:` lines are comments."""

    __slots__ = ("_data", "_event", "_lines")
    done: ClassVar[bool] = False  # the framing has no end of its own: the stream's end ends it

    def __init__(self) -> None:
        self._lines = _Lines()
        self._event = ""
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[SSEEvent]:
        return [SSEEvent(e, d) for e, d in self.feed_raw(data)]

    def close(self) -> list[SSEEvent]:
        return [SSEEvent(e, d) for e, d in self.close_raw()]

    def feed_raw(self, data: bytes) -> list[tuple[str, str]]:
        """(event name, data) pairs: the same events without an object each, for hot paths."""
        return self._take(self._lines.feed(data))

    def close_raw(self) -> list[tuple[str, str]]:
        out = self._take(self._lines.close())
        # A stream cut without the final blank line still delivers what it had.
        if self._data:
            out.append((self._event or "message", "\n".join(self._data)))
            self._event, self._data = "", []
        return out

    def _take(self, lines: list[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for line in lines:
            if line.startswith("data: "):  # the common case first: a single-line event
                self._data.append(line[6:])
                continue
            if not line:
                data = self._data
                if data:
                    out.append((self._event or "message", data[0] if len(data) == 1 else "\n".join(data)))
                    self._data = []
                self._event = ""
                continue
            if line.startswith(":"):
                continue  # comment / keep-alive ping
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            # id:, retry: and unknown fields are ignored, as the SSE spec says.
        return out


class NDJSONDecoder:
    """One JSON object per line; blank lines skipped."""

    __slots__ = ("_lines",)
    done: ClassVar[bool] = False

    def __init__(self) -> None:
        self._lines = _Lines()

    def feed(self, data: bytes) -> list[dict[str, Any] | Malformed]:
        return [r for r in map(parse_json_object, self._lines.feed(data)) if r is not None]

    def close(self) -> list[dict[str, Any] | Malformed]:
        return [r for r in map(parse_json_object, self._lines.close()) if r is not None]


_decoder = json.JSONDecoder()
_decode = _decoder.decode
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]
# ^ the C scanner: decode() minus two whitespace regexes and two frames


def parse_json_object(text: str) -> dict[str, Any] | Malformed | None:
    """A JSON object from text; None for blank text; Malformed for anything else."""
    try:
        try:
            value, end = _scan(text, 0)
        except StopIteration:  # no value at 0: leading whitespace, blank text or junk; the slow path says which
            value, end = _decode(text), len(text)
        if end != len(text) and not text[end:].isspace():
            raise ValueError(f"Extra data: line 1 column {end + 1} (char {end})")
    except (ValueError, RecursionError) as e:
        s = text.strip()
        return None if not s else Malformed(s[:200], str(e))
    if type(value) is not dict:
        return Malformed(text.strip()[:200], "not a JSON object")
    return value


class Decoder(Protocol[T_co]):
    """An incremental decoder: raw bytes in whatever pieces the network delivers → complete items."""

    @property
    def done(self) -> bool:
        """The stream said it is complete (an end marker): nothing more is read."""
        ...

    def feed(self, data: bytes) -> Sequence[T_co]: ...

    def close(self) -> Sequence[T_co]:
        """The stream ended: what is left, or an exception when it ended where it should not."""
        ...


# While tokens stream from a server that times itself, this process wakes for the socket about once
# in this interval. A server sends each token as it is made (hundreds of writes a second); waking for
# each one costs little CPU, but on a machine whose cores all run the model (llama.cpp's threads meet at
# a barrier every layer) every wake-up stalls the model: measured with benchmarks/observer.py, reading
# per token cost `bench` about a tenth of the server's decode rate on 2 cores. Once tokens flow, a read
# that took all there was is followed by a pause, so the tokens of the interval arrive together and are
# read without waiting. The first token is read at once
# (TTFT stays exact), and so is every token of the interval after it: a run shorter than one pause (a
# tiny model's 384 tokens in 90 ms) is read as it comes, or the client could not time it at all (read
# a quarter second after its first token, it measured 1,500 tok/s against the server's 4,300). The
# run's rates are the server's own; the client's own decode rate may end up to one interval late.
READ_PACE_S = 0.05
# A read at least this long may have left bytes behind (the stream outruns the pauses): the next read
# follows at once. A shorter one took all there was, and the reader pauses after it. (It used to pause
# only after a read that had waited for the network, so a steady stream was read twice a pause: the
# drain, then a read that waited for the next single token and woke the process for it.)
_BEHIND_BYTES = 64 * 1024
# A run nobody watches as it streams (`bench`, a tune) against a server on this machine is read four
# times a second (backends.runs.session). Its rates are the server's own, and the reads only time the
# client's own decode rate, which stays within the 2 % goal at this pace (benchmarks/fidelity.py: +0.75 %
# on average, 1.3 % at worst).
# At 50 ms `bench` spent ~11 ms of CPU a second reading a 130 tok/s stream, and cost the server ~1.4 %
# of its decode rate on 2 cores (benchmarks/observer.py); at a quarter second ~3.5 ms.
QUIET_READ_PACE_S = 0.25
_read_pace_s = READ_PACE_S

Pace = float | Callable[[], float]  # seconds, or what to ask for them at each pause


def read_pace() -> float:
    """The pause between a paced stream's reads now: READ_PACE_S unless `set_read_pace` changed it."""
    return _read_pace_s


def set_read_pace(seconds: float | None) -> None:
    """Pause this long between a paced stream's reads from now on, in streams already running too;
    None: back to READ_PACE_S. The TUI lengthens it while it redraws once a second (its model
    computes on this machine's CPU): a read more often than the screen shows it only wakes the process."""
    global _read_pace_s
    _read_pace_s = READ_PACE_S if seconds is None else max(float(seconds), 0.0)


async def decode(chunks: AsyncIterator[bytes], decoder: Decoder[T_co], pace_s: Pace = 0.0) -> AsyncIterator[T_co]:
    """The one decode loop: feed each read, yield what it completed, stop at the end marker, close.

    `pace_s`: once tokens (reasoning or answer text) have flowed for that long, pause this long after
    each read that took all there was, one shorter than _BEHIND_BYTES (a callable, such as
    `read_pace`, is asked at each pause). Each pause is followed by reading all that arrived meanwhile,
    so a fast stream is never left behind: the socket buffers hold far more than one interval of
    tokens, and a long read is followed by another at once."""
    flowing: float | None = None  # when the first token was read
    clock = time.monotonic
    it = aiter(chunks)
    while True:
        try:
            chunk = await anext(it)
        except StopAsyncIteration:
            break
        got = clock()
        items = decoder.feed(chunk)
        for item in items:
            yield item
        if decoder.done:
            break
        if flowing is None and any(isinstance(i, ReasoningDelta | ContentDelta) for i in items):
            flowing = got
        if (
            flowing is not None
            and len(chunk) < _BEHIND_BYTES
            and (pause := pace_s() if callable(pace_s) else pace_s)
            and got - flowing >= pause
        ):
            await asyncio.sleep(pause)
    for item in decoder.close():
        yield item
