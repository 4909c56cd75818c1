"""Task specifications: what each benchmark task feeds a model and how to score it.

Training and evaluation code read a `TaskSpec` (by `get_task(store.task)`) to know the input
length, the label kind, the loss and output activation, and the metrics, instead of passing
magic strings around. Every spec follows the paper (section 4 and appendix A); where the paper
is silent the choice is written in `notes`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["TaskSpec", "TASKS", "get_task", "list_tasks"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    paper_section: str
    input_length: int
    label_kind: str  # "binary" | "regression" | "multilabel"
    n_labels: int | None
    metrics: tuple[str, ...]  # "auroc", "auprc", "spearman"
    loss: str  # "bce" | "masked_bce" | "focal" | "mse"; see loss_options() for models.losses
    output_activation: str  # "sigmoid" | "identity"
    split_rule: dict
    label_groups: tuple[str, ...] = ()
    paired_input: bool = False  # reference and alternative sequence (variant effect tasks)
    builder: str | None = None  # "module:function" building the store; None = not built by dnabench yet
    notes: str = ""
    metric_scope: str = ""  # how a metric is aggregated over labels
    extra: dict = field(default_factory=dict)

    @property
    def loss_kind(self) -> str:
        """The loss in `dnabench.models.losses` terms: bce, focal, huber or mse."""
        return self.loss.removeprefix("masked_")

    @property
    def masked(self) -> bool:
        """Targets may be missing (NaN) and are then left out of the loss and the metrics."""
        return self.loss.startswith("masked_")

    def loss_options(self) -> dict:
        """Fields of `dnabench.models.losses.LossConfig`: build_loss(LossConfig(**spec.loss_options()))."""
        return {"kind": self.loss_kind, "masked": self.masked}

    @property
    def available(self) -> bool:
        return self.builder is not None

    def build_function(self) -> Callable[..., Any]:
        if self.builder is None:
            raise NotImplementedError(f"task {self.name!r} has no store builder yet")
        module, func = self.builder.split(":")
        return getattr(importlib.import_module(module), func)

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """Call the task's builder (e.g. build_promvary(promoters, genome, out, ...))."""
        return self.build_function()(*args, **kwargs)


_RANDOM_801010 = {"kind": "random", "fractions": {"train": 0.8, "val": 0.1, "test": 0.1}, "stratify": "label"}
#: what every binary classification task shares
_BINARY = dict(label_kind="binary", n_labels=1, metrics=("auroc", "auprc"), loss="bce", output_activation="sigmoid")
#: what the chromatin-feature tasks share (Track7878 and DeepSEA's 919, appendix A.3)
_CHROMATIN = dict(
    input_length=1000,
    label_kind="multilabel",
    metrics=("auroc", "auprc"),
    loss="focal",
    output_activation="sigmoid",
    label_groups=("dnase", "tf", "histone"),
)

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        TaskSpec(
            name="promvary",
            title="Promoter detection, TSS at a random offset (PromVary)",
            paper_section="4.1.1",
            input_length=500,
            **_BINARY,
            split_rule=_RANDOM_801010,
            builder="dnabench.tasks.promvary:build_promvary",
            notes=(
                "EPD human promoters; 500 bp windows centred at -100 from the TSS, shifted by a uniform "
                "random offset that keeps the core promoter -250..+50 inside; negatives are random "
                "genome windows overlapping no promoter, 1:1; random 80/10/10 split."
            ),
        ),
        TaskSpec(
            name="promfix",
            title="Promoter detection, TSS at a fixed position (PromFix)",
            paper_section="6.1",
            input_length=500,
            **_BINARY,
            split_rule=_RANDOM_801010,
            builder="dnabench.tasks.promvary:build_promfix",
            notes="As PromVary with the TSS at index 350 of every positive window (TSS-350..TSS+150).",
        ),
        TaskSpec(
            name="methyl96",
            title="CpG methylation in 96 RRBS experiments (Methyl96)",
            paper_section="4.1.2",
            input_length=501,
            label_kind="regression",
            n_labels=96,
            metrics=("spearman",),
            loss="masked_bce",
            output_activation="sigmoid",
            split_rule={
                "kind": "chromosome",
                "val": ["chr12", "chr13"],
                "test": ["chr10", "chr11", "chrX", "chrY"],
                "train": "all other chromosomes",
            },
            builder="dnabench.tasks.methyl96:build_methyl96",
            metric_scope="Spearman over all observed (non-NaN) test values, all labels pooled",
            notes=(
                "Targets are methylated/total reads in [0, 1]; the paper trains sigmoid outputs with binary "
                "cross-entropy, so the loss is BCE against fractional targets with NaN (missing or coverage "
                "below the threshold) masked out. The number of labels is the number of input files."
            ),
        ),
        TaskSpec(
            name="track7878",
            title="Chromatin features, 7878 DNase/TF/histone labels (Track7878)",
            paper_section="4.1.3",
            **_CHROMATIN,
            n_labels=7878,
            split_rule={"kind": "random", "fractions": {"train": 0.96, "val": 0.01, "test": 0.03}},
            builder="dnabench.tasks.track7878:build_track7878",
            metric_scope="per label, then macro average overall and per group",
            notes=(
                "200 bp bins with at least one positive label (a file's peaks cover >= half the bin), plus "
                "400 bp each side; one label per peak file of the metadata table; CSR labels."
            ),
        ),
        TaskSpec(
            name="deepsea",
            title="DeepSEA chromatin features, 919 DNase/TF/histone labels (tokenization study, Table 2)",
            paper_section="6.2",
            **_CHROMATIN,
            n_labels=919,
            split_rule={
                "kind": "given",
                "train": "train.mat (4,400,000 rows)",
                "val": "valid.mat (8,000 rows)",
                "test": "test.mat (455,024 rows)",
            },
            builder="dnabench.tasks.deepsea:build_deepsea",
            metric_scope="per label, then macro average overall and per group; Table 2 reports the TF group (690 labels)",
            notes=(
                "DeepSEA's own training data (Zhou & Troyanskaya 2015), imported unchanged from its .mat files: "
                "1000 bp hg19 sequences, labels ordered 125 DNase, 690 TF, 104 histone. Focal loss as for "
                "Track7878 (appendix A.3), the chromatin task this data set stands in for."
            ),
        ),
        TaskSpec(
            name="geneexp",
            title="Gene expression from 40 kb around the TSS (GeneExp)",
            paper_section="4.1.4",
            input_length=40_000,
            label_kind="regression",
            n_labels=218,
            metrics=("spearman",),
            loss="mse",
            output_activation="identity",
            split_rule={"kind": "chromosome", "val": ["chrX", "chrY"], "test": ["chr8"], "train": "all other chromosomes"},
            notes="ExPecto targets (log RPKM, 218 tissues/cell types), hg19 TSSs from geneanno.csv.",
        ),
        TaskSpec(
            name="causalsnp",
            title="Causal eQTL variants from GTEx v8 fine-mapping (CausalSNP)",
            paper_section="4.2.1",
            input_length=1000,
            **_BINARY,
            split_rule={"kind": "random", "fractions": {"train": 0.7, "val": 0.1, "test": 0.2}},
            paired_input=True,
            notes=(
                "Positives DAP-G PIP > 0.9, negatives PIP < 0.01, two negatives per positive per tissue. "
                "The paper does not state the window length; 1000 bp (Track7878's) is a placeholder."
            ),
        ),
        TaskSpec(
            name="mpraprom",
            title="Saturation-mutagenesis MPRA of promoters (MPRAProm)",
            paper_section="4.2.2",
            input_length=1400,
            label_kind="regression",
            n_labels=1,
            metrics=("spearman",),
            loss="mse",
            output_activation="identity",
            split_rule={"kind": "position", "fractions": {"train": 0.6, "val": 0.2, "test": 0.2}},
            paired_input=True,
            notes="Kircher et al. 2019; SNVs only, at most 3 per position; 1400 bp centred on the element.",
        ),
    ]
}


def get_task(name: str) -> TaskSpec:
    """The spec of a task by name (case-insensitive)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in TASKS:
        raise KeyError(f"unknown task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[key]


def list_tasks(available_only: bool = False) -> list[TaskSpec]:
    return [t for t in TASKS.values() if t.available or not available_only]
