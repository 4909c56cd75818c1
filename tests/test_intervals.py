"""Tests for dnabench.io.intervals: real ENCODE/annotatr files plus made-up good and bad inputs."""

from __future__ import annotations

import gzip
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnabench.io.files import InputError
from dnabench.io.intervals import (
    BED_COLUMNS,
    BEDMETHYL_COLUMNS,
    NARROWPEAK_COLUMNS,
    read_bed,
    read_bedmethyl,
    read_narrowpeak,
    read_peaks,
)

CPG = "Methyl96/encode_wgbs_pipeline/encode_cpg_10e5.bed.gz"
CPG_GT10 = "Methyl96/encode_wgbs_pipeline/encode_cpg_10e5_gt_10x_coverage.bed.gz"
EZH2 = "Track7878/annotatr_gm12878/Gm12878_Ezh2_sorted_scores.narrowPeak.gz"
STAT3 = "Track7878/annotatr_gm12878/Gm12878_Stat3_chr2.bed.gz"

INT_COLS = {"start", "end", "thickStart", "thickEnd", "blockCount", "peak", "coverage"}
FLOAT_COLS = {"score", "signalValue", "pValue", "qValue", "percent_methylated"}


# ---------------------------------------------------------------------------------------------------
# helpers


def plain_rows(path: Path) -> list[list[str]]:
    """Reference parse with plain Python: data lines split on tabs."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt") as f:
        lines = f.read().splitlines()
    return [
        line.split("\t")
        for line in lines
        if line and not line.startswith(("track", "browser", "#"))
    ]


def assert_matches_reference(df: pd.DataFrame, rows: list[list[str]]) -> None:
    assert len(df) == len(rows)
    for j, name in enumerate(df.columns):
        raw = [r[j] for r in rows]
        got = df[name].tolist()
        if name in INT_COLS:
            assert df[name].dtype == np.int64, name
            assert got == [int(v) for v in raw], name
        elif name in FLOAT_COLS:
            assert df[name].dtype == np.float64, name
            assert got == [float(v) for v in raw], name  # exact: both round correctly
        else:
            assert got == raw, name


def write(tmp_path: Path, name: str, text: str, gz: bool = False) -> Path:
    path = tmp_path / name
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def raises_at(path: Path, line: int | None, func, *match: str) -> InputError:
    """Call func(path); it must raise InputError naming the file and `line`, with all of `match`."""
    with pytest.raises(InputError) as info:
        func(path)
    err = info.value
    msg = str(err)
    assert str(path) in msg
    assert err.line == line, msg
    if line is not None:
        assert msg.startswith(f"{path}:{line}: "), msg
    for m in match:
        assert re.search(m, msg), f"{m!r} not in {msg!r}"
    return err


# ---------------------------------------------------------------------------------------------------
# real files


def test_encode_bedmethyl(shared_data: Path) -> None:
    path = shared_data / CPG
    read_bedmethyl(path)  # warm up imports before timing
    t0 = time.perf_counter()
    df = read_bedmethyl(path)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5, f"reading 99,999 lines took {elapsed:.2f}s (a Python loop over lines?)"

    assert len(df) == 99_999
    assert list(df.columns) == [*BEDMETHYL_COLUMNS, "extra_1", "extra_2", "extra_3"]
    assert (df["chrom"] == "chr1").all()
    assert ((df["end"] - df["start"]) == 1).all()
    assert df["start"].min() == 10_468 and df["end"].max() == 3_732_734
    assert (df["name"] == '"ENCSR156JXJ"').all()  # quotes kept as written
    assert set(df["strand"]) <= {"+", "-"}
    assert df["coverage"].dtype == np.int64
    assert df["percent_methylated"].between(0, 100).all()
    assert set(df["extra_1"]) >= {"CG"}

    # coverage counts: independently from plain Python, and as the data's SOURCES.md states
    rows = plain_rows(path)
    cov = [int(r[9]) for r in rows]
    ge5, ge10 = sum(c >= 5 for c in cov), sum(c >= 10 for c in cov)
    assert (int((df["coverage"] >= 5).sum()), int((df["coverage"] >= 10).sum())) == (ge5, ge10)
    assert (ge5, ge10) == (8_556, 564)
    sources = (shared_data / "SOURCES.md").read_text()
    assert "8,556 CpGs have ≥5 reads and 564 have ≥10" in sources

    assert_matches_reference(df, rows)


def test_encode_bedmethyl_high_coverage(shared_data: Path) -> None:
    path = shared_data / CPG_GT10
    df = read_bedmethyl(path)
    assert len(df) == 359
    assert (df["coverage"] > 10).all()
    assert_matches_reference(df, plain_rows(path))


def test_ezh2_named_narrowpeak_is_bed6(shared_data: Path) -> None:
    path = shared_data / EZH2
    df = read_peaks(path)
    assert len(df) == 2_472
    assert list(df.columns) == list(BED_COLUMNS[:6])
    assert df["score"].dtype == np.float64
    assert (df["score"] != df["score"].round()).any()  # real float scores such as 29.33...
    assert df["score"].iloc[0] == pytest.approx(29.3330083248231)
    assert_matches_reference(df, plain_rows(path))
    pd.testing.assert_frame_equal(df, read_bed(path))

    raises_at(path, 1, read_narrowpeak, r"exactly 10", r"found 6", r"read_peaks")


def test_stat3_bed3(shared_data: Path) -> None:
    path = shared_data / STAT3
    df = read_bed(path)
    assert len(df) == 539
    assert list(df.columns) == ["chrom", "start", "end"]
    assert (df["chrom"] == "chr2").all()
    assert (df["end"] > df["start"]).all()
    assert_matches_reference(df, plain_rows(path))
    pd.testing.assert_frame_equal(read_peaks(path), df)
    raises_at(path, 1, lambda p: read_bed(p, min_columns=6), r"6 to 12", r"found 3")


# ---------------------------------------------------------------------------------------------------
# made-up good files

BED12 = (
    "chr1\t100\t500\tgeneA\t960\t+\t120\t480\t255,0,0\t2\t100,150,\t0,250,\n"
    "chr2\t0\t50\tgeneB\t0\t-\t0\t0\t0\t1\t50,\t0,\n"
)


def test_bed12(tmp_path: Path) -> None:
    path = write(tmp_path, "genes.bed", BED12)
    df = read_bed(path)
    assert list(df.columns) == list(BED_COLUMNS)
    assert df["start"].tolist() == [100, 0] and df["end"].tolist() == [500, 50]
    assert df["thickStart"].tolist() == [120, 0] and df["thickEnd"].tolist() == [480, 0]
    assert df["blockCount"].tolist() == [2, 1]
    assert df["blockSizes"].tolist() == ["100,150,", "50,"]
    assert df["itemRgb"].tolist() == ["255,0,0", "0"]
    assert df["score"].tolist() == [960.0, 0.0]
    for col in ("start", "end", "thickStart", "thickEnd", "blockCount"):
        assert df[col].dtype == np.int64
    assert df["score"].dtype == np.float64
    assert_matches_reference(df, plain_rows(path))


def test_narrowpeak_with_offsets(tmp_path: Path) -> None:
    text = (
        "chr1\t1000\t1500\tp1\t100\t.\t5.5\t12.25\t10.5\t250\n"
        "chr1\t2000\t2300\tp2\t0\t+\t3\t-1\t-1\t-1\n"
        "chr3\t10\t20\tp3\t7\t-\t1e3\t0\t0\t0\n"
        "chr3\t30\t40\tp4\t7\t-\t1\t0\t0\t9\n"
    )
    path = write(tmp_path, "x.narrowPeak", text)
    df = read_narrowpeak(path)
    assert list(df.columns) == list(NARROWPEAK_COLUMNS)
    assert df["peak"].tolist() == [250, -1, 0, 9]
    assert df["signalValue"].tolist() == [5.5, 3.0, 1000.0, 1.0]
    assert df["pValue"].tolist() == [12.25, -1.0, 0.0, 0.0]
    pd.testing.assert_frame_equal(read_peaks(path), df)
    assert_matches_reference(df, plain_rows(path))


def test_narrowpeak_peak_out_of_range(tmp_path: Path) -> None:
    good = "chr1\t0\t100\tp\t0\t.\t1\t1\t1\t50\n"
    path = write(tmp_path, "bad.narrowPeak", good + "chr1\t200\t300\tp\t0\t.\t1\t1\t1\t100\n")
    raises_at(path, 2, read_narrowpeak, r"peak", r"100")
    path = write(tmp_path, "neg.narrowPeak", good + good + "chr1\t200\t300\tp\t0\t.\t1\t1\t1\t-2\n")
    raises_at(path, 3, read_peaks, r"peak", r"-2")


def test_header_lines_anywhere(tmp_path: Path) -> None:
    text = (
        'track name="x"\n'  # 1
        "browser position chr1:1-100\n"  # 2
        "chr1\t0\t10\ta\t1\t+\n"  # 3
        "# a comment\n"  # 4
        "\n"  # 5
        "chr1\t20\t30\tb\t2\t-\n"  # 6
        "track name=second\n"  # 7
        "  \t\n"  # 8: only whitespace
        "chr2\t5\t6\tc\t3\t.\n"  # 9
    )
    path = write(tmp_path, "mixed.bed", text)
    df = read_bed(path)
    assert df["chrom"].tolist() == ["chr1", "chr1", "chr2"]
    assert df["start"].tolist() == [0, 20, 5]
    assert df["name"].tolist() == ["a", "b", "c"]
    # errors after header lines still name the real file line
    raises_at(write(tmp_path, "e1.bed", text + "chr2\t9\t8\td\t0\t+\n"), 10, read_bed, r"less than start")
    bad6 = text.replace("chr1\t20\t30", "chr1\t40\t30")
    raises_at(write(tmp_path, "e2.bed", bad6), 6, read_bed, r"end \(30\) is less than start \(40\)")
    bad9 = text.replace("chr2\t5\t6\tc\t3\t.", "chr2\t5\t6\tc\t3\t*")
    raises_at(write(tmp_path, "e3.bed", bad9), 9, read_bed, r"strand", r"'\*'")
    bad9 = text.replace("chr2\t5\t6\tc\t3\t.", "chr2\t5\t6\tc\t3")
    raises_at(write(tmp_path, "e4.bed", bad9), 9, read_bed, r"found 5", r"line 3\) has 6")


def test_word_track_needs_a_boundary(tmp_path: Path) -> None:
    # a chromosome that merely starts with "track" is data, not a header
    df = read_bed(write(tmp_path, "t.bed", "track\ntrackX\t1\t2\n"))
    assert df["chrom"].tolist() == ["trackX"]


def test_gzip_bgzip_crlf_no_final_newline(tmp_path: Path) -> None:
    text = "chr1\t0\t10\nchr1\t10\t20\nchr2\t5\t7\n"
    expect = read_bed(write(tmp_path, "a.bed", text))
    assert len(expect) == 3
    pd.testing.assert_frame_equal(read_bed(write(tmp_path, "a.bed.gz", text, gz=True)), expect)
    multi = tmp_path / "a.bgz"  # bgzip is multi-member gzip
    multi.write_bytes(gzip.compress(text[:12].encode()) + gzip.compress(text[12:].encode()))
    pd.testing.assert_frame_equal(read_bed(multi), expect)
    pd.testing.assert_frame_equal(read_bed(write(tmp_path, "crlf.bed", text.replace("\n", "\r\n"))), expect)
    pd.testing.assert_frame_equal(read_bed(write(tmp_path, "nofinal.bed", text.rstrip("\n"))), expect)


def test_read_peaks_chooses_format(tmp_path: Path) -> None:
    bed6 = write(tmp_path, "p.narrowPeak", "chr1\t0\t10\tp\t29.33\t.\n")
    assert list(read_peaks(bed6).columns) == list(BED_COLUMNS[:6])
    assert read_peaks(bed6)["score"].tolist() == [29.33]
    eleven = write(tmp_path, "p11.bed", "chr1\t0\t10\tp\t1\t.\t1\t1\t1\t1\tx\n")
    raises_at(eleven, 1, read_peaks, r"3 to 9", r"found 11")


def test_bedmethyl_made_up(tmp_path: Path) -> None:
    line = 'chr1\t10\t11\t"S1"\t5\t+\t10\t11\t255,0,0\t5\t60\n'
    df = read_bedmethyl(write(tmp_path, "m.bed", "track name=m\n" + line * 3))
    assert list(df.columns) == list(BEDMETHYL_COLUMNS)
    assert df["coverage"].tolist() == [5, 5, 5]
    assert df["percent_methylated"].tolist() == [60.0] * 3
    assert df["name"].tolist() == ['"S1"'] * 3


# ---------------------------------------------------------------------------------------------------
# bad inputs: every error names the file and the first bad line


def test_empty_and_header_only(tmp_path: Path) -> None:
    raises_at(write(tmp_path, "empty.bed", ""), None, read_bed, r"empty")
    raises_at(write(tmp_path, "empty.bed.gz", "", gz=True), None, read_peaks, r"empty")
    headers = "track name=x\nbrowser hide all\n# nothing\n\n"
    raises_at(write(tmp_path, "headers.bed", headers), None, read_bed, r"no data lines")
    raises_at(write(tmp_path, "headers.bed.gz", headers, gz=True), None, read_bedmethyl, r"no data lines")


def test_wrong_column_count(tmp_path: Path) -> None:
    text = "chr1\t0\t10\nchr1\t10\t20\nchr1\t20\t30\tx\nchr1\t30\t40\n"
    raises_at(write(tmp_path, "cols.bed", text), 3, read_bed, r"found 4 tab-separated columns", r"has 3")
    raises_at(write(tmp_path, "two.bed", "chr1\t0\n"), 1, read_bed, r"3 to 12", r"found 2")
    raises_at(write(tmp_path, "13.bed", "\t".join(["1"] * 13) + "\n"), 1, read_bed, r"found 13")
    raises_at(write(tmp_path, "nochrom.bed", "chr1\t0\t1\n\t0\t1\n"), 2, read_bed, r"chrom \(column 1\) is empty")


def test_space_separated_hint(tmp_path: Path) -> None:
    raises_at(write(tmp_path, "sp.bed", "chr1 0 10\n"), 1, read_bed, r"found 1", r"spaces")
    text = "chr1\t0\t10\tx\nchr1 10 20 y\n"
    raises_at(write(tmp_path, "sp2.bed", text), 2, read_bed, r"found 1", r"has 4", r"not spaces")


@pytest.mark.parametrize(
    ("bad_line", "match"),
    [
        ("chr1\t50\t40", [r"end \(40\) is less than start \(50\)"]),
        ("chr1\t-5\t40", [r"start must be >= 0", r"-5"]),
        ("chr1\t12.5\t40", [r"column 2 \(start\) must be an integer", r"'12.5'"]),
        ("chr1\t10\tabc", [r"column 3 \(end\) must be an integer", r"'abc'"]),
        ("chr1\t10\t", [r"column 3 \(end\) must be an integer", r"''"]),
        ("chr1\t10\t99999999999999999999", [r"column 3 \(end\) must be an integer"]),
    ],
)
def test_bad_coordinates(tmp_path: Path, bad_line: str, match: list[str]) -> None:
    text = "# header\nchr1\t0\t10\nchr1\t10\t20\n" + bad_line + "\nchr1\t30\t40\n"
    raises_at(write(tmp_path, "bad.bed", text), 4, read_bed, *match)
    raises_at(write(tmp_path, "bad.bed.gz", text, gz=True), 4, read_peaks, *match)


def test_bad_strand_and_score(tmp_path: Path) -> None:
    ok = "chr1\t0\t10\tn\t1.5\t+\n"
    raises_at(write(tmp_path, "s.bed", ok + "chr1\t0\t10\tn\t1\tplus\n"), 2, read_bed, r"strand", r"'plus'")
    raises_at(write(tmp_path, "sc.bed", ok * 2 + "chr1\t0\t10\tn\tNA\t+\n"), 3, read_bed, r"score", r"'NA'")
    raises_at(write(tmp_path, "nan.bed", ok + "chr1\t0\t10\tn\tnan\t+\n"), 2, read_bed, r"a number", r"'nan'")
    # the earliest bad line wins, whatever the kind of problem
    text = ok + "chr1\t0\t10\tn\t1\t?\n" + ok + "chr1\tx\t10\tn\t1\t+\n"
    raises_at(write(tmp_path, "first.bed", text), 2, read_bed, r"strand")
    text = ok + "chr1\tx\t10\tn\t1\t+\n" + "chr1\t0\t10\tn\t1\t?\n"
    raises_at(write(tmp_path, "first2.bed", text), 2, read_bed, r"start")


def test_corrupt_gzip(tmp_path: Path) -> None:
    text = "chr1\t0\t10\n" * 2000
    garbage = tmp_path / "garbage.bed.gz"
    garbage.write_bytes(gzip.compress(b"")[:10] + b"this is not deflate data at all" * 10)
    raises_at(garbage, None, read_bed, r"corrupt or truncated gzip")
    full = gzip.compress(text.encode())
    truncated = tmp_path / "truncated.bed.gz"
    truncated.write_bytes(full[: len(full) // 2])
    raises_at(truncated, None, read_bed, r"corrupt or truncated gzip")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.bed"
    path.write_bytes(b"chr1\t0\t10\nchr\xff\xfe\t0\t10\n")
    raises_at(path, 2, read_bed, r"UTF-8")


def test_bad_bedmethyl(tmp_path: Path) -> None:
    line = "chr1\t10\t11\tS\t5\t+\t10\t11\t255,0,0\t5\t60\n"
    missing = "chr1\t10\t11\tS\t5\t+\t10\t11\t255,0,0\t5\n"
    raises_at(write(tmp_path, "m1.bed", missing), 1, read_bedmethyl, r"at least 11", r"found 10")
    raises_at(write(tmp_path, "m2.bed", line + missing), 2, read_bedmethyl, r"found 10", r"has 11")
    pct = line.replace("\t60\n", "\t150\n")
    raises_at(write(tmp_path, "m3.bed.gz", "track x\n" + line + pct, gz=True), 3, read_bedmethyl, r"percent", r"150")
    cov = line.replace("\t5\t60", "\t-1\t60")
    raises_at(write(tmp_path, "m4.bed", line + line + cov), 3, read_bedmethyl, r"coverage must be >= 0", r"-1")
    pct = line.replace("\t60\n", "\tabc\n")
    raises_at(write(tmp_path, "m5.bed", line + pct), 2, read_bedmethyl, r"percent_methylated", r"'abc'")


def test_bedmethyl_of_fractions(tmp_path: Path) -> None:
    """A percent column of 0..1 fractions would give all-zero methylated reads: refused, with its line."""
    row = "chr1\t{}\t{}\tS\t5\t+\t{}\t{}\t255,0,0\t20\t{}\n"
    fractions = "track x\n" + "".join(row.format(i, i + 1, i, i + 1, v) for i, v in enumerate([0, 1, 0.35, 0.8, 1]))
    raises_at(write(tmp_path, "f.bed.gz", fractions, gz=True), 4, read_bedmethyl, r"only values in 0\.\.1", r"0\.35", r"multiply")
    for values in ([0, 1, 0, 1], [0, 0.5, 2.0], [0, 0, 0]):  # percentages: 0/1 %, one above 1 %, all unmethylated
        text = "".join(row.format(i, i + 1, i, i + 1, v) for i, v in enumerate(values))
        assert read_bedmethyl(write(tmp_path, "p.bed", text))["percent_methylated"].tolist() == [float(v) for v in values]


def test_byte_order_mark(tmp_path: Path) -> None:
    df = read_bed(write(tmp_path, "bom.bed", "\ufeffchr1\t0\t10\nchr2\t5\t6\n"))
    assert df["chrom"].tolist() == ["chr1", "chr2"]
    df = read_bed(write(tmp_path, "bom_track.bed", "\ufefftrack name=x\nchr1\t0\t10\n"))  # the header is still a header
    assert df["chrom"].tolist() == ["chr1"]


def test_min_columns_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        read_bed(write(tmp_path, "a.bed", "chr1\t0\t1\n"), min_columns=2)
