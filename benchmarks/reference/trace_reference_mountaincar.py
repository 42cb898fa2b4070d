"""Record a reference MountainCar REINFORCE run (bang-bang aux, configuration 0) step by step.

Runs the authors' own classes (Dhawgupta/gupta2023behavior, barfi-mc) with the seeding and call
order of their src/main.py and Solver (numpy and torch seeded with the seed, the environment
built and reset once, the agent built, then per episode: env reset, agent reset, per step:
action, env step, agent update), and pickles each episode's states and actions. Run it with the
reference's Python from inside its barfi-mc folder:

    cd /path/to/gupta2023behavior/barfi-mc
    WANDB_MODE=disabled /path/to/refvenv/bin/python \
        /path/to/barfi/benchmarks/reference/trace_reference_mountaincar.py SEED EPISODES OUT.pkl

then compare with replay_mountaincar.py --dump (compare_traces.py).
"""

import os
import pickle
import sys
import types

sys.path.insert(0, os.getcwd())

import numpy as np  # noqa: E402
import torch  # noqa: E402
from src.algorithms.REINFORCE import REINFORCE  # noqa: E402
from src.environments.MCSenseSparseBangAux import MCSenseSparseBangAux  # noqa: E402


def main() -> None:
    seed, episodes, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    # Seeded after the imports, as src/config.py does.
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    env = MCSenseSparseBangAux(1)                  # aux scale 1 (the sweep's env_param)
    config = types.SimpleNamespace(
        env=env, basis="tilecoding", raw_basis=False, tiles=4, tilings=5,
        device=torch.device("cpu"), optim=torch.optim.RMSprop, state_lr=0.0, actor_lr=0.0625,
        cont_actions=False, buffer_size=10000, restore=False, debug=True, delta=3, gamma=0.99,
        actor_reg=0.25)
    env.reset()                                    # the solver's reset before training
    agent = REINFORCE(config)
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
