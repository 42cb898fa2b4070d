"""barfi.study: a workflow config validated and expanded into grid points, without Snakemake.

The bad-config table is here as fast unit tests; tests/test_pipeline.py keeps a few of the cases
end to end (the same one-line error from `snakemake`, before any job)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from barfi.config import ConfigError, resolve_config
from barfi.config import structural_key
from barfi.envs import ENVS
from barfi.study import (Study, StudyError, agent_cap, agent_memory_mb, alternation, block_label,
                         config_id, digest, pack_rule_name, parse_run_path, read_grid_point,
                         run_path, seed_ranges, train_rule_name, write_tsv)
from barfi.study.packs import PROCESS_MB

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
GW = "envs.gridworld"
# The config ids of config/ci.yaml's grid points (the directories of its run files).
CI_IDS = {"reinforce": {"8acabae8", "21c5ea45"}, "actor-critic": {"7db69322"},
          "barfi": {"880fb375", "9c6109c1"}}


def ci_config() -> dict:
    return yaml.safe_load((REPO / "config" / "ci.yaml").read_text())


def study(config: dict) -> Study:
    return Study.from_config(config, SCHEMA)


def _with(base: dict, path: str, value) -> dict:
    """A deep copy of `base` with the dotted key `path` set (None deletes it); a number
    indexes a list."""
    cfg = json.loads(json.dumps(base))
    node, keys = cfg, path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(keys[-1])] = value
    elif value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return cfg


# ---------------------------------------------------------------------------- the grid
def test_ci_grid_points_ids_and_seeds():
    s = study(ci_config())
    assert s.envs == ["gridworld"] and s.split and s.last == 10
    assert [c.aux for c in s.cells] == ["none", "center-bonus"]
    for cell in s.cells:
        assert cell.tuning == (1, 2) and cell.evaluation == (3, 4)
        assert {m: set(ids) for m, ids in cell.points.items()} == CI_IDS
        assert cell.resources.runtime == 10 and cell.resources.gpu == 0
    point = s.point("gridworld", "none", "barfi", "9c6109c1")
    assert point.overrides == {"episodes": 30, "first_mul": 3, "lambda_gamma": 1.0}
    assert point.run == resolve_config("gridworld", "none", "barfi", point.overrides)
    assert s.seeds("gridworld", "tuning") == "1-2" and s.seeds("gridworld", "evaluation") == "3-4"
    assert len(s.tuning_runs("gridworld")) == 2 * 5 * 2
    assert s.tuning_runs("gridworld")[0] == "data/runs/gridworld/none/reinforce/8acabae8/seed-1.nc"
    assert s.evaluation_runs("gridworld", {("none", "barfi"): "9c6109c1"}) == [
        "data/runs/gridworld/none/barfi/9c6109c1/seed-3.nc",
        "data/runs/gridworld/none/barfi/9c6109c1/seed-4.nc"]
    with pytest.raises(KeyError, match="not a grid point"):
        s.point("gridworld", "none", "barfi", "00000000")


def test_schema_defaults_are_filled_in():
    config = {"envs": {"gridworld": {"aux": ["none"], "methods": {"reinforce": None}}}}
    s = study(config)
    assert config["selection"] == {"rule": "split", "last": 200}
    assert config["seeds"]["block_size"] is None and config["resources"]["gpu_model"] == ""
    assert s.cells[0].block_size == ENVS["gridworld"].block_size   # the env's measured default
    cell = s.cells[0]
    assert cell.tuning == (1, 2, 3) and cell.evaluation == (101, 102, 103)
    assert list(cell.points["reinforce"]) == [config_id({})]


def test_config_id_names_the_resolved_overrides():
    assert config_id({"a": 1, "b": 0.5}) == config_id([("b", 0.5), ("a", 1)])
    assert config_id({"a": 1}) != config_id({"a": 2})
    # Values are resolved before hashing: "1/64" and 0.015625 are one configuration.
    cfg = ci_config()
    cfg["envs"]["gridworld"]["methods"] = {"reinforce": {"actor_lr": ["1/64", 0.015625]}}
    assert len(study(cfg).cells[0].points["reinforce"]) == 1


def test_list_grid_is_a_union_and_per_aux_overrides_layer():
    cfg = ci_config()
    env = cfg["envs"]["gridworld"]
    env["methods"] = {"barfi": [{"lambda_gamma": [0, 1]}, {"gamma_lr": 0.0}]}
    env["per_aux"] = {"center-bonus": {"fixed": {"episodes": 40}, "seeds": {"block_size": 1},
                                       "resources": {"mem_mb": 9}}}
    s = study(cfg)
    none, bonus = s.cells
    assert len(none.points["barfi"]) == 3
    assert {p.run.hp.episodes for p in bonus.all_points()} == {40}
    assert none.resources.mem_mb == 1000 and bonus.resources.mem_mb == 9
    assert s.evaluation_rule_groups() == {("gridworld", (3, 4)): ["none"],
                                          ("gridworld", (3,)): ["center-bonus"],
                                          ("gridworld", (4,)): ["center-bonus"]}
    # block_size 1: one agent per job on the centre bonus; 4 (ci.yaml) packs the other aux's
    # three barfi configurations x 2 seeds into blocks of at most 4 agents.
    assert all(len(pk.agents) == 1 for pk in bonus.tuning_packs())
    assert sorted(len(pk.agents) for pk in none.tuning_packs()) == [2, 4]


def test_selection_single_has_no_evaluation_seeds():
    s = study(_with(ci_config(), "selection.rule", "single"))
    assert not s.split and all(c.evaluation == () for c in s.cells)
    assert s.pending_evaluation_blocks({"gridworld"}) == []
    assert s.evaluation_rule_groups() == {}


def test_pending_evaluation_blocks():
    blocks = study(ci_config()).pending_evaluation_blocks({"gridworld"})
    assert len(blocks) == 2 * 3 and all(n == 2 for _, n in blocks)


# ---------------------------------------------------------------------------- packs
def _packed(s: Study) -> list[tuple[str, int]]:
    """(aux, config id, seed) of every agent of every pack."""
    return sorted((pk.aux, p.config_id, seed) for pk in s.tuning_packs() for p, seed in pk.agents)


def test_packs_cover_every_tuning_run_once_and_agree_in_structure():
    cfg = ci_config()
    cfg["envs"]["gridworld"]["methods"] = {
        "reinforce": {"actor_lr": [1.0e-3, 2.0e-3, 3.0e-3], "delta": [1, 3]},
        "barfi": {"lambda_gamma": [0, 1, 2], "gamma_lr": [0.0, 1.0e-3]}}
    cfg["seeds"] = {"tuning": "1-3", "evaluation": "4-5", "block_size": 7}
    s = study(cfg)
    expected = sorted((p.aux, p.config_id, seed) for p in s.points() for seed in (1, 2, 3))
    assert _packed(s) == expected                   # every tuning run, once
    assert {Path(o).as_posix() for pk in s.tuning_packs() for o in pk.outputs} == set(
        s.tuning_runs("gridworld"))
    for pk in s.tuning_packs():
        assert len(pk.agents) <= 7
        assert len({structural_key(p.run) for p, _ in pk.agents}) == 1
        # a configuration's seeds stay together while they fit in one block
        assert all(pk.seeds == (1, 2, 3) for pk in s.tuning_packs())
    # delta is structural: the reinforce configurations form two groups of 3 x 3 agents, so
    # never more than 2 configurations (6 agents) per block of 7
    assert max(len(pk.agents) for pk in s.tuning_packs() if pk.method == "reinforce") == 6


def test_packing_is_stable_when_a_configuration_is_added():
    """A new value of a swept key changes only the packs of the bucket it falls into: the
    other packs (their ids, hence their rules and run files) are those of the old grid."""
    cfg = ci_config()
    cfg["seeds"]["block_size"] = 8                      # 4 configurations x 2 seeds per pack
    rates = [1.0e-3 * i for i in range(1, 15)]
    cfg["envs"]["gridworld"]["methods"] = {"reinforce": {"actor_lr": rates}}
    old = {pk.pack_id for pk in study(cfg).tuning_packs()}
    rates.append(0.5)                                   # 15 configurations: still 4 buckets
    new = study(cfg).tuning_packs()
    changed = [pk for pk in new if pk.pack_id not in old]
    added = next(p.config_id for p in study(cfg).points() if p.run.hp.actor_lr == 0.5)
    assert {pk.aux for pk in changed} == {"none", "center-bonus"}
    assert all(any(added in q.config_ids for q in changed if q.aux == pk.aux) for pk in changed)
    retrained = sum(len(pk.agents) for pk in changed)
    assert retrained < sum(len(pk.agents) for pk in new) / 2, (retrained, len(new))
    assert all(len(pk.agents) <= 8 for pk in new)
    assert len(_packed(study(cfg))) == 2 * 15 * 2


def test_memory_lowers_the_block():
    """BARFI's trajectory buffer is allocated for the whole budget: at CartPole's published
    1000 episodes an agent needs ~18 MB more than at 10, so a 2 GB job holds fewer of them."""
    small = resolve_config("cartpole", "pd-agree", "barfi", {"episodes": 10})
    full = resolve_config("cartpole", "pd-agree", "barfi", {})
    assert agent_memory_mb(full) - agent_memory_mb(small) == pytest.approx(
        990 * 501 * (4 * 4 + 8 + 12) / 2**20)
    assert agent_cap(small, 1000, 2000) > agent_cap(full, 1000, 2000) >= 1
    assert agent_cap(full, 1000, 2000) * agent_memory_mb(full) + PROCESS_MB <= 2000
    assert agent_cap(full, 1000, 10) == 1          # one agent whatever the limit
    reinforce = resolve_config("cartpole", "pd-agree", "reinforce", {})
    assert agent_cap(reinforce, 40, 2000) == 40


def test_a_pack_is_configurations_times_seeds():
    s = study(ci_config())
    for pk in s.tuning_packs():
        assert pk.agents == [(p, seed) for p in pk.points for seed in pk.seeds]
        assert pk.outputs == [run_path(pk.env, pk.aux, pk.method, p.config_id, seed)
                              for p, seed in pk.agents]
        assert s.pack(pk.env, pk.pack_id) == pk
    with pytest.raises(KeyError, match="not a pack of this config"):
        s.pack("gridworld", "0000000000")


def test_run_paths_parse_back():
    s = study(ci_config())
    p = s.points()[0]
    assert s.runs_of([run_path(p.env, p.aux, p.method, p.config_id, 7)]) == [p]
    assert parse_run_path(run_path("gridworld", "none", "barfi", "0123abcd", 12)) == (
        "gridworld", "none", "barfi", "0123abcd", 12)
    with pytest.raises(ValueError, match="not a run file path"):
        parse_run_path("data/runs/gridworld/none/seed-1.nc")


# ---------------------------------------------------------------------------- tables and files
def test_tables():
    s = study(ci_config())
    rows = s.config_table_rows()
    assert rows[0] == ["config_id", "actor_lr", "episodes", "first_mul", "lambda_gamma"]
    assert ["9c6109c1", "", "30", "3", "1.0"] in rows and len(rows) == 1 + 5
    assert s.config_table_rows("gridworld") == rows
    grid = s.grid_table_rows()
    assert len(grid) == 1 + 2 * 5
    assert grid[1] == ["gridworld", "none", "reinforce", "8acabae8", "1-2", "3-4",
                       "actor_lr=0.005 episodes=30"]
    # The rules' params: a hash that ignores key order.
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1}) != digest({"a": 2})


def test_write_tsv_is_atomic_and_complete(tmp_path):
    path = tmp_path / "sub" / "t.tsv"
    write_tsv(path, [["a", "b"], ["1", "2"]])
    assert path.read_text() == "a\tb\n1\t2\n"
    assert [p.name for p in path.parent.iterdir()] == ["t.tsv"]


def test_grid_point_file_round_trip(tmp_path):
    point = study(ci_config()).point("gridworld", "center-bonus", "reinforce", "21c5ea45")
    path = tmp_path / "p.json"
    path.write_text(point.to_json())
    run, cid = read_grid_point(path)
    assert run == point.run and cid == "21c5ea45"
    # A hand-edited file whose id no longer names its overrides is refused.
    data = json.loads(point.to_json())
    data["overrides"]["actor_lr"] = 0.5
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="does not name its overrides"):
        read_grid_point(path)
    path.write_text(json.dumps({"env": "gridworld"}))
    with pytest.raises(ConfigError, match="not a grid point file"):
        read_grid_point(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match="not a readable JSON file"):
        read_grid_point(path)


def test_names():
    assert seed_ranges([7, 1, 2, 3]) == "1-3,7" and seed_ranges([]) == ""
    assert block_label((1, 2, 3)) == "seeds-1-3" and block_label((1, 3)) == "seeds-1_3"
    assert train_rule_name("grid-world", (4, 5)) == "train_grid_world_seeds_4_5"
    assert train_rule_name("gridworld", (1, 5)) == "train_gridworld_seedlist_1_5"
    assert pack_rule_name("grid-world", "0123456789") == "train_grid_world_pack_0123456789"
    assert alternation(["b", "a.c", "b"]) == r"a\.c|b"


# ---------------------------------------------------------------------------- bad configs
BAD_CONFIGS = {
    # case: (config, the key named, words of the message)
    "unknown env": (_with(ci_config(), "envs.gridwrld",
                          {"aux": ["none"], "methods": {"barfi": None}}),
                    "envs.gridwrld", "unknown env 'gridwrld'; valid: cartpole"),
    "unknown aux": (_with(ci_config(), f"{GW}.aux", ["none", "centre-bonus"]),
                    f"{GW}.aux", "unknown aux 'centre-bonus'"),
    "unknown method": (_with(ci_config(), f"{GW}.methods.barfy", {"actor_lr": 0.1}),
                       f"{GW}.methods.barfy", "unknown method 'barfy'; valid: reinforce"),
    "unknown hyperparameter": (_with(ci_config(), f"{GW}.methods.barfi.lambda_gama", [1, 2]),
                               f"{GW}.methods.barfi.lambda_gama",
                               "unknown hyperparameter 'lambda_gama'"),
    "wrong type": (_with(ci_config(), f"{GW}.methods.reinforce.actor_lr", [1.0e-3, "fast"]),
                   f"{GW}.methods.reinforce.actor_lr", "is not a number"),
    "out of range": (_with(ci_config(), f"{GW}.fixed.episodes", 0),
                     f"{GW}.fixed.episodes", "out of range"),
    "not for this method": (_with(ci_config(), f"{GW}.methods.reinforce.critic_lr", 0.1),
                            f"{GW}.methods.reinforce.critic_lr", "does not apply to method"),
    "fixed key not for a method": (_with(ci_config(), f"{GW}.fixed.critic_lr", 0.1),
                                   f"{GW}.fixed.critic_lr", "does not apply to method"),
    "per-aux fixed key": (_with(ci_config(), f"{GW}.per_aux.none.fixed.episodes", -3),
                          f"{GW}.per_aux.none.fixed.episodes", "out of range"),
    "per-aux method grid": (_with(ci_config(), f"{GW}.per_aux.none.methods.barfi.reward_lr",
                                  -1), f"{GW}.per_aux.none.methods.barfi.reward_lr",
                            "out of range"),
    "list grid entry": (_with(ci_config(), f"{GW}.methods.barfi",
                              [{"lambda_gamma": 1}, {"actor_lr": [0.1, "x"]}]),
                        f"{GW}.methods.barfi[1].actor_lr", "is not a number"),
    "per-aux of an unlisted aux": (_with(ci_config(), f"{GW}.per_aux.distance", {}),
                                   f"{GW}.per_aux.distance", "is not in envs.gridworld.aux"),
    "aux listed twice": (_with(ci_config(), f"{GW}.aux", ["none", "none"]), f"{GW}.aux",
                         "listed twice"),
    "empty value list": (_with(ci_config(), f"{GW}.methods.barfi.lambda_gamma", []),
                         f"{GW}.methods.barfi.lambda_gamma", "the grid is empty"),
    "no env": (_with(ci_config(), "envs", {}), "envs", "the grid is empty"),
    "no aux": (_with(ci_config(), f"{GW}.aux", []), f"{GW}.aux", "the grid is empty"),
    "no method": (_with(ci_config(), f"{GW}.methods", {}), f"{GW}.methods", "the grid is empty"),
    "negative seed": (_with(ci_config(), "seeds.tuning", -1), "seeds.tuning",
                      "less than the minimum of 0"),
    "negative seed in a range": (_with(ci_config(), "seeds.evaluation", "-3-4"),
                                 "seeds.evaluation", "not valid"),
    "overlapping seeds": (_with(ci_config(), "seeds.evaluation", "2-3"), "seeds.evaluation",
                          "overlap"),
    "overlapping env seeds": (_with(ci_config(), f"{GW}.seeds.evaluation", [2]),
                              f"{GW}.seeds.evaluation", "overlap"),
    "selection window beyond the budget": (_with(ci_config(), "selection.last", 31),
                                           "selection.last", "exceeds the budget"),
    "unknown top-level key": (_with(ci_config(), "seed", 1), "<top level>",
                              "'seed' was unexpected"),
    "bad selection rule": (_with(ci_config(), "selection.rule", "best"), "selection.rule",
                           "'best' is not one of"),
    "bad resource": (_with(ci_config(), "resources.gpu", -1), "resources.gpu",
                     "less than the minimum of 0"),
    "claim with a bad statistic": (_with(ci_config(), "claims.0.statistic", "median"),
                                   "claims.0.statistic", "'median' is not one of"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_names_the_key(case):
    cfg, key, message = BAD_CONFIGS[case]
    with pytest.raises(StudyError) as info:
        study(cfg)
    err = info.value
    assert err.where == key, str(err)
    assert message in err.problem, str(err)
    assert str(err) == f"barfi config error at {key}: {err.problem}"
    assert "\n" not in str(err)


def test_the_shipped_configs_expand():
    for name in ("config.yaml", "paper.yaml", "reproduce.yaml"):
        s = study(yaml.safe_load((REPO / "config" / name).read_text()))
        assert s.points() and len({p.config_id for p in s.points()}) > 1


def test_reproduction_runs_the_published_gridworld_grid_and_configuration_0():
    """config/reproduce.yaml: GridWorld's published grid in full (the same grid points and
    seeds as config/paper.yaml), and elsewhere a subset that holds configuration 0 (the
    published defaults) of every method."""
    def grid(name, env):
        s = study(yaml.safe_load((REPO / "config" / name).read_text()))
        return {(p.aux, p.method, p.config_id): (s.cell(env, p.aux).tuning,
                                                  s.cell(env, p.aux).evaluation)
                for p in s.points(env)}, s

    assert grid("reproduce.yaml", "gridworld")[0] == grid("paper.yaml", "gridworld")[0]
    _, s = grid("reproduce.yaml", "gridworld")
    for cell in s.cells:
        for method, points in cell.points.items():
            published = resolve_config(cell.env, cell.aux, method, {
                "episodes": next(iter(points.values())).run.hp.episodes,
                **({"env_version": "v4"} if cell.env == "halfcheetah" else {})})
            assert any(p.run.hp == published.hp for p in points.values()), (cell.env, cell.aux,
                                                                             method)


@pytest.mark.parametrize("name", ["ci.yaml", "config.yaml", "paper.yaml", "reproduce.yaml"])
def test_a_config_id_means_one_set_of_hyperparameters_per_env_and_method(name):
    """The aggregate keeps one set of hyperparameters per (method, config id) of an env, across
    its aux rewards. Published defaults that depend on the aux reward (GridWorld's centre-bonus
    actor-critic-PBRS, MountainCar's velocity reward) must therefore give other ids."""
    path = REPO / "config" / name
    seen: dict[tuple, tuple] = {}
    for p in study(yaml.safe_load(path.read_text())).points():
        hp = seen.setdefault((p.env, p.method, p.config_id), (p.aux, p.run.hp))
        assert hp[1] == p.run.hp, (f"{p.env}/{p.method} config {p.config_id}: other "
                                   f"hyperparameters for aux {p.aux} than for aux {hp[0]}")


def test_aux_dependent_published_defaults_are_written_out():
    cfg = _with(ci_config(), f"{GW}.aux", ["distance", "center-bonus"])
    cfg = _with(cfg, f"{GW}.methods.actor-critic-pbrs", None)
    cfg["envs"]["gridworld"]["methods"]["actor-critic-pbrs"] = None
    points = {p.aux: p for p in study(cfg).points() if p.method == "actor-critic-pbrs"}
    assert points["distance"].config_id != points["center-bonus"].config_id
    assert points["center-bonus"].overrides["actor_lr"] == 1e-4
    assert "actor_lr" not in points["distance"].overrides
