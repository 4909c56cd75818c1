"""Sequence tables: which columns become labels, the sequence column, and how rows are split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnabench.data.tables import load_sequence_table
from dnabench.io.files import InputError


def _table(path, **columns):
    rows = len(next(iter(columns.values())))
    frame = pd.DataFrame({"sequence": ["ACGTACGT"] * rows, **columns})
    frame.to_csv(path, index=False)
    return path


def test_other_numeric_columns_are_not_labels(tmp_path):
    path = _table(tmp_path / "t.csv", id=[1, 2, 3, 4], gc=[0.4, 0.5, 0.6, 0.5], label=[0, 1, 0, 1])
    table = load_sequence_table(path)
    assert table.label_names == ["label"]
    assert np.array_equal(table.labels[:, 0], [0, 1, 0, 1])


def test_label_prefix_columns_make_a_multilabel_table(tmp_path):
    path = _table(tmp_path / "t.csv", id=[1, 2], label_a=[0, 1], label_b=[1, 1])
    assert load_sequence_table(path).label_names == ["label_a", "label_b"]


def test_named_labels_and_sequence_column(tmp_path):
    frame = pd.DataFrame({"dna": ["ACGT", "GGCC"], "id": [7, 8], "score": [0.5, 1.5]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    table = load_sequence_table(tmp_path / "t.csv", label_columns=["score"], sequence_column="dna")
    assert table.label_names == ["score"] and table.sequence_column == "dna"
    assert table.codes.shape == (2, 4)
    with pytest.raises(InputError, match="no 'sequence' column.*--sequence-column"):
        load_sequence_table(tmp_path / "t.csv", label_columns=["score"])
    with pytest.raises(InputError, match=r"no column 'seq' \(--sequence-column\)"):
        load_sequence_table(tmp_path / "t.csv", sequence_column="seq")


def test_no_label_column_lists_the_numeric_ones(tmp_path):
    path = _table(tmp_path / "t.csv", id=[1, 2], gc=[0.1, 0.2])
    with pytest.raises(InputError, match=r"no label column.*--label.*numeric columns: id, gc"):
        load_sequence_table(path)


def test_integer_classes_are_refused_with_what_works(tmp_path):
    path = _table(tmp_path / "t.csv", label=[0, 1, 2, 1, 0, 2])
    with pytest.raises(InputError, match=r"integers 0, 1, 2: classes of a multiclass task.*label_0.*--label-kind regression"):
        load_sequence_table(path)
    table = load_sequence_table(path, allow_integer_classes=True)
    assert sorted(set(table.labels[:, 0])) == [0, 1, 2]


def test_split_rule_is_recorded(tmp_path):
    path = _table(tmp_path / "t.csv", label=[0, 1] * 10)
    assert load_sequence_table(path, seed=3).split_rule == "random 80/10/10 by seed 3"
    frame = pd.read_csv(path)
    frame["split"] = ["train"] * 16 + ["val"] * 2 + ["test"] * 2
    frame.to_csv(path, index=False)
    assert load_sequence_table(path).split_rule == "by its 'split' column"


def test_labels_that_are_not_numbers(tmp_path):
    frame = pd.DataFrame({"sequence": ["ACGT"], "label": ["yes"]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(InputError, match="label column.*label are not numbers"):
        load_sequence_table(tmp_path / "t.csv")


@pytest.mark.parametrize("sequences", [["ACGT", "ACXT", "GGGG"], ["ACGT", "ACXTTT", "GG"]], ids=["one length", "lengths differ"])
def test_sequences_become_codes_and_a_bad_letter_is_named(sequences):
    from dnabench.data.tables import encode_sequences

    good = [s.replace("X", "n") for s in sequences]
    codes, lengths = encode_sequences(good)
    width = max(map(len, good))
    assert codes.shape == (3, width) and codes.flags.writeable and lengths.tolist() == [len(s) for s in good]
    assert codes[0, :4].tolist() == [0, 1, 2, 3] and codes[1, 2] == 4  # lower-case n is N
    assert (codes[2, len(good[2]):] == 4).all()  # right-padded with N
    with pytest.raises(InputError, match=r"invalid letter 'X' at position 3 of row 2"):
        encode_sequences(sequences, "t.csv")
