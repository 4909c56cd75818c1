"""Synthetic raw files: gzip without a timestamp (same bytes every time), tables without quoting."""

from __future__ import annotations

import gzip
import time

import pandas as pd

from dnabench.synthetic.files import format_table, write_text


def test_gzip_output_is_byte_identical_and_readable(tmp_path):
    a = write_text(tmp_path / "a.txt.gz", "x\ty\n" * 100)
    time.sleep(1.1)
    b = write_text(tmp_path / "b.txt.gz", "x\ty\n" * 100)
    assert a.read_bytes() == b.read_bytes()
    assert gzip.decompress(a.read_bytes()).decode() == "x\ty\n" * 100
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind
    assert write_text(tmp_path / "c.txt", "plain\n").read_text() == "plain\n"


def test_format_table_writes_fields_as_given():
    frame = pd.DataFrame({"chrom": ["chr1", "chr2"], "name": ['"ENC1"', "."], "value": [1, 2]})
    assert format_table(frame) == 'chr1\t"ENC1"\t1\nchr2\t.\t2\n'
    assert format_table(frame.iloc[:0]) == ""
