"""The `dnabench download`, `dnabench prepare TASK` and `dnabench store info` commands.

They live here, next to the functions they call, so that the CLI stays a thin layer: `cli.py`
wires them with

    from dnabench.tasks.commands import register
    register(app, console, run)

Each command is a few lines over a public function (`download`, `build_promvary`,
`build_promfix`, `build_methyl96`, `open_store`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["register"]


def register(app: typer.Typer, console: Console, run: Callable[[Callable[[], Any]], Any]) -> None:
    """Add `download`, `prepare {promvary,promfix,methyl96}` and `store info` to a typer app.

    `run(fn)` calls fn and turns expected user errors into a one-line message (the CLI's own).
    """
    _run = run

    def _print_store(store: Any) -> None:
        console.print(store.summary())

    prepare_app = typer.Typer(help="Build a task's dataset store from raw files.", no_args_is_help=True)
    store_app = typer.Typer(help="Dataset stores: inspect, verify.", no_args_is_help=True)
    app.add_typer(prepare_app, name="prepare")
    app.add_typer(store_app, name="store")

    @app.command()
    def download(
        source: Annotated[Optional[str], typer.Argument(help="Manifest name (see --list) or encode:ENCFF...")] = None,
        dest: Annotated[Path, typer.Option("--dest", "-d", help="Folder to download into.")] = Path("."),
        url: Annotated[Optional[str], typer.Option(help="Fetch from this URL instead of the manifest's.")] = None,
        sha256: Annotated[Optional[str], typer.Option(help="Expected sha256 (overrides the manifest).")] = None,
        accessions: Annotated[Optional[Path], typer.Option(help="Text file of ENCODE accessions, one a line.")] = None,
        ext: Annotated[str, typer.Option(help="File extension for --accessions.")] = "bed.gz",
        list_: Annotated[bool, typer.Option("--list", help="List the known sources and exit.")] = False,
        quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    ) -> None:
        """Download a raw source: resumable, sha256-checked, atomic."""
        from dnabench.io.download import ChecksumError, DownloadError, download as fetch, download_encode, list_sources, read_accessions

        if list_:
            table = Table(title="dnabench sources")
            for col in ("name", "tasks", "sha256", "url"):
                table.add_column(col)
            for s in list_sources():
                table.add_row(s.name, ", ".join(s.tasks), "pinned" if s.sha256 else "first use", s.url)
            console.print(table)
            return
        try:
            if accessions is not None:
                paths = _run(lambda: download_encode(read_accessions(accessions), dest, ext=ext, progress=not quiet))
                console.print(f"{len(paths)} ENCODE files in {dest}")
                return
            if source is None:
                raise typer.BadParameter("give a SOURCE, --accessions FILE or --list")
            path = fetch(source, dest, progress=not quiet, url_override=url, sha256=sha256)
        except KeyError as err:
            console.print(f"[red]error:[/] {err.args[0]}")
            raise typer.Exit(2) from None
        except (ChecksumError, DownloadError) as err:
            console.print(f"[red]error:[/] {err}")
            raise typer.Exit(1) from None
        console.print(f"{path}")

    @prepare_app.command("promvary")
    def prepare_promvary(
        promoters: Annotated[Path, typer.Argument(help="EPD promoters: BED (EPD's or 1-bp TSS), SGA, or a chrom,tss,strand table.")],
        genome: Annotated[Path, typer.Option("--genome", "-g", help="Genome cache folder.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Store folder to create.")],
        seed: Annotated[int, typer.Option(help="Random seed (offsets, negatives, split).")] = 0,
        skip_missing: Annotated[bool, typer.Option(help="Drop promoters on chromosomes the genome lacks (counted in the card).")] = False,
        off_chromosome: Annotated[str, typer.Option(help="Windows off a chromosome end: drop (counted) or error.")] = "drop",
        max_n_fraction: Annotated[float, typer.Option(help="Most N allowed in a negative window.")] = 0.05,
        negative_chroms: Annotated[Optional[str], typer.Option(help="Comma-separated chromosomes for negatives (default: the promoters').")] = None,
        build: Annotated[Optional[str], typer.Option(help="Genome build name for the card (hg38...).")] = None,
        overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
    ) -> None:
        """PromVary: 500 bp windows, TSS at a random offset, 1:1 random negatives, 80/10/10."""
        from dnabench.io.genome import open_genome
        from dnabench.tasks.promvary import build_promvary

        g = _run(lambda: open_genome(genome))
        chroms = negative_chroms.split(",") if negative_chroms else None
        store = _run(lambda: build_promvary(promoters, g, out, seed=seed, skip_missing=skip_missing, off_chromosome=off_chromosome,
                                            max_n_fraction=max_n_fraction, negative_chroms=chroms, genome_build=build, overwrite=overwrite))
        _print_store(store)

    @prepare_app.command("promfix")
    def prepare_promfix(
        promoters: Annotated[Path, typer.Argument(help="EPD promoters (as for promvary).")],
        genome: Annotated[Path, typer.Option("--genome", "-g", help="Genome cache folder.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Store folder to create.")],
        seed: Annotated[int, typer.Option(help="Random seed (negatives, split).")] = 0,
        tss_index: Annotated[int, typer.Option(help="Window column of the TSS (350: TSS-350..TSS+150).")] = 350,
        skip_missing: Annotated[bool, typer.Option(help="Drop promoters on chromosomes the genome lacks.")] = False,
        off_chromosome: Annotated[str, typer.Option(help="drop or error.")] = "drop",
        build: Annotated[Optional[str], typer.Option(help="Genome build name for the card.")] = None,
        overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
    ) -> None:
        """PromFix: as PromVary with the TSS at a fixed window position."""
        from dnabench.io.genome import open_genome
        from dnabench.tasks.promvary import build_promfix

        g = _run(lambda: open_genome(genome))
        store = _run(lambda: build_promfix(promoters, g, out, seed=seed, tss_index=tss_index, skip_missing=skip_missing,
                                           off_chromosome=off_chromosome, genome_build=build, overwrite=overwrite))
        _print_store(store)

    @prepare_app.command("methyl96")
    def prepare_methyl96(
        files: Annotated[list[Path], typer.Argument(help="bedMethyl files, one label each (named by file stem).")],
        genome: Annotated[Path, typer.Option("--genome", "-g", help="Genome cache folder.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Store folder to create.")],
        min_coverage: Annotated[int, typer.Option(help="Reads needed for a value; fewer gives NaN.")] = 10,
        destrand: Annotated[bool, typer.Option(help="Merge the two strands of each CpG.")] = True,
        strict: Annotated[bool, typer.Option(help="Fail on chromosomes the genome lacks (default: drop and count).")] = False,
        build: Annotated[Optional[str], typer.Option(help="Genome build name for the card.")] = None,
        overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
        quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    ) -> None:
        """Methyl96: CpG x file methylation fractions, 501 bp inputs, chromosome split."""
        from dnabench.io.genome import open_genome
        from dnabench.tasks.methyl96 import build_methyl96

        g = _run(lambda: open_genome(genome))
        store = _run(lambda: build_methyl96(files, g, out, min_coverage=min_coverage, destrand=destrand, skip_missing=not strict,
                                            genome_build=build, overwrite=overwrite, progress=not quiet))
        _print_store(store)

    @store_app.command("info")
    def store_info(
        path: Annotated[Path, typer.Argument(help="Store folder.")],
        verify: Annotated[bool, typer.Option(help="Re-hash every file against the card.")] = False,
    ) -> None:
        """Summary of a dataset store (task, rows per split, labels, leakage)."""
        from dnabench.data.store import open_store

        _print_store(_run(lambda: open_store(path, verify=verify)))
