"""GeneExp: the real ExPecto annotation on hg19 sizes, window geometry on a small genome, labels, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.data.store import open_store
from dnabench.data.task import Activation, LossKind, Metric, TaskSpec
from dnabench.io.expecto import GENEANNO_COLUMNS
from dnabench.io.files import InputError
from dnabench.io.genome import index_genome
from dnabench.synthetic import HG19_SIZES, make_genome, sizes_only_genome
from dnabench.tasks import get_prepare
from dnabench.tasks.geneexp import build_geneexp

TISSUES = ["Adipose_Subcutaneous", "GM12878", "GM12878"]  # a repeated name, as in ExPecto's header
NAMES = ["Adipose_Subcutaneous", "GM12878", "GM12878.1"]
HEADER = ",".join(GENEANNO_COLUMNS)
COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


def write_matrix(path, values: np.ndarray, names=TISSUES) -> None:
    """ExPecto's layout: header with an empty first field, then a row number and the values."""
    body = pd.DataFrame(values).to_csv(header=False, float_format="%.6g")
    rows = "\n".join(f"{i + 1}{line[line.index(','):]}" for i, line in enumerate(body.splitlines()))
    path.write_text("," + ",".join(names) + "\n" + rows + "\n")


def write_annotation(path, rows: list[tuple]) -> None:
    path.write_text(HEADER + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


@pytest.fixture(scope="module")
def annotation(shared_data):
    return shared_data / "GeneExp" / "expecto" / "geneanno.csv"


@pytest.fixture(scope="module")
def hg19(tmp_path_factory):
    return sizes_only_genome(tmp_path_factory.mktemp("genome") / "hg19", HG19_SIZES)


@pytest.fixture(scope="module")
def rpkm():
    rng = np.random.default_rng(1)
    values = rng.gamma(0.4, 20.0, size=(24_339, len(TISSUES)))
    values[rng.random(values.shape) < 0.1] = 0.0
    return np.round(values, 3)


@pytest.fixture(scope="module")
def expression(tmp_path_factory, rpkm):
    path = tmp_path_factory.mktemp("exp") / "geneanno.exp.csv"
    write_matrix(path, rpkm)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory, annotation, expression, hg19):
    return build_geneexp(annotation, expression, hg19, tmp_path_factory.mktemp("s") / "geneexp", leakage=False)


# ----- the real annotation -------------------------------------------------------------------------


def test_rows_splits_and_strands_match_the_csv(store, annotation):
    csv = pd.read_csv(annotation)
    assert store.n_rows == 24_339
    regions = store.regions
    np.testing.assert_array_equal(regions["gene_id"], csv["id"])
    np.testing.assert_array_equal(regions["strand"].astype(str), csv["strand"])
    np.testing.assert_array_equal(regions["chrom"].astype(str), csv["seqnames"])
    want = np.where(csv["seqnames"].isin(["chrX", "chrY"]), "val", np.where(csv["seqnames"] == "chr8", "test", "train"))
    np.testing.assert_array_equal(regions["split"].astype(str), want)
    counts = pd.Series(want).value_counts().to_dict()
    assert store.card["counts"] == counts == {"train": 22_307, "val": 1_015, "test": 1_017}
    assert store.card["genes"]["per_split"] == counts
    assert store.card["genes"]["per_chromosome"] == csv["seqnames"].value_counts().to_dict()
    assert store.card["genes"]["per_strand"] == {"+": 12_314, "-": 12_025}
    tss0 = csv["CAGE_representative_TSS"].to_numpy() - 1
    np.testing.assert_array_equal(regions["tss"], tss0)
    minus = csv["strand"].to_numpy() == "-"
    np.testing.assert_array_equal(regions["start"], np.where(minus, tss0 - 19_999, tss0 - 20_000))
    assert (regions["end"] - regions["start"] == 40_000).all()


def test_card(store):
    card = store.card
    assert card["sample"] == {"kind": "segmented", "segments": 200, "segment_length": 200, "context": 400, "length": 1000}
    assert card["labels"]["names"] == NAMES and card["labels"]["transform"].startswith("log(x + 0.0001)")
    assert card["build"]["windows_padded_with_n"] == 0 and card["build"]["dropped_missing_chromosome"] == {}
    assert card["leakage"]["overlapping_intervals"]["rows"] == 0
    spec = TaskSpec.from_card(card)
    assert (spec.loss, spec.output, spec.metrics, spec.masked) == (LossKind.HUBER, Activation.IDENTITY, (Metric.SPEARMAN,), False)
    assert (spec.segments, spec.segment_length, spec.context, spec.input_length) == (200, 200, 400, 1000)
    assert card["split_rule"]["val"] == ["chrX", "chrY"] and card["split_rule"]["test"] == ["chr8"]
    assert store.sample_shape == (200, 1000)


def test_labels_are_expectos_log(store, expression):
    """train.py: np.log(geneexp.iloc[:, targetIndex] + pseudocount), pseudocount 0.0001."""
    geneexp = pd.read_csv(expression)
    want = np.stack([np.log(geneexp.iloc[:, j] + 0.0001) for j in range(1, geneexp.shape[1])], axis=1)
    got = store.labels.dense(np.arange(store.n_rows))
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-6)


def test_gene_set_and_bed_filter(tmp_path, annotation, expression, hg19, shared_data):
    bed = shared_data / "GeneExp" / "expecto" / "geneanno.pc.sorted.bed"
    s = build_geneexp(annotation, expression, hg19, tmp_path / "pc", genes="protein_coding", gene_bed=bed, leakage=False)
    csv = pd.read_csv(annotation)
    ids = set(pd.read_csv(bed, sep="\t", header=None)[4])
    want = csv[(csv["type"] == "protein_coding") & csv["id"].isin(ids)]
    assert s.n_rows == len(want) == 18_326
    np.testing.assert_array_equal(s.regions["gene_id"], want["id"])
    build = s.card["build"]
    assert build["dropped_by_gene_set"] == 24_339 - 18_709 and build["dropped_not_in_gene_bed"] == 383
    assert build["gene_bed"]["tsss"] == 18_625 and build["gene_bed"]["tss_equal_to_CAGE_representative_TSS"] == 18_625
    labels = s.labels.dense(np.arange(s.n_rows))
    np.testing.assert_array_equal(labels, store_labels_of(expression, want.index.to_numpy()))


def store_labels_of(expression, rows):
    values = pd.read_csv(expression).iloc[rows, 1:].to_numpy()
    return np.log(values + 0.0001).astype(np.float32)


# ----- geometry on a small genome -------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    make_genome({"chr1": 100_000, "chr8": 60_000, "chrX": 50_000}, sites_per_motif=2, seed=5).write_fasta(tmp / "g.fa")
    return index_genome(tmp / "g.fa", tmp / "cache", progress=False)


GENES = [  # id, symbol, chrom, strand, TSS, CAGE TSS (1-based), type
    ("G1", "PLUS", "chr1", "+", 30_000, 50_001, "protein_coding"),
    ("G2", "MINUS", "chr1", "-", 50_001, 60_001, "protein_coding"),
    ("G3", "NEAREND", "chr8", "-", 59_000, 59_000, "lincRNA"),
    ("G4", "NEARSTART", "chrX", "+", 100, 100, "lincRNA"),
    ("G5", "MID8", "chr8", "+", 30_000, 30_000, "rRNA"),
]


def small_inputs(tmp_path, genes=GENES, values=None):
    ann, exp = tmp_path / "geneanno.csv", tmp_path / "exp.csv"
    write_annotation(ann, genes)
    write_matrix(exp, np.arange(len(genes) * 3, dtype=float).reshape(-1, 3) if values is None else values)
    return ann, exp


def by_hand(genome, chrom, start, end, minus, s=200, c=400):
    """Fetch the + strand read with its context, reverse-complement it by hand for '-', cut the segments."""
    read = genome.fetch(chrom, start - c, end + c)
    if minus:
        read = COMPLEMENT[read][::-1]
    return np.stack([read[i * s : i * s + s + 2 * c] for i in range((end - start) // s)])


def test_segments_read_along_the_transcript(tmp_path, small):
    ann, exp = small_inputs(tmp_path)
    s = build_geneexp(ann, exp, small, tmp_path / "store")
    codes = s.sequences(np.arange(s.n_rows), small)
    assert codes.shape == (5, 200, 1000)
    for r, row in s.regions.iterrows():
        np.testing.assert_array_equal(codes[r], by_hand(small, str(row.chrom), row.start, row.end, row.strand == "-"))
    # the TSS base is the first base of segment 100 (reading index 20,000), on either strand
    plus = small.fetch("chr1", 50_000, 50_001)[0]
    minus = small.fetch("chr1", 60_000, 60_001)[0]
    assert codes[0, 100, 400] == plus and codes[1, 100, 400] == COMPLEMENT[minus]
    assert s.regions["tss"].tolist() == [50_000, 60_000, 58_999, 99, 29_999]
    # upstream of a '-' gene is to its right on the genome: segment 99 ends just past the TSS there
    np.testing.assert_array_equal(codes[1, 99, 400:600], COMPLEMENT[small.fetch("chr1", 60_001, 60_201)][::-1])


def test_windows_past_chromosome_ends_are_padded_and_counted(tmp_path, small):
    ann, exp = small_inputs(tmp_path)
    s = build_geneexp(ann, exp, small, tmp_path / "store")
    build = s.card["build"]
    # G3 (chr8 '-', tss0 58,999): read ends at 58,999 + 20,001 + 400 = 79,400 > 60,000
    # G4 (chrX '+', tss0 99): read starts at 99 - 20,000 - 400 = -20,301
    # G5 (chr8 '+', tss0 29,999): read [9,599, 50,399) fits; G1, G2 fit chr1
    assert build["windows_padded_with_n"] == 2 and build["padded_genes"] == ["G3", "G4"]
    assert build["padded_bases"] == (79_400 - 60_000) + 20_301
    codes = s.sequences([2, 3], small)
    assert (codes[0, :93] == 4).all() and not (codes[0, 93] == 4).all() and (codes[1, :97] == 4).all()  # '-': the 3' end reads first
    assert s.regions["split"].tolist() == ["train", "train", "test", "val", "test"]
    leak = s.card["leakage"]
    assert "identical_sequences" in leak and leak["identical_sequences"]["rows"] == 0


def test_tss_column_option_and_untransformed_labels(tmp_path, small):
    values = np.array([[1.0, -2.0, 3.5]] * len(GENES))
    ann, exp = small_inputs(tmp_path, values=values)
    s = build_geneexp(ann, exp, small, tmp_path / "store", tss="TSS", transform="none")
    assert s.regions["tss"].tolist() == [29_999, 50_000, 58_999, 99, 29_999]
    np.testing.assert_array_equal(s.labels.dense(np.arange(5)), values.astype(np.float32))
    assert s.card["labels"]["transform"] == "none (values as given)"
    with pytest.raises(InputError, match=r"exp\.csv:2: value -2\.0 of column 'GM12878' is <= -pseudocount.*transform 'none'"):
        build_geneexp(ann, exp, small, tmp_path / "logged")


def test_gene_sets_and_missing_values(tmp_path, small):
    values = np.arange(15, dtype=float).reshape(5, 3)
    values[1, 2] = np.nan
    ann, exp = small_inputs(tmp_path, values=values)
    s = build_geneexp(ann, exp, small, tmp_path / "lnc", genes="lincrna", leakage=False)
    assert s.regions["gene_id"].tolist() == ["G3", "G4"] and s.card["build"]["dropped_by_gene_set"] == 3
    s = build_geneexp(ann, exp, small, tmp_path / "norrna", genes="no_rrna", leakage=False)
    assert s.regions["gene_id"].tolist() == ["G1", "G2", "G3", "G4"]
    assert s.card["loss"] == "masked_huber" and s.card["build"]["missing_values"] == 1
    assert s.card["labels"]["observed_per_label"] == [4, 4, 3]
    assert np.isnan(s.labels.dense([1])[0, 2])


def test_cli_prepare_geneexp(tmp_path, small):
    ann, exp = small_inputs(tmp_path)
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["prepare", "geneexp", str(ann), "--expression", str(exp), "--genome", str(small.path),
                                      "--out", str(out), "--tss", "TSS", "--no-leakage"])
    assert result.exit_code == 0, result.output
    s = open_store(out, verify=True)
    assert s.card["parameters"]["tss"] == "TSS" and s.n_rows == 5
    bad = CliRunner().invoke(app, ["prepare", "geneexp", str(ann), "-e", str(exp), "-g", str(small.path), "-o",
                                   str(tmp_path / "x"), "--transform", "log2"])
    assert bad.exit_code != 0 and "transform must be one of 'log', 'none'" in bad.output
    assert get_prepare("GeneExp").spec.n_labels == 218


# ----- bad inputs ----------------------------------------------------------------------------------


def test_row_count_mismatch_names_both_files(tmp_path, small):
    ann, _ = small_inputs(tmp_path)
    exp = tmp_path / "short.csv"
    write_matrix(exp, np.ones((4, 3)))
    with pytest.raises(InputError, match=rf"short\.csv: 4 expression rows, but the annotation {ann} has 5 genes"):
        build_geneexp(ann, exp, small, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_bad_number_names_its_line(tmp_path, small):
    ann, exp = small_inputs(tmp_path)
    lines = exp.read_text().splitlines()
    lines[3] = "3,1,x1,2"
    exp.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"exp\.csv:4: value 'x1' of column 'GM12878' is not a number"):
        build_geneexp(ann, exp, small, tmp_path / "s")


def test_unknown_chromosome(tmp_path, small):
    genes = GENES + [("G6", "UN", "chrUn_gl000220", "+", 500, 500, "lincRNA")]
    ann, exp = small_inputs(tmp_path, genes=genes)
    with pytest.raises(InputError, match=r"geneanno\.csv:7: gene 'G6' is on chromosome 'chrUn_gl000220'.*--skip-missing"):
        build_geneexp(ann, exp, small, tmp_path / "s")
    s = build_geneexp(ann, exp, small, tmp_path / "s", skip_missing=True, leakage=False)
    assert s.n_rows == 5 and s.card["build"]["dropped_missing_chromosome"] == {"chrUn_gl000220": 1}


def test_other_errors(tmp_path, small):
    ann, exp = small_inputs(tmp_path)
    bad = tmp_path / "nocols.csv"
    bad.write_text("id,symbol,chrom,strand,TSS\nG1,A,chr1,+,5\n")
    with pytest.raises(InputError, match=r"nocols\.csv:1: gene annotation lacks column\(s\) seqnames, CAGE_representative_TSS, type"):
        build_geneexp(bad, exp, small, tmp_path / "s")
    far = tmp_path / "far.csv"
    write_annotation(far, GENES[:4] + [("G5", "FAR", "chr8", "+", 70_000, 70_000, "rRNA")])
    with pytest.raises(InputError, match=r"far\.csv:6: .*G5.*beyond the chromosome end \(60000 bp\)"):
        build_geneexp(far, exp, small, tmp_path / "s")
    ids = tmp_path / "ids.csv"
    ids.write_text("gene_id,A\nG1,1\nG2,1\nG4,1\nG3,1\nG5,1\n")
    with pytest.raises(InputError, match=r"ids\.csv:4: row label 'G4' is not gene 'G3' of line 4"):
        build_geneexp(ann, ids, small, tmp_path / "s")
    with pytest.raises(ValueError, match="window 40100 is not a multiple of segment_length 200"):
        build_geneexp(ann, exp, small, tmp_path / "s", window=40_100)
    with pytest.raises(ValueError, match="tss must be one of TSS, CAGE_representative_TSS"):
        build_geneexp(ann, exp, small, tmp_path / "s", tss="cage")
    assert not (tmp_path / "s").exists()
