"""Parameter fields: the building block of every method's parameter class and every env's
option class, and the check that turns one raw value (a `--set` string or a YAML scalar) into a
field's type or one clear error.

A parameter class is a frozen dataclass whose fields are made with `param(...)`: a default, a
one-line help text (printed by `barfi list`), a valid range or set of choices. Fields carry a
docstring each, as every dataclass of the package.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field
from fractions import Fraction
from typing import Any


class ConfigError(ValueError):
    """Bad user input. The message is one line naming the bad key and what is valid."""


def param(default, help: str, *, min=None, max=None, choices=None, min_open=False,
          per_agent=False):
    """A parameter field: default, one-line help, and its valid range (or choices).

    per_agent=True marks a numeric value that changes neither shapes nor schedules (a learning
    rate, a loss weight): the agents of one block may each have their own (`barfi.train`);
    every other field is structural and must agree within a block."""
    return field(default=default, metadata={"help": help, "min": min, "max": max,
                                            "choices": choices, "min_open": min_open,
                                            "per_agent": per_agent})


def per_agent_keys(cls) -> list[str]:
    """The fields of a parameter class that may differ between the agents of one block."""
    return [f.name for f in dataclasses.fields(cls) if f.metadata.get("per_agent")]


def fields_of(cls) -> dict[str, dataclasses.Field]:
    """The fields of a parameter class by name, in definition order."""
    return {f.name: f for f in dataclasses.fields(cls)}


def _type_of(f: dataclasses.Field) -> type:
    if isinstance(f.type, type):
        return f.type
    return {"int": int, "float": float, "bool": bool, "str": str}[f.type]


def _parse(typ: type, raw: Any) -> Any:
    """raw -> typ, or ValueError/TypeError/ZeroDivisionError."""
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(raw, str) and raw.lower() in ("false", "no", "0", "off"):
            return False
        raise ValueError
    if typ is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError
        return int(raw) if not isinstance(raw, str) else int(raw.strip())
    if typ is float:
        if isinstance(raw, bool):
            raise ValueError
        # Fractions such as 1/64 are how the paper writes its learning rates.
        value = float(Fraction(raw.strip())) if isinstance(raw, str) else float(raw)
        if not math.isfinite(value):
            raise ValueError
        return value
    if not isinstance(raw, str):
        raise ValueError
    return raw


def coerce_value(f: dataclasses.Field, raw: Any, kind: str = "hyperparameter") -> Any:
    """Turn a raw value into field `f`'s type and check its range, or raise `ConfigError`
    ("{kind} {name}={raw} is not ..."). `kind` names what the field is in messages."""
    typ, meta = _type_of(f), f.metadata
    try:
        value = _parse(typ, raw)
    except (ValueError, ZeroDivisionError, TypeError):
        expected = {bool: "true or false", int: "an integer", float: "a number",
                    str: "a string"}[typ]
        if meta["choices"]:
            expected = "one of " + ", ".join(meta["choices"])
        raise ConfigError(f"{kind} {f.name}={raw!r} is not {expected}") from None
    if meta["choices"] and value not in meta["choices"]:
        raise ConfigError(f"{kind} {f.name}={value!r} is not valid; valid: "
                          + ", ".join(meta["choices"]))
    lo, hi = meta["min"], meta["max"]
    if lo is not None and (value < lo or (meta["min_open"] and value == lo)):
        bound = f"> {lo}" if meta["min_open"] else f">= {lo}"
        raise ConfigError(f"{kind} {f.name}={value!r} is out of range; valid: {bound}")
    if hi is not None and value > hi:
        raise ConfigError(f"{kind} {f.name}={value!r} is out of range; valid: <= {hi}")
    return value


def to_attrs(instance) -> dict[str, Any]:
    """A parameter instance as NetCDF-safe values (bools as 0/1)."""
    return {k: int(v) if isinstance(v, bool) else v
            for k, v in dataclasses.asdict(instance).items()}


__all__ = ["ConfigError", "coerce_value", "fields_of", "param", "per_agent_keys", "to_attrs"]
