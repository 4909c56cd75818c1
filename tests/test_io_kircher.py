"""The Kircher 2019 MPRA table reader: the real table, its conventions, and bad lines named."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from dnabench.io.files import InputError
from dnabench.io.kircher import KIRCHER_HEADER, read_kircher

HEADER = "\t".join(KIRCHER_HEADER)
GOOD = [
    "5\t1295228\tG\tA\t464\t30420\t115807\t1.997811557601\t0\tTERT-HEK\tGRCh37",
    "5\t1295228\tG\t-\t90\t3090\t2902\t-0.25\t0.0037\tTERT-HEK\tGRCh37",
    "NA\tNA\tNA\tNA\t3\t29\t50\t-0.33\t0.48\tMSMB\tGRCh38",
    "X\t139530463\tG\tC\t12\t581\t383\tNA\tNA\tF9\tGRCh38",
]


@pytest.fixture(scope="module")
def table_path(shared_data):
    return shared_data / "MPRAProm" / "kircher2019_satmut" / "elements.tsv.gz"


@pytest.fixture(scope="module")
def table(table_path):
    return read_kircher(table_path)


def write(tmp_path, lines, name="t.tsv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_real_table_counts_and_columns(table, table_path):
    v, u = table.variants, table.unplaced
    assert table.path == table_path
    assert len(v) + len(u) == 89_316 and len(u) == 22
    assert list(v.columns) == ["chrom", "pos", "ref", "alt", "barcodes", "dna", "rna", "coefficient", "pvalue", "element", "release", "line"]
    assert v["pos"].dtype == np.int64 and v["barcodes"].dtype == np.int64 and v["coefficient"].dtype == np.float64
    assert table.unplaced_counts() == {"GRCh37": {"MSMB": 7, "MYCrs11986220": 4}, "GRCh38": {"MSMB": 7, "MYCrs11986220": 4}}
    # every variant once per release, the same measurements; only the coordinates differ
    key = ["element", "barcodes", "dna", "rna", "coefficient", "alt_class"]
    per = {}
    for release in ("GRCh37", "GRCh38"):
        rows = v[v["release"] == release].assign(alt_class=lambda d: d["alt"] == "-")
        per[release] = rows.sort_values(key, kind="stable").reset_index(drop=True)
    a, b = per["GRCh37"], per["GRCh38"]
    assert len(a) == len(b) == 44_647 and not a.duplicated(key).any()
    assert (a[key] == b[key]).all().all()
    shift = b["pos"] - a["pos"]
    msmb = (a["element"] == "MSMB").to_numpy()
    assert shift[~msmb].groupby(a["element"][~msmb]).nunique().max() == 1  # one offset per element
    assert (a.loc[~msmb, ["ref", "alt"]].to_numpy() == b.loc[~msmb, ["ref", "alt"]].to_numpy()).all()
    # the MSMB region is inverted in GRCh38: pos37 + pos38 is constant and the alleles are complemented
    assert (a["pos"][msmb] + b["pos"][msmb]).nunique() == 1
    comp = {"A": "T", "C": "G", "G": "C", "T": "A", "-": "-"}
    assert (a["ref"][msmb].map(comp) == b["ref"][msmb]).all() and (a["alt"][msmb].map(comp) == b["alt"][msmb]).all()
    assert set(v["ref"]) == set("ACGT") and set(v["alt"]) == set("ACGT-")
    assert v["element"].nunique() == 29
    # lines: header is line 1, so row i of the file is line i + 2
    assert v["line"].iloc[0] == 2 and np.all(np.diff(np.sort(np.concatenate([v["line"], u["line"]]))) == 1)


def test_positions_are_one_based(table):
    """The source's element coordinates (1-based, inclusive) are the first and last Pos of its rows."""
    v = table.variants
    bcl = v[(v["element"] == "BCL11A") & (v["release"] == "GRCh38")]
    assert (bcl["chrom"].iloc[0], bcl["pos"].min(), bcl["pos"].max()) == ("2", 60_494_940, 60_495_539)
    f9 = v[(v["element"] == "F9") & (v["release"] == "GRCh37")]
    assert (f9["chrom"].iloc[0], f9["pos"].min(), f9["pos"].max()) == ("X", 138_612_622, 138_612_924)
    # TERT -124C>T and -146C>T (C228T, C250T: hg19 chr5:1,295,228 and 1,295,250, G>A on the + strand)
    # are the two strongest SNV effects of TERT-HEK
    tert = v[(v["element"] == "TERT-HEK") & (v["release"] == "GRCh37") & (v["alt"] != "-")]
    top = tert.nlargest(2, "coefficient")
    assert sorted(zip(top["pos"], top["ref"], top["alt"])) == [(1_295_228, "G", "A"), (1_295_250, "G", "A")]


def test_plain_and_gzip_give_the_same_rows(tmp_path):
    plain = write(tmp_path, [HEADER, *GOOD])
    packed = tmp_path / "t.tsv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    crlf = tmp_path / "crlf.tsv"
    crlf.write_bytes(plain.read_bytes().replace(b"\n", b"\r\n"))
    a, b, c = read_kircher(plain), read_kircher(packed), read_kircher(crlf)
    for other in (b, c):
        assert a.variants.equals(other.variants) and a.unplaced.equals(other.unplaced)
    assert list(a.variants["line"]) == [2, 3, 5] and list(a.unplaced["line"]) == [4]
    assert np.isnan(a.variants["coefficient"].iloc[2]) and np.isnan(a.variants["pvalue"].iloc[2])
    assert a.variants["alt"].iloc[1] == "-"


@pytest.mark.parametrize(
    "line, message",
    [
        ("5\t0\tG\tA\t1\t1\t1\t0.1\t0.5\tTERT-HEK\tGRCh37", "Pos must be an integer >= 1, got '0'"),
        ("5\t12x\tG\tA\t1\t1\t1\t0.1\t0.5\tTERT-HEK\tGRCh37", "Pos must be an integer >= 1, got '12x'"),
        ("5\t10\tN\tA\t1\t1\t1\t0.1\t0.5\tTERT-HEK\tGRCh37", "Ref must be one of A, C, G, T, got 'N'"),
        ("5\t10\tG\tAC\t1\t1\t1\t0.1\t0.5\tTERT-HEK\tGRCh37", "Alt must be one of A, C, G, T, -, got 'AC'"),
        ("5\t10\tG\tA\t-1\t1\t1\t0.1\t0.5\tTERT-HEK\tGRCh37", "Barcodes must be an integer >= 0, got '-1'"),
        ("5\t10\tG\tA\t1\t1\t1\tabc\t0.5\tTERT-HEK\tGRCh37", "Coefficient must be a number or NA, got 'abc'"),
        ("5\t10\tG\tA\t1\t1\t1\t0.1\t0.5\tTERT-HEK\thg19", "Release must be one of GRCh37, GRCh38, got 'hg19'"),
        ("5\t10\tG\tA\t1\t1\t1\t0.1\t0.5\t\tGRCh37", "Element is empty"),
        ("NA\t10\tG\tA\t1\t1\t1\t0.1\t0.5\tMSMB\tGRCh37", "must be all NA"),
        ("5\t10\tG\tA\t1\t1\t1\t0.1\t0.5\tTERT-HEK", "10 tab-separated fields, expected 11"),
        ("", "blank line, expected 11"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path, line, message):
    path = write(tmp_path, [HEADER, GOOD[0], GOOD[1], line, GOOD[3]])
    with pytest.raises(InputError, match=f"t.tsv:4: .*{message}") as err:
        read_kircher(path)
    assert err.value.line == 4


def test_bad_header_and_empty_file(tmp_path):
    with pytest.raises(InputError, match=r"t.tsv:1: header must be .*Chrom Pos Ref Alt"):
        read_kircher(write(tmp_path, ["Chromosome\tPosition\tRef\tAlt", GOOD[0]]))
    (tmp_path / "e.tsv").write_text("")
    with pytest.raises(InputError, match="e.tsv: file is empty"):
        read_kircher(tmp_path / "e.tsv")
