"""Record a reference GridWorld REINFORCE or actor-critic run (no aux reward, configuration 0)
step by step.

Runs the authors' own classes (Dhawgupta/gupta2023behavior, barfi-gw) with the seeding and call
order of their src/main.py, Config and Solver: numpy and torch seeded with the seed, the
environment built (its constructor resets it) and reset once more by the solver, the agent
built (torch draws the basis's dummy parameter, then the policy's weights, then the critic's
for actor-critic), then per episode:
env reset, agent reset, per step: action, env step, agent update. Pickles each episode's
states, actions, primary rewards and whether it ended at the goal. Run it with the reference's
Python from inside its barfi-gw folder:

    cd /path/to/gupta2023behavior/barfi-gw
    WANDB_MODE=disabled /path/to/refvenv/bin/python \
        /path/to/barfi/benchmarks/reference/trace_reference_gridworld.py SEED EPISODES OUT.pkl \
        [reinforce|actor-critic]

then compare with replay_gridworld.py --noop-last --dump (compare_traces.py).
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
from src.environments.Maze_noreward import Maze_noreward  # noqa: E402


def main() -> None:
    seed, episodes, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    method = sys.argv[4] if len(sys.argv) > 4 else "reinforce"
    agent_class = {"reinforce": REINFORCE, "actor-critic": ActorCritic}[method]
    # Seeded after the imports, as src/config.py does.
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    env = Maze_noreward(debug=True)
    config = types.SimpleNamespace(
        env=env, raw_basis=False, device=torch.device("cpu"), optim=torch.optim.RMSprop,
        state_lr=0.001, actor_lr=0.005, cont_actions=False, buffer_size=15, restore=False,
        debug=True, delta=3, gamma=0.99, actor_reg=0.25, critic_lr=0.005)
    env.reset()                                    # the solver's reset before training
    agent = agent_class(config)
    trace = []
    for _ in range(episodes):
        state, done, states, actions, rewards = env.reset(), False, [], [], []
        agent.reset()
        while not done:
            action, dist = agent.get_action(state)
            states.append(np.array(state, dtype=np.float64))
            actions.append(int(action))
            next_state, reward, aux_reward, done, _ = env.step(action=action)
            rewards.append(reward)
            agent.update(state, action, dist, reward, aux_reward, next_state, done)
            state = next_state
        trace.append(dict(S=np.array(states), A=np.array(actions), R=np.array(rewards),
                          goal=bool(env.in_region(env.curr_pos, env.G1))))
    with open(out, "wb") as fh:
        pickle.dump(trace, fh)


if __name__ == "__main__":
    main()
