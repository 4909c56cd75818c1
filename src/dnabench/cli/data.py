"""`dnabench download` (raw public files, checksummed) and `dnabench store info`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from dnabench.cli.common import console, fail, run as _run

__all__ = ["register_data"]

store_app = typer.Typer(help="Dataset stores: inspect, verify.", no_args_is_help=True)


def register_data(app: typer.Typer) -> None:
    """Add `download` and `store info` to the app."""
    app.command()(download)
    app.add_typer(store_app, name="store")
    store_app.command("info")(store_info)


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
        fail(str(err.args[0]))
    except (ChecksumError, DownloadError) as err:
        fail(str(err), code=1)
    console.print(f"{path}")


def store_info(
    path: Annotated[Path, typer.Argument(help="Store folder.")],
    verify: Annotated[bool, typer.Option(help="Re-hash every file against the card.")] = False,
) -> None:
    """Summary of a dataset store (task, rows per split, labels, leakage)."""
    if path.is_file():
        fail(
            f"{path}: a file, not a dataset store folder; `store info` reads a folder written by `dnabench prepare`. "
            f"A sequence table needs no store: `dnabench train --data {path}` reads it directly"
        )
    from dnabench.data.store import open_store

    console.print(_run(lambda: open_store(path, verify=verify)).summary())
