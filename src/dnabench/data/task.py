"""The task descriptor: what a data set feeds a model and how it is trained and scored.

One `TaskSpec` is read by the builders (which write it into the store's card), by training
(loss, output activation, the metric that picks the best checkpoint) and by evaluation
(metrics, label groups). Every choice is an enum, so a typo fails where the spec is made, and
nothing downstream parses strings such as "masked_bce". The spec lives in data/ because the
card is the contract between a builder and everything that reads its store: a store opens
and trains from its card alone, whichever builder wrote it.

`LabelSet` is the per-label side (names, and the group of each label, e.g. DNase / TF /
histone for Track7878): data, not spec, since it comes from the raw files.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from dnabench.data.split_names import SPLITS

__all__ = [
    "InputKind",
    "LabelKind",
    "LossKind",
    "Activation",
    "Metric",
    "SplitKind",
    "SplitRule",
    "TaskSpec",
    "LabelSet",
    "table_spec",
]


class _Choice(str, enum.Enum):
    """A string enum whose errors list the valid values."""

    @classmethod
    def parse(cls, value: Any, what: str | None = None) -> Any:
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ValueError(f"{what or cls.__name__} must be one of {choices}; got {value!r}") from None

    def __str__(self) -> str:
        return self.value


class InputKind(_Choice):
    """The three sample kinds (DESIGN.md): codes [L], [2, L] (ref, alt) or [S, L] (segments)."""

    WINDOW = "window"
    PAIR = "pair"
    SEGMENTED = "segmented"


class LabelKind(_Choice):
    BINARY = "binary"
    MULTILABEL = "multilabel"
    REGRESSION = "regression"


class LossKind(_Choice):
    """The losses of `dnabench.models.losses`."""

    BCE = "bce"
    FOCAL = "focal"
    MSE = "mse"
    HUBER = "huber"


class Activation(_Choice):
    """What the head's output goes through: a probability (sigmoid) or the value itself."""

    SIGMOID = "sigmoid"
    IDENTITY = "identity"


class Metric(_Choice):
    AUROC = "auroc"
    AUPRC = "auprc"
    SPEARMAN = "spearman"
    PEARSON = "pearson"
    MSE = "mse"


class SplitKind(_Choice):
    """How rows are assigned to train / val / test."""

    RANDOM = "random"  # seeded, in fractions (optionally stratified by label)
    CHROMOSOME = "chromosome"  # named chromosomes held out for val and test
    GIVEN = "given"  # the source comes split (DeepSEA's .mat files)
    GROUP = "group"  # seeded fractions of groups kept whole (MPRA positions, variants)


@dataclass(frozen=True)
class SplitRule:
    """The split rule of a task; the card records it with what the build found."""

    kind: SplitKind
    fractions: tuple[float, float, float] | None = None
    val: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    #: what is kept whole in one split: row, bin, variant, position, chromosome
    unit: str = "row"
    stratify: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", SplitKind.parse(self.kind, "split kind"))
        if self.fractions is not None:
            values = tuple(float(v) for v in self.fractions)
            if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1) > 1e-6:
                raise ValueError(f"split fractions must be three numbers >= 0 summing to 1; got {self.fractions!r}")
            object.__setattr__(self, "fractions", values)
        elif self.kind in (SplitKind.RANDOM, SplitKind.GROUP):
            raise ValueError(f"a {self.kind} split needs fractions")
        if self.kind is SplitKind.CHROMOSOME and not (self.val or self.test):
            raise ValueError("a chromosome split needs val or test chromosomes")
        object.__setattr__(self, "val", tuple(self.val))
        object.__setattr__(self, "test", tuple(self.test))

    def fraction_map(self) -> dict[str, float]:
        """{"train": f, "val": f, "test": f} of a random or group split."""
        if self.fractions is None:
            raise ValueError(f"a {self.kind} split has no fractions")
        return dict(zip(SPLITS, self.fractions))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value}
        if self.fractions is not None:
            out["fractions"] = self.fraction_map()
        if self.kind is SplitKind.CHROMOSOME:
            out.update(val=list(self.val), test=list(self.test), train="all other chromosomes")
        if self.unit != "row":
            out["unit"] = self.unit
        if self.stratify:
            out["stratify"] = "label"
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SplitRule:
        fractions = data.get("fractions")
        if isinstance(fractions, Mapping):
            fractions = tuple(float(fractions.get(s, 0.0)) for s in SPLITS)
        kind = SplitKind.parse(data.get("kind", "given"), "split kind")
        return cls(
            kind=kind,
            fractions=fractions if kind is not SplitKind.GIVEN else None,
            val=tuple(data.get("val", ()) if kind is SplitKind.CHROMOSOME else ()),
            test=tuple(data.get("test", ()) if kind is SplitKind.CHROMOSOME else ()),
            unit=str(data.get("unit", "row")),
            stratify=bool(data.get("stratify")),
        )


@dataclass(frozen=True)
class TaskSpec:
    """What a task feeds a model and how it is trained and scored (paper section 4, appendix A)."""

    name: str
    title: str
    input_kind: InputKind
    input_length: int
    label_kind: LabelKind
    metrics: tuple[Metric, ...]
    loss: LossKind
    output: Activation
    split: SplitRule
    n_labels: int | None = None
    #: targets may be missing (NaN): left out of the loss and the metrics
    masked: bool = False
    #: names of the label groups scored on their own (each label's group is in its LabelSet)
    label_groups: tuple[str, ...] = ()
    paper_section: str = ""
    metric_scope: str = ""
    notes: str = ""
    #: segmented inputs: segments per sample, bases per segment, context bases on each side
    segments: int | None = None
    segment_length: int | None = None
    context: int = 0
    #: pair inputs: "variant" (window centred on the variant) or "region" (each row's own window)
    pair_anchor: str = "variant"

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_kind", InputKind.parse(self.input_kind, "input kind"))
        object.__setattr__(self, "label_kind", LabelKind.parse(self.label_kind, "label kind"))
        object.__setattr__(self, "loss", LossKind.parse(self.loss, "loss"))
        object.__setattr__(self, "output", Activation.parse(self.output, "output activation"))
        metrics = tuple(Metric.parse(m, "metric") for m in self.metrics)
        if not metrics:
            raise ValueError(f"task {self.name!r} needs at least one metric")
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "label_groups", tuple(self.label_groups))
        if not isinstance(self.split, SplitRule):
            object.__setattr__(self, "split", SplitRule.from_dict(self.split))
        if self.pair_anchor not in ("variant", "region"):
            raise ValueError(f"task {self.name!r}: pair_anchor must be variant or region; got {self.pair_anchor!r}")
        if self.input_kind is InputKind.SEGMENTED:
            if not self.segments or not self.segment_length:
                raise ValueError(f"task {self.name!r}: a segmented input needs segments and segment_length")
            if self.input_length != self.segment_length + 2 * self.context:
                raise ValueError(
                    f"task {self.name!r}: input_length {self.input_length} != segment_length "
                    f"{self.segment_length} + 2 x context {self.context}"
                )

    @property
    def monitor(self) -> Metric:
        """The validation metric that picks the best checkpoint: the first of `metrics`."""
        return self.metrics[0]

    @property
    def loss_name(self) -> str:
        """The loss as the card writes it: bce, focal, mse, huber, with masked_ when targets may be missing."""
        return f"masked_{self.loss.value}" if self.masked else self.loss.value

    @property
    def is_classification(self) -> bool:
        return self.label_kind is not LabelKind.REGRESSION

    def sample(self) -> dict[str, Any]:
        """The card's `sample` field: the input kind and its geometry."""
        if self.input_kind is InputKind.SEGMENTED:
            return {
                "kind": "segmented",
                "segments": self.segments,
                "segment_length": self.segment_length,
                "context": self.context,
                "length": self.input_length,
            }
        out: dict[str, Any] = {"kind": self.input_kind.value, "length": self.input_length}
        if self.input_kind is InputKind.PAIR and self.pair_anchor == "region":
            out["anchor"] = "region"
        elif self.input_kind is InputKind.PAIR:
            out["centre"] = self.input_length // 2
        return out

    def with_(self, **changes: Any) -> TaskSpec:
        """A copy with fields changed (a build with another input length, say)."""
        return replace(self, **changes)

    def card_fields(self) -> dict[str, Any]:
        """The spec's part of a store card (see `dnabench.tasks.card.make_card`)."""
        return {
            "task": self.name,
            "title": self.title,
            "paper_section": self.paper_section,
            "sample": self.sample(),
            "input_length": self.input_length,
            "metrics": [m.value for m in self.metrics],
            "loss": self.loss_name,
            "output_activation": self.output.value,
            "metric_scope": self.metric_scope,
            "label_groups": list(self.label_groups),
        }

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> TaskSpec:
        """The spec a store's card records; cards without a field get the value it implies."""
        labels = card.get("labels") or {}
        kind = LabelKind.parse(labels.get("kind", "regression"), "label kind")
        loss = str(card.get("loss") or ("bce" if kind is not LabelKind.REGRESSION else "mse"))
        masked = loss.startswith("masked_")
        sample = card.get("sample") or {"kind": "window", "length": card.get("input_length")}
        output = card.get("output_activation") or ("identity" if kind is LabelKind.REGRESSION else "sigmoid")
        metrics = card.get("metrics") or (["auroc", "auprc"] if kind is not LabelKind.REGRESSION else ["spearman"])
        groups = card.get("label_groups")
        if groups is None:
            per_label = labels.get("groups")
            groups = sorted(set(per_label)) if isinstance(per_label, list) else []
        return cls(
            name=str(card.get("task", "")),
            title=str(card.get("title", card.get("task", ""))),
            input_kind=InputKind.parse(sample.get("kind", "window"), "input kind"),
            input_length=int(sample.get("length") or card.get("input_length") or 0),
            label_kind=kind,
            metrics=tuple(metrics),
            loss=LossKind.parse(loss.removeprefix("masked_"), "loss"),
            masked=masked,
            output=Activation.parse(output, "output activation"),
            split=SplitRule.from_dict(card.get("split_rule") or {"kind": "given"}),
            n_labels=len(labels.get("names") or []) or None,
            label_groups=tuple(groups),
            paper_section=str(card.get("paper_section", "")),
            metric_scope=str(card.get("metric_scope", "")),
            segments=sample.get("segments"),
            segment_length=sample.get("segment_length"),
            context=int(sample.get("context") or 0),
            pair_anchor=str(sample.get("anchor", "variant")),
        )


@dataclass(frozen=True)
class LabelSet:
    """The labels of one data set: their names and, where labels come in groups, each one's group."""

    names: tuple[str, ...]
    groups: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        if self.groups is not None:
            groups = tuple(str(g) for g in self.groups)
            if len(groups) != len(self.names):
                raise ValueError(f"{len(groups)} label groups for {len(self.names)} labels")
            object.__setattr__(self, "groups", groups)

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> LabelSet:
        labels = card.get("labels") or {}
        groups = labels.get("groups")
        return cls(tuple(labels.get("names") or ()), tuple(groups) if isinstance(groups, list) and groups else None)


def table_spec(label_kind: LabelKind, n_labels: int, input_length: int, masked: bool = False, name: str = "table") -> TaskSpec:
    """The spec of a plain sequence table, inferred from its labels: BCE + AUROC/AUPRC for 0/1
    labels, MSE + Spearman/Pearson/MSE otherwise; a random 80/10/10 split unless it has its own."""
    classification = label_kind is not LabelKind.REGRESSION
    return TaskSpec(
        name=name,
        title=f"sequence table ({label_kind.value}, {n_labels} label{'s' if n_labels != 1 else ''})",
        input_kind=InputKind.WINDOW,
        input_length=input_length,
        label_kind=label_kind,
        metrics=(Metric.AUROC, Metric.AUPRC) if classification else (Metric.SPEARMAN, Metric.PEARSON, Metric.MSE),
        loss=LossKind.BCE if classification else LossKind.MSE,
        output=Activation.SIGMOID if classification else Activation.IDENTITY,
        split=SplitRule(SplitKind.RANDOM, (0.8, 0.1, 0.1)),
        n_labels=n_labels,
        masked=masked,
    )

