import numpy as np
import pytest
import torch

from dnabench.alphabet import decode, encode
from dnabench.tokenize import CLS, MASK, NUM_SPECIAL, PAD, UNK, KmerTokenizer


def kmer_id(s: str) -> int:
    return NUM_SPECIAL + int(s.translate(str.maketrans("ACGT", "0123")), 4)


def test_paper_example_5mer():
    tok = KmerTokenizer()
    batch = tok.encode(encode("ATGGCTC"))
    assert batch.ids.tolist() == [[CLS, kmer_id("ATGGC"), kmer_id("TGGCT"), kmer_id("GGCTC")]]
    assert batch.ids[0, 1] == 4 + 0 * 256 + 3 * 64 + 2 * 16 + 2 * 4 + 1  # first base most significant
    assert tok.vocab_size == 4 + 4**5
    assert decode(tok.decode(batch.ids, batch.attention_mask)[0]) == "ATGGCTC"


def test_unk_exactly_where_kmer_holds_n():
    k = 3
    tok = KmerTokenizer(k=k)
    codes = np.random.default_rng(0).integers(0, 5, size=(16, 40), dtype=np.uint8)
    ids = tok.encode(codes, add_cls=False).ids
    windows = np.lib.stride_tricks.sliding_window_view(codes, k, axis=1)
    has_n = (windows == 4).any(axis=-1)
    np.testing.assert_array_equal(ids == UNK, has_n)
    assert (ids[~has_n] >= NUM_SPECIAL).all() and (ids < tok.vocab_size).all()


@pytest.mark.parametrize("k", [1, 2, 5, 6])
def test_round_trip_with_and_without_n(k):
    tok = KmerTokenizer(k=k)
    rng = np.random.default_rng(k)
    clean = rng.integers(0, 4, size=(6, 50), dtype=np.uint8)
    for row, got in zip(clean, tok.decode(tok.encode(clean).ids)):
        np.testing.assert_array_equal(got, row)
    # With N, a base comes back as N only when every k-mer covering it is UNK.
    noisy = clean.copy()
    noisy[rng.random(noisy.shape) < 0.05] = 4
    ids = tok.encode(noisy, add_cls=False).ids
    windows_unk = ids == UNK
    expected = noisy.copy()
    for p in range(noisy.shape[1]):
        lo, hi = max(0, p - k + 1), min(p, ids.shape[1] - 1)
        all_unk = windows_unk[:, lo : hi + 1].all(axis=1)
        expected[:, p] = np.where(all_unk, 4, clean[:, p])
    for want, got in zip(expected, tok.decode(ids)):
        np.testing.assert_array_equal(got, want)


def test_numpy_and_torch_equal():
    tok = KmerTokenizer(k=4)
    codes = np.random.default_rng(3).integers(0, 5, size=(5, 30), dtype=np.uint8)
    nb, tb = tok.encode(codes), tok.encode(torch.from_numpy(codes))
    assert isinstance(tb.ids, torch.Tensor) and tb.ids.dtype == torch.int64
    np.testing.assert_array_equal(nb.ids, tb.ids.numpy())
    np.testing.assert_array_equal(nb.attention_mask, tb.attention_mask.numpy())
    assert nb.ids.shape == (5, 1 + tok.num_tokens(30)) == (5, 28)


def test_decode_with_padding_and_mask_token():
    tok = KmerTokenizer(k=3)
    a, b = encode("ACGTAC"), encode("GGATCCTTA")
    ia = tok.encode(a).ids[0]
    ib = tok.encode(b).ids[0]
    ids = np.full((2, ib.size), PAD)
    ids[0, : ia.size], ids[1] = ia, ib
    mask = ids != PAD
    ids[1, 3] = MASK  # keeps its slot: only bases covered by no other k-mer become N
    out = tok.decode(ids, mask)
    assert decode(out[0]) == "ACGTAC"
    assert decode(out[1]) == "GGATCCTTA"
    ids[1, 3:6] = MASK  # k-mers 2..4 masked: base 4 is covered only by them
    assert decode(tok.decode(ids, mask)[1]) == "GGATNCTTA"


def test_stride():
    tok = KmerTokenizer(k=4, stride=2)
    codes = encode("ACGTACGTAC")
    ids = tok.encode(codes, add_cls=False).ids[0]
    assert ids.tolist() == [kmer_id(s) for s in ("ACGT", "GTAC", "ACGT", "GTAC")]
    assert tok.num_tokens(10) == 4
    assert decode(tok.decode(ids)[0]) == "ACGTACGTAC"


def test_errors():
    with pytest.raises(ValueError, match="k must be"):
        KmerTokenizer(k=0)
    with pytest.raises(ValueError, match="13"):
        KmerTokenizer(k=13)
    with pytest.raises(ValueError, match="stride"):
        KmerTokenizer(k=3, stride=4)
    with pytest.raises(ValueError, match="shorter than k=5"):
        KmerTokenizer().encode(encode("ACGT"))
    with pytest.raises(ValueError, match="7"):
        KmerTokenizer().encode(np.array([0, 1, 2, 7, 0, 1], dtype=np.uint8))
