"""The experiment config: one YAML file = one table of the paper (tasks x models x grid axes x seeds).

A config names the tasks (each read from a store under ``--stores``), the models with their
options, the grid axes whose values change a run (position encodings, tokenizers, mask rates,
initialisations, training fractions), the seeds, the runs that others depend on (MLM
pretraining, BPE tokenizer training, Track7878 backbones) and the table layout. ``scales``
holds partial configs merged over the rest (``small``: minutes on a CPU; ``full``: the paper's
settings), so one file serves both. Every mapping is checked: an unknown key is a ValueError
that names the file and the key's path.

Training options of a run, later ones on top: ``train`` (the config's), the task's ``train``,
the model's ``train``, then each axis value's ``train``.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import yaml

__all__ = [
    "SCALES",
    "METRIC_LABELS",
    "Axis",
    "AxisValue",
    "Dependency",
    "ExperimentConfig",
    "FitEntry",
    "Layout",
    "ModelEntry",
    "TaskEntry",
    "config_path",
    "deep_merge",
    "load_experiment",
    "metric_label",
    "shipped_configs",
]

SCALES = ("small", "full")
#: metric keys of a run's metrics.json and how tables name them
METRIC_LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "spearman": "Spearman", "pearson": "Pearson", "mse": "MSE", "f1": "F1", "mcc": "MCC"}
_METRIC = re.compile(r"^(auroc|auprc)(_[a-z0-9]+)?$|^(spearman|pearson|mse|f1|mcc)$")
DEPENDENCY_KINDS = ("pretrain", "tokenizer", "train")
#: dimensions a layout may place in rows or columns besides the grid axes
FIXED_DIMS = ("task", "model", "metric")


def metric_label(metric: str) -> str:
    """`auroc` -> AUROC, `auprc_tf` -> AUPRC (TF)."""
    base, _, group = metric.partition("_")
    label = METRIC_LABELS.get(base, metric)
    return f"{label} ({group.upper() if len(group) <= 3 else group})" if group else label


def deep_merge(base: Any, over: Any) -> Any:
    """`over` laid on `base`: mappings merge key by key, anything else (lists, numbers) is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _at(where: str, key: str) -> str:
    """The key path `key` inside `where` (`table1.yaml: tasks.promvary.metrics`)."""
    return f"{where}.{key}" if ": " in where else f"{where}: {key}"


class _Reader:
    """Checks one YAML mapping: known keys only, types, with the file and key path in every message."""

    def __init__(self, raw: Any, where: str, known: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected a mapping, got {raw!r}")
        unknown = sorted(str(k) for k in set(raw) - set(known))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        missing = [k for k in required if k not in raw]
        if missing:
            raise ValueError(f"{where}: missing key(s) {missing}")
        self.raw, self.where = raw, where

    def has(self, key: str) -> bool:
        return key in self.raw

    def text(self, key: str, default: Optional[str] = None) -> Optional[str]:
        value = self.raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{_at(self.where, key)}: expected text, got {value!r}")
        return str(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.raw.get(key) or {}
        if not isinstance(value, dict):
            raise ValueError(f"{_at(self.where, key)}: expected a mapping, got {value!r}")
        return dict(value)

    def texts(self, key: str) -> list[str]:
        value = self.raw.get(key) or []
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or any(isinstance(v, (bool, dict, list)) or v is None for v in value):
            raise ValueError(f"{_at(self.where, key)}: expected a list of names, got {value!r}")
        return [str(v) for v in value]

    def integer(self, key: str, default: Optional[int] = None) -> Optional[int]:
        value = self.raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ValueError(f"{_at(self.where, key)}: expected a whole number, got {value!r}")
        return int(value)


def _train_keys() -> tuple[str, ...]:
    from dnabench.training.config import TrainConfig

    return tuple(f.name for f in dataclasses.fields(TrainConfig))


#: TrainConfig keys that the runner sets itself for every run
_RUNNER_TRAIN_KEYS = ("data", "out", "model", "model_options", "init", "tokenizer_path", "seed")


def _train_options(reader: _Reader, key: str = "train") -> dict[str, Any]:
    """A mapping of TrainConfig options; keys the runner owns (data, out, seed, ...) are refused."""
    options = reader.mapping(key)
    known = set(_train_keys()) - set(_RUNNER_TRAIN_KEYS)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"{_at(reader.where, key)}: unknown training option(s) {unknown}; known: {sorted(known)}")
    return options


def _check_metric(metric: str, where: str) -> str:
    if not _METRIC.match(metric):
        raise ValueError(f"{where}: unknown metric {metric!r}; use auroc, auprc (or auroc_GROUP, auprc_GROUP), spearman, pearson, mse, f1, mcc")
    return metric


@dataclass
class FitEntry:
    """The model fit on backbone features (GeneExp, CausalSNP, MPRAProm)."""

    model: str
    model_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    #: options of `extract_features` (batch_size, reverse_complement, pair, dtype, bf16)
    features: dict[str, Any] = field(default_factory=dict)

    FEATURE_KEYS = ("batch_size", "reverse_complement", "pair", "dtype", "bf16")

    @classmethod
    def read(cls, raw: Any, where: str) -> FitEntry:
        r = _Reader(raw, where, ("model", "model_options", "train", "features"), required=("model",))
        features = r.mapping("features")
        unknown = sorted(set(features) - set(cls.FEATURE_KEYS))
        if unknown:
            raise ValueError(f"{_at(where, 'features')}: unknown key(s) {unknown}; known: {sorted(cls.FEATURE_KEYS)}")
        return cls(r.text("model") or "", r.mapping("model_options"), _train_options(r), features)


@dataclass
class TaskEntry:
    """A task of the table: its store, how the paper names it, the metrics shown."""

    key: str
    store: str
    label: str
    metrics: list[str]
    train: dict[str, Any] = field(default_factory=dict)
    #: training rows and input bases, for the cost estimate where the store's card is not at hand
    rows: Optional[int] = None
    length: Optional[int] = None
    #: a task key (or a `train` dependency): this task is fit on features of that run of the same model
    backbone: Optional[str] = None
    fit: Optional[FitEntry] = None

    @classmethod
    def read(cls, key: str, raw: Any, where: str) -> TaskEntry:
        r = _Reader(raw, where, ("store", "label", "metrics", "train", "rows", "length", "backbone", "fit"), required=("metrics",))
        metrics = [_check_metric(m, _at(where, "metrics")) for m in r.texts("metrics")]
        if not metrics:
            raise ValueError(f"{_at(where, 'metrics')}: name at least one metric")
        backbone = r.text("backbone")
        fit = FitEntry.read(r.raw["fit"], _at(where, "fit")) if r.has("fit") else None
        if (backbone is None) != (fit is None):
            raise ValueError(f"{where}: a task on backbone features needs both backbone and fit; got only {'backbone' if backbone else 'fit'}")
        return cls(key, r.text("store", key) or key, r.text("label", key) or key, metrics, _train_options(r),
                   r.integer("rows"), r.integer("length"), backbone, fit)


@dataclass
class ModelEntry:
    key: str
    model: str
    label: str
    model_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    #: a dependency whose result initialises this model (a pretraining run, a Track7878 run)
    init: Optional[str] = None
    #: a tokenizer dependency (BPE)
    tokenizer: Optional[str] = None

    @classmethod
    def read(cls, key: str, raw: Any, where: str) -> ModelEntry:
        r = _Reader(raw, where, ("model", "label", "model_options", "train", "init", "tokenizer"))
        return cls(key, r.text("model", key) or key, r.text("label", key) or key, r.mapping("model_options"), _train_options(r),
                   r.text("init"), r.text("tokenizer"))


@dataclass
class AxisValue:
    """What one value of a grid axis changes in a run."""

    key: str
    label: str
    model_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    #: overrides of the pretraining dependency the run starts from (e.g. mask_rate)
    pretrain: dict[str, Any] = field(default_factory=dict)
    #: replaces the model's init when `sets_init` (None: random weights)
    init: Optional[str] = None
    sets_init: bool = False
    tokenizer: Optional[str] = None

    @classmethod
    def read(cls, key: str, raw: Any, where: str) -> AxisValue:
        r = _Reader(raw, where, ("label", "model_options", "train", "pretrain", "init", "tokenizer"))
        return cls(key, r.text("label", key) or key, r.mapping("model_options"), _train_options(r), r.mapping("pretrain"),
                   r.text("init"), r.has("init"), r.text("tokenizer"))

    def shapes_model(self) -> bool:
        """Whether this value changes the network a dependency must match (its options, tokenizer or pretraining)."""
        return bool(self.model_options or self.pretrain or self.tokenizer)


@dataclass
class Axis:
    key: str
    label: str
    values: dict[str, AxisValue]

    @classmethod
    def read(cls, key: str, raw: Any, where: str) -> Axis:
        r = _Reader(raw, where, ("label", "values", "select"), required=("values",))
        values_raw = r.raw["values"]
        if isinstance(values_raw, list):  # a plain list of values that change nothing but the label
            values_raw = {str(v): {} for v in values_raw}
        if not isinstance(values_raw, dict) or not values_raw:
            raise ValueError(f"{_at(where, 'values')}: expected a non-empty mapping of value: settings")
        values = {str(k): AxisValue.read(str(k), v, _at(where, f"values.{k}")) for k, v in values_raw.items()}
        if r.has("select"):  # a subset of the values, in this order (a small scale runs fewer)
            chosen = r.texts("select")
            unknown = [v for v in chosen if v not in values]
            if unknown or not chosen:
                raise ValueError(f"{_at(where, 'select')}: {unknown or 'nothing'} not among the values {list(values)}")
            values = {v: values[v] for v in chosen}
        return cls(key, r.text("label", key) or key, values)


@dataclass
class Dependency:
    """A run others start from: MLM pretraining, a BPE tokenizer, or a supervised run (Track7878)."""

    key: str
    kind: str
    #: pretrain / tokenizer: a genome cache (a name under --stores, or a path)
    genome: Optional[str] = None
    #: pretrain: tables or FASTA files (names under --stores, or paths)
    data: list[str] = field(default_factory=list)
    #: train: the store it trains on
    store: Optional[str] = None
    #: train: the models key whose model it trains (default: the model of the run that uses it)
    model: Optional[str] = None
    #: PretrainConfig options (pretrain), TrainConfig options (train), BPE options (tokenizer)
    options: dict[str, Any] = field(default_factory=dict)
    #: "first": one run with the first seed for every run that uses it; "each": one per seed
    seeds: str = "first"
    label: str = ""
    rows: Optional[int] = None
    length: Optional[int] = None

    TOKENIZER_KEYS = ("vocab_size", "sample_mbp", "chunk", "seed")

    @classmethod
    def read(cls, key: str, raw: Any, where: str) -> Dependency:
        r = _Reader(raw, where, ("kind", "genome", "data", "store", "model", "options", "seeds", "label", "rows", "length"), required=("kind",))
        kind = r.text("kind") or ""
        if kind not in DEPENDENCY_KINDS:
            raise ValueError(f"{_at(where, 'kind')}: {kind!r}; use one of {', '.join(DEPENDENCY_KINDS)}")
        seeds = r.text("seeds", "first") or "first"
        if seeds not in ("first", "each"):
            raise ValueError(f"{_at(where, 'seeds')}: {seeds!r}; use first or each")
        dep = cls(key, kind, r.text("genome"), r.texts("data"), r.text("store"), r.text("model"), r.mapping("options"), seeds,
                  r.text("label", key) or key, r.integer("rows"), r.integer("length"))
        if kind == "tokenizer":
            unknown = sorted(set(dep.options) - set(cls.TOKENIZER_KEYS))
            if unknown:
                raise ValueError(f"{_at(where, 'options')}: unknown key(s) {unknown}; known: {sorted(cls.TOKENIZER_KEYS)}")
            if not dep.genome:
                raise ValueError(f"{where}: a tokenizer dependency needs genome")
        elif kind == "pretrain" and not (dep.genome or dep.data):
            raise ValueError(f"{where}: a pretrain dependency needs genome or data")
        elif kind == "train":
            if not dep.store:
                raise ValueError(f"{where}: a train dependency needs store")
            known = set(_train_keys()) - set(_RUNNER_TRAIN_KEYS)
            unknown = sorted(set(dep.options) - known)
            if unknown:
                raise ValueError(f"{_at(where, 'options')}: unknown training option(s) {unknown}; known: {sorted(known)}")
        return dep


@dataclass
class Layout:
    """Which dimensions (task, model, metric, grid axes) make the rows and the columns, and which
    one is compared to mark the best cell (among cells that differ only in it)."""

    rows: list[str]
    columns: list[str]
    best: Optional[str] = None

    @classmethod
    def read(cls, raw: Any, where: str) -> Layout:
        r = _Reader(raw, where, ("rows", "columns", "best"), required=("rows",))
        return cls(r.texts("rows"), r.texts("columns"), r.text("best"))


@dataclass
class ExperimentConfig:
    name: str
    title: str
    #: the paper's table it reproduces
    table: str
    tasks: dict[str, TaskEntry]
    models: dict[str, ModelEntry]
    grid: dict[str, Axis]
    seeds: list[int]
    layout: Layout
    train: dict[str, Any] = field(default_factory=dict)
    dependencies: dict[str, Dependency] = field(default_factory=dict)
    description: str = ""
    #: samples a second of a model kind (overrides plan.RATES), for the cost estimate
    rates: dict[str, float] = field(default_factory=dict)
    scale: str = "small"
    path: str = ""

    TOP = ("name", "title", "table", "description", "tasks", "models", "grid", "seeds", "train", "dependencies", "layout", "scales", "rates")

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str, scale: str = "small") -> ExperimentConfig:
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        r = _Reader(raw, where, cls.TOP, required=("name", "tasks", "models", "layout"))
        scales = r.mapping("scales")
        unknown = sorted(set(scales) - set(SCALES))
        if unknown:
            raise ValueError(f"{_at(where, 'scales')}: unknown scale(s) {unknown}; known: {list(SCALES)}")
        over = scales.get(scale) or {}
        if not isinstance(over, dict):
            raise ValueError(f"{_at(where, f'scales.{scale}')}: expected a partial config (a mapping)")
        bad = sorted(set(over) - (set(cls.TOP) - {"scales", "name"}))
        if bad:
            raise ValueError(f"{_at(where, f'scales.{scale}')}: unknown key(s) {bad}")
        merged = deep_merge({k: v for k, v in raw.items() if k != "scales"}, over)
        return cls._typed(merged, where, scale)

    @classmethod
    def _typed(cls, raw: dict[str, Any], where: str, scale: str) -> ExperimentConfig:
        r = _Reader(raw, where, cls.TOP)
        tasks = {str(k): TaskEntry.read(str(k), v, _at(where, f"tasks.{k}")) for k, v in r.mapping("tasks").items()}
        models = {str(k): ModelEntry.read(str(k), v, _at(where, f"models.{k}")) for k, v in r.mapping("models").items()}
        grid = {str(k): Axis.read(str(k), v, _at(where, f"grid.{k}")) for k, v in r.mapping("grid").items()}
        deps = {str(k): Dependency.read(str(k), v, _at(where, f"dependencies.{k}")) for k, v in r.mapping("dependencies").items()}
        seeds_raw = raw.get("seeds", [0])
        seeds_raw = [seeds_raw] if isinstance(seeds_raw, int) else seeds_raw
        if not isinstance(seeds_raw, list) or not seeds_raw or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds_raw):
            raise ValueError(f"{_at(where, 'seeds')}: expected a non-empty list of whole numbers, got {seeds_raw!r}")
        if len(set(seeds_raw)) != len(seeds_raw):
            raise ValueError(f"{_at(where, 'seeds')}: repeated seed in {seeds_raw}")
        rates = r.mapping("rates")
        for key, value in rates.items():
            try:  # PyYAML reads 1.0e6 (no sign in the exponent) as text
                number = float(value) if not isinstance(value, bool) else -1.0
            except (TypeError, ValueError):
                number = -1.0
            if not number > 0:
                raise ValueError(f"{_at(where, f'rates.{key}')}: expected samples a second > 0, got {value!r}")
            rates[key] = number
        config = cls(
            name=r.text("name") or "", title=r.text("title", "") or "", table=r.text("table", "") or "",
            tasks=tasks, models=models, grid=grid, seeds=list(seeds_raw), layout=Layout.read(raw.get("layout"), _at(where, "layout")),
            train=_train_options(r), dependencies=deps, description=r.text("description", "") or "",
            rates={str(k): float(v) for k, v in rates.items()}, scale=scale, path=where,
        )
        config._check_references()
        return config

    def _check_references(self) -> None:
        """Names that point elsewhere in the config (init, tokenizer, backbone, layout dims) exist."""
        where = self.path
        if not self.tasks or not self.models:
            raise ValueError(f"{where}: name at least one task and one model")
        for key in set(self.grid) & set(FIXED_DIMS):
            raise ValueError(f"{_at(where, f'grid.{key}')}: {key!r} is a fixed dimension; name the axis otherwise")

        def dep(name: Optional[str], kinds: tuple[str, ...], at: str) -> None:
            if name is None:
                return
            if name not in self.dependencies:
                raise ValueError(f"{_at(where, at)}: no dependency {name!r}; dependencies: {sorted(self.dependencies)}")
            if self.dependencies[name].kind not in kinds:
                raise ValueError(f"{_at(where, at)}: dependency {name!r} is a {self.dependencies[name].kind} run; need {' or '.join(kinds)}")

        for m in self.models.values():
            dep(m.init, ("pretrain", "train"), f"models.{m.key}.init")
            dep(m.tokenizer, ("tokenizer",), f"models.{m.key}.tokenizer")
        for axis in self.grid.values():
            for v in axis.values.values():
                dep(v.init, ("pretrain", "train"), f"grid.{axis.key}.values.{v.key}.init")
                dep(v.tokenizer, ("tokenizer",), f"grid.{axis.key}.values.{v.key}.tokenizer")
        for d in self.dependencies.values():
            if d.model is not None and d.model not in self.models:
                raise ValueError(f"{_at(where, f'dependencies.{d.key}.model')}: no model {d.model!r}; models: {sorted(self.models)}")
        for t in self.tasks.values():
            if t.backbone is None:
                continue
            if t.backbone in self.tasks:
                if self.tasks[t.backbone].backbone is not None:
                    raise ValueError(f"{_at(where, f'tasks.{t.key}.backbone')}: {t.backbone!r} is itself fit on features")
            else:
                dep(t.backbone, ("train",), f"tasks.{t.key}.backbone")
        dims = self.layout.rows + self.layout.columns
        known = set(FIXED_DIMS) | set(self.grid)
        for name in dims:
            if name not in known:
                raise ValueError(f"{_at(where, 'layout')}: unknown dimension {name!r}; use {', '.join(sorted(known))}")
        if len(set(dims)) != len(dims):
            raise ValueError(f"{_at(where, 'layout')}: a dimension appears twice in {dims}")
        if "metric" not in dims:
            self.layout.columns.append("metric")
        varying = [d for d, n in (("task", len(self.tasks)), ("model", len(self.models))) if n > 1]
        varying += [a.key for a in self.grid.values() if len(a.values) > 1]
        missing = [d for d in varying if d not in dims]
        if missing:
            raise ValueError(f"{_at(where, 'layout')}: {missing} take several values but are in neither rows nor columns")
        if self.layout.best is not None and self.layout.best not in dims:
            raise ValueError(f"{_at(where, 'layout.best')}: {self.layout.best!r} is not in rows or columns")

    def label(self, dim: str, key: str) -> str:
        """How the table names `key` of dimension `dim`."""
        if dim == "task":
            return self.tasks[key].label
        if dim == "model":
            return self.models[key].label
        if dim == "metric":
            return metric_label(key)
        return self.grid[dim].values[key].label


def shipped_configs() -> dict[str, Path]:
    """The configs that ship with dnabench: name -> path."""
    folder = Path(str(resources.files("dnabench.experiments") / "configs"))
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def config_path(name_or_path: str | os.PathLike) -> Path:
    """A YAML path, or the name of a shipped config (`table5`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_configs()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    if path.suffix in (".yaml", ".yml") or os.sep in str(name_or_path):
        raise FileNotFoundError(f"{path}: no such config file")
    raise FileNotFoundError(f"{name_or_path}: neither a config file nor a shipped config ({', '.join(shipped)})")


def load_experiment(name_or_path: str | os.PathLike, scale: str = "small") -> ExperimentConfig:
    """Read, merge the scale's overrides, and check a config."""
    path = config_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top")
    return ExperimentConfig.from_dict(raw, str(path), scale)
