"""Command line: `barfi train ...` runs one configuration on one seed or a block of seeds;
`barfi list` shows the valid envs, aux rewards, methods and hyperparameters.

Every input is checked before any compute: a bad name or value ends the command with one line
naming it and what is valid, exit status 2, and no file written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from barfi import stopping
from barfi.params import ConfigError, fields_of

# The registries (barfi.config, barfi.envs, barfi.learners) import torch: they are imported in
# the commands, after `stopping.install()`, so that a signal during start-up is not lost.
if TYPE_CHECKING:
    from barfi.config import RunConfig

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: the run stopped on a signal after checkpointing; rerun it


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="barfi", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train one configuration on one seed or a block of seeds")
    train.add_argument("--env", help="environment (see `barfi list`)")
    train.add_argument("--aux", help="auxiliary reward of the env")
    train.add_argument("--method", help="learning method")
    train.add_argument("--config", action="append", help="a grid point file of the workflow "
                       "(data/configs/ENV/AUX/METHOD/ID.json: env, aux, method, config_id, "
                       "overrides) instead of --env, --aux, --method and --set; its runs carry the "
                       "attribute config_id. Repeatable with --seeds and --runs-dir: the grid "
                       "points (of one env, aux and method, differing only in per-agent values) "
                       "x the seeds train as one block")
    seeds = train.add_mutually_exclusive_group(required=True)
    seeds.add_argument("--seed", help="one seed (non-negative integer); use with --out")
    seeds.add_argument("--seeds", help="a block of seeds run in lockstep, e.g. 1-40 or 1,3,5-7; "
                                       "use with --out-dir")
    train.add_argument("--out", help="run file (.nc) for --seed")
    train.add_argument("--out-dir", help="directory for --seeds: one file seed-<N>.nc per seed")
    train.add_argument("--runs-dir", help="directory for --config with --seeds: one file "
                                          "<config_id>/seed-<N>.nc per grid point and seed")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a hyperparameter (repeatable)")
    train.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    train.add_argument("--threads", type=int, default=1,
                       help="torch CPU threads (default 1: one core per run, as published)")
    train.add_argument("--checkpoint-dir", help="save checkpoints here (periodically and on "
                                                "SIGTERM/SIGUSR1/SIGINT) and resume from them")
    train.add_argument("--checkpoint-every", type=float, default=300.0,
                       help="seconds between periodic checkpoints (default 300)")
    progress = train.add_mutually_exclusive_group()
    progress.add_argument("--quiet", action="store_true", help="no progress line")
    progress.add_argument("--progress", action="store_true",
                          help="progress line even when stderr is not a terminal")

    show = sub.add_parser("list", help="valid envs, aux rewards (with what each rewards), "
                                       "methods and hyperparameters")
    show.add_argument("--env", help="only this env: its aux rewards and published defaults")
    show.add_argument("--method", help="the hyperparameters this method reads, with their "
                                       "defaults (the env's published values with --env)")
    show.add_argument("--aux", help="with --env and --method: the published values of this aux "
                                    "reward's sweep (default: the env's first aux reward)")

    cost = sub.add_parser("estimate", help="CPU-hours and wall time of a workflow config's "
                                           "training jobs, from a few timed episodes per job shape")
    cost.add_argument("--configfile", required=True, help="workflow config (config/*.yaml)")
    cost.add_argument("--cores", type=int, help="cores for the wall time (default: this machine's)")
    cost.add_argument("--episodes", type=int, default=20,
                      help="episodes timed per (env, method, block size) (default 20; >= 2)")
    cost.add_argument("--json", help="also write the estimate to this JSON file (atomically)")
    return parser


def _check_device(device: str) -> None:
    import torch

    if device == "cpu":
        return
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} is not available on this machine; valid: cpu")
        return
    raise ConfigError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N")


def _check_writable_dir(directory: Path, what: str) -> None:
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {str(directory)!r} is not a writable directory")


def _output_dir(value: str, option: str) -> Path:
    """The directory of `option` (--out-dir, --runs-dir): not a file, and writable (it may not
    exist yet)."""
    directory = Path(value)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{option} {value!r} is a file; valid: a directory")
    _check_writable_dir(directory, option)
    return directory


def _out_paths(args) -> tuple[list[int], list[Path]]:
    from barfi.config import parse_seeds

    if args.seed is not None:
        seeds = parse_seeds(args.seed)
        if len(seeds) != 1:
            raise ConfigError(f"--seed {args.seed!r} is not one seed; use --seeds for a block")
        if not args.out or args.out_dir:
            raise ConfigError("--seed needs --out PATH.nc (and no --out-dir)")
        out = Path(args.out)
        if out.suffix != ".nc":
            raise ConfigError(f"--out {args.out!r} must end in .nc")
        if out.is_dir():
            raise ConfigError(f"--out {args.out!r} is a directory; valid: a file path ending in .nc")
        _check_writable_dir(out.parent, "--out's directory")
        return seeds, [out]
    seeds = parse_seeds(args.seeds)
    if not args.out_dir or args.out:
        raise ConfigError("--seeds needs --out-dir DIR (and no --out)")
    out_dir = _output_dir(args.out_dir, "--out-dir")
    return seeds, [out_dir / f"seed-{s}.nc" for s in seeds]


def _run_config(args) -> tuple[RunConfig, dict[str, str]]:
    """The run configuration of --config FILE or of --env/--aux/--method/--set, and the extra
    attributes of its run files."""
    from barfi.config import parse_set_args, resolve_config

    named = [f"--{k}" for k in ("env", "aux", "method") if getattr(args, k) is not None]
    if args.config is not None:
        if named or args.overrides:
            raise ConfigError(f"--config names the grid point; valid without "
                              f"{', '.join(named + ['--set'] * bool(args.overrides))}")
        if len(args.config) > 1:
            raise ConfigError("several --config train as one block with --seeds and --runs-dir "
                              "(one file per grid point and seed), not with --seed or --out-dir")
        from barfi.study import read_grid_point   # the workflow's side: imported when used

        config, cid = read_grid_point(args.config[0])
        return config, {"config_id": cid}
    if len(named) < 3:
        raise ConfigError("--env, --aux and --method are required (or --config FILE)")
    return resolve_config(args.env, args.aux, args.method, parse_set_args(args.overrides)), {}


def _packed_run(args) -> tuple[list[RunConfig], list[int], list[Path], list[dict[str, str]]]:
    """The agents of --config A --config B ... --seeds S --runs-dir DIR: every grid point on
    every seed, in one block; configs, seeds, run files and the config_id of each."""
    from barfi.config import block_configs, parse_seeds
    from barfi.study import read_grid_point   # the workflow's side: imported when used

    named = [f"--{k.replace('_', '-')}" for k in ("env", "aux", "method", "seed", "out",
                                                   "out_dir") if getattr(args, k) is not None]
    named += ["--set"] * bool(args.overrides)
    if named:
        raise ConfigError("--runs-dir trains the --config files on --seeds; valid without "
                          + ", ".join(named))
    if args.config is None or args.seeds is None:
        raise ConfigError("--runs-dir needs --config (one or more) and --seeds")
    points = [read_grid_point(path) for path in args.config]
    ids = [cid for _, cid in points]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"--config names grid point {ids[0]!r} twice; each once")
    first = points[0][0]
    for path, (run, _) in zip(args.config, points):
        if (run.env, run.aux, run.method) != (first.env, first.aux, first.method):
            raise ConfigError(f"--config {path!r} is {run.env}/{run.aux}/{run.method}, the first "
                              f"{first.env}/{first.aux}/{first.method}; a block is one env, aux "
                              "and method")
    seeds = parse_seeds(args.seeds)
    configs = block_configs([run for run, _ in points for _ in seeds], len(points) * len(seeds))
    runs_dir = _output_dir(args.runs_dir, "--runs-dir")
    out_paths = [runs_dir / cid / f"seed-{s}.nc" for cid in ids for s in seeds]
    return (configs, list(seeds) * len(points), out_paths,
            [{"config_id": cid} for cid in ids for _ in seeds])


def _train(args) -> int:
    if args.runs_dir is not None:
        config, seeds, out_paths, attrs = _packed_run(args)
    else:
        config, attrs = _run_config(args)
        seeds, out_paths = _out_paths(args)
    _check_device(args.device)
    if args.threads < 1:
        raise ConfigError(f"--threads {args.threads} is out of range; valid: >= 1")
    if args.checkpoint_dir:
        _check_writable_dir(Path(args.checkpoint_dir), "--checkpoint-dir")
    if args.checkpoint_every <= 0:
        raise ConfigError(f"--checkpoint-every {args.checkpoint_every} is out of range; valid: > 0")

    import torch

    from barfi.train import Interrupted, run_block

    torch.set_num_threads(args.threads)
    for path in out_paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    progress = False if args.quiet else (True if args.progress else None)
    try:
        paths = run_block(config, seeds, out_paths, device=args.device,
                          checkpoint_dir=args.checkpoint_dir,
                          checkpoint_every_s=args.checkpoint_every, progress=progress,
                          extra_attrs=attrs)
    except Interrupted as exc:
        print(f"barfi: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    for path in paths:
        logging.getLogger("barfi").info("wrote %s", path)
    return 0


def _describe_env(env: str) -> None:
    from barfi.aux_rewards import AUX_REWARDS
    from barfi.config import published_defaults
    from barfi.envs import ENVS
    from barfi.learners import METHODS

    spec = ENVS[env]
    print(f"{env}: {spec.description}")
    print("  aux rewards:")
    for name, aux in AUX_REWARDS[env].items():
        print(f"    {name:24s} {aux.description}")
    for key, f in fields_of(spec.options).items():
        print(f"  option {key} (default {f.default!r}): {f.metadata['help']}")
    # The published values differ per method and, in some envs, per aux reward.
    by_values: dict[str, dict[str, list[str]]] = {}
    for method in METHODS:
        for aux in AUX_REWARDS[env]:
            values = published_defaults(env, method, aux)
            text = ", ".join(f"{k}={v!r}" for k, v in values.items())
            by_values.setdefault(text, {}).setdefault(method, []).append(aux)
    for text, methods in by_values.items():
        every_aux = all(len(auxes) == len(AUX_REWARDS[env]) for auxes in methods.values())
        which = "every method" if len(methods) == len(METHODS) else ", ".join(methods)
        if not every_aux:
            which += "; aux " + ", ".join(sorted({a for auxes in methods.values() for a in auxes}))
        print(f"  published defaults ({which}): {text or 'none'}")
    memory = ", ".join(f"{k} {v:g} MB" for k, v in spec.agent_mem_mb.items())
    print(f"  workflow jobs: up to {spec.block_size} agents each by default (seeds.block_size); "
          f"memory per agent {memory or 'not measured'}, plus BARFI's trajectory buffer")


def _describe_method(method: str, env: str | None, aux: str | None = None) -> None:
    """One line per hyperparameter the method reads (its parameter class, nothing else): the
    value a run would use and its help. Without an env, the generic default and, below it, each
    env's published value. With an env, also the env's options."""
    from barfi.aux_rewards import AUX_REWARDS
    from barfi.config import published_defaults, resolve_config
    from barfi.envs import ENVS
    from barfi.learners import METHODS

    fields = fields_of(METHODS[method].params)
    if env is not None:
        aux = aux or next(iter(AUX_REWARDS[env]))
        config = resolve_config(env, aux, method)
        published = published_defaults(env, method, aux)
        print(f"{method} on {env} with aux {aux} (published values marked *):")
        for key, f in fields.items():
            mark = "*" if key in published else " "
            print(f"  {key:18s} {getattr(config.hp, key)!r:12} {mark} {f.metadata['help']}")
        for key, f in fields_of(ENVS[env].options).items():
            print(f"  {key:18s} {getattr(config.env_options, key)!r:12}   "
                  f"(option of {env}) {f.metadata['help']}")
        return
    print(f"{method}: {METHODS[method].description} (generic defaults; published per env below "
          f"a key; `--env ENV` for one env's values and options):")
    for key, f in fields.items():
        print(f"  {key:18s} {f.default!r:12} {f.metadata['help']}")
        per_env = [f"{e} {published_defaults(e, method)[key]!r}" for e in ENVS
                   if key in published_defaults(e, method)]
        if per_env:
            print(f"  {'':18s} published: {', '.join(per_env)}")


def _list(args) -> int:
    from barfi.aux_rewards import AUX_REWARDS
    from barfi.envs import ENVS
    from barfi.learners import METHODS

    if args.env is not None and args.env not in ENVS:
        raise ConfigError(f"unknown env {args.env!r}; valid: {', '.join(ENVS)}")
    if args.method is not None and args.method not in METHODS:
        raise ConfigError(f"unknown method {args.method!r}; valid: {', '.join(METHODS)}")
    if args.aux is not None and (args.env is None or args.method is None):
        raise ConfigError("--aux needs --env and --method")
    if args.aux is not None and args.aux not in AUX_REWARDS[args.env]:
        raise ConfigError(f"unknown aux {args.aux!r} for env {args.env}; valid: "
                          + ", ".join(AUX_REWARDS[args.env]))
    if args.method:
        _describe_method(args.method, args.env, args.aux)
        return 0
    for env in [args.env] if args.env else ENVS:
        _describe_env(env)
    print(f"methods: {', '.join(METHODS)}")
    print("hyperparameters: `barfi list --method METHOD [--env ENV]`")
    return 0


def _estimate(args) -> int:
    from barfi.estimate import estimate, format_table

    summary = estimate(args.configfile, args.cores, args.episodes, args.json,
                       log=lambda line: print(line, file=sys.stderr))
    print(format_table(summary, args.configfile))
    return 0


def main(argv: list[str] | None = None) -> int:
    stopping.install()  # before the heavy imports: a signal during start-up is not lost
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        return {"train": _train, "list": _list, "estimate": _estimate}[args.command](args)
    except BrokenPipeError:  # `barfi list | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ConfigError as exc:
        print(f"barfi: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
