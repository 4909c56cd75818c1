"""Downloads against a local HTTP server on 127.0.0.1: checksums, resume with Range, errors, manifest."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dnabench.io import download as dl
from dnabench.io.manifest import SOURCES


class RangeHandler(BaseHTTPRequestHandler):
    """Serves server.root; honours 'Range: bytes=N-' (206); can cut a response short once, and can
    leave out Content-Length (HTTP/1.0: the body ends where the connection closes)."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        server = self.server
        server.requests.append({"path": self.path, "range": self.headers.get("Range"), "if_range": self.headers.get("If-Range")})
        path = server.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        etag = '"' + hashlib.md5(data).hexdigest() + '"'
        rng = self.headers.get("Range")
        start = 0
        if rng and server.ranges:
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if not server.no_length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        if server.cut_after is not None:
            cut, server.cut_after = server.cut_after, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.root = root
    httpd.requests = []
    httpd.ranges = True
    httpd.cut_after = None
    httpd.no_length = False
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def payload(n: int = 300_000) -> bytes:
    return bytes((i * 7919) % 251 for i in range(n))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_good_download(server, tmp_path):
    data = payload()
    (server.root / "f.bin").write_bytes(data)
    dest = tmp_path / "dl"
    path = dl.download_url(f"{server.url}/f.bin", dest / "f.bin", sha256=sha(data), progress=False)
    assert path == dest / "f.bin" and path.read_bytes() == data
    assert sorted(p.name for p in dest.iterdir()) == ["f.bin", "f.bin.sha256"]
    # a second call finds the verified file and does not fetch again
    n = len(server.requests)
    assert dl.download_url(f"{server.url}/f.bin", dest / "f.bin", sha256=sha(data), progress=False) == path
    assert len(server.requests) == n


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    (server.root / "f.bin").write_bytes(payload())
    wrong = "0" * 64
    with pytest.raises(dl.ChecksumError) as err:
        dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=wrong, progress=False)
    msg = str(err.value)
    assert wrong in msg and sha(payload()) in msg and "expected" in msg and "got" in msg
    assert list(tmp_path.glob("f.bin*")) == []


def test_resume_partial_part(server, tmp_path):
    data = payload()
    (server.root / "f.bin").write_bytes(data)
    (tmp_path / "f.bin.part").write_bytes(data[:123_457])  # left by an interrupted run
    path = dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(data), progress=False)
    assert path.read_bytes() == data
    assert server.requests[-1]["range"] == "bytes=123457-"
    assert not (tmp_path / "f.bin.part").exists()


def test_dropped_connection_is_resumed_in_the_same_call(server, tmp_path):
    data = payload()
    (server.root / "f.bin").write_bytes(data)
    server.cut_after = 100_000
    path = dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(data), progress=False, backoff=0)
    assert path.read_bytes() == data
    assert server.requests[0]["range"] is None
    assert server.requests[1]["range"] == "bytes=100000-" and server.requests[1]["if_range"]  # ETag guard


def test_server_without_ranges_restarts(server, tmp_path):
    data = payload()
    (server.root / "f.bin").write_bytes(data)
    server.ranges = False
    (tmp_path / "f.bin.part").write_bytes(b"garbage that must not stay in front")
    assert dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(data), progress=False).read_bytes() == data


def test_complete_part_gets_416(server, tmp_path):
    data = payload(5000)
    (server.root / "f.bin").write_bytes(data)
    (tmp_path / "f.bin.part").write_bytes(data)
    assert dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(data), progress=False).read_bytes() == data


def test_404_message(server, tmp_path):
    with pytest.raises(dl.DownloadError, match=r"missing\.bin: HTTP 404 Not Found.*url_override"):
        dl.download_url(f"{server.url}/missing.bin", tmp_path / "dl" / "m.bin", progress=False)
    assert list((tmp_path / "dl").iterdir()) == []


def test_mirror_used_when_main_url_fails(server, tmp_path):
    data = payload(1000)
    (server.root / "f.bin").write_bytes(data)
    path = dl.download_url([f"{server.url}/gone.bin", f"{server.url}/f.bin"], tmp_path / "f.bin", sha256=sha(data), progress=False)
    assert path.read_bytes() == data


def test_trust_on_first_use(server, tmp_path, capsys):
    data = payload(2000)
    (server.root / "f.bin").write_bytes(data)
    path = dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert sha(data) in capsys.readouterr().err
    assert (tmp_path / "f.bin.sha256").read_text().split()[0] == sha(data)
    # the server's file changes: a fresh download into the same folder is checked against the first hash
    path.unlink()
    (server.root / "f.bin").write_bytes(data[::-1])
    with pytest.raises(dl.ChecksumError, match="first seen"):
        dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert not path.exists()


def test_download_manifest_source_with_url_override(server, tmp_path, shared_data):
    src = shared_data / "MPRAProm" / "kircher2019_satmut" / "promoters.tsv"
    (server.root / "promoters.tsv").write_bytes(src.read_bytes())
    path = dl.download("kircher2019_promoters", tmp_path, progress=False, url_override=f"{server.url}/promoters.tsv")
    assert path.name == "promoters.tsv" and path.read_bytes() == src.read_bytes()
    # the manifest checksum applies to an overridden URL too
    (server.root / "other.tsv").write_bytes(b"not the file\n")
    with pytest.raises(dl.ChecksumError):
        dl.download("kircher2019_enhancers", tmp_path, progress=False, url_override=f"{server.url}/other.tsv")


def test_encode_accessions(server, tmp_path):
    (server.root / "ENCFF000AAA.bed.gz").write_bytes(b"x")
    path = dl.download("encode:ENCFF000AAA", tmp_path, progress=False, url_override=f"{server.url}/ENCFF000AAA.bed.gz")
    assert path.name == "ENCFF000AAA.bed.gz"
    src = dl.get_source("encode:ENCFF123ABC")
    assert src.url == "https://www.encodeproject.org/files/ENCFF123ABC/@@download/ENCFF123ABC.bed.gz"
    with pytest.raises(KeyError, match="accession"):
        dl.get_source("encode:hello")
    acc = tmp_path / "acc.txt"
    acc.write_text("# Methyl96\nENCFF000AAA\n\nENCFF111BBB  # comment\n")
    assert dl.read_accessions(acc) == ["ENCFF000AAA", "ENCFF111BBB"]
    acc.write_text("ENCFF000AAA\nnope\n")
    with pytest.raises(ValueError, match="acc.txt:2"):
        dl.read_accessions(acc)


def test_manifest_entries(shared_data):
    names = [s.name for s in dl.list_sources()]
    assert len(names) == len(set(names))
    for needed in ["hg38.fa.gz", "hg38.2bit", "hg19.fa.gz", "hg19.2bit", "hs1.fa.gz", "hs1.2bit", "epd_hg38_bed",
                   "deepsea_train_bundle", "expecto_geneanno", "expecto_geneanno_exp", "gtex_v8_finemapping_dapg",
                   "kircher2019_elements"]:
        assert needed in SOURCES
    for s in dl.list_sources():
        assert s.url.startswith("https://"), s.name
        assert s.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", s.sha256), s.name
    # every pinned hash is the hash of the byte-identical copy kept in shared/data
    copies = {
        "kircher2019_elements": "MPRAProm/kircher2019_satmut/elements.tsv.gz",
        "kircher2019_promoters": "MPRAProm/kircher2019_satmut/promoters.tsv",
        "kircher2019_enhancers": "MPRAProm/kircher2019_satmut/enhancers.tsv",
        "expecto_geneanno": "GeneExp/expecto/geneanno.csv",
        "expecto_geneanno_pc_bed": "GeneExp/expecto/geneanno.pc.sorted.bed",
        "deepsea_beluga_2002_features": "Track7878/expecto_beluga_features/deepsea_beluga_2002_features.tsv",
        "genomic_benchmarks_nontata_train_positive": "PromVary/genomic_benchmarks_human_nontata_promoters/train/positive.csv.gz",
        "encode_wgbs_cpg_10e5": "Methyl96/encode_wgbs_pipeline/encode_cpg_10e5.bed.gz",
        "encode_wgbs_cpg_10e5_gt_10x": "Methyl96/encode_wgbs_pipeline/encode_cpg_10e5_gt_10x_coverage.bed.gz",
    }
    pinned = {s.name for s in dl.list_sources() if s.sha256}
    assert pinned == set(copies)
    for name, rel in copies.items():
        assert SOURCES[name].sha256 == hashlib.sha256(Path(shared_data, rel).read_bytes()).hexdigest(), name
    with pytest.raises(KeyError, match="did you mean"):
        dl.get_source("hg38")


def test_damaged_file_is_fetched_again_with_a_given_sha256(server, tmp_path, capsys):
    data = payload(3_000_000)
    (server.root / "f.bin").write_bytes(data)
    path = dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(data), progress=False)
    path.write_bytes(data[:1000])  # cut from 3 MB to 1 kB; NAME.sha256 is still there
    n = len(server.requests)
    assert dl.download_url(f"{server.url}/f.bin", path, sha256=sha(data), progress=False).read_bytes() == data
    assert len(server.requests) > n and "damaged" in capsys.readouterr().err
    # with the right file in place, a given sha256 is checked by hashing, and nothing is fetched
    n = len(server.requests)
    assert dl.download_url(f"{server.url}/f.bin", path, sha256=sha(data), progress=False).read_bytes() == data
    assert len(server.requests) == n


def test_damaged_file_is_fetched_again_on_trust_of_first_use(server, tmp_path, capsys, monkeypatch):
    data = payload(200_000)
    (server.root / "f.bin").write_bytes(data)
    path = dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    hashed = []
    monkeypatch.setattr(dl, "sha256_file", lambda p: hashed.append(p) or sha(Path(p).read_bytes()))
    n = len(server.requests)
    assert dl.download_url(f"{server.url}/f.bin", path, progress=False) == path
    assert hashed == [] and len(server.requests) == n  # size and mtime as recorded: not read again
    damaged = bytearray(data)
    damaged[5] ^= 1
    path.write_bytes(bytes(damaged))  # same size, new mtime
    assert dl.download_url(f"{server.url}/f.bin", path, progress=False).read_bytes() == data
    assert "damaged" in capsys.readouterr().err and len(server.requests) > n


def test_file_without_record_is_not_replaced(server, tmp_path):
    (server.root / "f.bin").write_bytes(payload(1000))
    mine = tmp_path / "f.bin"
    mine.write_bytes(b"my own file")
    with pytest.raises(dl.ChecksumError, match="delete it to download again"):
        dl.download_url(f"{server.url}/f.bin", mine, sha256=sha(payload(1000)), progress=False)
    assert mine.read_bytes() == b"my own file"


def test_response_without_length_that_ends_early_is_resumed(server, tmp_path):
    data = payload()
    (server.root / "f.bin").write_bytes(data)
    server.no_length = True
    server.cut_after = 100_000
    path = dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False, backoff=0)
    assert path.read_bytes() == data
    assert [r["range"] for r in server.requests] == [None, "bytes=100000-", "bytes=100000-"]  # the end asked for, then resumed


def test_response_without_length_or_ranges_needs_a_sha256(server, tmp_path):
    data = payload(5000)
    (server.root / "f.bin").write_bytes(data)
    server.no_length = True
    server.ranges = False
    with pytest.raises(dl.DownloadError, match="cannot be confirmed complete.*--sha256"):
        dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False, backoff=0)
    assert not (tmp_path / "f.bin").exists()
    assert dl.download_url(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(data), progress=False).read_bytes() == data


def test_connection_refused_claims_no_part(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(dl.DownloadError) as err:
        dl.download_url(f"http://127.0.0.1:{port}/f.bin", tmp_path / "f.bin", progress=False, backoff=0)
    assert "cannot connect" in str(err.value) and ".part" not in str(err.value)
    assert list(tmp_path.iterdir()) == []
