"""Writing the synthetic raw files: gzip without a timestamp, so one seed gives the same bytes.

gzip stores the time of writing and the file name in its header; a store records the sha256 of
every input, so a world written twice must not differ in those bytes. Files are written to a
temporary name and renamed at the end, so a crash never leaves half a file under the real name.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pandas as pd

__all__ = ["open_output", "write_text", "format_table"]


@contextmanager
def open_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write at `path` (gzip with mtime 0 when the name ends in .gz), renamed into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as raw:
            if path.suffix == ".gz":
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as f:
                    yield f  # type: ignore[misc]
            else:
                yield raw
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path`, gzip-compressed when the name ends in .gz; returns the path."""
    with open_output(path) as f:
        f.write(text.encode())
    return Path(path)


def format_table(frame: pd.DataFrame, sep: str = "\t") -> str:
    """The rows of `frame` as text lines, fields joined by `sep` exactly as `str` writes them (no quoting)."""
    if not len(frame):
        return ""
    columns = [frame[c].astype(str) for c in frame.columns]
    joined = columns[0].str.cat(columns[1:], sep=sep) if len(columns) > 1 else columns[0]
    return "\n".join(joined.tolist()) + "\n"
