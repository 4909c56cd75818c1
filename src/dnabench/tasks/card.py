"""One card builder for every task: the same fields, in the same order, in every store.

A card says what the store is (the task's spec), where it came from (genome and source files
with their sha256), how it was built (`parameters`: the options given; `build`: what the build
counted and dropped), how rows were split, what the labels are, and what leaks between splits.
Task-specific sections (PromVary's class counts, Methyl96's per-file counts) follow them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dnabench.data.task import TaskSpec
from dnabench.tasks.common import genome_record

__all__ = ["make_card", "options_record", "CARD_FIELDS"]

#: the fields every card has, in this order (the store adds format, counts and files)
CARD_FIELDS: tuple[str, ...] = (
    "task",
    "title",
    "paper_section",
    "sample",
    "input_length",
    "genome",
    "sources",
    "parameters",
    "build",
    "split_rule",
    "labels",
    "label_groups",
    "metrics",
    "loss",
    "output_activation",
    "metric_scope",
    "leakage",
    "columns",
    "notes",
)


def options_record(options: Any) -> dict[str, Any]:
    """An options dataclass as the card's `parameters` (paths as strings)."""
    out = {}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, (list, tuple)):
            value = [str(v) if isinstance(v, Path) else v for v in value]
        out[f.name] = value
    return out


def make_card(
    spec: TaskSpec,
    *,
    label_names: Sequence[str],
    parameters: Mapping[str, Any],
    sources: Sequence[Mapping[str, Any]],
    split_rule: Mapping[str, Any] | None = None,
    build: Mapping[str, Any] | None = None,
    genome: Any = None,
    genome_build: str | None = None,
    label_groups: Sequence[str] | None = None,
    labels_extra: Mapping[str, Any] | None = None,
    leakage: Mapping[str, Any] | None = None,
    columns: Mapping[str, str] | None = None,
    notes: str = "",
    **sections: Any,
) -> dict[str, Any]:
    """The card of a store built for `spec`.

    `split_rule` defaults to the spec's; a builder passes it when the build chose or found
    more (the seed, chromosomes absent from the genome). `label_groups` gives each label's
    group; `labels_extra` adds per-label facts (positives per label, cell types).
    `genome` is a genome cache (recorded with its source's sha256) or None for stored sequences.
    """
    clash = sorted(set(sections) & set(CARD_FIELDS))
    if clash:
        raise ValueError(f"card sections {clash} are standard fields; pass them by their keyword")
    labels: dict[str, Any] = {"names": [str(n) for n in label_names], "kind": spec.label_kind.value}
    if label_groups is not None:
        labels["groups"] = [str(g) for g in label_groups]
    labels.update(labels_extra or {})
    fields = spec.card_fields()
    card: dict[str, Any] = {
        "task": fields["task"],
        "title": fields["title"],
        "paper_section": fields["paper_section"],
        "sample": fields["sample"],
        "input_length": fields["input_length"],
        "genome": genome_record(genome, genome_build) if genome is not None else None,
        "sources": [dict(s) for s in sources],
        "parameters": dict(parameters),
        "build": dict(build or {}),
        "split_rule": dict(split_rule) if split_rule is not None else spec.split.to_dict(),
        "labels": labels,
        "label_groups": fields["label_groups"],
        "metrics": fields["metrics"],
        "loss": fields["loss"],
        "output_activation": fields["output_activation"],
        "metric_scope": fields["metric_scope"],
        "leakage": dict(leakage) if leakage is not None else {},
        "columns": dict(columns or {}),
        "notes": notes or spec.notes,
    }
    card.update(sections)
    return card
