"""Task registry: every task module is found, its spec is typed and checked, its command resolves."""

from __future__ import annotations

import dataclasses

import pytest

from dnabench.data.task import Activation, InputKind, LabelKind, LossKind, Metric, SplitKind, SplitRule, TaskSpec
from dnabench.tasks import get_prepare, get_task, list_tasks, prepare_commands, tasks
from dnabench.tasks.base import PrepareCommand, option
from dnabench.tasks.methyl96 import prepare_methyl96
from dnabench.tasks.promvary import prepare_promfix, prepare_promvary


def test_every_task_module_is_found():
    assert set(tasks()) == {"promvary", "promfix", "methyl96", "track7878", "deepsea", "geneexp", "causalsnp", "mpraprom"}
    assert set(prepare_commands()) == set(tasks()) | {"track7878-tracks"}
    for spec in list_tasks():
        assert isinstance(spec.label_kind, LabelKind) and isinstance(spec.loss, LossKind)
        assert isinstance(spec.output, Activation) and isinstance(spec.input_kind, InputKind)
        assert all(isinstance(m, Metric) for m in spec.metrics)
        if spec.split.kind in (SplitKind.RANDOM, SplitKind.GROUP):
            assert sum(spec.split.fractions) == pytest.approx(1.0)
        if spec.is_classification:
            assert spec.metrics == (Metric.AUROC, Metric.AUPRC)
        else:
            assert spec.metrics == (Metric.SPEARMAN,)


def test_paper_numbers():
    assert get_task("PromVary").input_length == 500 and get_task("promfix").input_length == 500
    m = get_task("Methyl96")
    assert (m.input_length, m.n_labels, m.label_kind, m.output) == (501, 96, "regression", "sigmoid")
    assert m.split.val == ("chr12", "chr13") and m.split.test == ("chr10", "chr11", "chrX", "chrY")
    assert (m.loss, m.masked, m.loss_name) == (LossKind.BCE, True, "masked_bce")
    t = get_task("track7878")
    assert (t.n_labels, t.input_length, t.label_groups) == (7878, 1000, ("dnase", "tf", "histone"))
    assert t.split.fraction_map() == {"train": 0.96, "val": 0.01, "test": 0.03}
    assert (t.loss, t.masked) == (LossKind.FOCAL, False)
    assert (get_task("promvary").loss_name, get_task("promvary").monitor) == ("bce", Metric.AUROC)
    g = get_task("geneexp")
    assert (g.input_kind, g.segments, g.segment_length, g.context, g.input_length) == (InputKind.SEGMENTED, 200, 200, 400, 1000)
    assert g.split.test == ("chr8",) and set(g.split.val) == {"chrX", "chrY"} and g.n_labels == 218
    c = get_task("causalsnp")
    assert (c.input_kind, c.input_length, c.split.fractions) == (InputKind.PAIR, 1000, (0.7, 0.1, 0.2))
    m = get_task("mpraprom")
    assert (m.input_kind, m.input_length, m.split.fractions, m.loss) == (InputKind.PAIR, 1400, (0.6, 0.2, 0.2), LossKind.MSE)


def test_commands_resolve():
    assert get_prepare("promvary").run is prepare_promvary
    assert get_prepare("prom_fix").run is prepare_promfix
    assert get_prepare("METHYL96").run is prepare_methyl96
    with pytest.raises(KeyError, match="tasks:"):
        get_task("nope")


def test_spec_choices_are_checked_where_the_spec_is_made():
    base = get_task("promvary")
    with pytest.raises(ValueError, match="loss must be one of bce, focal, mse, huber; got 'masked_bce'"):
        base.with_(loss="masked_bce")
    with pytest.raises(ValueError, match="metric must be one of"):
        base.with_(metrics=("aucroc",))
    with pytest.raises(ValueError, match="fractions"):
        SplitRule(SplitKind.RANDOM, (0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="segments"):
        base.with_(input_kind=InputKind.SEGMENTED)
    seg = base.with_(input_kind="segmented", input_length=1000, segments=200, segment_length=200, context=400)
    assert seg.sample() == {"kind": "segmented", "segments": 200, "segment_length": 200, "context": 400, "length": 1000}


def test_spec_round_trips_through_a_card():
    from dnabench.tasks.card import make_card

    for spec in list_tasks():
        card = make_card(spec, label_names=[f"l{i}" for i in range(spec.n_labels or 1)], parameters={}, sources=[])
        back = TaskSpec.from_card(card)
        for name in ("name", "input_kind", "input_length", "label_kind", "metrics", "loss", "masked", "output", "label_groups"):
            assert getattr(back, name) == getattr(spec, name), (spec.name, name)
        assert back.split.kind == spec.split.kind


def test_prepare_command_needs_help_on_every_option():
    @dataclasses.dataclass
    class Bad:
        out: str = dataclasses.field(default="x")

    with pytest.raises(TypeError, match="no help text"):
        PrepareCommand("bad", Bad, lambda o: o)

    @dataclasses.dataclass
    class Good:
        out: str = option("x", help="Where.")

    assert PrepareCommand("good", Good, lambda o: o.out)(out="y") == "y"
