"""BARFI: learn the behaviour alignment reward r_phi and the discount gamma_phi by bi-level
optimisation (the paper's bi-level problem, stated below), for a block of agents at once.

Inner problem: the policy theta follows REINFORCE (gamma-dropped, as published) on
    r_phi(s, a) = phi1(s) + phi2(s) * r_p(s, a) + phi3(s) * r_aux(s, a),   gamma_phi = sigmoid(psi).
Outer problem: maximise the primary objective J(theta(phi)) (discount `gamma`), minus
    lambda_r * sum_p ||p||_2 over phi's parameter tensors (unsquared) - lambda_gamma * gamma_phi.

Methods (`config.method`):
- `barfi`: implicit gradient dJ/dphi = -(d2 J_phi / dphi dtheta) H^-1 grad_theta J with
  H = d2 J_phi / dtheta2, H^-1 v by the Neumann series (or conjugate gradient, `solver=cg`);
- `barfi-first-order`: H^-1 ~ -I, i.e. dJ/dphi ~ (d2 J_phi / dphi dtheta) grad_theta J (the
  reference's first-order ablation: no alpha scaling);
- `barfi-unrolled`: the path-wise gradient through the delta * inner_mul inner updates
  (`hypergrad.unrolled_hypergradient` through the actor optimiser's own RMSprop/Adam update
  rule, inner and outer gradients norm-clipped per agent to `grad_clip`, gamma_phi not
  learned).

Every objective, inner and outer, is `reinforce_loss` (negated) on the returns of its reward.
Each method's parameter class (`learners/barfi_params.py`) says which outer gradient it takes
(`unrolled`, `solver_options()`) and whether it learns gamma_phi (`learns_gamma`, `psi_lr`).

Schedule (every `delta` episodes, counting episodes from 1 as the reference does):
1. outer step on phi and psi (skipped on the first call);
2. classic domains (`warmup`): until the first call after episode first_mul + inner_mul, one naive
   REINFORCE step on r_p + r_aux over the last two episodes;
3. once the episode count exceeds first_mul + inner_mul: delta * inner_mul inner steps (plus
   first_mul on the first such call, unless `first_steps` is false: MountainCar's published
   code skips that whole first batch of steps), each on `batch_size` episodes drawn uniformly
   from the FIFO trajectory buffer.

Parameterisation of r_phi per environment (the reference's; each env's `EnvSpec.reward_head`):
- gridworld: linear head (F -> 3) on the policy's features, coefficient on r_p fixed at 1;
- mountaincar, cartpole: linear head, all three coefficients learned;
- halfcheetah: three state-independent scalars w = (1, 1, 1), r_phi = (w1 - 1) + r_p + w3 r_aux,
  which starts exactly at the naive combination (w2 is a parameter the reward does not use,
  kept so that the L2 norm matches the reference).
All heads start from torch's default Linear initialisation (drawn from each agent's `init`
stream), except halfcheetah's scalars.

Every quantity has a leading agent dimension B and every loss is a sum of per-agent losses, so
one backward pass (and one Hessian-vector product) serves all agents while keeping them
independent: agent i's hypergradient involves only agent i's Hessian block.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch

from barfi.features import torch_linear_init
from barfi.hypergrad import (clip_grad_norm_per_agent, implicit_hypergradient,
                             unrolled_hypergradient)
from barfi.learners.barfi_params import (BarfiBaseParams, BarfiFirstOrderParams, BarfiParams,
                                         BarfiUnrolledParams)
from barfi.learners.base import EpisodeBatch
from barfi.learners.buffer import EpisodeBuffer
from barfi.learners.optim import make_optimizer
from barfi.learners.reinforce import PolicyLearner, reinforce_loss
from barfi.learners.returns import returns_to_go

INNER_BASELINE_EMA = 0.9   # the reference's running return baseline of the inner objective
# Inner steps prepare their episodes' features and returns together, up to this many feature
# values for the whole block (4 MiB of float32, cache-sized): for one agent all of GridWorld's
# steps between two outer steps and 8 of CartPole's at batch size 1; what it saves is Python
# and dispatch time per call, which a block of a few hundred agents already shares.
INNER_CHUNK_FLOATS = 2 ** 20


def alignment_reward(phi: torch.Tensor, r_p: torch.Tensor, r_aux: torch.Tensor) -> torch.Tensor:
    """r_phi = phi1 + phi2 r_p + phi3 r_aux, from the coefficients phi (..., 3) per state."""
    return phi[..., 0] + phi[..., 1] * r_p + phi[..., 2] * r_aux


class AlignmentReward:
    """The behaviour alignment reward r_phi of a block of agents (kind: `EnvSpec.reward_head`)."""

    def __init__(self, kind: str, n_features: int, gens: Sequence[np.random.Generator],
                 device: torch.device):
        self.kind = kind
        if kind == "scalars":
            self.params = [torch.ones(len(gens), 3, device=device, requires_grad=True)]
        else:
            ws, bs = zip(*(torch_linear_init(g, n_features, 3) for g in gens))
            weight = torch.as_tensor(np.stack(ws), dtype=torch.float32, device=device)  # (B, 3, F)
            bias = torch.as_tensor(np.stack(bs), dtype=torch.float32, device=device)    # (B, 3)
            self.params = [weight.requires_grad_(), bias.requires_grad_()]

    def coefficients(self, feats: torch.Tensor) -> torch.Tensor:
        """(phi1, phi2, phi3) per state: feats (B, ..., F) -> (B, ..., 3)."""
        if self.kind == "scalars":
            w = self.params[0]
            shape = (w.shape[0],) + (1,) * (feats.dim() - 2) + (3,)
            phi = torch.stack([w[:, 0] - 1.0, torch.ones_like(w[:, 0]), w[:, 2]], -1)
            return phi.reshape(shape).expand(feats.shape[:-1] + (3,))
        weight, bias = self.params
        B, F = feats.shape[0], feats.shape[-1]
        out = torch.baddbmm(bias[:, None, :], feats.reshape(B, -1, F), weight.transpose(1, 2))
        out = out.reshape(feats.shape[:-1] + (3,))
        if self.kind == "fixed-primary":
            out = torch.stack([out[..., 0], torch.ones_like(out[..., 1]), out[..., 2]], -1)
        return out

    def reward(self, feats: torch.Tensor, r_p: torch.Tensor, r_aux: torch.Tensor) -> torch.Tensor:
        return alignment_reward(self.coefficients(feats), r_p, r_aux)

    def norm(self) -> torch.Tensor:
        """Per-agent sum over parameter tensors of their unsquared L2 norms: (B,)."""
        return sum(p.reshape(p.shape[0], -1).norm(dim=1) for p in self.params)


class BarfiLearner(PolicyLearner):
    """BARFI on a block of agents (module docstring). The features, policy, actor optimiser and
    rollout come from `PolicyLearner`, so a seed starts from the same policy as REINFORCE."""

    def __init__(self, config, spec, streams, device="cpu"):
        super().__init__(config, spec, streams, device)
        hp = self.hp
        self.reward_head = AlignmentReward(spec.reward_head, self.features.dim,
                                           streams["init"], self.device)
        B = self.num_agents
        psi_init = np.full(B, self.per_agent("psi_init"), dtype=np.float64)
        self.psi = torch.as_tensor(psi_init, dtype=torch.float32,
                                   device=self.device).clone().requires_grad_()
        self.reward_opt = make_optimizer(self.reward_head.params, hp.optimizer,
                                         self.per_agent("reward_lr"))
        self.gamma_opt = make_optimizer([self.psi], hp.optimizer, self.per_agent("psi_lr"))
        action_shape = () if self.discrete else (spec.action_dim,)
        self.buffer = EpisodeBuffer(B, hp.buffer_capacity, spec.horizon,
                                    spec.obs_dim, action_shape, self.discrete, self.device)
        self.counter = 0           # episodes seen (1-based, as the reference's counter)
        self.first_time = True     # no outer step yet
        # Running return baselines (HalfCheetah: baseline_ema > 0), per agent.
        self.baselines = {"inner": None, "outer": None}

    # ----- objectives -----
    def gamma_phi(self) -> torch.Tensor:
        return torch.sigmoid(self.psi)

    def _objective(self, episodes: dict[str, torch.Tensor], *, reward, gamma,
                   entropy_weight, baseline: str | None, params=None) -> torch.Tensor:
        """Per-agent REINFORCE objective J (B,) on episodes (B, n, T, ...): minus
        `reinforce_loss` of the returns G_t (gamma-dropped unless `discounted_returns`).

        reward: "primary" (r_p), "naive" (r_p + r_aux), "phi" (r_phi with a graph to phi) or
        "phi-detached" (r_phi as data); gamma: a float, a (B,) array or a (B,) tensor (may
        carry a graph); entropy_weight: a float or a per-agent value (`Learner.per_agent`)."""
        feats = self.features.torch_padded(episodes["obs"])
        returns = self._returns(episodes, feats, reward=reward, gamma=gamma)
        return self._objective_of(episodes, feats, returns, gamma=gamma,
                                  entropy_weight=entropy_weight, baseline=baseline,
                                  params=params)

    def _returns(self, episodes: dict[str, torch.Tensor], feats: torch.Tensor, *, reward,
                 gamma) -> torch.Tensor:
        """The returns G_t (B, n, T) of `reward` (see `_objective`) on episodes whose features
        are `feats`."""
        mask = episodes["mask"]
        if reward == "primary":
            r = episodes["r_p"]
        elif reward == "naive":
            r = episodes["r_p"] + episodes["r_aux"]
        elif reward == "phi-detached":
            with torch.no_grad():
                r = self.reward_head.reward(feats, episodes["r_p"], episodes["r_aux"])
        else:
            r = self.reward_head.reward(feats, episodes["r_p"], episodes["r_aux"])
        return returns_to_go(r * mask, gamma)

    def _objective_of(self, episodes, feats, returns, *, gamma, entropy_weight,
                      baseline: str | None, params=None) -> torch.Tensor:
        """`_objective` from the episodes' features and returns."""
        mask = episodes["mask"]
        if self.hp.baseline_ema > 0 and baseline is not None:
            returns = self._subtract_baseline(returns, mask, baseline)
        return -reinforce_loss(self.policy, feats, episodes["actions"], returns, mask,
                               self.agent_tensor(entropy_weight), params=params,
                               discount=gamma if self.hp.discounted_returns else None)

    def _subtract_baseline(self, returns, mask, which):
        """Running-mean return baseline per agent (the reference's HalfCheetah BARFI): EMA 0.9
        for the inner objective, `baseline_ema` for the outer one, updated at every use."""
        decay = INNER_BASELINE_EMA if which == "inner" else self.per_agent("baseline_ema")
        current = self.baselines[which]
        mean = returns.detach().mean(dim=tuple(range(1, returns.dim())))
        centred = returns if current is None else \
            returns - current.reshape((-1,) + (1,) * (returns.dim() - 1))
        self.baselines[which] = mean if current is None else \
            self.agent_tensor(decay) * current + self.agent_tensor(1 - decay) * mean
        return centred * mask

    def _sample_ages(self, count: int, rounds: int = 1, exclude_newest: int = 0) -> torch.Tensor:
        """Ages (B, rounds, count) of episodes drawn uniformly (with replacement) from the
        buffer, excluding the newest `exclude_newest`, each agent from its own `learner` stream
        in one draw per agent for all `rounds` (one round per gradient step)."""
        valid = max(self.buffer.size - exclude_newest, 1)
        ages = np.stack([g.integers(0, valid, size=(rounds, count))
                         for g in self.streams["learner"]])
        ages = ages + min(exclude_newest, self.buffer.size - 1)
        return torch.as_tensor(ages, device=self.device)

    def _sample(self, count: int, exclude_newest: int = 0) -> dict[str, torch.Tensor]:
        """`count` episodes per agent (see `_sample_ages`): dict of (B, count, T, ...)."""
        return self.buffer.get(self._sample_ages(count, 1, exclude_newest)[:, 0])

    def _weighted_sum(self, key: str, values: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
        """sum over agents of sign * hp[key] * values (B,): one weight per agent in a mixed
        block, else the weight times the sum (the arithmetic of a one-config block)."""
        weight = self.per_agent(key)
        if isinstance(weight, np.ndarray):
            return (self.agent_tensor(sign * weight) * values).sum()
        return (sign * weight) * values.sum()

    def _policy_step(self, objective: torch.Tensor) -> None:
        self.actor_opt.zero_grad()
        (-objective.sum()).backward()
        self.actor_opt.step()

    def _inner_steps(self, steps: int) -> None:
        """`steps` policy steps, each on `batch_size` buffered episodes and their r_phi returns.
        r_phi and gamma_phi stay fixed until the next outer step, so the features and returns
        of a run of consecutive steps' episodes are computed in one pass (`_inner_chunk`
        steps at a time): the same numbers as step by step, since every kernel involved gives
        a row the same value whatever the number of rows (test_inner_steps_chunked)."""
        gamma = self.gamma_phi().detach()
        batch, B = self.hp.batch_size, self.num_agents
        ages = self._sample_ages(batch, steps)
        actor_reg = self.per_agent("actor_reg")
        chunk = self._inner_chunk()
        for start in range(0, steps, chunk):
            count = min(chunk, steps - start)
            episodes = self.buffer.get(ages[:, start:start + count].reshape(B, count * batch))
            feats = self.features.torch_padded(episodes["obs"])
            returns = self._returns(episodes, feats, reward="phi-detached", gamma=gamma)
            for k in range(count):
                rows = slice(k * batch, (k + 1) * batch)
                step = {name: value[:, rows] for name, value in episodes.items()}
                self._policy_step(self._objective_of(
                    step, feats[:, rows], returns[:, rows], gamma=gamma,
                    entropy_weight=actor_reg, baseline="inner"))

    def _inner_chunk(self) -> int:
        """Inner steps whose episodes are prepared in one pass: as many as keep the block's
        features under INNER_CHUNK_FLOATS. The chunking changes no number (see
        `_inner_steps`), so it may depend on the block's size."""
        per_step = (self.num_agents * self.hp.batch_size * (self.spec.horizon + 1)
                    * self.features.dim)
        return max(1, INNER_CHUNK_FLOATS // per_step)

    # ----- outer steps -----
    def _outer_implicit(self) -> None:
        hp, theta = self.hp, self.policy.parameters()
        last = self.buffer.last(hp.delta + 1)
        j_primary = self._objective(last, reward="primary", gamma=self.per_agent("gamma"),
                                    entropy_weight=0.0, baseline="outer")
        g = torch.autograd.grad(j_primary.sum(), theta)
        inner = self._sample(hp.hess_mul * hp.batch_size, exclude_newest=hp.delta)
        j_phi = self._objective(inner, reward="phi", gamma=self.gamma_phi(),
                                entropy_weight=self.per_agent("actor_reg"), baseline="inner")
        solver, options = hp.solver_options()
        if "alpha" in options:     # the Neumann step, one per agent
            options["alpha"] = self.agent_tensor(self.per_agent("neumann_alpha"))
        penalty = self._weighted_sum("lambda_r", self.reward_head.norm()) \
            + self._weighted_sum("lambda_gamma", self.gamma_phi())
        hyper = implicit_hypergradient(j_phi.sum(), theta, self.reward_head.params + [self.psi],
                                       g, solver, outer_direct=-penalty, **options)
        self._ascend(hyper[:-1], hyper[-1])

    def _ascend(self, reward_grads, psi_grad) -> None:
        """Gradient ascent on phi (and psi) with their optimisers."""
        for p, gp in zip(self.reward_head.params, reward_grads):
            p.grad = None if gp is None else -gp
        self.reward_opt.step()
        learns = np.array([c.hp.learns_gamma for c in self.configs])
        if learns.any() and psi_grad is not None:
            before = self.psi.detach().clone()
            self.psi.grad = -psi_grad
            self.gamma_opt.step()
            if not learns.all():      # a mixed block: the agents with gamma_lr 0 keep psi
                with torch.no_grad():
                    keep = torch.as_tensor(learns, device=self.device)
                    self.psi.copy_(torch.where(keep, self.psi, before))

    def _unrolled_update(self, steps: int) -> None:
        """Inner steps as differentiable optimiser updates (the actor optimiser's own update
        rule, from its state), then the outer gradient through them; theta and the actor
        optimiser continue from the unrolled result."""
        hp = self.hp
        gamma = self.gamma_phi().detach()
        ages = self._sample_ages(hp.batch_size, steps)
        last = self.buffer.last(hp.delta + 1)

        actor_reg, primary_gamma = self.per_agent("actor_reg"), self.per_agent("gamma")

        def inner(theta, k):
            return self._objective(self.buffer.get(ages[:, k]), reward="phi", gamma=gamma,
                                   entropy_weight=actor_reg, baseline="inner", params=theta)

        def outer(theta):
            return self._objective(last, reward="primary", gamma=primary_gamma,
                                   entropy_weight=0.0, baseline="outer", params=theta)

        hyper, theta, states = unrolled_hypergradient(
            inner, outer, self.policy.parameters(), self.reward_head.params, steps,
            max_norm=hp.grad_clip, optimizer=self.actor_opt.rule.step_all,
            state=self.actor_opt.states(),
            outer_direct=self._weighted_sum("lambda_r", self.reward_head.norm(), sign=-1.0))
        self._ascend(clip_grad_norm_per_agent(hyper, hp.grad_clip), None)
        with torch.no_grad():
            for p, new in zip(self.policy.parameters(), theta):
                p.copy_(new)
        self.actor_opt.load_states(states)

    # ----- the schedule -----
    def end_episode(self, episode: EpisodeBatch, index: int) -> dict[str, np.ndarray]:
        hp = self.hp
        self.buffer.add(episode)
        self.counter += 1
        metrics = self._episode_metrics(episode)  # under the phi that shaped this episode
        if self.counter % hp.delta != 0:
            return metrics
        ready = self.counter > hp.first_mul + hp.inner_mul
        if not hp.warmup and not ready:
            return metrics
        if not self.first_time and not hp.unrolled:
            self._outer_implicit()
        if self.first_time and hp.warmup:
            last_two = self.buffer.last(2)
            self._policy_step(self._objective(last_two, reward="naive",
                                              gamma=self.gamma_phi().detach(),
                                              entropy_weight=self.per_agent("actor_reg"),
                                              baseline="inner"))
        if ready:
            steps = hp.delta * hp.inner_mul + (hp.first_mul if self.first_time else 0)
            if self.first_time and not hp.first_steps:
                steps = 0
            if hp.unrolled and not self.first_time:
                self._unrolled_update(hp.delta * hp.inner_mul)
            else:
                self._inner_steps(steps)
            self.first_time = False
        self.policy.sync()
        return metrics

    @torch.no_grad()
    def _episode_metrics(self, episode: EpisodeBatch) -> dict[str, np.ndarray]:
        obs = torch.as_tensor(episode.obs, dtype=torch.float32, device=self.device)
        mask = torch.as_tensor(episode.mask, dtype=torch.float32, device=self.device)
        phi = self.reward_head.coefficients(self.features.torch_padded(obs))       # (B, T, 3)
        r_p = torch.as_tensor(episode.r_p, dtype=torch.float32, device=self.device)
        r_aux = torch.as_tensor(episode.r_aux, dtype=torch.float32, device=self.device)
        r_phi = alignment_reward(phi, r_p, r_aux)
        n = mask.sum(1).clamp(min=1.0)
        out = {f"phi{k + 1}_mean": (phi[..., k] * mask).sum(1) / n for k in range(3)}
        out["r_phi_return"] = (r_phi * mask).sum(1)
        out["gamma_phi"] = self.gamma_phi()
        return {k: v.double().cpu().numpy() for k, v in out.items()}

    @torch.no_grad()
    def final_records(self) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
        n = self.spec.phi_map_points
        if not n:
            return {}
        (x0, y0), (x1, y1) = self.spec.obs_low, self.spec.obs_high
        x_axis = torch.linspace(x0, x1, n, dtype=torch.float32, device=self.device)
        y_axis = torch.linspace(y0, y1, n, dtype=torch.float32, device=self.device)
        ys, xs = torch.meshgrid(y_axis, x_axis, indexing="ij")
        grid = torch.stack([xs, ys], -1).reshape(1, -1, 2).expand(self.num_agents, -1, -1)
        phi = self.reward_head.coefficients(self.features.torch(grid))
        shape = (self.num_agents, n, n)
        dims = ("grid_y", "grid_x")
        return {"phi1_map": (dims, phi[..., 0].reshape(shape).double().cpu().numpy()),
                "phi3_map": (dims, phi[..., 2].reshape(shape).double().cpu().numpy())}

    # ----- bookkeeping -----
    def parameters(self) -> list[torch.Tensor]:
        return [*self.policy.parameters(), *self.reward_head.params, self.psi]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(),
                "reward": [p.detach().clone() for p in self.reward_head.params],
                "psi": self.psi.detach().clone(),
                "reward_opt": copy.deepcopy(self.reward_opt.state_dict()),
                "gamma_opt": copy.deepcopy(self.gamma_opt.state_dict()),
                "buffer": self.buffer.state_dict(), "counter": self.counter,
                "first_time": self.first_time, "baselines": dict(self.baselines)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        with torch.no_grad():
            for p, value in zip(self.reward_head.params, state["reward"]):
                p.copy_(value)
            self.psi.copy_(state["psi"])
        self.reward_opt.load_state_dict(state["reward_opt"])
        self.gamma_opt.load_state_dict(state["gamma_opt"])
        self.buffer.load_state_dict(state["buffer"])
        self.counter, self.first_time = state["counter"], state["first_time"]
        self.baselines = dict(state["baselines"])


def make(config, spec, streams, device="cpu") -> BarfiLearner:
    return BarfiLearner(config, spec, streams, device)


__all__ = ["AlignmentReward", "BarfiBaseParams", "BarfiFirstOrderParams", "BarfiLearner",
           "BarfiParams", "BarfiUnrolledParams", "alignment_reward", "make"]
