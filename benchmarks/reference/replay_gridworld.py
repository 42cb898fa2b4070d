"""barfi's GridWorld REINFORCE (no aux reward) driven by the reference implementation's random
numbers.

The reference (Dhawgupta/gupta2023behavior, barfi-gw) seeds numpy's legacy global RandomState
and torch's generator with the same integer. Torch then draws the Fourier basis's dummy
parameter and the policy's initial weights (nn.Linear's default initialisation); numpy draws
nothing before the first episode (the environment's resets are deterministic) and, per step,
one uniform for the action (np.random.choice on the float32 softmax, converted to float64:
cdf.searchsorted(u, 'right')), then -- inside the environment's step, unless the horizon was
already reached -- one uniform for the random replacement (u < 0.1) and, only if it fires, one
np.random.randint(0, 4) for the replacing action.

barfi's GridWorldBatched draws its replacement noise in per-episode chunks at reset, which
cannot follow that interleaved order. So this script resets it with a stand-in generator that
returns all-ones noise (the env never replaces an action) and makes the replacement itself, in
the reference's order, stepping the env with the executed action; the learner is given the
chosen action, as in barfi and the reference. Everything else -- dynamics, rewards, features,
loss, optimiser -- is barfi's own code. Compare with a reference run of the same seed
(trace_reference_gridworld.py, compare_traces.py).

    python benchmarks/reference/replay_gridworld.py --seed 1 --episodes 2000 [options]

Options restore (or remove) one reference behaviour at a time:
  --noop-last     the 50th step is a no-op with r = 0 and no environment draws (the
                  reference's step counter reaches the horizon before that step's dynamics:
                  49 real steps); the step is still learned from, as in the reference
  --f32           observations rounded to float32 before the features, as the reference's
                  policy input and buffer are float32
  --decorrelate   numpy's stream seeded with seed + 1000
  --barfi-init    barfi's own initial weights (the `init` stream of the seed) instead of torch's
  --dump FILE     pickle each episode's states, actions, probabilities and uniforms
The reference's stale observation after the goal (the position before the goal-entering
sub-step) is not an option: REINFORCE never learns from the final observation (its mask is 0).
Prints the final performance (mean primary return of the last 200 episodes), the time-out
fraction and the mean length of successful episodes in the last 200, and per-100 means.
"""

from __future__ import annotations

import argparse
import pickle

import numpy as np
import torch

from barfi.envs.gridworld import GridWorldBatched
from barfi.learners import EpisodeBatch
from replay_mountaincar import replay_learner


class _NoReplacement:
    """A stand-in generator for GridWorldBatched.reset: all-ones noise (1 >= 0.1), so the env
    executes exactly the action it is given."""

    def random(self, shape) -> np.ndarray:
        return np.ones(shape)


def reference_choice(feats: np.ndarray, weight: torch.Tensor, bias: torch.Tensor,
                     u: float) -> tuple[int, np.ndarray]:
    """np.random.choice(A, p) with p = the reference's float32 torch softmax: numpy converts p
    to float64, normalises its cumulative sum and returns cdf.searchsorted(u, 'right')."""
    x = torch.from_numpy(feats.astype(np.float32))
    p = torch.softmax(torch.nn.functional.linear(x, weight, bias), -1).view(-1).numpy()
    cdf = p.astype(np.float64).cumsum()
    cdf /= cdf[-1]
    return int(cdf.searchsorted(u, side="right")), p


def run_episode(env: GridWorldBatched, learner, rs: np.random.RandomState, noop_last: bool,
                rounded) -> tuple[EpisodeBatch, dict]:
    """One episode in the reference's draw order; returns barfi's batch and the trace."""
    horizon = env.HORIZON
    obs = env.reset([_NoReplacement()])
    # The reference's nn.Linear layout: weight (A, F) contiguous, so the same addmm.
    weight = learner.policy.weight[0].detach().T.contiguous()
    bias = learner.policy.bias[0].detach().clone()
    buf = dict(obs=np.zeros((1, horizon + 1, 2)), act=np.zeros((1, horizon + 1), np.int64),
               r_p=np.zeros((1, horizon + 1)), mask=np.zeros((1, horizon + 1)))
    buf["obs"][0, 0] = obs[0]
    length, terminated, probs_u, executed_actions = 0, False, [], []
    for t in range(horizon):
        u = rs.random_sample()
        action, p = reference_choice(learner.features.np(rounded(obs)), weight, bias, u)
        probs_u.append((p, u))
        if noop_last and t == horizon - 1:
            next_obs, r_p, executed = obs, 0.0, -1
        else:
            executed = action
            if rs.random_sample() < GridWorldBatched.RANDOM_ACTION_PROB:
                executed = int(rs.randint(0, GridWorldBatched.N_ACTIONS))
            next_obs, r, term, _, _ = env.step(np.array([executed]))
            r_p, terminated = float(r[0]), bool(term[0])
        executed_actions.append(executed)
        buf["act"][0, t], buf["r_p"][0, t], buf["mask"][0, t] = action, r_p, 1.0
        buf["obs"][0, t + 1] = next_obs[0]
        obs, length = next_obs, t + 1
        if terminated:
            break
    batch = EpisodeBatch(rounded(buf["obs"]), buf["act"], buf["r_p"], np.zeros_like(buf["r_p"]),
                         buf["mask"], np.array([terminated]), np.array([length]))
    trace = dict(S=buf["obs"][0, :length].copy(), A=buf["act"][0, :length].copy(),
                 E=np.array(executed_actions), PU=probs_u)
    return batch, trace


def run(seed: int, episodes: int, noop_last=False, f32=False, decorrelate=False,
        barfi_init=False, method="reinforce"):
    """One replayed run: per-episode primary returns, lengths, terminated flags, and traces."""
    rs = np.random.RandomState(seed + (1000 if decorrelate else 0))
    overrides = {"episodes": episodes}
    if method == "actor-critic":          # configuration 0 of the reference's sweep
        overrides.update(actor_lr=0.005, critic_lr=0.005)
    learner = replay_learner("gridworld", "none", seed, overrides, barfi_init, method)
    rounded = (lambda o: o.astype(np.float32).astype(np.float64)) if f32 else (lambda o: o)
    env = GridWorldBatched(1)
    returns, lengths, reached, trace = [], [], [], []
    for index in range(episodes):
        batch, episode_trace = run_episode(env, learner, rs, noop_last, rounded)
        learner.end_episode(batch, index)
        returns.append(batch.r_p.sum())
        lengths.append(int(batch.length[0]))
        reached.append(bool(batch.terminated[0]))
        trace.append(episode_trace)
    return np.array(returns), np.array(lengths), np.array(reached), trace


def summary(returns: np.ndarray, lengths: np.ndarray, reached: np.ndarray, last: int = 200):
    """final (mean return), time-out fraction and mean steps of successful episodes."""
    r, n, ok = returns[-last:], lengths[-last:], reached[-last:]
    steps = float(n[ok].mean()) if ok.any() else float("nan")
    return float(r.mean()), float(1.0 - ok.mean()), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--episodes", type=int, default=2000)
    for flag in ("noop-last", "f32", "decorrelate", "barfi-init"):
        parser.add_argument(f"--{flag}", action="store_true")
    parser.add_argument("--method", choices=["reinforce", "actor-critic"], default="reinforce")
    parser.add_argument("--dump")
    args = parser.parse_args()
    torch.set_num_threads(1)
    returns, lengths, reached, trace = run(args.seed, args.episodes, args.noop_last, args.f32,
                                           args.decorrelate, args.barfi_init, args.method)
    if args.dump:
        with open(args.dump, "wb") as fh:
            pickle.dump(trace, fh)
    final, timeouts, steps = summary(returns, lengths, reached)
    blocks = [round(float(returns[i:i + 100].mean()), 3) for i in range(0, len(returns), 100)]
    print(f"seed {args.seed} final200 {final:.3f} timeouts {timeouts:.4f} steps {steps:.3f} "
          f"per100 {blocks}")


if __name__ == "__main__":
    main()
