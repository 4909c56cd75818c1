"""Non-neural models beside the neural registry: trees on backbone features, and a k-mer baseline.

    random_forest  scikit-learn RandomForestClassifier (CausalSNP, paper A.5), one per label
    xgboost        XGBoost XGBRegressor (MPRAProm, paper A.6), XGBClassifier for 0/1 labels, one per label
    kmer_lr        canonical k-mer spectrum of the codes + LogisticRegression (Ridge for values), one per label

One model per label because CausalSNP's labels are masked: each tissue's model is fitted on the
rows where that tissue has a label (not NaN), and on no other. Trees read float features [N, D]
(`dnabench features`: a backbone's representations, [ref; alt] for pairs); kmer_lr reads uint8
codes [N, L] of window stores and sequence tables.

A saved model is a folder: `config.json` ({"model", "config", "label_names", "input",
"input_shape", "dnabench", ...}) and one file a label in the library's own format: XGBoost's
`save_model` (.ubj), scikit-learn estimators through `skops.io` (.skops), which is not a pickle:
loading lists the types the file would build and refuses any outside scikit-learn and NumPy.
scikit-learn, XGBoost and skops are imported inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, Optional, Union

import numpy as np

from dnabench.alphabet import NUM_BASES

__all__ = [
    "ESTIMATORS",
    "ESTIMATOR_FORMAT",
    "Estimator",
    "KmerLRConfig",
    "RandomForestConfig",
    "XGBoostConfig",
    "build_estimator",
    "canonical_kmer_columns",
    "estimator_config",
    "estimator_config_dict",
    "is_estimator",
    "is_estimator_dir",
    "kmer_spectrum",
    "library_versions",
    "load_estimator",
]

ESTIMATOR_FORMAT = "dnabench-estimator"
CONFIG_FILE = "config.json"
#: module prefixes of the types a .skops file may build
TRUSTED_PREFIXES = ("sklearn.", "numpy.")


@dataclass
class RandomForestConfig:
    """scikit-learn RandomForestClassifier (RandomForestRegressor for values): 500 trees, leaves of
    one sample, sqrt(D) features a split, classes weighted to balance (CausalSNP: 2 negatives a
    positive), every core (n_jobs -1)."""

    n_estimators: int = 500
    min_samples_leaf: int = 1
    #: "sqrt", "log2", a fraction of the features (a float in (0, 1]) or a count (a whole number)
    max_features: Union[str, float, int] = "sqrt"
    max_depth: Optional[int] = None
    #: "balanced" or none (classification only)
    class_weight: Optional[str] = "balanced"
    n_jobs: int = -1
    seed: int = 0


@dataclass
class XGBoostConfig:
    """XGBoost XGBRegressor (reg:squarederror; XGBClassifier with logloss for 0/1 labels),
    stopped early on the validation split after `early_stopping_rounds` rounds without gain."""

    n_estimators: int = 500
    max_depth: int = 6
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    #: boosting rounds without improvement on the validation split before stopping (0: never stop)
    early_stopping_rounds: int = 20
    #: auto: cuda when a GPU is present and this XGBoost was built with CUDA, else cpu
    device: Literal["auto", "cpu", "cuda"] = "auto"
    n_jobs: int = -1
    seed: int = 0


@dataclass
class KmerLRConfig:
    """Canonical k-mer frequencies of each sequence, standardised, into LogisticRegression (Ridge
    for values). Labels are fitted `n_jobs` at a time."""

    k: int = 6
    #: inverse regularisation strength of the logistic regression; None: the value of `C_GRID`
    #: with the best validation AUROC (refitted on the training rows), or `FALLBACK_C` when the
    #: data has no validation rows. 2,080 standardised 6-mer columns outnumber what a few thousand
    #: rows can fit, so the grid reaches strong regularisation.
    C: Optional[float] = None
    max_iter: int = 1000
    #: "balanced" or none (classification only)
    class_weight: Optional[str] = "balanced"
    #: Ridge's regularisation strength (regression labels)
    alpha: float = 1.0
    n_jobs: int = 1
    seed: int = 0


# ----- configs ------------------------------------------------------------------------------------


def _number(name: str, value: Any, kind: type) -> Any:
    """`value` as an int or float, accepting numbers written as text (YAML reads 1e-3 as a string)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if kind is int:
        if not number.is_integer():
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


def _optional_text(name: str, value: Any, allowed: tuple[str, ...]) -> Optional[str]:
    if value is None or str(value).strip().lower() in ("none", "null", ""):
        return None
    text = str(value).strip().lower()
    if text not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)} or none, got {value!r}")
    return text


def _check(name: str, config: Any) -> Any:
    """Types coerced and ranges checked; ValueError naming the option."""
    values = dataclasses.asdict(config)
    for key in ("n_estimators", "max_iter", "k"):
        if key in values:
            values[key] = _number(key, values[key], int)
            if values[key] < 1:
                raise ValueError(f"{key} must be >= 1, got {values[key]}")
    for key in ("min_samples_leaf", "max_depth", "early_stopping_rounds", "n_jobs", "seed"):
        if key in values and values[key] is not None:
            values[key] = _number(key, values[key], int)
    if values.get("C") is not None and str(values["C"]).strip().lower() in ("none", "null", "auto", ""):
        values["C"] = None  # chosen on the validation split
    for key in ("learning_rate", "subsample", "colsample_bytree", "C", "alpha"):
        if key in values and not (key == "C" and values[key] is None):
            values[key] = _number(key, values[key], float)
            if not values[key] > 0 or (key in ("subsample", "colsample_bytree") and values[key] > 1):
                raise ValueError(f"{key} must be {'in (0, 1]' if key in ('subsample', 'colsample_bytree') else '> 0'}, got {values[key]}")
    if values.get("min_samples_leaf", 1) < 1 or (values.get("max_depth") is not None and values["max_depth"] < 1):
        raise ValueError(f"min_samples_leaf and max_depth must be >= 1, got {values.get('min_samples_leaf')}, {values.get('max_depth')}")
    if values.get("early_stopping_rounds", 0) < 0:
        raise ValueError(f"early_stopping_rounds must be >= 0, got {values['early_stopping_rounds']}")
    if values.get("n_jobs") == 0:
        raise ValueError("n_jobs must be >= 1, or -1 for every core; got 0")
    if "class_weight" in values:
        values["class_weight"] = _optional_text("class_weight", values["class_weight"], ("balanced",))
    if "device" in values:
        device = str(values["device"]).strip().lower()
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {values['device']!r}")
        values["device"] = device
    if "max_features" in values:
        values["max_features"] = _max_features(values["max_features"])
    if "k" in values and values["k"] > 12:
        raise ValueError(f"k must be <= 12 (4^k columns), got {values['k']}")
    return type(config)(**values)


def _max_features(value: Any) -> Union[str, float, int]:
    """sqrt / log2, a fraction of the features (a float in (0, 1]) or a count (a whole number >= 1)."""
    if isinstance(value, str) and value.strip().lower() in ("sqrt", "log2"):
        return value.strip().lower()
    if isinstance(value, str):
        value = _number("max_features", value, float)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1:
        return int(value)
    if isinstance(value, float) and 0 < value <= 1:
        return value
    if isinstance(value, float) and value > 1 and value.is_integer():
        return int(value)
    raise ValueError(f"max_features must be sqrt, log2, a fraction in (0, 1] or a count >= 1, got {value!r}")


def estimator_config(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The config dataclass of estimator `name` from `options`; unknown keys or bad values are a
    ValueError listing the known ones."""
    cls = _model_class(name).config_class
    options = dict(options or {})
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"model {name!r}: unknown option(s) {unknown}; known: {known}")
    return _check(name, cls(**options))


def estimator_config_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


# ----- k-mer spectrum -----------------------------------------------------------------------------


def canonical_kmer_columns(k: int) -> tuple[np.ndarray, int]:
    """(column of every k-mer index [4^k], number of columns): a k-mer and its reverse complement
    share one column, numbered in the order of their smaller index."""
    n = NUM_BASES**k
    index = np.arange(n, dtype=np.int64)
    rc = np.zeros(n, dtype=np.int64)
    rest = index.copy()
    for _ in range(k):  # read digits from the last base, complement each (3 - c): the reverse complement
        rc = rc * NUM_BASES + (NUM_BASES - 1 - rest % NUM_BASES)
        rest //= NUM_BASES
    canonical = np.minimum(index, rc)
    kept, column = np.unique(canonical, return_inverse=True)
    return column.astype(np.int64), int(kept.size)


def kmer_spectrum(codes: np.ndarray, k: int, chunk_rows: int = 4096) -> np.ndarray:
    """float32 [N, columns]: each row's canonical k-mer counts divided by its number of k-mers.

    Vectorised over the whole [N, L] block (k shifted adds, one bincount a chunk of rows); k-mers
    holding an N (or any code >= 4) are skipped; a row with no k-mer is all zeros. A sequence and
    its reverse complement get the same row (each k-mer folds onto its canonical form, so counting
    both strands would only double every count).
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise ValueError(f"kmer_spectrum expects uint8 codes [N, L], got {codes.dtype} {codes.shape}")
    column, width = canonical_kmer_columns(k)
    n, length = codes.shape
    out = np.zeros((n, width), dtype=np.float32)
    positions = length - k + 1
    if positions <= 0 or n == 0:
        return out
    for start in range(0, n, chunk_rows):
        block = codes[start : start + chunk_rows].astype(np.int64)
        rows = block.shape[0]
        index = np.zeros((rows, positions), dtype=np.int64)
        bad = np.zeros((rows, positions), dtype=bool)
        for j in range(k):
            part = block[:, j : j + positions]
            bad |= part >= NUM_BASES
            index = index * NUM_BASES + np.minimum(part, NUM_BASES - 1)
        row = np.broadcast_to(np.arange(rows, dtype=np.int64)[:, None], index.shape)[~bad]
        counts = np.bincount(row * width + column[index[~bad]], minlength=rows * width).reshape(rows, width)
        total = counts.sum(axis=1, keepdims=True)
        out[start : start + rows] = counts / np.maximum(total, 1)
    return out


# ----- the models ---------------------------------------------------------------------------------


def library_versions() -> dict[str, str]:
    versions = {}
    for module in ("sklearn", "xgboost", "skops"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            pass
    return versions


def _skops():
    try:
        import skops.io as sio
    except ImportError:
        raise ImportError("saving and loading scikit-learn models needs skops (a dnabench dependency): pip install 'skops>=0.10'") from None
    return sio


def _dump_sklearn(model: Any, path: Path) -> None:
    _skops().dump(model, path)


def _load_sklearn(path: Path) -> Any:
    """A .skops file, trusting exactly the scikit-learn / NumPy types it lists and nothing else."""
    sio = _skops()
    types = sio.get_untrusted_types(file=path)
    refused = [t for t in types if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise ValueError(f"{path}: holds types outside scikit-learn and NumPy ({', '.join(refused[:5])}); not loaded")
    return sio.load(path, trusted=types)


class Estimator:
    """One model a label, fitted on that label's rows; `predict` gives probabilities or values [N, K]."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = object
    #: what the model reads: backbone features (float [N, D]) or sequence codes (uint8 [N, L])
    input: ClassVar[str] = "features"
    suffix: ClassVar[str] = ".skops"

    def __init__(self, config: Any, label_names: list[str] | tuple[str, ...], regression: bool) -> None:
        if not isinstance(config, self.config_class):
            raise TypeError(f"{self.name} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.label_names = [str(n) for n in label_names]
        self.regression = bool(regression)
        #: per label: the fitted library model, or None where the label is a constant
        self.models: list[Any] = []
        #: per label: {"rows": training rows, "constant": value or None, ...}
        self.fits: list[dict[str, Any]] = []
        self.input_shape: list[int] = []

    # ----- what subclasses provide

    def transform(self, x: np.ndarray) -> np.ndarray:
        """The matrix the library model reads (the input itself for trees)."""
        return x

    def _new(self) -> Any:
        raise NotImplementedError

    def _fit_one(self, model: Any, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None) -> dict[str, Any]:
        model.fit(x, y)
        return {}

    def _predict_one(self, model: Any, x: np.ndarray) -> np.ndarray:
        if self.regression:
            return model.predict(x)
        return model.predict_proba(x)[:, list(model.classes_).index(1)]

    def _save_one(self, model: Any, path: Path) -> None:
        _dump_sklearn(model, path)

    def _load_one(self, path: Path) -> Any:
        return _load_sklearn(path)

    # ----- shared

    def check_input(self, x: np.ndarray, where: str = "input") -> np.ndarray:
        x = np.asarray(x)
        if self.input == "codes":
            if x.dtype != np.uint8 or x.ndim != 2:
                raise ValueError(
                    f"{where}: {self.name} reads uint8 sequence codes [N, L] (a window store or a sequence table), "
                    f"got {x.dtype} of shape {x.shape}"
                )
            return x
        if x.ndim != 2 or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)) or x.dtype == np.uint8:
            raise ValueError(
                f"{where}: {self.name} reads backbone features [N, D] (`dnabench features RUN --data STORE --out DIR`, then "
                f"--data DIR), got {x.dtype} of shape {x.shape}"
            )
        if self.input_shape and list(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{where}: features of width {x.shape[1]}; this {self.name} model was fitted on width {self.input_shape[0]}")
        return x

    def _targets(self, y: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows with a label, their targets) of label j: NaN (masked) rows left out."""
        column = np.asarray(y, dtype=np.float64)[:, j]
        rows = np.flatnonzero(np.isfinite(column))
        values = column[rows]
        if not self.regression:
            if not np.isin(values, (0.0, 1.0)).all():
                raise ValueError(f"label {self.label_names[j]!r}: a classifier needs 0/1 targets, got {np.unique(values)[:5]}")
            values = values.astype(np.int64)
        return rows, values

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> Estimator:
        """Fit one model a label on the rows where it is set; `x_val`/`y_val` only steer early stopping."""
        x = self.check_input(x, "training input")
        y = np.asarray(y, dtype=np.float32).reshape(len(x), -1)
        if y.shape[1] != len(self.label_names):
            raise ValueError(f"{y.shape[1]} label columns for {len(self.label_names)} label names")
        self.input_shape = list(x.shape[1:]) if self.input == "features" else []
        features = self.transform(x)
        val_features = self.transform(self.check_input(x_val, "validation input")) if x_val is not None and len(x_val) else None
        self.models, self.fits = [], []
        for j, label in enumerate(self.label_names):
            rows, values = self._targets(y, j)
            if rows.size == 0:
                raise ValueError(f"label {label!r} has no training row with a value (all NaN); it cannot be fitted")
            fit: dict[str, Any] = {"rows": int(rows.size), "constant": None}
            if not self.regression and np.unique(values).size < 2:
                fit["constant"] = float(values[0])
                warnings.warn(f"label {label!r}: every training row is {int(values[0])}; it is predicted as that constant", stacklevel=2)
                self.models.append(None)
                self.fits.append(fit)
                continue
            val = None
            if val_features is not None and y_val is not None:
                val_rows, val_values = self._targets(np.asarray(y_val, dtype=np.float32).reshape(len(val_features), -1), j)
                if val_rows.size and (self.regression or np.unique(val_values).size == 2):
                    val = (val_features[val_rows], val_values)
            model = self._new()
            fit.update(self._fit_one(model, features[rows], values, *(val or (None, None))))
            self.models.append(model)
            self.fits.append(fit)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """float32 [N, K]: probabilities of 1 (classification) or values (regression)."""
        if not self.fits:
            raise ValueError(f"this {self.name} model is not fitted")
        features = self.transform(self.check_input(x))
        out = np.empty((len(features), len(self.label_names)), dtype=np.float32)
        for j, (model, fit) in enumerate(zip(self.models, self.fits)):
            out[:, j] = fit["constant"] if model is None else self._predict_one(model, features)
        return out

    def save(self, directory: str | os.PathLike) -> Path:
        """Write config.json and one model file a label into `directory` (created)."""
        from dnabench import __version__

        if not self.fits:
            raise ValueError(f"this {self.name} model is not fitted; nothing to save")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        labels = []
        for j, (model, fit) in enumerate(zip(self.models, self.fits)):
            entry = {"label": self.label_names[j], **fit, "file": None}
            if model is not None:
                entry["file"] = f"label_{j:04d}{self.suffix}"
                self._save_one(model, directory / entry["file"])
            labels.append(entry)
        meta = {
            "format": ESTIMATOR_FORMAT,
            "format_version": 1,
            "model": self.name,
            "config": estimator_config_dict(self.config),
            "label_names": self.label_names,
            "task": "regression" if self.regression else "classification",
            "input": self.input,
            "input_shape": self.input_shape,
            "labels": labels,
            "dnabench": __version__,
            "libraries": library_versions(),
        }
        (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=1) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Estimator:
        directory = Path(directory)
        meta = read_estimator_config(directory)
        model = _model_class(meta["model"])(
            estimator_config(meta["model"], meta["config"]), meta["label_names"], meta["task"] == "regression"
        )
        model.input_shape = list(meta.get("input_shape") or [])
        for entry in meta["labels"]:
            fit = {k: v for k, v in entry.items() if k not in ("label", "file")}
            if entry["file"] is None:
                model.models.append(None)
            else:
                path = directory / entry["file"]
                if not path.is_file():
                    raise FileNotFoundError(f"{path}: missing (listed in {directory / CONFIG_FILE})")
                model.models.append(model._load_one(path))
            model.fits.append(fit)
        return model


class RandomForest(Estimator):
    name = "random_forest"
    config_class = RandomForestConfig

    def _new(self) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        c = self.config
        common = dict(n_estimators=c.n_estimators, min_samples_leaf=c.min_samples_leaf, max_features=c.max_features,
                      max_depth=c.max_depth, n_jobs=c.n_jobs, random_state=c.seed)
        if self.regression:
            return RandomForestRegressor(**common)
        return RandomForestClassifier(class_weight=c.class_weight, **common)


def _xgboost_device(requested: str) -> str:
    import xgboost

    built = bool(xgboost.build_info().get("USE_CUDA"))
    try:
        import torch

        present = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        present = False
    if requested == "cuda" and not (built and present):
        raise ValueError("xgboost device cuda: " + ("no CUDA GPU is visible" if built else "this XGBoost was built without CUDA"))
    if requested == "auto":
        return "cuda" if built and present else "cpu"
    return requested


class XGBoost(Estimator):
    name = "xgboost"
    config_class = XGBoostConfig
    suffix = ".ubj"

    def _new(self) -> Any:
        import xgboost

        c = self.config
        params = dict(n_estimators=c.n_estimators, max_depth=c.max_depth, learning_rate=c.learning_rate, subsample=c.subsample,
                      colsample_bytree=c.colsample_bytree, n_jobs=c.n_jobs, random_state=c.seed, device=_xgboost_device(c.device))
        if self.regression:
            return xgboost.XGBRegressor(objective="reg:squarederror", **params)
        return xgboost.XGBClassifier(objective="binary:logistic", eval_metric="logloss", **params)

    def _fit_one(self, model: Any, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None) -> dict[str, Any]:
        device = model.get_params()["device"]
        early = x_val is not None and self.config.early_stopping_rounds > 0
        model.set_params(early_stopping_rounds=self.config.early_stopping_rounds if early else None)
        model.fit(x, y, eval_set=[(x_val, y_val)] if early else None, verbose=False)
        model.set_params(device="cpu")  # predictions on the host: the same numbers before and after save
        out: dict[str, Any] = {"device": device, "rounds": int(model.get_booster().num_boosted_rounds())}
        if early:
            out["best_iteration"] = int(model.best_iteration)
        return out

    def _save_one(self, model: Any, path: Path) -> None:
        model.save_model(path)

    def _load_one(self, path: Path) -> Any:
        import xgboost

        model = xgboost.XGBRegressor() if self.regression else xgboost.XGBClassifier()
        model.load_model(path)
        model.set_params(device="cpu")
        return model

    def _predict_one(self, model: Any, x: np.ndarray) -> np.ndarray:
        return model.predict(x) if self.regression else model.predict_proba(x)[:, 1]


#: the C values a kmer_lr without a given C tries on the validation split, and its C without one
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
FALLBACK_C = 1e-3


class KmerLR(Estimator):
    name = "kmer_lr"
    config_class = KmerLRConfig
    input = "codes"

    def _fit_one(self, model: Any, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None, y_val: np.ndarray | None) -> dict[str, Any]:
        """Classification without a given C: the grid's best C by validation AUROC (train rows only fit)."""
        if self.regression or self.config.C is not None:
            model.fit(x, y)
            return {}
        if x_val is None or y_val is None:
            model.set_params(logisticregression__C=FALLBACK_C).fit(x, y)
            return {"C": FALLBACK_C, "C_chosen_by": "no validation rows: the fallback"}
        from sklearn.metrics import roc_auc_score

        scores = {}
        for c in C_GRID:
            model.set_params(logisticregression__C=c).fit(x, y)
            scores[c] = float(roc_auc_score(y_val, self._predict_one(model, x_val)))
        best = max(C_GRID, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
        model.set_params(logisticregression__C=best).fit(x, y)
        return {"C": best, "C_chosen_by": "validation AUROC", "val_auroc_by_C": {str(c): v for c, v in scores.items()}}

    def transform(self, x: np.ndarray) -> np.ndarray:
        return kmer_spectrum(x, self.config.k)

    def _new(self) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        c = self.config
        if self.regression:
            return make_pipeline(StandardScaler(), Ridge(alpha=c.alpha))
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=c.C if c.C is not None else FALLBACK_C, max_iter=c.max_iter,
                                                 class_weight=c.class_weight, random_state=c.seed)
        )

    def fit(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None) -> Estimator:
        if self.config.n_jobs == 1 or len(self.label_names) == 1:
            return super().fit(x, y, x_val, y_val)
        from joblib import Parallel, delayed

        # each label is its own one-label fit; the spectrum is computed once and shared by threads
        features = self.transform(self.check_input(x, "training input"))
        y = np.asarray(y, dtype=np.float32).reshape(len(x), -1)
        parts = Parallel(n_jobs=self.config.n_jobs, prefer="threads")(
            delayed(_fit_label)(self, features, y[:, j : j + 1], label) for j, label in enumerate(self.label_names)
        )
        self.models = [p.models[0] for p in parts]
        self.fits = [p.fits[0] for p in parts]
        return self


class _Precomputed(KmerLR):
    """A kmer_lr whose input is already the spectrum (one label of a parallel fit)."""

    input = "features"

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x


def _fit_label(parent: KmerLR, features: np.ndarray, y: np.ndarray, label: str) -> Estimator:
    return _Precomputed(parent.config, [label], parent.regression).fit(features, y)


ESTIMATORS: dict[str, type[Estimator]] = {cls.name: cls for cls in (RandomForest, XGBoost, KmerLR)}


def is_estimator(name: str) -> bool:
    return name in ESTIMATORS


def _model_class(name: str) -> type[Estimator]:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; choose one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]


def build_estimator(name: str, config: Any, label_names: list[str] | tuple[str, ...], regression: bool) -> Estimator:
    """An unfitted estimator; `config` is its config dataclass or a mapping of options."""
    if not dataclasses.is_dataclass(config):
        config = estimator_config(name, config)
    return _model_class(name)(config, label_names, regression)


def read_estimator_config(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {directory}: not a saved dnabench model")
    meta = json.loads(path.read_text())
    if meta.get("format") != ESTIMATOR_FORMAT:
        raise ValueError(f"{path}: not a saved estimator (format {meta.get('format')!r})")
    if meta.get("format_version") != 1:
        raise ValueError(f"{path}: estimator format version {meta.get('format_version')!r}; this dnabench reads version 1")
    return meta


def is_estimator_dir(directory: str | os.PathLike) -> bool:
    """Whether `directory` holds a saved estimator (its config.json says so)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("format") == ESTIMATOR_FORMAT
    except (ValueError, OSError, AttributeError):
        return False


def load_estimator(directory: str | os.PathLike) -> Estimator:
    """The estimator saved in `directory`, predicting exactly what it predicted before it was saved."""
    return Estimator.load(directory)
