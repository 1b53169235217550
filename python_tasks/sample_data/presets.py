"""Scale presets of the sample-data generator.

S is the demo (seconds), M the everyday benchmark (about 10 million repayment rows in the history), L
the stress size (about 100 million). Clients are simulated in chunks of ``CHUNK_CLIENTS``; the chunk is
also the unit of the random streams, so a preset's output only depends on its seed and arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

CHUNK_CLIENTS = 20_000
"""Clients per chunk: the unit of memory, of random streams and of progress (fixed for determinism)."""

DEFAULT_PART_ROWS = 2_000_000


@dataclass(frozen=True)
class Preset:
    name: str
    clients: int
    description: str


PRESETS: dict[str, Preset] = {
    "S": Preset("S", 2_000, "demo: a few seconds, about 0.2 million repayment rows"),
    "M": Preset("M", 100_000, "benchmark: about 10 million repayment rows in the history"),
    "L": Preset("L", 1_000_000, "stress: about 100 million repayment rows in the history"),
}


def preset(scale: str) -> Preset:
    try:
        return PRESETS[scale.upper()]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(PRESETS)}") from None
