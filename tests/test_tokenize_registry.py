import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dnabench.tokenize as T
from dnabench.alphabet import encode
from dnabench.tokenize import (
    NUM_SPECIAL,
    Tokenizer,
    get_tokenizer,
    load_tokenizer,
    train_bpe,
)


def test_constants():
    assert (T.PAD, T.CLS, T.MASK, T.UNK, NUM_SPECIAL) == (0, 1, 2, 3, 4)


@pytest.mark.parametrize(
    "name, params, cls, vocab",
    [
        ("onehot", {}, T.OneHotTokenizer, 9),
        ("kmer", {}, T.KmerTokenizer, 4 + 4**5),
        ("kmer", {"k": 3}, T.KmerTokenizer, 4 + 4**3),
        ("patch", {}, T.PatchTokenizer, 4 + 5**4),
        ("patch", {"k": 2}, T.PatchTokenizer, 4 + 5**2),
    ],
)
def test_get_tokenizer_and_save_load(name, params, cls, vocab, tmp_path):
    tok = get_tokenizer(name, **params)
    assert isinstance(tok, cls) and isinstance(tok, Tokenizer) and tok.name == name
    assert tok.vocab_size == vocab
    config = tok.config()
    assert config["type"] == name and json.loads(json.dumps(config)) == config
    tok.save(tmp_path)
    for loaded in (load_tokenizer(tmp_path), Tokenizer.load(tmp_path)):
        assert type(loaded) is cls and loaded.config() == config
    codes = np.random.default_rng(0).integers(0, 5, size=(3, 20), dtype=np.uint8)
    np.testing.assert_array_equal(load_tokenizer(tmp_path).encode(codes).ids, tok.encode(codes).ids)


def test_get_tokenizer_bpe_from_path(tmp_path):
    seqs = [np.tile(encode("ACGTTGCA"), 30)]
    train_bpe(seqs, vocab_size=20).save(tmp_path)
    tok = get_tokenizer("bpe", path=tmp_path)
    assert isinstance(tok, T.BPETokenizer) and tok.vocab_size <= 20


def test_registry_errors(tmp_path):
    with pytest.raises(ValueError, match="'wordpiece'"):
        get_tokenizer("wordpiece")
    with pytest.raises(ValueError, match="k must be"):
        get_tokenizer("kmer", k=0)
    (tmp_path / "tokenizer_config.json").write_text('{"type": "nope"}')
    with pytest.raises(ValueError, match="'nope'"):
        load_tokenizer(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path / "missing")


def read_fasta(path: Path) -> tuple[list[str], np.ndarray]:
    """Plain line reader for the one-line-per-record sample files."""
    headers, seqs = [], []
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            headers.append(line[1:])
        elif line:
            seqs.append(encode(line.strip()))
    return headers, np.stack(seqs)


def test_real_data_all_four(shared_data):
    fasta = shared_data / "Track7878" / "janggu_oct4_mafk" / "sample.fa"
    if not fasta.is_file():
        pytest.skip(f"sample file not found: {fasta}")
    headers, codes = read_fasta(fasta)
    assert len(headers) == codes.shape[0] == 3897 and codes.shape[1] == 200
    assert headers[0].startswith("chr") and ":" in headers[0]
    bpe = train_bpe(list(codes[:400]), vocab_size=256)
    tokenizers = [get_tokenizer("onehot"), get_tokenizer("kmer"), get_tokenizer("patch"), bpe]
    for tok in tokenizers:
        batch = tok.encode(codes)
        assert (batch.ids[:, 0] == T.CLS).all()
        if tok.name != "bpe":
            assert batch.ids.shape == (codes.shape[0], 1 + tok.num_tokens(200))
            np.testing.assert_array_equal(tok.encode(torch.from_numpy(codes)).ids.numpy(), batch.ids)
        else:
            assert batch.ids.shape[1] <= 1 + tok.num_tokens(200)
        decoded = tok.decode(batch.ids, batch.attention_mask)
        # k-mer loses bases only when every covering k-mer holds N; others are lossless here.
        np.testing.assert_array_equal(np.stack([d[:200] for d in decoded]), codes, err_msg=tok.name)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_input_stays_on_device_and_matches_cpu():
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, 5, size=(6, 64), dtype=np.uint8))
    bpe = train_bpe([c.numpy() for c in codes], vocab_size=40, min_frequency=1)
    tokenizers = [get_tokenizer("onehot"), get_tokenizer("kmer"), get_tokenizer("patch", k=3), bpe]
    for tok in tokenizers:
        cpu, gpu = tok.encode(codes), tok.encode(codes.cuda())
        assert gpu.ids.is_cuda and gpu.attention_mask.is_cuda, tok.name
        assert torch.equal(gpu.ids.cpu(), cpu.ids) and torch.equal(gpu.attention_mask.cpu(), cpu.attention_mask)
        for a, b in zip(tok.decode(gpu.ids, gpu.attention_mask), tok.decode(cpu.ids, cpu.attention_mask)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fixed_length_tokenizers_never_wait_for_the_gpu():
    """Codes already on the GPU (every training batch) are checked there: no host sync a batch."""
    codes = torch.randint(0, 5, (8, 120), dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for tok in (get_tokenizer("onehot"), get_tokenizer("kmer"), get_tokenizer("patch")):
            tok.encode(codes)
    finally:
        torch.cuda.set_sync_debug_mode("default")
