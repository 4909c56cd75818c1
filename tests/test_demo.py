"""The embedded demo runs end to end and its checks hold."""

from __future__ import annotations

from rich.console import Console
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.demo import WINDOW, run_demo


def test_demo_result(tmp_path):
    console = Console(record=True, width=120)
    result = run_demo(tmp_path / "demo", console=console)
    assert result.motif_found_fraction == 1.0
    assert result.background_motif_fraction < 0.6
    names = [row["tokenizer"] for row in result.tokenizers]
    assert names == ["one-hot", "5-mer", "4-patch", "BPE"]
    by_name = {row["tokenizer"]: row for row in result.tokenizers}
    assert all(row["round_trip"] for row in result.tokenizers)
    assert by_name["one-hot"]["tokens_per_window"] == WINDOW
    assert by_name["5-mer"]["tokens_per_window"] == WINDOW - 4
    assert by_name["4-patch"]["tokens_per_window"] == WINDOW / 4
    assert by_name["BPE"]["tokens_per_window"] < WINDOW / 2
    assert (tmp_path / "demo" / "genome" / "genome.json").is_file()
    assert result.store_rows > result.sites  # a 300 bp peak labels one or two bins
    assert result.store_positives >= result.store_rows
    assert result.labelled_windows_with_motif == 1.0
    assert (tmp_path / "demo" / "track_store" / "dataset.json").is_file()
    assert "four tokenizations" in console.export_text()


def test_demo_tour_command(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--tour", "--out", str(tmp_path / "tour")])
    assert result.exit_code == 0, result.output
    assert "four tokenizations" in result.output


def test_full_demo_from_raw_files_to_report(tmp_path):
    """The whole pipeline on the half-size world, one benchmark run: stores from the raw files,
    the run, results beside the best achievable score, and the report."""
    import json

    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--small", "--out", str(out), "--only", "runs/promvary/cnn_fc/*"])
    assert result.exit_code == 0, result.output
    for task in ("promvary", "methyl96", "track7878", "geneexp", "causalsnp", "mpraprom"):
        assert (out / "stores" / task / "dataset.json").is_file()
    best = json.loads((out / "oracle.json").read_text())
    assert (out / "report" / "report.html").is_file() and (out / "benchmark" / "results.md").is_file()
    record = json.loads((out / "demo.json").read_text())
    (row,) = [r for r in record["scores"] if r["task"] == "promvary"]
    assert row["metric"] == "auroc" and 0.5 < row["cnn_fc"] <= 1
    assert row["best achievable"] == best["scores"]["promvary"]["auroc"] > row["cnn_fc"]
    text = "".join(result.output.split())
    assert "bestachievable" in text and f"report:{out / 'report' / 'report.html'}" in text
