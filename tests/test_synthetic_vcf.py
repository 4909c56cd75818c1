"""The VCF: written by htslib, read back by dnabench's reader, REF always the genome's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnabench.io.vcf import read_vcf, vcf_contigs
from dnabench.synthetic.vcf import write_vcf

SEQ = {"chr1": np.array([0, 1, 2, 3] * 50, np.uint8), "chr2": np.array([3, 3, 1] * 30, np.uint8)}


def test_written_vcf_reads_back_with_refs_from_the_genome(tmp_path):
    variants = pd.DataFrame({"chrom": ["chr2", "chr1", "chr1"], "pos": [4, 10, 2], "alt": ["A", "T", "G"], "p": [0.5, 0.25, 0.125]})
    path = write_vcf(variants, SEQ, tmp_path / "v.vcf", info={"p": "CAUSAL_P"})
    table, counts = read_vcf(path)
    assert vcf_contigs(path) == ["chr1", "chr2"] and counts["snvs"] == 3
    assert table[["chrom", "pos", "ref", "alt"]].values.tolist() == [["chr1", 2, "C", "G"], ["chr1", 10, "C", "T"], ["chr2", 4, "T", "A"]]
    assert "CAUSAL_P=0.125" in path.read_text()


def test_a_wrong_ref_is_refused(tmp_path):
    bad = pd.DataFrame({"chrom": ["chr1"], "pos": [1], "ref": ["C"], "alt": ["T"]})
    with pytest.raises(ValueError, match="genome has A"):
        write_vcf(bad, SEQ, tmp_path / "v.vcf")
    assert not list(tmp_path.iterdir())
