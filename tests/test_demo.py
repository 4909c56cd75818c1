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


def test_demo_command():
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "four tokenizations" in result.output
