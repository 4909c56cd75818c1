"""Fetch the raw public files of the benchmark: resumable, checksummed, atomic.

    from dnabench.io.download import download, list_sources
    path = download("hg38.2bit", "raw/")                       # a manifest entry
    path = download("encode:ENCFF123ABC", "raw/methyl96")       # an ENCODE file by accession

Behaviour:
- The file is written to `NAME.part` and renamed to `NAME` only after its checksum is
  verified, so `NAME` is never a partial or unverified file.
- Resumable: an existing `NAME.part` (an interrupted run, or a dropped connection within this
  run, retried `retries` times) is continued with an HTTP `Range: bytes=N-` request, guarded by
  `If-Range` (the ETag / Last-Modified seen when the download began, kept in `NAME.part.json`):
  if the file changed on the server, or the server ignores ranges, it starts again from zero.
- Checksums: sha256 from the manifest (or `sha256=`). On a mismatch `ChecksumError` names the
  expected and the computed hash, and both the final path and the `.part` are left empty. Where
  no hash is known the first download is trusted: its sha256 is printed and written to
  `NAME.sha256`, and later downloads to that folder are checked against it.
- A file already at `NAME` is checked again before it is returned: re-hashed whenever a sha256
  is given or pinned, else compared with the size and mtime recorded in `NAME.sha256` (and
  re-hashed when they differ). A damaged file that dnabench downloaded (it has a `NAME.sha256`)
  is reported and fetched again; it is replaced only once the new copy is verified.
- A response without Content-Length that ends is not taken as complete until a Range request
  for the bytes after it confirms there are none (a close-delimited body that was cut looks
  like a whole one).
- Progress: a rich progress bar (`progress=False` for none).
- HTTP errors name the URL and the status (404: the file moved; pass `url_override`).
  Mirrors listed in the manifest are tried when the main URL fails.

Why not `pooch.retrieve`: pooch's `HTTPDownloader` streams into a temporary file and starts
from zero on every failure; it cannot resume with HTTP Range, and a 3 GB genome or bundle over
a flaky link then never completes. So the transfer is one function here (`_transfer`) on
`requests`, reading raw bytes (no transparent gzip decoding,
which would break both the checksum and Range offsets). Hashing is `dnabench.io.files.sha256_file`,
the one sha256 of the package.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import requests
import urllib3

from dnabench.io.manifest import SOURCES, Source, encode_url
from dnabench.io.files import sha256_file

__all__ = [
    "DownloadError",
    "ChecksumError",
    "list_sources",
    "get_source",
    "download",
    "download_url",
    "download_encode",
    "read_accessions",
]

_ENCODE_ACC = re.compile(r"^ENC[A-Z]{2}\d{3}[A-Z]{3}$")


class DownloadError(RuntimeError):
    """A download that failed; the message names the URL and what went wrong."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected sha256."""

    def __init__(self, message: str, expected: str, got: str) -> None:
        super().__init__(message)
        self.expected = expected
        self.got = got


class _Retryable(Exception):
    """A transient failure: the .part is kept and the transfer resumed."""


class _Unconfirmed(Exception):
    """The transfer ended, but nothing tells whether it is the whole file."""


def _read_sidecar(sidecar: Path) -> tuple[str | None, dict]:
    """(sha256, {"bytes", "mtime_ns"} recorded when the file was verified) of a NAME.sha256 file.

    The first line is `sha256sum` output; the record is a `#` line, which `sha256sum -c` skips.
    """
    if not sidecar.is_file():
        return None, {}
    digest, record = None, {}
    for line in sidecar.read_text().splitlines():
        if line.startswith("# dnabench:"):
            for item in line.split()[2:]:
                key, _, value = item.partition("=")
                if value.isdigit():
                    record[key] = int(value)
        elif line.strip() and digest is None:
            digest = line.split()[0].lower()
    return digest, record


def _write_sidecar(sidecar: Path, final: Path, digest: str) -> None:
    st = final.stat()
    sidecar.write_text(f"{digest}  {final.name}\n# dnabench: bytes={st.st_size} mtime_ns={st.st_mtime_ns}\n")


def list_sources() -> list[Source]:
    """Every manifest entry, in manifest order (for `dnabench download --list`)."""
    return list(SOURCES.values())


def get_source(name: str) -> Source:
    """A manifest entry by name, or an ENCODE file as `encode:ENCFF123ABC[.ext]` (ext default bed.gz)."""
    if name.lower().startswith("encode:"):
        spec = name.split(":", 1)[1]
        acc, _, ext = spec.partition(".")
        if not _ENCODE_ACC.match(acc):
            raise KeyError(f"{acc!r} is not an ENCODE file accession (like ENCFF123ABC)")
        ext = ext or "bed.gz"
        return Source(
            name=f"encode:{acc}",
            url=encode_url(acc, ext),
            description=f"ENCODE file {acc}",
            tasks=(),
            filename=f"{acc}.{ext}",
            checksum_note="ENCODE publishes md5 in the file's metadata, not sha256",
        )
    if name not in SOURCES:
        close = [s for s in SOURCES if name.lower() in s.lower()]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown source {name!r}{hint} (list them with `dnabench download --list`; ENCODE files as encode:ENCFF...)")
    return SOURCES[name]


def read_accessions(path: str | os.PathLike) -> list[str]:
    """ENCODE accessions from a text file: one a line (first word), '#' comments and blank lines ignored."""
    out = []
    for i, line in enumerate(Path(path).read_text().splitlines(), start=1):
        word = line.split("#", 1)[0].strip().split()
        if not word:
            continue
        acc = word[0]
        if not _ENCODE_ACC.match(acc):
            from dnabench.io.files import InputError

            raise InputError(path, f"{acc!r} is not an ENCODE file accession (like ENCFF123ABC)", i)
        out.append(acc)
    return out


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _user_agent() -> str:
    from dnabench import __version__

    return f"dnabench/{__version__} (+https://github.com)"


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """'bytes 100-199/200' -> (100, 200); 'bytes */200' -> (None, 200)."""
    if not value:
        return None, None
    m = re.match(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value.strip())
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _transfer(url: str, part: Path, meta_path: Path, progress: bool, timeout: float, chunk_size: int) -> None:
    """Fetch url into `part`, continuing it with a Range request when it already holds bytes."""
    meta = {}
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError:
            meta = {}
    if part.exists() and meta.get("url") not in (None, url):  # bytes of another URL: start again
        part.unlink()
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = meta.get("etag") or meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    try:
        resp = requests.get(url, headers=headers, stream=True, timeout=(timeout, timeout), allow_redirects=True)
    except (requests.ConnectionError, requests.Timeout) as err:
        raise _Retryable(f"cannot connect: {err}") from err
    with resp:
        code = resp.status_code
        if code == 416 and offset:
            _, total = _content_range(resp.headers.get("Content-Range"))
            if total == offset:
                return  # the .part already holds the whole file
            part.unlink()
            raise _Retryable("server refused to resume (416); starting again")
        if code == 404:
            raise DownloadError(
                f"{url}: HTTP 404 Not Found: the file is not (or no longer) at this address; "
                "find its new location on the source's site and pass it as url_override (--url)"
            )
        if 400 <= code < 500:
            raise DownloadError(f"{url}: HTTP {code} {resp.reason}")
        if code >= 500:
            raise _Retryable(f"HTTP {code} {resp.reason}")
        if code == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Retryable(f"server resumed at byte {start}, not {offset}; starting again")
            mode = "ab"
        else:  # 200: whole file (server ignores ranges, or the file changed since the .part began)
            offset, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            meta_path.write_text(
                json.dumps({"url": url, "etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified"), "total": total})
            )
        from dnabench.progress import byte_progress

        done = offset
        chunks = resp.raw.stream(chunk_size, decode_content=False)
        with open(part, mode) as f, byte_progress(part.name.removesuffix(".part"), total, progress) as advance:
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as err:
                    raise _Retryable(f"connection lost after {done} bytes: {err}") from err
                f.write(chunk)  # a full disk is a real error, not retried
                done += len(chunk)
                advance(done)
        if total is not None and done < total:
            raise _Retryable(f"connection closed after {done} of {total} bytes")
        chunked = "chunked" in resp.headers.get("Transfer-Encoding", "").lower()  # urllib3 checks its terminator
    if total is None and not chunked:
        _confirm_end(url, part, meta, headers, done, timeout)


def _confirm_end(url: str, part: Path, meta: dict, headers: dict, done: int, timeout: float) -> None:
    """Ask for the bytes after `done`: the server says there are none (416), or there are more and
    the transfer resumes (_Retryable), or it cannot say (DownloadError unless a sha256 decides)."""
    probe = {k: v for k, v in headers.items() if k not in ("Range", "If-Range")}
    probe["Range"] = f"bytes={done}-"
    validator = meta.get("etag") or meta.get("last_modified")
    if validator:
        probe["If-Range"] = validator
    try:
        resp = requests.get(url, headers=probe, stream=True, timeout=(timeout, timeout), allow_redirects=True)
    except (requests.ConnectionError, requests.Timeout) as err:
        raise _Retryable(f"cannot connect to confirm the length: {err}") from err
    with resp:
        if resp.status_code == 416:
            _, total = _content_range(resp.headers.get("Content-Range"))
            if total is None or total == done:
                return
            part.unlink(missing_ok=True)
            raise _Retryable(f"the server's file has {total} bytes, not the {done} received; starting again")
        if resp.status_code == 206:
            raise _Retryable(f"connection closed after {done} bytes, and the server has more")
    raise _Unconfirmed(
        f"the server sent no Content-Length and does not answer range requests, so the {done} bytes received "
        "cannot be confirmed complete"
    )


def download_url(
    url: str | Iterable[str],
    dest: str | os.PathLike,
    sha256: str | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
    chunk_size: int = 1 << 20,
    backoff: float = 1.0,
) -> Path:
    """Fetch url (or the first of several that works) to the file `dest`, verified and atomic."""
    urls = [url] if isinstance(url, str) else list(url)
    urls = [u for u in urls if u.startswith(("http://", "https://"))]
    if not urls:
        raise DownloadError("no http(s) URL to fetch")
    final = Path(dest)
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    meta = final.with_name(final.name + ".part.json")
    sidecar = final.with_name(final.name + ".sha256")
    expected = sha256.lower() if sha256 else None
    recorded, stat = _read_sidecar(sidecar)
    trusted = False
    if expected is None and recorded is not None:
        expected, trusted = recorded, True

    if final.exists():
        st = final.stat()
        unchanged = trusted and stat.get("bytes") == st.st_size and stat.get("mtime_ns") == st.st_mtime_ns
        if unchanged:
            return final  # as it was when verified: size and mtime recorded beside it
        got = sha256_file(final)
        if expected is None or got == expected:
            _write_sidecar(sidecar, final, got)
            if expected is None:
                _say(f"{final.name}: already here, sha256 {got} (no known checksum: written to {sidecar.name})")
            return final
        if recorded is None:  # not a file dnabench downloaded: not ours to replace
            raise ChecksumError(
                f"{final} exists but its sha256 is {got}, expected {expected}; delete it to download again",
                expected,
                got,
            )
        _say(
            f"{final}: damaged ({st.st_size} bytes, sha256 {got}; expected {expected}): fetching it again "
            "(it is replaced only once the new copy is verified)"
        )

    errors: list[str] = []
    for u in urls:
        fetched, attempt = False, 0
        while not fetched:
            try:
                _transfer(u, part, meta, progress, timeout, chunk_size)
                fetched = True
            except _Retryable as err:
                attempt += 1
                if attempt > retries:
                    size = part.stat().st_size if part.exists() else 0
                    kept = f"; {size} bytes kept in {part}, run again to resume" if size else ""
                    errors.append(f"{u}: {err} (gave up after {retries} retries{kept})")
                    break
                time.sleep(backoff * min(2 ** (attempt - 1), 30))
            except _Unconfirmed as err:
                if expected is None:
                    errors.append(f"{u}: {err}; pass its sha256 (--sha256) to check it and keep it")
                    break
                fetched = True  # the checksum below decides
            except DownloadError as err:
                errors.append(str(err))
                break
        if not fetched:
            continue  # try the next URL (a mirror)
        got = sha256_file(part)
        if expected is not None and got != expected:
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            where = f"the sha256 first seen and kept in {sidecar}" if trusted else "the manifest's or the one given"
            left = f"the damaged copy at {final} was left as it was" if final.exists() else f"nothing is at {final}"
            raise ChecksumError(
                f"{u}: checksum mismatch for {final.name}: expected sha256 {expected} ({where}), got {got}. "
                f"The download was deleted; {left}. If the source changed on purpose, check it "
                "and update the checksum.",
                expected,
                got,
            )
        os.replace(part, final)
        meta.unlink(missing_ok=True)
        _write_sidecar(sidecar, final, got)
        if expected is None:
            _say(
                f"{final.name}: sha256 {got} (no published checksum: trusted on first use, written to {sidecar.name}; "
                "pin it in dnabench.io.manifest to check future downloads)"
            )
        return final
    if len(errors) == 1:
        raise DownloadError(errors[0])
    raise DownloadError("download failed from every URL:\n  " + "\n  ".join(errors))


def download(
    source_name: str,
    dest_dir: str | os.PathLike,
    progress: bool = True,
    url_override: str | None = None,
    *,
    sha256: str | None = None,
    filename: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
) -> Path:
    """Download one source of the manifest (or `encode:ENCFF...`) into `dest_dir`; return its path.

    `url_override` replaces the manifest URL (and its mirrors); the manifest checksum still
    applies unless `sha256` is given.
    """
    source = get_source(source_name)
    urls = [url_override] if url_override else [source.url, *source.mirrors]
    return download_url(
        urls,
        Path(dest_dir) / (filename or source.file_name),
        sha256=sha256 or source.sha256,
        progress=progress,
        retries=retries,
        timeout=timeout,
        backoff=backoff,
    )


def download_encode(
    accessions: Iterable[str], dest_dir: str | os.PathLike, ext: str = "bed.gz", progress: bool = True, **kwargs
) -> list[Path]:
    """Download ENCODE files by accession (e.g. the Methyl96 bedMethyl files) into dest_dir."""
    return [download(f"encode:{acc}.{ext}", dest_dir, progress=progress, **kwargs) for acc in accessions]

