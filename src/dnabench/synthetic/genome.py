"""Synthetic genomes: random sequence with planted motifs, and a builder that plants signals.

Real genomes are gigabytes; a made-up one with known motif sites lets every step of the
pipeline run on a laptop in seconds and be checked against ground truth. `make_genome` is the
small fixture genome of the tests; `GenomeBuilder` is the mutable genome the demo world plants
its promoters, peaks, enhancers and elements into, each planted site recorded with its place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.alphabet import CODE_TO_ASCII, C, G, T, encode, reverse_complement
from dnabench.synthetic.files import open_output

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
        with open_output(path) as f:
            for name, codes in self.sequences.items():
                letters = CODE_TO_ASCII[codes].copy()
                letters[self.softmask[name].astype(bool)] += 32  # to lowercase
                f.write(f">{name}\n".encode())
                for i in range(0, letters.size, line_width):
                    f.write(letters[i : i + line_width].tobytes() + b"\n")
        return path

    def write_sites_bed(self, path: str | os.PathLike) -> Path:
        """The planted sites as BED6 (chrom, start, end, motif, 0, strand)."""
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


# ----- the builder the demo world plants into ----------------------------------------------------


def background(sizes: dict[str, int], rng: np.random.Generator, gc: float = 0.41, cpg_kept: float = 0.25) -> dict[str, np.ndarray]:
    """Random sequence with the CpG depletion of a mammalian genome.

    Bases are drawn independently with GC fraction `gc`; then all but `cpg_kept` of the CG
    dinucleotides are turned into TG or CA, as deamination of methylated C does in real genomes
    (human DNA holds about a quarter of the CpGs its GC content predicts), so CpG-dense islands
    stand out against the background.
    """
    probs = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    out = {}
    for name, size in sizes.items():
        seq = rng.choice(4, size=size, p=probs).astype(np.uint8)
        cg = np.flatnonzero((seq[:-1] == C) & (seq[1:] == G))
        lost = cg[rng.random(cg.size) >= cpg_kept]
        to_tg = rng.random(lost.size) < 0.5
        seq[lost[to_tg]] = T  # C -> T on this strand
        seq[lost[~to_tg] + 1] = 0  # G -> A: C -> T on the other strand
        out[name] = seq
    return out


class GenomeBuilder:
    """A genome being made: sequence, soft mask, what is taken, and every site planted in it.

    Signals are planted into free space only (`free_positions` never returns a place that
    overlaps a reserved or planted interval), so one signal never overwrites another and the
    ground truth of each stays true of the final sequence.
    """

    def __init__(self, sizes: dict[str, int], rng: np.random.Generator, gc: float = 0.41, cpg_kept: float = 0.25) -> None:
        self.sizes = {str(k): int(v) for k, v in sizes.items()}
        self.sequences = background(self.sizes, rng, gc, cpg_kept)
        self.softmask = {name: np.zeros(size, dtype=np.uint8) for name, size in self.sizes.items()}
        #: bases written by a signal
        self.occupied = {name: np.zeros(size, dtype=bool) for name, size in self.sizes.items()}
        #: room claimed by a signal for what it plants later (a gene's window): no other signal goes there
        self.claimed = {name: np.zeros(size, dtype=bool) for name, size in self.sizes.items()}
        self.sites: list[dict] = []

    @property
    def names(self) -> list[str]:
        return list(self.sizes)

    def free_positions(
        self,
        length: int,
        n: int,
        rng: np.random.Generator,
        chroms: list[str] | None = None,
        weights: dict[str, float] | None = None,
        margin: int = 0,
        reserve: bool = True,
    ) -> list[tuple[str, int]]:
        """`n` random starts of `length`-bp intervals, `margin` bp clear of anything taken and of each other.

        Chromosomes are drawn by length times `weights` (default 1). With `reserve` the intervals
        (without the margin) are claimed: later calls never return them, but the owner may
        still write into them (`is_free` looks at written bases only). Raises ValueError when
        the genome is too full.
        """
        chroms = chroms or self.names
        w = np.array([self.sizes[c] * (weights or {}).get(c, 1.0) for c in chroms], dtype=float)
        w /= w.sum()
        out: list[tuple[str, int]] = []
        attempts = 0
        while len(out) < n:
            attempts += 1
            if attempts > 200 * n + 1000:
                raise ValueError(f"placed only {len(out)} of {n} free intervals of {length} bp: the genome is too full")
            chrom = chroms[int(rng.choice(len(chroms), p=w))]
            size = self.sizes[chrom]
            if size <= length + 2 * margin + 2:
                continue
            start = int(rng.integers(margin + 1, size - length - margin - 1))
            lo, hi = start - margin, start + length + margin
            if self.occupied[chrom][lo:hi].any() or self.claimed[chrom][lo:hi].any():
                continue
            self.claimed[chrom][start : start + length] = True  # clear of each other
            out.append((chrom, start))
        if not reserve:
            for chrom, start in out:
                self.claimed[chrom][start : start + length] = False
        return out

    def reserve(self, chrom: str, start: int, end: int) -> None:
        """Mark [start, end) written: no signal is planted there any more."""
        self.occupied[chrom][max(start, 0) : end] = True

    def is_free(self, chrom: str, start: int, end: int) -> bool:
        return start >= 0 and end <= self.sizes[chrom] and not self.occupied[chrom][start:end].any()

    def write(self, chrom: str, start: int, codes: np.ndarray, strand: str = "+") -> None:
        """Write `codes` (read along `strand`) at [start, start + len) of the + strand, marking it taken."""
        codes = np.asarray(codes, dtype=np.uint8)
        end = start + codes.size
        if start < 0 or end > self.sizes[chrom]:
            raise ValueError(f"{chrom}:{start}-{end} is off the chromosome ({self.sizes[chrom]} bp)")
        self.sequences[chrom][start:end] = codes if strand == "+" else reverse_complement(codes)
        self.softmask[chrom][start:end] = 0
        self.occupied[chrom][start:end] = True

    def plant(self, chrom: str, start: int, motif, strand: str, rng: np.random.Generator, kind: str, owner: str = "", **extra) -> dict:
        """Plant one instance of `motif` (a `dnabench.synthetic.motifs.Motif`) drawn from its PWM; returns its site record."""
        codes = motif.sample(rng)[0]
        self.write(chrom, start, codes, strand)
        site = {
            "chrom": chrom, "start": int(start), "end": int(start + motif.length), "strand": strand, "motif": motif.name,
            "kind": kind, "owner": owner, "score": float(motif.score(codes)),
            "mismatches": int((codes != motif.codes).sum()), **extra,
        }
        self.sites.append(site)
        return site

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> np.ndarray:
        """A copy of [start, end) read along `strand`."""
        codes = self.sequences[chrom][start:end].copy()
        return codes if strand == "+" else reverse_complement(codes)

    def sites_frame(self) -> pd.DataFrame:
        """Every planted site, in genome order."""
        columns = ["chrom", "start", "end", "strand", "motif", "kind", "owner", "score", "mismatches"]
        frame = pd.DataFrame(self.sites) if self.sites else pd.DataFrame(columns=columns)
        order = {n: i for i, n in enumerate(self.names)}
        frame = frame.assign(_c=frame["chrom"].map(order)).sort_values(["_c", "start"], kind="stable").drop(columns="_c")
        return frame.reset_index(drop=True)

    def to_genome(self) -> SyntheticGenome:
        """The finished genome; its `sites` are the planted sites as BED6 columns."""
        frame = self.sites_frame()
        sites = pd.DataFrame({"chrom": frame["chrom"], "start": frame["start"], "end": frame["end"], "name": frame["motif"], "score": 0, "strand": frame["strand"]})
        return SyntheticGenome(self.sequences, self.softmask, sites)


def plant_repeats(gb: GenomeBuilder, n: int, rng: np.random.Generator, length: int = 300, divergence: float = 0.08) -> pd.DataFrame:
    """`n` soft-masked copies of one random repeat element, each base diverged with probability `divergence`.

    Returns the copies: chrom, start, end, strand, divergence (the share of bases that differ).
    """
    element = rng.choice(4, size=length).astype(np.uint8)
    rows = []
    for chrom, start in gb.free_positions(length, n, rng, margin=20):
        copy = element.copy()
        hit = rng.random(length) < divergence
        copy[hit] = (copy[hit] + rng.integers(1, 4, int(hit.sum()))) % 4
        strand = "+" if rng.random() < 0.5 else "-"
        gb.write(chrom, start, copy, strand)
        gb.softmask[chrom][start : start + length] = 1
        rows.append({"chrom": chrom, "start": start, "end": start + length, "strand": strand, "divergence": float(hit.mean())})
    return pd.DataFrame(rows)
