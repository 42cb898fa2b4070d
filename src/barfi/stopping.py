"""Stop requests: SIGTERM, SIGUSR1 (SLURM's warning before a time limit) and SIGINT become a flag
that the training loop checks between episodes, then checkpoints and exits.

The CLI installs the flag handler first thing, before importing torch (about two seconds), so a
signal that arrives during start-up is not lost: training sees the flag at its first episode
boundary, checkpoints and exits as if it had arrived later.
"""

from __future__ import annotations

import contextlib
import signal

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)

requested: dict[str, int | None] = {"signal": None}
"""The last stop signal received (None if none); shared by every handler of this module."""


def _flag(signum, frame) -> None:
    requested["signal"] = signum


def install() -> None:
    """Flag stop signals from now on (only possible in the main thread; elsewhere a no-op)."""
    with contextlib.suppress(ValueError):
        for sig in STOP_SIGNALS:
            signal.signal(sig, _flag)


@contextlib.contextmanager
def stop_requests():
    """Within the block, stop signals set `requested["signal"]`; on exit the previous handlers
    come back. A signal flagged before the block (e.g. during start-up) is kept."""
    previous = {}
    with contextlib.suppress(ValueError):
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, _flag)
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
