"""Per-agent random streams.

Every agent (one seed) owns independent numpy Generators, one per purpose, derived from its seed
alone. A block of seeds run in lockstep therefore draws exactly the numbers each seed would draw
if run alone: the batch never shares a stream. Draws are made per episode in fixed-size chunks
(one row per possible step), so how many numbers an agent consumes never depends on the others.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Stream names -> a fixed id mixed into the seed. Never renumber: it would change every result.
STREAM_IDS = {"init": 0, "env": 1, "policy": 2, "aux": 3, "learner": 4}


def generator(seed: int, stream: str) -> np.random.Generator:
    """The numpy Generator of one agent's named stream."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, STREAM_IDS[stream]])))


class BlockStreams:
    """The streams of a block of agents; `uniform` and `normal` stack one chunk per agent along
    axis 0."""

    def __init__(self, seeds: Sequence[int]):
        self.seeds = list(seeds)
        self._gens = {name: [generator(s, name) for s in self.seeds] for name in STREAM_IDS}

    def __getitem__(self, stream: str) -> list[np.random.Generator]:
        return self._gens[stream]

    def uniform(self, stream: str, shape: tuple[int, ...]) -> np.ndarray:
        """U[0,1) draws, shape (B, *shape), float64."""
        return np.stack([g.random(shape) for g in self._gens[stream]])

    def normal(self, stream: str, shape: tuple[int, ...]) -> np.ndarray:
        """Standard normal draws, shape (B, *shape), float64."""
        return np.stack([g.standard_normal(shape) for g in self._gens[stream]])

    def get_state(self) -> dict:
        """Every generator's state (for checkpoints)."""
        return {name: [g.bit_generator.state for g in gens] for name, gens in self._gens.items()}

    def set_state(self, state: dict) -> None:
        for name, states in state.items():
            for g, st in zip(self._gens[name], states):
                g.bit_generator.state = st
