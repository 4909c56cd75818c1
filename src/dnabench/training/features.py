"""`extract_features`: a backbone's representation of every row of a store, into a features folder.

Appendix A.4-A.6: GeneExp, CausalSNP and MPRAProm read what a Track7878 backbone makes of their
sequences. Each window goes through `model.embed` (the Transformer's final CLS vector, the
CNNs' representation layer) at the backbone's input length:

- window rows: the window re-centred to that length (read from the genome; stored sequences
  are centre-cropped or N-padded) -> [N, d];
- pair rows: the reference and the alternative window centred on the variant at that length
  (MPRAProm's stores hold 1400 bp around the element, the backbone reads 1000: the paper
  extends or crops each variant's sequence to the backbone's input, centred on the variant),
  kept as [ref; alt] -> [N, 2d] or alt - ref -> [N, d];
- segmented rows: each of the S segments with its context (s + 2c bases, which must be the
  backbone's input length) -> [N, S, d], the segments of many rows batched as [B*S, L].

Rows are computed in chunks written straight into the features folder's partial copy, so an
interrupted extraction continues where it stopped (`dnabench.data.features`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dnabench.alphabet import N
from dnabench.data.features import DTYPES, PAIR_MODES, FeatureSet, start_features, store_card_sha256
from dnabench.data.samples import Alleles, gather_pairs, pair_sample, variant_window_starts
from dnabench.data.store import Store
from dnabench.io.files import sha256_file
from dnabench.progress import stage_progress
from dnabench.training.data import open_store_genome
from dnabench.training.inference import fit_length, float32_math, resolve_model_dir

__all__ = [
    "CHUNK_WINDOWS",
    "backbone_codes",
    "backbone_dir",
    "backbone_length",
    "check_segments",
    "embed_codes",
    "extract_features",
]

#: backbone windows computed between two progress records (65,536 x 1000 bp: 64 MB of codes)
CHUNK_WINDOWS = 1 << 16
WEIGHTS_FILE = "model.safetensors"


def backbone_dir(path: str | os.PathLike) -> Path:
    """The model folder of a supervised run (best/), a pretraining run (encoder/) or a saved model."""
    path = Path(path)
    try:
        return resolve_model_dir(path)
    except FileNotFoundError:
        if (path / "encoder" / "config.json").is_file():
            return path / "encoder"
        raise FileNotFoundError(
            f"{path}: not a backbone: neither a saved model (config.json), a run folder with best/, nor a pretraining run with encoder/"
        ) from None


def backbone_length(model_dir: Path, model: Any, store: Store, input_length: int | None = None) -> int:
    """Bases one backbone window reads: `input_length` when given; else what the run trained on
    (its run.json), a CNN's fixed length, or the store's own window length (a Transformer reads any)."""
    if input_length is not None:
        if int(input_length) < 1:
            raise ValueError(f"input_length must be >= 1, got {input_length}")
        return int(input_length)
    run_json = model_dir.parent / "run.json"
    if run_json.is_file() and (model_dir.parent / "config.yaml").is_file():
        try:
            recorded = json.loads(run_json.read_text()).get("input_length")
        except (json.JSONDecodeError, UnicodeDecodeError):
            recorded = None
        if recorded:
            return int(recorded)
    conv = getattr(model.config, "conv", None)
    if conv is not None:
        return int(conv.seq_len)
    if not store.input_length:
        raise ValueError(f"{store.path}: the store records no input length; pass input_length")
    return int(store.input_length)


def _plan(store: Store, genome: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    regions = store.regions
    ci = genome.resolve_many(regions["chrom"].to_numpy()[rows])
    starts = regions["start"].to_numpy(dtype=np.int64)[rows]
    minus = (regions["strand"].astype(str).to_numpy() == "-")[rows]
    return ci, starts, minus


def check_segments(store: Store, length: int) -> None:
    """A segmented store's reads (segment plus context) must be the backbone's input length."""
    sample = store.sample
    if store.sample_kind == "segmented" and int(sample["length"]) != length:
        raise ValueError(
            f"{store.path}: each segment is read as {sample['length']} bp (segment_length {sample['segment_length']} "
            f"+ 2 x context {sample['context']}), but the backbone reads {length} bp; build the store with a "
            "context that makes them equal, or use a backbone of that input length"
        )


def backbone_codes(store: Store, genome: Any, rows: np.ndarray, length: int) -> np.ndarray:
    """uint8 codes of store rows as the backbone reads them: [R, length], [R, 2, length] or [R, S, length]."""
    rows = np.asarray(rows, dtype=np.int64)
    kind, sample = store.sample_kind, store.sample
    if kind == "segmented":
        check_segments(store, length)
        return store.sequences(rows, genome, check_genome=False)
    if kind == "pair":
        if int(sample["length"]) == length and sample.get("anchor", "variant") == "variant":
            return store.sequences(rows, genome, check_genome=False)
        ci, _, minus = _plan(store, genome, rows)
        pos = store.regions["pos"].to_numpy(dtype=np.int64)[rows]
        alts = Alleles.from_strings(store.regions["alt"].iloc[rows])
        target = pair_sample(length)
        if (target["centre"] + alts.lengths > length).any():
            raise ValueError(f"{store.path}: a substitution does not fit a {length} bp window at index {target['centre']}")
        return gather_pairs(genome, ci, variant_window_starts(pos, length), minus, alts, target)
    have = store.input_length
    if have == length:
        return store.sequences(rows, genome, check_genome=False)
    if genome is None or store.has_inline_sequences:
        codes = store.sequences(rows, genome, check_genome=False)
        if have is None:  # windows of their own lengths: each row about its own centre
            ends = store.regions["end"].to_numpy(dtype=np.int64)[rows] - store.regions["start"].to_numpy(dtype=np.int64)[rows]
            out = np.full((rows.size, length), N, dtype=np.uint8)
            for n in np.unique(ends):
                sel = np.flatnonzero(ends == n)
                out[sel] = fit_length(codes[sel, : int(n)], length)
            return out
        return fit_length(codes, length)
    ci, starts, minus = _plan(store, genome, rows)
    ends = store.regions["end"].to_numpy(dtype=np.int64)[rows]
    begin = (starts + ends) // 2 - length // 2
    return genome.fetch_batch(ci, begin, length=length, strands=minus)


def embed_codes(
    model: Any, codes: np.ndarray, batch_size: int = 256, bf16: bool = True, reverse_complement: bool = False
) -> np.ndarray:
    """float32 [N, d]: `model.embed` of uint8 codes [N, L] (`DNAModel.embed_codes`), `batch_size`
    windows at a time; `reverse_complement` averages both strands' representations. bf16
    autocast applies on CUDA only (float32 math, TF32 off, elsewhere)."""
    autocast = bool(bf16) and model.device.type == "cuda"
    with contextlib.nullcontext() if autocast else float32_math(model.device):
        return model.embed_codes(codes, reverse_complement, batch_size=batch_size, autocast=autocast)


def _combine(rep: np.ndarray, kind: str, rows: int, pair: str) -> np.ndarray:
    """Per-window representations [rows * w, d] as the rows' features."""
    if kind == "window":
        return rep
    grouped = rep.reshape(rows, -1, rep.shape[-1])
    if kind == "segmented":
        return grouped
    ref, alt = grouped[:, 0], grouped[:, 1]
    return np.concatenate([ref, alt], axis=1) if pair == "concat" else alt - ref


def extract_features(
    model_dir: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike,
    genome: str | os.PathLike | None = None,
    batch_size: int = 256,
    device: str | None = None,
    bf16: bool = True,
    reverse_complement: bool = False,
    pair: str = "concat",
    dtype: str = "float16",
    overwrite: bool = False,
    progress: bool = True,
    *,
    input_length: int | None = None,
    chunk_windows: int = CHUNK_WINDOWS,
    on_chunk: Callable[[int, int, int], None] | None = None,
) -> Path:
    """Write the features folder `out` of store `data` through the backbone `model_dir`; return `out`.

    `model_dir` is a run folder (its best/), a pretraining run (its encoder/) or a saved model.
    A finished `out` with the same features is returned as it is; an interrupted extraction
    with the same arguments continues from its last complete chunk. `input_length` overrides the
    bases a backbone window reads (see `backbone_length`); `chunk_windows` sets how many windows
    go between progress records; `on_chunk(start, stop, rows)` is called after each chunk is written.
    """
    if pair not in PAIR_MODES:
        raise ValueError(f"pair must be one of {', '.join(PAIR_MODES)}, got {pair!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if batch_size < 1 or chunk_windows < 1:
        raise ValueError(f"batch_size and chunk_windows must be >= 1, got {batch_size} and {chunk_windows}")
    from dnabench.models import DNAModel

    model_path = backbone_dir(model_dir).absolute()
    store, g = open_store_genome(data, genome)
    model = DNAModel.from_pretrained(model_path)
    if getattr(model, "takes_features", False):
        raise ValueError(f"{model_path}: a {model.name} model reads features, not sequences; give the backbone's run")
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.to(target)
    length = backbone_length(model_path, model, store, input_length)
    kind = store.sample_kind
    d = int(model.representation_size)
    n = store.n_rows
    if kind == "window":
        shape, per_row = [n, d], 1
    elif kind == "pair":
        shape, per_row = [n, 2 * d if pair == "concat" else d], 2
    else:
        segments = int(store.sample["segments"])
        shape, per_row = [n, segments, d], segments
    check_segments(store, length)
    meta = {
        "kind": kind,
        "shape": shape,
        "dtype": dtype,
        "store": str(Path(store.path).absolute()),
        "store_card_sha256": store_card_sha256(store.path),
        "task": store.task,
        "backbone": str(model_path),
        "backbone_sha256": sha256_file(model_path / WEIGHTS_FILE),
        "backbone_model": model.name,
        "input_length": length,
        "pair": pair if kind == "pair" else None,
        "reverse_complement": bool(reverse_complement),
        "rows": n,
        "representation_size": d,
        "segments": per_row if kind == "segmented" else None,
        "precision": "bf16" if bf16 and target.type == "cuda" else "float32",
    }
    writer = start_features(out, meta, overwrite)
    if isinstance(writer, FeatureSet):
        return writer.path
    chunk_rows = max(1, chunk_windows // per_row)
    with stage_progress(progress) as report:
        report(f"features of {store.task} ({n:,} rows)", writer.done, n)
        for start in range(writer.done, n, chunk_rows):
            rows = np.arange(start, min(start + chunk_rows, n), dtype=np.int64)
            codes = backbone_codes(store, g, rows, length).reshape(-1, length)
            rep = embed_codes(model, codes, batch_size, bf16, reverse_complement)
            writer.write(start, _combine(rep, kind, rows.size, pair).astype(dtype, copy=False))
            report(f"features of {store.task} ({n:,} rows)", writer.done, n)
            if on_chunk is not None:
                on_chunk(start, writer.done, n)
    return writer.finish()

