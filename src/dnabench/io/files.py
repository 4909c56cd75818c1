"""Opening raw input files: plain or gzip/bgzip, chosen by content, with errors that name the file."""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import json
import os
import shutil
import socket
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
#: the byte order mark some editors put at the start of a UTF-8 text file
UTF8_BOM = b"\xef\xbb\xbf"


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


def read_text_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a small text file (a list, a metadata table), gzip or not, without a byte
    order mark; a file that is not UTF-8 text is an InputError naming it."""
    with open_binary(path) as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise InputError(path, f"not a UTF-8 text file (byte {err.start}: {data[err.start:err.start + 1]!r}); is it the right file?") from None


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


#: a file inside a build's temporary folder saying which process is building it
BUILD_MARKER = ".dnabench-build"


def check_apart(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse an output folder that is, or contains, one of the inputs: replacing it would delete them."""
    out = Path(output).resolve()
    for item in inputs:
        if item is None:
            continue
        path = Path(item).resolve()
        if path == out:
            raise ValueError(f"{output}: the output is the input {item}; choose an output elsewhere")
        if out in path.parents:
            raise ValueError(f"{output}: the output folder contains the input {item}; choose an output outside it")


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # not ours to judge: keep
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def remove_stale_builds(final: str | os.PathLike) -> list[Path]:
    """Remove the temporary folders that killed builds of `final` left beside it.

    Only folders named `.NAME.tmp-*` holding dnabench's build marker, written on this host by a
    process that no longer runs, are removed; anything else of that name is left alone.
    """
    final = Path(final)
    removed: list[Path] = []
    if not final.parent.is_dir():
        return removed
    host = socket.gethostname()
    for tmp in final.parent.glob(f".{glob.escape(final.name)}.tmp-*"):
        marker = tmp / BUILD_MARKER
        if tmp.is_symlink() or not tmp.is_dir() or not marker.is_file():
            continue
        try:
            info = json.loads(marker.read_text())
        except (ValueError, OSError):
            continue
        if not isinstance(info, dict) or info.get("host") != host or info.get("target") != final.name or _alive(info.get("pid")):
            continue
        _remove_tree(tmp)
        removed.append(tmp)
    return removed


def _check_replaceable(final: Path, owned: Callable[[Path], set[str]] | None) -> None:
    """Raise FileExistsError unless `final` is a folder that dnabench made and holds nothing else."""
    if final.is_symlink() or not final.is_dir():
        raise FileExistsError(f"{final}: exists and is not a folder; --overwrite replaces only a folder dnabench made, so nothing was changed")
    if owned is None:
        raise FileExistsError(f"{final}: exists; nothing was changed (remove it yourself to build it again)")
    names = owned(final)
    extra = sorted(p.name for p in final.iterdir() if p.name not in names)
    if extra:
        shown = ", ".join(extra[:5]) + (f", ... ({len(extra)} in all)" if len(extra) > 5 else "")
        raise FileExistsError(
            f"{final}: holds files dnabench did not write ({shown}); --overwrite would delete them, so nothing "
            "was changed: move them out or choose another output"
        )


def check_target(
    final: str | os.PathLike,
    overwrite: bool = False,
    *,
    owned: Callable[[Path], set[str]] | None = None,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> None:
    """What `atomic_dir` checks before it starts, for a build that wants to fail before its long part."""
    final = Path(final)
    check_apart(final, inputs)
    if final.exists() or final.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{final}: already exists; give --overwrite (overwrite=True) to replace it")
        _check_replaceable(final, owned)


def write_json(path: str | os.PathLike, data: object, **dumps: object) -> Path:
    """`data` as JSON at `path` (indent 1 unless `dumps` says otherwise), written beside it and
    renamed into place, so that a reader, or a second process, never meets half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, **{"indent": 1, **dumps}) + "\n")  # type: ignore[arg-type]
    os.replace(tmp, path)
    return path


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive lock on `path` held by this process until the block ends (or the process dies:
    the system releases it, so a killed process never leaves a lock behind). Where the platform has
    no `fcntl` (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_dir(
    final: str | os.PathLike,
    overwrite: bool = False,
    *,
    owned: Callable[[Path], set[str]] | None = None,
    inputs: Iterable[str | os.PathLike | None] = (),
) -> Iterator[Path]:
    """Build a folder under a temporary name beside `final` and rename it into place only on success.

    A build that is killed or fails leaves at most a hidden `.NAME.tmp-*` folder, never a folder
    at `final` that looks complete; the next build of `final` removes the ones whose process is
    gone. `overwrite` replaces an existing `final` only when `owned(final)` (the names dnabench
    wrote there; it raises FileExistsError for a folder of another kind) covers everything in
    it, so nothing a user made is deleted. An output that is, or contains, one of `inputs` is refused.
    """
    final = Path(final)
    check_target(final, overwrite, owned=owned, inputs=inputs)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    marker = tmp / BUILD_MARKER
    try:
        marker.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "target": final.name}))
        yield tmp
        marker.unlink(missing_ok=True)
        if final.exists() or final.is_symlink():
            if not overwrite:
                raise FileExistsError(f"{final}: appeared while it was being built; nothing was replaced")
            _check_replaceable(final, owned)  # again: the folder may have changed during a long build
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
    shutil.rmtree(path, ignore_errors=True)
