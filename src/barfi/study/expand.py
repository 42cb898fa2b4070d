"""Validation and expansion of a workflow config: the JSON schema (types, ranges, defaults),
then every env x aux reward x method grid resolved point by point. Each check raises
`StudyError` where it finds the problem, naming the config key (`envs.gridworld.methods.barfi.
lambda_gamma`) and what is valid."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterator

from barfi.config import METHODS, ConfigError, aux_published_defaults, parse_seeds, resolve_config
from barfi.envs import ENVS
from barfi.study.naming import config_id
from barfi.study.points import Cell, GridPoint, Resources


class StudyError(ConfigError):
    """A bad study config: one line naming the config key (`where`) and what is valid."""

    def __init__(self, where: str, message: Any):
        self.where = where
        self.problem = " ".join(str(message).split())
        super().__init__(f"barfi config error at {where}: {self.problem}")


# ------------------------------------------------------------------------ the schema
def validate_schema(config: dict, schema: Path | str | dict) -> None:
    """Check `config` against the JSON schema and fill in its defaults (in place, as Snakemake's
    `validate` does). A oneOf/anyOf error is reported for the branch of the value's type."""
    import jsonschema
    import yaml

    if not isinstance(schema, dict):
        schema = yaml.safe_load(Path(schema).read_text())
    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, subschema):
        for name, sub in properties.items():
            if "default" in sub and isinstance(instance, dict):
                instance.setdefault(name, sub["default"])
        yield from check_properties(validator, properties, instance, subschema)

    validator = jsonschema.validators.extend(base, {"properties": properties_with_defaults})
    err = jsonschema.exceptions.best_match(validator(schema).iter_errors(config))
    if err is None:
        return
    while err.context:  # oneOf/anyOf: the error of the branch of the value's type
        fitting = [e for e in err.context if e.validator != "type"] or err.context
        err = jsonschema.exceptions.best_match(fitting)
    where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
    message = err.message if len(err.message) <= 200 else err.message[:200] + "..."
    raise StudyError(where, message)


# ------------------------------------------------------------------------ the grid
def _layer(base: dict, override: dict | None) -> dict:
    """`override`'s non-null keys over `base`."""
    return {**base, **{k: v for k, v in (override or {}).items() if v is not None}}


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    try:
        return tuple(parse_seeds(str(value)))
    except ConfigError as exc:
        raise StudyError(where, exc) from None


def _grid(grid: Any, where: str) -> Iterator[tuple[dict, str]]:
    """(hyperparameters, config location) of every point of one method's grid: a mapping
    (Cartesian product of its lists) or a list of mappings (the union of their products);
    None or {} = one point, no overrides."""
    if grid is None:
        yield {}, where
        return
    for i, part in enumerate(grid if isinstance(grid, list) else [grid]):
        at = f"{where}[{i}]" if isinstance(grid, list) else where
        values = []
        for key, vals in part.items():
            vals = vals if isinstance(vals, list) else [vals]
            if not vals:
                raise StudyError(f"{at}.{key}", "empty list of values: the grid is empty")
            values.append(vals)
        for combo in itertools.product(*values):
            yield dict(zip(part, combo)), at


def _resolve(env: str, aux: str, method: str, values: dict, where: dict[str, str], at: str):
    """resolve_config of one grid point; on an error, the key at fault is the first one that
    fails alone (`where` maps each key to its config location), else the grid point `at`."""
    try:
        return resolve_config(env, aux, method, values)
    except ConfigError as exc:
        error = exc
    for key in values:
        try:
            resolve_config(env, aux, method, {key: values[key]})
        except ConfigError as exc:
            raise StudyError(where[key], exc) from None
    raise StudyError(at, error) from None


class _Expansion:
    """The walk over one config; every StudyError is raised here, where it is found."""

    def __init__(self, config: dict):
        self.config = config
        self.split = config["selection"]["rule"] == "split"
        self.last = config["selection"]["last"]

    def cells(self) -> list[Cell]:
        envs = self.config.get("envs") or {}
        if not envs:
            raise StudyError("envs", "no env: the grid is empty")
        return [cell for env, spec in envs.items() for cell in self.env_cells(env, spec)]

    def env_cells(self, env: str, spec: dict) -> list[Cell]:
        at_env = f"envs.{env}"
        if env not in ENVS:
            raise StudyError(at_env, f"unknown env {env!r}; valid: {', '.join(sorted(ENVS))}")
        auxes = spec.get("aux") or []
        if not auxes:
            raise StudyError(f"{at_env}.aux", "no aux reward: the grid is empty")
        if len(set(auxes)) != len(auxes):
            raise StudyError(f"{at_env}.aux", f"an aux reward is listed twice: {auxes}")
        for aux in spec.get("per_aux") or {}:
            if aux not in auxes:
                raise StudyError(f"{at_env}.per_aux.{aux}",
                                 f"aux reward {aux!r} is not in {at_env}.aux")
        return [self.cell(env, aux, spec) for aux in auxes]

    def seeds(self, env: str, aux: str, spec: dict, extra: dict, key: str):
        levels = ((extra, f"envs.{env}.per_aux.{aux}"), (spec, f"envs.{env}"))
        where = next((f"{at}.seeds.{key}" for level, at in levels
                      if (level.get("seeds") or {}).get(key) is not None), f"seeds.{key}")
        value = _layer(_layer(self.config["seeds"], spec.get("seeds")), extra.get("seeds"))[key]
        return value, where

    def cell(self, env: str, aux: str, spec: dict) -> Cell:
        extra = (spec.get("per_aux") or {}).get(aux) or {}
        tuning = _seeds(*self.seeds(env, aux, spec, extra, "tuning"))
        evaluation: tuple[int, ...] = ()
        if self.split:
            value, at_eval = self.seeds(env, aux, spec, extra, "evaluation")
            evaluation = _seeds(value, at_eval)
            if set(tuning) & set(evaluation):
                raise StudyError(at_eval, "tuning and evaluation seeds overlap "
                                 f"({sorted(set(tuning) & set(evaluation))}); with selection.rule "
                                 "split they must be disjoint")
        block_size = self.seeds(env, aux, spec, extra, "block_size")[0] or ENVS[env].block_size
        resources = _layer(_layer(self.config["resources"], spec.get("resources")),
                           extra.get("resources"))
        points = {}
        for method, grid, at_m in self.methods(env, aux, spec, extra):
            points[method] = {p.config_id: p for p in self.method_points(
                env, aux, method, grid, at_m, spec, extra)}
        return Cell(env, aux, tuning, evaluation, block_size, Resources(**resources), points)

    def methods(self, env: str, aux: str, spec: dict, extra: dict):
        own = extra.get("methods") or {}
        methods = {**(spec.get("methods") or {}), **own}
        if not methods:
            raise StudyError(f"envs.{env}.methods", "no method: the grid is empty")
        for method, grid in methods.items():
            at_m = (f"envs.{env}.per_aux.{aux}.methods.{method}" if method in own
                    else f"envs.{env}.methods.{method}")
            if method not in METHODS:
                raise StudyError(at_m, f"unknown method {method!r}; valid: {', '.join(METHODS)}")
            yield method, grid, at_m

    def method_points(self, env, aux, method, grid, at_m, spec, extra) -> Iterator[GridPoint]:
        at_env = f"envs.{env}"
        try:
            resolve_config(env, aux, method, {})
        except ConfigError as exc:   # the env and the method are known: the aux reward is not
            raise StudyError(f"{at_env}.aux", exc) from None
        fixed = {k: f"{at_env}.fixed.{k}" for k in spec.get("fixed") or {}}
        fixed.update({k: f"{at_env}.per_aux.{aux}.fixed.{k}" for k in extra.get("fixed") or {}})
        fixed_values = {**(spec.get("fixed") or {}), **(extra.get("fixed") or {})}
        # Published defaults that depend on the aux reward are written out as overrides: a
        # config id then names the same hyperparameters for every aux reward of a method (the
        # aggregate keeps one set of hyperparameters per method and config id).
        of_aux = aux_published_defaults(env, method, aux)
        where_aux = {k: f"{at_env}.aux ({aux}: published {k})" for k in of_aux}
        for values, at in _grid(grid, at_m):
            where = {**where_aux, **fixed, **{k: f"{at}.{k}" for k in values}}
            run = _resolve(env, aux, method, {**of_aux, **fixed_values, **values}, where, at)
            if run.hp.episodes < self.last:
                raise StudyError("selection.last", f"last={self.last} exceeds the budget of "
                                 f"{env}/{aux}/{method} (episodes={run.hp.episodes})")
            yield GridPoint(env, aux, method, config_id(run.overrides), run)


def expand(config: dict) -> list[Cell]:
    """The cells of a schema-checked config (defaults filled in)."""
    return _Expansion(config).cells()
