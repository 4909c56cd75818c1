"""VCF reader: counts on a real bgzipped VCF checked against a plain-text parse, allele kinds,
multi-allelic splitting, plain / gzip / bgzip / indexed input, regions and errors."""

from __future__ import annotations

import ast
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnabench.io.files import InputError
from dnabench.io.variants import VARIANT_COLUMNS
from dnabench.io.vcf import VCF_COLUMNS, parse_region, read_vcf, vcf_contigs

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=1000>\n"
    "##contig=<ID=chr2,length=1000>\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)
# one record of every kind; the line numbers are 5..12
RECORDS = [
    "chr1\t10\trs1\tA\tG\t.\t.\t.",  # snv
    "chr1\t20\t.\tac\tgt,A,<DEL>,*\t.\t.\t.",  # mnv (lowercase), indel, symbolic, star
    "chr1\t30\t.\tA\t.\t.\t.\t.",  # missing ALT
    "chr1\t40\t.\tA\tA[chr2:100[\t.\t.\t.",  # breakend: kept as written
    "chr1\t50\t.\tN\tA\t.\t.\t.",  # other (N)
    "chr2\t5\trs2;rs3\tC\tT,CA\t.\t.\t.",  # snv + indel
    "chr2\t60\t.\tG\tc\t.\t.\t.",  # snv, lowercase ALT
    "chr2\t900\t.\tT\tG\t.\t.\t.",
]


def write_vcf(path: Path, records=RECORDS, opener=open) -> Path:
    with opener(path, "wt") as f:
        f.write(HEADER + "".join(r + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def real_vcf(shared_data) -> Path:
    return shared_data / "Variants" / "cyvcf2" / "o.vcf.gz"


@pytest.fixture(scope="module")
def real_text(real_vcf):
    """The real VCF's data lines parsed independently: (line number, fields)."""
    lines = gzip.open(real_vcf, "rt").read().splitlines()
    return [(i, line.split("\t")) for i, line in enumerate(lines, start=1) if not line.startswith("#")]


@pytest.fixture(scope="module")
def real(real_vcf):
    return read_vcf(real_vcf)


# ----- the real VCF ----------------------------------------------------------------------------------


def test_real_counts_match_a_plain_text_parse(real, real_text):
    table, counts = real
    alleles = [(f[0], int(f[1]), f[3], a) for _, f in real_text for a in f[4].split(",")]
    snvs = sum(len(r) == 1 and len(a) == 1 and r != a for *_, r, a in alleles)
    indels = sum(len(r) != len(a) for *_, r, a in alleles)
    assert counts["records"] == len(real_text) == 2082
    assert counts["alleles"] == len(alleles) == len(table)
    assert counts["snvs"] == snvs
    assert counts["indels"] == indels
    assert counts["mnvs"] == counts["symbolic"] == counts["missing"] == counts["skipped"] == 0
    assert counts["snvs"] + counts["indels"] + counts["other"] == counts["alleles"]
    assert sum(any(len(a) != len(f[3]) for a in f[4].split(",")) for _, f in real_text) == 42
    assert sum("," in f[4] for _, f in real_text) == 5
    # the rows are the alleles, in file order, with the record's line
    assert list(table.columns) == list(VCF_COLUMNS)
    assert list(zip(table.chrom, table.pos, table.ref, table.alt)) == alleles
    lines = [i for i, f in real_text for _ in f[4].split(",")]
    assert table["line"].to_numpy(dtype=np.int64).tolist() == lines
    assert table["pos"].dtype == np.int64


def test_real_multiallelic_records_are_one_row_per_alt(real):
    table, _ = real
    multi = table[table.duplicated("record", keep=False)]
    assert multi.record.nunique() == 5
    chr4 = multi[(multi.chrom == "chr4") & (multi.pos == 145478931)]
    assert chr4[["ref", "alt", "allele", "kind"]].values.tolist() == [
        ["A", "ATAT", 1, "indel"],
        ["A", "ATATAT", 2, "indel"],
    ]
    chr5 = multi[(multi.chrom == "chr5") & (multi.pos == 85058211)]
    assert chr5[["ref", "alt", "allele"]].values.tolist() == [["TATA", "T", 1], ["TATA", "TATAATG", 2]]
    assert chr4.record.nunique() == chr5.record.nunique() == 1


def test_real_snvs_only_skips_and_counts(real_vcf, real):
    table, counts = read_vcf(real_vcf, snvs_only=True)
    full, full_counts = real
    assert (table.kind == "snv").all()
    assert len(table) == counts["snvs"] == full_counts["snvs"]
    assert counts["skipped_indels"] == full_counts["indels"]
    assert counts["skipped"] == counts["alleles"] - len(table)
    pd.testing.assert_frame_equal(table, full[full.kind == "snv"].reset_index(drop=True))


def test_real_contigs(real_vcf):
    contigs = vcf_contigs(real_vcf)
    assert contigs[:3] == ["chrM", "chr1", "chr2"]
    assert set(contigs) == {"chrM", "chrX", "chrY"} | {f"chr{i}" for i in range(1, 23)}


def test_real_region_with_and_without_index(real_vcf, real, tmp_path):
    import pysam

    table, _ = real
    indexed = tmp_path / "o.vcf.gz"
    indexed.write_bytes(real_vcf.read_bytes())
    pysam.tabix_index(str(indexed), preset="vcf", force=True)
    want = table[(table.chrom == "chr4") & (table.pos >= 145478931 - 3) & (table.pos <= 150_000_000)]
    got_index, counts = read_vcf(indexed, region="chr4:145,478,928-150000000")
    got_filter, _ = read_vcf(real_vcf, region="chr4:145478928-150000000")
    cols = ["chrom", "pos", "ref", "alt", "allele"]
    assert len(want) > 2
    assert got_index[cols].values.tolist() == got_filter[cols].values.tolist() == want[cols].values.tolist()
    assert counts["records"] == want.record.nunique()
    assert got_index["line"].isna().all()  # an index fetch does not know line numbers
    assert got_filter["line"].tolist() == want["line"].tolist()


def test_real_bcf_reads_the_same_without_line_numbers(real_vcf, real, tmp_path):
    import pysam

    with pysam.VariantFile(str(real_vcf)) as src, pysam.VariantFile(str(tmp_path / "o.bcf"), "wb", header=src.header) as out:
        for rec in src:
            out.write(rec)
    table, counts = read_vcf(tmp_path / "o.bcf")
    assert counts == real[1]
    pd.testing.assert_frame_equal(table.drop(columns="line"), real[0].drop(columns="line"))
    assert table["line"].isna().all()


# ----- kinds, formats ----------------------------------------------------------------------------------


def test_every_allele_kind_is_counted(tmp_path):
    table, counts = read_vcf(write_vcf(tmp_path / "k.vcf"))
    assert counts == {
        "records": 8,
        "alleles": 11,
        "snvs": 4,
        "mnvs": 1,
        "indels": 2,
        "symbolic": 3,
        "other": 1,
        "missing": 1,
        "skipped": 0,
        "skipped_mnvs": 0,
        "skipped_indels": 0,
        "skipped_symbolic": 0,
        "skipped_other": 0,
    }
    rows = table[["chrom", "pos", "ref", "alt", "kind", "allele", "line"]].values.tolist()
    assert rows[1:5] == [
        ["chr1", 20, "AC", "GT", "mnv", 1, 6],
        ["chr1", 20, "AC", "A", "indel", 2, 6],
        ["chr1", 20, "AC", "<DEL>", "symbolic", 3, 6],
        ["chr1", 20, "AC", "*", "symbolic", 4, 6],
    ]
    assert rows[5] == ["chr1", 40, "A", "A[chr2:100[", "symbolic", 1, 8]  # breakend case kept
    assert rows[6][4] == "other"
    assert table.loc[table.pos == 60, "alt"].tolist() == ["C"]
    assert table.loc[table.pos == 5, "id"].tolist() == ["rs2;rs3"] * 2
    assert table.loc[table.pos == 10, "id"].tolist() == ["rs1"]
    assert 30 not in table.pos.tolist()  # ALT '.' gives no row
    assert list(table.columns[:4]) == list(VARIANT_COLUMNS)


def test_snvs_only_counts_each_skipped_kind(tmp_path):
    table, counts = read_vcf(write_vcf(tmp_path / "k.vcf"), snvs_only=True)
    assert table.pos.tolist() == [10, 5, 60, 900]
    assert (counts["skipped_mnvs"], counts["skipped_indels"], counts["skipped_symbolic"], counts["skipped_other"]) == (
        1,
        2,
        3,
        1,
    )
    assert counts["skipped"] == 7 == counts["alleles"] - len(table)
    assert counts["missing"] == 1


@pytest.mark.parametrize("compression", ["gzip", "bgzip"])
def test_compressed_reads_like_plain(tmp_path, compression):
    import pysam

    plain = read_vcf(write_vcf(tmp_path / "k.vcf"))
    if compression == "gzip":
        path = write_vcf(tmp_path / "k.vcf.gz", opener=gzip.open)
    else:
        path = tmp_path / "k.vcf.gz"
        pysam.tabix_compress(str(tmp_path / "k.vcf"), str(path), force=True)
    got = read_vcf(path)
    pd.testing.assert_frame_equal(got[0], plain[0])
    assert got[1] == plain[1]
    assert vcf_contigs(path) == ["chr1", "chr2"]


def test_region_on_plain_and_gzip_files_filters(tmp_path):
    for path in (write_vcf(tmp_path / "k.vcf"), write_vcf(tmp_path / "k.vcf.gz", opener=gzip.open)):
        assert read_vcf(path, region="chr1:21-40")[0].pos.tolist() == [20, 20, 20, 20, 40]  # REF 'AC' spans 20-21
        assert read_vcf(path, region="chr1:22-39")[1]["records"] == 1  # the missing-ALT record at 30
        assert read_vcf(path, region="chr2")[0].pos.tolist() == [5, 5, 60, 900]
        assert read_vcf(path, region="chr2:61")[0].pos.tolist() == [900]
        assert len(read_vcf(path, region="chr2:1-4")[0]) == 0


def test_bad_regions_are_value_errors(tmp_path):
    path = write_vcf(tmp_path / "k.vcf")
    with pytest.raises(ValueError, match="'chr3' is not in the header"):
        read_vcf(path, region="chr3:1-10")
    with pytest.raises(ValueError, match="before START"):
        read_vcf(path, region="chr1:10-5")
    with pytest.raises(ValueError, match="expected CHROM"):
        read_vcf(path, region="chr1:a-b")
    assert parse_region("HLA-A*01:01", ["HLA-A*01:01"]).chrom == "HLA-A*01:01"


# ----- errors ---------------------------------------------------------------------------------------


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.vcf"):
        read_vcf(tmp_path / "nope.vcf")
    with pytest.raises(InputError, match="is a folder"):
        read_vcf(tmp_path)


def test_garbage_and_empty_files_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.vcf"
    garbage.write_text("hello world\nnot a vcf\n")
    with pytest.raises(InputError, match=r"garbage\.vcf: not a VCF file: the first line is 'hello world'"):
        read_vcf(garbage)
    empty = tmp_path / "empty.vcf"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.vcf: empty file"):
        vcf_contigs(empty)
    zipped = tmp_path / "garbage.vcf.gz"
    zipped.write_bytes(gzip.compress(b"hello\n" * 1000))
    with pytest.raises(InputError, match=r"garbage\.vcf\.gz: not a VCF file"):
        read_vcf(zipped)


def test_truncated_files_name_the_file(real_vcf, tmp_path):
    cut = tmp_path / "cut.vcf.gz"
    data = real_vcf.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.vcf\.gz: truncated or corrupt bgzip"):
        read_vcf(cut)
    cut_gzip = tmp_path / "cut_gzip.vcf.gz"
    data = gzip.compress(gzip.decompress(data))
    cut_gzip.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut_gzip\.vcf\.gz: corrupt or truncated gzip"):
        read_vcf(cut_gzip)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("chr1\tXX\t.\tA\tG\t.\t.\t.", "POS 'XX' is not a positive integer"),
        ("chr1\t15\t.\tA", "4 tab-separated fields"),
        ("", "empty line"),
    ],
)
def test_malformed_record_names_file_and_line(tmp_path, bad, message):
    records = RECORDS[:2] + [bad] + RECORDS[2:]
    for path in (write_vcf(tmp_path / "bad.vcf", records), write_vcf(tmp_path / "bad.vcf.gz", records, gzip.open)):
        with pytest.raises(InputError, match=rf"{path.name}:7: malformed VCF record: {message}") as err:
            read_vcf(path)
        assert err.value.line == 7


def test_module_imports_pysam_only_inside_functions():
    """`dnabench --help` stays fast: no module-level import of pysam."""
    import dnabench.io.vcf as vcf

    tree = ast.parse(Path(vcf.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name for n in top for a in n.names} | {n.module for n in top if isinstance(n, ast.ImportFrom)}
    assert not any(name and name.split(".")[0] == "pysam" for name in names)
