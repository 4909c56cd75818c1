"""The task spec: enums checked where a spec is made, the card round trip, table specs, label sets."""

from __future__ import annotations

import pytest

from dnabench.data.task import (
    Activation,
    InputKind,
    LabelKind,
    LabelSet,
    LossKind,
    Metric,
    SplitKind,
    SplitRule,
    TaskSpec,
    table_spec,
)


def _spec(**changes):
    base = dict(name="t", title="T", input_kind="pair", input_length=1000, label_kind="binary", metrics=("auroc", "auprc"),
                loss="bce", output="sigmoid", split=SplitRule(SplitKind.RANDOM, (0.7, 0.1, 0.2), unit="variant"))
    return TaskSpec(**{**base, **changes})


def test_strings_become_enums_and_bad_ones_list_the_choices():
    spec = _spec()
    assert spec.input_kind is InputKind.PAIR and spec.label_kind is LabelKind.BINARY and spec.loss is LossKind.BCE
    assert spec.output is Activation.SIGMOID and spec.metrics == (Metric.AUROC, Metric.AUPRC) and spec.monitor is Metric.AUROC
    with pytest.raises(ValueError, match="input kind must be one of window, pair, segmented; got 'pairs'"):
        _spec(input_kind="pairs")
    with pytest.raises(ValueError, match="at least one metric"):
        _spec(metrics=())
    with pytest.raises(ValueError, match="input_length 900 != segment_length 200 \\+ 2 x context 400"):
        _spec(input_kind="segmented", input_length=900, segments=200, segment_length=200, context=400)


def test_card_round_trip_and_old_cards():
    spec = _spec(masked=True, label_groups=("a", "b"))
    card = {**spec.card_fields(), "labels": {"kind": "binary", "names": ["y"]}, "split_rule": spec.split.to_dict()}
    assert card["loss"] == "masked_bce" and card["sample"] == {"kind": "pair", "length": 1000, "centre": 500}
    back = TaskSpec.from_card(card)
    assert back == spec.with_(n_labels=1)
    old = {"task": "x", "labels": {"kind": "regression", "names": ["a", "b"], "groups": ["g", "h"]}, "input_length": 501,
           "split_rule": {"kind": "chromosome", "val": ["chr12"], "test": ["chr10"]}}
    spec = TaskSpec.from_card(old)
    assert (spec.input_kind, spec.loss, spec.output, spec.metrics, spec.label_groups) == (
        InputKind.WINDOW, LossKind.MSE, Activation.IDENTITY, (Metric.SPEARMAN,), ("g", "h"))
    assert spec.split.val == ("chr12",) and LabelSet.from_card(old).groups == ("g", "h")


def test_split_rule_checks():
    assert SplitRule(SplitKind.GROUP, (0.6, 0.2, 0.2), unit="position").to_dict() == {
        "kind": "group", "fractions": {"train": 0.6, "val": 0.2, "test": 0.2}, "unit": "position"}
    with pytest.raises(ValueError, match="needs fractions"):
        SplitRule(SplitKind.RANDOM)
    with pytest.raises(ValueError, match="val or test chromosomes"):
        SplitRule(SplitKind.CHROMOSOME)


def test_table_spec_and_label_sets():
    reg = table_spec(LabelKind.REGRESSION, 2, 300)
    assert (reg.loss, reg.output, reg.monitor) == (LossKind.MSE, Activation.IDENTITY, Metric.SPEARMAN)
    cls = table_spec(LabelKind.BINARY, 1, 300, masked=True)
    assert (cls.loss_name, cls.monitor) == ("masked_bce", Metric.AUROC)
    with pytest.raises(ValueError, match="2 label groups for 3 labels"):
        LabelSet(("a", "b", "c"), ("x", "y"))
    assert len(LabelSet(("a", "b"))) == 2
