"""What every environment module provides: `BatchedEnv` (B agents stepped in lockstep) and
`EnvSpec` (the environment's static description and everything else the package needs to know
about it: its options, its batched dynamics, its state features, its BARFI reward head, its
published default hyperparameters and its Gymnasium registration).

An environment is one module of `barfi.envs` that defines a `SPEC = EnvSpec(...)`, plus one line
in the `ENVS` registry of `barfi/envs/__init__.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from barfi.features import Features


class BatchedEnv:
    """B agents of one environment stepped in lockstep (numpy, leading batch dimension B).

    Subclasses set `num_envs` and `spec` and implement `reset` and `step`.
    """

    num_envs: int
    spec: "EnvSpec"

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Start a new episode for every agent; returns obs (B, obs_dim) float64.

        Agent i draws its start state and the whole episode's dynamics noise (a fixed-size
        chunk, one row per possible step) from `rngs[i]` alone, so its draws never depend on
        the batch or on how long the episode lasts."""
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                 dict[str, np.ndarray]]:
        """Step every agent. `actions` (B,) int or (B, action_dim) float.

        Returns next obs (B, obs_dim) float64, r_p (B,) float64, terminated (B,) bool,
        truncated (B,) bool (horizon reached), info: dict of (B, ...) arrays. Agents whose
        episode already ended may be stepped again; the caller ignores their outputs."""
        raise NotImplementedError



@dataclass(frozen=True)
class NoOptions:
    """The options of an environment that has none."""


@dataclass(frozen=True)
class Published:
    """One layer of an environment's published default hyperparameters (configuration 0 of the
    reference's sweep files). `published_defaults(env, method, aux)` applies the layers of
    `EnvSpec.published` in order, each where it matches, and keeps the keys the method reads."""

    values: Mapping[str, Any]
    """hyperparameter -> published value"""
    family: str | None = None
    """only the methods of this learner family (`barfi.learners.MethodSpec.family`: reinforce,
    actor-critic or barfi); None: every family"""
    method: str | None = None
    """only this method; None: every method of `family`"""
    aux: tuple[str, ...] | None = None
    """only these aux rewards; None: every aux reward"""


@dataclass(frozen=True)
class MapLandmarks:
    """What the report's phi-map figures mark on a 2-D observation space, in the coordinates of
    the maps' axes (the normalised positions of `EnvSpec.obs_low`..`obs_high`)."""

    start: tuple[float, float]
    """the start state (a star)"""
    goal: tuple[float, float]
    """the goal square [lo, hi]^2 (a solid outline)"""
    bonus: tuple[float, float] | None = None
    """a square [lo, hi]^2 where an aux reward pays a bonus (a dashed outline); None: none"""
    bonus_label: str = "bonus"
    """the bonus square's legend label"""


@dataclass(frozen=True)
class EnvSpec:
    """Static description of an environment, and the factories of its batched version and of
    its state features."""

    name: str
    """the environment's name on the command line, in configs and in run datasets"""
    obs_dim: int
    """observation size"""
    n_actions: int | None
    """discrete action count, None if continuous"""
    action_dim: int | None
    """continuous action size, None if discrete"""
    action_low: float | None
    """continuous action bounds (the same for every dimension), None if discrete"""
    action_high: float | None
    """upper bound matching `action_low`"""
    horizon: int
    """maximum steps per episode (the episode is truncated there)"""
    batched: Callable[[int, "EnvSpec", Any], BatchedEnv]
    """batched(num_envs, spec, options) -> BatchedEnv (use `make_batched`)"""
    features: Callable[["EnvSpec", Any, Sequence[np.random.Generator], torch.device], Features]
    """features(spec, options, init_generators, device) -> the state features of a block of
    agents (use `make_features`); only features with random parameters draw from the agents'
    `init` generators"""
    reward_head: str = "full"
    """BARFI's parameterisation of r_phi = phi1(s) + phi2(s) r_p + phi3(s) r_aux (see
    `barfi.learners.barfi.AlignmentReward`): "full" (a linear head on the features, all three
    coefficients learned), "fixed-primary" (the same with phi2 fixed at 1) or "scalars" (three
    state-independent scalars)"""
    options: type = NoOptions
    """the environment's option class (a frozen dataclass of `barfi.params.param` fields, set
    with `--set key=value` like hyperparameters and recorded in run datasets)"""
    published: tuple[Published, ...] = ()
    """the published default hyperparameters, as layers (see `Published`)"""
    obs_low: tuple[float, ...] | None = None
    """Per-dimension lower bounds used to normalise observations before the state features
    (Fourier basis, tile coding): x_norm = (obs - obs_low) / (obs_high - obs_low), no clipping.
    These are the bounds of the reference implementation, not the observation space: e.g.
    CartPole uses (-2.4, -3.5, -0.2095, -3.5). None: features see the raw observation
    (HalfCheetah, whose random ReLU features take raw observations, as in the reference)."""
    obs_high: tuple[float, ...] | None = None
    """Per-dimension upper bounds matching `obs_low`."""
    phi_map_points: int = 0
    """BARFI records its phi maps at the end of training on a phi_map_points x phi_map_points
    grid over [obs_low, obs_high] of a 2-D observation (the paper's GridWorld figures); 0: none"""
    phi_map_landmarks: MapLandmarks | None = None
    """what the phi-map figures outline (start, goal, bonus square); None: bare maps"""
    episode_cpu_s: float | None = None
    """CPU-seconds of one episode of one agent, measured on one idle core in blocks of 3 seeds
    (docs/pipeline.md, "Cost"): the pipeline's cost estimate before the first job; None: not
    measured (the estimate then uses the costliest measured env)"""
    block_size: int = 10
    """agents per training job of the workflow when the config sets no `seeds.block_size`:
    about where more agents per process stop paying on one core (`python
    benchmarks/bench_scaling.py`), short of the point where too few jobs are left to fill the
    cores of a machine"""
    agent_mem_mb: Mapping[str, float] = field(default_factory=dict)
    """MB of memory one more agent adds to a training job, by method or method family (BARFI's
    trajectory buffer excluded: `barfi.study.packs.agent_memory_mb` adds it for the run's
    budget); the workflow packs agents into jobs with it. The figures are twice the largest
    slope of peak memory over block size measured in the family (`python
    benchmarks/bench_scaling.py --blocks 1,20 --episodes 6`), at least 0.5: short runs have
    short CartPole episodes, and the learning tensors grow with episode length. A method
    without a figure counts 1 MB."""
    gym_id: str = ""
    """id of the single-agent Gymnasium environment ("barfi/GridWorld-v0", ...), "" if none"""
    gym_registrations: tuple[Mapping[str, Any], ...] = field(default=())
    """keyword arguments of `gymnasium.register` for the single-agent environments"""
    description: str = ""
    """one line for humans (CLI listings, docs)"""

    def make_batched(self, num_envs: int, options: Any = None) -> BatchedEnv:
        """The batched environment of `num_envs` agents (options: the env's defaults if None)."""
        return self.batched(num_envs, self, self.options() if options is None else options)

    def make_features(self, streams: Any, device: str | torch.device = "cpu",
                      options: Any = None) -> Features:
        """The state features of a block of agents (`streams`: their `BlockStreams`)."""
        options = self.options() if options is None else options
        feats = self.features(self, options, streams["init"], torch.device(device))
        if feats.obs_dim != self.obs_dim:
            raise ValueError(f"features expect obs_dim {feats.obs_dim}, env {self.name} has "
                             f"{self.obs_dim}")
        return feats


__all__ = ["BatchedEnv", "EnvSpec", "MapLandmarks", "NoOptions", "Published"]
