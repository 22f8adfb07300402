"""Backends for patterns: one per server, made on first use, reused across runs, closed on exit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Hashable, Mapping

from backends.base import Backend, Endpoint, ServerOptions
from backends.runs.patterns import Pattern
from backends.servers.registry import factory, launches_server, make_backend

BackendKey = Hashable


class BackendPool:
    """Backends for patterns, reused across runs; closes them (and managed servers) on exit.

    The pool's key is the one identity of a backend: patterns with the same key share it (a managed
    llama-server is shared by the patterns that run one), and the screen matches health answers by it.
    """

    def __init__(self, factory: Callable[[Pattern], Backend] | None = None,
                 hosts: Mapping[str, str] | None = None) -> None:  # fmt: skip
        """`hosts`: the file's {name: telemetry}; an ssh:// host runs the server's CLI (`lms`) there."""
        self._factory = factory or self._make
        self._backends: dict[BackendKey, Backend] = {}
        self.hosts: dict[str, str] = dict(hosts or {})

    def _make(self, p: Pattern) -> Backend:
        endpoint = Endpoint(p.url, p.api_key(), timeout_s=p.timeout_s)
        remote: tuple[str, ...] = ()
        if p.host:  # the remote registry (and its HTTP client) only for a pattern on another host
            from backends.probes.remote.registry import remote_command

            remote = remote_command(self.hosts.get(p.host))
        managed = launches_server(p.backend, p.model_path)
        options = ServerOptions(managed=managed, server_bin=p.server_bin, remote_command=remote,
                                exo_bench=p.server_stats == "exo-bench")  # fmt: skip
        return make_backend(p.backend, endpoint, options)

    @staticmethod
    def key(p: Pattern) -> BackendKey:
        # A pattern that names a model file runs its own server: where it listens is not the file's URL.
        where = "managed" if launches_server(p.backend, p.model_path) else p.url
        return (p.backend, where, p.api_key_env, p.server_bin, p.timeout_s, p.host, p.server_stats)

    def get(self, p: Pattern) -> Backend:
        key = self.key(p)
        if key not in self._backends:
            self._backends[key] = self._factory(p)
        return self._backends[key]

    def peek(self, p: Pattern) -> Backend | None:
        """The pattern's backend if one was made; never makes one."""
        return self._backends.get(self.key(p))

    async def open(self, p: Pattern) -> Backend:
        """`get`, with the server kind's module imported in a thread the first time (httpx and all
        take 0.1-0.5 s), so the event loop never waits for an import."""
        if self.key(p) not in self._backends and self._factory == self._make:
            await asyncio.to_thread(factory, p.backend)
        return self.get(p)

    def all(self) -> list[Backend]:
        return list(self._backends.values())

    async def aclose(self) -> None:
        for b in self._backends.values():
            with contextlib.suppress(Exception):
                await b.aclose()
        self._backends.clear()
