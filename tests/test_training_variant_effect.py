"""Variant scoring: diff is alt minus ref of the two centred windows, REF mismatches and what cannot be
scored are reported and kept with a status, multi-allelic records give one row per ALT; a real VCF."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from dnabench.alphabet import decode, reverse_complement
from dnabench.cli import app
from dnabench.models import build_model
from dnabench.training.config import TrainConfig, save_config
from dnabench.training.inference import predict_codes, predict_file
from dnabench.training.variant_effect import VariantWarning

LENGTH = 101
SKOPS = "skops (a dnabench dependency: pip install -e .) is not installed; scikit-learn models cannot be saved"
runner = CliRunner()


@pytest.fixture(scope="module")
def network_run(tmp_path_factory):
    """A neural window run folder (a tiny Transformer with two outputs, untrained): what predict reads."""
    run = tmp_path_factory.mktemp("net") / "run"
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer="patch", num_outputs=2, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32, dropout=0.0)
    model.save_pretrained(run / "best")
    save_config(TrainConfig(data="table.csv", model="transformer", out=str(run)), run / "config.yaml")
    task = {"name": "table", "kind": "multilabel", "input_kind": "window", "loss": "bce", "metrics": ["auroc"], "output": "sigmoid",
            "label_names": ["open", "bound"]}
    (run / "run.json").write_text(json.dumps({"input_length": LENGTH, "task": task}))
    return run


def base(genome, chrom: str, pos: int, n: int = 1) -> str:
    return decode(genome.fetch(chrom, pos - 1, pos - 1 + n))


def other(letter: str) -> str:
    return "ACGT"[("ACGT".index(letter) + 1) % 4]


def write_vcf(path, records: list[tuple[str, int, str, str, str]]) -> None:
    header = ["##fileformat=VCFv4.2", "##contig=<ID=chr1>", "##contig=<ID=chr2>", "##contig=<ID=chr9>",
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    path.write_text("\n".join(header + [f"{c}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\t." for c, p, i, r, a in records]) + "\n")


def windows(genome, chrom: str, pos: int, alt: str) -> tuple[np.ndarray, np.ndarray]:
    """The reference window centred on the variant (its first base at LENGTH // 2) and the alternative one, cut by hand."""
    start = pos - 1 - LENGTH // 2
    ref = genome.fetch(chrom, start, start + LENGTH)
    changed = ref.copy()
    changed[LENGTH // 2 : LENGTH // 2 + len(alt)] = ["ACGT".index(a) for a in alt]
    return ref, changed


def test_diff_is_alt_minus_ref_of_the_two_windows_predicted_directly(tmp_path, genome, network_run):
    from dnabench.models import DNAModel

    places = [("chr1", 500, 1), ("chr1", 19_990, 1), ("chr2", 40, 1), ("chr2", 6_000, 2)]  # two near chromosome ends
    records = []
    for i, (chrom, pos, n) in enumerate(places):
        ref = base(genome, chrom, pos, n)
        records.append((chrom, pos, f"rs{i}", ref, "".join(other(b) for b in ref)))
    write_vcf(tmp_path / "v.vcf", records)
    model = DNAModel.from_pretrained(network_run / "best")
    for strands in (False, True):
        frame = predict_file(network_run, tmp_path / "v.vcf", tmp_path / "s.parquet", genome=genome.path, device="cpu", reverse_complement=strands)
        assert list(frame["status"]) == ["scored"] * 4 and frame.attrs["variants"]["scored"] == 4 and list(frame["id"]) == ["rs0", "rs1", "rs2", "rs3"]
        refs, alts = zip(*(windows(genome, c, p, a) for c, p, _, _, a in records))
        want_ref = predict_codes(model, np.stack(refs), device="cpu", reverse_complement=strands)
        want_alt = predict_codes(model, np.stack(alts), device="cpu", reverse_complement=strands)
        for j, label in enumerate(("open", "bound")):
            np.testing.assert_allclose(frame[f"ref_{label}"], want_ref[:, j], atol=1e-6)
            np.testing.assert_allclose(frame[f"alt_{label}"], want_alt[:, j], atol=1e-6)
            np.testing.assert_allclose(frame[f"diff_{label}"], want_alt[:, j] - want_ref[:, j], atol=1e-6)
        assert np.abs(frame["diff_open"]).max() > 0
    single = predict_codes(model, np.stack([refs[0], reverse_complement(refs[0])]), device="cpu")
    assert frame["ref_open"].iloc[0] == pytest.approx(single[:, 0].mean(), abs=1e-6)  # both strands averaged
    with pytest.raises(ValueError, match="needs --genome CACHE"):  # this run names no genome
        predict_file(network_run, tmp_path / "v.vcf", tmp_path / "x.tsv", device="cpu")
    saved = pd.read_parquet(tmp_path / "s.parquet")
    assert list(saved.columns[:7]) == ["chrom", "pos", "id", "ref", "alt", "kind", "status"]


@pytest.fixture(scope="module")
def kmer_run(tmp_path_factory, genome):
    """kmer_lr fitted on 101 bp windows of the conftest genome, labelled by GC content."""
    pytest.importorskip("skops", reason=SKOPS)
    from dnabench.training.estimator import fit_estimator

    tmp = tmp_path_factory.mktemp("kmer")
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 20_000 - LENGTH, 300)
    codes = genome.fetch_batch(np.repeat("chr1", 300), starts, length=LENGTH)
    gc = np.isin(codes, (1, 2)).mean(axis=1)
    pd.DataFrame({"sequence": [decode(c) for c in codes], "label": (gc > np.median(gc)).astype(float)}).to_csv(tmp / "t.csv", index=False)
    return fit_estimator(TrainConfig(data=str(tmp / "t.csv"), model="kmer_lr", model_options={"k": 3}, out=str(tmp / "run"), genome=str(genome.path)))


def test_mismatches_indels_and_unknown_chromosomes_are_reported_and_kept_unscored(tmp_path, genome, kmer_run):
    from dnabench.models.estimators import load_estimator

    good, wrong = base(genome, "chr1", 1_000), base(genome, "chr1", 2_000)
    multi = base(genome, "chr2", 3_000)
    alts = [b for b in "ACGT" if b != multi][:2]
    mnv = base(genome, "chr1", 4_000, 3)
    records = [
        ("chr1", 1_000, "ok", good, other(good)),
        ("chr1", 2_000, "bad", other(wrong), wrong),  # REF is not the genome's
        ("chr2", 3_000, "multi", multi, ",".join(alts)),
        ("chr1", 5_000, "ins", base(genome, "chr1", 5_000), base(genome, "chr1", 5_000) + "T"),
        ("chr9", 100, "elsewhere", "A", "G"),
        ("chr1", 4_000, "mnv", mnv, "".join(other(b) for b in mnv)),
    ]
    write_vcf(tmp_path / "v.vcf", records)
    out = tmp_path / "scores.tsv"
    result = runner.invoke(app, ["predict", str(kmer_run), str(tmp_path / "v.vcf"), "--genome", str(genome.path), "--out", str(out)],
                           terminal_width=400)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"1 of 5 variants have a REF that differs from the genome (chr1:2000 {other(wrong)}>{wrong} (genome {wrong}))" in text
    assert "1 variants on chromosomes the genome lacks (chr9)" in text
    assert "4 of 7 variant alleles (6 records) scored; not scored: 1 indel, 1 ref mismatch, 1 unknown chrom" in text
    frame = pd.read_csv(out, sep="\t")
    assert list(frame["id"]) == ["ok", "bad", "multi", "multi", "ins", "elsewhere", "mnv"]
    assert list(frame["status"]) == ["scored", "ref_mismatch", "scored", "scored", "indel", "unknown_chrom", "scored"]
    assert list(frame.loc[frame["id"] == "multi", "alt"]) == alts
    assert frame.loc[frame["status"] != "scored", "diff_label"].isna().all()
    model = load_estimator(kmer_run / "best")
    ref, alt = windows(genome, "chr1", 4_000, frame["alt"].iloc[6])
    direct = model.predict(np.stack([ref, alt]))[:, 0]
    assert frame["diff_label"].iloc[6] == pytest.approx(direct[1] - direct[0], abs=1e-6)


def test_a_real_vcf_on_another_genome_is_reported_not_scored(tmp_path, genome, network_run, shared_data):
    """cyvcf2's hg19 trio VCF (2,082 records, multi-allelic and indel records) against the small
    synthetic genome: no REF can match, and every allele is accounted for."""
    from dnabench.io.vcf import read_vcf

    vcf = shared_data / "Variants" / "cyvcf2" / "o.vcf.gz"
    if not vcf.is_file():
        pytest.skip(f"{vcf} is not in the shared data")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = predict_file(network_run, vcf, tmp_path / "o.parquet", genome=genome.path, device="cpu")
    table, counts = read_vcf(vcf)
    got = frame.attrs["variants"]
    assert got["records"] == counts["records"] and got["alleles"] == len(table) > counts["records"]
    assert sum(v for k, v in got.items() if k not in ("records", "alleles", "missing")) == len(table)
    substitution = table["kind"].isin(["snv", "mnv"]).to_numpy()
    on_genome = table["chrom"].isin(genome.names).to_numpy()
    assert got.get("indel", 0) == counts["indels"] and got.get("unknown_chrom", 0) == int((substitution & ~on_genome).sum())
    assert got.get("ref_mismatch", 0) + got["scored"] == int((substitution & on_genome).sum()) > 0
    lengths = np.array([genome.length(c) if c in genome else 0 for c in table["chrom"]])
    past_end = substitution & on_genome & (table["pos"].to_numpy() > lengths)
    assert (frame["status"].to_numpy()[past_end] == "ref_mismatch").all() and past_end.any()
    messages = [str(w.message) for w in caught if issubclass(w.category, VariantWarning)]
    assert any("is the VCF on this genome's build?" in m for m in messages) and any("chromosomes the genome lacks" in m for m in messages)
    assert pd.read_parquet(tmp_path / "o.parquet")["status"].value_counts().to_dict() == {k: v for k, v in got.items() if k not in ("records", "alleles", "missing") and v}


def test_a_bed_input_reads_the_runs_own_genome_when_none_is_given(tmp_path, genome, kmer_run):
    """As for a VCF: a run that trained on a genome (its --genome, or its store's card) predicts BED regions from it."""
    from dnabench.training.inference import predict_file

    (tmp_path / "r.bed").write_text("chr1\t1000\t1101\nchr2\t2000\t2101\n")
    given = predict_file(kmer_run, tmp_path / "r.bed", tmp_path / "a.csv", genome=genome.path)
    default = predict_file(kmer_run, tmp_path / "r.bed", tmp_path / "b.csv")
    assert len(default) == 2 and default.filter(like="pred_").shape[1] == 1
    np.testing.assert_array_equal(default.filter(like="pred_").to_numpy(), given.filter(like="pred_").to_numpy())
