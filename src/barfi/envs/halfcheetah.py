"""HalfCheetah: Gymnasium's MuJoCo HalfCheetah (v5, or v4 as in the paper), batched over raw mujoco.

Observation (17,) = qpos[1:] (8) and qvel (9); actions (6,) in [-1, 1] (MuJoCo clamps controls
to the actuators' ctrlrange); r_p = forward reward = (x_after - x_before) / dt with dt = 5 x 0.01
s, exactly Gymnasium's `reward_run` (v4) / `reward_forward` (v5) with forward_reward_weight = 1.
The control cost is not part of r_p: it is the auxiliary reward (`barfi.aux_rewards`, "ctrl").
Never terminates; horizon 1000. Start: qpos = init_qpos + U(-0.1, 0.1), qvel = init_qvel +
0.1 N(0, 1), drawn in that order, as Gymnasium's reset_model does.

The reference implementation (barfi-mujoco/src/environments/HalfCheetahV4.py) used
gym.make("HalfCheetah-v4", ctrl_cost_weight=1, forward_reward_weight=1), r_p = info["reward_run"]
and r_aux = info["reward_ctrl"]. One quirk not reproduced: it called env.reset(seed=seed) at
every episode, so every episode of a run started from the same state; here each episode draws a
new start from the agent's generator.

`HalfCheetahBatched` keeps one `mujoco.MjData` per agent on a shared `MjModel` loaded from
Gymnasium's half_cheetah.xml, and does per step only what r_p and the observation need (it skips
Gymnasium's mj_rnePostConstraint, which computes force diagnostics and changes no state).
`HalfCheetahV5Env` / `HalfCheetahV4Env` (barfi/HalfCheetah-v5, -v4) are Gymnasium's own classes
with the paper's weights, whose reward is r_p only.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np
from gymnasium.envs.mujoco import half_cheetah_v4, half_cheetah_v5

from barfi.envs.base import BatchedEnv, EnvSpec, Published
from barfi.features import RandomReLUFeatures
from barfi.params import param

MODEL_PATH = os.path.join(os.path.dirname(half_cheetah_v5.__file__), "assets", "half_cheetah.xml")
log = logging.getLogger("barfi.envs.halfcheetah")


@contextlib.contextmanager
def mujoco_warnings_to_log():
    """Send MuJoCo's warnings to the Python log instead of a MUJOCO_LOG.TXT file in the working
    directory (MuJoCo 4's compiler flags half_cheetah.xml's deprecated `settotalmass`, which
    still takes effect, so the compiled model is the same as Gymnasium's)."""
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(lambda message: log.debug("mujoco: %s", message))
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


def load_model(path: str = MODEL_PATH) -> mujoco.MjModel:
    """Compile the HalfCheetah model exactly as Gymnasium does."""
    with mujoco_warnings_to_log():
        return mujoco.MjModel.from_xml_path(path)


class HalfCheetahBatched(BatchedEnv):
    """B HalfCheetah agents in lockstep (one MjData each, stepped one after the other).

    info keys returned by `step`: "x_position" (B,) and "x_velocity" (B,) (= r_p).
    """

    HORIZON = 1000
    FRAME_SKIP = 5
    RESET_NOISE_SCALE = 0.1
    ACTION_LOW, ACTION_HIGH = -1.0, 1.0

    def __init__(self, num_envs: int, spec: Any = None, version: str = "v5"):
        if version not in ("v4", "v5"):
            raise ValueError(f"HalfCheetah version {version!r} is not v4 or v5")
        self.num_envs = num_envs
        self.spec = spec
        self.version = version
        self.gym_id = f"barfi/HalfCheetah-{version}"
        self.model = load_model()
        self.datas = [mujoco.MjData(self.model) for _ in range(num_envs)]
        self.init_qpos = self.datas[0].qpos.copy()
        self.init_qvel = self.datas[0].qvel.copy()
        self.nq, self.nv = self.model.nq, self.model.nv
        self.dt = self.model.opt.timestep * self.FRAME_SKIP
        self.obs_dim = self.nq - 1 + self.nv
        self.t = 0

    def _observe(self, out: np.ndarray, i: int) -> None:
        """Write agent i's observation (qpos without the x position, then qvel) into out[i]."""
        data = self.datas[i]
        out[i, : self.nq - 1] = data.qpos[1:]
        out[i, self.nq - 1:] = data.qvel

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        """Each agent draws nq uniforms then nv normals from its generator, as Gymnasium's
        HalfCheetah reset_model draws from np_random (same generator state -> same start)."""
        assert len(rngs) == self.num_envs, "one generator per agent"
        obs = np.empty((self.num_envs, self.obs_dim))
        scale = self.RESET_NOISE_SCALE
        for i, (rng, data) in enumerate(zip(rngs, self.datas)):
            qpos = self.init_qpos + rng.uniform(low=-scale, high=scale, size=self.nq)
            qvel = self.init_qvel + scale * rng.standard_normal(self.nv)
            mujoco.mj_resetData(self.model, data)
            data.qpos[:] = qpos
            data.qvel[:] = qvel
            mujoco.mj_forward(self.model, data)
            self._observe(obs, i)
        self.t = 0
        return obs

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, -1)
        obs = np.empty((self.num_envs, self.obs_dim))
        x_before = np.empty(self.num_envs)
        x_after = np.empty(self.num_envs)
        model, frame_skip = self.model, self.FRAME_SKIP
        for i, data in enumerate(self.datas):
            x_before[i] = data.qpos[0]
            data.ctrl[:] = actions[i]
            mujoco.mj_step(model, data, nstep=frame_skip)
            x_after[i] = data.qpos[0]
            self._observe(obs, i)
        self.t += 1
        x_velocity = (x_after - x_before) / self.dt
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.full(self.num_envs, self.t >= self.HORIZON)
        info = {"x_position": x_after, "x_velocity": x_velocity}
        return obs, x_velocity.copy(), terminated, truncated, info


class _PrimaryRewardOnly:
    """Mixin for Gymnasium's HalfCheetah classes: the paper's reward weights (both 1, unless the
    caller sets them), and a reward that is the primary reward only, info[PRIMARY_KEY]."""

    PRIMARY_KEY: str

    def __init__(self, **kwargs):
        kwargs.setdefault("forward_reward_weight", 1.0)
        kwargs.setdefault("ctrl_cost_weight", 1.0)
        with mujoco_warnings_to_log():
            super().__init__(**kwargs)

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, float(info[self.PRIMARY_KEY]), terminated, truncated, info


class HalfCheetahV5Env(_PrimaryRewardOnly, half_cheetah_v5.HalfCheetahEnv):
    """Gymnasium's HalfCheetah-v5 with forward_reward_weight = ctrl_cost_weight = 1 whose reward
    is the primary reward only (info["reward_forward"]); info["reward_ctrl"] = -sum(a^2)."""

    PRIMARY_KEY = "reward_forward"


class HalfCheetahV4Env(_PrimaryRewardOnly, half_cheetah_v4.HalfCheetahEnv):
    """Gymnasium's HalfCheetah-v4 (the paper's version) with both weights 1 whose reward is the
    primary reward only (info["reward_run"]); info["reward_ctrl"] = -sum(a^2)."""

    PRIMARY_KEY = "reward_run"


@dataclass(frozen=True)
class HalfCheetahOptions:
    """HalfCheetah's options (`--set env_version=v4`)."""

    env_version: str = param("v5", "Gymnasium version (the paper used v4)", choices=("v4", "v5"))
    """v4 and v5 share the model file and frame skip, so their dynamics and r_p are the same;
    the version only names which Gymnasium environment the run corresponds to"""


def _features(spec: EnvSpec, options, gens, device) -> RandomReLUFeatures:
    """Fixed random Linear(17 -> 32) + ReLU on the raw observation, drawn per agent."""
    return RandomReLUFeatures.init(gens, spec.obs_dim, 32, device=device)


SPEC = EnvSpec(
    name="halfcheetah", obs_dim=17, n_actions=None, action_dim=6, action_low=-1.0,
    action_high=1.0, horizon=HalfCheetahBatched.HORIZON,
    batched=lambda num_envs, spec, options: HalfCheetahBatched(num_envs, spec=spec,
                                                               version=options.env_version),
    features=_features, reward_head="scalars", options=HalfCheetahOptions,
    published=(
        Published(dict(episodes=10000, optimizer="adam", actor_lr=1e-4, actor_reg=0.0,
                       critic_lr=1e-4, delta=1, baseline_ema=0.99, buffer_size=50,
                       reward_lr=2.5e-3, gamma_lr=0.0, learn_gamma=False, lambda_r=1.0,
                       lambda_gamma=0.0, neumann_alpha=1e-3, first_mul=30, warmup=False)),
        Published(dict(actor_lr=7.5e-5, critic_lr=7.5e-5), family="actor-critic"),
        Published(dict(delta=3), family="barfi"),
        # The first-order ablation's own sweep (its configuration 0 has no reward-weight penalty).
        Published(dict(lambda_r=0.0), method="barfi-first-order"),
    ),
    episode_cpu_s=0.068,
    block_size=10,
    agent_mem_mb={"reinforce": 4.0, "actor-critic": 3.0, "barfi": 4.0},
    gym_id="barfi/HalfCheetah-v5",
    gym_registrations=tuple(dict(id=f"barfi/HalfCheetah-{v}",
                                 entry_point=f"barfi.envs.halfcheetah:HalfCheetah{v.upper()}Env",
                                 max_episode_steps=HalfCheetahBatched.HORIZON)
                            for v in ("v5", "v4")),
    description="Gymnasium HalfCheetah (MuJoCo), r_p = forward velocity, horizon 1000")
