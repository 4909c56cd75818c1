"""Small synthetic genomes with planted motifs, for the demo, tests and benchmarks.

Real genomes are gigabytes; a made-up one with known motif sites lets every step of the
pipeline run on a laptop in seconds and be checked against ground truth.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.alphabet import CODE_TO_ASCII, encode, reverse_complement

#: Well-known motifs: TATA box, E-box (MYC/MAX), CTCF core consensus.
DEMO_MOTIFS = {"TATA": "TATAAAAG", "EBOX": "CCACGTGG", "CTCF": "CCACCAGGGGGCGC"}


@dataclass
class SyntheticGenome:
    """Sequences (uppercase codes), soft-mask flags and the planted motif sites."""

    sequences: dict[str, np.ndarray]
    softmask: dict[str, np.ndarray]
    sites: pd.DataFrame = field(repr=False)

    def write_fasta(self, path: str | os.PathLike, line_width: int = 60) -> Path:
        """Write FASTA (gzip when the name ends in .gz), lowercase where soft-masked."""
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "wb") as f:
            for name, codes in self.sequences.items():
                letters = CODE_TO_ASCII[codes].copy()
                letters[self.softmask[name].astype(bool)] += 32  # to lowercase
                f.write(f">{name}\n".encode())
                for i in range(0, letters.size, line_width):
                    f.write(letters[i : i + line_width].tobytes() + b"\n")
        return path

    def write_sites_bed(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        self.sites.to_csv(path, sep="\t", header=False, index=False)
        return path


def make_genome(
    sizes: dict[str, int] | None = None,
    motifs: dict[str, str] | None = None,
    sites_per_motif: int = 60,
    gc: float = 0.41,
    seed: int = 0,
) -> SyntheticGenome:
    """Random sequence with motif copies planted on both strands, one N gap and soft-masked repeats."""
    sizes = sizes or {"chr1": 400_000, "chr2": 300_000, "chrM": 16_569}
    motifs = motifs or DEMO_MOTIFS
    rng = np.random.default_rng(seed)
    probs = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    sequences = {name: rng.choice(4, size=size, p=probs).astype(np.uint8) for name, size in sizes.items()}
    softmask = {name: np.zeros(size, dtype=np.uint8) for name, size in sizes.items()}
    names = list(sizes)
    longest = max(names, key=lambda n: sizes[n])
    gap = sizes[longest] // 2
    sequences[longest][gap : gap + 5_000] = 4  # an assembly gap of N
    for name, size in sizes.items():  # soft-masked "repeats": copies of one random 300 bp element
        element = rng.choice(4, size=300).astype(np.uint8)
        for start in rng.integers(0, max(size - 300, 1), size // 50_000):
            if not (sequences[name][start : start + 300] == 4).any():
                sequences[name][start : start + 300] = element
                softmask[name][start : start + 300] = 1
    rows = []
    taken = {name: np.zeros(size, dtype=bool) for name, size in sizes.items()}
    for motif_name, motif in motifs.items():
        codes = encode(motif)
        placed, attempts = 0, 0
        while placed < sites_per_motif:
            attempts += 1
            if attempts > 1_000 * sites_per_motif:
                raise ValueError(f"genome of {sum(sizes.values())} bp is too small for {sites_per_motif} sites of {motif_name}")
            name = names[int(rng.integers(0, len(names)))]
            margin = min(1_000, sizes[name] // 4)
            if sizes[name] - 2 * margin <= codes.size:
                continue
            start = int(rng.integers(margin, sizes[name] - margin - codes.size))
            end = start + codes.size
            if taken[name][start - 50 : end + 50].any() or (sequences[name][start:end] == 4).any():
                continue
            strand = "+" if rng.random() < 0.5 else "-"
            sequences[name][start:end] = codes if strand == "+" else reverse_complement(codes)
            softmask[name][start:end] = 0
            taken[name][start:end] = True
            rows.append((name, start, end, motif_name, 0, strand))
            placed += 1
    sites = pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "score", "strand"])
    sites = sites.sort_values(["chrom", "start"], kind="stable").reset_index(drop=True)
    return SyntheticGenome(sequences, softmask, sites)


#: hg19 chromosome sizes (UCSC hg19.chrom.sizes, primary assembly), for builds that simulate hg19 scale.
HG19_SIZES = {
    "chr1": 249_250_621, "chr2": 243_199_373, "chr3": 198_022_430, "chr4": 191_154_276, "chr5": 180_915_260,
    "chr6": 171_115_067, "chr7": 159_138_663, "chr8": 146_364_022, "chr9": 141_213_431, "chr10": 135_534_747,
    "chr11": 135_006_516, "chr12": 133_851_895, "chr13": 115_169_878, "chr14": 107_349_540, "chr15": 102_531_392,
    "chr16": 90_354_753, "chr17": 81_195_210, "chr18": 78_077_248, "chr19": 59_128_983, "chr20": 63_025_520,
    "chr21": 48_129_895, "chr22": 51_304_566, "chrX": 155_270_560, "chrY": 59_373_566,
}


def sizes_only_genome(out: str | os.PathLike, sizes: dict[str, int]):
    """A genome cache with the given chromosome sizes whose sequence is all A (code 0).

    The sequence file is sparse (one truncate, no data written), so a 3 Gbp layout costs no disk
    and no time: enough for builds that need chromosome names and lengths, such as labelling
    bins from peak files, in tests and benchmarks.
    """
    from dnabench.io.genome import SEQUENCE_FILE, Genome, write_meta

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, offset = [], 0
    for name, length in sizes.items():
        records.append({"name": name, "length": int(length), "offset": offset, "mask_offset": 0, "n_count": 0})
        offset += int(length)
    with open(out / SEQUENCE_FILE, "wb") as f:
        f.truncate(offset)
    source = {"path": None, "format": "sizes", "compressed": False, "bytes": 0, "sha256": None}
    write_meta(out, source, records, offset, softmask=False)
    return Genome.open(out)
