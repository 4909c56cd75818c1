"""Readers of ExPecto's tables: geneanno.csv (real file), the expression matrix layout, the TSS BED."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from dnabench.io.expecto import GENEANNO_COLUMNS, read_expression, read_geneanno, read_tss_bed
from dnabench.io.files import InputError

HEADER = ",".join(GENEANNO_COLUMNS)


@pytest.fixture(scope="module")
def expecto(shared_data):
    return shared_data / "GeneExp" / "expecto"


def write(path, text: str):
    path.write_text(text)
    return path


# ----- geneanno.csv ---------------------------------------------------------------------------------


def test_real_geneanno(expecto):
    genes = read_geneanno(expecto / "geneanno.csv")
    raw = pd.read_csv(expecto / "geneanno.csv")
    assert len(genes) == 24_339 and list(genes.columns[:7]) == list(GENEANNO_COLUMNS)
    assert genes["TSS"].dtype == np.int64 and genes["CAGE_representative_TSS"].dtype == np.int64
    np.testing.assert_array_equal(genes["CAGE_representative_TSS"], raw["CAGE_representative_TSS"])
    np.testing.assert_array_equal(genes["id"], raw["id"])
    np.testing.assert_array_equal(genes["line"], np.arange(2, 24_341))
    assert set(genes["strand"]) == {"+", "-"}
    assert genes["type"].value_counts().to_dict() == {"protein_coding": 18_709, "lincRNA": 5_108, "rRNA": 522}


def test_geneanno_positions_are_one_based(expecto):
    """The BED (0-based) puts every TSS one base before geneanno.csv's value: the csv is 1-based."""
    genes = read_geneanno(expecto / "geneanno.csv")
    bed = read_tss_bed(expecto / "geneanno.pc.sorted.bed")
    assert len(bed) == 18_625 and (bed["end"] - bed["start"] == 1).all()
    m = bed.merge(genes, on="id", suffixes=("_bed", ""))
    assert len(m) == 18_625
    assert (m["start"] == m["CAGE_representative_TSS"] - 1).all() and (m["end"] == m["CAGE_representative_TSS"]).all()
    assert (m["chrom"] == m["seqnames"]).all() and (m["strand_bed"] == m["strand"]).all()
    assert (m["start"] == m["TSS"] - 1).mean() < 0.2  # the BED follows the CAGE column, not TSS


def test_geneanno_errors(tmp_path):
    with pytest.raises(InputError, match=r"a\.csv:1: gene annotation lacks column\(s\) CAGE_representative_TSS, type"):
        read_geneanno(write(tmp_path / "a.csv", "id,symbol,seqnames,strand,TSS\nG1,A,chr1,+,10\n"))
    with pytest.raises(InputError, match=r"b\.csv:3: CAGE_representative_TSS must be an integer >= 1, got '12\.5'"):
        read_geneanno(write(tmp_path / "b.csv", f"{HEADER}\nG1,A,chr1,+,10,10,lincRNA\nG2,B,chr1,+,10,12.5,lincRNA\n"))
    with pytest.raises(InputError, match=r"c\.csv:2: TSS must be an integer >= 1, got '0'"):
        read_geneanno(write(tmp_path / "c.csv", f"{HEADER}\nG1,A,chr1,+,0,10,lincRNA\n"))
    with pytest.raises(InputError, match=r"d\.csv:4: gene 'G2' has strand '\.'"):
        read_geneanno(write(tmp_path / "d.csv", f"{HEADER}\nG1,A,chr1,+,5,5,x\n\nG2,B,chr1,.,5,5,x\n"))
    with pytest.raises(InputError, match=r"e\.csv:2: 6 fields, the header of this gene annotation has 7"):
        read_geneanno(write(tmp_path / "e.csv", f"{HEADER}\nG1,A,chr1,+,5,5\n"))
    with pytest.raises(InputError, match=r"f\.csv: file is empty"):
        read_geneanno(write(tmp_path / "f.csv", "\n\n"))
    with pytest.raises(InputError, match="no genes"):
        read_geneanno(write(tmp_path / "g.csv", HEADER + "\n"))


# ----- the expression matrix ------------------------------------------------------------------------


def test_expecto_layout_drops_the_index_column_and_keeps_pandas_names(tmp_path):
    """ExPecto's layout: an unnamed first column of row labels; repeated names become X, X.1 as in pandas."""
    path = write(tmp_path / "exp.csv", ",Liver,GM12878,GM12878\n1,0.5,2,0\n2,,NA,3.25\n\n3,1e-3,4,NaN\n")
    m = read_expression(path)
    assert m.names == ["Liver", "GM12878", "GM12878.1"] == list(pd.read_csv(path).columns[1:])
    np.testing.assert_array_equal(m.index, ["1", "2", "3"])
    np.testing.assert_array_equal(m.lines, [2, 3, 5])
    np.testing.assert_array_equal(m.values, [[0.5, 2, 0], [np.nan, np.nan, 3.25], [1e-3, 4, np.nan]])
    assert m.missing == 3 and len(m) == 3


def test_quoted_header_gene_id_column_and_no_index(tmp_path):
    m = read_expression(write(tmp_path / "q.csv", '"","A","B"\n"1",1,2\n'))
    assert m.names == ["A", "B"] and m.index.tolist() == ["1"]
    m = read_expression(write(tmp_path / "g.csv", "gene_id,A\nENSG1,1\nENSG2,2\n"))
    assert m.names == ["A"] and m.index.tolist() == ["ENSG1", "ENSG2"]
    m = read_expression(write(tmp_path / "n.csv", "A,B\n1,2\n3,4\n"))
    assert m.names == ["A", "B"] and m.index is None
    np.testing.assert_array_equal(m.values, [[1, 2], [3, 4]])


def test_gzip_matrix(tmp_path):
    path = tmp_path / "exp.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write(",A\n1,7\n")
    assert read_expression(path).values.tolist() == [[7.0]]


def test_expression_errors(tmp_path):
    with pytest.raises(InputError, match=r"x\.csv:4: value 'abc' of column 'B' is not a number"):
        read_expression(write(tmp_path / "x.csv", ",A,B\n1,1,2\n2,1,3\n3,1,abc\n"))
    with pytest.raises(InputError, match=r"y\.csv:3: 2 fields, the header of this expression matrix has 3"):
        read_expression(write(tmp_path / "y.csv", ",A,B\n1,1,2\n2,1\n"))
    with pytest.raises(InputError, match=r"y2\.csv:3: cannot parse the table"):
        read_expression(write(tmp_path / "y2.csv", ',A,B\n1,1,2\n2,1,"2",5\n'))
    with pytest.raises(InputError, match=r"z\.csv:2: value inf of column 'A' is not finite"):
        read_expression(write(tmp_path / "z.csv", ",A\n1,inf\n"))
    with pytest.raises(InputError, match="header but no rows"):
        read_expression(write(tmp_path / "h.csv", ",A\n"))
    with pytest.raises(InputError, match="no value columns"):
        read_expression(write(tmp_path / "i.csv", "id\nG1\n"))
    with pytest.raises(InputError, match="file is empty"):
        read_expression(write(tmp_path / "e.csv", ""))


# ----- the TSS BED ---------------------------------------------------------------------------------


def test_tss_bed_errors(tmp_path):
    with pytest.raises(InputError, match=r"a\.bed:2: 6 tab-separated fields; ExPecto's TSS BED has 5"):
        read_tss_bed(write(tmp_path / "a.bed", "chr1\t5\t6\t+\tG1\nchr1\t5\t6\tx\t0\t+\n"))
    with pytest.raises(InputError, match=r"b\.bed:1: start must be an integer >= 0, got 'x'"):
        read_tss_bed(write(tmp_path / "b.bed", "chr1\tx\t6\t+\tG1\n"))
    with pytest.raises(InputError, match=r"c\.bed:1: end 5 is not after start 5"):
        read_tss_bed(write(tmp_path / "c.bed", "chr1\t5\t5\t+\tG1\n"))
    with pytest.raises(InputError, match=r"d\.bed:1: gene 'G1' has strand '\*'"):
        read_tss_bed(write(tmp_path / "d.bed", "chr1\t5\t6\t*\tG1\n"))
