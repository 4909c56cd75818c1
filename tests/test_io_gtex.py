"""GTEx readers on the real files of shared/data/CausalSNP, checked against plain csv/gzip parsing."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnabench.io.files import InputError
from dnabench.io.gtex import (
    FINEMAPPING_COLUMNS,
    detect_layout,
    fivex_gene,
    parse_variant_ids,
    read_dapg,
    read_finemapping,
    read_fivex,
    variant_ids,
)

FIVEX = {  # file -> (rows, tissues), from SOURCES.md
    "ENSG00000084674.eqtl.pip.txt.gz": (306, 22),
    "ENSG00000134222.eqtl.pip.txt.gz": (795, 45),
    "ENSG00000134243.eqtl.pip.txt.gz": (670, 14),
    "ENSG00000143126.eqtl.pip.txt.gz": (456, 35),
}


@pytest.fixture(scope="module")
def dapg_path(shared_data) -> Path:
    return shared_data / "CausalSNP" / "angiotensinII_lung_dapg" / "DAPG_angiotensin_lung.txt"


@pytest.fixture(scope="module")
def fivex_dir(shared_data) -> Path:
    return shared_data / "CausalSNP" / "fivex_piptables"


def _plain_rows(path: Path, header: bool) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[1:] if header else rows


# ----- variant ids -------------------------------------------------------------------------------


def test_variant_ids_are_split_into_1_based_alleles():
    ids = ["chr1_12345_A_G_b38", "chr3_148515076_A_ATCT_b38", "chrX_5_c_t_b38", "chrUn_KI270742v1_100_A_G_b38", "1_99_G_A_b37", "chr1_12345_A_G_b38"]
    got = parse_variant_ids(ids)
    assert list(got.columns) == ["chrom", "pos", "ref", "alt", "build"]
    assert got["chrom"].tolist() == ["chr1", "chr3", "chrX", "chrUn_KI270742v1", "1", "chr1"]
    assert got["pos"].tolist() == [12345, 148515076, 5, 100, 99, 12345] and got["pos"].dtype == np.int64
    assert got["ref"].tolist() == ["A", "A", "C", "A", "G", "A"]
    assert got["alt"].tolist() == ["G", "ATCT", "T", "G", "A", "G"]
    assert got["build"].tolist() == ["b38"] * 4 + ["b37", "b38"]
    assert variant_ids(got["chrom"][:3], got["pos"][:3], got["ref"][:3], got["alt"][:3]).tolist() == ["chr1_12345_A_G_b38", "chr3_148515076_A_ATCT_b38", "chrX_5_C_T_b38"]


@pytest.mark.parametrize("bad", ["chr1_12345_A_G", "chr1-12345-A-G-b38", "chr1_12x45_A_G_b38", "chr1_12345_A_1_b38", "", "chr1_0_A_G_b38"])
def test_a_malformed_id_names_the_value_and_row(bad):
    with pytest.raises(ValueError, match=rf"malformed GTEx variant id '{bad}'.*row 1"):
        parse_variant_ids(["chr1_1_A_G_b38", bad, "chr1_2_A_G_b38"])
    with pytest.raises(InputError, match=rf"^f\.txt:7: malformed GTEx variant id '{bad}'"):
        parse_variant_ids(["chr1_1_A_G_b38", bad], path="f.txt", lines=[6, 7])


def test_ids_of_the_real_independent_eqtl_table_match_its_chr_and_pos(shared_data):
    path = shared_data / "CausalSNP" / "gtex_v8_paper" / "Whole_Blood.v8.independent_eqtls.annotated_Peters_celltype_eQTLs.txt.gz"
    table = pd.read_csv(path, sep="\t", usecols=["variant_id", "chr", "pos"])
    got = parse_variant_ids(table["variant_id"])
    assert len(got) == 16_265
    assert (got["chrom"].to_numpy() == table["chr"].to_numpy()).all()
    assert (got["pos"].to_numpy() == table["pos"].to_numpy()).all()
    assert set(got["build"]) == {"b38"}
    assert (variant_ids(got["chrom"], got["pos"], got["ref"], got["alt"]) == table["variant_id"].to_numpy()).all()


# ----- DAP-G -------------------------------------------------------------------------------------


def test_real_dapg_file(dapg_path):
    got = read_dapg(dapg_path)
    plain = _plain_rows(dapg_path, header=True)
    assert list(got.columns) == list(FINEMAPPING_COLUMNS) and len(got) == len(plain) == 242
    assert set(got["tissue"]) == {"Lung"} and set(got["gene"]) == {"ENSG00000144891.17"}
    ids = [r[4].split("_") for r in plain]
    assert got["chrom"].astype(str).tolist() == [p[0] for p in ids]
    assert got["pos"].tolist() == [int(p[1]) for p in ids]
    assert got["ref"].tolist() == [p[2] for p in ids] and got["alt"].tolist() == [p[3] for p in ids]
    assert np.array_equal(got["pip"].to_numpy(), np.array([float(r[5]) for r in plain]))
    assert got["line"].tolist() == list(range(2, 244))
    indels = sum(len(p[2]) != len(p[3]) for p in ids)
    assert indels == 26 and ((got["ref"].str.len() != got["alt"].str.len()).sum()) == indels
    assert "chr3_148515076_A_ATCT_b38" in {r[4] for r in plain}
    assert detect_layout(dapg_path) == "dapg"


def test_dapg_gzip_and_plain_read_the_same(dapg_path, tmp_path):
    gz = tmp_path / "GTEx_v8_finemapping_DAPG.txt.gz"
    gz.write_bytes(gzip.compress(dapg_path.read_bytes()))
    pd.testing.assert_frame_equal(read_finemapping(gz), read_finemapping(dapg_path))


def _write_dapg(tmp_path: Path, lines: list[str], name: str = "dapg.txt") -> Path:
    path = tmp_path / name
    path.write_text("tissue_id\tgene_id\tcluster_id\tcluster_pip\tvariant_id\tvariant_pip\n" + "".join(l + "\n" for l in lines))
    return path


def test_dapg_errors_name_the_file_line_and_value(tmp_path):
    good = "Lung\tENSG1\t1\t1.0\tchr1_100_A_G_b38\t0.5"
    path = _write_dapg(tmp_path, [good, good, "Lung\tENSG1\t1\t1.0\tchr1:100:A:G\t0.5"])
    with pytest.raises(InputError, match=r"dapg\.txt:4: malformed GTEx variant id 'chr1:100:A:G'"):
        read_dapg(path)
    path = _write_dapg(tmp_path, [good, "Lung\tENSG1\t1\t1.0\tchr1_100_A_G_b38\t1.5"])
    with pytest.raises(InputError, match=r"dapg\.txt:3: variant_pip must be a probability in \[0, 1\], got '1.5'"):
        read_dapg(path)
    path = _write_dapg(tmp_path, [good, good + "\textra"])
    with pytest.raises(InputError, match=r"dapg\.txt:3: 7 tab-separated fields, expected 6"):
        read_dapg(path)
    path = _write_dapg(tmp_path, [good, "Lung\tENSG1\t1"])
    with pytest.raises(InputError, match=r"dapg\.txt:3: empty variant_id"):
        read_dapg(path)


def test_blank_lines_keep_line_numbers(tmp_path):
    good = "Lung\tENSG1\t1\t1.0\tchr1_100_A_G_b38\t0.5"
    path = _write_dapg(tmp_path, [good, "", good, "Lung\tENSG1\t1\t1.0\tchr1_x_A_G_b38\t0.5"])
    with pytest.raises(InputError, match=r":5: malformed GTEx variant id 'chr1_x_A_G_b38'"):
        read_dapg(path)
    ok = read_dapg(_write_dapg(tmp_path, [good, "", good], "ok.txt"))
    assert ok["line"].tolist() == [2, 4]


def test_a_wrong_header_is_refused(tmp_path):
    path = tmp_path / "wrong.txt"
    path.write_text("tissue\tgene\tvariant\tpip\nLung\tENSG1\tchr1_100_A_G_b38\t0.5\n")
    with pytest.raises(InputError, match=r"wrong\.txt:1: not a fine-mapping table.*tissue_id, gene_id, cluster_id, cluster_pip, variant_id, variant_pip"):
        read_finemapping(path)
    half = tmp_path / "half.txt"
    half.write_text("variant_id\tvariant_pip\nchr1_100_A_G_b38\t0.5\n")
    with pytest.raises(InputError, match=r"half\.txt:1: DAP-G header lacks column\(s\) tissue_id, gene_id"):
        read_finemapping(half)
    with pytest.raises(InputError, match=r"wrong\.txt:1: not a FIVEx PIP table"):
        read_finemapping(path, layout="fivex")
    with pytest.raises(ValueError, match="layout must be one of auto, dapg, fivex"):
        read_finemapping(path, layout="vcf")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(InputError, match="empty"):
        read_finemapping(empty)


# ----- FIVEx -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FIVEX))
def test_real_fivex_tables(fivex_dir, name):
    path = fivex_dir / name
    got = read_finemapping(path)
    plain = _plain_rows(path, header=False)
    rows, tissues = FIVEX[name]
    assert detect_layout(path) == "fivex"
    assert len(got) == len(plain) == rows and got["tissue"].nunique() == tissues
    assert set(got["gene"]) == {name.split(".")[0]} == {fivex_gene(path)}
    assert got["chrom"].astype(str).tolist() == [r[0] for r in plain]
    assert got["pos"].tolist() == [int(r[1]) for r in plain]
    assert got["ref"].tolist() == [r[2] for r in plain] and got["alt"].tolist() == [r[3] for r in plain]
    assert got["tissue"].astype(str).tolist() == [r[4] for r in plain]
    assert np.array_equal(got["pip"].to_numpy(), np.array([float(r[7]) for r in plain]))
    assert got["line"].tolist() == list(range(1, rows + 1)) and set(got["build"]) == {""}


def test_fivex_indels_are_read(fivex_dir):
    got = read_fivex(fivex_dir / "ENSG00000134243.eqtl.pip.txt.gz")
    assert ((got["pos"] == 109274241) & (got["ref"] == "T") & (got["alt"] == "TC")).any()


def test_fivex_errors_name_the_line(tmp_path):
    good = "chr1\t100\tA\tG\tLung\t1\t0.9\t0.5\t1e-5\t0.1\t0.01"
    path = tmp_path / "ENSG1.eqtl.pip.txt"
    path.write_text(good + "\n" + good.replace("\t100\t", "\t1.5e2x\t") + "\n")
    with pytest.raises(InputError, match=r"ENSG1\.eqtl\.pip\.txt:2: position must be an integer >= 1.*'1.5e2x'"):
        read_fivex(path)
    path.write_text(good + "\n" + good.replace("\tA\tG\t", "\tA\t-\t") + "\n")
    with pytest.raises(InputError, match=r":2: alt_allele must be letters, got '-'"):
        read_fivex(path)
    path.write_text(good + "\n" + good.replace("\t0.5\t", "\tNA\t") + "\n")
    with pytest.raises(InputError, match=r":2: pip must be a probability"):
        read_fivex(path)
    path.write_text(good + "\n" + good.rsplit("\t", 1)[0] + "\n")
    with pytest.raises(InputError, match=r":2: empty stderr_beta \(is a field missing\?\)"):
        read_fivex(path)
    path.write_text(good + "\n" + good + "\tmore\n")
    with pytest.raises(InputError, match=r":2: 12 tab-separated fields, expected 11"):
        read_fivex(path)
    other = tmp_path / "x.txt"
    other.write_text(good + "\n")
    assert read_fivex(other, gene="G1")["gene"].tolist() == ["G1"]
