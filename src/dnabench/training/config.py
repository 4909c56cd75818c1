"""Training configuration: one typed dataclass, read from YAML and command-line flags, saved with the run.

The model's options are checked against the model's own config dataclass when the TrainConfig
is made (`model_config`), so a typo in `--positions` or a YAML key fails before any data or
genome is opened, with the list of valid values.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from dnabench.data.task import LossKind

Precision = Literal["auto", "32", "bf16-mixed", "16-mixed", "bf16-true"]


@dataclass
class TrainConfig:
    """Everything that decides a training run. Unknown keys in a YAML file are an error."""

    data: str = ""
    model: str = "transformer"
    #: options of the model: flat names (tokenizer, positions, hidden_size, num_layers, ...) routed to
    #: the part of the model's config that owns them, or whole parts (encoder: {...})
    model_options: dict[str, Any] = field(default_factory=dict)
    out: str = ""
    genome: Optional[str] = None
    init: Optional[str] = None
    tokenizer_path: Optional[str] = None
    max_epochs: int = 10
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
    checkpoint_every_steps: int = 0
    val_check_interval: float = 1.0
    loss: Optional[str] = None
    compile: bool = False
    deterministic: bool = False
    wandb_project: Optional[str] = None
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("max_epochs", "batch_size", "num_nodes", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_shift < 0:
            raise ValueError(f"max_shift must be >= 0, got {self.max_shift}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.precision not in Precision.__args__:  # type: ignore[attr-defined]
            raise ValueError(f"precision must be one of {Precision.__args__}, got {self.precision!r}")  # type: ignore[attr-defined]
        if self.loss is not None:
            LossKind.parse(self.loss, "loss")
        self.model_config = self.resolve_model_config()

    def resolve_model_config(self, **data_defaults: Any) -> Any:
        """The model's typed config: the options given, on top of `data_defaults` (outputs, input
        length) for the keys the options leave out. Raises ValueError naming a bad option."""
        from dnabench.models import make_config

        options = dict(self.model_options)
        for key, value in data_defaults.items():
            options.setdefault(key, value)
        if self.compile:
            options.setdefault("compile", True)
        try:
            return make_config(self.model, **options)
        except TypeError as err:
            raise ValueError(f"model {self.model!r}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def load_config(path: str | os.PathLike | None, overrides: dict[str, Any], model_options: dict[str, Any] | None = None) -> TrainConfig:
    """A YAML file (optional) with command-line overrides on top; None overrides are ignored.

    `model_options` (flags such as --positions) are laid over the file's `model_options`.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of option: value")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    if model_options:
        data["model_options"] = {**(data.get("model_options") or {}), **model_options}
    return TrainConfig.from_dict(data, where=str(path) if path else "options")


def save_config(config: TrainConfig, path: str | os.PathLike) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
