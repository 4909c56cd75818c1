import numpy as np
import pytest
import torch

from dnabench.alphabet import encode
from dnabench.tokenize import CLS, MASK, NUM_SPECIAL, PAD, UNK, OneHotTokenizer


def test_ids_are_codes_plus_four():
    tok = OneHotTokenizer()
    batch = tok.encode(encode("ACGTN"), add_cls=False)
    assert batch.ids.tolist() == [[4, 5, 6, 7, 8]]
    assert batch.ids.dtype == np.int64 and batch.attention_mask.dtype == bool
    assert tok.vocab_size == 9 and tok.num_tokens(17) == 17


def test_cls_at_position_zero():
    tok = OneHotTokenizer()
    codes = np.random.default_rng(0).integers(0, 5, size=(3, 10), dtype=np.uint8)
    batch = tok.encode(codes)
    assert batch.ids.shape == (3, 11)
    assert (batch.ids[:, 0] == CLS).all() and batch.attention_mask.all()
    np.testing.assert_array_equal(batch.ids[:, 1:], codes.astype(np.int64) + NUM_SPECIAL)


def test_round_trip_and_torch_matches_numpy():
    tok = OneHotTokenizer()
    codes = np.random.default_rng(1).integers(0, 5, size=(8, 33), dtype=np.uint8)
    nb = tok.encode(codes)
    tb = tok.encode(torch.from_numpy(codes))
    assert isinstance(tb.ids, torch.Tensor) and tb.ids.dtype == torch.int64 and tb.attention_mask.dtype == torch.bool
    np.testing.assert_array_equal(nb.ids, tb.ids.numpy())
    for row, got in zip(codes, tok.decode(tb.ids, tb.attention_mask)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, row)


def test_decode_drops_specials_and_masked_positions():
    tok = OneHotTokenizer()
    ids = np.array([[CLS, 4, MASK, 7, UNK, PAD], [CLS, 5, 6, 8, 8, 8]])
    mask = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]], dtype=bool)
    out = tok.decode(ids, mask)
    assert out[0].tolist() == [0, 3, 4]  # MASK dropped, UNK -> N
    assert out[1].tolist() == [1, 2, 4]


def test_non_contiguous_and_readonly_input():
    tok = OneHotTokenizer()
    codes = np.random.default_rng(2).integers(0, 4, size=(2, 12), dtype=np.uint8)
    flipped = codes[:, ::-1]
    readonly = codes.copy()
    readonly.flags.writeable = False
    np.testing.assert_array_equal(tok.encode(flipped).ids[:, 1:], flipped + 4)
    np.testing.assert_array_equal(tok.encode(readonly).ids, tok.encode(codes).ids)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([[0, 7, 1]], dtype=np.uint8), "7"),
        (np.zeros((2, 5), dtype=np.float32), "float32"),
        (np.zeros((2, 3, 4), dtype=np.uint8), "3-D"),
        (torch.zeros(2, 5, dtype=torch.int64), "int64"),
        ("ACGT", "alphabet.encode"),
    ],
)
def test_bad_input_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        OneHotTokenizer().encode(bad)


def test_decode_rejects_out_of_range_ids():
    with pytest.raises(ValueError, match="token id 9"):
        OneHotTokenizer().decode(np.array([[4, 9]]))
