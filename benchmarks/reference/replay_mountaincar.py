"""barfi's MountainCar REINFORCE or actor-critic driven by the reference implementation's random
numbers.

The reference (Dhawgupta/gupta2023behavior, barfi-mc) seeds numpy's legacy global RandomState
and torch's generator with the same integer, draws the policy's initial weights with torch
(nn.Linear's default initialisation, after one draw for a dummy parameter of its tile coder) and
then draws, from numpy, one number at the environment's construction, one at the solver's first
reset, one per episode start and one per action (np.random.choice, which inverts the CDF of the
float32 softmax probabilities with one uniform). This script replays exactly that sequence
through barfi's own environment, features and learner, so its episodes can be compared one for
one with a reference run of the same seed (trace_reference_mountaincar.py and
compare_traces.py), and so the seeding convention can be switched off to measure its effect.

    python benchmarks/reference/replay_mountaincar.py --seed 1 --episodes 500 [options]
    python benchmarks/reference/replay_mountaincar.py --aux velocity --method actor-critic \
        --seed 1 --episodes 2000 [options]

Options restore (or remove) one reference behaviour at a time:
  --noop-last     the 2000th step of a time-out is a no-op with r = r_aux = 0 (the reference's
                  step counter reaches the horizon before that step's dynamics)
  --f32           observations rounded to float32 before the features, as the reference's
                  buffer and policy input are float32 (matters at the wall x = -1.2 only)
  --decorrelate   numpy's stream seeded with seed + 1000: the initial weights no longer share
                  the Mersenne Twister words of the first start states and actions
  --barfi-init    barfi's own initial weights (the `init` stream of the seed) instead of torch's
  --dump FILE     pickle each episode's states, actions, probabilities and uniforms
Each (aux, method) runs its sweep's configuration 0 (`CONFIG_0`).
Prints the final performance (mean primary return of the last 200 episodes) and per-100 means.
"""

from __future__ import annotations

import argparse
import pickle

import numpy as np
import torch

from barfi.aux_rewards import AUX_REWARDS
from barfi.config import resolve_config
from barfi.envs import ENVS
from barfi.envs.mountaincar import MountainCarBatched
from barfi.learners import EpisodeBatch, make_learner
from barfi.rng import BlockStreams


# Configuration 0 of the reference's sweeps, as the harness maps them (the rest are barfi's
# published defaults, which are configuration 0 of the bang-bang sweeps).
CONFIG_0 = {
    ("bang-bang", "reinforce"): {},
    ("velocity", "actor-critic"): {"actor_lr": 0.015625, "critic_lr": 0.03125},
}


class _Draw:
    """A stand-in generator whose `random()` returns one given number (the start draw)."""

    def __init__(self, u: float):
        self.u = u

    def random(self) -> float:
        return self.u


def reference_initial_weights(seed: int, n_features: int, n_actions: int, critic=False):
    """torch.manual_seed(seed); one draw for the tile coder's dummy parameter; the policy's
    nn.Linear; and, for actor-critic, the critic's nn.Linear(F, 1) after it."""
    torch.manual_seed(seed)
    torch.rand(1)
    linear = torch.nn.Linear(n_features, n_actions)
    weights = [linear.weight.detach().T.clone(), linear.bias.detach().clone()]
    if critic:
        value = torch.nn.Linear(n_features, 1)
        weights += [value.weight.detach()[0].clone(), value.bias.detach().clone()]
    return weights


def replay_learner(env: str, aux: str, seed: int, overrides: dict, barfi_init: bool,
                   method: str = "reinforce"):
    """barfi's REINFORCE (or actor-critic) learner for one seed, with the reference's initial
    weights (torch's) unless `barfi_init`."""
    config = resolve_config(env, aux, method, overrides)
    spec = ENVS[env]
    learner = make_learner(config, spec, BlockStreams([seed]), "cpu")
    if not barfi_init:
        critic = method == "actor-critic"
        weights = reference_initial_weights(seed, learner.features.dim, spec.n_actions, critic)
        with torch.no_grad():
            learner.policy.weight.copy_(weights[0][None])
            learner.policy.bias.copy_(weights[1][None])
            if critic:
                learner.critic.weight.copy_(weights[2][None])
                learner.critic.bias.copy_(weights[3])
        learner.policy.sync()
    return learner


def run(seed: int, episodes: int, noop_last=False, f32=False, decorrelate=False,
        barfi_init=False, tile_coding="published", aux_name="bang-bang", method="reinforce"):
    """One replayed run; returns the per-episode (primary return, length) and the trace."""
    rs = np.random.RandomState(seed + (1000 if decorrelate else 0))
    horizon = ENVS["mountaincar"].horizon
    overrides = {"episodes": episodes, "tile_coding": tile_coding,
                 **CONFIG_0[(aux_name, method)]}
    learner = replay_learner("mountaincar", aux_name, seed, overrides, barfi_init, method)
    aux = AUX_REWARDS["mountaincar"][aux_name]
    rounded = (lambda o: o.astype(np.float32).astype(np.float64)) if f32 else (lambda o: o)
    rs.random_sample()                 # the environment's constructor resets once
    rs.random_sample()                 # and the solver resets it once more before training
    env = MountainCarBatched(1)
    returns, lengths, trace = [], [], []
    for index in range(episodes):
        obs = env.reset([_Draw(rs.random_sample())])
        w32 = learner.policy.weight[0].detach().numpy().astype(np.float32)
        b32 = learner.policy.bias[0].detach().numpy().astype(np.float32)
        buf = dict(obs=np.zeros((1, horizon + 1, 2)), act=np.zeros((1, horizon + 1), np.int64),
                   r_p=np.zeros((1, horizon + 1)), r_aux=np.zeros((1, horizon + 1)),
                   mask=np.zeros((1, horizon + 1)))
        buf["obs"][0, 0] = obs[0]
        length, terminated, probs_u = 0, False, []
        for t in range(horizon):
            # np.random.choice(3, p=float32 softmax): cdf.searchsorted(u, side="right")
            logits = learner.features.np(rounded(obs)).astype(np.float32)[0] @ w32 + b32
            p = np.exp(logits - logits.max())
            p /= p.sum()
            cdf = p.cumsum()
            cdf /= cdf[-1]
            u = rs.random_sample()
            action = int(cdf.searchsorted(u, side="right"))
            probs_u.append((p, u))
            if noop_last and t == horizon - 1:
                next_obs, r_p, r_aux = obs, 0.0, 0.0
            else:
                next_obs, r, term, _, _ = env.step(np.array([action]))
                r_aux = float(aux(obs, np.array([action]), next_obs, term, {}, None)[0])
                r_p, terminated = float(r[0]), bool(term[0])
            buf["act"][0, t], buf["r_p"][0, t], buf["r_aux"][0, t] = action, r_p, r_aux
            buf["mask"][0, t] = 1.0
            buf["obs"][0, t + 1] = next_obs[0]
            obs, length = next_obs, t + 1
            if terminated:
                break
        batch = EpisodeBatch(rounded(buf["obs"]), buf["act"], buf["r_p"], buf["r_aux"],
                             buf["mask"], np.array([terminated]), np.array([length]))
        trace.append(dict(S=buf["obs"][0, :length].copy(), A=buf["act"][0, :length].copy(),
                          PU=probs_u))
        learner.end_episode(batch, index)
        returns.append(buf["r_p"].sum())
        lengths.append(length)
    return np.array(returns), np.array(lengths), trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--episodes", type=int, default=500)
    for flag in ("noop-last", "f32", "decorrelate", "barfi-init"):
        parser.add_argument(f"--{flag}", action="store_true")
    parser.add_argument("--tile-coding", default="published")
    parser.add_argument("--aux", default="bang-bang", choices=sorted({a for a, _ in CONFIG_0}))
    parser.add_argument("--method", default="reinforce",
                        choices=sorted({m for _, m in CONFIG_0}))
    parser.add_argument("--dump")
    args = parser.parse_args()
    if (args.aux, args.method) not in CONFIG_0:
        parser.error(f"--aux {args.aux} --method {args.method}: not replayed; valid pairs: "
                     + ", ".join(f"{a}/{m}" for a, m in CONFIG_0))
    torch.set_num_threads(1)
    returns, lengths, trace = run(args.seed, args.episodes, args.noop_last, args.f32,
                                  args.decorrelate, args.barfi_init, args.tile_coding,
                                  args.aux, args.method)
    if args.dump:
        with open(args.dump, "wb") as fh:
            pickle.dump(trace, fh)
    blocks = [round(float(returns[i:i + 100].mean()), 3) for i in range(0, len(returns), 100)]
    print(f"seed {args.seed} final200 {returns[-200:].mean():.3f} per100 {blocks}")


if __name__ == "__main__":
    main()
