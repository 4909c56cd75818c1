"""The embedded demo: every step of dnabench on a synthetic genome, in seconds, on a laptop.

It makes a small genome with planted motifs, indexes it into a genome cache, reads the motif
sites back from BED, cuts windows around them (both strands) and around random background
positions, tokenizes the windows four ways and checks every step against ground truth.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dnabench.alphabet import encode

WINDOW = 500


@dataclass
class DemoResult:
    """What the demo measured; tests assert on it, the console shows it."""

    genome_bp: int
    sites: int
    motif_found_fraction: float
    background_motif_fraction: float
    tokenizers: list[dict]


def run_demo(out: Path | None = None, seed: int = 0, console: Console | None = None) -> DemoResult:
    """Run the demo; files go to `out` (kept) or a temporary folder (removed)."""
    console = console or Console()
    if out is None:
        with tempfile.TemporaryDirectory(prefix="dnabench-demo-") as tmp:
            return _run(Path(tmp), seed, console)
    out.mkdir(parents=True, exist_ok=True)
    return _run(out, seed, console)


def _run(folder: Path, seed: int, console: Console) -> DemoResult:
    from dnabench.io.genome import index_genome
    from dnabench.io.intervals import read_bed
    from dnabench.io.sampling import genome_chunks
    from dnabench.synthetic import DEMO_MOTIFS, make_genome
    from dnabench.tokenize import get_tokenizer
    from dnabench.tokenize.bpe import train_bpe

    console.rule("[bold]dnabench demo")
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        step = progress.add_task("synthetic genome with planted motifs", total=None)
        synthetic = make_genome(seed=seed)
        fasta = synthetic.write_fasta(folder / "genome.fa.gz")
        bed = synthetic.write_sites_bed(folder / "motif_sites.bed")
        progress.update(step, total=1, completed=1)

        step = progress.add_task("genome cache (memory-mapped codes)", total=None)
        genome = index_genome(fasta, folder / "genome", softmask=True, overwrite=True, progress=False)
        progress.update(step, total=1, completed=1)

        step = progress.add_task("windows around motif sites and background", total=None)
        sites = read_bed(bed)
        centre = (sites["start"].to_numpy() + sites["end"].to_numpy()) // 2
        windows = genome.fetch_batch(
            sites["chrom"].to_numpy(), centre - WINDOW // 2, length=WINDOW, strands=sites["strand"].to_numpy()
        )
        rng = np.random.default_rng(seed + 1)
        chrom_idx = rng.integers(0, len(genome), len(sites))
        starts = rng.integers(0, genome.lengths[chrom_idx] - WINDOW)
        background = genome.fetch_batch(chrom_idx, starts, length=WINDOW)
        found = np.mean([_contains(w, encode(DEMO_MOTIFS[m])) for w, m in zip(windows, sites["name"])])
        any_motif = [encode(m) for m in DEMO_MOTIFS.values()]
        background_found = np.mean([any(_contains(w, m) for m in any_motif) for w in background])
        progress.update(step, total=1, completed=1)

        batch = np.concatenate([windows, background])
        step = progress.add_task("train BPE on the genome", total=None)
        bpe = train_bpe(genome_chunks(genome, chunk=2_000), vocab_size=1024)
        progress.update(step, total=1, completed=1)

        rows = []
        step = progress.add_task("tokenize four ways", total=4)
        for name, tokenizer in [
            ("one-hot", get_tokenizer("onehot")),
            ("5-mer", get_tokenizer("kmer", k=5)),
            ("4-patch", get_tokenizer("patch", k=4)),
            ("BPE", bpe),
        ]:
            tokens = tokenizer.encode(batch)  # first call warms up torch kernels
            t0 = time.perf_counter()
            tokens = tokenizer.encode(batch)
            seconds = time.perf_counter() - t0
            decoded = tokenizer.decode(tokens.ids, tokens.attention_mask)
            exact = all(np.array_equal(d[:WINDOW], row) for d, row in zip(decoded, batch))
            real = tokens.attention_mask.sum(axis=1) - 1  # minus CLS
            rows.append(
                {
                    "tokenizer": name,
                    "vocab": tokenizer.vocab_size,
                    "tokens_per_window": float(real.mean()),
                    "unk_fraction": float((tokens.ids == 3).sum() / tokens.attention_mask.sum()),
                    "round_trip": exact,
                    "windows_per_s": len(batch) / max(seconds, 1e-9),
                }
            )
            progress.advance(step)

    result = DemoResult(
        genome_bp=int(genome.lengths.sum()),
        sites=len(sites),
        motif_found_fraction=float(found),
        background_motif_fraction=float(background_found),
        tokenizers=rows,
    )
    _show(console, result, genome, folder)
    return result


def _contains(window: np.ndarray, motif: np.ndarray) -> bool:
    view = np.lib.stride_tricks.sliding_window_view(window, motif.size)
    return bool((view == motif).all(axis=1).any())


def _show(console: Console, result: DemoResult, genome, folder: Path) -> None:
    console.print(
        f"genome: {len(genome)} chromosomes, {result.genome_bp:,} bp; {result.sites} planted motif sites; "
        f"files in {folder}"
    )
    console.print(
        f"windows of {WINDOW} bp centred on sites (strand-aware) hold their motif: "
        f"[bold]{result.motif_found_fraction:.0%}[/]; random background windows: {result.background_motif_fraction:.0%}"
    )
    table = Table(title="four tokenizations of the same windows")
    for col in ("tokenizer", "vocabulary", "tokens / window", "UNK", "decode == input", "windows/s"):
        table.add_column(col, justify="right" if col not in ("tokenizer",) else "left")
    for row in result.tokenizers:
        table.add_row(
            row["tokenizer"],
            f"{row['vocab']:,}",
            f"{row['tokens_per_window']:.1f}",
            f"{row['unk_fraction']:.2%}",
            "yes" if row["round_trip"] else "NO",
            f"{row['windows_per_s']:,.0f}",
        )
    console.print(table)
