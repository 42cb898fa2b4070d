"""The parameter classes of the BARFI methods (`barfi.learners.barfi`): one per method, each
holding exactly the keys its learner reads, and saying which outer gradient the method takes.

- `BarfiBaseParams`: what every variant reads (the inner REINFORCE, r_phi, the schedule);
- `BarfiUnrolledParams` (`barfi-unrolled`): the path-wise gradient through the unrolled inner
  steps, gamma_phi not learned;
- `BarfiFirstOrderParams` (`barfi-first-order`): the implicit gradient with H^-1 ~ -I;
- `BarfiParams` (`barfi`): the implicit gradient with a Neumann or conjugate-gradient solver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from barfi.learners.reinforce import ReinforceParams
from barfi.params import param


@dataclass(frozen=True)
class BarfiBaseParams(ReinforceParams):
    """What every BARFI variant reads: the inner REINFORCE (actor_reg, baseline_ema), the
    reward r_phi and the schedule."""

    batch_size: int = param(1, "episodes per inner policy-gradient estimate", min=1)
    """episodes drawn from the buffer for each inner step"""
    buffer_size: int = param(1000, "trajectory buffer size (episodes) for the inner updates",
                             min=1)
    """capacity of the FIFO episode buffer (at most `episodes`)"""
    reward_lr: float = param(5e-3, "learning rate of phi (behaviour alignment reward)", min=0.0,
                             per_agent=True)
    """learning rate of the reward head's optimiser"""
    lambda_r: float = param(0.0, "weight of the unsquared L2 norm of phi's parameters", min=0.0,
                            per_agent=True)
    """outer penalty lambda_r * sum_p ||p||_2 over the reward head's tensors"""
    psi_init: float = param(4.6, "initial psi (gamma_phi = sigmoid(psi) ~= 0.990)",
                            per_agent=True)
    """gamma_phi = sigmoid(psi) discounts the inner objective"""
    inner_mul: int = param(5, "inner policy steps per episode of the schedule (delta * inner_mul "
                              "steps per outer step)", min=1)
    """inner steps per outer step = delta * inner_mul"""
    first_mul: int = param(150, "extra inner steps on the first call (0 = none); also sets the "
                                "warm-up length", min=0)
    """inner learning starts after episode first_mul + inner_mul"""
    first_steps: bool = param(True, "take the delta*inner_mul + first_mul inner steps on the "
                                    "first outer call (MountainCar's published code skips them)")
    """False: the first batch of inner steps is skipped"""
    warmup: bool = param(True, "naive REINFORCE on r_p + r_aux until episode > first_mul + "
                               "inner_mul")
    """classic domains warm the policy up on r_p + r_aux; HalfCheetah does not"""

    unrolled: ClassVar[bool] = False
    """the outer gradient is the path-wise one through the unrolled inner steps (else the
    implicit gradient)"""

    @property
    def psi_lr(self) -> float:
        """learning rate of psi's optimiser (a method without gamma keys: 0)"""
        return 0.0

    @property
    def buffer_capacity(self) -> int:
        """episodes the trajectory buffer holds: `buffer_size`, or the run's whole budget if
        that is smaller (the buffer is allocated in full when training starts)"""
        return min(self.buffer_size, self.episodes)

    @property
    def learns_gamma(self) -> bool:
        """whether the outer step moves psi (a method without gamma keys: never)"""
        return False


@dataclass(frozen=True)
class BarfiUnrolledParams(BarfiBaseParams):
    """What `barfi-unrolled` reads: gamma_phi is not learned (no gamma_lr, lambda_gamma,
    learn_gamma) and the path-wise gradient needs no solver (no solver, Neumann, CG or
    hess_mul keys)."""

    grad_clip: float = param(1.0, "norm clip of inner and outer gradients (0 = off)", min=0.0)
    """per-agent norm clip of the unrolled inner gradients and of the outer gradient"""

    unrolled: ClassVar[bool] = True


@dataclass(frozen=True)
class BarfiFirstOrderParams(BarfiBaseParams):
    """What `barfi-first-order` reads: the implicit gradient with H^-1 ~ -I (no solver keys)."""

    gamma_lr: float = param(5e-3, "learning rate of psi (gamma_phi = sigmoid(psi)); 0 freezes it",
                            min=0.0, per_agent=True)
    """learning rate of psi's optimiser"""
    lambda_gamma: float = param(0.0, "weight of the linear penalty on gamma_phi", min=0.0,
                                per_agent=True)
    """outer penalty lambda_gamma * gamma_phi"""
    learn_gamma: bool = param(True, "learn gamma_phi (False keeps it at sigmoid(psi_init))")
    """False: psi never moves"""
    hess_mul: int = param(15, "episodes (x batch_size) sampled for the inner gradient of the "
                              "hypergradient", min=1)
    """buffer episodes of the inner objective whose mixed derivatives the hypergradient uses"""

    @property
    def psi_lr(self) -> float:
        return self.gamma_lr

    @property
    def learns_gamma(self) -> bool:
        return self.learn_gamma and self.gamma_lr > 0

    def solver_options(self) -> tuple[str, dict[str, Any]]:
        """The `barfi.hypergrad.implicit_hypergradient` solver and its options: H^-1 ~ -I."""
        return "identity", {}


@dataclass(frozen=True)
class BarfiParams(BarfiFirstOrderParams):
    """What `barfi` reads: the implicit gradient with an inverse-Hessian-vector product solver."""

    solver: str = param("neumann", "inverse-Hessian-vector product solver of the implicit "
                                   "gradient", choices=("neumann", "cg"))
    """`barfi.hypergrad` solver"""
    neumann_terms: int = param(5, "K, terms of the Neumann series (0 = first-order)", min=0)
    """solver=neumann: terms of the series"""
    neumann_alpha: float = param(5e-4, "step alpha of the Neumann series", min=0.0,
                                 min_open=True, per_agent=True)
    """solver=neumann: step of the series"""
    cg_iters: int = param(10, "iterations of the conjugate-gradient solver", min=1)
    """solver=cg: iterations"""
    cg_damping: float = param(1e-3, "damping added to -H in the conjugate-gradient solver",
                              min=0.0)
    """solver=cg: damping"""

    def solver_options(self) -> tuple[str, dict[str, Any]]:
        if self.solver == "cg":
            return "cg", {"iters": self.cg_iters, "damping": self.cg_damping}
        return "neumann", {"alpha": self.neumann_alpha, "terms": self.neumann_terms}
