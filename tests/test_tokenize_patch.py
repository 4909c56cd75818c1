import numpy as np
import pytest
import torch

from dnabench.alphabet import decode, encode
from dnabench.tokenize import CLS, MASK, NUM_SPECIAL, PatchTokenizer


def patch_id(s: str) -> int:
    return NUM_SPECIAL + int(s.translate(str.maketrans("ACGTN", "01234")), 5)


def test_paper_example_4patch():
    tok = PatchTokenizer()
    batch = tok.encode(encode("ATGGCTCG"))
    assert batch.ids.tolist() == [[CLS, patch_id("ATGG"), patch_id("CTCG")]]
    assert tok.vocab_size == 4 + 5**4 and tok.num_tokens(8) == 2
    assert decode(tok.decode(batch.ids)[0]) == "ATGGCTCG"


def test_ragged_tail_padded_with_n():
    tok = PatchTokenizer(k=4)
    batch = tok.encode(encode("ATGGCTCGA"), add_cls=False)
    assert batch.ids.tolist() == [[patch_id("ATGG"), patch_id("CTCG"), patch_id("ANNN")]]
    assert tok.num_tokens(9) == 3
    out = tok.decode(batch.ids)[0]
    assert out.size == 12 and decode(out[:9]) == "ATGGCTCGA"


@pytest.mark.parametrize("k,length", [(1, 20), (3, 31), (4, 64), (6, 50)])
def test_lossless_round_trip_with_n(k, length):
    tok = PatchTokenizer(k=k)
    codes = np.random.default_rng(k).integers(0, 5, size=(7, length), dtype=np.uint8)
    batch = tok.encode(codes)
    assert batch.ids.shape == (7, 1 + tok.num_tokens(length))
    assert (batch.ids[:, 1:] >= NUM_SPECIAL).all() and (batch.ids < tok.vocab_size).all()
    for row, got in zip(codes, tok.decode(batch.ids, batch.attention_mask)):
        np.testing.assert_array_equal(got[:length], row)
        assert (got[length:] == 4).all()


def test_numpy_and_torch_equal():
    tok = PatchTokenizer(k=4)
    codes = np.random.default_rng(9).integers(0, 5, size=(4, 22), dtype=np.uint8)
    tb = tok.encode(torch.from_numpy(codes))
    assert isinstance(tb.ids, torch.Tensor)
    np.testing.assert_array_equal(tok.encode(codes).ids, tb.ids.numpy())
    # A transposed (non-contiguous) torch input works too.
    t = torch.from_numpy(np.ascontiguousarray(codes.T)).T
    np.testing.assert_array_equal(tok.encode(t).ids.numpy(), tb.ids.numpy())


def test_decode_drops_mask_tokens():
    tok = PatchTokenizer(k=2)
    ids = tok.encode(encode("ACGTTT")).ids
    ids[0, 2] = MASK
    assert decode(tok.decode(ids)[0]) == "ACTT"


def test_errors():
    with pytest.raises(ValueError, match="k must be"):
        PatchTokenizer(k=0)
    with pytest.raises(ValueError, match="float64"):
        PatchTokenizer().encode(np.zeros((1, 8)))
    with pytest.raises(ValueError, match="3-D"):
        PatchTokenizer().encode(torch.zeros(1, 2, 8, dtype=torch.uint8))
