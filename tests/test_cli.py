"""The `dnabench` command: each subcommand runs, and user errors exit with a one-line message."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from dnabench import __version__
from dnabench.cli import app, parse_region
from dnabench.synthetic import make_genome

runner = CliRunner()


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    return make_genome(sizes={"chr1": 20_000, "chrM": 500}, sites_per_motif=3, seed=1).write_fasta(tmp / "g.fa.gz")


def test_version_and_console_script():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    proc = subprocess.run([sys.executable, "-m", "dnabench", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and __version__ in proc.stdout


def test_info_lists_versions():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    for word in ("dnabench", "torch", "GPUs visible", "CPUs"):
        assert word in result.output


def test_genome_index_info_fetch(tmp_path, fasta):
    out = tmp_path / "cache"
    result = runner.invoke(app, ["genome", "index", str(fasta), "--out", str(out), "--quiet", "--softmask"])
    assert result.exit_code == 0, result.output
    assert "2 sequences" in result.output
    result = runner.invoke(app, ["genome", "info", str(out)])
    assert result.exit_code == 0 and "20,000" in result.output and "sha256" in result.output
    from dnabench.io.genome import open_genome

    genome = open_genome(out)
    result = runner.invoke(app, ["genome", "fetch", str(out), "1:101-220", "--strand", "-"])
    assert result.exit_code == 0, result.output
    lines = result.output.split()
    assert lines[0] == ">1:101-220(-)"
    assert "".join(lines[1:]) == genome.sequence_str("chr1", 100, 220, "-")


def test_user_errors_exit_2_with_message(tmp_path, fasta):
    result = runner.invoke(app, ["genome", "index", str(tmp_path / "missing.fa"), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "no such file" in result.output
    bad = tmp_path / "bad.fa"
    bad.write_text(">x\nACGTZ\n")
    result = runner.invoke(app, ["genome", "index", str(bad), "--out", str(tmp_path / "c"), "--quiet"])
    assert result.exit_code == 2 and "bad.fa:2" in result.output and "'Z'" in result.output
    runner.invoke(app, ["genome", "index", str(fasta), "--out", str(tmp_path / "ok"), "--quiet"])
    result = runner.invoke(app, ["genome", "fetch", str(tmp_path / "ok"), "chr7:1-10"])
    assert result.exit_code == 2 and "unknown chromosome 'chr7'" in result.output and "chr1" in result.output
    result = runner.invoke(app, ["genome", "fetch", str(tmp_path / "ok"), "chr1:10-1"])
    assert result.exit_code == 2 and "START <= END" in result.output


def test_parse_region_is_one_based_inclusive():
    assert parse_region("chr1:1-10") == ("chr1", 0, 10)
    assert parse_region("chrX:1,000,001-1,000,100") == ("chrX", 1_000_000, 1_000_100)
    with pytest.raises(ValueError, match="CHROM:START-END"):
        parse_region("chr1:5")


def test_train_bpe_command(tmp_path, fasta):
    out = tmp_path / "cache"
    runner.invoke(app, ["genome", "index", str(fasta), "--out", str(out), "--quiet"])
    result = runner.invoke(app, ["tokenizer", "train-bpe", str(out), "--out", str(tmp_path / "bpe"), "--vocab-size", "300"])
    assert result.exit_code == 0, result.output
    from dnabench.tokenize import load_tokenizer

    tok = load_tokenizer(tmp_path / "bpe")
    assert tok.name == "bpe" and 9 < tok.vocab_size <= 300


def test_an_argument_error_comes_before_pytorch_and_pandas_load(tmp_path):
    """A typo in a path is reported by the command line alone: neither torch nor pandas is imported."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from dnabench.cli import main\n"
        f"sys.argv = ['dnabench', 'train', '--data', {str(tmp_path / 'missing.csv')!r}, '--out', {str(tmp_path / 'r')!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print('loaded', 'torch' in sys.modules, 'pandas' in sys.modules, 'lightning' in sys.modules, 'exit', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "missing.csv: no such file or folder (--data)" in " ".join(done.stdout.split() + done.stderr.split())
    assert "loaded False False False exit 2" in done.stdout, done.stdout + done.stderr
