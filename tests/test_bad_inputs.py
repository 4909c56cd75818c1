"""What dnabench promises about bad input: each case below is a file or folder a user could hand
to the command line, the one-line message it gets (exit code 2, or 1 for downloads and
checksums), and that nothing the user made is deleted on the way.

Each row builds its input in a fresh folder and returns the command line; the message must
hold every fragment, and no traceback may reach the user. A second table holds inputs that
look odd but are valid and must be read.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.data.store import CSRLabels, write_store
from dnabench.io.genome import index_genome
from dnabench.synthetic import make_genome
from dnabench.tasks.promvary import build_promvary
from dnabench.training.config import TrainConfig
from dnabench.training.run import train

from test_training import SMALL_CNN, synthetic_table

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """A small genome cache, a PromVary store (dense binary labels) and a CSR store built on it."""
    tmp = tmp_path_factory.mktemp("bad_inputs")
    make_genome({"chr1": 20_000, "chr2": 12_000}, sites_per_motif=3, seed=3).write_fasta(tmp / "g.fa")
    genome = index_genome(tmp / "g.fa", tmp / "genome", progress=False)
    tss = [("chr1", 3_000, "+"), ("chr1", 9_000, "-"), ("chr2", 4_000, "+"), ("chr2", 8_000, "-"), ("chr1", 15_000, "+")]
    bed = "".join(f"{c}\t{t}\t{t + 1}\tp{i}\t0\t{s}\n" for i, (c, t, s) in enumerate(tss))
    (tmp / "tss.bed").write_text(bed)
    build_promvary(tmp / "tss.bed", genome, tmp / "promvary", leakage=False)
    n = 30
    rng = np.random.default_rng(0)
    start = rng.integers(0, 10_000, n)
    regions = pd.DataFrame({"chrom": "chr1", "start": start, "end": start + 100, "strand": "+",
                            "split": rng.choice(["train", "val", "test"], n)})
    dense = (rng.random((n, 20)) < 0.3).astype(np.float32)
    card = {"task": "toy", "input_length": 100, "labels": {"names": [f"l{i}" for i in range(20)], "kind": "multilabel"}}
    write_store(tmp / "csr", card, regions, CSRLabels.from_dense(dense))
    config = TrainConfig(data=str(synthetic_table(tmp / "t.csv", rows=96)), model="cnn_fc", model_options=SMALL_CNN,
                         out=str(tmp / "run"), max_epochs=1, batch_size=32, progress=False)
    with contextlib.redirect_stdout(io.StringIO()):
        train(config)
    return {"run": tmp / "run", "table": tmp / "t.csv", "root": tmp, "fasta": tmp / "g.fa", "genome": tmp / "genome", "promvary": tmp / "promvary", "csr": tmp / "csr", "tss": tmp / "tss.bed"}


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def untouched(*paths: Path) -> Callable[[], None]:
    """A check that each file still holds what it held when the case was set up."""
    before = {p: p.read_bytes() for p in paths}

    def check() -> None:
        for p, data in before.items():
            assert p.is_file() and p.read_bytes() == data, f"{p} was changed or deleted"

    return check


def bedmethyl(rows: list[tuple[str, int, str, int, float]]) -> str:
    return "".join(f"{c}\t{s}\t{s + 1}\t.\t0\t{st}\t{s}\t{s + 1}\t0,0,0\t{cov}\t{pct}\n" for c, s, st, cov, pct in rows)


def metadata(tmp: Path, tracks: list[tuple[str, str]]) -> Path:
    lines = ["accession\tfile\tgroup\tcell_type"] + [f"{acc}\t{file}\tTF\tx" for acc, file in tracks]
    return write(tmp / "tracks.tsv", "\n".join(lines) + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----- the cases: (tmp, world) -> (command line, extra check or None) ----------------------------


def fasta_no_header(tmp, w):
    return ["genome", "index", str(write(tmp / "x.fa", "ACGT\n>chr1\nACGT\n")), "-o", str(tmp / "c"), "--quiet"], None


def fasta_bad_letter(tmp, w):
    return ["genome", "index", str(write(tmp / "x.fa", ">chr1\nACGT\nACXT\n")), "-o", str(tmp / "c"), "--quiet"], None


def fasta_duplicate_name(tmp, w):
    return ["genome", "index", str(write(tmp / "x.fa", ">chr1\nACGT\n>chr1\nAAAA\n")), "-o", str(tmp / "c"), "--quiet"], None


def fasta_record_without_sequence(tmp, w):
    return ["genome", "index", str(write(tmp / "x.fa", ">chr1\nACGT\n>chr2\n>chr3\nACGT\n")), "-o", str(tmp / "c"), "--quiet"], None


def fasta_last_record_without_sequence(tmp, w):
    return ["genome", "index", str(write(tmp / "x.fa", ">chr1\nACGT\n>chr2\n\n")), "-o", str(tmp / "c"), "--quiet"], None


def fasta_truncated_gzip(tmp, w):
    data = gzip.compress(b">chr1\n" + b"ACGT" * 50_000 + b"\n")
    return ["genome", "index", str(write(tmp / "x.fa.gz", data[: len(data) // 2])), "-o", str(tmp / "c"), "--quiet"], None


def twobit_without_magic(tmp, w):
    data = bytes(np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8))
    return ["genome", "index", str(write(tmp / "hg.2bit", b"\x00\x00\x00\x00" + data)), "-o", str(tmp / "c"), "--quiet"], None


def index_out_holds_the_source(tmp, w):
    src = write(tmp / "out" / "x.fa", ">chr1\nACGT\n")
    other = write(tmp / "out" / "notes.txt", "mine\n")
    return ["genome", "index", str(src), "-o", str(tmp / "out"), "--overwrite", "--quiet"], untouched(src, other)


def index_out_not_a_cache(tmp, w):
    other = write(tmp / "out" / "notes.txt", "mine\n")
    return ["genome", "index", str(w["fasta"]), "-o", str(tmp / "out"), "--overwrite", "--quiet"], untouched(other)


def index_out_is_a_store(tmp, w):
    store = copy(w["promvary"], tmp / "store")
    return ["genome", "index", str(w["fasta"]), "-o", str(store), "--overwrite", "--quiet"], untouched(store / "dataset.json", store / "labels.npy")


def index_out_cache_with_a_file_of_the_user(tmp, w):
    cache = copy(w["genome"], tmp / "cache")
    mine = write(cache / "README.txt", "my notes\n")
    return ["genome", "index", str(w["fasta"]), "-o", str(cache), "--overwrite", "--quiet"], untouched(mine, cache / "genome.json")


def index_out_is_a_file(tmp, w):
    mine = write(tmp / "out.txt", "mine\n")
    return ["genome", "index", str(w["fasta"]), "-o", str(mine), "--overwrite", "--quiet"], untouched(mine)


def genome_json_not_json(tmp, w):
    cache = copy(w["genome"], tmp / "cache")
    write(cache / "genome.json", (cache / "genome.json").read_text()[:40])
    return ["genome", "info", str(cache)], None


def genome_json_missing_field(tmp, w):
    cache = copy(w["genome"], tmp / "cache")
    meta = json.loads((cache / "genome.json").read_text())
    del meta["chromosomes"]
    write(cache / "genome.json", json.dumps(meta))
    return ["genome", "info", str(cache)], None


def genome_sequence_wrong_size(tmp, w):
    cache = copy(w["genome"], tmp / "cache")
    with open(cache / "sequence.u8", "ab") as f:
        f.write(b"\x00")
    return ["genome", "info", str(cache)], None


def _damage_sequence(cache: Path, at: int, value: int) -> None:
    with open(cache / "sequence.u8", "r+b") as f:
        f.seek(at)
        f.write(bytes([value]))


def genome_damaged_bytes_verify(tmp, w):
    cache = copy(w["genome"], tmp / "cache")
    _damage_sequence(cache, 150, 2 if (cache / "sequence.u8").read_bytes()[150] != 2 else 1)  # still a valid code
    return ["genome", "info", str(cache), "--verify"], None


def genome_damaged_bytes_fetch(tmp, w):
    cache = copy(w["genome"], tmp / "cache")
    _damage_sequence(cache, 150, 0x37)
    return ["genome", "fetch", str(cache), "chr1:101-200"], None


def genome_fetch_unknown_chromosome(tmp, w):
    return ["genome", "fetch", str(w["genome"]), "chr7:1-10"], None


def genome_fetch_bad_region(tmp, w):
    return ["genome", "fetch", str(w["genome"]), "chr1:10-1"], None


def store_binary_label_out_of_range(tmp, w):
    store = copy(w["promvary"], tmp / "s")
    labels = np.load(store / "labels.npy")
    labels[3, 0] = 10.0  # same size: only the values tell
    np.save(store / "labels.npy", labels)
    return ["store", "info", str(store)], None


def store_csr_index_past_label_count(tmp, w):
    store = copy(w["csr"], tmp / "s")
    idx = np.load(store / "labels_indices.npy")
    idx[5] = 20
    np.save(store / "labels_indices.npy", idx)
    return ["store", "info", str(store)], None


def store_damaged_parquet(tmp, w):
    store = copy(w["promvary"], tmp / "s")
    import pyarrow.parquet as pq

    at = pq.ParquetFile(store / "regions.parquet").metadata.row_group(0).column(1).data_page_offset + 10
    data = bytearray((store / "regions.parquet").read_bytes())
    data[at : at + 20] = b"\xff" * 20  # one column's pages damaged, the footer intact
    (store / "regions.parquet").write_bytes(bytes(data))
    return ["store", "info", str(store)], None


def store_damaged_card(tmp, w):
    store = copy(w["promvary"], tmp / "s")
    write(store / "dataset.json", (store / "dataset.json").read_text()[:100])
    return ["store", "info", str(store)], None


def store_newer_format(tmp, w):
    store = copy(w["promvary"], tmp / "s")
    card = json.loads((store / "dataset.json").read_text())
    write(store / "dataset.json", json.dumps({**card, "format_version": 99}))
    return ["store", "info", str(store)], None


def store_file_missing(tmp, w):
    store = copy(w["promvary"], tmp / "s")
    (store / "labels.npy").unlink()
    return ["store", "info", str(store)], None


def store_file_cut(tmp, w):
    store = copy(w["promvary"], tmp / "s")
    write(store / "labels.npy", (store / "labels.npy").read_bytes()[:-4])
    return ["store", "info", str(store)], None


def store_checksum(tmp, w):
    store = copy(w["promvary"], tmp / "s")
    labels = np.load(store / "labels.npy")
    labels[0, 0] = 1 - labels[0, 0]  # a valid label, the same size: only the checksum tells
    np.save(store / "labels.npy", labels)
    return ["store", "info", str(store), "--verify"], None


def not_a_store(tmp, w):
    (tmp / "empty").mkdir()
    return ["store", "info", str(tmp / "empty")], None


def prepare_out_is_the_genome_cache(tmp, w):
    cache = copy(w["genome"], tmp / "cache")
    return (["prepare", "promvary", str(w["tss"]), "-g", str(cache), "-o", str(cache), "--overwrite", "--no-leakage"],
            untouched(cache / "genome.json", cache / "sequence.u8"))


def prepare_out_is_another_genome_cache(tmp, w):
    cache = copy(w["genome"], tmp / "cache")
    return (["prepare", "promvary", str(w["tss"]), "-g", str(w["genome"]), "-o", str(cache), "--overwrite", "--no-leakage"],
            untouched(cache / "genome.json", cache / "sequence.u8"))


def prepare_out_store_holds_the_input(tmp, w):
    store = copy(w["promvary"], tmp / "s")
    tss = write(store / "tss.bed", w["tss"].read_bytes())
    return (["prepare", "promvary", str(tss), "-g", str(w["genome"]), "-o", str(store), "--overwrite", "--no-leakage"],
            untouched(tss, store / "dataset.json"))


def prepare_out_holds_the_genome(tmp, w):
    out = tmp / "out"
    cache = copy(w["genome"], out / "genome")
    return (["prepare", "promvary", str(w["tss"]), "-g", str(cache), "-o", str(out), "--overwrite", "--no-leakage"],
            untouched(cache / "genome.json"))


def promoters_negative_start(tmp, w):
    bed = write(tmp / "p.bed", "chr1\t100\t101\ta\t0\t+\nchr1\t-5\t1\tb\t0\t+\n")
    return ["prepare", "promvary", str(bed), "-g", str(w["genome"]), "-o", str(tmp / "s")], None


def promoters_unknown_chromosome(tmp, w):
    bed = write(tmp / "p.bed", "chr1\t3000\t3001\ta\t0\t+\nchr9\t3000\t3001\tb\t0\t+\n")
    return ["prepare", "promvary", str(bed), "-g", str(w["genome"]), "-o", str(tmp / "s")], None


def promoters_bad_strand(tmp, w):
    bed = write(tmp / "p.bed", "chr1\t3000\t3001\ta\t0\t.\n")
    return ["prepare", "promvary", str(bed), "-g", str(w["genome"]), "-o", str(tmp / "s")], None


def bed_lone_carriage_return(tmp, w):
    bed = write(tmp / "p.bed", "chr1\t3000\t3001\ta\t0\t+\nchr1\t5000\r\t5001\tb\t0\t+\n")
    return ["prepare", "promvary", str(bed), "-g", str(w["genome"]), "-o", str(tmp / "s")], None


def bedmethyl_percent_over_100(tmp, w):
    f = write(tmp / "m.bed", bedmethyl([("chr1", 100, "+", 12, 50.0), ("chr1", 200, "+", 12, 150.0)]))
    return ["prepare", "methyl96", str(f), "-g", str(w["genome"]), "-o", str(tmp / "s"), "--quiet"], None


def bedmethyl_fractions(tmp, w):
    f = write(tmp / "m.bed", bedmethyl([("chr1", 100, "+", 12, 0.0), ("chr1", 200, "+", 12, 0.75), ("chr1", 300, "+", 20, 1.0)]))
    return ["prepare", "methyl96", str(f), "-g", str(w["genome"]), "-o", str(tmp / "s"), "--quiet"], None


def bedmethyl_too_few_columns(tmp, w):
    f = write(tmp / "m.bed", "chr1\t100\t101\tx\t5\t+\t100\t101\t0,0,0\t12\n")
    return ["prepare", "methyl96", str(f), "-g", str(w["genome"]), "-o", str(tmp / "s"), "--quiet"], None


def peaks_none_on_the_genome(tmp, w):
    good = write(tmp / "good.bed", "chr1\t1000\t1400\n")
    off = write(tmp / "off.bed", "chrZ\t1000\t1400\nchrZ\t5000\t5400\n")
    meta = metadata(tmp, [("GOOD", good.name), ("OFF", off.name)])
    return ["prepare", "track7878", "-p", str(meta), "-g", str(w["genome"]), "-o", str(tmp / "s"), "--quiet"], None


def peaks_duplicate_accession(tmp, w):
    good = write(tmp / "good.bed", "chr1\t1000\t1400\n")
    meta = metadata(tmp, [("A", good.name), ("A", good.name)])
    return ["prepare", "track7878", "-p", str(meta), "-g", str(w["genome"]), "-o", str(tmp / "s"), "--quiet"], None


def peaks_narrowpeak_offset(tmp, w):
    f = write(tmp / "p.narrowPeak", "chr1\t100\t200\t.\t0\t.\t1\t1\t1\t250\n")
    meta = metadata(tmp, [("A", f.name)])
    return ["prepare", "track7878", "-p", str(meta), "-g", str(w["genome"]), "-o", str(tmp / "s"), "--quiet"], None


def peaks_spaces_not_tabs(tmp, w):
    f = write(tmp / "p.bed", "chr1 100 200\n")
    meta = metadata(tmp, [("A", f.name)])
    return ["prepare", "track7878", "-p", str(meta), "-g", str(w["genome"]), "-o", str(tmp / "s"), "--quiet"], None


def deepfun_malformed_line(tmp, w):
    f = write(tmp / "A.txt", "CTCF-human^cell_line^A549^ENCFF001URZ\t1\nCTCF-human^cell_line^ENCFF001XYZ\t2\n")
    return ["prepare", "track7878-tracks", str(f), "-o", str(tmp / "t" / "tracks.tsv")], None


def accessions_not_encode(tmp, w):
    f = write(tmp / "acc.txt", "ENCFF000AAA\nnope\n")
    return ["download", "--accessions", str(f), "--dest", str(tmp / "dl")], None


def download_connection_refused(tmp, w):
    url = f"http://127.0.0.1:{free_port()}/f.bin"
    return ["download", "encode:ENCFF000AAA", "--url", url, "--dest", str(tmp / "dl"), "--quiet"], None


def run_truncated_weights(tmp, w):
    run = copy(w["run"], tmp / "run")
    write(run / "best" / "model.safetensors", (run / "best" / "model.safetensors").read_bytes()[:500])
    return ["evaluate", str(run)], None


def run_truncated_checkpoint(tmp, w):
    run = copy(w["run"], tmp / "run")
    write(run / "checkpoints" / "last.ckpt", (run / "checkpoints" / "last.ckpt").read_bytes()[:1000])
    return ["train", "--resume", str(run), "--max-epochs", "2"], untouched(run / "checkpoints" / "best.ckpt")


def run_bad_config_yaml(tmp, w):
    run = copy(w["run"], tmp / "run")
    write(run / "config.yaml", "max_epochs: [1\n")
    return ["evaluate", str(run)], None


def run_config_yaml_unknown_key(tmp, w):
    run = copy(w["run"], tmp / "run")
    write(run / "config.yaml", (run / "config.yaml").read_text() + "max_epoch: 3\n")
    return ["train", "--resume", str(run)], None


def run_damaged_model_config(tmp, w):
    run = copy(w["run"], tmp / "run")
    write(run / "best" / "config.json", "{")
    return ["predict", str(run), str(w["table"]), "--out", str(tmp / "p.csv")], None


def run_missing(tmp, w):
    return ["evaluate", str(tmp / "nope")], None


def train_on_a_gpu_that_is_not_there(tmp, w):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    return ["train", "--data", str(w["table"]), "--model", "cnn_fc", "--out", str(tmp / "r"), "--accelerator", "gpu"], None


def train_integer_classes(tmp, w):
    frame = pd.read_csv(w["table"])
    frame["label"] = np.arange(len(frame)) % 3
    frame.to_csv(tmp / "classes.csv", index=False)
    return ["train", "--data", str(tmp / "classes.csv"), "--model", "cnn_fc", "--out", str(tmp / "r")], None


def train_infinite_label(tmp, w):
    frame = pd.read_csv(w["table"])
    frame.loc[3, "label"] = np.inf
    frame.to_csv(tmp / "inf.csv", index=False)
    return ["train", "--data", str(tmp / "inf.csv"), "--model", "cnn_fc", "--out", str(tmp / "r")], None


def train_sequence_column_of_numbers(tmp, w):
    frame = pd.read_csv(w["table"])
    frame["id"] = np.arange(len(frame))
    frame.to_csv(tmp / "ids.csv", index=False)
    return ["train", "--data", str(tmp / "ids.csv"), "--sequence-column", "id", "--model", "kmer_lr", "--out", str(tmp / "r")], None


def evaluate_on_labels_that_are_not_classes(tmp, w):
    frame = pd.read_csv(w["table"])
    frame.loc[1, "label"] = 0.5
    frame.drop(columns=[c for c in frame.columns if c == "split"]).to_csv(tmp / "half.csv", index=False)
    return ["evaluate", str(w["run"]), "--data", str(tmp / "half.csv")], None


def train_on_words_as_labels(tmp, w):
    frame = pd.read_csv(w["table"])
    frame["label"] = frame["label"].astype(object)
    frame.loc[2, "label"] = "yes"
    frame.to_csv(tmp / "yes.csv", index=False)
    return ["train", "--data", str(tmp / "yes.csv"), "--model", "cnn_fc", "--out", str(tmp / "r")], None


def evaluate_out_is_a_folder(tmp, w):
    (tmp / "results").mkdir()
    return ["evaluate", str(w["run"]), "--out", str(tmp / "results")], None


def predict_unknown_extension(tmp, w):
    def nothing_written() -> None:
        assert not (tmp / "p.xlsx").exists()

    return ["predict", str(w["run"]), str(w["table"]), "--out", str(tmp / "p.xlsx")], nothing_written


CASES = [
    # (case, exit code, fragments)
    (fasta_no_header, 2, ["x.fa:1", "expected a '>' header"]),
    (fasta_bad_letter, 2, ["x.fa:3", "invalid letter 'X'"]),
    (fasta_duplicate_name, 2, ["x.fa:3", "duplicate sequence name 'chr1'"]),
    (fasta_record_without_sequence, 2, ["x.fa:3", "'chr2' has no sequence"]),
    (fasta_last_record_without_sequence, 2, ["x.fa:3", "'chr2' has no sequence"]),
    (fasta_truncated_gzip, 2, ["x.fa.gz", "corrupt or truncated gzip"]),
    (twobit_without_magic, 2, ["hg.2bit", "not a .2bit file", "signature"]),
    (index_out_holds_the_source, 2, ["out", "contains the input", "x.fa"]),
    (index_out_not_a_cache, 2, ["out", "not a dnabench genome cache", "nothing was changed"]),
    (index_out_is_a_store, 2, ["store", "not a dnabench genome cache", "a dnabench store"]),
    (index_out_cache_with_a_file_of_the_user, 2, ["cache", "README.txt", "nothing was changed"]),
    (index_out_is_a_file, 2, ["out.txt", "not a folder"]),
    (genome_json_not_json, 2, ["genome.json", "not valid JSON", "genome index"]),
    (genome_json_missing_field, 2, ["genome.json", "'chromosomes'"]),
    (genome_sequence_wrong_size, 2, ["sequence.u8", "wrong size"]),
    (genome_damaged_bytes_verify, 2, ["sequence.u8", "sha256", "genome index"]),
    (genome_damaged_bytes_fetch, 2, ["sequence.u8", "chr1:101-200", "55", "--verify"]),
    (genome_fetch_unknown_chromosome, 2, ["unknown chromosome 'chr7'", "chr1"]),
    (genome_fetch_bad_region, 2, ["START <= END"]),
    (store_binary_label_out_of_range, 2, ["labels.npy", "row 3", "10", "binary"]),
    (store_csr_index_past_label_count, 2, ["labels_indices.npy", "20", "0..19"]),
    (store_damaged_parquet, 2, ["regions.parquet"]),
    (store_damaged_card, 2, ["dataset.json", "not valid JSON"]),
    (store_newer_format, 2, ["dataset.json", "upgrade"]),
    (store_file_missing, 2, ["labels.npy", "missing"]),
    (store_file_cut, 2, ["labels.npy", "bytes"]),
    (store_checksum, 2, ["labels.npy", "sha256"]),
    (not_a_store, 2, ["not a dataset store"]),
    (prepare_out_is_the_genome_cache, 2, ["cache", "the output is the input"]),
    (prepare_out_is_another_genome_cache, 2, ["cache", "not a dnabench store", "genome cache", "nothing was changed"]),
    (prepare_out_store_holds_the_input, 2, ["contains the input", "tss.bed"]),
    (prepare_out_holds_the_genome, 2, ["contains the input", "genome"]),
    (promoters_negative_start, 2, ["p.bed:2", "start must be >= 0"]),
    (promoters_unknown_chromosome, 2, ["p.bed:2", "'chr9'", "--skip-missing"]),
    (promoters_bad_strand, 2, ["p.bed:1", "strand"]),
    (bed_lone_carriage_return, 2, ["p.bed:2", "carriage return"]),
    (bedmethyl_percent_over_100, 2, ["m.bed:2", "0..100", "150"]),
    (bedmethyl_fractions, 2, ["m.bed:2", "fraction", "0.75", "100"]),
    (bedmethyl_too_few_columns, 2, ["m.bed:1", "at least 11"]),
    (peaks_none_on_the_genome, 2, ["off.bed", "no peak", "chrZ", "chr1"]),
    (peaks_duplicate_accession, 2, ["tracks.tsv:3", "duplicate accession 'A'"]),
    (peaks_narrowpeak_offset, 2, ["p.narrowPeak:1", "peak offset"]),
    (peaks_spaces_not_tabs, 2, ["p.bed:1", "spaces"]),
    (deepfun_malformed_line, 2, ["A.txt:2", "target^biosample type"]),
    (accessions_not_encode, 2, ["acc.txt:2", "'nope'"]),
    (download_connection_refused, 1, ["cannot connect", "gave up"]),
    (run_truncated_weights, 2, ["model.safetensors", "damaged or truncated"]),
    (run_truncated_checkpoint, 2, ["last.ckpt", "damaged or truncated checkpoint"]),
    (run_bad_config_yaml, 2, ["config.yaml", "not valid YAML"]),
    (run_config_yaml_unknown_key, 2, ["config.yaml", "unknown key", "max_epoch"]),
    (run_damaged_model_config, 2, ["config.json", "not JSON"]),
    (run_missing, 2, ["nope", "no such run folder"]),
    (train_on_a_gpu_that_is_not_there, 2, ["accelerator gpu", "no CUDA GPU"]),
    (predict_unknown_extension, 2, ["p.xlsx", "unknown table kind", ".parquet, .csv, .tsv"]),
    (train_integer_classes, 2, ["classes.csv", "integers 0, 1, 2", "multiclass"]),
    (train_infinite_label, 2, ["inf.csv:5", "holds inf in row 4", "leave a missing label empty"]),
    (train_sequence_column_of_numbers, 2, ["ids.csv:2", "holds 0, not a sequence of letters"]),
    (evaluate_out_is_a_folder, 2, ["results: is a folder", "--out names the JSON file"]),
    (evaluate_on_labels_that_are_not_classes, 2, ["half.csv:3", "'label' holds 0.5 in row 2", "labels are 0, 1 or empty"]),
    (train_on_words_as_labels, 2, ["yes.csv:4", "are not numbers: 'yes' in row 3"]),
]


@pytest.mark.parametrize(("case", "code", "fragments"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_input_gets_one_line_and_loses_nothing(case, code, fragments, world, tmp_path, monkeypatch):
    monkeypatch.setattr("dnabench.io.download.time.sleep", lambda seconds: None)  # retries without the back-off
    argv, check = case(tmp_path, world)
    result = runner.invoke(app, argv)
    output = " ".join(result.output.split())  # a long path may be wrapped
    assert isinstance(result.exception, SystemExit), f"not a clean exit: {result.exception!r}\n{result.output}"
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and output.startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in {result.output!r}"
    if check is not None:
        check()
    if case is download_connection_refused:
        assert ".part" not in output and not list((tmp_path / "dl").glob("*.part"))


# ----- valid inputs that look odd ---------------------------------------------------------------


def test_odd_but_valid_inputs_are_read(world, tmp_path):
    from dnabench.io.genome import open_genome
    from dnabench.io.intervals import read_bed, read_bedmethyl

    plain = ">chr1\nACGTN\n>chr2\nGGCC\n"
    for name, data in {"bom.fa": b"\xef\xbb\xbf" + plain.encode(), "crlf.fa": plain.replace("\n", "\r\n").encode(),
                       "gz.fa.gz": gzip.compress(plain.encode())}.items():
        result = runner.invoke(app, ["genome", "index", str(write(tmp_path / name, data)), "-o", str(tmp_path / f"c-{name}"), "--quiet"])
        assert result.exit_code == 0, result.output
        g = open_genome(tmp_path / f"c-{name}")
        assert g.names == ["chr1", "chr2"] and g.sequence_str("chr1", 0, 5) == "ACGTN", name
    crlf = write(tmp_path / "crlf.bed", "chr1\t10\t20\r\nchr2\t5\t6\r\n")
    bom = write(tmp_path / "bom.bed", b"\xef\xbb\xbfchr1\t10\t20\n")
    assert read_bed(crlf)["chrom"].tolist() == ["chr1", "chr2"]
    assert read_bed(bom)["chrom"].tolist() == ["chr1"]
    # a bedMethyl of genuine percentages that happen to be small is not mistaken for fractions
    low = write(tmp_path / "low.bed", bedmethyl([("chr1", 100, "+", 12, 0.0), ("chr1", 200, "+", 12, 3.0), ("chr1", 300, "+", 12, 0.0)]))
    assert read_bedmethyl(low)["percent_methylated"].tolist() == [0.0, 3.0, 0.0]
