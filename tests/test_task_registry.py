"""Task registry: every paper task has a spec training code can read; builders resolve."""

from __future__ import annotations

import pytest

from dnabench.tasks import TASKS, get_task, list_tasks
from dnabench.tasks.methyl96 import build_methyl96
from dnabench.tasks.promvary import build_promfix, build_promvary


def test_all_tasks_have_specs():
    assert set(TASKS) == {"promvary", "promfix", "methyl96", "track7878", "deepsea", "geneexp", "causalsnp", "mpraprom"}
    for spec in TASKS.values():
        assert spec.label_kind in ("binary", "regression", "multilabel")
        assert set(spec.metrics) <= {"auroc", "auprc", "spearman"}
        assert spec.loss in ("bce", "masked_bce", "focal", "mse")
        assert spec.output_activation in ("sigmoid", "identity")
        assert spec.split_rule["kind"] in ("random", "chromosome", "position", "given")
        if spec.split_rule["kind"] in ("random", "position"):
            assert sum(spec.split_rule["fractions"].values()) == pytest.approx(1.0)
        if spec.label_kind in ("binary", "multilabel"):
            assert spec.metrics == ("auroc", "auprc")
        else:
            assert spec.metrics == ("spearman",)


def test_paper_numbers():
    assert get_task("PromVary").input_length == 500 and get_task("promfix").input_length == 500
    m = get_task("Methyl96")
    assert (m.input_length, m.n_labels, m.label_kind, m.output_activation) == (501, 96, "regression", "sigmoid")
    assert m.split_rule["val"] == ["chr12", "chr13"] and m.split_rule["test"] == ["chr10", "chr11", "chrX", "chrY"]
    t = get_task("track7878")
    assert (t.n_labels, t.input_length, t.label_groups) == (7878, 1000, ("dnase", "tf", "histone"))
    assert get_task("geneexp").split_rule["test"] == ["chr8"]
    assert get_task("causalsnp").split_rule["fractions"] == {"train": 0.7, "val": 0.1, "test": 0.2}
    assert get_task("mpraprom").input_length == 1400
    assert m.loss_options() == {"kind": "bce", "masked": True}  # LossConfig(**spec.loss_options())
    assert get_task("promvary").loss_options() == {"kind": "bce", "masked": False}
    assert get_task("track7878").loss_options() == {"kind": "focal", "masked": False}


def test_builders_resolve():
    assert get_task("promvary").build_function() is build_promvary
    assert get_task("promfix").build_function() is build_promfix
    assert get_task("methyl96").build_function() is build_methyl96
    from dnabench.tasks.track7878 import build_track7878

    assert get_task("track7878").build_function() is build_track7878
    assert {t.name for t in list_tasks(available_only=True)} == {"promvary", "promfix", "methyl96", "deepsea", "track7878"}
    with pytest.raises(NotImplementedError):
        get_task("geneexp").build_function()
    with pytest.raises(KeyError, match="tasks:"):
        get_task("nope")
