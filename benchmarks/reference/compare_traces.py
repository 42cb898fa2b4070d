"""First step at which two traces (reference, replay) choose different actions.

    python benchmarks/reference/compare_traces.py REFERENCE.pkl REPLAY.pkl

Works for any environment whose trace scripts pickle a list of episodes with states S and
actions A (and, for the replay, the probabilities and uniform PU of each step). Prints the
number of episodes that agree action for action, the largest state difference within them,
and, at the first difference, the replay's action probabilities and uniform there: a uniform
within ~1e-5 of a CDF boundary means the two parted by floating-point rounding, not by a
different rule.
"""

import pickle
import sys

import numpy as np


def main() -> None:
    with open(sys.argv[1], "rb") as fh:
        reference = pickle.load(fh)
    with open(sys.argv[2], "rb") as fh:
        replay = pickle.load(fh)
    state_gap = 0.0
    for episode, (ref, rep) in enumerate(zip(reference, replay)):
        n = min(len(ref["A"]), len(rep["A"]))
        differ = np.flatnonzero(ref["A"][:n] != rep["A"][:n])
        step = int(differ[0]) if len(differ) else n
        # States up to and including the first differing step's (they precede its action).
        seen = min(step + 1, n)
        state_gap = max(state_gap, float(np.abs(ref["S"][:seen] - rep["S"][:seen]).max()))
        if len(differ) or len(ref["A"]) != len(rep["A"]):
            print(f"identical for {episode} episodes; first difference: episode {episode}, "
                  f"step {step}; largest state difference before it {state_gap:.1e}")
            if len(differ):
                p, u = rep["PU"][step]
                cdf = np.cumsum(p)
                margin = float(np.min(np.abs(cdf[:-1] - u)))
                print(f"  replay probabilities {np.round(p, 7)}, uniform {u:.7f}, distance to "
                      f"the nearest CDF boundary {margin:.1e}; reference action "
                      f"{ref['A'][step]}, replay action {rep['A'][step]}")
            return
    print(f"identical for all {min(len(reference), len(replay))} episodes; largest state "
          f"difference {state_gap:.1e}")


if __name__ == "__main__":
    main()
