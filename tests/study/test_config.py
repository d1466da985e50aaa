"""Study and search-space files: the shipped ones load; every bad key or value names file, key and value."""
from __future__ import annotations

from pathlib import Path

import pytest

from scaler.errors import ConfigError
from scaler.study import SearchSpace, load_search_space, load_study_config
from scaler.study._config import default_storage
from scaler.study._space import Choice, Fixed, Range
from scaler.train import TrainConfig
from scaler.vocabulary import DEPTH_ROUNDINGS, NAMED_METHODS
from tests.study.fakes import write_study

REPO = Path(__file__).resolve().parents[2]
TRAIN_FIELDS = tuple(f for f in TrainConfig.__dataclass_fields__ if f not in ("data", "data_root", "data_options"))


@pytest.mark.parametrize("name", ["quickstart", "camvid_unet"])
def test_shipped_study_files_load(name: str) -> None:
    config = load_study_config(REPO / "studies" / f"{name}.toml")
    assert config.name == name
    assert config.objectives[0] == "miou" and config.directions[0] == "maximize"
    assert [str(b) for b in config.scaling.budgets][0] == "params<=2x"
    assert config.storage == default_storage(name)  # not set in the file: ./runs/studies/<name>/study.db


def test_quickstart_is_the_methods_grid() -> None:
    config = load_study_config(REPO / "studies" / "quickstart.toml")
    assert config.sampler == "grid" and config.train.data == "shapes"
    assert config.space.grid() == {"method": list(NAMED_METHODS)}


def test_camvid_data_root_is_relative_to_the_file() -> None:
    config = load_study_config(REPO / "studies" / "camvid_unet.toml")
    assert Path(config.train.data_root) == (REPO.parent / "shared" / "data" / "camvid").resolve()
    assert config.base.input_size == (96, 128) and config.base.encoder[0].width == 16


@pytest.mark.parametrize("name", ["methods", "factors"])
def test_shipped_search_spaces_load(name: str) -> None:
    space = load_search_space(REPO / "search_spaces" / f"{name}.toml", TRAIN_FIELDS)
    assert isinstance(space, SearchSpace)
    assert space.free_factors == (name == "factors")


def test_factors_space_parses_ranges() -> None:
    space = load_search_space(REPO / "search_spaces" / "factors.toml", TRAIN_FIELDS)
    assert space.factors["encoder_width"] == Range(1.0, 2.0, log=True)
    assert space.train["lr"].log and space.methods() == ["custom"]
    with pytest.raises(ConfigError, match=r"factors.toml: encoder_depth=.*grid sampler needs finite values"):
        space.grid()


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    path = write_study(tmp_path / "sub", data={"name": "camvid", "root": "../data"})
    config = load_study_config(path)
    assert config.storage == f"sqlite:///{tmp_path / 'sub' / 'study.db'}"
    assert config.run_root == tmp_path / "sub" / "runs"
    assert Path(config.train.data_root) == tmp_path / "data"


def test_grid_n_trials_defaults_to_the_grid_and_overrides_are_checked(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path))
    assert config.n_trials is None and config.space.grid_size() == 6
    assert config.with_overrides(n_trials=3, device="cpu").train.device == "cpu"
    with pytest.raises(ConfigError, match="n_trials=7 exceeds the 6 points of the grid"):
        config.with_overrides(n_trials=7)


def test_integer_ranges_and_fixed_values(tmp_path: Path) -> None:
    space = {"method": "width", "train": {"batch_size": {"low": 4, "high": 16, "step": 4}, "optimizer": "sgd"}}
    config = load_study_config(write_study(tmp_path, space, study={"sampler": "grid"}))
    assert config.space.method == Fixed("width")
    assert config.space.train["batch_size"] == Range(4, 16, step=4, integer=True)
    assert config.space.grid() == {"batch_size": [4, 8, 12, 16]}
    assert config.space.train["optimizer"] == Fixed("sgd")


def test_multi_objective_defaults_to_no_pruner(tmp_path: Path) -> None:
    config = load_study_config(write_study(tmp_path, study={"objectives": ["miou", "params"], "sampler": "nsga2",
                                                            "n_trials": 4}))
    assert config.pruner == "none" and config.directions == ["maximize", "minimize"]


# (tables merged into the tiny study, search space or None, expected fragments of the message)
BAD = {
    "unknown table": ({"trainer": {"epochs": 1}}, None, ["unknown table(s) ['trainer']"]),
    "unknown study key": ({"study": {"n_trial": 3}}, None, ["[study]", "unknown key(s) ['n_trial']"]),
    "sampler": ({"study": {"sampler": "cmaes"}}, None, ["[study] sampler = 'cmaes'", "tpe, nsga2, random, grid"]),
    "pruner": ({"study": {"pruner": "asha"}}, None, ["[study] pruner = 'asha'", "median, hyperband, pareto, none"]),
    "objectives first": ({"study": {"objectives": ["params", "miou"]}}, None, ["objectives = ['params', 'miou']"]),
    "objective name": ({"study": {"objectives": ["miou", "latency"]}}, None, ["objectives = ['miou', 'latency']"]),
    "prune multi-objective": ({"study": {"objectives": ["miou", "macs"], "pruner": "median"}}, None,
                              ["pruner = 'median'", "multi-objective", "pareto"]),
    "pareto single objective": ({"study": {"sampler": "tpe", "n_trials": 3, "pruner": "pareto"}}, None,
                                ["pruner = \"pareto\"", "no-costlier", "median"]),
    "pareto options": ({"study": {"objectives": ["miou", "params"], "sampler": "nsga2", "n_trials": 3,
                                  "pruner": "pareto", "pruner_options": {"margin": 1.5}}}, None,
                       ["pruner_options = {'margin': 1.5}", "[0, 1)"]),
    "sampler options": ({"study": {"sampler": "tpe", "n_trials": 3, "sampler_options": {"n_startup": 2}}}, None,
                        ["sampler_options = {'n_startup': 2}", "n_startup"]),
    "pruner options": ({"study": {"sampler": "tpe", "n_trials": 3, "pruner": "median",
                                  "pruner_options": {"warmup": 1}}}, None, ["pruner_options = {'warmup': 1}"]),
    "no stop": ({"study": {"sampler": "tpe"}}, None, ["neither n_trials nor timeout"]),
    "n_trials": ({"study": {"n_trials": 0}}, None, ["n_trials=0"]),
    "budget syntax": ({"scaling": {"budget": ["params<2x"]}}, None, ["[scaling]", "params<2x"]),
    "budget below base": ({"scaling": {"budget": ["params=0.5x"]}}, None, ["[scaling] budget", "below the base"]),
    "budget missing": ({"scaling": {"budget": []}}, None, ["[scaling] budget: missing", "solved into a budget"]),
    "duplicate budget": ({"scaling": {"budget": ["params=2x", "params=3x"]}}, None,
                         ["[scaling]", "two budgets for params"]),
    "tolerance": ({"scaling": {"tolerance": 1.5}}, None, ["[scaling]", "tolerance", "1.5"]),
    "depth rounding": ({"scaling": {"depth_rounding": "ceil"}}, None,
                       ["[scaling]", "'ceil'", ", ".join(DEPTH_ROUNDINGS)]),
    "method in scaling": ({"scaling": {"method": "width"}}, None,
                          ["[scaling]", "unknown key(s) ['method']", "budget, ratio, tolerance, depth_rounding"]),
    "old budget table": ({"budget": {"limits": ["params=2x"]}}, None, ["[budget] is now [scaling]", "budget = [...]"]),
    "infeasible": ({"study": {"infeasible": "skip"}}, None, ["[study] infeasible = 'skip'", "constrain, project"]),
    "ratio": ({"scaling": {"ratio": [1.2, 1.1]}}, None, ["[scaling]", "[1.2, 1.1]"]),
    "network option": ({"network": {"widht": 8}}, None, ["[network]", "widht"]),
    "train field": ({"train": {"epoch": 2}}, None, ["[train] epoch", "unknown training field"]),
    "train value": ({"train": {"optimizer": "adam"}}, None, ["[train]", "'adam'", "adamw, sgd"]),
    "data in train": ({"train": {"data_root": "x"}}, None, ["[train] data_root", "set it in [data]"]),
    "heartbeat": ({"storage": {"heartbeat_interval": 10, "grace_period": 5}}, None,
                  ["[storage] grace_period = 5", "more than heartbeat_interval (10)"]),
    "storage url": ({"storage": {"url": "study.db"}}, None, ["[storage] url = 'study.db'", "SQLAlchemy URL"]),
    "storage scheme": ({"storage": {"url": "foo://host/db"}}, None,
                       ["[storage] url = 'foo://host/db'", "unknown database scheme 'foo'"]),
    "storage driver": ({"storage": {"url": "mysql://user@host/db"}}, None,
                       ["[storage] url = 'mysql://user@host/db'", "driver of 'mysql' is not installed", "MySQLdb"]),
    "name too long": ({"study": {"name": "n" * 600}}, None, ["[study] name", "600 characters", "at most 200 bytes"]),
    "name with slash": ({"study": {"name": "a/b"}}, None, ["[study] name = 'a/b'", "no '/'"]),
    "space method": ({}, {"method": {"choices": ["width", "deep"]}}, ["space.toml", "method='deep'",
                                                                      "unknown method", ", ".join(NAMED_METHODS)]),
    "space old rule key": ({}, {"rule": {"choices": ["width"]}}, ["space.toml", "the key is now 'method'"]),
    "space custom method": ({}, {"method": "custom"}, ["method='custom'", "[factors]"]),
    "space method and factors": ({}, {"method": "width", "factors": {"encoder_width": 1.2}}, ["not both"]),
    "space factor name": ({}, {"factors": {"encoder_height": 1.2}}, ["factors.encoder_height", "unknown factor"]),
    "space factor value": ({}, {"factors": {"resolution": -1.0}}, ["factors.resolution=-1.0"]),
    "space range": ({}, {"factors": {"encoder_depth": {"low": 2.0, "high": 1.0}}},
                    ["factors.encoder_depth low=2.0 high=1.0", "low < high"]),
    "space log range": ({}, {"train": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}, ["train.lr.low=0.0", "log"]),
    "space bare list": ({}, {"train": {"lr": [0.1, 0.01]}}, ["train.lr=[0.1, 0.01]", "choices"]),
    "space train field": ({}, {"train": {"learning_rate": 0.1}}, ["train.learning_rate", "unknown training field"]),
    "space train value": ({}, {"train": {"batch_size": {"choices": [8, 0]}}}, ["train.batch_size=0"]),
    "space mixed depth": ({}, {"factors": {"depth": 1.5, "encoder_depth": 2.0}}, ["factors.depth sets both parts"]),
    "grid of a range": ({"study": {"sampler": "grid"}}, {"factors": {"encoder_width": {"low": 1.0, "high": 2.0}}},
                        ["encoder_width", "grid sampler needs finite values"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_values_name_file_key_and_value(tmp_path: Path, case: str) -> None:
    tables, space, fragments = BAD[case]
    path = write_study(tmp_path, space, **tables)
    with pytest.raises(ConfigError) as info:
        load_study_config(path)
    message = str(info.value)
    assert str(tmp_path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[study\nname = 1\n")
    with pytest.raises(ConfigError, match=r"broken.toml: not valid TOML"):
        load_study_config(path)
    with pytest.raises(ConfigError, match=r"missing.toml: no such file"):
        load_study_config(tmp_path / "missing.toml")
    path = write_study(tmp_path / "x", study={"search_space": "nowhere.toml"})
    with pytest.raises(ConfigError, match=r"nowhere.toml: no such file"):
        load_study_config(path)


def test_space_choices_become_grid_axes(tmp_path: Path) -> None:
    space = {"method": {"choices": ["baseline", "width"]}, "train": {"lr": {"choices": [1e-3, 3e-3]}}}
    config = load_study_config(write_study(tmp_path, space))
    assert config.space.method == Choice(("baseline", "width"))
    assert config.space.grid() == {"method": ["baseline", "width"], "lr": [1e-3, 3e-3]}
    assert config.space.grid_size() == 4
