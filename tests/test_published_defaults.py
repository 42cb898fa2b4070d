"""Published defaults are configuration 0 of the reference's sweeps.

The table below is data read off the reference repository's sweep files
(Dhawgupta/gupta2023behavior, `barfi-*/experiments/PaperPlots*/**.json`): for each file the
first value of every swept list, translated to barfi's names (Neumann_alpha -> neumann_alpha,
Neumann_loops -> neumann_terms, gamma_L2 -> lambda_gamma, reward_L2 -> lambda_r, max_episodes ->
episodes, optim -> optimizer, critic_lr_ratio x actor_lr -> critic_lr). Only keys the method
reads are listed (the reference's actor-critic never reads its entropy weight, REINFORCE never
reads a critic learning rate, a buffer size or a batch size: it learns from the last episode). primary-only has no reference sweep and is
checked against REINFORCE's; barfi-unrolled against BARFI's, less the Neumann series.
"""

from __future__ import annotations

import pytest

from barfi.aux_rewards import AUX_REWARDS
from barfi.config import METHODS, published_defaults, resolve_config, valid_keys
from barfi.params import fields_of

RL = dict  # readability: one row of the table


def _no_neumann(row):
    return {k: v for k, v in row.items() if not k.startswith("neumann")}


# --- GridWorld: PaperPlots/{no, good, bad}/ ---
_GW_REINFORCE = RL(episodes=2000, actor_lr=5e-3, actor_reg=0.25, delta=3, gamma=0.99,
                   optimizer="rmsprop")
_GW_AC = RL(episodes=2000, actor_lr=5e-3, critic_lr=5e-3, delta=3, gamma=0.99,
            optimizer="rmsprop")
_GW_BARFI = RL(episodes=2000, actor_lr=5e-3, actor_reg=0.25, buffer_size=1000, reward_lr=5e-3,
               gamma_lr=5e-3, lambda_gamma=0.06125, lambda_r=0.0, neumann_alpha=5e-4,
               neumann_terms=5, delta=3, batch_size=1, gamma=0.99, optimizer="rmsprop")
# The first-order sweeps (Neumann_loops 0) are BARFI's; barfi-first-order is K = 0 by itself.
_GW_FIRST_ORDER = _no_neumann(_GW_BARFI)

# --- MountainCar: PaperPlots/ (bang-bang), PaperPlotsVel/ (velocity) ---
_MC_REINFORCE = RL(episodes=500, actor_lr=0.0625, actor_reg=0.25, delta=3, gamma=0.99,
                   optimizer="rmsprop")
_MC_AC = RL(episodes=500, actor_lr=0.03125, critic_lr=0.03125, delta=3, gamma=0.99)
_MC_BARFI = RL(episodes=500, actor_lr=0.0625, actor_reg=0.25, buffer_size=5, reward_lr=0.015625,
               gamma_lr=0.0, lambda_gamma=0.0, lambda_r=0.0, neumann_alpha=1e-3,
               neumann_terms=5, inner_mul=3, first_mul=50, delta=3)
_MC_VEL_REINFORCE = RL(episodes=2000, actor_lr=0.015625, actor_reg=0.0, delta=3)
_MC_VEL_AC = RL(episodes=2000, actor_lr=0.015625, critic_lr=0.03125, delta=3)
_MC_VEL_BARFI = RL(episodes=2000, actor_lr=0.0078125, actor_reg=0.0, buffer_size=10,
                   reward_lr=0.015625, gamma_lr=0.015625, lambda_gamma=0.06125, lambda_r=0.0,
                   neumann_alpha=1e-3, neumann_terms=5, inner_mul=5, first_mul=50, delta=3)

# --- CartPole: PaperPlots/{best2, bad}/, PaperPlots/later/bad_noise/ (identical) ---
_CP_REINFORCE = RL(episodes=1000, actor_lr=1e-3, actor_reg=0.25, delta=3, gamma=0.99,
                   optimizer="rmsprop")
_CP_AC = RL(episodes=1000, actor_lr=5e-4, critic_lr=5e-4, delta=3)
_CP_BARFI = RL(episodes=1000, actor_lr=1e-3, actor_reg=0.25, buffer_size=10000, reward_lr=1e-3,
               gamma_lr=1e-3, lambda_gamma=0.25, lambda_r=0.0, neumann_alpha=1e-3,
               neumann_terms=5, batch_size=1, delta=3)
_CP_FIRST_ORDER = _no_neumann(_CP_BARFI)

# --- HalfCheetah: PaperPlots/{good, bad}/ (aux weight 1 and 4) ---
_HC_REINFORCE = RL(episodes=10000, actor_lr=1e-4, actor_reg=0.0, delta=1, optimizer="adam")
_HC_AC = RL(episodes=10000, actor_lr=7.5e-5, critic_lr=7.5e-5, delta=1, optimizer="adam")
_HC_BARFI = RL(episodes=10000, actor_lr=1e-4, actor_reg=0.0, buffer_size=50, reward_lr=2.5e-3,
               gamma_lr=0.0, learn_gamma=False, lambda_gamma=0.0, lambda_r=1.0,
               neumann_alpha=1e-3, neumann_terms=5, inner_mul=5, first_mul=30, delta=3,
               optimizer="adam")
_HC_FIRST_ORDER = {**_no_neumann(_HC_BARFI), "lambda_r": 0.0}


def _family(reinforce, ac, barfi, first_order):
    unrolled = {k: v for k, v in _no_neumann(barfi).items() if k in valid_keys("barfi-unrolled")}
    return {"reinforce": reinforce, "reinforce-pbrs": reinforce, "primary-only": reinforce,
            "actor-critic": ac, "actor-critic-pbrs": ac, "barfi": barfi,
            "barfi-first-order": first_order, "barfi-unrolled": unrolled}


_GW = _family(_GW_REINFORCE, _GW_AC, _GW_BARFI, _GW_FIRST_ORDER)
_GW_BAD = {**_GW, "actor-critic-pbrs": {**_GW_AC, "actor_lr": 1e-4, "critic_lr": 1e-4}}
_MC = _family(_MC_REINFORCE, _MC_AC, _MC_BARFI, _no_neumann(_MC_BARFI))
_MC_VEL = _family(_MC_VEL_REINFORCE, _MC_VEL_AC, _MC_VEL_BARFI, _no_neumann(_MC_VEL_BARFI))
_CP = _family(_CP_REINFORCE, _CP_AC, _CP_BARFI, _CP_FIRST_ORDER)
_HC = _family(_HC_REINFORCE, _HC_AC, _HC_BARFI, _HC_FIRST_ORDER)

REFERENCE_CONFIG_0 = {
    ("gridworld", "none"): _GW, ("gridworld", "distance"): _GW,
    ("gridworld", "distance-as-published"): _GW, ("gridworld", "center-bonus"): _GW_BAD,
    ("mountaincar", "bang-bang"): _MC, ("mountaincar", "velocity"): _MC_VEL,
    ("mountaincar", "none"): _MC,
    ("cartpole", "pd-agree"): _CP, ("cartpole", "pd-disagree"): _CP,
    ("cartpole", "pd-disagree-noisy"): _CP, ("cartpole", "none"): _CP,
    ("halfcheetah", "ctrl"): _HC, ("halfcheetah", "ctrl-x4"): _HC, ("halfcheetah", "none"): _HC,
}

CELLS = [(env, aux, method) for env, auxes in AUX_REWARDS.items() for aux in auxes
         for method in METHODS]


def test_table_covers_every_env_and_aux():
    assert {(env, aux) for env, aux, _ in CELLS} == set(REFERENCE_CONFIG_0)


@pytest.mark.parametrize("env,aux,method", CELLS)
def test_published_defaults_are_configuration_0(env, aux, method):
    expected = REFERENCE_CONFIG_0[(env, aux)][method]
    readable = set(valid_keys(method))
    assert set(expected) <= readable, f"table lists keys {method} does not read"
    hp = resolve_config(env, aux, method).hp
    got = {key: getattr(hp, key) for key in expected}
    assert got == pytest.approx(expected), f"{env}/{aux}/{method}"
    # published_defaults itself, as the CLI and the workflow read it
    defaults = published_defaults(env, method, aux)
    assert {k: defaults[k] for k in expected if k in defaults} == \
        pytest.approx({k: v for k, v in expected.items() if k in defaults})
    assert set(defaults) <= set(fields_of(METHODS[method].params)), "defaults the method ignores"
