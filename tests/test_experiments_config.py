"""Experiment configs: every shipped table parses at both scales; unknown keys and broken references
are errors that name the file and the key."""

from __future__ import annotations

import itertools

import pytest
import yaml

from dnabench.experiments.config import SCALES, config_path, deep_merge, load_experiment, metric_label, shipped_configs

TABLES = ["table1", "table2", "table3", "table4", "table5"]


def test_the_five_tables_ship_with_the_package():
    assert sorted(shipped_configs()) == TABLES


@pytest.mark.parametrize(("name", "scale"), list(itertools.product(TABLES, SCALES)))
def test_every_shipped_config_parses(name, scale):
    config = load_experiment(name, scale)
    assert config.name == name and config.table == name[-1] and config.scale == scale
    assert config.tasks and config.models and config.seeds
    dims = config.layout.rows + config.layout.columns
    assert "metric" in dims and config.layout.best in dims


def test_scales_change_sizes_not_structure():
    small, full = load_experiment("table5", "small"), load_experiment("table5", "full")
    assert small.tasks.keys() == full.tasks.keys() and small.models.keys() == full.models.keys()
    assert small.models["transformer"].model_options["hidden_size"] < 512 and "hidden_size" not in full.models["transformer"].model_options
    assert len(small.seeds) < len(full.seeds)
    assert small.dependencies["mlm"].genome == "genome" and full.dependencies["mlm"].genome == "hs1"
    assert small.tasks["geneexp"].fit.model == "upper_transformer" and small.tasks["geneexp"].backbone == "track7878"
    assert list(load_experiment("table3", "small").grid["mask_rate"].values) == ["0.1", "0.3", "0.5"]
    assert len(load_experiment("table3", "full").grid["mask_rate"].values) == 6


def test_deep_merge_merges_mappings_and_replaces_the_rest():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [3]}, "e": 2}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def _write(tmp_path, data) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


BASE = {
    "name": "x", "tasks": {"a": {"metrics": ["auroc"]}}, "models": {"m": {"model": "cnn_fc"}},
    "layout": {"rows": ["task"], "columns": ["metric"]},
}


@pytest.mark.parametrize(("change", "message"), [
    ({"colour": 1}, r"bad.yaml: unknown key\(s\) \['colour'\]"),
    ({"tasks": {"a": {"metrics": ["auroc"], "metrix": 1}}}, r"bad.yaml: tasks.a: unknown key\(s\) \['metrix'\]"),
    ({"tasks": {"a": {"metrics": ["accuracy"]}}}, r"tasks.a.metrics: unknown metric 'accuracy'"),
    ({"models": {"m": {"model": "cnn_fc", "train": {"max_epoch": 2}}}}, r"models.m.train: unknown training option\(s\) \['max_epoch'\]"),
    ({"models": {"m": {"model": "cnn_fc", "train": {"out": "x"}}}}, r"unknown training option\(s\) \['out'\]"),
    ({"models": {"m": {"model": "cnn_fc", "init": "mlm"}}}, r"models.m.init: no dependency 'mlm'"),
    ({"scales": {"small": {"models": {"m": {"colour": 2}}}}}, r"models.m: unknown key\(s\) \['colour'\]"),
    ({"scales": {"medium": {}}}, r"scales: unknown scale\(s\) \['medium'\]"),
    ({"grid": {"p": {"values": {"x": {}, "y": {}}}}}, r"layout: \['p'\] take several values"),
    ({"layout": {"rows": ["task", "colour"]}}, r"layout: unknown dimension 'colour'"),
    ({"seeds": [0, 0]}, r"seeds: repeated seed"),
    ({"tasks": {"a": {"metrics": ["auroc"], "backbone": "a"}}}, r"needs both backbone and fit"),
    ({"dependencies": {"d": {"kind": "pretrain"}}}, r"dependencies.d: a pretrain dependency needs genome or data"),
    ({"grid": {"p": {"values": {"x": {}}, "select": ["y"]}}}, r"grid.p.select: \['y'\] not among the values"),
])
def test_bad_configs_name_the_file_and_the_key(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        load_experiment(_write(tmp_path, deep_merge(BASE, change)))


def test_a_bare_name_or_a_path(tmp_path):
    assert config_path("table5") == shipped_configs()["table5"]
    assert config_path(_write(tmp_path, BASE)).name == "bad.yaml"
    with pytest.raises(FileNotFoundError, match="table9: neither a config file nor a shipped config"):
        config_path("table9")
    with pytest.raises(FileNotFoundError, match="no such config file"):
        config_path(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="scale must be one of small, full"):
        load_experiment("table1", "medium")


def test_metric_labels():
    assert [metric_label(m) for m in ("auroc", "auprc_tf", "spearman", "mse")] == ["AUROC", "AUPRC (TF)", "Spearman", "MSE"]
