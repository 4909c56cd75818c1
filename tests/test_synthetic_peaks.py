"""Peaks: narrowPeak and the track table read by the real readers; bin probabilities follow the rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dnabench.io.intervals import read_narrowpeak
from dnabench.synthetic.peaks import Track, bin_probabilities, call_peaks, write_narrowpeak, write_track_table
from dnabench.tasks.track7878 import read_track_metadata

SIZES = {"chr1": 100_000, "chr2": 50_000}


def _track(pi=0.9, jitter=30, noise=5):
    sources = pd.DataFrame({"chrom": ["chr1"] * 50 + ["chr2"] * 20, "centre": list(range(1_000, 51_000, 1_000)) + list(range(2_000, 42_000, 2_000)), "pi": pi})
    return Track("ENCFF1TEST", "TF", "GM12878", "CTCF", sources, width=240, jitter=jitter, noise_peaks=noise)


def test_peaks_are_called_around_sources_and_read_back(tmp_path):
    track = _track()
    peaks = call_peaks(track, SIZES, np.random.default_rng(0))
    sourced = peaks[peaks["source"] >= 0]
    assert (peaks["source"] == -1).sum() == 5 and 0.75 < len(sourced) / 70 < 1.0
    centre = track.sources["centre"].to_numpy()[sourced["source"].to_numpy()]
    assert (np.abs((sourced["start"] + sourced["end"]) // 2 - centre) <= 30).all()
    path = write_narrowpeak(peaks, tmp_path / "p.narrowPeak.gz")
    back = read_narrowpeak(path)
    assert back[["chrom", "start", "end"]].to_numpy().tolist() == peaks[["chrom", "start", "end"]].to_numpy().tolist()
    table = write_track_table([track], ["p.narrowPeak.gz"], tmp_path / "tracks.tsv")
    (got,) = read_track_metadata(table)
    assert (got.accession, got.group, got.target, got.path) == ("ENCFF1TEST", "tf", "CTCF", path)


def test_bin_probabilities():
    track = _track(pi=1.0, jitter=0)
    chrom = np.array(["chr1", "chr1", "chr1", "chr2"])
    p = bin_probabilities(track, chrom, np.array([900, 1_300, 1_000 - 120 - 200 + 99, 2_000 - 100]))
    assert p.tolist() == [1.0, 0.0, 0.0, 1.0]  # centred; far; 99 bp covered; centred
    noisy = bin_probabilities(_track(pi=0.5, jitter=60), chrom[:1], np.array([1_000 - 120 - 200 + 140]))
    assert 0 < noisy[0] < 0.5  # covered by enough bases only for some jitters
