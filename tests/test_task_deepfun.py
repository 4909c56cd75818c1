"""DeepFun's profile lists become the Track7878 metadata table that the builder reads."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.io.files import InputError
from dnabench.tasks.deepfun import profile_group, read_deepfun_profiles, write_track_metadata
from dnabench.tasks.track7878 import read_track_metadata

LIST_A = """CTCF-human^cell_line^A549^ENCFF001URZ\t1
DNase-seq^primary_cell^T-cell^ENCFF026SFK\t2
H3K9me3-human^tissue^spleen^ENCFF089WHI\t3
H2AFZ-human^cell_line^K562^ENCFF000AAA\t4
"""
LIST_B = """ATF3-human^tissue^liver^ENCFF025EPQ\t1
HDAC2-human^cell_line^K562^ENCFF111BBB\t2
CTCF-human^cell_line^A549^ENCFF001URZ\t3
"""


@pytest.mark.parametrize(
    "target, group",
    [("DNase-seq", "dnase"), ("H3K27ac-human", "histone"), ("H4K20me1-human", "histone"), ("H2AFZ-human", "histone"),
     ("CTCF-human", "tf"), ("HDAC2-human", "tf"), ("HCFC1-human", "tf"), ("H1-hESC", "tf")],
)
def test_groups_from_target_names(target, group):
    assert profile_group(target) == group


def lists(tmp_path):
    (tmp_path / "A.txt").write_text(LIST_A)
    (tmp_path / "B.txt").write_text(LIST_B)
    return [tmp_path / "A.txt", tmp_path / "B.txt"]


def test_profiles_in_order_with_repeats_dropped(tmp_path):
    profiles, repeated = read_deepfun_profiles(lists(tmp_path))
    assert [p.accession for p in profiles] == ["ENCFF001URZ", "ENCFF026SFK", "ENCFF089WHI", "ENCFF000AAA", "ENCFF025EPQ", "ENCFF111BBB"]
    assert repeated == ["ENCFF001URZ"]
    assert [p.group for p in profiles] == ["tf", "dnase", "histone", "histone", "tf", "tf"]
    assert profiles[2].biosample == "spleen" and profiles[2].biosample_type == "tissue" and profiles[2].target == "H3K9me3"


def test_metadata_table_reads_back_in_the_builder(tmp_path):
    table, accessions, counts = write_track_metadata(lists(tmp_path), tmp_path / "peaks" / "tracks.tsv")
    assert counts["profiles"] == 6 and (counts["dnase"], counts["tf"], counts["histone"]) == (1, 3, 2)
    assert accessions.read_text().split() == [line.split("\t")[0] for line in table.read_text().splitlines()[1:]]
    for acc in accessions.read_text().split():  # what `dnabench download --accessions` would save
        (table.parent / f"{acc}.bed.gz").write_bytes(b"chr1\t0\t500\n")
    tracks = read_track_metadata(table)
    assert [t.group for t in tracks] == ["tf", "dnase", "histone", "histone", "tf", "tf"]
    assert tracks[1].cell_type == "T-cell" and tracks[1].target == "" and tracks[0].target == "CTCF"


def test_malformed_lines_name_file_and_line(tmp_path):
    (tmp_path / "bad.txt").write_text(LIST_A + "CTCF-human^cell_line^ENCFF001XYZ\t5\n")
    with pytest.raises(InputError, match=r"bad\.txt:5: expected target\^biosample type"):
        read_deepfun_profiles([tmp_path / "bad.txt"])
    (tmp_path / "bad2.txt").write_text("CTCF-human^cell_line^A549^GSM12345\t1\n")
    with pytest.raises(InputError, match=r"bad2\.txt:1: 'GSM12345' is not an ENCODE file accession"):
        read_deepfun_profiles([tmp_path / "bad2.txt"])


def test_cli(tmp_path):
    paths = lists(tmp_path)
    result = CliRunner().invoke(app, ["prepare", "track7878-tracks", *map(str, paths), "--out", str(tmp_path / "t" / "tracks.tsv")])
    assert result.exit_code == 0, result.output
    assert "6 tracks (1 DNase, 3 TF, 2 histone)" in result.output and "ENCFF001URZ" in result.output
    assert "dnabench download --accessions" in result.output
    assert (tmp_path / "t" / "accessions.txt").is_file()


def test_byte_order_mark_and_crlf(tmp_path):
    (tmp_path / "A.txt").write_bytes(b"\xef\xbb\xbf" + LIST_A.replace("\n", "\r\n").encode())
    profiles, _ = read_deepfun_profiles([tmp_path / "A.txt"])
    assert profiles[0].target == "CTCF" and profiles[0].group == "tf" and len(profiles) == 4


def test_real_deepfun_lists(shared_data, tmp_path):
    """DeepFun's lists: 7,879 distinct accessions, one more than the paper's 7,878 (see below)."""
    folder = shared_data / "Track7878" / "deepfun"
    lists = [folder / "Profiles_list_A.txt", folder / "Profiles_list_B.txt"]
    result = CliRunner().invoke(app, ["prepare", "track7878-tracks", *map(str, lists), "--out", str(tmp_path / "tracks.tsv")])
    assert result.exit_code == 0, result.output
    assert "7,879 tracks (1,548 DNase, 4,631 TF, 1,700 histone)" in result.output and "listed twice" not in result.output
    profiles, repeated = read_deepfun_profiles(lists)
    assert repeated == [] and len(profiles) == len({p.accession for p in profiles}) == 7_879
    accessions = (tmp_path / "accessions.txt").read_text().split()
    assert accessions == [p.accession for p in profiles]
    # DeepFun's README counts 1,536 histone and 4,795 TF: it counts every profile of list B (its TF
    # model) as TF, among them 164 histone marks and variants, which the rule here calls histone
    in_b = profiles[3_451:]
    histone_in_b = [p for p in in_b if p.group == "histone"]
    assert len(profiles[:3_451]) == 3_451 and len(in_b) == 4_428 and len(histone_in_b) == 164
    assert {p.target for p in histone_in_b} == {"H2AFZ", "H2AK5ac", "H2BK120ac", "H2BK12ac", "H2BK15ac", "H2BK20ac", "H2BK5ac",
                                               "H4K20me1", "H4K5ac", "H4K8ac"}
    assert (1_700 - 164, 4_631 + 164) == (1_536, 4_795)
    # every accession has a row in DeepFun's own test results (CRLF, with a header), and none more:
    # nothing in the files marks one of the 7,879 as the one the paper leaves out
    quality = (folder / "Accession_quality.txt").read_text().splitlines()
    assert quality[0].split("\t")[0] == "File accession"
    assert sorted(line.split("\t")[0] for line in quality[1:]) == sorted(accessions)
    tracks = read_track_metadata(tmp_path / "tracks.tsv", check_files=False)
    assert len(tracks) == 7_879 and tracks[0].accession == "ENCFF011GSD" and tracks[0].target == "CTCF"


def test_a_gzipped_list_under_any_name_reads_and_a_folder_out_is_refused(tmp_path):
    import gzip

    text = "CTCF-human^cell line^K562^ENCFF000AAA\nH3K27ac-human^tissue^liver^ENCFF000AAB\n"
    (tmp_path / "A.txt").write_bytes(gzip.compress(text.encode()))  # gzip without .gz
    profiles, _ = read_deepfun_profiles([tmp_path / "A.txt"])
    assert [p.accession for p in profiles] == ["ENCFF000AAA", "ENCFF000AAB"]
    (tmp_path / "t7").mkdir()
    with pytest.raises(ValueError, match=r"t7: is a folder; --out names the metadata table"):
        write_track_metadata([tmp_path / "A.txt"], tmp_path / "t7")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.txt", "t7"]  # nothing half-written beside it
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match=r"bin.txt.*not a UTF-8 text file"):
        read_track_metadata(tmp_path / "bin.txt")


def test_an_existing_table_is_replaced_only_with_overwrite(tmp_path):
    table, _, _ = write_track_metadata(lists(tmp_path), tmp_path / "peaks" / "tracks.tsv")
    table.write_text(table.read_text() + "# a note of the user\n")
    with pytest.raises(FileExistsError, match=r"tracks.tsv: already exists; give --overwrite to replace tracks.tsv and accessions.txt"):
        write_track_metadata(lists(tmp_path), table)
    assert table.read_text().endswith("# a note of the user\n")
    write_track_metadata(lists(tmp_path), table, overwrite=True)
    assert "# a note" not in table.read_text()
