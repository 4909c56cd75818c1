"""The pretraining run's options: one typed dataclass, read from YAML and flags, saved with the run.

Apart from `pretrain.py` so that the command line shows its defaults without importing
Lightning; it shares value typing, YAML reading and unknown-key checks with `TrainConfig`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

from dnabench.training.config import Precision, RunConfig, read_yaml_options

__all__ = ["PretrainConfig", "load_pretrain_config"]


@dataclass
class PretrainConfig(RunConfig):
    """Everything that decides a pretraining run. Unknown keys in a YAML file are an error."""

    #: genome cache folder, or a FASTA / 2bit file (indexed into RUN/genome/)
    genome: Optional[str] = None
    #: FASTA files or tables with a `sequence` column
    data: list[str] = field(default_factory=list)
    #: tables: use only the rows of these splits (their split column, or dnabench train's seeded split); FASTA is read whole
    table_splits: list[str] = field(default_factory=list)
    out: str = ""
    #: options of the Transformer (tokenizer, positions, hidden_size, num_layers, ...), as in TrainConfig
    model_options: dict[str, Any] = field(default_factory=dict)
    tokenizer_path: Optional[str] = None
    #: bases per chunk; sequences of tables and FASTA files shorter than this give shorter chunks
    length: int = 1024
    max_n_fraction: float = 0.1
    #: chunks with fewer real bases are skipped (None: length // 2)
    min_length: Optional[int] = None
    val_fraction: float = 0.01
    mask_rate: float = 0.3
    mask_fraction: float = 0.8
    random_fraction: float = 0.1
    #: k-mer tokenizer: bases per masked span (None: k)
    kmer_span: Optional[int] = None
    #: MLM projection tied to the token embedding (None: tied for kmer and BPE)
    tie_output: Optional[bool] = None
    max_epochs: int = 10
    max_steps: int = -1
    batch_size: int = 128
    lr: float = 1e-4
    warmup_steps: int = 5000
    #: the warmup is at most this fraction of all steps (short runs)
    max_warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    devices: str = "auto"
    num_nodes: int = 1
    accelerator: str = "auto"
    precision: Precision = "auto"
    num_workers: int = 0
    checkpoint_every_steps: int = 0
    val_check_interval: float = 1.0
    compile: bool = False
    deterministic: bool = False
    wandb_project: Optional[str] = None
    progress: bool = True

    def __post_init__(self) -> None:
        from dnabench.training.masking import MaskingConfig

        self._coerce_types()
        self.data = [str(d) for d in (self.data or [])]
        self.table_splits = [str(s) for s in (self.table_splits or [])]
        for name in ("max_epochs", "batch_size", "num_nodes", "length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.max_warmup_fraction <= 1:
            raise ValueError(f"max_warmup_fraction must be in [0, 1], got {self.max_warmup_fraction}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        self._check_precision()
        self.masking = MaskingConfig(self.mask_rate, self.mask_fraction, self.random_fraction, self.kmer_span)
        self.model_config = self.resolve_model_config()

    def resolve_model_config(self, **defaults: Any) -> Any:
        """The Transformer's typed config (``num_outputs`` 1: its supervised head is not trained here)."""
        from dnabench.models import make_config

        options = {"num_outputs": 1, **defaults, **self.model_options}
        if self.compile:
            options.setdefault("compile", True)
        try:
            return make_config("transformer", **options)
        except TypeError as err:
            raise ValueError(f"model 'transformer': {err}") from None


def load_pretrain_config(path: str | os.PathLike | None, overrides: dict[str, Any], model_options: dict[str, Any] | None = None) -> PretrainConfig:
    """A YAML file (optional) with command-line overrides on top; None overrides are ignored."""
    return PretrainConfig.from_dict(read_yaml_options(path, overrides, model_options), where=str(path) if path else "options")
