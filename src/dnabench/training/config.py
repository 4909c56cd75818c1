"""Training configuration: one typed dataclass, read from YAML and command-line flags, saved with the run.

The model's options are checked against the model's own config dataclass when the TrainConfig
is made (`model_config`), so a typo in `--positions` or a YAML key fails before any data or
genome is opened, with the list of valid values.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from dnabench.data.task import LabelKind, LossKind

Precision = Literal["auto", "32", "bf16-mixed", "16-mixed", "bf16-true"]


class RunConfig:
    """What every run config shares: values typed as YAML writes them, dict round trips, and
    unknown keys refused (a dataclass subclass supplies the fields)."""

    def _coerce_types(self) -> None:
        """Numbers as YAML writes them: PyYAML reads `lr: 1e-4` (no dot) as a string, and `devices: 2`
        or `devices: [0, 1]` as an int or a list; anything else of the wrong type is a ValueError."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value, kind = getattr(self, f.name), str(f.type)
            if kind == "float" and isinstance(value, (str, int)) and not isinstance(value, bool):
                try:
                    setattr(self, f.name, float(value))
                except ValueError:
                    raise ValueError(f"{f.name} must be a number, got {value!r}") from None
            elif kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    number = math.nan
                if isinstance(value, bool) or not number.is_integer():
                    raise ValueError(f"{f.name} must be a whole number, got {value!r}")
                setattr(self, f.name, int(number))
            elif kind == "bool" and not isinstance(value, bool):
                text = str(value).strip().lower()
                if text not in ("true", "false", "yes", "no", "1", "0"):
                    raise ValueError(f"{f.name} must be true or false, got {value!r}")
                setattr(self, f.name, text in ("true", "yes", "1"))
            elif kind == "Precision" and isinstance(value, int) and not isinstance(value, bool):
                setattr(self, f.name, str(value))  # `precision: 32`
            elif kind == "str" and not isinstance(value, str):
                if f.name == "devices" and isinstance(value, (list, tuple)):
                    setattr(self, f.name, ",".join(str(v) for v in value))
                elif isinstance(value, (int, float, Path)) and not isinstance(value, bool):
                    setattr(self, f.name, str(value))
                else:
                    raise ValueError(f"{f.name} must be text, got {value!r}")
            elif kind == "Optional[str]" and value is not None and not isinstance(value, str):
                if not isinstance(value, (int, float, Path)) or isinstance(value, bool):
                    raise ValueError(f"{f.name} must be text, got {value!r}")
                setattr(self, f.name, str(value))
        if not isinstance(getattr(self, "model_options", {}), dict):
            raise ValueError(f"model_options must be a mapping of option: value, got {self.model_options!r}")  # type: ignore[attr-defined]

    def _check_precision(self) -> None:
        if self.precision not in Precision.__args__:  # type: ignore[attr-defined]
            raise ValueError(f"precision must be one of {Precision.__args__}, got {self.precision!r}")  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> Any:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def read_yaml_mapping(path: str | os.PathLike, expected: str = "option: value") -> dict[str, Any]:
    """A YAML file that holds one mapping (empty: {}); a missing file, bad YAML or another kind of
    document is an error that names the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping of {expected}")
    return loaded


def read_yaml_options(path: str | os.PathLike | None, overrides: dict[str, Any], model_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A YAML file's options (optional) with command-line overrides on top (None overrides are
    ignored) and `model_options` flags laid over the file's `model_options`."""
    data: dict[str, Any] = {}
    if path is not None:
        data.update(read_yaml_mapping(path))
    data.update({k: v for k, v in overrides.items() if v is not None})
    if model_options:
        data["model_options"] = {**(data.get("model_options") or {}), **model_options}
    return data


@dataclass
class TrainConfig(RunConfig):
    """Everything that decides a training run. Unknown keys in a YAML file are an error."""

    data: str = ""
    #: table columns that are labels (None: the column named label / labels / y / target, else label_*)
    label_columns: Optional[list[str]] = None
    #: the table column holding sequences (None: the one named sequence)
    sequence_column: Optional[str] = None
    #: binary | multilabel | regression instead of the kind read from the labels' values
    label_kind: Optional[str] = None
    model: str = "transformer"
    #: options of the model: flat names (tokenizer, positions, hidden_size, num_layers, ...) routed to
    #: the part of the model's config that owns them, or whole parts (encoder: {...})
    model_options: dict[str, Any] = field(default_factory=dict)
    out: str = ""
    genome: Optional[str] = None
    init: Optional[str] = None
    tokenizer_path: Optional[str] = None
    max_epochs: int = 10
    #: epochs before early stopping may end the run (a model that starts slowly, on few rows)
    min_epochs: int = 0
    max_steps: int = -1
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    devices: str = "auto"
    num_nodes: int = 1
    accelerator: str = "auto"
    precision: Precision = "auto"
    patience: int = 5
    num_workers: int = 0
    #: training augmentation: flip each sample to its reverse complement with probability 1/2
    reverse_complement_augment: bool = False
    #: training augmentation: move each window by a uniform integer in [-max_shift, max_shift] bases
    max_shift: int = 0
    #: train on this fraction of the training split (rows drawn once by the seed; val and test whole)
    train_fraction: float = 1.0
    checkpoint_every_steps: int = 0
    #: training batches that recompute BatchNorm statistics, dropout off, before each validation
    #: (models with BatchNorm: cnn_fc, cnn_lstm); 0: keep the running statistics of training
    batch_norm_batches: int = 16
    val_check_interval: float = 1.0
    loss: Optional[str] = None
    compile: bool = False
    deterministic: bool = False
    wandb_project: Optional[str] = None
    #: a progress bar on a terminal; a line a validation otherwise (and with progress: false)
    progress: bool = True
    #: show Lightning's own info lines, tips and deprecation warnings (hidden by default)
    verbose: bool = False

    def __post_init__(self) -> None:
        self._coerce_types()
        for name in ("max_epochs", "batch_size", "num_nodes", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.min_epochs <= self.max_epochs:
            raise ValueError(f"min_epochs must be in [0, max_epochs={self.max_epochs}], got {self.min_epochs}")
        if self.max_steps < -1 or self.max_steps == 0:
            raise ValueError(f"max_steps must be -1 (no limit) or >= 1, got {self.max_steps}")
        for name in ("weight_decay", "grad_clip", "num_workers", "checkpoint_every_steps", "batch_norm_batches"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.val_check_interval <= 1:
            raise ValueError(f"val_check_interval must be in (0, 1] (a fraction of an epoch), got {self.val_check_interval}")
        if self.max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {self.max_shift}")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        self._check_precision()
        if self.loss is not None:
            LossKind.parse(self.loss, "loss")
        if isinstance(self.label_columns, str):
            self.label_columns = [c.strip() for c in self.label_columns.split(",") if c.strip()]
        if self.label_columns is not None and (not isinstance(self.label_columns, list) or not self.label_columns):
            raise ValueError(f"label_columns must be a list of column names (or COLUMN,COLUMN), got {self.label_columns!r}")
        if self.label_kind is not None:
            LabelKind.parse(self.label_kind, "label_kind")
        self.model_config = self.resolve_model_config()

    def resolve_model_config(self, **data_defaults: Any) -> Any:
        """The model's typed config: the options given, on top of `data_defaults` (outputs, input
        length) for the keys the options leave out. Raises ValueError naming a bad option."""
        from dnabench.models import make_config
        from dnabench.models.estimators import estimator_config, is_estimator

        if is_estimator(self.model):  # random_forest, xgboost, kmer_lr: their own config dataclasses
            return estimator_config(self.model, self.model_options)
        options = dict(self.model_options)
        for key, value in data_defaults.items():
            options.setdefault(key, value)
        if self.compile:
            options.setdefault("compile", True)
        try:
            return make_config(self.model, **options)
        except TypeError as err:
            raise ValueError(f"model {self.model!r}: {err}") from None


def load_config(path: str | os.PathLike | None, overrides: dict[str, Any], model_options: dict[str, Any] | None = None) -> TrainConfig:
    """A YAML file (optional) with command-line overrides on top; None overrides are ignored.

    `model_options` (flags such as --positions) are laid over the file's `model_options`.
    """
    return TrainConfig.from_dict(read_yaml_options(path, overrides, model_options), where=str(path) if path else "options")


def save_config(config: TrainConfig, path: str | os.PathLike) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
