"""Feature extraction: pairs, segments and windows through a backbone, strand averaging, resume, reuse, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dnabench.alphabet import reverse_complement
from dnabench.data.features import FeatureError, open_features, partial_path
from dnabench.data.samples import pair_sample
from dnabench.data.store import write_store
from dnabench.io.genome import index_genome
from dnabench.models import DNAModel, build_model
from dnabench.synthetic import make_genome
from dnabench.tasks.geneexp import build_geneexp
from dnabench.training.features import backbone_codes, embed_codes, extract_features

from test_data_samples import base_card, variant_table
from test_task_geneexp import GENES, write_annotation, write_matrix

#: GeneExp geometry scaled down: 10 segments of 100 bp, each read with 50 bp of context (200 bp)
WINDOW, SEG, CTX = 1_000, 100, 50
LENGTH = SEG + 2 * CTX
TINY = {"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_size": 64, "dropout": 0.0}
PLACES = [("chr1", 5_000, 1), ("chr1", 30_000, 1), ("chr8", 10_000, 2), ("chr8", 20_000, 1), ("chrX", 40_000, 1), ("chr1", 70_000, 1)]


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    make_genome({"chr1": 100_000, "chr8": 60_000, "chrX": 50_000}, sites_per_motif=2, seed=5).write_fasta(tmp / "g.fa")
    return index_genome(tmp / "g.fa", tmp / "cache", progress=False)


def geneexp_store(tmp, genome, values=None, name="geneexp"):
    ann, exp = tmp / f"{name}.csv", tmp / f"{name}.exp.csv"
    write_annotation(ann, GENES)
    write_matrix(exp, np.arange(len(GENES) * 3, dtype=float).reshape(-1, 3) + 1 if values is None else values)
    return build_geneexp(ann, exp, genome, tmp / name, window=WINDOW, segment_length=SEG, context=CTX, leakage=False)


@pytest.fixture(scope="module")
def segmented(tmp_path_factory, small):
    return geneexp_store(tmp_path_factory.mktemp("seg"), small)


def pair_store(tmp, genome, length=LENGTH, anchor="variant", name="pairs"):
    table = variant_table(genome, PLACES)
    table["split"] = ["train", "train", "val", "test", "train", "test"]
    table["strand"] = ["+", "-", "+", "+", "-", "+"]
    if anchor == "region":  # each row's own window, the variant off its centre (MPRAProm's element windows)
        table["start"] = table["pos"] - 1 - np.array([40, 100, 150, 210, 60, 90])
        table["end"] = table["start"] + length
    card = {**base_card(pair_sample(length, anchor)), "genome": {"cache_path": str(genome.path)}}
    card["labels"] = {"names": ["effect"], "kind": "regression"}
    return write_store(tmp / name, card, table, np.arange(len(table), dtype=np.float32)[:, None])


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer="patch", num_outputs=4, **TINY)
    return model.save_pretrained(tmp_path_factory.mktemp("bb") / "model")


def embed(model_dir, codes, batch_size=7):
    return embed_codes(DNAModel.from_pretrained(model_dir), np.ascontiguousarray(codes), batch_size=batch_size)


def extract(backbone, store, out, **kw):
    kw.setdefault("dtype", "float32")
    kw.setdefault("progress", False)
    kw.setdefault("device", "cpu")
    return open_features(extract_features(backbone, store.path, out, **kw))


def test_pair_features_are_its_two_windows_embedded_apart(tmp_path, small, backbone):
    store = pair_store(tmp_path, small)
    got = extract(backbone, store, tmp_path / "f")
    assert got.kind == "pair" and got.array.shape == (6, 64) and got.meta["pair"] == "concat"
    codes = store.sequences(np.arange(6), small)
    ref, alt = embed(backbone, codes[:, 0], 1), embed(backbone, codes[:, 1], 1)
    np.testing.assert_allclose(got.array, np.concatenate([ref, alt], axis=1), atol=1e-5)
    assert not np.allclose(ref, alt)  # the variant changes the representation
    diff = extract(backbone, store, tmp_path / "d", pair="diff")
    np.testing.assert_allclose(diff.array, alt - ref, atol=1e-5)


def test_region_windows_are_recentred_on_the_variant_at_the_backbone_length(tmp_path, small, backbone):
    """A 300 bp element window (MPRAProm: 1400) read by a 200 bp backbone (1000): the 200 bp around each variant."""
    store = pair_store(tmp_path, small, length=300, anchor="region")
    got = extract(backbone, store, tmp_path / "f", input_length=LENGTH)
    assert got.meta["input_length"] == LENGTH
    centred = pair_store(tmp_path, small, length=LENGTH, name="centred")  # the same variants, centred, 200 bp
    codes = centred.sequences(np.arange(6), small)
    np.testing.assert_array_equal(backbone_codes(store, small, np.arange(6), LENGTH), codes)
    want = np.concatenate([embed(backbone, codes[:, 0]), embed(backbone, codes[:, 1])], axis=1)
    np.testing.assert_allclose(got.array, want, atol=1e-5)


def test_segmented_features_are_each_segment_embedded_alone(tmp_path, small, segmented, backbone):
    got = extract(backbone, segmented, tmp_path / "f", batch_size=16)
    assert got.kind == "segmented" and got.array.shape == (5, 10, 32)
    codes = segmented.sequences(np.arange(5), small)
    for row in range(5):
        for seg in (0, 4, 9):
            one = embed(backbone, codes[row, seg][None], 1)[0]
            np.testing.assert_allclose(got.array[row, seg], one, atol=1e-5)
    assert not np.allclose(got.array[0, 0], got.array[0, 1])


def test_reverse_complement_averages_both_strands(tmp_path, small, segmented, backbone):
    got = extract(backbone, segmented, tmp_path / "f", reverse_complement=True)
    assert got.meta["reverse_complement"] is True
    codes = segmented.sequences(np.arange(5), small).reshape(-1, LENGTH)
    both = (embed(backbone, codes) + embed(backbone, reverse_complement(codes))) / 2
    np.testing.assert_allclose(got.array.reshape(-1, 32), both, atol=1e-5)
    plain = extract(backbone, segmented, tmp_path / "plain")
    assert not np.allclose(plain.array, got.array)


def test_an_interrupted_extraction_continues_and_equals_an_uninterrupted_one(tmp_path, segmented, backbone):
    whole = extract(backbone, segmented, tmp_path / "whole", chunk_windows=20, dtype="float16")
    chunks = []

    def stop_after_two(start, stop, rows):
        chunks.append((start, stop))
        if len(chunks) == 2:
            raise Stop

    out = tmp_path / "cut"
    with pytest.raises(Stop):
        extract_features(backbone, segmented.path, out, chunk_windows=20, device="cpu", progress=False, on_chunk=stop_after_two)
    assert chunks == [(0, 2), (2, 4)] and not out.exists() and partial_path(out).is_dir()
    with pytest.raises(FeatureError, match="did not finish"):
        open_features(out)
    rest = []
    extract_features(backbone, segmented.path, out, chunk_windows=20, device="cpu", progress=False,
                     on_chunk=lambda a, b, n: rest.append((a, b)))
    assert rest == [(4, 5)]  # only the chunk that was missing
    assert not partial_path(out).exists()
    again = open_features(out)
    np.testing.assert_array_equal(again.array, whole.array)
    assert again.array.dtype == np.float16 and again.meta == whole.meta


def test_a_finished_folder_is_reused_and_other_features_are_refused(tmp_path, segmented, backbone):
    out = tmp_path / "f"
    first = extract(backbone, segmented, out)
    calls = []
    extract(backbone, segmented, out, on_chunk=lambda *a: calls.append(a))
    assert calls == []  # nothing computed
    with pytest.raises(FileExistsError, match="holds other features .*dtype 'float32' vs 'float16'"):
        extract(backbone, segmented, out, dtype="float16")
    half = extract(backbone, segmented, out, dtype="float16", overwrite=True)
    assert half.array.dtype == np.float16 and half.meta["dtype"] == "float16"
    np.testing.assert_allclose(half.array.astype(np.float32), first.array, atol=1e-2)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")
    with pytest.raises(FileExistsError, match="not a dnabench features folder"):
        extract(backbone, segmented, mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "a user's file"


def test_a_partial_of_other_arguments_is_refused_unless_overwrite(tmp_path, segmented, backbone):
    out = tmp_path / "f"
    with pytest.raises(Stop):
        extract_features(backbone, segmented.path, out, chunk_windows=20, device="cpu", progress=False,
                         on_chunk=lambda *a: (_ for _ in ()).throw(Stop()))
    with pytest.raises(FileExistsError, match="unfinished extraction with other arguments .*reverse_complement"):
        extract(backbone, segmented, out, chunk_windows=20, dtype="float16", reverse_complement=True)
    got = extract(backbone, segmented, out, dtype="float16", reverse_complement=True, overwrite=True)
    assert got.meta["reverse_complement"] is True and not partial_path(out).exists()


def test_a_changed_store_is_refused(tmp_path, small, backbone):
    from dnabench.training.data import load_training_data

    store = geneexp_store(tmp_path, small)
    out = tmp_path / "f"
    extract(backbone, store, out)
    changed = np.arange(len(GENES) * 3, dtype=float).reshape(-1, 3) + 7
    write_matrix(tmp_path / "geneexp.exp.csv", changed)
    build_geneexp(tmp_path / "geneexp.csv", tmp_path / "geneexp.exp.csv", small, tmp_path / "geneexp", window=WINDOW,
                  segment_length=SEG, context=CTX, leakage=False, overwrite=True)
    with pytest.raises(FeatureError, match="changed since these features were extracted"):
        open_features(out)
    with pytest.raises(FeatureError, match="changed since"):
        load_training_data(out)
    with pytest.raises(FileExistsError, match="store_card_sha256"):  # a re-run does not keep the stale features
        extract(backbone, store, out)


def test_cnn_backbone_on_windows_recentred_to_its_length(tmp_path, small):
    torch.manual_seed(1)
    model = build_model("cnn_fc", seq_len=LENGTH, channels=(8, 8), kernel_size=5, pool_size=4, fc_size=24, num_outputs=2)
    model_dir = model.save_pretrained(tmp_path / "cnn")
    starts = np.array([1_000, 9_000, 20_000, 33_000], dtype=np.int64)
    regions = {"chrom": ["chr1", "chr1", "chr8", "chr1"], "start": starts, "end": starts + 300, "strand": ["+", "-", "+", "+"],
               "split": ["train", "val", "test", "train"]}
    import pandas as pd

    card = {"task": "windows", "labels": {"names": ["y"], "kind": "binary"}, "input_length": 300, "genome": {"cache_path": str(small.path)}}
    store = write_store(tmp_path / "w", card, pd.DataFrame(regions), np.array([[0], [1], [0], [1]], dtype=np.float32))
    got = extract(model_dir, store, tmp_path / "f")
    assert got.array.shape == (4, 24) and got.meta["input_length"] == LENGTH and got.meta["backbone_model"] == "cnn_fc"
    centred = small.fetch_batch(np.array(regions["chrom"]), starts + 50, length=LENGTH, strands=np.array(regions["strand"]) == "-")
    np.testing.assert_allclose(got.array, embed(model_dir, centred), atol=1e-5)


def test_geometry_and_argument_errors(tmp_path, segmented, backbone):
    with pytest.raises(ValueError, match="each segment is read as 200 bp .* but the backbone reads 300 bp"):
        extract(backbone, segmented, tmp_path / "f", input_length=300)
    with pytest.raises(ValueError, match="pair must be one of concat, diff"):
        extract(backbone, segmented, tmp_path / "f", pair="sum")
    with pytest.raises(ValueError, match="dtype must be one of float16, float32"):
        extract(backbone, segmented, tmp_path / "f", dtype="int8")
    with pytest.raises(FileNotFoundError, match="not a backbone"):
        extract(tmp_path, segmented, tmp_path / "f")
    assert not (tmp_path / "f").exists() and not partial_path(tmp_path / "f").exists()


def test_a_run_folder_gives_its_best_model_and_input_length(tmp_path, segmented, backbone):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(backbone, run / "best")
    (run / "config.yaml").write_text("model: transformer\n")
    (run / "run.json").write_text(json.dumps({"input_length": LENGTH}))
    got = extract(run, segmented, tmp_path / "f")
    assert got.meta["backbone"] == str((run / "best").absolute()) and got.meta["input_length"] == LENGTH
    (run / "run.json").write_text(json.dumps({"input_length": 1000}))
    with pytest.raises(ValueError, match="backbone reads 1000 bp"):
        extract(run, segmented, tmp_path / "g")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bf16_on_cuda_is_close_to_float32(tmp_path, segmented, backbone):
    fp32 = extract(backbone, segmented, tmp_path / "fp32", device="cuda", bf16=False)
    bf16 = extract(backbone, segmented, tmp_path / "bf16", device="cuda", dtype="float16")
    assert fp32.meta["precision"] == "float32" and bf16.meta["precision"] == "bf16"
    cpu = extract(backbone, segmented, tmp_path / "cpu")
    np.testing.assert_allclose(fp32.array, cpu.array, atol=1e-4)
    assert np.abs(bf16.array.astype(np.float32) - fp32.array).max() < 0.1  # LayerNorm-scaled values of unit size
