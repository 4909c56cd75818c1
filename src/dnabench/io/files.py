"""Opening raw input files: plain or gzip/bgzip, chosen by content, with errors that name the file."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"


def sha256_file(path: str | os.PathLike, block: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MB blocks (bounded memory for genome-sized files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


class InputError(ValueError):
    """Bad input: the message names the file, and the line or value where it is known."""

    def __init__(self, path: str | os.PathLike, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


def is_gzip(path: str | os.PathLike) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """Open a file for reading bytes, decompressing gzip or bgzip (multi-member gzip) when present."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, expected a file")
    if is_gzip(path):
        return gzip.open(path, "rb")  # bgzip is multi-member gzip, which gzip reads as one stream
    return open(path, "rb")


def read_chunks(path: str | os.PathLike, size: int = 1 << 24) -> Iterator[bytes]:
    """Yield the decompressed content of a file in blocks; corrupt or truncated gzip raises InputError."""
    for block, _ in read_chunks_with_position(path, size):
        yield block


def read_chunks_with_position(path: str | os.PathLike, size: int = 1 << 24) -> Iterator[tuple[bytes, int]]:
    """Like read_chunks, also giving how many bytes of the file on disk were consumed (for progress bars)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, expected a file")
    with open(path, "rb") as raw:
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if raw.read(2) == GZIP_MAGIC else raw
        raw.seek(0)
        with stream:
            while True:
                try:
                    block = stream.read(size)
                except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as err:
                    raise InputError(path, f"corrupt or truncated gzip data ({err})") from err
                if not block:
                    return
                yield block, raw.tell()


def read_all(path: str | os.PathLike) -> bytes:
    """The whole decompressed content of a file, read in one call (no join of blocks)."""
    with open_binary(path) as f:
        try:
            return f.read()
        except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as err:
            raise InputError(path, f"corrupt or truncated gzip data ({err})") from err


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name beside `final` and rename it into place only on success.

    A build that is killed or fails leaves at most a hidden `.tmp-*` folder, never a folder
    at `final` that looks complete.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{final}: already exists (pass overwrite to replace it)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            final.rename(old)
            tmp.rename(final)
            _remove_tree(old)
        else:
            tmp.rename(final)
    except BaseException:
        _remove_tree(tmp)
        raise


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
