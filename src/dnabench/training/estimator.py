"""Runs of the non-neural models (`dnabench.models.estimators`): fit, evaluate and predict.

`fit_estimator` writes the run folder a neural run writes, so `evaluate`, `predict`, reports and
experiment tables read both alike:

    config.yaml               the TrainConfig (model_options: the estimator's hyper-parameters)
    run.json                  versions (dnabench, scikit-learn, XGBoost, skops), git commit, data card sha256, task
    metrics.json              val and test metrics of the spec; F1/MCC at the threshold chosen on val
    best/                     the fitted model (config.json + one file a label)
    test_predictions.parquet  index, target_LABEL, pred_LABEL

Trees (random_forest, xgboost) read the float features of a features folder (`dnabench
features`); kmer_lr reads the codes of a window store or a sequence table. A fit takes minutes,
not epochs, so there is no checkpoint: `--resume` on an unfinished run fits again, and on a
finished one leaves it as it is. Nothing here imports Lightning. `evaluate` and `predict` on
estimator runs are `training.inference`'s, through the helpers at the end of this module.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnabench import __version__
from dnabench.data.task import LabelKind
from dnabench.evaluation.scoring import per_label_scores, score
from dnabench.training.provenance import git_commit, git_dirty, package_path, task_record
from dnabench.io.files import atomic_dir, write_json
from dnabench.models.estimators import CONFIG_FILE, Estimator, build_estimator, is_estimator, is_estimator_dir, library_versions, load_estimator
from dnabench.training.config import TrainConfig, load_config, save_config
from dnabench.training.data import TrainingData, load_config_data, subsample_train

__all__ = [
    "is_estimator",
    "estimator_run_finished",
    "fit_estimator",
    "is_estimator_run",
    "check_strand_option",
    "open_estimator_run",
    "predict_estimator_codes",
    "row_names",
    "split_arrays",
]

#: rows of a split gathered, predicted and scored at a time
CHUNK = 16_384


def is_estimator_run(run: str | os.PathLike) -> bool:
    """Whether `run` (a run folder, or a saved model folder) holds an estimator rather than a network."""
    run = Path(run)
    if is_estimator_dir(run) or is_estimator_dir(run / "best"):
        return True
    config = run / "config.yaml"
    if config.is_file():
        try:
            return is_estimator(str(load_config(config, {}).model))
        except (ValueError, FileNotFoundError):
            return False
    return False


def estimator_run_finished(run: str | os.PathLike) -> bool:
    """An estimator run is finished once its model and metrics are written (metrics.json is last)."""
    run = Path(run)
    return is_estimator_dir(run / "best") and (run / "metrics.json").is_file() and (run / "run.json").is_file()


def split_arrays(data: TrainingData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, float32 labels with NaN where masked) of `rows`, gathered a chunk at a time."""
    if rows.size == 0:
        return np.zeros((0, 0), np.float32), np.zeros((0, len(data.labels)), np.float32)
    xs, ys = [], []
    for start in range(0, rows.size, CHUNK):
        part = rows[start : start + CHUNK]
        xs.append(np.asarray(data.source.codes(part)))
        ys.append(np.asarray(data.source.labels(part), dtype=np.float32))
    return np.concatenate(xs), np.concatenate(ys)


def _check_inputs(model: Estimator, data: TrainingData, x: np.ndarray) -> np.ndarray:
    """The training inputs as the model reads them; codes cut or padded to the data's input length."""
    if model.input == "codes" and data.spec.input_kind.value != "window":
        raise ValueError(
            f"{data.description}: kmer_lr reads one window a row; this is a {data.spec.input_kind.value} task "
            "(score variants with a window model: `dnabench predict RUN variants.vcf`)"
        )
    return model.check_input(x, data.description)


def _predict(model: Estimator, x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.zeros((0, len(model.label_names)), np.float32)
    return np.concatenate([model.predict(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)])


def _owned_model_files(folder: Path) -> set[str]:
    """The files a saved estimator consists of (what `atomic_dir` may replace in best/)."""
    if not is_estimator_dir(folder):
        raise FileExistsError(f"{folder}: not a saved estimator; nothing there was replaced")
    meta = json.loads((folder / CONFIG_FILE).read_text())
    return {CONFIG_FILE, *(entry["file"] for entry in meta.get("labels", []) if entry.get("file"))}


def _estimator_options(config: TrainConfig) -> Any:
    if "seed" in config.model_options:
        raise ValueError(f"model {config.model!r}: give the seed with --seed (seed: in --config), not in model_options")
    return dataclasses.replace(config.model_config, seed=config.seed)


def fit_estimator(config: TrainConfig, resume: Path | None = None) -> Path:
    """Fit `config.model` (an estimator) on the training split, score val and test, write the run folder.

    `resume` (the run folder) fits an unfinished run again and returns a finished one untouched.
    A fit that fails before it has written a file removes the folder it created.
    """
    if not is_estimator(config.model):
        raise ValueError(f"{config.model!r} is not an estimator")
    if not config.out:
        raise ValueError("--out RUN is required")
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder; give another --out")
    if resume is None and out.is_dir() and any(out.iterdir()):
        raise FileExistsError(f"{out}: run folder exists and is not empty; use --resume {out} or another --out")
    if resume is not None and estimator_run_finished(out):
        return out
    created = not out.exists()
    try:
        return _fit(config, out)
    except BaseException:
        if created and out.is_dir() and not any(p.is_file() for p in out.rglob("*")):
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise


def _fit(config: TrainConfig, out: Path) -> Path:
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    options = _estimator_options(config)
    data = load_config_data(config)
    if config.train_fraction < 1:
        data = subsample_train(data, config.train_fraction, config.seed)
    regression = data.spec.label_kind is LabelKind.REGRESSION
    model = build_estimator(config.model, options, data.labels.names, regression)
    arrays = {split: split_arrays(data, data.split(split)) for split in ("train", "val", "test")}
    x_train, y_train = arrays["train"]
    if len(x_train) == 0:
        raise ValueError(f"{data.description}: the training split has no rows")
    _check_inputs(model, data, x_train)
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    clock = time.perf_counter()
    x_val, y_val = arrays["val"]
    model.fit(x_train, y_train, x_val if len(x_val) else None, y_val if len(x_val) else None)
    fit_seconds = time.perf_counter() - clock
    metrics: dict[str, Any] = {}
    threshold = None
    predictions = {}
    for split in ("val", "test"):
        x, y = arrays[split]
        if len(x) == 0:
            metrics[split] = {}
            continue
        predictions[split] = _predict(model, x)
        metrics[split] = score(data.spec, data.labels, y, predictions[split], threshold=None if split == "val" else threshold)
        if split == "val":
            threshold = metrics["val"].get("threshold")
    with atomic_dir(out / "best", overwrite=True, owned=_owned_model_files) as tmp:
        model.save(tmp)
    test_rows = data.split("test")
    frame = pd.DataFrame({"index": test_rows.astype(np.int64)})
    for j, name in enumerate(data.labels.names):
        frame[f"target_{name}"] = arrays["test"][1][:, j] if len(test_rows) else []
        frame[f"pred_{name}"] = predictions["test"][:, j] if len(test_rows) else []
    tmp_parquet = out / ".test_predictions.parquet.tmp"
    frame.to_parquet(tmp_parquet, index=False)
    tmp_parquet.replace(out / "test_predictions.parquet")
    write_json(out / "run.json", _run_record(config, data, model, started, fit_seconds), default=str)
    monitor = data.spec.monitor.value
    best_score = metrics["val"].get(monitor)
    write_json(out / "metrics.json", {
        **metrics,
        "monitor": f"val/{monitor}",
        "best_checkpoint": None,
        "best_score": None if best_score is None else float(best_score),
        "best_model": f"best/: the fitted {config.model} (one model a label, fitted once on the training split)",
        "fit_seconds": round(fit_seconds, 3),
        "training_rows": [fit["rows"] for fit in model.fits],
        **({"test_per_label": per_label_scores(data.spec, data.labels, arrays["test"][1], predictions["test"])} if len(test_rows) else {}),
    }, default=str)
    return out


def _run_record(config: TrainConfig, data: TrainingData, model: Estimator, started: str, fit_seconds: float) -> dict[str, Any]:
    devices = sorted({str(fit.get("device", "cpu")) for fit in model.fits})
    return {
        "dnabench": __version__,
        "dnabench_path": package_path(),
        **library_versions(),
        "python": sys.version.split()[0],
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "model": config.model,
        "data": str(config.data),
        "data_description": data.description,
        "data_card_sha256": data.card_sha256,
        "input_length": data.input_length,
        "input": model.input,
        "task": task_record(data.spec, data.labels),
        "device": ",".join(devices),
        "fit_seconds": round(fit_seconds, 3),
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
        "command": sys.argv,
    }


# ----- evaluate and predict -----------------------------------------------------------------------


def open_estimator_run(run: str | os.PathLike) -> tuple[Path, TrainConfig, Estimator, dict[str, Any], dict[str, Any]]:
    run = Path(run)
    model_dir = run if is_estimator_dir(run) else run / "best"
    if model_dir == run and not (run / "config.yaml").is_file() and (run.parent / "config.yaml").is_file():
        run = run.parent
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run folder (no config.yaml); `dnabench train --out {run}` makes one")
    if not is_estimator_dir(model_dir):
        raise FileNotFoundError(f"{run}: the run has no best/ model (it did not finish); `dnabench train --resume {run}` completes it")
    read = lambda name: json.loads((run / name).read_text()) if (run / name).is_file() else {}  # noqa: E731
    return run, load_config(run / "config.yaml", {}), load_estimator(model_dir), read("run.json"), read("metrics.json")


def check_strand_option(model: Estimator, reverse_complement: bool) -> None:
    if reverse_complement and model.input == "features":
        raise ValueError(
            f"--reverse-complement: a {model.name} run predicts from features, not sequences; "
            "average the strands when the features are computed"
        )


def predict_estimator_codes(model: Estimator, codes: np.ndarray, reverse_complement: bool) -> np.ndarray:
    """Predictions of `model` in chunks; for kmer_lr with `reverse_complement`, averaged with those of
    the reverse complements (the canonical spectrum is the same on both strands, so the average
    equals either). Trees refuse `reverse_complement` (`check_strand_option`)."""
    preds = _predict(model, codes)
    if reverse_complement and model.input == "codes":
        from dnabench.alphabet import reverse_complement as flip

        preds = (preds + _predict(model, flip(codes))) / 2
    return preds


def row_names(data: TrainingData, rows: np.ndarray) -> pd.DataFrame:
    """`index` (the store row) and, where the features' store has them, the row's coordinates and split."""
    frame = pd.DataFrame({"index": rows})
    regions = getattr(getattr(data.source, "store", None), "regions", None)
    if isinstance(regions, pd.DataFrame):
        for column in ("chrom", "start", "end", "strand", "pos", "ref", "alt", "split"):
            if column in regions:
                frame[column] = regions[column].to_numpy()[rows]
    return frame
