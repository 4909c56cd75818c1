"""DeepFun's profile lists -> the Track7878 metadata table and the accessions to download.

The paper takes the ENCODE accessions of its 7878 tracks from DeepFun (Pei et al. 2021), whose
repository lists them in two files (`dnabench download deepfun_profiles_a` / `_b`), one profile
a line:

    CTCF-human^cell_line^A549^ENCFF001URZ<TAB>11
    DNase-seq^primary_cell^T-cell^ENCFF026SFK<TAB>920
    H3K9me3-human^tissue^spleen^ENCFF089WHI<TAB>3438

that is target ^ biosample type ^ biosample ^ file accession, then the profile's index. The
group comes from the target: `DNase-seq` is DNase, a histone mark or variant (H1, H2A, H2B, H3,
H4 followed by a modification or variant name: H3K27ac, H2AFZ, H4K20me1) is histone, anything
else is a TF. An accession listed twice is kept once (the first) and counted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dnabench.io.files import InputError, read_text_lines
from dnabench.tasks.base import PrepareCommand, option

__all__ = ["Profile", "read_deepfun_profiles", "profile_group", "write_track_metadata"]

_HISTONE = re.compile(r"^H(1|2A|2B|3|4)[A-Z0-9]")
_ACCESSION = re.compile(r"^ENC[A-Z]{2}[0-9]{3}[A-Z]{3}$")


@dataclass(frozen=True)
class Profile:
    accession: str
    target: str
    group: str
    biosample_type: str
    biosample: str


def profile_group(target: str) -> str:
    """dnase, histone or tf from a DeepFun target name ("DNase-seq", "H3K4me3-human", "CTCF-human")."""
    name = target.removesuffix("-human")
    if name.lower().startswith("dnase"):
        return "dnase"
    if _HISTONE.match(name):
        return "histone"
    return "tf"


def read_deepfun_profiles(paths: Sequence[str | os.PathLike]) -> tuple[list[Profile], list[str]]:
    """Profiles of every list in order, and the accessions that were listed again (dropped)."""
    profiles: list[Profile] = []
    seen: set[str] = set()
    repeated: list[str] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such DeepFun profile list")
        for line_no, line in enumerate(read_text_lines(path), 1):  # gzip or not; no byte order mark
            if not line.strip():
                continue
            fields = line.split("\t")[0].split("^")
            if len(fields) != 4:
                raise InputError(path, f"expected target^biosample type^biosample^accession, got {line!r}", line=line_no)
            target, biosample_type, biosample, accession = (x.strip() for x in fields)
            if not _ACCESSION.match(accession):
                raise InputError(path, f"{accession!r} is not an ENCODE file accession (ENCFF...)", line=line_no)
            if accession in seen:
                repeated.append(accession)
                continue
            seen.add(accession)
            profiles.append(Profile(accession, target.removesuffix("-human"), profile_group(target), biosample_type, biosample))
    if not profiles:
        raise InputError(paths[0] if paths else "<none>", "no profiles found")
    return profiles, repeated


def write_track_metadata(
    paths: Sequence[str | os.PathLike], out: str | os.PathLike, ext: str = "bed.gz", overwrite: bool = False,
) -> tuple[Path, Path, dict]:
    """Write the metadata table (`out`) and `accessions.txt` beside it; returns both and counts.
    Existing ones (a table the user may have edited) are replaced only with `overwrite`.

    Peak files are expected beside the table as ACCESSION.EXT, which is what
    `dnabench download --accessions accessions.txt --dest <the table's folder> --ext EXT` saves.
    """
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"{out}: is a folder; --out names the metadata table to write, e.g. {out / 'tracks.tsv'}")
    accessions = out.with_name("accessions.txt")
    existing = [p for p in (out, accessions) if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]}: already exists; give --overwrite to replace {' and '.join(p.name for p in existing)}")
    profiles, repeated = read_deepfun_profiles(paths)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = ["accession\tfile\tgroup\tcell_type\ttarget\tbiosample_type"]
    for p in profiles:
        target = "" if p.group == "dnase" else p.target
        rows.append(f"{p.accession}\t{p.accession}.{ext}\t{p.group}\t{p.biosample}\t{target}\t{p.biosample_type}")
    for path, text in ((out, "\n".join(rows) + "\n"), (accessions, "\n".join(p.accession for p in profiles) + "\n")):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    counts = {g: sum(p.group == g for p in profiles) for g in ("dnase", "tf", "histone")}
    return out, accessions, {"profiles": len(profiles), "repeated_accessions": repeated, **counts}


@dataclass
class TrackTableOptions:
    profiles: list[Path] = option(help="DeepFun's Profiles_list_A.txt and Profiles_list_B.txt.", argument=True)
    out: Path = option(help="Metadata table to write (accessions.txt goes beside it).", short="-o")
    ext: str = option("bed.gz", help="Extension of the peak files to download.")
    overwrite: bool = option(False, help="Replace an existing table and accessions.txt.")


@dataclass(frozen=True)
class TrackTable:
    """What `prepare track7878-tracks` wrote: the table, the accessions file and the counts."""

    table: Path
    accessions: Path
    counts: dict
    ext: str

    def summary(self) -> str:
        c = self.counts
        repeated = c["repeated_accessions"]
        lines = [
            f"{c['profiles']:,} tracks ({c['dnase']:,} DNase, {c['tf']:,} TF, {c['histone']:,} histone) -> {self.table}"
            + (f"; {len(repeated)} accession(s) listed twice, kept once: {', '.join(repeated[:5])}{', ...' if len(repeated) > 5 else ''}"
               if repeated else ""),
            f"next: dnabench download --accessions {self.accessions} --dest {self.table.parent} --ext {self.ext}",
        ]
        return "\n".join(lines)


def prepare_track_table(options: TrackTableOptions) -> TrackTable:
    """Track7878's track list from DeepFun's profile lists: metadata table + ENCODE accessions to download."""
    table, accessions, counts = write_track_metadata(options.profiles, options.out, ext=options.ext, overwrite=options.overwrite)
    return TrackTable(table, accessions, counts, options.ext)


PREPARE = (PrepareCommand("track7878-tracks", TrackTableOptions, prepare_track_table),)
