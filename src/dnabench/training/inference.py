"""Evaluate a run on a split, or predict on new sequences: FASTA, BED + genome, or a sequence table.

Both load the run's best model with `from_pretrained`; neither needs Lightning. New sequences
are centred and cut or padded with N to the length the model was trained on, so a CNN (fixed
input length) and a Transformer see what they saw in training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dnabench.alphabet import N
from dnabench.training.config import load_config
from dnabench.training.data import load_training_data
from dnabench.training.run import resolve_model_dir
from dnabench.evaluation.scoring import SplitScorer

#: rows of a split predicted and scored at a time by `evaluate_run`
EVALUATE_CHUNK = 16_384


def _device(device: str | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def predict_codes(model, codes: np.ndarray, batch_size: int = 256, device: str | None = None, reverse_complement: bool = False) -> np.ndarray:
    """Predictions [N, K] float32 for codes [N, L] (an array or memmap), batch by batch on `device`."""
    model = model.to(_device(device)).eval()
    return model.predict_codes(codes, reverse_complement, batch_size=batch_size, as_numpy=True)


def fit_length(codes: np.ndarray, length: int) -> np.ndarray:
    """Centre-crop or N-pad [N, L] codes to [N, length]."""
    have = codes.shape[1]
    if have == length:
        return codes
    if have > length:
        left = (have - length) // 2
        return codes[:, left : left + length]
    out = np.full((codes.shape[0], length), N, dtype=np.uint8)
    left = (length - have) // 2
    out[:, left : left + have] = codes
    return out


def _run_parts(run: str | os.PathLike):
    from dnabench.models import DNAModel

    run = Path(run)
    config = load_config(run / "config.yaml", {})
    model = DNAModel.from_pretrained(resolve_model_dir(run))
    meta = json.loads((run / "run.json").read_text()) if (run / "run.json").is_file() else {}
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    return run, config, model, meta, metrics


def evaluate_run(
    run: str | os.PathLike, data: str | None = None, split: str = "test", batch_size: int = 256, device: str | None = None, reverse_complement: bool = False
) -> dict[str, float]:
    """Metrics of the run's best model on one split; written to RUN/eval_<split>.json."""
    run, config, model, _, metrics = _run_parts(run)
    training_data = load_training_data(data or config.data, seed=config.seed, genome=config.genome)
    rows = training_data.split(split)
    scorer = SplitScorer(training_data.spec, training_data.labels)
    for start in range(0, rows.size, EVALUATE_CHUNK):  # bounded memory: Track7878's test split is 14 GB dense
        codes, targets = training_data.source.get_batch(rows[start : start + EVALUATE_CHUNK])
        scorer.update(targets, predict_codes(model, codes, batch_size, device, reverse_complement))
    threshold = metrics.get("val", {}).get("threshold")
    result = scorer.compute(threshold=threshold if split != "val" else None)
    (run / f"eval_{split}.json").write_text(json.dumps({"data": str(data or config.data), "split": split, **result}, indent=1))
    return result


def read_prediction_input(path: str | os.PathLike, genome: str | os.PathLike | None, length: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows describing each input (name / coordinates) and their codes [N, length]."""
    from dnabench.io.files import InputError

    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith((".fa", ".fasta", ".fna", ".fas")):
        from dnabench.io.fasta import Header, read_fasta_blocks

        names, parts = [], []
        for item in read_fasta_blocks(path):
            if isinstance(item, Header):
                names.append(item.name)
                parts.append([])
            else:
                parts[-1].append(item.codes)
        seqs = [np.concatenate(p) if p else np.zeros(0, np.uint8) for p in parts]
        codes = np.stack([fit_length(s[None], length)[0] for s in seqs]) if seqs else np.zeros((0, length), np.uint8)
        return pd.DataFrame({"name": names, "length": [s.size for s in seqs]}), codes
    if name.endswith((".bed", ".narrowpeak")):
        if genome is None:
            raise ValueError(f"{path}: a BED input needs --genome CACHE to read sequence from")
        from dnabench.io.genome import open_genome
        from dnabench.io.intervals import read_bed

        regions = read_bed(path)
        g = open_genome(genome)
        centre = (regions["start"].to_numpy() + regions["end"].to_numpy()) // 2
        strands = regions["strand"].to_numpy() if "strand" in regions else None
        codes = g.fetch_batch(regions["chrom"].to_numpy(), centre - length // 2, length=length, strands=strands)
        return regions, codes
    from dnabench.data.tables import encode_sequences, read_table

    frame = read_table(path)
    columns = {c.lower(): c for c in frame.columns}
    if "sequence" not in columns:
        raise InputError(path, "expected FASTA, BED (with --genome) or a table with a 'sequence' column")
    codes, _ = encode_sequences(frame[columns["sequence"]], str(path))
    return frame.drop(columns=[columns["sequence"]]), fit_length(codes, length)


def predict_file(
    run: str | os.PathLike,
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    genome: str | os.PathLike | None = None,
    batch_size: int = 256,
    device: str | None = None,
    reverse_complement: bool = False,
) -> pd.DataFrame:
    """Predict every sequence of `input_path` with the run's best model; write `out` (.parquet/.csv/.tsv)."""
    run, config, model, meta, _ = _run_parts(run)
    length = int(meta.get("input_length") or load_training_data(config.data, seed=config.seed, genome=config.genome).input_length)
    frame, codes = read_prediction_input(input_path, genome, length)
    preds = predict_codes(model, codes, batch_size, device, reverse_complement)
    labels = meta.get("task", {}).get("label_names") or [str(i) for i in range(preds.shape[1])]
    frame = frame.reset_index(drop=True).copy()
    for j, label in enumerate(labels):
        frame[f"pred_{label}"] = preds[:, j]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    suffix = out.name.lower().removesuffix(".gz")
    if suffix.endswith(".parquet"):
        frame.to_parquet(tmp, index=False)
    else:
        compression = "gzip" if out.name.lower().endswith(".gz") else None
        frame.to_csv(tmp, sep="\t" if suffix.endswith((".tsv", ".txt")) else ",", index=False, compression=compression)
    tmp.replace(out)
    return frame
