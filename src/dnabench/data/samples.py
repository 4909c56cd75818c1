"""Sample kinds: the geometry of what one store row feeds a model, and its batch gather.

Three kinds (the card's `sample` field), each gathered for a whole batch with ONE vectorised
`Genome.fetch_batch` call, never a Python call per sample:

- **window** ``{"kind": "window", "length": L}``: one interval per row -> uint8 codes [B, L].
  A card without `sample` is a window store.
- **pair** ``{"kind": "pair", "length": L, "centre": L // 2}``: one variant per row ->
  [B, 2, L]; index 0 is the reference window, index 1 the same window with the ALT allele
  substituted.
- **segmented** ``{"kind": "segmented", "segments": S, "segment_length": s, "context": c,
  "length": s + 2c}``: one long interval per row cut into S segments of s bases, each read
  with c bases of context on either side -> [B, S, s + 2c] (GeneExp: 40 kb = 200 x 200 bp,
  each read as 1000 bp).

The card's `input_length` is the length of one window: L, or s + 2c.

Conventions
-----------
Pairs:

- Variant positions are 1-based (VCF); ``pos0 = pos - 1``. The reference window is
  ``[pos0 - centre, pos0 - centre + L)`` with ``centre = L // 2``, so the variant's first base
  sits at index ``L // 2`` (for even L: the right one of the two middle bases).
- REF and ALT are given on the + strand (VCF convention), uppercase A/C/G/T, with
  ``len(ref) == len(alt) >= 1``: SNVs and equal-length substitutions (MNVs). Indels are refused;
  the builders that read VCFs skip and count them before they reach the store. `check_ref`
  says which REF alleles match the genome, so builders can count and drop mismatches.
- The regions table holds chrom, pos (int64), ref, alt, split, and start, end, strand, which
  the writer fills in when absent (``start = pos0 - centre``, ``end = start + L``, strand "+"),
  so overlap-based leakage reports and chromosome splits treat every kind alike.
- A row with strand "-" is read in the minus-strand orientation: both windows reverse-
  complemented, the ALT substituted before the flip (so it is complemented too).
- A shift moves the window, not the variant: the ALT goes to index ``centre - shift`` of the
  + strand window. A shift that pushes the variant out of the window is a ValueError (shifts
  are small augmentation, ``|shift| < centre``).
- Flips read rows from the other strand, as for windows.

Segmented windows:

- Regions rows are chrom, start, end, strand with ``end - start == S * s``.
- In reading order, segment i of a + strand row covers genome
  ``[start + i*s - c, start + (i+1)*s + c)``. A - strand row is read in the transcript's
  orientation: segment i is the reverse complement of genome segment S-1-i, so the block equals
  the reverse complement of the whole + strand read cut the same way.
- Bases past a chromosome end are N. Shifts move the whole row; flips read it from the other
  strand.

Every gather folds the strand of each row (and any flip) into its single `fetch_batch` call,
so reverse complement costs no extra pass over the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dnabench.alphabet import NUM_BASES, complement

__all__ = [
    "SAMPLE_KINDS",
    "Alleles",
    "window_sample",
    "pair_sample",
    "segmented_sample",
    "check_sample",
    "sample_shape",
    "row_span",
    "variant_window_starts",
    "segment_starts",
    "check_ref",
    "prepare_pair_rows",
    "gather_pairs",
    "variant_offsets",
    "PAIR_ANCHORS",
    "gather_segments",
]

SAMPLE_KINDS: tuple[str, ...] = ("window", "pair", "segmented")
PAIR_COLUMNS: tuple[str, ...] = ("chrom", "pos", "ref", "alt", "split")

#: ASCII byte -> code for the four uppercase bases only (alleles are A/C/G/T), else 255
_ACGT = np.full(256, 255, dtype=np.uint8)
_ACGT[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(NUM_BASES, dtype=np.uint8)


# ----- the card's `sample` field ----------------------------------------------------------------


def window_sample(length: int) -> dict[str, Any]:
    """The `sample` field of a window store."""
    return {"kind": "window", "length": int(length)}


PAIR_ANCHORS: tuple[str, ...] = ("variant", "region")


def pair_sample(length: int, anchor: str = "variant") -> dict[str, Any]:
    """The `sample` field of a pair store.

    anchor "variant": the window is centred on the variant (index length // 2). anchor
    "region": each row gives its window (start, end), and the variant sits where it falls in
    it: every variant of one MPRA element is seen in the same 1400 bp around the element.
    """
    if anchor == "region":
        return {"kind": "pair", "length": int(length), "anchor": "region"}
    if anchor != "variant":
        raise ValueError(f"pair anchor must be one of {', '.join(PAIR_ANCHORS)}, got {anchor!r}")
    return {"kind": "pair", "length": int(length), "centre": int(length) // 2}


def segmented_sample(segments: int, segment_length: int, context: int) -> dict[str, Any]:
    """The `sample` field of a segmented store."""
    s, c = int(segment_length), int(context)
    return {"kind": "segmented", "segments": int(segments), "segment_length": s, "context": c, "length": s + 2 * c}


def _size(sample: Mapping[str, Any], key: str, minimum: int) -> int:
    value = sample.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"sample {key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_sample(sample: Mapping[str, Any], input_length: int | None = None) -> dict[str, Any]:
    """The `sample` field checked (known kind, sizes, derived fields, input_length) and normalised.

    Raises ValueError saying what is wrong; readers and writers add where it was found.
    """
    if not isinstance(sample, Mapping):
        raise ValueError(f"sample must be a mapping, got {type(sample).__name__}")
    kind = sample.get("kind")
    if kind not in SAMPLE_KINDS:
        raise ValueError(f"sample kind must be one of {', '.join(SAMPLE_KINDS)}, got {kind!r}")
    if kind == "segmented":
        out = segmented_sample(_size(sample, "segments", 1), _size(sample, "segment_length", 1), _size(sample, "context", 0))
        if sample.get("length", out["length"]) != out["length"]:
            raise ValueError(
                f"segmented sample length {sample.get('length')!r} != segment_length {out['segment_length']} "
                f"+ 2 x context {out['context']}"
            )
    elif kind == "pair":
        out = pair_sample(_size(sample, "length", 1), str(sample.get("anchor", "variant")))
        if "centre" in out and sample.get("centre", out["centre"]) != out["centre"]:
            raise ValueError(f"pair sample centre must be length // 2 = {out['centre']}, got {sample.get('centre')!r}")
    else:
        out = window_sample(_size(sample, "length", 1))
    if input_length is not None and int(input_length) != out["length"]:
        raise ValueError(f"input_length {input_length} does not match the sample's window length {out['length']}")
    return out


def sample_shape(sample: Mapping[str, Any]) -> tuple[int, ...]:
    """Shape of one sample's codes: (L,), (2, L) or (S, s + 2c)."""
    if sample["kind"] == "pair":
        return (2, int(sample["length"]))
    if sample["kind"] == "segmented":
        return (int(sample["segments"]), int(sample["length"]))
    return (int(sample["length"]),)


def row_span(sample: Mapping[str, Any]) -> int:
    """Bases between a row's start and end: L, or S * s for a segmented row (context excluded)."""
    if sample["kind"] == "segmented":
        return int(sample["segments"]) * int(sample["segment_length"])
    return int(sample["length"])


# ----- geometry ----------------------------------------------------------------------------------


def variant_window_starts(pos: np.ndarray, length: int) -> np.ndarray:
    """0-based start of each variant's reference window: pos0 - length // 2 (pos 1-based, VCF)."""
    return np.asarray(pos, dtype=np.int64) - 1 - int(length) // 2


def segment_starts(
    starts: np.ndarray, minus: np.ndarray | None, segments: int, segment_length: int, context: int
) -> np.ndarray:
    """int64 [B, S] genome start of each segment read (context included), in reading order.

    A - strand row lists its segments last first, so fetching them on the - strand yields
    the transcript's orientation directly.
    """
    order = np.arange(int(segments), dtype=np.int64)[None, :]
    starts = np.asarray(starts, dtype=np.int64)[:, None]
    if minus is not None:
        order = np.where(np.asarray(minus, dtype=bool)[:, None], int(segments) - 1 - order, order)
    return starts + order * int(segment_length) - int(context)


# ----- alleles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alleles:
    """Alleles of many variants as one flat code array: allele i is codes[offsets[i]:offsets[i + 1]].

    Encoded once per store, so a batch takes its alleles with index arithmetic, not a string
    join per batch.
    """

    codes: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_strings(cls, alleles: Sequence[str] | pd.Series) -> Alleles:
        """Encode allele strings (A/C/G/T; anything else becomes 255 and fails `bad_rows`)."""
        values = pd.Series(alleles, dtype=object).astype(str).tolist()
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        offsets = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        raw = np.frombuffer("".join(values).encode("ascii", "replace"), dtype=np.uint8)
        codes = _ACGT[raw]
        return cls(codes, offsets)

    def __len__(self) -> int:
        return int(self.offsets.size) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def bad_rows(self) -> np.ndarray:
        """Rows holding a letter other than uppercase A, C, G, T (or no letter at all)."""
        bad = np.zeros(len(self), dtype=bool)
        letters = np.flatnonzero(self.codes >= NUM_BASES)
        bad[np.searchsorted(self.offsets, letters, side="right") - 1] = True
        return bad | (self.lengths == 0)

    def take(self, rows: np.ndarray) -> Alleles:
        """The alleles of `rows`, packed again row after row."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        offsets = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        src = np.repeat(self.offsets[rows] - offsets[:-1], lengths) + np.arange(int(offsets[-1]), dtype=np.int64)
        return Alleles(self.codes[src], offsets)


def check_ref(genome: Any, chroms: Any, pos: Any, ref: Sequence[str] | pd.Series) -> np.ndarray:
    """bool [n]: True where REF (+ strand, 1-based pos) equals the genome there.

    One fetch per distinct REF length, not per variant. Genome N, bases past a chromosome end
    and letters other than A/C/G/T never match.
    """
    alleles = Alleles.from_strings(ref)
    ci = genome.resolve_many(np.asarray(chroms))
    pos0 = np.asarray(pos, dtype=np.int64) - 1
    lengths = alleles.lengths
    ok = np.zeros(len(alleles), dtype=bool)
    for n in np.unique(lengths[lengths > 0]):
        rows = np.flatnonzero(lengths == n)
        got = genome.fetch_batch(ci[rows], pos0[rows], length=int(n))
        want = alleles.take(rows).codes.reshape(rows.size, int(n))
        ok[rows] = (got == want).all(axis=1)
    return ok


# ----- writer checks -----------------------------------------------------------------------------


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def prepare_pair_rows(regions: pd.DataFrame, sample: Mapping[str, Any]) -> pd.DataFrame:
    """The regions of a pair store checked, with start, end and strand filled in where absent.

    Raises ValueError naming the first bad row.
    """
    missing = [c for c in PAIR_COLUMNS if c not in regions.columns]
    if missing:
        raise ValueError(f"a pair store's regions table lacks column(s) {', '.join(missing)} (need {', '.join(PAIR_COLUMNS)})")
    if not pd.api.types.is_integer_dtype(regions["pos"]):
        raise ValueError(f"column pos must be integers (1-based), got {regions['pos'].dtype}")
    length = int(sample["length"])
    df = regions.reset_index(drop=True).copy()
    df["pos"] = df["pos"].astype(np.int64)
    pos = df["pos"].to_numpy()
    if (pos < 1).any():
        i = _first(pos < 1)
        raise ValueError(f"row {i} has pos {pos[i]}: positions are 1-based (VCF), so pos >= 1")
    ref, alt = Alleles.from_strings(df["ref"]), Alleles.from_strings(df["alt"])
    for name, alleles in (("ref", ref), ("alt", alt)):
        bad = alleles.bad_rows()
        if bad.any():
            i = _first(bad)
            raise ValueError(f"row {i} has {name} {df[name].iloc[i]!r}: alleles must be uppercase A/C/G/T")
    unequal = ref.lengths != alt.lengths
    if unequal.any():
        i = _first(unequal)
        raise ValueError(
            f"row {i} is an indel (ref {df['ref'].iloc[i]!r}, alt {df['alt'].iloc[i]!r}): a pair store holds "
            "substitutions only (len(ref) == len(alt))"
        )
    if sample.get("anchor") == "region":
        return _region_anchored(df, pos, alt, length)
    centre = int(sample["centre"])
    too_long = centre + alt.lengths > length
    if too_long.any():
        i = _first(too_long)
        raise ValueError(f"row {i}: a {alt.lengths[i]} bp substitution at index {centre} does not fit a {length} bp window")
    start = variant_window_starts(pos, length)
    for col, want in (("start", start), ("end", start + length)):
        if col not in df.columns:
            df[col] = want
        elif not pd.api.types.is_integer_dtype(df[col]):
            raise ValueError(f"column {col} must be integers, got {df[col].dtype}")
        elif (df[col].to_numpy() != want).any():
            i = _first(df[col].to_numpy() != want)
            raise ValueError(f"row {i} has {col} {df[col].iloc[i]}, but pos {pos[i]} and length {length} put it at {want[i]}")
    if "strand" not in df.columns:
        df["strand"] = "+"
    return df


def _region_anchored(df: pd.DataFrame, pos: np.ndarray, alt: Alleles, length: int) -> pd.DataFrame:
    """Rows that give their own window: start and end present, end - start == length, and the
    substitution inside it."""
    for col in ("start", "end"):
        if col not in df.columns:
            raise ValueError(f"a region-anchored pair store needs column {col} (each row's window)")
        if not pd.api.types.is_integer_dtype(df[col]):
            raise ValueError(f"column {col} must be integers, got {df[col].dtype}")
    start, end = df["start"].to_numpy(np.int64), df["end"].to_numpy(np.int64)
    wrong = end - start != length
    if wrong.any():
        i = _first(wrong)
        raise ValueError(f"row {i} spans {end[i] - start[i]} bp, the sample's window length is {length}")
    offset = pos - 1 - start
    outside = (offset < 0) | (offset + alt.lengths > length)
    if outside.any():
        i = _first(outside)
        raise ValueError(f"row {i}: the variant at pos {pos[i]} is outside its window [{start[i]}, {end[i]})")
    if "strand" not in df.columns:
        df["strand"] = "+"
    return df


def variant_offsets(pos: np.ndarray, starts: np.ndarray, sample: Mapping[str, Any]) -> np.ndarray:
    """Index of each variant's first base in its (unshifted, + strand) window."""
    if sample.get("anchor") == "region":
        return np.asarray(pos, dtype=np.int64) - 1 - np.asarray(starts, dtype=np.int64)
    return np.full(np.shape(pos), int(sample["centre"]), dtype=np.int64)


# ----- gathers -----------------------------------------------------------------------------------


def _substitute(windows: np.ndarray, at: np.ndarray, alleles: Alleles, minus: np.ndarray | None) -> None:
    """Write each row's allele into its window at index `at` of the + strand reading, in place.

    Rows read on the - strand are already reverse-complemented, so their allele goes in
    mirrored and complemented: the same as substituting first and flipping after.
    """
    lengths = alleles.lengths
    row = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    k = np.arange(row.size, dtype=np.int64) - alleles.offsets[:-1][row]
    col = at[row] + k
    codes = alleles.codes
    if minus is not None and minus.any():
        flip = minus[row]
        col = np.where(flip, windows.shape[1] - 1 - col, col)
        codes = np.where(flip, complement(codes), codes)
    windows[row, col] = codes


def gather_pairs(
    genome: Any,
    chroms: np.ndarray,
    starts: np.ndarray,
    minus: np.ndarray | None,
    alts: Alleles,
    sample: Mapping[str, Any],
    shifts: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 [B, 2, L]: reference and alternative windows of B variants, one `fetch_batch` call.

    `starts` are the windows' unshifted starts, `minus` the strand each row is read on (its own
    strand, xor any flip), `alts` the rows' ALT alleles (+ strand), `offsets` the index of each
    variant in its window (`variant_offsets`; default the sample's centre).
    """
    length = int(sample["length"])
    minus = None if minus is None else np.asarray(minus, dtype=bool)
    at = np.full(alts.lengths.size, int(sample.get("centre", 0)), dtype=np.int64) if offsets is None else np.array(offsets, dtype=np.int64)
    if shifts is not None:
        shifts = np.broadcast_to(np.asarray(shifts, dtype=np.int64), at.shape)
        at = at - shifts
        starts = starts + shifts
        out = (at < 0) | (at + alts.lengths > length)
        if out.any():
            i = _first(out)
            raise ValueError(f"batch row {i}: shift {int(shifts[i])} moves the variant out of its {length} bp window")
    ref = genome.fetch_batch(chroms, starts, length=length, strands=minus)
    pair = np.repeat(ref[:, None, :], 2, axis=1)
    _substitute(pair[:, 1], at, alts, minus)
    return pair


def gather_segments(
    genome: Any,
    chroms: np.ndarray,
    starts: np.ndarray,
    minus: np.ndarray | None,
    sample: Mapping[str, Any],
    shifts: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 [B, S, s + 2c]: each row's segments with their context, one `fetch_batch` call."""
    segments, width = int(sample["segments"]), int(sample["length"])
    starts = np.asarray(starts, dtype=np.int64)
    if shifts is not None:
        starts = starts + np.asarray(shifts, dtype=np.int64)
    seg = segment_starts(starts, minus, segments, int(sample["segment_length"]), int(sample["context"]))
    strands = None if minus is None else np.repeat(np.asarray(minus, dtype=bool), segments)
    codes = genome.fetch_batch(np.repeat(chroms, segments), seg.reshape(-1), length=width, strands=strands)
    return codes.reshape(seg.shape[0], segments, width)
