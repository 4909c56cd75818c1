"""`dnabench genome` and `dnabench tokenizer`: genome caches (index, inspect, fetch) and BPE training."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dnabench.cli.common import console, run as _run

genome_app = typer.Typer(help="Genome caches: index FASTA/2bit, inspect, fetch.", no_args_is_help=True)
tokenizer_app = typer.Typer(help="Tokenizers: train BPE on a genome.", no_args_is_help=True)

__all__ = ["genome_app", "tokenizer_app", "parse_region"]


@genome_app.command("index")
def genome_index(
    source: Annotated[Path, typer.Argument(help="FASTA (plain, gzip or bgzip) or 2bit file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Cache folder to create.")],
    softmask: Annotated[bool, typer.Option(help="Also keep lowercase (soft-masked) positions as a bit mask.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing cache folder.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Turn a FASTA or 2bit genome into a memory-mapped cache of nucleotide codes."""
    from dnabench.io.genome import index_genome

    genome = _run(lambda: index_genome(source, out, softmask=softmask, overwrite=overwrite, progress=not quiet))
    console.print(f"{genome}: {len(genome)} sequences written to {out}")


@genome_app.command("info")
def genome_info(
    path: Annotated[Path, typer.Argument(help="Genome cache folder.")],
    verify: Annotated[bool, typer.Option(help="Read every byte: base codes, N counts and sha256 against genome.json.")] = False,
) -> None:
    """List the sequences of a genome cache with their lengths and N counts."""
    from dnabench.io.genome import open_genome

    genome = _run(lambda: open_genome(path))
    checked = _run(genome.verify) if verify else None
    table = Table(title=str(genome))
    for col in ("sequence", "length", "N"):
        table.add_column(col, justify="left" if col == "sequence" else "right")
    for c in genome.chromosomes:
        table.add_row(c.name, f"{c.length:,}", f"{c.n_count:,}")
    console.print(table)
    src = genome.meta["source"]
    console.print(f"source: {src['path']} ({src['format']}), sha256 {src['sha256']}")
    if checked is not None:
        hashed = ", ".join(checked["checksummed"]) or "nothing (this cache records no file checksums: re-index it to add them)"
        console.print(f"verified: {checked['bases']:,} bases, every byte a base code, N counts as recorded; sha256 matches for {hashed}")


REGION = re.compile(r"^(?P<chrom>[^:]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


def parse_region(region: str) -> tuple[str, int, int]:
    """'chr1:101-200' (1-based, inclusive, as samtools) -> ('chr1', 100, 200) (0-based, half-open)."""
    match = REGION.match(region.strip())
    if not match:
        raise ValueError(f"region {region!r} is not CHROM:START-END (1-based, inclusive)")
    start, end = int(match["start"].replace(",", "")), int(match["end"].replace(",", ""))
    if start < 1 or end < start:
        raise ValueError(f"region {region!r}: need 1 <= START <= END")
    return match["chrom"], start - 1, end


@genome_app.command("fetch")
def genome_fetch(
    path: Annotated[Path, typer.Argument(help="Genome cache folder.")],
    region: Annotated[str, typer.Argument(help="CHROM:START-END, 1-based inclusive (as samtools faidx).")],
    strand: Annotated[str, typer.Option(help="'+' or '-' (reverse complement).")] = "+",
) -> None:
    """Print the sequence of one region as FASTA."""
    from dnabench.io.genome import open_genome

    genome = _run(lambda: open_genome(path))
    chrom, start, end = _run(lambda: parse_region(region))
    seq = _run(lambda: genome.sequence_str(chrom, start, end, strand))
    typer.echo(f">{region}({strand})")
    for i in range(0, len(seq), 60):
        typer.echo(seq[i : i + 60])


@tokenizer_app.command("train-bpe")
def tokenizer_train_bpe(
    genome_path: Annotated[Path, typer.Argument(metavar="GENOME", help="Genome cache folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tokenizer files.")],
    vocab_size: Annotated[int, typer.Option(help="Vocabulary size (the paper uses 16k).")] = 16_000,
    sample_mbp: Annotated[float, typer.Option(help="Megabases of genome to train on (random chunks).")] = 100.0,
    chunk: Annotated[int, typer.Option(help="Length of each training chunk in bp.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed for chunk positions.")] = 0,
) -> None:
    """Train a BPE tokenizer on random N-free chunks of a genome and save it."""
    from dnabench.io.genome import open_genome
    from dnabench.io.sampling import genome_chunks
    from dnabench.tokenize.bpe import train_bpe

    genome = _run(lambda: open_genome(genome_path))
    chunks = genome_chunks(genome, total_bases=int(sample_mbp * 1e6), chunk=chunk, seed=seed)
    tokenizer = train_bpe(chunks, vocab_size=vocab_size, show_progress=True)
    tokenizer.save(out)
    console.print(f"BPE tokenizer with {tokenizer.vocab_size:,} tokens saved to {out}")
