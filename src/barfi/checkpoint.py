"""Checkpoint files of a training block, holding data only.

A checkpoint directory may sit on shared scratch, so loading one must never run code: states are
saved as tensors, plain Python types and numpy arrays turned into raw bytes, and read back with
`torch.load(weights_only=True)`, which refuses any pickled object. A file that cannot be read,
does not hold a state of this format, or belongs to another configuration is treated as absent:
the caller is warned and starts afresh.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from barfi.dataset import atomic_path

log = logging.getLogger("barfi.train")

FORMAT = "barfi-checkpoint-2"  # changes whenever the layout of a saved state does
_ARRAY, _SCALAR = "__ndarray__", "__npscalar__"


def encode(value: Any) -> Any:
    """A state made of tensors and plain types only (exactly invertible by `decode`)."""
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {_ARRAY: [encode(v) for v in value.ravel().tolist()], "dtype": "object",
                    "shape": list(value.shape)}
        return {_ARRAY: np.ascontiguousarray(value).tobytes(), "dtype": value.dtype.str,
                "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return {_SCALAR: value.tobytes(), "dtype": value.dtype.str}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(encode(v) for v in value)
    raise TypeError(f"a checkpoint holds tensors, arrays and plain types only, not "
                    f"{type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if _ARRAY in value:
            shape = tuple(value["shape"])
            if value["dtype"] == "object":
                out = np.empty(len(value[_ARRAY]), dtype=object)
                out[:] = [decode(v) for v in value[_ARRAY]]
                return out.reshape(shape)
            return np.frombuffer(value[_ARRAY], dtype=np.dtype(value["dtype"])).reshape(shape).copy()
        if _SCALAR in value:
            return np.frombuffer(value[_SCALAR], dtype=np.dtype(value["dtype"]))[0]
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(decode(v) for v in value)
    return value


@dataclass
class Checkpointer:
    """Periodic and on-signal checkpoints of one block in `directory` (never a declared output
    of the workflow, so incomplete-output cleanup cannot delete it). `identity` (the run's
    configuration and seeds, as text) is saved with every state and must match on load."""

    directory: Path
    every_s: float = 300.0
    identity: str = ""
    _last: float = field(default_factory=time.monotonic)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.pt"

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every_s

    def save(self, key: str, state: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = {"format": FORMAT, "identity": self.identity, "state": encode(state)}
        with atomic_path(self.path(key), keep_suffix=False) as tmp:
            torch.save(payload, tmp)
        self._last = time.monotonic()

    def load(self, key: str) -> dict[str, Any] | None:
        """The saved state, or None (with a warning) when there is none this run can use."""
        p = self.path(key)
        if not p.exists():
            return None
        try:
            payload = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated, not a torch file, or holding a pickled object
            return self._unusable(p, f"it cannot be read as data ({type(exc).__name__}: "
                                     f"{' '.join(str(exc).split())[:160]})")
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            return self._unusable(p, f"it is not a {FORMAT} file")
        if payload.get("identity") != self.identity:
            return self._unusable(p, "it belongs to another configuration or seed block")
        return decode(payload["state"])

    @staticmethod
    def _unusable(path: Path, why: str) -> None:
        log.warning("ignoring checkpoint %s: %s; starting afresh", path, why)
        return None

    def clear(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()
