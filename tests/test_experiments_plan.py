"""Plans: every shipped config plans at both scales into ordered steps with readable, deterministic
folders; dependencies are shared where they should be; --only brings what a step needs; costs follow
the documented estimate."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from dnabench.experiments.config import SCALES, load_experiment
from dnabench.experiments.plan import RATES, START_S, build_plan, format_seconds, select

TABLES = ["table1", "table2", "table3", "table4", "table5"]


@pytest.mark.parametrize(("name", "scale"), list(itertools.product(TABLES, SCALES)))
def test_every_shipped_config_plans(tmp_path, name, scale):
    config = load_experiment(name, scale)
    plan = build_plan(config, tmp_path / "out", tmp_path / "stores")
    ids = [s.id for s in plan.steps]
    assert len(ids) == len(set(ids))
    position = {s: i for i, s in enumerate(ids)}
    for step in plan.steps:
        assert all(position[n] < position[step.id] for n in step.needs), step.id
        assert step.config["out"] == str((tmp_path / "out").resolve() / step.id)
    combos = math.prod(len(a.values) for a in config.grid.values())
    results = [s for s in plan.steps if s.result]
    assert len(results) == len(config.tasks) * len(config.models) * combos * len(config.seeds)
    assert all(s.id.startswith("runs/") and s.id.endswith(f"seed-{s.seed}") for s in results)
    assert [s.id for s in build_plan(config, tmp_path / "out", tmp_path / "stores").steps] == ids  # deterministic
    assert not any(tmp_path.iterdir())  # planning writes nothing


def test_table3_pretrains_once_per_mask_rate(tmp_path):
    plan = build_plan(load_experiment("table3", "full"), tmp_path, tmp_path)
    pretrain = [s for s in plan.steps if s.kind == "pretrain"]
    assert [s.config["mask_rate"] for s in pretrain] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert pretrain[2].id == "pretrain/mlm/transformer/mask_rate-0.3/seed-0"
    run = plan.step("runs/promvary/transformer/mask_rate-0.3/seed-2")
    assert run.needs == [pretrain[2].id] and run.config["init"] == pretrain[2].config["out"]
    assert pretrain[2].config["genome"].endswith("hs1") and pretrain[2].config["model_options"]["tokenizer"] == "patch"


def test_table5_feature_tasks_read_their_models_track7878_run(tmp_path):
    plan = build_plan(load_experiment("table5", "small"), tmp_path, tmp_path)
    fit = plan.step("runs/causalsnp/cnn_lstm/seed-0")
    assert fit.kind == "fit" and fit.config["model"] == "random_forest"
    features = plan.step(fit.needs[0])
    assert features.kind == "features" and features.id == "features/causalsnp/cnn_lstm/seed-0"
    backbone = plan.step(features.needs[0])
    assert backbone.id == "runs/track7878/cnn_lstm/seed-0" and features.config["model_dir"] == backbone.config["out"]
    assert plan.step("runs/geneexp/transformer/seed-0").config["model"] == "upper_transformer"
    assert plan.step("runs/track7878/transformer/seed-0").needs == ["pretrain/mlm/transformer/seed-0"]
    assert sum(s.kind == "pretrain" for s in plan.steps) == 1


def test_table4_shares_its_sources_across_fractions(tmp_path):
    plan = build_plan(load_experiment("table4", "full"), tmp_path, tmp_path)
    scratch = plan.step("runs/methyl96/transformer/fraction-few/init-scratch/seed-0")
    assert scratch.needs == [] and "init" not in scratch.config and scratch.config["train_fraction"] == 0.01
    few = plan.step("runs/methyl96/transformer/fraction-few/init-track7878/seed-1")
    full = plan.step("runs/methyl96/transformer/fraction-all/init-track7878/seed-1")
    assert few.needs == full.needs == ["deps/track7878/transformer/seed-0"]
    assert plan.step("deps/track7878/transformer/seed-0").config["loss"] == "focal"
    assert few.row == "few shot (1% train)" and few.column == "Track7878"


def test_only_selects_steps_with_what_they_need(tmp_path):
    plan = build_plan(load_experiment("table5", "small"), tmp_path, tmp_path)
    chosen = select(plan, ["geneexp/transformer"])
    assert [s.id for s in chosen.steps] == ["pretrain/mlm/transformer/seed-0", "runs/track7878/transformer/seed-0",
                                            "features/geneexp/transformer/seed-0", "runs/geneexp/transformer/seed-0"]
    assert {s.task for s in select(plan, ["cnn_fc"]).steps if s.result} == set(load_experiment("table5").tasks)
    assert len(select(plan, ["runs/promvary/*"]).steps) == 4  # three runs and the pretraining one needs
    with pytest.raises(ValueError, match="matches no step"):
        select(plan, ["nothing*"])


def test_cost_comes_from_the_store_card(tmp_path):
    store = tmp_path / "promvary"
    store.mkdir()
    (store / "dataset.json").write_text(json.dumps({"counts": {"train": 8000, "val": 1000, "test": 1000}, "input_length": 500}))
    config = load_experiment("table1", "full")
    plan = build_plan(config, tmp_path / "out", tmp_path)
    step = plan.step("runs/promvary/transformer/positions-rotary/seed-0")
    epochs = config.train["max_epochs"]
    assert step.rows == 8000
    assert step.cost_s == pytest.approx(START_S + 8000 * epochs * 0.5 / RATES["transformer"])
    no_card = plan.step("runs/promfix/transformer/positions-rotary/seed-0")  # the config's rows and length instead
    assert no_card.cost_s == pytest.approx(START_S + config.tasks["promfix"].rows * epochs * 0.5 / RATES["transformer"])
    assert format_seconds(30) == "30 s" and format_seconds(600) == "10 min" and format_seconds(7200) == "2.0 h" and format_seconds(None) == "?"
