"""A speed model for the fake servers: decode tok/s as a function of the layers on the GPU.

Shaped like the measurements of the blog post behind gptoss-top: the rate rises as layers move to
the GPU, peaks below the maximum (the 16 GB Mac mini: 15 layers beat 20, memory pressure costs more
than a layer gains), and past the last setting that fits the weights spill and the rate falls off a
cliff (a Radeon at 23 of 24 layers ran at a third of 24) — or the load is refused outright (LM
Studio's guardrails). Each run draws its noise from a seeded generator, so a test sees the same
sequence every time.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class SpeedModel:
    layers: int = 24  # the model's repeating blocks (LM Studio's slider maximum)
    fit: int = 20  # the most layers that fit on the GPU; past it the weights spill
    peak: int = 16  # the fastest setting
    top_tps: float = 600.0  # the rate at the peak
    cpu_tps: float = 180.0  # the rate with no layer on the GPU
    decline: float = 0.04  # lost per layer past the peak, relative
    spill: float = 0.35  # past `fit`: this share of the rate at `fit`
    refuse_past_fit: bool = False  # past `fit` the load fails instead
    noise: float = 0.02  # run-to-run, relative standard deviation
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def rate(self, layers: int) -> float:
        """The true decode rate at this many GPU layers (noise-free)."""
        x = max(0, min(self.layers, layers))
        if x > self.fit:
            return self.rate(self.fit) * self.spill
        if x <= self.peak:
            return self.cpu_tps + (self.top_tps - self.cpu_tps) * (x / self.peak) ** 2
        return self.top_tps * (1 - self.decline * (x - self.peak))

    def refuses(self, layers: int) -> bool:
        return self.refuse_past_fit and layers > self.fit

    def best(self) -> int:
        candidates = [x for x in range(self.layers + 1) if not self.refuses(x)]
        return max(candidates, key=self.rate)

    def draw(self, layers: int) -> float:
        """One run's rate: the true rate with seeded noise."""
        with self._lock:
            jitter = self._rng.gauss(1.0, self.noise)
        return self.rate(layers) * max(0.2, jitter)


def layers_from_num_gpu(num_gpu: int | None, block_count: int) -> int:
    """Ollama's num_gpu counts the output layer too: all N blocks is N+1; None is all that fit."""
    return block_count if num_gpu is None else min(num_gpu, block_count)


def layers_from_ratio(gpu: str | None, block_count: int) -> int:
    """`lms load --gpu` as layers: max, off or a ratio of the blocks (None: LM Studio's default, max)."""
    if gpu in (None, "max"):
        return block_count
    if gpu == "off":
        return 0
    return round(float(gpu) * block_count)
