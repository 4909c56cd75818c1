import json

import numpy as np
import pytest
import torch

from dnabench.alphabet import decode, encode
from dnabench.tokenize import (
    CLS,
    MASK,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    BPETokenizer,
    load_tokenizer,
    train_bpe,
)


def repetitive_corpus(seed: int = 0, n: int = 40, motifs: int = 25) -> list[np.ndarray]:
    """Random sequences built from a few repeated motifs, so BPE has merges to learn."""
    rng = np.random.default_rng(seed)
    pool = [rng.integers(0, 4, size=rng.integers(4, 16), dtype=np.uint8) for _ in range(motifs)]
    return [np.concatenate([pool[i] for i in rng.integers(0, motifs, size=100)]) for _ in range(n)]


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return train_bpe(repetitive_corpus(), vocab_size=200)


def test_special_ids_and_vocab_size(bpe):
    vocab = bpe.hf_tokenizer.get_vocab()
    assert [vocab[t] for t in SPECIAL_TOKENS] == [PAD, CLS, MASK, UNK] == [0, 1, 2, 3]
    assert set("ACGTN") <= set(vocab)
    assert bpe.vocab_size <= 200
    assert max(len(t) for t in vocab) > 4  # repeats were merged


def test_vocab_size_honoured_when_small():
    tok = train_bpe(repetitive_corpus(seed=1), vocab_size=30)
    assert tok.vocab_size <= 30


def test_round_trip_and_padding(bpe):
    rng = np.random.default_rng(5)
    corpus = repetitive_corpus(seed=0)
    codes = np.stack([corpus[0][:120], rng.integers(0, 4, size=120, dtype=np.uint8), corpus[3][:120]])
    codes[2, 50:60] = 4  # a run of N
    batch = bpe.encode(codes)
    ids, mask = batch.ids, batch.attention_mask
    assert ids.dtype == np.int64 and mask.dtype == bool
    assert (ids[:, 0] == CLS).all()
    lengths = mask.sum(axis=1)
    assert len(set(lengths.tolist())) > 1  # rows encode to different lengths
    assert ids.shape[1] == lengths.max()
    for row_ids, row_mask, n in zip(ids, mask, lengths):
        assert row_mask[:n].all() and not row_mask[n:].any()
        assert (row_ids[n:] == PAD).all() and (row_ids[1:n] >= 4).all()
    assert lengths[0] < lengths[1]  # repeats compress better than random sequence
    for row, got in zip(codes, bpe.decode(ids, mask)):
        np.testing.assert_array_equal(got, row)
    assert bpe.encode(codes, add_cls=False).ids.shape[1] == ids.shape[1] - 1
    assert bpe.num_tokens(120) == 120  # an upper bound


def test_torch_input_matches_numpy(bpe):
    codes = np.stack([c[:80] for c in repetitive_corpus(seed=2)[:4]])
    nb, tb = bpe.encode(codes), bpe.encode(torch.from_numpy(codes))
    assert isinstance(tb.ids, torch.Tensor) and tb.ids.dtype == torch.int64 and tb.attention_mask.dtype == torch.bool
    np.testing.assert_array_equal(nb.ids, tb.ids.numpy())
    np.testing.assert_array_equal(nb.attention_mask, tb.attention_mask.numpy())


def test_decode_drops_specials_unk_is_n(bpe):
    a = bpe.encode(encode("ACGT"), add_cls=False).ids[0].tolist()
    ids = np.array([[CLS, *a, MASK, UNK, PAD]])
    assert decode(bpe.decode(ids)[0]) == "ACGTN"


def test_save_load_identical(bpe, tmp_path):
    bpe.save(tmp_path / "tok")
    assert json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())["type"] == "bpe"
    assert (tmp_path / "tok" / "bpe.json").is_file()
    loaded = load_tokenizer(tmp_path / "tok")
    assert isinstance(loaded, BPETokenizer) and loaded.vocab_size == bpe.vocab_size
    codes = np.stack([c[:150] for c in repetitive_corpus(seed=3)[:5]])
    np.testing.assert_array_equal(loaded.encode(codes).ids, bpe.encode(codes).ids)
    assert BPETokenizer(path=tmp_path / "tok" / "bpe.json").vocab_size == bpe.vocab_size


def test_training_splits_at_n():
    seqs = [np.array([0, 1, 0, 1, 4, 4, 4, 4, 4, 4, 2, 3, 2, 3] * 20, dtype=np.uint8)]
    vocab = train_bpe(seqs, vocab_size=60, min_frequency=1).hf_tokenizer.get_vocab()
    assert not any("N" in t and len(t) > 1 for t in vocab if t not in SPECIAL_TOKENS)
    assert "ACAC" in vocab or "GTGT" in vocab


def test_errors(bpe):
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe(repetitive_corpus(), vocab_size=5)
    with pytest.raises(ValueError, match="7"):
        bpe.encode(np.array([[0, 7, 1]], dtype=np.uint8))
    with pytest.raises(ValueError, match="float32"):
        bpe.encode(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="exactly one"):
        BPETokenizer()
