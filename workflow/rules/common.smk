# Helper Python of the workflow: the config is validated here and the grid expanded, before any
# rule is defined, so that a bad config stops the workflow before any job with one line naming
# the key. No rules in this file.
#
# Grid point = (env, aux, method, config_id); config_id = the first 8 hex digits of the SHA-256
# of the point's normalised hyperparameter overrides (env `fixed` keys + the method's grid
# values), so the id names exactly the overrides and nothing else. Run files:
#     data/runs/{env}/{aux}/{method}/{config_id}/seed-{seed}.nc
# Human-readable tables: data/configs.tsv (id -> overrides), data/grid.tsv (every grid point).

import hashlib
import itertools
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import update_config, validate

import barfi
from barfi.config import METHODS, ConfigError, parse_seeds, resolve_config


RUN_DIR = "data/runs"
# The package the jobs run (the checkout's src/barfi with the usual editable install).
PKG_DIR = Path(barfi.__file__).resolve().parent
# The interpreter of every job, "$BARFI_PYTHON" in the shell commands: the one running this
# workflow (whose environment has barfi, as the import above proves), by full path, so jobs need
# no activated venv and nothing on PATH; on SLURM the job's Snakemake runs under the same path
# and sets it again. With --sdm conda, the job environment's python. (An environment variable,
# not a param: a param would rerun every job on a machine whose venv lives elsewhere.)
os.environ.update(BARFI_PYTHON=(
    "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else sys.executable))


def config_error(where, message):
    """Stop the workflow (before any job) with one line naming the config key."""
    message = " ".join(str(message).split())
    sys.exit(f"barfi config error at {where}: {message}")


def reparse_config_args(config):
    """Snakemake reads a nested `--config` value (`selection={last: 200}`) with YAML's
    BaseLoader, which makes every scalar in it a string ('200' is not of type 'integer'). Apply
    each `--config key=value` again, its value read as ordinary YAML."""
    for entry in workflow.config_settings.config_args or ():
        key, sep, raw = entry.partition("=")
        if sep and raw:
            try:
                value = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                config_error(key, f"--config value {raw!r} is not YAML ({exc.problem})")
            update_config(config, {key: value})


def validate_config(config):
    try:
        validate(config, "../schemas/config.schema.yaml")
    except (WorkflowError, jsonschema.ValidationError) as exc:
        err = exc
        if isinstance(exc, WorkflowError):
            err = exc.__context__ or exc.__cause__
            if not isinstance(err, jsonschema.ValidationError):
                err = next((a for a in exc.args if isinstance(a, jsonschema.ValidationError)), None)
            if err is None:
                raise
        while err.context:  # oneOf/anyOf: the error of the branch of the value's type
            fitting = [e for e in err.context if e.validator != "type"] or err.context
            err = jsonschema.exceptions.best_match(fitting)
        where = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        msg = err.message if len(err.message) <= 200 else err.message[:200] + "..."
        config_error(where, msg)


def source_hash(root, exclude=()):
    """SHA-256 (16 hex digits) of the Python files under `root` (paths and contents), skipping
    the subfolders named in `exclude`. A train job's params carry it, so a code change reruns
    exactly the jobs whose code changed (Snakemake ignores package code otherwise)."""
    h = hashlib.sha256()
    root = Path(root)
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts and rel.parts[0] in exclude:
            continue
        h.update(rel.as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


# Training code = the package minus the analysis library; the analysis library separately.
TRAIN_SOURCE = source_hash(PKG_DIR, exclude=("analysis",))
ANALYSIS_SOURCE = "{}-{}".format(
    source_hash(PKG_DIR / "analysis"),
    source_hash(PKG_DIR, exclude=("analysis", "envs", "learners", "hypergrad")),
)


def _seeds(value, where):
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    try:
        return parse_seeds(str(value))
    except ConfigError as exc:
        config_error(where, exc)


def _layer(base, override):
    """`override`'s non-null keys over `base`."""
    out = dict(base)
    out.update({k: v for k, v in (override or {}).items() if v is not None})
    return out


def _grid_points(grid, where):
    """(hyperparameters, config location) of every point of one method's grid: a mapping
    (Cartesian product of its lists) or a list of mappings (the union of their products);
    None or {} = one point, no overrides."""
    if grid is None:
        return [({}, where)]
    parts = grid if isinstance(grid, list) else [grid]
    points = []
    for i, part in enumerate(parts):
        at = f"{where}[{i}]" if isinstance(grid, list) else where
        keys = list(part)
        values = []
        for key in keys:
            vals = part[key] if isinstance(part[key], list) else [part[key]]
            if not vals:
                config_error(f"{at}.{key}", "empty list of values: the grid is empty")
            values.append(vals)
        points.extend((dict(zip(keys, combo)), at) for combo in itertools.product(*values))
    return points


def _error_key(exc, point, at_env, at, at_m):
    """The config key a ConfigError of resolve_config is about."""
    text = str(exc)
    if text.startswith("unknown env"):
        return at_env
    if text.startswith("unknown aux"):
        return f"{at_env}.aux"
    m = re.search(r"hyperparameter '?([A-Za-z0-9_]+)'?", text)
    if m:
        key = m.group(1)
        return f"{at_m}.{key}" if key in point else f"{at}.fixed.{key}"
    return at_m


def config_id(overrides):
    text = json.dumps(sorted(overrides.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def set_args(overrides):
    """`--set key=value` arguments for `barfi train` (values exactly as resolved)."""
    return " ".join(f"--set {k}={v!r}" if isinstance(v, str) else f"--set {k}={v}"
                    for k, v in sorted(overrides.items()))


@dataclass
class Cell:
    """One env x aux reward: its seeds, resources, and methods with their configurations."""
    env: str
    aux: str
    tuning: list
    evaluation: list
    block_size: int
    resources: dict
    configs: dict = field(default_factory=dict)  # method -> {config_id: overrides}

    def blocks(self, seeds):
        n = self.block_size
        return [tuple(seeds[i:i + n]) for i in range(0, len(seeds), n)]


def expand_grid(config):
    """Validate every grid point with barfi.config.resolve_config and return the cells."""
    envs = config.get("envs") or {}
    if not envs:
        config_error("envs", "no env: the grid is empty")
    top_seeds = config["seeds"]
    last = config["selection"]["last"]
    split = config["selection"]["rule"] == "split"
    cells = []
    for env, spec in envs.items():
        at_env = f"envs.{env}"
        auxes = spec.get("aux") or []
        if not auxes:
            config_error(f"{at_env}.aux", "no aux reward: the grid is empty")
        if len(set(auxes)) != len(auxes):
            config_error(f"{at_env}.aux", f"an aux reward is listed twice: {auxes}")
        for aux in spec.get("per_aux") or {}:
            if aux not in auxes:
                config_error(f"{at_env}.per_aux.{aux}", f"aux reward {aux!r} is not in {at_env}.aux")
        for aux in auxes:
            extra = (spec.get("per_aux") or {}).get(aux) or {}
            at = f"{at_env}.per_aux.{aux}" if extra else at_env
            seeds = _layer(_layer(top_seeds, spec.get("seeds")), extra.get("seeds"))

            def seeds_at(key):  # the level that set seeds.<key>
                for level, where in ((extra, f"{at_env}.per_aux.{aux}"), (spec, at_env)):
                    if (level.get("seeds") or {}).get(key) is not None:
                        return f"{where}.seeds.{key}"
                return f"seeds.{key}"

            tuning = _seeds(seeds["tuning"], seeds_at("tuning"))
            evaluation = _seeds(seeds["evaluation"], seeds_at("evaluation")) if split else []
            if set(tuning) & set(evaluation):
                config_error(seeds_at("evaluation"), "tuning and evaluation seeds overlap "
                             f"({sorted(set(tuning) & set(evaluation))}); with selection.rule "
                             "split they must be disjoint")
            resources = _layer(_layer(config["resources"], spec.get("resources")),
                               extra.get("resources"))
            cell = Cell(env, aux, tuning, evaluation, seeds["block_size"], resources)
            fixed = {**(spec.get("fixed") or {}), **(extra.get("fixed") or {})}
            methods = {**(spec.get("methods") or {}), **(extra.get("methods") or {})}
            if not methods:
                config_error(f"{at_env}.methods", "no method: the grid is empty")
            for method, grid in methods.items():
                at_m = (f"{at_env}.per_aux.{aux}.methods.{method}"
                        if method in (extra.get("methods") or {}) else f"{at_env}.methods.{method}")
                if method not in METHODS:
                    config_error(at_m, f"unknown method {method!r}; valid: {', '.join(METHODS)}")
                configs = {}
                for point, at_point in _grid_points(grid, at_m):
                    raw = {**fixed, **point}
                    try:
                        run = resolve_config(env, aux, method, raw)
                    except ConfigError as exc:
                        config_error(_error_key(exc, point, at_env, at, at_point), exc)
                    overrides = dict(run.overrides)
                    if run.hp.episodes < last:
                        config_error("selection.last", f"last={last} exceeds the budget of "
                                     f"{env}/{aux}/{method} (episodes={run.hp.episodes})")
                    configs[config_id(overrides)] = overrides
                cell.configs[method] = configs
            cells.append(cell)
    return cells


def run_path(env, aux, method, cid, seed):
    return f"{RUN_DIR}/{env}/{aux}/{method}/{cid}/seed-{seed}.nc"


def block_label(block):
    """seeds-1-10 for a contiguous block, seeds-1_3_5 otherwise."""
    if list(block) == list(range(block[0], block[-1] + 1)):
        return f"seeds-{block[0]}-{block[-1]}"
    return "seeds-" + "_".join(str(s) for s in block)


def train_rule_name(env, block):
    """train_<env>_seeds_<first>_<last> (contiguous block) or train_<env>_seedlist_<s1>_<s2>..."""
    env = re.sub(r"\W", "_", env)
    if list(block) == list(range(block[0], block[-1] + 1)):
        return f"train_{env}_seeds_{block[0]}_{block[-1]}"
    return f"train_{env}_seedlist_" + "_".join(str(s) for s in block)


def seed_arg(block):
    return block_label(block)[len("seeds-"):].replace("_", ",")


def train_rule_groups(cells):
    """(env, block) -> aux rewards whose seeds contain that block: one training rule each.
    Within an env x aux the blocks partition the seeds, so no two rules make the same file."""
    groups = {}
    for cell in cells:
        for block in cell.blocks(cell.tuning) + cell.blocks(cell.evaluation):
            groups.setdefault((cell.env, block), []).append(cell.aux)
    return groups


def alternation(names):
    return "|".join(sorted(re.escape(n) for n in set(names)))


def cell_of(w):
    return CELL[(w.env, w.aux)]


def overrides_of(w):
    try:
        return cell_of(w).configs[w.method][w.config_id]
    except KeyError:
        raise WorkflowError(f"{w.env}/{w.aux}/{w.method}/{w.config_id} is not a grid point of "
                            "this config (see data/configs.tsv)") from None


def gpu_model_resource(env, auxes):
    """{'gpu_model': ...} where an aux reward of the rule asks for a GPU model, else {}."""
    models = {CELL[(env, a)].resources["gpu_model"] for a in auxes}
    if models == {""}:
        return {}
    return {"gpu_model": lambda w: CELL[(w.env, w.aux)].resources["gpu_model"]}


def tuning_runs(env):
    return [run_path(c.env, c.aux, m, cid, s)
            for c in CELLS if c.env == env
            for m, configs in c.configs.items() for cid in configs for s in c.tuning]


def seed_ranges(seeds):
    """[1, 2, 3, 7] -> '1-3,7' (the syntax of `barfi train --seeds`)."""
    seeds, parts, i = sorted(seeds), [], 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if i == j else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ",".join(parts)


def seeds_arg(env, which):
    """The env's tuning or evaluation seeds (the union over its aux rewards)."""
    return seed_ranges({s for c in CELLS if c.env == env for s in getattr(c, which)})


def chosen_configs(selection_file):
    """{(aux, method): config_id} chosen in a selection file of barfi.analysis."""
    from barfi.analysis.selection import open_selection

    with open_selection(selection_file) as sel:
        best = sel["best_config"].transpose("aux", "method").values
        return {(str(a), str(m)): str(best[i, j])
                for i, a in enumerate(sel["aux"].values)
                for j, m in enumerate(sel["method"].values) if str(best[i, j])}


def final_runs(w):
    """Run files of the env's final aggregate: every configuration on the tuning seeds, and
    (rule split) the chosen configuration of each aux x method on the evaluation seeds."""
    runs = tuning_runs(w.env)
    if SPLIT:
        selection = checkpoints.select_tuning.get(env=w.env).output[0]
        for (aux, method), cid in sorted(chosen_configs(selection).items()):
            cell = CELL[(w.env, aux)]
            runs += [run_path(w.env, aux, method, cid, s) for s in cell.evaluation]
    return runs


def config_table_rows(cells):
    """data/configs.tsv (every cell) or data/configs/{env}.tsv (one env's cells): one row per
    config id, one column per hyperparameter it overrides (empty = the published default). An
    id hashes its overrides only, so it means the same overrides in every env, aux reward and
    method (`aggregate --config-table` checks the runs)."""
    table = {}
    for c in cells:
        for configs in c.configs.values():
            table.update(configs)
    keys = sorted({k for overrides in table.values() for k in overrides})
    rows = [["config_id", *keys]]
    for cid in sorted(table):
        rows.append([cid, *[str(table[cid][k]) if k in table[cid] else "" for k in keys]])
    return rows


def grid_table_rows():
    """data/grid.tsv: every grid point (env, aux, method, config id) with its seeds and the
    overrides it passes to `barfi train`."""
    rows = [["env", "aux", "method", "config_id", "tuning_seeds", "evaluation_seeds",
             "overrides"]]
    for c in CELLS:
        for method, configs in c.configs.items():
            for cid, overrides in configs.items():
                rows.append([c.env, c.aux, method, cid, seed_ranges(c.tuning),
                             seed_ranges(c.evaluation) if c.evaluation else "",
                             set_args(overrides).replace("--set ", "")])
    return rows


def rows_digest(*tables):
    """A short hash of table rows or config values: the param of a rule that writes them (a
    change of one value reruns the rule without printing the whole table as its param). Keys
    are sorted, so a config re-ordered by a YAML round trip hashes the same."""
    text = json.dumps(tables, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def env_config_rows(env):
    return config_table_rows([c for c in CELLS if c.env == env])


def write_tsv(path, rows):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.writelines("\t".join(row) + "\n" for row in rows)
    os.replace(tmp, path)


def write_lines(path, lines):
    write_tsv(path, [[line] for line in lines])


reparse_config_args(config)
validate_config(config)
CELLS = expand_grid(config)
ENVS = list(dict.fromkeys(c.env for c in CELLS))
CELL = {(c.env, c.aux): c for c in CELLS}
SPLIT = config["selection"]["rule"] == "split"

