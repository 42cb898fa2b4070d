"""Record a reference MountainCar run (configuration 0) step by step: REINFORCE or actor-critic,
bang-bang or velocity aux.

Runs the authors' own classes (Dhawgupta/gupta2023behavior, barfi-mc) with the seeding and call
order of their src/main.py and Solver (numpy and torch seeded with the seed, the environment
built and reset once, the agent built, then per episode: env reset, agent reset, per step:
action, env step, agent update), and pickles each episode's states and actions. Run it with the
reference's Python from inside its barfi-mc folder:

    cd /path/to/gupta2023behavior/barfi-mc
    WANDB_MODE=disabled /path/to/refvenv/bin/python \
        /path/to/barfi/benchmarks/reference/trace_reference_mountaincar.py SEED EPISODES OUT.pkl \
        [AUX [METHOD]]

AUX is bang-bang (default) or velocity; METHOD is reinforce (default) or actor-critic.

then compare with replay_mountaincar.py --dump (compare_traces.py).
"""

import os
import pickle
import sys
import types

sys.path.insert(0, os.getcwd())

import numpy as np  # noqa: E402
import torch  # noqa: E402
from src.algorithms.ActorCritic import ActorCritic  # noqa: E402
from src.algorithms.REINFORCE import REINFORCE  # noqa: E402
from src.environments.MCSenseSparseBangAux import MCSenseSparseBangAux  # noqa: E402
from src.environments.MountainCarSparseVelAux import MountainCarSparseVelAux  # noqa: E402

# Configuration 0 of each sweep (barfi-mc/experiments/PaperPlots*/{reinforce,actorcritic}.json)
# that the agent reads; the env's constructor argument is the sweep's env_param.
ENVS = {"bang-bang": MCSenseSparseBangAux, "velocity": MountainCarSparseVelAux}
AGENTS = {
    ("bang-bang", "reinforce"): (REINFORCE, dict(actor_lr=0.0625, actor_reg=0.25)),
    ("velocity", "actor-critic"): (ActorCritic, dict(actor_lr=0.015625, critic_lr=0.03125,
                                                     actor_reg=0.0)),
}


def main() -> None:
    seed, episodes, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    aux = sys.argv[4] if len(sys.argv) > 4 else "bang-bang"
    method = sys.argv[5] if len(sys.argv) > 5 else "reinforce"
    if (aux, method) not in AGENTS:
        sys.exit(f"AUX {aux} METHOD {method}: not traced; valid pairs: "
                 + ", ".join(f"{a} {m}" for a, m in AGENTS))
    agent_class, rates = AGENTS[(aux, method)]
    # Seeded after the imports, as src/config.py does.
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    env = ENVS[aux](1)                             # the sweep's env_param
    config = types.SimpleNamespace(
        env=env, basis="tilecoding", raw_basis=False, tiles=4, tilings=5,
        device=torch.device("cpu"), optim=torch.optim.RMSprop, state_lr=0.0,
        cont_actions=False, buffer_size=10000, restore=False, debug=True, delta=3, gamma=0.99,
        **rates)
    env.reset()                                    # the solver's reset before training
    agent = agent_class(config)
    trace = []
    for _ in range(episodes):
        state, done, states, actions = env.reset(), False, [], []
        agent.reset()
        while not done:
            action, dist = agent.get_action(state)
            states.append(np.array(state, dtype=np.float64))
            actions.append(int(action))
            next_state, reward, aux_reward, done, _ = env.step(action=action)
            agent.update(state, action, dist, reward, aux_reward, next_state, done)
            state = next_state
        trace.append(dict(S=np.array(states), A=np.array(actions)))
    with open(out, "wb") as fh:
        pickle.dump(trace, fh)


if __name__ == "__main__":
    main()
