"""The quick tour: every step of dnabench on a synthetic genome, in seconds, on a laptop.

It makes a small genome with planted motifs, indexes it into a genome cache, reads the motif
sites back from BED, cuts windows around them (both strands) and around random background
positions, labels 200 bp genome bins from peak files as the Track7878 builder does, tokenizes
the windows four ways and checks every step against ground truth.
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
    store_rows: int = 0
    store_positives: int = 0
    #: the smallest, over labels, fraction of positive windows that hold that label's motif
    labelled_windows_with_motif: float = 0.0


def run_demo(out: Path | None = None, seed: int = 0, console: Console | None = None) -> DemoResult:
    """Run the demo; files go to `out` (kept) or a temporary folder (removed)."""
    console = console or Console()
    if out is None:
        with tempfile.TemporaryDirectory(prefix="dnabench-demo-") as tmp:
            return _run(Path(tmp), seed, console, temporary=True)
    out.mkdir(parents=True, exist_ok=True)
    return _run(out, seed, console)


def _run(folder: Path, seed: int, console: Console, temporary: bool = False) -> DemoResult:
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

        step = progress.add_task("label 200 bp bins from peak files (Track7878 builder)", total=None)
        store, with_motif = _label_bins(folder, synthetic, genome, seed)
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
        store_rows=store.n_rows,
        store_positives=store.labels.nnz,
        labelled_windows_with_motif=with_motif,
    )
    _show(console, result, genome, folder, temporary)
    return result


def _label_bins(folder: Path, synthetic, genome, seed: int):
    """One peak file a motif (300 bp around each site) -> a Track7878 store of 500 bp windows.

    Returns the store and the smallest fraction, over labels, of positive windows that hold
    their motif on either strand (1.0 when labels and sequence line up).
    """
    from dnabench.alphabet import reverse_complement
    from dnabench.synthetic import DEMO_MOTIFS
    from dnabench.tasks.track7878 import build_track7878

    lines = ["accession\tfile\tgroup\tcell_type\ttarget"]
    for name, sites in synthetic.sites.groupby("name"):
        centre = (sites["start"].to_numpy() + sites["end"].to_numpy()) // 2
        peaks = sites[["chrom"]].assign(start=centre - 150, end=centre + 150)
        peaks.to_csv(folder / f"peaks_{name}.bed", sep="\t", header=False, index=False)
        lines.append(f"{name}\tpeaks_{name}.bed\tTF\tsynthetic\t{name}")
    (folder / "tracks.tsv").write_text("\n".join(lines) + "\n")
    store = build_track7878(folder / "tracks.tsv", genome, folder / "track_store", flank=150, seed=seed, overwrite=True,
                            fractions={"train": 0.8, "val": 0.1, "test": 0.1})
    rows = np.arange(store.n_rows)
    codes, labels = store.sequences(rows, genome), store.labels.dense(rows)
    fractions = []
    for j, name in enumerate(store.label_names):
        motif = encode(DEMO_MOTIFS[name])
        hits = [_contains(w, motif) or _contains(w, reverse_complement(motif)) for w in codes[labels[:, j] == 1]]
        fractions.append(float(np.mean(hits)) if hits else 0.0)
    return store, min(fractions)


def _contains(window: np.ndarray, motif: np.ndarray) -> bool:
    view = np.lib.stride_tricks.sliding_window_view(window, motif.size)
    return bool((view == motif).all(axis=1).any())


def _show(console: Console, result: DemoResult, genome, folder: Path, temporary: bool = False) -> None:
    where = "files in a temporary folder, removed on exit (keep them with --out DIR)" if temporary else f"files in {folder}"
    console.print(f"genome: {len(genome)} chromosomes, {result.genome_bp:,} bp; {result.sites} planted motif sites; {where}")
    console.print(
        f"windows of {WINDOW} bp centred on sites (strand-aware) hold their motif: "
        f"[bold]{result.motif_found_fraction:.0%}[/]; random background windows: {result.background_motif_fraction:.0%}"
    )
    console.print(
        f"Track7878-style store from one peak file a motif: {result.store_rows:,} bins of 200 bp (500 bp windows) x 3 labels, "
        f"{result.store_positives:,} positives in CSR; positive windows holding their motif: "
        f"[bold]{result.labelled_windows_with_motif:.0%}[/]"
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
