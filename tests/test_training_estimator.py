"""Estimator runs: the run folder of a neural run, metrics that are the scores of best/'s predictions,
evaluate and predict on tree runs, resume, and a fit through a real features folder."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from dnabench.data.loader import BatchSource
from dnabench.data.task import LabelSet, SplitRule, TaskSpec
from dnabench.evaluation.scoring import score
from dnabench.models.estimators import load_estimator
from dnabench.training import estimator as estimator_module
from dnabench.training import inference as inference_module
from dnabench.training.config import TrainConfig
from dnabench.training.data import TrainingData
from dnabench.training.estimator import estimator_run_finished, fit_estimator, is_estimator_run
from dnabench.training.inference import evaluate_run

SKOPS = "skops (a dnabench dependency: pip install -e .) is not installed; scikit-learn models cannot be saved"


class ArraySource(BatchSource):
    """Features and labels held in memory, as a features folder's source gives them."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def codes(self, indices, shifts=None, flips=None):
        return self.x[indices]

    def labels(self, indices):
        return self.y[indices]


def masked_pairs(n: int = 240, seed: int = 0) -> TrainingData:
    """CausalSNP-like data: [ref; alt] features, two tissues, each labelled on its own rows only."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = np.stack([x[:, 0] + x[:, 4] > 0, x[:, 1] - x[:, 5] > 0], axis=1).astype(np.float32)
    y[rng.random(n) < 0.3, 1] = np.nan
    split = rng.permutation(np.repeat(["train", "val", "test"], [n * 6 // 10, n * 2 // 10, n - n * 8 // 10]))
    spec = TaskSpec(
        name="toy_pairs", title="toy", input_kind="pair", input_length=64, label_kind="multilabel", metrics=("auroc", "auprc"),
        loss="bce", output="sigmoid", split=SplitRule("random", (0.6, 0.2, 0.2)), masked=True,
    )
    return TrainingData(
        source=ArraySource(x, y),
        splits={s: np.flatnonzero(split == s) for s in ("train", "val", "test")},
        spec=spec,
        labels=LabelSet(("lung", "liver")),
        input_length=64,
        description="toy features",
        card_sha256="0" * 64,
    )


@pytest.fixture()
def handmade(monkeypatch):
    data = masked_pairs()
    for module in (estimator_module, inference_module):  # fit reads the data, and so does evaluate
        monkeypatch.setattr(module, "load_config_data", lambda *args, **kwargs: data)
    return data


def test_a_random_forest_run_writes_a_run_folder_whose_metrics_are_best_s_scores(tmp_path, handmade):
    pytest.importorskip("skops", reason=SKOPS)
    config = TrainConfig(data="toy", model="random_forest", model_options={"n_estimators": 30, "n_jobs": 1}, out=str(tmp_path / "rf"), seed=4)
    run = fit_estimator(config)
    assert {p.name for p in run.iterdir()} == {"config.yaml", "run.json", "metrics.json", "best", "test_predictions.parquet"}
    assert is_estimator_run(run) and estimator_run_finished(run)
    model = load_estimator(run / "best")
    assert model.config.seed == 4 and model.config.n_estimators == 30
    rows = handmade.split("train")
    assert [f["rows"] for f in model.fits] == [rows.size, int(np.isfinite(handmade.source.y[rows, 1]).sum())]
    metrics = json.loads((run / "metrics.json").read_text())
    test = handmade.split("test")
    x, y = handmade.source.x, handmade.source.y
    want = score(handmade.spec, handmade.labels, y[test], model.predict(x[test]))
    assert metrics["test"] == pytest.approx(want) and metrics["monitor"] == "val/auroc"
    assert metrics["val"]["auroc"] > 0.7 and metrics["best_score"] == metrics["val"]["auroc"]
    frame = pd.read_parquet(run / "test_predictions.parquet")
    assert list(frame.columns) == ["index", "target_lung", "pred_lung", "target_liver", "pred_liver"]
    np.testing.assert_array_equal(frame["index"], test)
    np.testing.assert_array_equal(frame[["pred_lung", "pred_liver"]].to_numpy(), model.predict(x[test]))
    meta = json.loads((run / "run.json").read_text())
    assert meta["model"] == "random_forest" and meta["task"]["label_names"] == ["lung", "liver"] and "sklearn" in meta
    assert meta["data_card_sha256"] == "0" * 64 and meta["input"] == "features"
    evaluation = evaluate_run(run, split="test")
    assert evaluation.metrics == pytest.approx(metrics["test"]) and evaluation.path == run / "eval_test.json"
    with pytest.raises(ValueError, match="predicts from features"):
        evaluate_run(run, split="test", reverse_complement=True)


def test_a_binary_xgboost_run_uses_the_validation_threshold_on_test(tmp_path, monkeypatch):
    data = masked_pairs(seed=1)
    data = TrainingData(
        ArraySource(data.source.x, data.source.y[:, :1]), data.splits,
        data.spec.with_(label_kind="binary", masked=False), LabelSet(("lung",)), 64, "toy", "0" * 64,
    )
    monkeypatch.setattr(estimator_module, "load_config_data", lambda *args, **kwargs: data)
    options = {"n_estimators": 40, "n_jobs": 1, "device": "cpu", "early_stopping_rounds": 5}
    run = fit_estimator(TrainConfig(data="toy", model="xgboost", model_options=options, out=str(tmp_path / "xgb")))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["threshold"] == metrics["val"]["threshold"]
    model = load_estimator(run / "best")
    val = data.split("val")
    chosen = score(data.spec, data.labels, data.source.y[val], model.predict(data.source.x[val]))["threshold"]
    assert metrics["val"]["threshold"] == pytest.approx(chosen) and "best_iteration" in model.fits[0]


def test_resume_leaves_a_finished_run_and_fits_an_unfinished_one_again(tmp_path, handmade):
    options = {"n_estimators": 20, "n_jobs": 1, "device": "cpu"}
    config = TrainConfig(data="toy", model="xgboost", model_options=options, out=str(tmp_path / "r"))
    run = fit_estimator(config)
    with pytest.raises(FileExistsError, match="use --resume"):
        fit_estimator(config)
    stamp = (run / "metrics.json").stat().st_mtime_ns
    assert fit_estimator(config, resume=run) == run and (run / "metrics.json").stat().st_mtime_ns == stamp
    first = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").unlink()  # as if the fit had been killed before its last file
    assert not estimator_run_finished(run)
    fit_estimator(config, resume=run)
    assert json.loads((run / "metrics.json").read_text())["test"] == first["test"]


def test_estimator_options_are_checked_when_the_config_is_made(tmp_path):
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['positions'\]"):
        TrainConfig(data="t.csv", model="random_forest", model_options={"positions": "rotary"}, out=str(tmp_path / "o"))
    config = TrainConfig(data="t.csv", model="kmer_lr", model_options={"seed": 3}, out=str(tmp_path / "o"))
    with pytest.raises(ValueError, match="give the seed with --seed"):
        fit_estimator(config)
    assert not (tmp_path / "o").exists()


def test_trees_refuse_sequence_codes_with_a_pointer_to_features(tmp_path, monkeypatch):
    data = masked_pairs()
    data.source.x = np.zeros((len(data.source.x), 64), dtype=np.uint8)
    monkeypatch.setattr(estimator_module, "load_config_data", lambda *args, **kwargs: data)
    with pytest.raises(ValueError, match="dnabench features RUN --data STORE"):
        fit_estimator(TrainConfig(data="toy", model="xgboost", out=str(tmp_path / "codes")))
    assert not (tmp_path / "codes").exists()


# ----- through a real features folder -------------------------------------------------------------


@pytest.fixture(scope="module")
def features_folder(tmp_path_factory, genome):
    """A pair store of 90 SNVs on the conftest genome, two masked tissues and an effect value,
    and its features through a tiny Transformer backbone."""
    import torch

    from dnabench.data.samples import pair_sample
    from dnabench.data.store import write_store
    from dnabench.models import build_model
    from dnabench.training.features import extract_features

    from test_data_samples import base_card, variant_table

    tmp = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(5)
    places = []
    for chrom, size in (("chr1", 20_000), ("chr2", 12_000)):
        for pos in rng.choice(np.arange(200, size - 200), size=45, replace=False):
            if (genome.fetch(chrom, int(pos) - 1, int(pos)) < 4).all():
                places.append((chrom, int(pos), 1))
    table = variant_table(genome, places)
    n = len(table)
    table["split"] = rng.permutation(np.repeat(["train", "val", "test"], [n - 30, 15, 15]))
    card = {**base_card(pair_sample(64)), "genome": {"cache_path": str(genome.path)}}
    values = rng.normal(size=(n, 1)).astype(np.float32)
    card["labels"] = {"names": ["effect"], "kind": "regression"}
    store = write_store(tmp / "pairs", card, table, values)
    torch.manual_seed(0)
    backbone = build_model("transformer", tokenizer="patch", num_outputs=2, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32, dropout=0.0)
    backbone_dir = backbone.save_pretrained(tmp / "backbone")
    out = extract_features(backbone_dir, store.path, tmp / "feat", dtype="float32", progress=False, bf16=False)
    return {"features": out, "store": store, "values": values}


def test_xgboost_fits_evaluates_and_predicts_through_a_features_folder(tmp_path, features_folder):
    from dnabench.data.features import open_features
    from dnabench.training.inference import predict_file

    folder = features_folder["features"]
    config = TrainConfig(data=str(folder), model="xgboost", model_options={"n_estimators": 30, "n_jobs": 1, "device": "cpu"}, out=str(tmp_path / "x"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing to complain about on a proper features folder
        run = fit_estimator(config)
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"spearman", "pearson", "mse"}
    assert evaluate_run(run).metrics == pytest.approx(metrics["test"])
    frame = predict_file(run, folder, tmp_path / "p.parquet")
    array = np.asarray(open_features(folder).array, dtype=np.float32)
    np.testing.assert_array_equal(frame["pred_effect"].to_numpy(), load_estimator(run / "best").predict(array)[:, 0])
    np.testing.assert_array_equal(frame["index"], np.arange(len(array)))
    store = features_folder["store"]
    assert list(frame["pos"]) == list(store.regions["pos"]) and list(frame["alt"]) == list(store.regions["alt"])
    assert "call_effect" not in frame and pd.read_parquet(tmp_path / "p.parquet").shape == frame.shape
    with pytest.raises(ValueError, match="predicts from a features folder"):
        predict_file(run, store.path / "dataset.json", tmp_path / "q.csv")
