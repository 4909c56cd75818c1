"""Genome cache: FASTA/2bit indexing, batch fetch against pyfaidx, strands, ends, aliases, atomicity."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyfaidx
import pytest

from dnabench.alphabet import reverse_complement
from dnabench.io.files import InputError
from dnabench.io.genome import Genome, UnknownChromosomeError, index_genome, open_genome

COMP = str.maketrans("ACGTN", "TGCAN")


def random_sequences(seed: int = 0, sizes=(1000, 2503, 77, 1)) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGTacgtNRYn"))
    out = {}
    for i, size in enumerate(sizes):
        p = np.array([0.2, 0.2, 0.2, 0.2, 0.04, 0.04, 0.04, 0.04, 0.02, 0.01, 0.01, 0.0])
        out[f"chr{i + 1}"] = "".join(rng.choice(letters, size=size, p=p / p.sum()))
    return out


def write_fasta(path: Path, seqs: dict[str, str], width: int = 60, gz: bool = False) -> Path:
    text = "".join(f">{name} some description\n" + "\n".join(s[i : i + width] for i in range(0, len(s), width)) + "\n" for name, s in seqs.items())
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def expected_codes_string(s: str) -> str:
    """What the cache should hold: uppercase, IUPAC ambiguity letters as N."""
    return "".join(c if c in "ACGT" else "N" for c in s.upper())


def write_twobit(path: Path, seqs: dict[str, str]) -> Path:
    """A minimal .2bit writer (kent twoBit format v0), for tests only."""
    value = {"T": 0, "C": 1, "A": 2, "G": 3}
    records = []
    for name, s in seqs.items():
        upper = s.upper()
        is_n = np.array([c not in "ACGT" for c in upper], dtype=bool)
        is_lower = np.array([c.islower() for c in s], dtype=bool)
        def blocks(mask):
            edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
            starts, ends = edges[::2], edges[1::2]
            return starts, ends - starts
        n_starts, n_sizes = blocks(is_n)
        m_starts, m_sizes = blocks(is_lower)
        bases = np.array([value.get(c, 0) for c in upper], dtype=np.uint8)
        bases = np.concatenate([bases, np.zeros((-len(bases)) % 4, dtype=np.uint8)]).reshape(-1, 4)
        packed = (bases[:, 0] << 6 | bases[:, 1] << 4 | bases[:, 2] << 2 | bases[:, 3]).astype(np.uint8)
        body = struct.pack("<II", len(s), len(n_starts))
        body += np.asarray(n_starts, "<u4").tobytes() + np.asarray(n_sizes, "<u4").tobytes()
        body += struct.pack("<I", len(m_starts)) + np.asarray(m_starts, "<u4").tobytes() + np.asarray(m_sizes, "<u4").tobytes()
        body += struct.pack("<I", 0) + packed.tobytes()
        records.append((name, body))
    header_size = 16 + sum(1 + len(n) + 4 for n, _ in records)
    out = struct.pack("<IIII", 0x1A412743, 0, len(records), 0)
    offset = header_size
    for name, body in records:
        out += struct.pack("<B", len(name)) + name.encode() + struct.pack("<I", offset)
        offset += len(body)
    out += b"".join(body for _, body in records)
    path.write_bytes(out)
    return path


@pytest.fixture(scope="module")
def seqs() -> dict[str, str]:
    return random_sequences()


@pytest.fixture(scope="module")
def fasta_and_genome(tmp_path_factory, seqs):
    tmp = tmp_path_factory.mktemp("genome")
    fasta = write_fasta(tmp / "g.fa", seqs)
    return fasta, index_genome(fasta, tmp / "cache", softmask=True, progress=False)


def test_cache_matches_pyfaidx_random_intervals_both_strands_across_ends(fasta_and_genome, seqs):
    fasta, genome = fasta_and_genome
    faidx = pyfaidx.Fasta(str(fasta), sequence_always_upper=True, as_raw=True)
    rng = np.random.default_rng(1)
    for length in (1, 7, 100, 600):
        names = rng.choice(list(seqs), size=200)
        lengths = np.array([len(seqs[n]) for n in names])
        starts = rng.integers(-length - 5, lengths + 5)
        strands = rng.choice(["+", "-"], size=200)
        got = genome.fetch_batch(names, starts, length=length, strands=strands)
        assert got.shape == (200, length) and got.dtype == np.uint8
        for name, start, strand, row in zip(names, starts, strands, got):
            lo, hi = max(start, 0), min(start + length, len(seqs[name]))
            inner = expected_codes_string(faidx[name][lo:hi]) if hi > lo else ""
            want = "N" * (lo - start) + inner + "N" * (start + length - max(hi, lo))
            want = want[:length] if hi > lo else "N" * length
            if strand == "-":
                want = want.translate(COMP)[::-1]
            assert "".join("ACGTN"[c] for c in row) == want, (name, start, length, strand)


def test_fetch_single_interval_and_reverse_complement(fasta_and_genome, seqs):
    _, genome = fasta_and_genome
    s = expected_codes_string(seqs["chr2"])
    assert genome.sequence_str("chr2", 100, 180) == s[100:180]
    assert genome.sequence_str("chr2", 100, 180, "-") == s[100:180].translate(COMP)[::-1]
    np.testing.assert_array_equal(genome.fetch("chr2", 5, 50, "-"), reverse_complement(genome.fetch("chr2", 5, 50)))
    assert genome.fetch("chr2", 10, 10).shape == (0,)


def test_positions_beyond_ends_are_n_never_errors(fasta_and_genome, seqs):
    _, genome = fasta_and_genome
    size = len(seqs["chr3"])
    assert genome.sequence_str("chr3", -10, 0) == "N" * 10
    assert genome.sequence_str("chr3", size, size + 5) == "NNNNN"
    whole = genome.sequence_str("chr3", -3, size + 3)
    assert whole == "NNN" + expected_codes_string(seqs["chr3"]) + "NNN"
    # a window longer than the chromosome, one base chromosome
    assert genome.sequence_str("chr4", -2, 3) == "NN" + expected_codes_string(seqs["chr4"]) + "NN"


def test_batch_with_int_chrom_indices_and_bool_strands(fasta_and_genome):
    _, genome = fasta_and_genome
    a = genome.fetch_batch(["chr1", "chr2"], [10, 20], length=30, strands=["+", "-"])
    b = genome.fetch_batch(np.array([0, 1]), np.array([10, 20]), length=30, strands=np.array([False, True]))
    c = genome.fetch_batch(["chr1", "chr2"], [10, 20], ends=[40, 50], strands=np.array([1, -1]))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_aliases_resolve_and_unknown_names_list_known(tmp_path):
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": "ACGT" * 5, "chrM": "GGCC", "2": "TTTT"})
    genome = index_genome(fasta, tmp_path / "c", progress=False)
    assert genome.sequence_str("1", 0, 4) == "ACGT"
    assert genome.sequence_str("MT", 0, 4) == "GGCC"
    assert genome.sequence_str("chrMT", 0, 2) == "GG"
    assert genome.sequence_str("chr2", 0, 2) == "TT"
    with pytest.raises(UnknownChromosomeError, match=r"unknown chromosome 'chr9'.*known: chr1, chrM, 2"):
        genome.fetch("chr9", 0, 3)
    with pytest.raises(UnknownChromosomeError):
        genome.fetch_batch(["chr1", "nope"], [0, 0], length=2)


def test_softmask_kept_as_optional_mask(fasta_and_genome, seqs):
    _, genome = fasta_and_genome
    s = seqs["chr2"]
    mask = genome.softmask("chr2", -4, 300)
    want = np.array([False] * 4 + [c.islower() for c in s[:300]])
    np.testing.assert_array_equal(mask, want)
    for start in (1, 7, 9, 13):  # unaligned to bytes
        np.testing.assert_array_equal(genome.softmask("chr2", start, start + 50), [c.islower() for c in s[start : start + 50]])
    np.testing.assert_array_equal(genome.softmask("chr3", 0, 77), [c.islower() for c in seqs["chr3"]])


def test_gzip_and_bgzip_and_line_widths_give_the_same_cache(tmp_path, seqs, fasta_and_genome):
    _, reference = fasta_and_genome
    gz = write_fasta(tmp_path / "g.fa.gz", seqs, width=70, gz=True)
    one_line = write_fasta(tmp_path / "one.fa", seqs, width=10**9)
    # bgzip = several gzip members back to back
    raw = one_line.read_bytes()
    bgz = tmp_path / "g.fa.bgz"
    bgz.write_bytes(b"".join(gzip.compress(raw[i : i + 1000]) for i in range(0, len(raw), 1000)))
    for src in (gz, one_line, bgz):
        g = index_genome(src, tmp_path / f"cache-{src.name}", progress=False)
        assert g.names == reference.names
        np.testing.assert_array_equal(np.asarray(g.sequence), np.asarray(reference.sequence))


def test_small_read_blocks_split_headers_and_lines(tmp_path, seqs):
    """Block borders falling inside headers and sequence lines change nothing."""
    from dnabench.io.fasta import Header, read_fasta_blocks

    fasta = write_fasta(tmp_path / "g.fa", seqs, width=13)
    for block in (1, 2, 7, 64):
        names, parts = [], {}
        for item in read_fasta_blocks(fasta, block_size=block):
            if isinstance(item, Header):
                names.append(item.name)
                parts[item.name] = []
            else:
                parts[names[-1]].append(item.codes)
        assert names == list(seqs)
        for name in names:
            got = "".join("ACGTN"[c] for c in np.concatenate(parts[name])) if parts[name] else ""
            assert got == expected_codes_string(seqs[name])


def test_twobit_matches_fasta_and_twobitreader(tmp_path, seqs, fasta_and_genome):
    import twobitreader

    _, reference = fasta_and_genome
    path = write_twobit(tmp_path / "g.2bit", seqs)
    independent = twobitreader.TwoBitFile(str(path))
    for name, s in seqs.items():
        assert independent[name][:].upper() == s.upper().translate(str.maketrans("RY", "NN"))
    g = index_genome(path, tmp_path / "cache2bit", softmask=True, progress=False)
    assert g.meta["source"]["format"] == "2bit"
    assert g.names == reference.names
    np.testing.assert_array_equal(np.asarray(g.sequence), np.asarray(reference.sequence))
    for name, s in seqs.items():
        np.testing.assert_array_equal(g.softmask(name, 0, len(s)), [c.islower() for c in s])


def test_twobit_chunked_decoding_matches_one_chunk(tmp_path, seqs):
    from dnabench.io.twobit import iter_twobit_chunks, read_twobit_index

    path = write_twobit(tmp_path / "g.2bit", seqs)
    for record in read_twobit_index(path):
        whole = np.concatenate([c for c, _ in iter_twobit_chunks(path, record, chunk_bases=1 << 20)] or [np.zeros(0, np.uint8)])
        small = np.concatenate([c for c, _ in iter_twobit_chunks(path, record, chunk_bases=8)] or [np.zeros(0, np.uint8)])
        np.testing.assert_array_equal(whole, small)


def test_real_janggu_fasta_matches_pyfaidx(shared_data, tmp_path):
    fasta = shared_data / "Track7878" / "janggu_oct4_mafk" / "sample.fa"
    genome = index_genome(fasta, tmp_path / "oct4", progress=False)
    assert len(genome) == 3897
    assert set(genome.lengths.tolist()) == {200}
    faidx = pyfaidx.Fasta(str(fasta), sequence_always_upper=True, as_raw=True)
    rng = np.random.default_rng(0)
    names = rng.choice(genome.names, size=300)
    starts = rng.integers(-50, 200, size=300)
    got = genome.fetch_batch(names, starts, length=60, strands=rng.choice(["+", "-"], size=300))
    first = genome.fetch_batch(names, starts, length=60)
    for name, start, row, fwd in zip(names, starts, got, first):
        lo, hi = max(start, 0), min(start + 60, 200)
        want = "N" * (lo - start) + faidx[name][lo:hi] + "N" * (start + 60 - hi)
        assert "".join("ACGTN"[c] for c in fwd) == want
        assert row.tobytes() in (fwd.tobytes(), reverse_complement(fwd).tobytes())
    assert genome.names[0] == "chr1:15710957-15711157"


# ----- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (b"", "no FASTA records", None),
        (b"\n\n", "no FASTA records", None),
        (b"ACGT\n>chr1\nACGT\n", "expected a '>' header", 1),
        (b">chr1\nACGT\nACXT\n", "invalid letter 'X'", 3),
        (b">chr1\nACGT\n>chr2\nAC GT\nAC*T\n", "invalid letter '*'", 5),
        (b">chr1\nACGT\n>chr1\nAAAA\n", "duplicate sequence name 'chr1'", 3),
        (b">\nACGT\n", "empty record name", 1),
        (b">chr1\nACGT\n>chr2\n>chr3\nACGT\n", "record 'chr2' has no sequence", 3),
        (b">chr1\nACGT\n>chr2\n\n  \n", "record 'chr2' has no sequence", 3),
        (b">chr1\n", "record 'chr1' has no sequence", 1),
    ],
)
def test_bad_fasta_gives_clear_error(tmp_path, content, message, line):
    path = tmp_path / "bad.fa"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        index_genome(path, tmp_path / "cache", progress=False)
    assert str(path) in str(err.value)
    assert err.value.line == line
    assert not (tmp_path / "cache").exists()


def test_iupac_letters_become_n(tmp_path):
    path = write_fasta(tmp_path / "iupac.fa", {"c": "ACGTRYSWKMBDHVNacgtrykmn"})
    genome = index_genome(path, tmp_path / "c", progress=False)
    assert genome.sequence_str("c", 0, 24) == "ACGT" + "N" * 11 + "ACGT" + "N" * 5


def test_corrupt_and_truncated_gzip(tmp_path):
    good = gzip.compress(b">chr1\n" + b"ACGT" * 50_000 + b"\n")
    truncated = tmp_path / "trunc.fa.gz"
    truncated.write_bytes(good[: len(good) // 2])
    corrupt = tmp_path / "corrupt.fa.gz"
    corrupt.write_bytes(good[:20] + b"\x00garbage" * 100)
    for path in (truncated, corrupt):
        with pytest.raises(InputError, match="corrupt or truncated gzip") as err:
            index_genome(path, tmp_path / f"cache-{path.stem}", progress=False)
        assert str(path) in str(err.value)
        assert not (tmp_path / f"cache-{path.stem}").exists()


def test_bad_twobit(tmp_path):
    path = tmp_path / "x.2bit"
    path.write_bytes(struct.pack("<IIII", 0x1A412743, 0, 1, 0) + b"\x04chr1" + struct.pack("<I", 999))
    with pytest.raises(InputError, match="truncated"):
        index_genome(path, tmp_path / "c", progress=False)
    # a .2bit whose signature is damaged is refused as a .2bit, not parsed as FASTA
    good = write_twobit(tmp_path / "g.2bit", {"chr1": "ACGT" * 10})
    data = bytearray(good.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"x\.2bit: not a \.2bit file \(bad signature 0x1A4127BC"):
        index_genome(path, tmp_path / "c", progress=False)
    write_twobit(path, {"chr1": "ACGT", "chr2": ""})
    with pytest.raises(InputError, match="record 'chr2' has no sequence"):
        index_genome(path, tmp_path / "c", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.2bit", "x.2bit"]


def test_byte_order_mark_is_skipped(tmp_path, seqs):
    plain = write_fasta(tmp_path / "plain.fa", seqs)
    bom = tmp_path / "bom.fa"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    a = index_genome(plain, tmp_path / "a", progress=False)
    b = index_genome(bom, tmp_path / "b", progress=False)
    assert b.names == a.names and (tmp_path / "b" / "sequence.u8").read_bytes() == (tmp_path / "a" / "sequence.u8").read_bytes()


def test_fetch_argument_errors(fasta_and_genome):
    _, genome = fasta_and_genome
    with pytest.raises(ValueError, match="end 5 < start 10"):
        genome.fetch("chr1", 10, 5)
    with pytest.raises(ValueError, match="equal-length"):
        genome.fetch_batch(["chr1", "chr1"], [0, 0], ends=[10, 20])
    with pytest.raises(ValueError, match="strand must be"):
        genome.fetch_batch(["chr1"], [0], length=3, strands=["x"])
    with pytest.raises(ValueError, match="ends or length"):
        genome.fetch_batch(["chr1"], [0])


# ----- atomicity -------------------------------------------------------------------------


def test_existing_cache_is_not_overwritten_without_flag(tmp_path, seqs):
    fasta = write_fasta(tmp_path / "g.fa", seqs)
    index_genome(fasta, tmp_path / "c", progress=False)
    with pytest.raises(FileExistsError):
        index_genome(fasta, tmp_path / "c", progress=False)
    index_genome(fasta, tmp_path / "c", overwrite=True, progress=False)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_killed_build_never_leaves_a_cache_that_opens(tmp_path):
    """SIGKILL a build midway: the target folder does not exist (or does not open)."""
    fasta = tmp_path / "big.fa"
    rng = np.random.default_rng(0)
    with open(fasta, "wb") as f:
        for i in range(4):
            f.write(f">chr{i}\n".encode() + np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 30_000_000)].tobytes() + b"\n")
    out = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        from dnabench.io.genome import index_genome
        index_genome({str(fasta)!r}, {str(out)!r}, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    import time

    deadline = time.time() + 60
    while time.time() < deadline:  # kill once the temporary folder has data in it
        tmps = [p for p in tmp_path.iterdir() if p.name.startswith(".cache.tmp-")]
        if tmps and (tmps[0] / "sequence.u8").exists() and (tmps[0] / "sequence.u8").stat().st_size > 0:
            break
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert not out.exists()
    with pytest.raises(FileNotFoundError):
        open_genome(out)
    # the next build of the same cache removes what the killed one left
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".cache.tmp-")]
    small = write_fasta(tmp_path / "small.fa", {"chr1": "ACGT" * 10})
    index_genome(small, out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.fa", "cache", "small.fa"]


def test_open_refuses_damaged_cache(fasta_and_genome, tmp_path):
    _, genome = fasta_and_genome
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(genome.path, copy)
    with open(copy / "sequence.u8", "ab") as f:
        f.write(b"\x00")
    with pytest.raises(InputError, match="wrong size"):
        Genome.open(copy)
    meta = json.loads((copy / "genome.json").read_text())
    meta["version"] = 99
    (copy / "genome.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="unsupported genome cache format"):
        Genome.open(copy)


def test_open_refuses_damaged_metadata(fasta_and_genome, tmp_path):
    import shutil

    _, genome = fasta_and_genome
    original = json.loads((genome.path / "genome.json").read_text())
    damages = {
        "cut": lambda m: json.dumps(m)[:50],
        "a list": lambda m: "[]",
        "no chromosomes": lambda m: json.dumps({k: v for k, v in m.items() if k != "chromosomes"}),
        "record without offset": lambda m: json.dumps({**m, "chromosomes": [{"name": "chr1", "length": 5}]}),
        "text length": lambda m: json.dumps({**m, "total_length": "many"}),
        "past the end": lambda m: json.dumps({**m, "total_length": 10}),
        "alias of nothing": lambda m: json.dumps({**m, "aliases": {"1": "chr99"}}),
        "files a list": lambda m: json.dumps({**m, "files": ["sequence.u8"]}),
    }
    for what, damage in damages.items():
        copy = tmp_path / what.replace(" ", "_")
        shutil.copytree(genome.path, copy)
        (copy / "genome.json").write_text(damage(original))
        with pytest.raises(InputError, match=r"genome\.json") as err:
            Genome.open(copy)
        assert "rebuild" in str(err.value) or "unsupported" in str(err.value), what
    copy = tmp_path / "mask"
    shutil.copytree(genome.path, copy)
    (copy / "softmask.bits").unlink()
    with pytest.raises(InputError, match=r"softmask\.bits: missing"):
        Genome.open(copy)


def test_verify_reads_every_byte(fasta_and_genome, tmp_path):
    import shutil

    _, genome = fasta_and_genome
    assert genome.verify() == {"bases": int(genome.lengths.sum()), "checksummed": ["sequence.u8", "softmask.bits"]}
    assert genome.verify(block=7)["bases"] == int(genome.lengths.sum())  # blocks that cut chromosomes
    at = int(genome.chromosomes[1].offset) + 10

    def damaged(name: str, value: int) -> Genome:
        copy = tmp_path / name
        shutil.copytree(genome.path, copy)
        with open(copy / "sequence.u8", "r+b") as f:
            f.seek(at)
            old = f.read(1)[0]
            f.seek(at)
            f.write(bytes([value if value >= 0 else (old + 1) % 4]))
        return Genome.open(copy)

    with pytest.raises(InputError, match=rf"sequence\.u8: byte {at} \(chr2:11\) holds 55, not a base code"):
        damaged("code", 55).verify()
    with pytest.raises(InputError, match=r"sequence\.u8: (sha256 .* genome\.json records|chr2 holds \d+ N)"):
        damaged("base", -1).verify()
    with pytest.raises(InputError, match=r"damaged: chr2:5-20 holds byte value 55.*genome info --verify"):
        damaged("fetch", 55).fetch("chr2", 4, 20)


def test_overwrite_replaces_only_a_cache_of_its_own_files(fasta_and_genome, tmp_path):
    import shutil

    fasta, genome = fasta_and_genome
    folder = tmp_path / "raw"
    folder.mkdir()
    source = folder / "g.fa"
    shutil.copy(fasta, source)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="the output folder contains the input"):
        index_genome(source, folder, overwrite=True, progress=False)
    with pytest.raises(ValueError, match="the output is the input"):
        index_genome(source, source, overwrite=True, progress=False)
    with pytest.raises(FileExistsError, match="not a dnabench genome cache .*nothing was changed"):
        index_genome(fasta, folder, overwrite=True, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["g.fa", "notes.txt"] and source.read_bytes() == fasta.read_bytes()
    cache = tmp_path / "cache"
    shutil.copytree(genome.path, cache)
    (cache / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"holds files dnabench did not write \(notes\.txt\)"):
        index_genome(fasta, cache, overwrite=True, progress=False)
    (cache / "notes.txt").unlink()
    (cache / "genome.json").write_text("{damaged")  # still recognisably a cache: it may be rebuilt
    index_genome(fasta, cache, overwrite=True, progress=False)
    assert open_genome(cache).names == genome.names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "raw"]


def test_cache_records_checksum_and_counts(fasta_and_genome, seqs):
    import hashlib

    fasta, genome = fasta_and_genome
    assert genome.meta["source"]["sha256"] == hashlib.sha256(fasta.read_bytes()).hexdigest()
    for name in ("sequence.u8", "softmask.bits"):
        data = (genome.path / name).read_bytes()
        assert genome.meta["files"][name] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    for c in genome.chromosomes:
        assert c.length == len(seqs[c.name])
        assert c.n_count == expected_codes_string(seqs[c.name]).count("N")
