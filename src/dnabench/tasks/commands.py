"""The `dnabench download`, `dnabench prepare TASK` and `dnabench store info` commands.

They live here, next to the functions they call, so that the CLI stays a thin layer: `cli.py`
wires them with

    from dnabench.tasks.commands import register
    register(app, console, run)

Each command is a few lines over a public function (`download`, `build_promvary`,
`build_promfix`, `build_methyl96`, `build_deepsea`, `build_track7878`, `write_track_metadata`,
`open_store`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["register"]


def register(app: typer.Typer, console: Console, run: Callable[[Callable[[], Any]], Any]) -> None:
    """Add `download`, `prepare {promvary,promfix,methyl96,deepsea,track7878}` and `store info` to a typer app.

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
            console.print(f"[red]error:[/] {escape(str(err.args[0]))}", soft_wrap=True)
            raise typer.Exit(2) from None
        except (ChecksumError, DownloadError) as err:
            console.print(f"[red]error:[/] {escape(str(err))}", soft_wrap=True)
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

    @prepare_app.command("deepsea")
    def prepare_deepsea(
        mat: Annotated[Path, typer.Option("--mat", "-m", help="Folder with DeepSEA's train.mat, valid.mat, test.mat (or its deepsea_train/).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Store folder to create.")],
        chunk_rows: Annotated[int, typer.Option(help="Rows read at a time (memory: about 20 kB a row).")] = 8192,
        leakage: Annotated[bool, typer.Option(help="Count identical sequences across splits (hashes every row).")] = True,
        overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
        quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    ) -> None:
        """DeepSEA: import its 919-label .mat files (1000 bp sequences, given train/valid/test split)."""
        from dnabench.tasks.deepsea import build_deepsea

        try:
            store = _run(lambda: build_deepsea(mat, out, overwrite=overwrite, chunk_rows=chunk_rows, leakage=leakage, progress=not quiet))
        except ImportError as err:  # h5py missing for train.mat (v7.3)
            console.print(f"[red]error:[/] {escape(str(err))}", soft_wrap=True)
            raise typer.Exit(2) from None
        _print_store(store)

    @prepare_app.command("track7878")
    def prepare_track7878(
        peaks: Annotated[Path, typer.Option("--peaks", "-p", help="Metadata TSV: accession, file, group (DNase/TF/histone), cell_type[, target].")],
        genome: Annotated[Path, typer.Option("--genome", "-g", help="Genome cache folder.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Store folder to create.")],
        bin_size: Annotated[int, typer.Option(help="Bin size in bp.")] = 200,
        flank: Annotated[int, typer.Option(help="Bases added on each side of the bin (input = bin + 2 x flank).")] = 400,
        min_overlap: Annotated[float, typer.Option(help="Fraction of the bin the peaks must cover for a 1.")] = 0.5,
        split: Annotated[str, typer.Option(help="Random train,val,test fractions by bin.")] = "0.96,0.01,0.03",
        holdout_val: Annotated[Optional[str], typer.Option(help="Chromosomes for validation (comma list): split by chromosome.")] = None,
        holdout_test: Annotated[Optional[str], typer.Option(help="Chromosomes for test (comma list): split by chromosome.")] = None,
        seed: Annotated[int, typer.Option(help="Random seed of the split.")] = 0,
        both_strands: Annotated[bool, typer.Option(help="Store every bin on both strands (the paper's sample count).")] = False,
        leakage: Annotated[bool, typer.Option(help="Also count identical sequences across splits (reads every window).")] = True,
        overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
        quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    ) -> None:
        """Track7878: 200 bp genome bins x peak files (DeepSEA's labelling), 1000 bp inputs, CSR labels."""
        from dnabench.io.genome import open_genome
        from dnabench.progress import stage_progress
        from dnabench.tasks.track7878 import build_track7878

        try:
            values = [float(v) for v in split.split(",")]
        except ValueError:
            values = []
        if len(values) != 3:
            console.print(f"[red]error:[/] --split needs three comma-separated fractions (train,val,test), got {escape(repr(split))}", soft_wrap=True)
            raise typer.Exit(2)
        fractions = dict(zip(("train", "val", "test"), values))
        holdout = None
        if holdout_val or holdout_test:
            holdout = {k: [c for c in (v or "").split(",") if c] for k, v in (("val", holdout_val), ("test", holdout_test))}
        g = _run(lambda: open_genome(genome))
        with stage_progress(not quiet) as progress:
            store = _run(lambda: build_track7878(peaks, g, out, bin_size=bin_size, flank=flank, min_overlap=min_overlap,
                                                 fractions=fractions, holdout=holdout, seed=seed, leakage_sequences=leakage,
                                                 strands="both" if both_strands else "plus",
                                                 overwrite=overwrite, progress=progress))
        _print_store(store)

    @prepare_app.command("track7878-tracks")
    def prepare_track7878_tracks(
        profiles: Annotated[list[Path], typer.Argument(help="DeepFun's Profiles_list_A.txt and Profiles_list_B.txt.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Metadata table to write (accessions.txt goes beside it).")],
        ext: Annotated[str, typer.Option(help="Extension of the peak files to download.")] = "bed.gz",
    ) -> None:
        """Track7878's track list from DeepFun's profile lists: metadata table + ENCODE accessions to download."""
        from dnabench.tasks.deepfun import write_track_metadata

        table, accessions, counts = _run(lambda: write_track_metadata(profiles, out, ext=ext))
        repeated = counts["repeated_accessions"]
        console.print(
            f"{counts['profiles']:,} tracks ({counts['dnase']:,} DNase, {counts['tf']:,} TF, {counts['histone']:,} histone) -> {table}"
            + (f"; {len(repeated)} accession(s) listed twice, kept once: {', '.join(repeated)}" if repeated else ""),
            soft_wrap=True,
        )
        console.print(f"next: dnabench download --accessions {accessions} --dest {table.parent} --ext {ext}", soft_wrap=True)

    @store_app.command("info")
    def store_info(
        path: Annotated[Path, typer.Argument(help="Store folder.")],
        verify: Annotated[bool, typer.Option(help="Re-hash every file against the card.")] = False,
    ) -> None:
        """Summary of a dataset store (task, rows per split, labels, leakage)."""
        from dnabench.data.store import open_store

        _print_store(_run(lambda: open_store(path, verify=verify)))
