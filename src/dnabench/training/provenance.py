"""What a run records about its data, so that a resume can tell whether the data changed under it.

A table is one file: its sha256. A store is its card (whose `files` hold each file's size and
sha256) plus each file's size and modification time when the run started: a resume re-hashes
only files whose size or time moved, so an unchanged store costs a stat per file, and a label
array edited in place (the card untouched) is still caught.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from dnabench.io.files import sha256_file

__all__ = ["data_fingerprint", "data_change", "absolute_paths", "git_commit", "git_dirty", "package_path", "task_record"]


def _store_files(folder: Path) -> dict[str, Any]:
    card = json.loads((folder / "dataset.json").read_text())
    return card.get("files") or {}


def data_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """{"kind": "table"|"store"|"other", "sha256": ..., "files": {name: [bytes, mtime_ns]}} of a data path."""
    path = Path(path)
    if path.is_file():
        return {"kind": "table", "sha256": sha256_file(path)}
    if (path / "dataset.json").is_file():
        files = {}
        for name in sorted(_store_files(path)):
            stat = (path / name).stat()
            files[name] = [stat.st_size, stat.st_mtime_ns]
        return {"kind": "store", "sha256": sha256_file(path / "dataset.json"), "files": files}
    return {"kind": "other"}


def data_change(recorded: dict[str, Any] | None, path: str | os.PathLike) -> str | None:
    """Why the data at `path` is not the data `recorded` describes, or None when it is the same."""
    if not recorded or recorded.get("kind") in (None, "other"):
        return None
    path = Path(path)
    if not path.exists():
        return f"{path} no longer exists"
    now = data_fingerprint(path)
    if now["kind"] != recorded["kind"]:
        return f"{path} was a {recorded['kind']} and is now a {now['kind']}"
    if now["sha256"] != recorded["sha256"]:
        what = "its card (dataset.json)" if now["kind"] == "store" else "its contents"
        return f"{path}: {what} changed (sha256 {recorded['sha256'][:12]}... then, {now['sha256'][:12]}... now)"
    if now["kind"] == "store":
        expected = _store_files(path)
        for name, stamp in now.get("files", {}).items():
            if stamp == (recorded.get("files") or {}).get(name):
                continue
            digest = sha256_file(path / name)
            if digest != (expected.get(name) or {}).get("sha256"):
                return f"{path / name}: changed since the run started (sha256 {digest[:12]}..., the card records {str((expected.get(name) or {}).get('sha256'))[:12]}...)"
    return None


def absolute_paths(config: Any, names: tuple[str, ...] = ("data", "genome", "init", "tokenizer_path")) -> None:
    """Make the config's paths absolute where they name something that exists, so that a run can
    be resumed, evaluated and reported from any folder."""
    for name in names:
        value = getattr(config, name, None)
        if value and Path(value).exists():
            setattr(config, name, str(Path(value).resolve()))


def _git(*args: str) -> str | None:
    here = Path(__file__).resolve().parent  # inside the package, wherever it is installed
    try:
        out = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str | None:
    """The commit of the checkout that this dnabench runs from, or None: an installed package (a
    wheel in site-packages, even inside someone's repository), no git, or not a checkout."""
    top = _git("rev-parse", "--show-toplevel")
    if not top or _git("ls-files", "--error-unmatch", str(Path(__file__).resolve())) is None:
        return None
    return _git("rev-parse", "HEAD") or None


def git_dirty() -> bool | None:
    """Whether the checkout's tracked files differ from its commit (None where there is no checkout)."""
    if git_commit() is None:
        return None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def package_path() -> str:
    """The folder dnabench is imported from (a checkout's src/ or site-packages)."""
    return str(Path(__file__).resolve().parents[1])


def task_record(spec: Any, labels: Any) -> dict[str, Any]:
    """The task a run was trained on, as run.json records it (evaluate and predict read it back)."""
    return {
        "name": spec.name,
        "kind": spec.label_kind.value,
        "input_kind": spec.input_kind.value,
        "loss": spec.loss_name,
        "metrics": [m.value for m in spec.metrics],
        "monitor": spec.monitor.value,
        "output": spec.output.value,
        "label_names": list(labels.names),
    }
